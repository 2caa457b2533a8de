import { TenantSubject } from '@fanout/contracts';
import { ActivityRef, StreamRef } from './bus';

/**
 * Every key and the channel of a subject share one hash tag, so in Redis Cluster they live on one
 * shard and the append script can touch them all. The tenant is part of every key.
 */
export interface StreamKeys {
  meta: string;
  stream: string;
  channel: string;
}

export interface SubjectKeys extends StreamKeys {
  ids: string;
  steps: string;
}

/** A tenant's indexes of its subjects: on the tenant's slot, with its activity keys. */
export interface TenantIndexKeys {
  /** Recent subjects: `kind:id` → ms of its last append. */
  recent: string;
  /** Live subjects (what a tenant quota counts): `kind:id` → ms its history expires, +inf until its terminal event; or a new subject's reservation. */
  live: string;
  /** What the tenant recorded of each live subject, `kind:id` → `epoch lastSeq`, so a record is applied once and in order. */
  recorded: string;
}

export function subjectTag(subject: TenantSubject): string {
  return `{${subject.tenant}:${subject.kind}:${subject.id}}`;
}

export function subjectKeys(subject: TenantSubject): SubjectKeys {
  const tag = `fo:${subjectTag(subject)}`;
  return { meta: `${tag}:m`, stream: `${tag}:s`, ids: `${tag}:ids`, steps: `${tag}:steps`, channel: `${tag}:c` };
}

export function activityKeys(ref: ActivityRef): StreamKeys {
  const tag = `fo:{${ref.tenant}}:activity`;
  return { meta: `${tag}:m`, stream: `${tag}:s`, channel: `${tag}:c` };
}

export function streamKeys(ref: StreamRef): StreamKeys {
  return ref.kind === 'activity' ? activityKeys(ref) : subjectKeys(ref);
}

export function tenantIndexKeys(tenant: string): TenantIndexKeys {
  const tag = `fo:{${tenant}}:subjects`;
  return { recent: tag, live: `${tag}:live`, recorded: `${tag}:recorded` };
}

/** `kind:id` as kept in a tenant's index of subjects. */
export function subjectMember(subject: { kind: string; id: string }): string {
  return `${subject.kind}:${subject.id}`;
}

/** A map key for a stream: `tenant:kind:id`, or `tenant:activity:` for the tenant's activity. */
export function subjectKeyString(ref: StreamRef): string {
  return ref.kind === 'activity' ? `${ref.tenant}:activity:` : `${ref.tenant}:${ref.kind}:${ref.id}`;
}

/** Every revocation, on one slot: what every replica loads at start, and the channel that announces changes. */
export const REVOCATION_KEYS = {
  /** id → the revocation's JSON. */
  all: 'fo:{revocations}',
  /** id → epoch ms it expires. */
  expiry: 'fo:{revocations}:exp',
  channel: 'fo:{revocations}:c',
} as const;

/** Gateway replica id → epoch ms until which its watcher counts count. */
export const REPLICA_LIVENESS_KEY = 'fo:{replicas}:live';

/** A subject's watcher counts, replica id → open streams following it there (on the subject's slot). */
export function watcherKey(subject: TenantSubject): string {
  return `fo:${subjectTag(subject)}:w`;
}
