import { TenantSubject } from '@fanout/contracts';
import { WatcherCount, WatcherStore } from './bus';
import { subjectKeyString } from './keys';

/** Watcher counts of the replicas of one process (`fanout dev` without Redis), with the same expiry as Redis's. */
export class MemoryWatchers implements WatcherStore {
  /** Subject key → replica id → count. */
  private readonly counts = new Map<string, Map<string, number>>();
  /** Replica id → epoch ms its counts stop counting. */
  private readonly liveUntil = new Map<string, number>();

  async reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void> {
    this.liveUntil.set(replicaId, Date.now() + liveForMs);
    for (const { subject, count } of changed) {
      const key = subjectKeyString(subject);
      const byReplica = this.counts.get(key) ?? new Map<string, number>();
      if (count > 0) byReplica.set(replicaId, count);
      else byReplica.delete(replicaId);
      if (byReplica.size > 0) this.counts.set(key, byReplica);
      else this.counts.delete(key);
    }
  }

  async retireReplica(replicaId: string): Promise<void> {
    this.liveUntil.delete(replicaId);
    for (const [key, byReplica] of this.counts) {
      byReplica.delete(replicaId);
      if (byReplica.size === 0) this.counts.delete(key);
    }
  }

  async watcherCount(subject: TenantSubject): Promise<number> {
    const now = Date.now();
    let total = 0;
    for (const [replicaId, count] of this.counts.get(subjectKeyString(subject)) ?? []) {
      if ((this.liveUntil.get(replicaId) ?? 0) > now) total += count;
    }
    return total;
  }
}
