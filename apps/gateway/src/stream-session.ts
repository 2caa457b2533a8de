import { EndReason, GapReason } from '@fanout/contracts';
import { DisconnectReason, StreamKindLabel } from '@fanout/observability';
import { CloseListener, SseConnection, Sweepable, heartbeatFrame } from '@fanout/sse';
import { FeedSink, SubjectFeed } from './subject-feed';
import { StreamContext } from './stream-context';

/**
 * One open SSE connection: heartbeats, idle timeout, token expiry and the slow-consumer check,
 * swept by the replica's one scheduler, and the metrics of its life. Subclasses decide how the
 * frames of their feeds are written.
 */
export abstract class StreamSession implements Sweepable, FeedSink, CloseListener {
  private started = false;
  private closed = false;
  private lastEventAt = Date.now();
  private closeListener: ((session: StreamSession) => void) | undefined;

  protected constructor(
    protected readonly ctx: StreamContext,
    protected readonly conn: SseConnection,
    readonly kindLabel: StreamKindLabel,
    /** The tenant whose connection slot this session holds. */
    readonly tenant: string,
    private readonly expiresAt: number | undefined,
  ) {
    conn.onClose(this);
  }

  abstract deliver(feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void;
  abstract gap(feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void;
  abstract completed(feed: SubjectFeed): void;
  protected abstract stopFeeds(): void;

  /** Opens the response (headers and `retry:`), once every feed is subscribed. */
  protected open(): boolean {
    if (this.closed || !this.conn.isOpen) {
      this.finish('client_closed');
      return false;
    }
    this.started = true;
    this.ctx.metrics.connections.inc({ kind: this.kindLabel });
    this.ctx.scheduler.add(this);
    this.conn.start(this.ctx.settings.retryMs);
    return true;
  }

  /** Told once, when the session ends for any reason (one function shared by every session). */
  onClosed(listener: (session: StreamSession) => void): void {
    this.closeListener = listener;
  }

  connectionClosed(): void {
    this.finish('client_closed');
  }

  isOpen(): boolean {
    return !this.closed && this.conn.isOpen;
  }

  drained(): Promise<void> {
    return this.conn.drained();
  }

  failed(_feed: SubjectFeed, error: Error): void {
    this.ctx.logger.warn({ err: error.message, stream: this.kindLabel }, 'reading history failed; closing the stream so the client resumes');
    this.conn.destroy();
    this.finish('store_error');
  }

  sweep(now: number): void {
    if (this.closed) return;
    if (this.expiresAt !== undefined && now >= this.expiresAt) return this.end('token_expired');
    if (now - this.lastEventAt >= this.ctx.settings.idleTimeoutMs) return this.end('idle_timeout');
    if (now - this.conn.lastWriteAt >= this.ctx.settings.heartbeatMs) {
      this.conn.write(heartbeatFrame(new Date(now)));
      this.ctx.metrics.heartbeats.inc();
    }
  }

  /** Sends `end` {reason} and closes the response. */
  end(reason: EndReason): void {
    if (this.closed) return;
    this.conn.end(reason);
    this.finish(reason);
  }

  /** Writes domain-event frames and counts them; drops the client if it cannot keep up with live events. */
  protected writeEvents(frames: Buffer, count: number, replayed: boolean): void {
    this.conn.write(frames);
    this.lastEventAt = Date.now();
    this.ctx.metrics.countDelivered(this.kindLabel, count, replayed);
    if (!replayed && this.conn.unsentBytes > this.ctx.settings.clientBufferBytes) {
      this.ctx.logger.info({ stream: this.kindLabel, unsentBytes: this.conn.unsentBytes }, 'dropping a slow consumer');
      this.conn.destroy();
      this.finish('slow_consumer');
    }
  }

  protected writeControl(frame: Buffer): void {
    this.conn.write(frame);
  }

  private finish(reason: DisconnectReason): void {
    if (this.closed) return;
    this.closed = true;
    this.stopFeeds();
    this.ctx.scheduler.delete(this);
    if (this.started) {
      this.ctx.metrics.connections.dec({ kind: this.kindLabel });
      this.ctx.metrics.disconnects.inc({ reason });
    }
    this.closeListener?.(this);
    this.closeListener = undefined;
  }
}
