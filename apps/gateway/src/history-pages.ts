import { Bus, HistoryEntry, StreamRef, subjectKeyString } from '@fanout/bus';

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
 */
export class HistoryPages {
  private readonly inFlight = new Map<string, Promise<HistoryEntry[]>>();
  private readonly cache = new Map<string, CachedPage>();
  private cachedBytes = 0;

  constructor(
    private readonly bus: Bus,
    private readonly pageSize: number,
    private readonly maxCachedBytes: number,
  ) {}

  /** Entries after `afterSeq`, oldest first. */
  async read(ref: StreamRef, afterSeq: number): Promise<HistoryPage> {
    const aligned = afterSeq - (afterSeq % this.pageSize);
    const key = `${subjectKeyString(ref)}@${aligned}`;
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.cachedAt > PAGE_TTL_MS) this.forget(key, cached);
    else if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return { entries: cached.entries.filter((e) => e.seq > afterSeq), reachedEnd: false };
    }
    const entries = await this.fetch(ref, aligned, key);
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

  private fetch(ref: StreamRef, aligned: number, key: string): Promise<HistoryEntry[]> {
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const request = this.bus.history(ref, aligned, this.pageSize).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, request);
    return request;
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
