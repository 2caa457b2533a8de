import { Bus, HistoryEntry, StreamRef, subjectKeyString } from '@fanout/bus';

/** A read in flight, and when it was issued on the join clock (see SubscriptionManager.now). */
interface PendingRead {
  issuedAt: number;
  entries: Promise<HistoryEntry[]>;
}

export interface HistoryPage {
  entries: HistoryEntry[];
  /** The read found the end of the stored history (there may be live events after it). */
  reachedEnd: boolean;
}

interface CachedPage {
  entries: HistoryEntry[];
  bytes: number;
  cachedAt: number;
}

/** A store that lost its data starts subjects again with new epochs: cached pages must not outlive that by long. */
const PAGE_TTL_MS = 10_000;

/**
 * History reads shared by every client of a replica. Pages are aligned to multiples of the page
 * size, so clients at any position share them; a full aligned page never changes, so it is kept
 * (least recently used first out, bounded in bytes), and concurrent reads of one page make one
 * request (single flight). A reconnecting herd of one subject thus reads its history from the
 * store about once, not once per client. Call `clear()` when the store may have lost data.
 *
 * A read that reaches the end of the history is only shared with clients that joined the live
 * path before it was issued: a later joiner's buffer starts after it, and would miss what was
 * published in between.
 */
export class HistoryPages {
  private readonly inFlight = new Map<string, PendingRead>();
  private readonly cache = new Map<string, CachedPage>();
  private cachedBytes = 0;

  constructor(
    private readonly bus: Bus,
    private readonly pageSize: number,
    private readonly maxCachedBytes: number,
    /** The join clock: reads issued at or after a client's join ticket are safe to share with it. */
    private readonly now: () => number,
  ) {}

  /** Entries after `afterSeq`, oldest first, for a client that joined the live path at `joinedAt`. */
  async read(ref: StreamRef, afterSeq: number, joinedAt: number): Promise<HistoryPage> {
    const aligned = afterSeq - (afterSeq % this.pageSize);
    const key = `${subjectKeyString(ref)}@${aligned}`;
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.cachedAt > PAGE_TTL_MS) this.forget(key, cached);
    else if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return { entries: cached.entries.filter((e) => e.seq > afterSeq), reachedEnd: false };
    }
    const entries = await this.fetch(ref, aligned, key, joinedAt);
    if (this.isExactPage(entries, aligned)) {
      this.remember(key, entries);
      return { entries: entries.filter((e) => e.seq > afterSeq), reachedEnd: false };
    }
    if (entries.length < this.pageSize) {
      // The end of the history: everything stored after `aligned` is here.
      return { entries: entries.filter((e) => e.seq > afterSeq), reachedEnd: true };
    }
    // The aligned page was trimmed away in part: read from the position itself.
    const direct = await this.bus.history(ref, afterSeq, this.pageSize);
    return { entries: direct, reachedEnd: direct.length < this.pageSize };
  }

  clear(): void {
    this.cache.clear();
    this.cachedBytes = 0;
  }

  private forget(key: string, page: CachedPage): void {
    this.cache.delete(key);
    this.cachedBytes -= page.bytes;
  }

  private fetch(ref: StreamRef, aligned: number, key: string, joinedAt: number): Promise<HistoryEntry[]> {
    const pending = this.inFlight.get(key);
    if (pending && pending.issuedAt >= joinedAt) return pending.entries;
    const read: PendingRead = { issuedAt: this.now(), entries: this.bus.history(ref, aligned, this.pageSize) };
    this.inFlight.set(key, read);
    const forget = (): void => {
      if (this.inFlight.get(key) === read) this.inFlight.delete(key);
    };
    read.entries.then(forget, forget);
    return read.entries;
  }

  private isExactPage(entries: HistoryEntry[], aligned: number): boolean {
    return entries.length === this.pageSize && entries[0]?.seq === aligned + 1;
  }

  private remember(key: string, entries: HistoryEntry[]): void {
    const bytes = entries.reduce((sum, e) => sum + e.frame.length, 0);
    if (bytes > this.maxCachedBytes / 4) return;
    this.cache.set(key, { entries, bytes, cachedAt: Date.now() });
    this.cachedBytes += bytes;
    for (const [oldKey, page] of this.cache) {
      if (this.cachedBytes <= this.maxCachedBytes) break;
      this.forget(oldKey, page);
    }
  }
}
