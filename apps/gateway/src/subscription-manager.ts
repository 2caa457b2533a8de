import { TenantSubject } from '@fanout/contracts';
import { Bus, LiveBatch, StreamRef, subjectKeyString } from '@fanout/bus';

/**
 * A local client of a subject: told of every live batch, when the bus path came back after a loss,
 * and when the store published seqs from `firstSeq` on again (before the batch that shows it).
 */
export interface LiveClient {
  onBatch(batch: LiveBatch): void;
  onRecovered(): void;
  onSeqsReused(firstSeq: number): void;
}

interface LoggedBatch {
  mark: number;
  batch: LiveBatch;
}

interface Entry {
  ref: StreamRef;
  clients: Set<LiveClient>;
  subscribed: Promise<void>;
  /** The mark from which live batches arrive (undefined until the subscription is confirmed). */
  confirmedMark?: number;
  /** The most recent live batches, oldest first, bounded by RECENT_BATCHES and RECENT_BYTES. */
  recent: LoggedBatch[];
  recentBytes: number;
  /** Batches at or before this mark may be missing from `recent`. */
  recentFloor: number;
  /**
   * The epoch and last seq of the latest live batch, kept across recoveries. A store loses events
   * only with a loss of the bus path (Redis restarted, or failed over), and the first batch after
   * the recovery was published after it, over the new connection: if it is of that epoch, at or
   * before that seq, the store is publishing those seqs again, having lost the events it first gave
   * them to.
   */
  liveEpoch: string | undefined;
  liveSeq: number;
  /** The next batch is the first since a recovery. */
  firstSinceRecovery: boolean;
}

export type BatchObserver = (batch: LiveBatch) => void;
/** Told how many local clients follow a subject whenever that changes (not for activity streams). */
export type WatcherObserver = (subject: TenantSubject, count: number) => void;

const RECENT_BATCHES = 64;
const RECENT_BYTES = 1024 * 1024;

/**
 * One bus subscription per subject per replica, shared by its local clients and dropped when the
 * last one leaves (docs/architecture.md, rule 3). When the bus path comes back after a loss,
 * `recoverAll` tells every client to catch up from history (rule 4).
 *
 * Joins and live batches are numbered in the order they happen (a mark: a counter, not a time),
 * and each subscription keeps its most recent batches, so a history read issued before a client
 * joined can still serve it: the read plus the batches after its mark (`batchesAfter`) leave no gap.
 */
export class SubscriptionManager {
  private readonly entries = new Map<string, Entry>();
  private lastMark = 0;

  constructor(
    private readonly bus: Bus,
    private readonly observeBatch: BatchObserver = () => undefined,
    private readonly observeWatchers: WatcherObserver = () => undefined,
  ) {}

  /** The mark of the latest join or live batch: what happens from now on is numbered higher. */
  latestMark(): number {
    return this.lastMark;
  }

  /**
   * Resolves once live batches of the subject reach `client`, with the mark of its join: every batch
   * after that mark reaches the client.
   */
  async join(ref: StreamRef, client: LiveClient): Promise<number> {
    const key = subjectKeyString(ref);
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = { ref, clients: new Set(), subscribed: Promise.resolve(), recent: [], recentBytes: 0, recentFloor: 0, liveEpoch: undefined, liveSeq: 0, firstSinceRecovery: false };
      created.subscribed = this.bus.subscribe(ref, (batch) => this.dispatch(created, batch)).then(() => {
        created.confirmedMark = ++this.lastMark;
      });
      this.entries.set(key, created);
      entry = created;
    }
    entry.clients.add(client);
    this.countWatchers(entry);
    try {
      await entry.subscribed;
    } catch (error) {
      this.leave(ref, client);
      throw error;
    }
    return ++this.lastMark;
  }

  leave(ref: StreamRef, client: LiveClient): void {
    const key = subjectKeyString(ref);
    const entry = this.entries.get(key);
    if (!entry || !entry.clients.delete(client)) return;
    this.countWatchers(entry);
    if (entry.clients.size > 0) return;
    this.entries.delete(key);
    void this.bus.unsubscribe(ref).catch(() => undefined);
  }

  /**
   * Every live batch of the subject received after `mark`, oldest first; undefined when that cannot
   * be known (the subscription is younger than `mark`, or batches were dropped from the log since).
   */
  batchesAfter(ref: StreamRef, mark: number): LiveBatch[] | undefined {
    const entry = this.entries.get(subjectKeyString(ref));
    if (!entry || entry.confirmedMark === undefined || mark < entry.confirmedMark || mark < entry.recentFloor) return undefined;
    return entry.recent.filter((logged) => logged.mark > mark).map((logged) => logged.batch);
  }

  get subjectCount(): number {
    return this.entries.size;
  }

  /** The bus path came back after a loss: every client catches up from history. */
  recoverAll(): void {
    for (const entry of this.entries.values()) {
      // Batches published during the loss never arrived: the log no longer vouches for the past.
      entry.recent = [];
      entry.recentBytes = 0;
      entry.recentFloor = ++this.lastMark;
      entry.firstSinceRecovery = true;
      for (const client of entry.clients) client.onRecovered();
    }
  }

  private countWatchers(entry: Entry): void {
    if (entry.ref.kind !== 'activity') this.observeWatchers(entry.ref, entry.clients.size);
  }

  private dispatch(entry: Entry, batch: LiveBatch): void {
    const reused = entry.firstSinceRecovery && batch.epoch !== undefined && batch.epoch === entry.liveEpoch && batch.firstSeq <= entry.liveSeq;
    entry.firstSinceRecovery = false;
    entry.liveEpoch = batch.epoch;
    entry.liveSeq = batch.lastSeq;
    if (reused) {
      // The log holds the events those seqs had before: it no longer vouches for the past.
      entry.recent = [];
      entry.recentBytes = 0;
      entry.recentFloor = ++this.lastMark;
      for (const client of entry.clients) client.onSeqsReused(batch.firstSeq);
    }
    entry.recent.push({ mark: ++this.lastMark, batch });
    entry.recentBytes += batch.frames.length;
    while (entry.recent.length > RECENT_BATCHES || entry.recentBytes > RECENT_BYTES) {
      const dropped = entry.recent.shift()!;
      entry.recentBytes -= dropped.batch.frames.length;
      entry.recentFloor = dropped.mark;
    }
    for (const client of entry.clients) client.onBatch(batch);
    this.observeBatch(batch);
  }
}
