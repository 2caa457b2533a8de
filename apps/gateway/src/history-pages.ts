import { Bus, HistoryEntry, LiveBatch, StreamRef, subjectKeyString } from '@fanout/bus';

export interface HistoryPage {
  entries: HistoryEntry[];
  /** The read found the end of the stored history (there may be live events after it). */
  reachedEnd: boolean;
  /**
   * Live batches received after a shared read was issued, when that was before the client joined:
   * the client takes them as if it had been subscribed then. Empty when the read is the client's own.
   */
  missed: LiveBatch[];
}

/** What the subscription manager tells of the order of joins and live batches, and of the batches it received. */
export interface LiveLog {
  latestMark(): number;
  batchesAfter(ref: StreamRef, mark: number): LiveBatch[] | undefined;
}

/** A read, and the live log's mark when it was issued. */
interface SharedRead {
  issuedMark: number;
  entries: Promise<HistoryEntry[]>;
  /** For a settled read that reached the end of the history: when it may no longer be shared. */
  expiresAt?: number;
}

interface CachedPage {
  entries: HistoryEntry[];
  bytes: number;
  cachedAt: number;
}

/** A store that lost its data starts subjects again with new epochs: cached pages must not outlive that by long. */
const PAGE_TTL_MS = 10_000;
/** An end-of-history read serves the clients that arrive soon after it (a reconnecting herd). */
const END_READ_TTL_MS = 1_000;
/** Subjects remembered for pages too large to cache, at most (the longest remembered out first). */
const MAX_LARGE_PAGE_SUBJECTS = 10_000;
/** The fewest bytes a read of a large page's subject is sized for, when the reader has less room than that. */
const MIN_LARGE_READ_BYTES = 64 * 1024;

/** A subject whose last full page was too large to cache: its events' mean size, and until when that is believed. */
interface LargePages {
  bytesPerEntry: number;
  until: number;
}

/**
 * History reads shared by every client of a replica. Pages are aligned to multiples of the page
 * size, so clients at any position share them. A full aligned page never changes: it is kept
 * (least recently used first out, bounded in bytes). A read that reached the end of the history
 * serves the clients that join while it is in flight or soon after, together with the live
 * batches received since it was issued, so nothing published in between is missed. A reconnecting
 * herd of one subject thus reads its history from the store about once, not once per client.
 * A page too large to cache is not read whole again for every client: the subject's later reads
 * start at the client's own position and take about what the client has room for, so a slow reader
 * of large events reads each event about once, not its whole page at each drain.
 * Call `clear()` when the store may have lost data.
 */
export class HistoryPages {
  private readonly reads = new Map<string, SharedRead>();
  private readonly cache = new Map<string, CachedPage>();
  private cachedBytes = 0;
  private readonly largePages = new Map<string, LargePages>();

  constructor(
    private readonly bus: Bus,
    private readonly pageSize: number,
    private readonly maxCachedBytes: number,
    private readonly live: LiveLog,
  ) {}

  /**
   * Entries after `afterSeq`, oldest first, for a client that holds every live batch received after
   * `joinMark`. `fresh`: the end of the history must come from a read issued now, not a shared one
   * (the client dropped live batches, or found one missing, which that read and the log may lack).
   * `roomBytes`: what the client can take now, which sizes the reads of a subject of large pages.
   */
  async read(ref: StreamRef, afterSeq: number, joinMark: number, fresh = false, roomBytes = 0): Promise<HistoryPage> {
    const subject = subjectKeyString(ref);
    const large = this.largePages.get(subject);
    if (large && large.until > Date.now()) {
      const count = Math.min(this.pageSize, Math.max(1, Math.ceil(Math.max(roomBytes, MIN_LARGE_READ_BYTES) / large.bytesPerEntry)));
      const entries = await this.bus.history(ref, afterSeq, count);
      // Events as large as these still make a page too large to cache: believed a while longer.
      if (entries.length > 0) this.rememberIfLarge(subject, entries);
      return { entries, reachedEnd: entries.length < count, missed: [] };
    }
    const aligned = afterSeq - (afterSeq % this.pageSize);
    const key = `${subject}@${aligned}`;
    const after = (entries: HistoryEntry[]): HistoryEntry[] => entries.filter((e) => e.seq > afterSeq);

    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.cachedAt > PAGE_TTL_MS) this.forgetPage(key, cached);
    else if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return { entries: after(cached.entries), reachedEnd: false, missed: [] };
    }

    const shared = this.reads.get(key);
    if (shared && (shared.expiresAt === undefined || shared.expiresAt > Date.now())) {
      const entries = await shared.entries;
      if (this.isExactPage(entries, aligned)) return { entries: after(entries), reachedEnd: false, missed: [] };
      if (entries.length < this.pageSize && !fresh) {
        const missed = shared.issuedMark >= joinMark ? [] : this.live.batchesAfter(ref, shared.issuedMark);
        if (missed) return { entries: after(entries), reachedEnd: true, missed };
      }
    }

    const entries = await this.fetch(ref, aligned, key);
    if (this.isExactPage(entries, aligned)) return { entries: after(entries), reachedEnd: false, missed: [] };
    if (entries.length < this.pageSize) return { entries: after(entries), reachedEnd: true, missed: [] };
    // The aligned page was trimmed away in part: read from the position itself.
    const direct = await this.bus.history(ref, afterSeq, this.pageSize);
    return { entries: direct, reachedEnd: direct.length < this.pageSize, missed: [] };
  }

  clear(): void {
    this.cache.clear();
    this.cachedBytes = 0;
    this.reads.clear();
    this.largePages.clear();
  }

  /** Drops what is held of one subject (its history started again in the store). */
  forget(ref: StreamRef): void {
    this.largePages.delete(subjectKeyString(ref));
    const prefix = `${subjectKeyString(ref)}@`;
    for (const [key, page] of this.cache) if (key.startsWith(prefix)) this.forgetPage(key, page);
    for (const key of this.reads.keys()) if (key.startsWith(prefix)) this.reads.delete(key);
  }

  /** A read of this client's own, issued now (after it joined), shared with the clients after it. */
  private fetch(ref: StreamRef, aligned: number, key: string): Promise<HistoryEntry[]> {
    const read: SharedRead = { issuedMark: this.live.latestMark(), entries: this.bus.history(ref, aligned, this.pageSize) };
    this.reads.set(key, read);
    const settle = (entries: HistoryEntry[] | undefined): void => {
      if (this.reads.get(key) !== read) return;
      if (entries && this.isExactPage(entries, aligned)) {
        this.reads.delete(key);
        this.remember(ref, key, entries);
      } else if (entries && entries.length < this.pageSize) {
        read.expiresAt = Date.now() + END_READ_TTL_MS;
        setTimeout(() => {
          if (this.reads.get(key) === read) this.reads.delete(key);
        }, END_READ_TTL_MS).unref();
      } else {
        this.reads.delete(key);
      }
    };
    read.entries.then(settle, () => settle(undefined));
    return read.entries;
  }

  private isExactPage(entries: HistoryEntry[], aligned: number): boolean {
    return entries.length === this.pageSize && entries[0]?.seq === aligned + 1;
  }

  private forgetPage(key: string, page: CachedPage): void {
    this.cache.delete(key);
    this.cachedBytes -= page.bytes;
  }

  private remember(ref: StreamRef, key: string, entries: HistoryEntry[]): void {
    const bytes = entries.reduce((sum, e) => sum + e.frame.length, 0);
    if (bytes > this.largestCachedPage()) {
      this.rememberLarge(subjectKeyString(ref), bytes / entries.length);
      return;
    }
    this.cache.set(key, { entries, bytes, cachedAt: Date.now() });
    this.cachedBytes += bytes;
    for (const [oldKey, page] of this.cache) {
      if (this.cachedBytes <= this.maxCachedBytes) break;
      this.forgetPage(oldKey, page);
    }
  }

  private largestCachedPage(): number {
    return this.maxCachedBytes / 4;
  }

  private rememberIfLarge(subject: string, entries: HistoryEntry[]): void {
    const bytesPerEntry = entries.reduce((sum, e) => sum + e.frame.length, 0) / entries.length;
    if (bytesPerEntry * this.pageSize > this.largestCachedPage()) this.rememberLarge(subject, bytesPerEntry);
  }

  private rememberLarge(subject: string, bytesPerEntry: number): void {
    this.largePages.delete(subject);
    this.largePages.set(subject, { bytesPerEntry, until: Date.now() + PAGE_TTL_MS });
    if (this.largePages.size > MAX_LARGE_PAGE_SUBJECTS) this.largePages.delete(this.largePages.keys().next().value as string);
  }
}
