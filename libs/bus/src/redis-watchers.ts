import { TenantSubject } from '@fanout/contracts';
import { WatcherCount, WatcherStore } from './bus';
import { REPLICA_LIVENESS_KEY, watcherKey } from './keys';
import { CommandConnection } from './redis-connections';

/**
 * How long a subject's watcher hash lives after a replica last wrote its count there: a replica
 * writes every count again well within it (see WATCHER_REWRITE_MS), so only the fields of replicas
 * that are gone lapse with it.
 */
export const WATCHER_KEY_TTL_MS = 30 * 60_000;
/** How often a replica writes all its counts again, changed or not, so that its subjects' hashes do not lapse. */
export const WATCHER_REWRITE_MS = WATCHER_KEY_TTL_MS / 3;

/**
 * Watcher counts in Redis: a hash per subject (replica id → count, on the subject's slot), written
 * only when a count changed, and one sorted set of replicas scored by when their counts stop
 * counting, which each replica pushes forward every few seconds. A replica that dies stops pushing,
 * so its counts stop counting without anyone cleaning up; a read drops the fields of replicas that
 * are gone.
 */
export class RedisWatchers implements WatcherStore {
  constructor(private readonly command: CommandConnection) {}

  async reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void> {
    const now = Date.now();
    await Promise.all([
      this.command.zadd(REPLICA_LIVENESS_KEY, now + liveForMs, replicaId),
      this.command.zremrangebyscore(REPLICA_LIVENESS_KEY, '-inf', now),
      ...changed.map(async ({ subject, count }) => {
        const key = watcherKey(subject);
        if (count === 0) return this.command.hdel(key, replicaId);
        await this.command.hset(key, replicaId, count);
        return this.command.pexpire(key, WATCHER_KEY_TTL_MS);
      }),
    ]);
  }

  async retireReplica(replicaId: string): Promise<void> {
    await this.command.zrem(REPLICA_LIVENESS_KEY, replicaId);
  }

  async watcherCount(subject: TenantSubject): Promise<number> {
    const key = watcherKey(subject);
    const counts = Object.entries(await this.command.hgetall(key));
    if (counts.length === 0) return 0;
    const liveUntil = await this.command.zmscore(REPLICA_LIVENESS_KEY, ...counts.map(([replicaId]) => replicaId));
    const now = Date.now();
    let total = 0;
    const gone: string[] = [];
    counts.forEach(([replicaId, count], i) => {
      const until = liveUntil[i];
      if (until !== null && until !== undefined && Number(until) > now) total += Number(count);
      else gone.push(replicaId);
    });
    if (gone.length > 0) await this.command.hdel(key, ...gone);
    return total;
  }
}
