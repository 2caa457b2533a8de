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

/**
 * Finished subjects waiting for the archive: a sorted set, member {@link archiveMember} → ms from
 * which an archiver may claim it (0 when marked; a claim moves it past its lease). One key, on its
 * own slot in Redis Cluster: written after the append (not in its script), and repaired by a sweep
 * of the subjects.
 */
export const ARCHIVE_PENDING_KEY = 'fo:archive:pending';

/** The field of a subject's meta hash that finish-archive-4.lua sets ('1') once its history is archived. */
export const ARCHIVED_META_FIELD = 'ar';

/** A subject as the archive's pending set holds it: `tenant:kind:id` (a tenant has no colon). */
export function archiveMember(subject: TenantSubject): string {
  return `${subject.tenant}:${subject.kind}:${subject.id}`;
}

/** The subject of a pending member, or of a subject's key (`fo:{tenant:kind:id}:m`). */
export function subjectOfArchiveMember(member: string): TenantSubject | undefined {
  const match = /^([^:]+):(job|pack-run|run):(.+)$/.exec(member);
  if (!match) return undefined;
  return { tenant: match[1]!, kind: match[2] as TenantSubject['kind'], id: match[3]! };
}

/** Every revocation, on one slot: what every replica loads at start, and the channel that announces changes. */
export const REVOCATION_KEYS = {
  /** id → the revocation's JSON. */
  all: 'fo:{revocations}',
  /** id → epoch ms it expires. */
  expiry: 'fo:{revocations}:exp',
  /** `<epoch>:<count>`, changed with every change (lua/includes/revocations.lua). */
  version: 'fo:{revocations}:v',
  channel: 'fo:{revocations}:c',
} as const;

/** Gateway replica id → epoch ms until which its watcher counts count. */
export const REPLICA_LIVENESS_KEY = 'fo:{replicas}:live';

/** A subject's watcher counts, replica id → open streams following it there (on the subject's slot). */
export function watcherKey(subject: TenantSubject): string {
  return `fo:${subjectTag(subject)}:w`;
}
