import { GapReason } from '@fanout/contracts';
import { HistoryEntry, LiveBatch, StreamRef, epochOfFrame, framesAfter } from '@fanout/bus';
import { StreamContext } from './stream-context';
import { LiveClient } from './subscription-manager';

/** Where a feed's events go: a connection, which may rewrite ids (multi-subject) before writing. */
export interface FeedSink {
  /** Frames of the consecutive seqs firstSeq..lastSeq, each one a finished SSE frame with its own `id:` line. */
  deliver(feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void;
  gap(feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void;
  /** The feed delivered its subject's terminal event. */
  completed(feed: SubjectFeed): void;
  failed(feed: SubjectFeed, error: Error): void;
  isOpen(): boolean;
  /** Resolves once the connection took everything written (or closed). */
  drained(): Promise<void>;
  /** Bytes of replay the connection may take now (none at or below 0: wait for `drained`). */
  replayRoom(): number;
  /** What writing this stored frame adds to the connection's unsent bytes (ids may be rewritten). */
  writtenSize(frame: Buffer): number;
}

/** `waiting`: subscribed, history not read yet (batches are ignored: that read will have them). */
type Phase = 'waiting' | 'replaying' | 'live' | 'stopped';

/** Live batches held while history is replayed; past this (or the client buffer limit in bytes), they are dropped and history re-read. */
const MAX_BUFFERED_BATCHES = 1024;
/** Reads that still answer with a left-behind epoch before the stream gives up (the client then resumes). */
const MAX_STALE_READS = 3;

/**
 * One subject's events for one connection, with a gapless seam between replay and live (DESIGN
 * rule 2): the subscription is made first and live batches are buffered while history after the
 * position is sent page by page, each page only once the socket has drained; the buffer is then
 * flushed, skipping every seq already sent. A batch that arrives out of order, or a bus recovery,
 * sends the feed back to history for what it missed.
 */
export class SubjectFeed implements LiveClient {
  private phase: Phase = 'waiting';
  private buffered: LiveBatch[] = [];
  private bufferedBytes = 0;
  private bufferOverflowed = false;
  private catchingUp = false;
  private catchUpAgain = false;
  /** Where this feed began taking live batches (left `waiting`), on the subscription manager's order of joins and batches. */
  private joinMark = Number.POSITIVE_INFINITY;
  /** After a bus recovery: whether the subject still has the epoch being streamed must be read. */
  private verifyEpoch = false;
  /** Epochs this feed streamed before the subject started again: frames of these are stale. */
  private retiredEpochs: string[] | undefined;

  /**
   * `epoch`: the history `sentSeq` belongs to (undefined: none yet, the first one seen is taken).
   * Frames of another epoch mean the store lost the subject's history and it started again.
   */
  constructor(
    private readonly ctx: StreamContext,
    readonly ref: StreamRef,
    private readonly sink: FeedSink,
    private sentSeq: number,
    private currentEpoch: string | undefined,
  ) {}

  get epoch(): string | undefined {
    return this.currentEpoch;
  }

  /** Resolves once live batches reach this feed (call before `replay`). */
  async subscribe(): Promise<void> {
    await this.ctx.subscriptions.join(this.ref, this);
  }

  /**
   * Sends `gap` if due, then replays history and goes live. Until this is called the feed holds
   * nothing of what arrives live: the history read it starts with is issued after those batches
   * were stored, so a multi-subject stream replays its subjects one after another for free.
   */
  async replay(gap?: { reason: GapReason; firstAvailableSeq: number }): Promise<void> {
    if (this.phase !== 'waiting') return;
    this.joinMark = this.ctx.subscriptions.latestMark();
    if (gap) this.sendGap(gap.reason, gap.firstAvailableSeq);
    await this.catchUp();
  }

  stop(): void {
    if (this.phase === 'stopped') return;
    this.phase = 'stopped';
    this.clearBuffer();
    this.ctx.subscriptions.leave(this.ref, this);
  }

  onBatch(batch: LiveBatch): void {
    if (this.phase === 'replaying') {
      if (this.buffered.length >= MAX_BUFFERED_BATCHES || this.bufferedBytes + batch.frames.length > this.ctx.settings.clientBufferBytes) {
        this.clearBuffer();
        this.bufferOverflowed = true;
      }
      this.buffered.push(batch);
      this.bufferedBytes += batch.frames.length;
      return;
    }
    if (this.phase !== 'live') return;
    const verdict = this.epochVerdict(batch.epoch);
    if (verdict === 'stale') return;
    if (verdict === 'new') {
      this.startOver(batch.epoch!);
      this.bufferOverflowed = true;
      void this.catchUp();
      return;
    }
    if (batch.lastSeq <= this.sentSeq) return;
    if (batch.firstSeq > this.sentSeq + 1) {
      // A batch went missing on the way (the pub/sub path dropped it): history has it.
      this.buffered.push(batch);
      this.bufferedBytes += batch.frames.length;
      void this.catchUp();
      return;
    }
    const firstSeq = this.sentSeq + 1;
    this.sentSeq = batch.lastSeq;
    this.sink.deliver(this, framesAfter(batch, firstSeq - 1), firstSeq, batch.lastSeq, false);
    if (batch.terminal) this.complete();
  }

  onRecovered(): void {
    if (this.phase === 'stopped') return;
    // Batches published while the path was down never arrived: read them from history. The store
    // may also have lost the subject and started it again, at seqs the client already has.
    this.verifyEpoch = true;
    if (this.phase === 'waiting') return;
    this.bufferOverflowed = true;
    void this.catchUp();
  }

  /**
   * Whether frames are of the epoch streamed (the first epoch seen is taken), of a new one (the
   * subject started again), or of one this feed already left behind (a page or batch from before).
   */
  private epochVerdict(epoch: string | undefined): 'same' | 'new' | 'stale' {
    if (epoch === undefined || epoch === this.currentEpoch) return 'same';
    if (this.currentEpoch === undefined) {
      this.currentEpoch = epoch;
      return 'same';
    }
    return this.retiredEpochs?.includes(epoch) ? 'stale' : 'new';
  }

  /** The subject's history was lost and began again as `epoch`: say so, then stream it from its start. */
  private startOver(epoch: string): void {
    if (this.currentEpoch !== undefined) (this.retiredEpochs ??= []).push(this.currentEpoch);
    this.currentEpoch = epoch;
    this.sentSeq = 0;
    this.ctx.history.forget(this.ref);
    this.sink.gap(this, 'history_lost', 1);
  }

  private isOpen(): boolean {
    return this.phase !== 'stopped' && this.sink.isOpen();
  }

  private complete(): void {
    this.stop();
    this.sink.completed(this);
  }

  /** Replays history after sentSeq until caught up, then flushes the buffer and goes live. */
  private async catchUp(): Promise<void> {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = true;
    this.phase = 'replaying';
    try {
      do {
        this.catchUpAgain = false;
        await this.replayHistory();
      } while (this.catchUpAgain && this.isOpen());
      if (this.isOpen()) this.goLive();
    } catch (error) {
      if (this.isOpen()) this.sink.failed(this, error as Error);
    } finally {
      this.catchingUp = false;
    }
  }

  private async replayHistory(): Promise<void> {
    if (this.verifyEpoch) {
      this.verifyEpoch = false;
      const info = await this.ctx.bus.info(this.ref);
      if (!this.isOpen()) return;
      if (info && this.currentEpoch !== undefined && info.epoch !== this.currentEpoch) this.startOver(info.epoch);
    }
    let staleReads = 0;
    for (;;) {
      this.bufferOverflowed = false;
      const { entries: page, reachedEnd, missed } = await this.ctx.history.read(this.ref, this.sentSeq, this.joinMark);
      if (!this.isOpen()) return;
      const pageEpoch = page[0] ? epochOfFrame(page[0].frame) : undefined;
      const verdict = this.epochVerdict(pageEpoch);
      if (verdict === 'new') {
        this.startOver(pageEpoch!);
        continue;
      }
      if (verdict === 'stale') {
        // A shared page from before the subject started again: read the store itself.
        if (++staleReads > MAX_STALE_READS) throw new Error('history keeps answering with an epoch this stream left behind');
        this.ctx.history.forget(this.ref);
        continue;
      }
      // A shared read issued before this feed joined comes with the live batches since: they go
      // before those the feed received itself (the overlap is skipped by seq when going live).
      if (missed.length > 0) {
        this.buffered = [...missed, ...this.buffered];
        this.bufferedBytes += missed.reduce((sum, batch) => sum + batch.frames.length, 0);
      }
      if (page[0] && page[0].seq > this.sentSeq + 1) this.sendGap('history_trimmed', page[0].seq);
      const written = this.writeReplay(page);
      if (written === 'completed') return this.complete();
      await this.sink.drained();
      if (!this.isOpen()) return;
      // Cut short for room: the rest is read again (from the shared pages) rather than held here.
      if (written === 'all' && reachedEnd && !this.bufferOverflowed) return;
    }
  }

  /**
   * Writes as much of a page as the connection has room for, in runs that fit (always at least
   * one frame, so the unsent bytes stay within the limit plus one frame).
   */
  private writeReplay(page: readonly HistoryEntry[]): 'all' | 'part' | 'completed' {
    let next = 0;
    while (next < page.length) {
      let room = this.sink.replayRoom();
      if (room <= 0) return 'part';
      const from = next;
      do room -= this.sink.writtenSize(page[next++]!.frame);
      while (next < page.length && room - this.sink.writtenSize(page[next]!.frame) >= 0);
      const first = page[from]!;
      const last = page[next - 1]!;
      this.sentSeq = last.seq;
      const frames = next - from === 1 ? first.frame : Buffer.concat(page.slice(from, next).map((e) => e.frame));
      this.sink.deliver(this, frames, first.seq, last.seq, true);
      if (last.terminal) return 'completed';
      if (!this.isOpen()) return 'part';
    }
    return 'all';
  }

  private clearBuffer(): void {
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  private goLive(): void {
    const pending = this.buffered;
    this.clearBuffer();
    this.phase = 'live';
    for (const batch of pending) {
      if (!this.isOpen()) return;
      this.onBatch(batch);
    }
  }

  private sendGap(reason: GapReason, firstAvailableSeq: number): void {
    this.sentSeq = Math.max(this.sentSeq, firstAvailableSeq - 1);
    this.sink.gap(this, reason, firstAvailableSeq);
  }
}
