import { EndReason, GapReason, TenantSubject } from '@fanout/contracts';
import { LiveBatch, framesAfter } from '@fanout/bus';
import { DisconnectReason } from '@fanout/observability';
import { SseConnection, Sweepable, controlFrame, heartbeatFrame } from '@fanout/sse';
import { StreamContext } from './stream-context';
import { LiveClient } from './subscription-manager';

type Phase = 'replaying' | 'live' | 'closed';

/** Live batches held while history is replayed; past this, they are dropped and history re-read. */
const MAX_BUFFERED_BATCHES = 1024;

/**
 * One client's stream of one subject. The seam between replay and live is gapless (DESIGN rule 2):
 * the subscription is made first and live batches are buffered while history after the client's
 * position is sent page by page, each page only once the socket has drained; the buffer is then
 * flushed, skipping every seq already sent.
 */
export class SubjectStream implements LiveClient, Sweepable {
  private phase: Phase = 'replaying';
  private started = false;
  private buffered: LiveBatch[] = [];
  private bufferOverflowed = false;
  private catchingUp = false;
  private catchUpAgain = false;
  private lastEventAt = Date.now();
  private closeListeners: (() => void)[] = [];

  constructor(
    private readonly ctx: StreamContext,
    readonly subject: TenantSubject,
    private readonly conn: SseConnection,
    private sentSeq: number,
    private readonly expiresAt: number | undefined,
  ) {
    conn.onClose(() => this.finish('client_closed'));
  }

  /** Subscribes, opens the response, sends `gap` if due, then replays and goes live. */
  async start(gap?: { reason: GapReason; firstAvailableSeq: number }): Promise<void> {
    await this.ctx.subscriptions.join(this.subject, this);
    if (this.phase === 'closed') {
      this.ctx.subscriptions.leave(this.subject, this);
      return;
    }
    this.started = true;
    this.ctx.metrics.connections.inc({ kind: this.subject.kind });
    this.ctx.scheduler.add(this);
    this.conn.start(this.ctx.settings.retryMs);
    if (gap) this.sendGap(gap.reason, gap.firstAvailableSeq);
    await this.catchUp();
  }

  onClosed(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  onBatch(batch: LiveBatch): void {
    if (this.phase === 'replaying') {
      if (this.buffered.length >= MAX_BUFFERED_BATCHES) {
        this.buffered = [];
        this.bufferOverflowed = true;
      }
      this.buffered.push(batch);
      return;
    }
    if (this.phase !== 'live' || batch.lastSeq <= this.sentSeq) return;
    if (batch.firstSeq > this.sentSeq + 1) {
      // A batch went missing on the way (the pub/sub path dropped it): history has it.
      this.buffered.push(batch);
      void this.catchUp();
      return;
    }
    this.writeLive(batch);
  }

  onRecovered(): void {
    if (this.phase === 'closed') return;
    // Batches published while the path was down never arrived: read them from history.
    this.bufferOverflowed = true;
    void this.catchUp();
  }

  sweep(now: number): void {
    if (this.phase === 'closed') return;
    if (this.expiresAt !== undefined && now >= this.expiresAt) return this.end('token_expired');
    if (now - this.lastEventAt >= this.ctx.settings.idleTimeoutMs) return this.end('idle_timeout');
    if (now - this.conn.lastWriteAt >= this.ctx.settings.heartbeatMs) {
      this.conn.write(heartbeatFrame(new Date(now)));
      this.ctx.metrics.heartbeats.inc();
    }
  }

  /** Ends the stream with an `end` frame (shutdown, completion, timeouts). */
  end(reason: EndReason): void {
    if (this.phase === 'closed') return;
    this.conn.end(reason);
    this.finish(reason);
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
      this.ctx.logger.warn({ err: (error as Error).message, subject: this.subject }, 'replay failed; closing the stream');
      this.conn.destroy();
      this.finish('client_closed');
    } finally {
      this.catchingUp = false;
    }
  }

  private async replayHistory(): Promise<void> {
    const { bus, settings } = this.ctx;
    for (;;) {
      this.bufferOverflowed = false;
      const page = await bus.history(this.subject, this.sentSeq, settings.replayPageSize);
      if (!this.isOpen()) return;
      const first = page[0];
      if (first && first.seq > this.sentSeq + 1) this.sendGap('history_trimmed', first.seq);
      if (page.length > 0) {
        const terminal = page[page.length - 1]!.terminal;
        this.conn.write(page.length === 1 ? first!.frame : Buffer.concat(page.map((e) => e.frame)));
        this.sentSeq = page[page.length - 1]!.seq;
        this.countDelivered(page.length, true);
        if (terminal) return this.end('completed');
        await this.conn.drained();
        if (!this.isOpen()) return;
      }
      if (page.length < settings.replayPageSize && !this.bufferOverflowed) return;
    }
  }

  private goLive(): void {
    const pending = this.buffered;
    this.buffered = [];
    this.phase = 'live';
    for (const batch of pending) {
      if (!this.isOpen()) return;
      this.onBatch(batch);
    }
  }

  private writeLive(batch: LiveBatch): void {
    const frames = framesAfter(batch, this.sentSeq);
    this.conn.write(frames);
    this.countDelivered(batch.lastSeq - this.sentSeq, false);
    this.sentSeq = batch.lastSeq;
    if (batch.terminal) return this.end('completed');
    if (this.conn.unsentBytes > this.ctx.settings.clientBufferBytes) {
      this.ctx.logger.info({ subject: this.subject, unsentBytes: this.conn.unsentBytes }, 'dropping a slow consumer');
      this.conn.destroy();
      this.finish('slow_consumer');
    }
  }

  private sendGap(reason: GapReason, firstAvailableSeq: number): void {
    this.conn.write(controlFrame('gap', { reason, firstAvailableSeq }));
    this.sentSeq = Math.max(this.sentSeq, firstAvailableSeq - 1);
  }

  private countDelivered(count: number, replayed: boolean): void {
    this.lastEventAt = Date.now();
    this.ctx.metrics.eventsDelivered.inc({ kind: this.subject.kind }, count);
    if (replayed) this.ctx.metrics.replayedEvents.inc(count);
  }

  private isOpen(): boolean {
    return this.phase !== 'closed' && this.conn.isOpen;
  }

  private finish(reason: DisconnectReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.buffered = [];
    this.ctx.subscriptions.leave(this.subject, this);
    this.ctx.scheduler.delete(this);
    if (this.started) {
      this.ctx.metrics.connections.dec({ kind: this.subject.kind });
      this.ctx.metrics.disconnects.inc({ reason });
    }
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
