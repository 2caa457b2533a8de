export const DEFAULT_MAX_UNSENT_BYTES = 1024 * 1024 * 1024;
/** The least budget (and it may not be under FANOUT_CLIENT_BUFFER_BYTES, what one stream may hold). */
export const MIN_MAX_UNSENT_BYTES = 16 * 1024 * 1024;
/** A stream counts once this much of it is unsent: below, the kernel takes its writes as they come. */
export const COUNTED_FROM_BYTES = 64 * 1024;
/** Dropping stops once the total is back under this share of the budget, so one drop does not follow another write by write. */
const RELIEVED_SHARE = 0.9;

/** A stream as the budget sees it. */
export interface Backlogged {
  /** Its bytes written and not yet taken by the client's socket. */
  unsentBytes(): number;
  /** Ends it as a slow consumer (it resumes with Last-Event-ID). */
  dropForTheBudget(): void;
}

/**
 * Unsent bytes over all the streams of a process. Each stream has its own limit
 * (FANOUT_CLIENT_BUFFER_BYTES), but many streams that do not read (one tenant may open
 * FANOUT_MAX_CONNECTIONS_PER_TENANT of them) could hold that limit each. A stream reports its unsent
 * bytes after each write once they pass COUNTED_FROM_BYTES; when the reported total passes the budget,
 * every counted stream's bytes are read again and those furthest behind are dropped until the total
 * is back under 90 % of it.
 *
 * The total counts a Buffer written to many sockets once per socket, where memory holds it once: it
 * is an upper bound of what the streams hold.
 */
export class UnsentBudget {
  private readonly reported = new Map<Backlogged, number>();
  private total = 0;

  constructor(
    readonly maxBytes: number,
    private readonly onDropped: (dropped: number, totalBefore: number) => void = () => undefined,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_MAX_UNSENT_BYTES) throw new RangeError(`the unsent bytes budget must be at least ${MIN_MAX_UNSENT_BYTES} bytes, not ${maxBytes}`);
  }

  get countedBytes(): number {
    return this.total;
  }

  /**
   * Called after a write that leaves `unsent` bytes of the stream unsent, once they reach
   * COUNTED_FROM_BYTES and until a report under it. Returns whether the stream is counted now.
   */
  report(stream: Backlogged, unsent: number): boolean {
    const before = this.reported.get(stream);
    if (unsent < COUNTED_FROM_BYTES) {
      if (before !== undefined) this.forget(stream);
      return false;
    }
    this.reported.set(stream, unsent);
    this.total += unsent - (before ?? 0);
    if (this.total > this.maxBytes) this.relieve();
    return this.reported.has(stream);
  }

  /** The stream ended. */
  forget(stream: Backlogged): void {
    const before = this.reported.get(stream);
    if (before === undefined) return;
    this.reported.delete(stream);
    this.total -= before;
  }

  /** Reads every counted stream again (their clients took some since), then drops the furthest behind while over. */
  private relieve(): void {
    const counted: [Backlogged, number][] = [];
    this.total = 0;
    for (const stream of this.reported.keys()) {
      const unsent = stream.unsentBytes();
      if (unsent < COUNTED_FROM_BYTES) {
        this.reported.delete(stream);
        continue;
      }
      this.reported.set(stream, unsent);
      this.total += unsent;
      counted.push([stream, unsent]);
    }
    if (this.total <= this.maxBytes) return;
    const totalBefore = this.total;
    counted.sort((a, b) => b[1] - a[1]);
    let dropped = 0;
    for (const [stream] of counted) {
      if (this.total <= this.maxBytes * RELIEVED_SHARE) break;
      this.forget(stream);
      stream.dropForTheBudget();
      dropped += 1;
    }
    this.onDropped(dropped, totalBefore);
  }
}
