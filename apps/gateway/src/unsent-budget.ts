export const DEFAULT_MAX_UNSENT_BYTES = 1024 * 1024 * 1024;
/** The least budget (and it may not be under FANOUT_CLIENT_BUFFER_BYTES, what one stream may hold). */
export const MIN_MAX_UNSENT_BYTES = 16 * 1024 * 1024;
/** A stream is behind once this much of it is unsent after a turn's writes: below, the kernel takes its writes as they come. */
export const COUNTED_FROM_BYTES = 64 * 1024;
/** How often the streams behind are read again; one behind at two reads in a row (a second or more) counts. */
export const STALL_CHECK_MS = 1_000;
/** Dropping stops once the total is back under this share of the budget, so one drop does not follow another check by check. */
const RELIEVED_SHARE = 0.9;
/** The least time between two checks made at once (when the streams behind count more than the budget): each reads the process's memory. */
const EARLY_CHECK_MS = 100;

/** A stream as the budget sees it. */
export interface Backlogged {
  /** Its bytes written and not yet taken by the client's socket. */
  unsentBytes(): number;
  /** Ends it as a slow consumer (it resumes with Last-Event-ID). */
  dropForTheBudget(): void;
}

/**
 * Unsent bytes over the streams of a process that stay behind. Each stream has its own limit
 * (FANOUT_CLIENT_BUFFER_BYTES), but many streams that do not read (one tenant may open
 * FANOUT_MAX_CONNECTIONS_PER_TENANT of them) could hold that limit each.
 *
 * A stream reports itself once a turn's writes were handed to its socket and COUNTED_FROM_BYTES or more
 * are still unsent. Every STALL_CHECK_MS the reported streams are read again: those caught up leave,
 * and those behind at two checks in a row count. A client that reads is not behind for a second, so
 * fan-out bursts do not count; the bound is reached within about two checks of the streams that
 * stopped reading.
 *
 * A frame is one Buffer written to every stream of its subject, so streams behind on the same frames
 * hold them once while each counts them. What the stalled streams hold is therefore the lesser of
 * their count and the bytes of all the process's Buffers. When that passes the budget, those furthest
 * behind are dropped until what they counted covers the excess over 90 % of it (if they shared
 * frames, the next check drops more).
 *
 * A burst can fill many streams faster than two checks a second apart: once the streams behind count
 * more than the budget, a check is made at once (at most every EARLY_CHECK_MS), in which every stream
 * behind counts, read or not; it drops only when the process's Buffers hold more than the budget too.
 */
export class UnsentBudget {
  /** Streams reported behind: whether they were behind at the last check too, and what they counted last. */
  private readonly behind = new Map<Backlogged, { stalled: boolean; unsent: number }>();
  /** What the streams behind counted when last reported or read. */
  private counted = 0;
  private timer: NodeJS.Timeout | undefined;
  private early: NodeJS.Immediate | undefined;
  private earlyAt = 0;
  private stalled = 0;

  constructor(
    readonly maxBytes: number,
    private readonly onDropped: (dropped: number, stalledBytes: number) => void = () => undefined,
    private readonly bufferBytes: () => number = () => process.memoryUsage().arrayBuffers,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_MAX_UNSENT_BYTES) throw new RangeError(`the unsent bytes budget must be at least ${MIN_MAX_UNSENT_BYTES} bytes, not ${maxBytes}`);
  }

  /** What the streams behind at the last two checks counted at the last one (shared frames once per stream). */
  get stalledBytes(): number {
    return this.stalled;
  }

  /** Called once a turn's writes were handed to the stream's socket: `unsent` is what it has not taken. Returns whether the stream is watched now. */
  report(stream: Backlogged, unsent: number): boolean {
    const watched = this.behind.get(stream);
    if (unsent < COUNTED_FROM_BYTES) {
      this.forget(stream);
      return false;
    }
    if (watched) {
      this.counted += unsent - watched.unsent;
      watched.unsent = unsent;
    } else {
      this.behind.set(stream, { stalled: false, unsent });
      this.counted += unsent;
    }
    this.timer ??= setInterval(() => this.check(), STALL_CHECK_MS).unref();
    if (this.counted > this.maxBytes) this.checkSoon();
    return true;
  }

  /** The stream ended. */
  forget(stream: Backlogged): void {
    const watched = this.behind.get(stream);
    if (!watched) return;
    this.counted -= watched.unsent;
    this.behind.delete(stream);
  }

  stop(): void {
    clearInterval(this.timer);
    clearImmediate(this.early);
    this.timer = undefined;
    this.early = undefined;
    this.behind.clear();
    this.counted = 0;
  }

  private checkSoon(): void {
    if (this.early || Date.now() - this.earlyAt < EARLY_CHECK_MS) return;
    this.early = setImmediate(() => {
      this.early = undefined;
      this.earlyAt = Date.now();
      this.check(true);
    });
  }

  /**
   * Reads every stream behind again; drops those furthest behind while they hold more than the budget.
   * The checks a second apart count the streams behind at two in a row; one made at once (`early`) counts every stream behind.
   */
  check(early = false): void {
    const stalled: [Backlogged, number][] = [];
    let total = 0;
    let counted = 0;
    for (const [stream, watched] of this.behind) {
      const unsent = stream.unsentBytes();
      if (unsent < COUNTED_FROM_BYTES) {
        this.behind.delete(stream);
        continue;
      }
      watched.unsent = unsent;
      counted += unsent;
      if (!early) {
        const wasBehind = watched.stalled;
        watched.stalled = true;
        if (!wasBehind) continue;
      }
      stalled.push([stream, unsent]);
      total += unsent;
    }
    this.counted = counted;
    if (!early) this.stalled = total;
    if (this.behind.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    if (total <= this.maxBytes) return;
    const held = Math.min(total, this.bufferBytes());
    if (held <= this.maxBytes) return;
    const stalledBefore = total;
    stalled.sort((a, b) => b[1] - a[1]);
    let toFree = held - this.maxBytes * RELIEVED_SHARE;
    let dropped = 0;
    for (const [stream, unsent] of stalled) {
      if (toFree <= 0) break;
      this.forget(stream);
      stream.dropForTheBudget();
      total -= unsent;
      toFree -= unsent;
      dropped += 1;
    }
    if (!early) this.stalled = total;
    this.onDropped(dropped, stalledBefore);
  }
}
