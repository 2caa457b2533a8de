import { EndReason, GapReason } from '@fanout/contracts';
import { Principal } from '@fanout/http';
import { DisconnectReason, StreamKindLabel } from '@fanout/observability';
import { CloseListener, SseConnection, Sweepable, heartbeatFrame } from '@fanout/sse';
import { FeedSink, SubjectFeed } from './subject-feed';
import { StreamServices } from './stream-context';

/**
 * One open SSE connection: heartbeats, idle timeout, token expiry and the slow-consumer checks,
 * swept by the replica's one scheduler, and the metrics of its life. Subclasses decide how the
 * frames of their feeds are written.
 *
 * What a session holds is bounded by the client buffer limit: replay writes only while the
 * connection has room (`replayRoom`) and waits for the socket to drain; any other write that
 * leaves more unsent than the limit drops the client, and so does a client that took nothing of
 * its unsent bytes over a whole heartbeat interval. The session's slot is given back only once
 * its socket has really closed (an ended stream's socket is destroyed if it does not flush soon).
 */
export abstract class StreamSession implements Sweepable, FeedSink, CloseListener {
  private started = false;
  private closed = false;
  private lastEventAt = Date.now();
  /** Unsent bytes right after the last heartbeat: none taken since then means a stalled reader. */
  private unsentAtHeartbeat = Number.POSITIVE_INFINITY;
  private releaseListener: ((session: StreamSession) => void) | undefined;

  protected constructor(
    protected readonly services: StreamServices,
    protected readonly conn: SseConnection,
    readonly kindLabel: StreamKindLabel,
    /** Who opened the stream: its tenant holds the connection slot; its token's expiry and claims may end it. */
    readonly principal: Principal,
  ) {
    conn.onClose(this);
  }

  /** The tenant whose connection slot this session holds. */
  get tenant(): string {
    return this.principal.tenant;
  }

  abstract deliver(feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void;
  abstract gap(feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void;
  abstract completed(feed: SubjectFeed): void;
  abstract writtenSize(frame: Buffer): number;
  protected abstract stopFeeds(): void;

  /** Opens the response (headers and `retry:`), once every feed is subscribed. */
  protected open(): boolean {
    if (this.closed || !this.conn.isOpen) {
      this.finish('client_closed');
      if (this.conn.isClosed) this.release();
      return false;
    }
    this.started = true;
    this.services.metrics.connections.inc({ kind: this.kindLabel });
    this.services.scheduler.add(this);
    this.conn.start(this.services.settings.retryMs);
    return true;
  }

  /** Told once, when the session's socket is gone and its slot may be reused (one function shared by every session). */
  onReleased(listener: (session: StreamSession) => void): void {
    this.releaseListener = listener;
  }

  connectionClosed(): void {
    this.finish('client_closed');
    this.release();
  }

  isOpen(): boolean {
    return !this.closed && this.conn.isOpen;
  }

  drained(): Promise<void> {
    return this.conn.drained();
  }

  /**
   * Room left under the buffer limit (at least the socket's high-water mark, so that a connection
   * out of room always has a 'drain' to wait for).
   */
  replayRoom(): number {
    return Math.max(this.services.settings.clientBufferBytes, this.conn.highWaterMark) - this.conn.unsentBytes;
  }

  failed(_feed: SubjectFeed, error: Error): void {
    this.services.logger.warn({ err: error.message, stream: this.kindLabel }, 'reading history failed; closing the stream so the client resumes');
    this.conn.destroy();
    this.finish('store_error');
  }

  sweep(now: number): void {
    if (this.closed) return;
    const { expiresAt } = this.principal;
    if (expiresAt !== undefined && now >= expiresAt) return this.end('token_expired');
    if (now - this.lastEventAt >= this.services.settings.idleTimeoutMs) return this.end('idle_timeout');
    if (now - this.conn.lastWriteAt >= this.services.settings.heartbeatMs) {
      const unsent = this.conn.unsentBytes;
      if (unsent > 0 && unsent >= this.unsentAtHeartbeat) return this.dropSlowConsumer();
      this.writeControl(heartbeatFrame(new Date(now)));
      if (this.closed) return;
      this.services.metrics.heartbeats.inc();
      this.unsentAtHeartbeat = this.conn.unsentBytes;
    }
  }

  /** Sends `end` {reason} and closes the response. */
  end(reason: EndReason): void {
    if (this.closed) return;
    this.conn.end(reason);
    this.finish(reason);
  }

  /**
   * Writes domain-event frames and counts them. Live frames past the buffer limit drop the client;
   * replayed ones were sized to the room the connection had (`replayRoom`).
   */
  protected writeEvents(frames: Buffer, count: number, replayed: boolean): void {
    this.conn.write(frames);
    this.lastEventAt = Date.now();
    this.services.metrics.countDelivered(this.kindLabel, count, replayed);
    if (!replayed) this.checkBuffer();
  }

  protected writeControl(frame: Buffer): void {
    this.conn.write(frame);
    this.checkBuffer();
  }

  private checkBuffer(): void {
    if (!this.closed && this.conn.unsentBytes > this.services.settings.clientBufferBytes) this.dropSlowConsumer();
  }

  private dropSlowConsumer(): void {
    this.services.logger.info({ stream: this.kindLabel, unsentBytes: this.conn.unsentBytes }, 'dropping a slow consumer');
    this.conn.destroy();
    this.finish('slow_consumer');
  }

  private finish(reason: DisconnectReason): void {
    if (this.closed) return;
    this.closed = true;
    this.stopFeeds();
    this.services.scheduler.delete(this);
    if (this.started) {
      this.services.metrics.connections.dec({ kind: this.kindLabel });
      this.services.metrics.disconnects.inc({ reason });
    }
  }

  private release(): void {
    this.releaseListener?.(this);
    this.releaseListener = undefined;
  }
}
