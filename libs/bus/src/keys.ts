import { TenantSubject } from '@fanout/contracts';

/**
 * Every key and the channel of a subject share one hash tag, so in Redis Cluster they live on one
 * shard and the append script can touch them all. The tenant is part of every key.
 */
export interface SubjectKeys {
  meta: string;
  stream: string;
  ids: string;
  steps: string;
  channel: string;
}

export function subjectTag(subject: TenantSubject): string {
  return `{${subject.tenant}:${subject.kind}:${subject.id}}`;
}

export function subjectKeys(subject: TenantSubject): SubjectKeys {
  const tag = `fo:${subjectTag(subject)}`;
  return { meta: `${tag}:m`, stream: `${tag}:s`, ids: `${tag}:ids`, steps: `${tag}:steps`, channel: `${tag}:c` };
}

export function tenantSubjectsKey(tenant: string): string {
  return `fo:{${tenant}}:subjects`;
}

/** `kind:id` as kept in a tenant's index of subjects. */
export function subjectMember(subject: { kind: string; id: string }): string {
  return `${subject.kind}:${subject.id}`;
}

export function subjectKeyString(subject: TenantSubject): string {
  return `${subject.tenant}:${subject.kind}:${subject.id}`;
}
