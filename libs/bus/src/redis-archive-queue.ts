import Redis, { Cluster } from 'ioredis';
import { TenantSubject } from '@fanout/contracts';
import { ArchiveQueue } from './archive-queue';
import { ARCHIVED_META_FIELD, ARCHIVE_PENDING_KEY, archiveMember, subjectKeys, subjectMember, subjectOfArchiveMember, tenantIndexKeys } from './keys';
import { CommandConnection } from './redis-connections';

/** The scripts of lua/ this queue calls (defined on the connection by RedisStore). */
type ArchiveScripts = CommandConnection & {
  fanoutClaimArchiveWork(pending: string, leaseMs: number, limit: number): Promise<string[]>;
  fanoutFinishArchive(meta: string, stream: string, ids: string, steps: string, epoch: string, lastSeq: number, keepSeconds: number): Promise<number>;
};

/** Subject meta keys (`fo:{tenant:kind:id}:m`); a tenant's activity meta (`fo:{tenant}:activity:m`) does not match. */
const SUBJECT_META_PATTERN = 'fo:{*}:m';
const SCAN_COUNT = 500;

/** {@link ArchiveQueue} in Redis: the pending set {@link ARCHIVE_PENDING_KEY}, claimed and finished by Lua scripts. */
export class RedisArchiveQueue implements ArchiveQueue {
  private readonly command: ArchiveScripts;

  constructor(command: CommandConnection) {
    this.command = command as ArchiveScripts;
  }

  /** Score 0: due at once by any clock (claims compare with Redis's own), ahead of subjects back from a failed lease. */
  async markPending(subjects: readonly TenantSubject[]): Promise<void> {
    if (subjects.length === 0) return;
    await this.command.zadd(ARCHIVE_PENDING_KEY, 'NX', ...subjects.flatMap((s) => [0, archiveMember(s)]));
  }

  async claim(leaseMs: number, limit: number): Promise<TenantSubject[]> {
    const members = await this.command.fanoutClaimArchiveWork(ARCHIVE_PENDING_KEY, leaseMs, limit);
    const subjects: TenantSubject[] = [];
    for (const member of members) {
      const subject = subjectOfArchiveMember(member);
      if (subject) subjects.push(subject);
      else await this.command.zrem(ARCHIVE_PENDING_KEY, member);
    }
    return subjects;
  }

  async finish(subject: TenantSubject, epoch: string, lastSeq: number, keepSeconds: number): Promise<void> {
    const keys = subjectKeys(subject);
    const applied = await this.command.fanoutFinishArchive(keys.meta, keys.stream, keys.ids, keys.steps, epoch, lastSeq, keepSeconds);
    // The tenant's quota counts the subject until its history goes: now sooner (its own slot in Redis Cluster, so a command of its own).
    if (applied === 1) await this.command.zadd(tenantIndexKeys(subject.tenant).live, 'XX', 'LT', Date.now() + keepSeconds * 1000, subjectMember(subject));
    await this.drop(subject);
  }

  async drop(subject: TenantSubject): Promise<void> {
    await this.command.zrem(ARCHIVE_PENDING_KEY, archiveMember(subject));
  }

  pendingCount(): Promise<number> {
    return this.command.zcard(ARCHIVE_PENDING_KEY);
  }

  async repair(): Promise<number> {
    const nodes = this.command instanceof Cluster ? this.command.nodes('master') : [this.command];
    let marked = 0;
    for (const node of nodes) marked += await this.repairNode(node);
    return marked;
  }

  private async repairNode(node: Redis): Promise<number> {
    let marked = 0;
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', SUBJECT_META_PATTERN, 'COUNT', SCAN_COUNT);
      cursor = next;
      const states = await Promise.all(
        keys.map(async (key) => ({ subject: subjectOfArchiveMember(key.slice('fo:{'.length, -'}:m'.length)), state: await this.command.hmget(key, 'x', ARCHIVED_META_FIELD) })),
      );
      const finished = states.filter(({ subject, state: [terminal, archived] }) => subject && terminal === '1' && archived !== '1').map(({ subject }) => subject!);
      await this.markPending(finished);
      marked += finished.length;
    } while (cursor !== '0');
    return marked;
  }
}
