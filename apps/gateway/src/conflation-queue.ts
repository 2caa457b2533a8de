/** A subject's progress events skipped in a row of replacements: how many, and the seqs of the first and the last. */
export interface Skipped {
  count: number;
  firstSeq: number;
  lastSeq: number;
}

interface Held {
  frame: Buffer;
  /** For a domain event, whether it came from history (replay) or live; undefined for a control frame. */
  replayed: boolean | undefined;
  /** The progress event's seq (0 for any other frame). */
  seq: number;
  /** The progress event's subject (index in the stream) and its skipped predecessors; undefined for any other frame. */
  subject: number | undefined;
  skipped: Skipped | undefined;
}

/** Writes the `conflated` frame of a subject (its index in the stream). */
export type ConflatedNotice = (subject: number, skipped: Skipped) => Buffer;

/**
 * What a stream opened with `?conflate=progress` holds back while its client is behind: frames in
 * the order they were written, except that a progress event replaces the one of the same subject
 * still held (it moves to the end, after everything held before it, so ids keep increasing). What
 * was skipped is said by a `conflated` frame written just before the progress event that replaced
 * it. Pure bookkeeping: the session decides when to hold and when to write what is held.
 */
export class ConflationQueue {
  /** Insertion order is write order; a subject's held progress event is keyed by its subject, so replacing it moves it last. */
  private readonly held = new Map<number | string, Held>();
  private nextKey = 0;
  private heldBytes = 0;

  constructor(private readonly notice: ConflatedNotice) {}

  get bytes(): number {
    return this.heldBytes;
  }

  get isEmpty(): boolean {
    return this.held.size === 0;
  }

  /**
   * A frame that is never skipped: a status, step or log event (`replayed` says where it came from),
   * or a control frame (`replayed` undefined).
   */
  push(frame: Buffer, replayed?: boolean): void {
    this.held.set(`f${this.nextKey++}`, { frame, replayed, seq: 0, subject: undefined, skipped: undefined });
    this.heldBytes += frame.length;
  }

  /** A progress event of `subject` with `seq`: replaces the one of that subject still held. */
  pushProgress(frame: Buffer, subject: number, seq: number, replayed: boolean): void {
    const previous = this.held.get(subject);
    let skipped: Skipped | undefined;
    if (previous) {
      const before = previous.skipped;
      skipped = { count: (before?.count ?? 0) + 1, firstSeq: before?.firstSeq ?? previous.seq, lastSeq: previous.seq };
      this.held.delete(subject);
      this.heldBytes -= previous.frame.length;
    }
    this.held.set(subject, { frame, replayed, seq, subject, skipped });
    this.heldBytes += frame.length;
  }

  /**
   * Everything held, in order, with each `conflated` frame before the progress event that replaced
   * what it names; how many events were skipped, and how many of those written are live and
   * replayed domain events. The queue is empty after.
   */
  take(): { frames: Buffer; skipped: number; live: number; replayed: number } {
    const parts: Buffer[] = [];
    let skipped = 0;
    let live = 0;
    let replayed = 0;
    for (const entry of this.held.values()) {
      if (entry.skipped && entry.subject !== undefined) {
        parts.push(this.notice(entry.subject, entry.skipped));
        skipped += entry.skipped.count;
      }
      parts.push(entry.frame);
      if (entry.replayed === true) replayed += 1;
      else if (entry.replayed === false) live += 1;
    }
    this.held.clear();
    this.heldBytes = 0;
    return { frames: parts.length === 1 ? parts[0]! : Buffer.concat(parts), skipped, live, replayed };
  }
}
