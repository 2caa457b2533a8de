import { PublishedEvent, Revocation, SubjectKind, TenantSubject } from '@fanout/contracts';
import {
  AppendOutcome,
  BatchListener,
  Bus,
  BusLogger,
  ConnectionListener,
  HistoryEntry,
  RevocationListener,
  StreamRef,
  SubjectInfo,
  SubjectSummary,
  WatcherCount,
  archiveMember,
  latestStateEntriesOf,
  silentLogger,
} from '@fanout/bus';
import { ArchivedSubject } from './archived-subject';
import { ArchivedSubjects } from './archived-subjects';

/** Entries of an archived subject with seq > afterSeq, oldest first, at most `limit`. */
export function archivedHistory(archived: ArchivedSubject, afterSeq: number, limit: number): HistoryEntry[] {
  // Binary search: the entries are in seq order, not always consecutive (a hole where a store lost seqs).
  const entries = archived.entries;
  let from = 0;
  let to = entries.length;
  while (from < to) {
    const middle = (from + to) >>> 1;
    if (entries[middle]!.seq <= afterSeq) from = middle + 1;
    else to = middle;
  }
  return entries.slice(from, from + Math.max(0, limit));
}

/**
 * The bus as the gateway reads it with the archive on: a subject the store no longer holds is
 * answered from its archived object (its info, history and a pack run's state before a tail), with
 * the same ids, seqs and frames, so every read route serves it as it did from the store. The store
 * answers first: a subject it holds (one archived but not yet deleted, or one started again) is its.
 * Everything else (appends, subscriptions, the activity stream, recent subjects, revocations,
 * watcher counts) is the store's.
 */
export class ArchiveReadingBus implements Bus {
  constructor(
    private readonly bus: Bus,
    private readonly archived: Pick<ArchivedSubjects, 'load' | 'forget'>,
    private readonly logger: BusLogger = silentLogger,
  ) {}

  async info(ref: StreamRef): Promise<SubjectInfo | null> {
    const info = await this.bus.info(ref);
    if (ref.kind === 'activity') return info;
    if (info) {
      this.archived.forget(ref);
      return info;
    }
    return (await this.load(ref))?.info ?? null;
  }

  async history(ref: StreamRef, afterSeq: number, limit: number): Promise<HistoryEntry[]> {
    const entries = await this.bus.history(ref, afterSeq, limit);
    if (entries.length > 0 || ref.kind === 'activity') return entries;
    const archived = await this.archivedIfGone(ref);
    return archived ? archivedHistory(archived, afterSeq, limit) : entries;
  }

  async latestStateEntries(subject: TenantSubject, beforeSeq: number): Promise<HistoryEntry[]> {
    const entries = await this.bus.latestStateEntries(subject, beforeSeq);
    if (entries.length > 0) return entries;
    const archived = await this.archivedIfGone(subject);
    return archived ? latestStateEntriesOf(archived.entries, beforeSeq) : entries;
  }

  /** The archived subject, when the store holds no history of it (an empty read may also just be the end of a live one). */
  private async archivedIfGone(subject: TenantSubject): Promise<ArchivedSubject | null> {
    if (await this.bus.info(subject)) return null;
    return this.load(subject);
  }

  /**
   * A failed read of the archive answers like a failed store (503); why is logged here, once per
   * failure: a refusal the reader remembers (an object too large) rejects every read with the same error.
   */
  private async load(subject: TenantSubject): Promise<ArchivedSubject | null> {
    try {
      return await this.archived.load(subject);
    } catch (error) {
      if (!this.logged.has(error as object)) {
        this.logged.add(error as object);
        this.logger.warn({ err: (error as Error).message, subject: archiveMember(subject) }, 'reading the archive failed');
      }
      throw error;
    }
  }
  private readonly logged = new WeakSet<object>();

  append(subject: TenantSubject, events: readonly PublishedEvent[], deadline?: number): Promise<AppendOutcome[]> {
    return this.bus.append(subject, events, deadline);
  }

  recentSubjects(tenant: string, kind: SubjectKind | undefined, limit: number): Promise<SubjectSummary[]> {
    return this.bus.recentSubjects(tenant, kind, limit);
  }

  subscribe(ref: StreamRef, listener: BatchListener): Promise<void> {
    return this.bus.subscribe(ref, listener);
  }

  unsubscribe(ref: StreamRef): Promise<void> {
    return this.bus.unsubscribe(ref);
  }

  subscriptionCount(): number {
    return this.bus.subscriptionCount();
  }

  onConnection(listener: ConnectionListener): void {
    this.bus.onConnection(listener);
  }

  probe(timeoutMs: number): Promise<void> {
    return this.bus.probe(timeoutMs);
  }

  addRevocation(revocation: Revocation, maxActive: number): Promise<boolean> {
    return this.bus.addRevocation(revocation, maxActive);
  }

  removeRevocation(id: string): Promise<boolean> {
    return this.bus.removeRevocation(id);
  }

  activeRevocations(): Promise<Revocation[]> {
    return this.bus.activeRevocations();
  }

  revocationsVersion(): Promise<string> {
    return this.bus.revocationsVersion();
  }

  onRevocationChange(listener: RevocationListener): void {
    this.bus.onRevocationChange(listener);
  }

  reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void> {
    return this.bus.reportWatchers(replicaId, changed, liveForMs);
  }

  retireReplica(replicaId: string): Promise<void> {
    return this.bus.retireReplica(replicaId);
  }

  watcherCount(subject: TenantSubject): Promise<number> {
    return this.bus.watcherCount(subject);
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}
