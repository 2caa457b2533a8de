import { CONFLATABLE_EVENT_TYPES, EndReason, GapReason } from '@fanout/contracts';
import { eventTypeOf, seqOfFrame, splitFrames } from '@fanout/bus';
import { Principal } from '@fanout/http';
import { DisconnectReason, StreamKindLabel } from '@fanout/observability';
import { CloseListener, SseConnection, Sweepable, UncorkListener, heartbeatFrame } from '@fanout/sse';
import { Backlogged, COUNTED_FROM_BYTES } from './unsent-budget';
import { ConflationQueue, Skipped } from './conflation-queue';
import { DeliveryOptions } from './delivery-options';
import { FeedSink, SubjectFeed } from './subject-feed';
import { StreamServices, jitteredRetryMs } from './stream-context';

const CONFLATABLE: ReadonlySet<string> = new Set(CONFLATABLE_EVENT_TYPES);

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
 *
 * With `?conflate=progress`, a client whose unsent bytes pass the conflation threshold (below the
 * limit) has what is written next held in a `ConflationQueue` until the socket drains, where a
 * progress event replaces the one of its subject still held; the limit then counts what is held too.
 */
export abstract class StreamSession implements Sweepable, FeedSink, CloseListener, UncorkListener, Backlogged {
  private started = false;
  private closed = false;
  /** Whether the process's unsent budget counts this stream (it is behind by COUNTED_FROM_BYTES or more). */
  private counted = false;
  private lastEventAt = Date.now();
  /** Unsent bytes right after the last heartbeat: none taken since then means a stalled reader. */
  private unsentAtHeartbeat = Number.POSITIVE_INFINITY;
  private lastHeartbeatAt = 0;
  private releaseListener: ((session: StreamSession) => void) | undefined;
  /** What is held back while the client is behind (`?conflate=progress` only). */
  private readonly held: ConflationQueue | undefined;

  protected constructor(
    protected readonly services: StreamServices,
    protected readonly conn: SseConnection,
    readonly kindLabel: StreamKindLabel,
    /** Who opened the stream: its tenant holds the connection slot; its token's expiry and claims may end it. */
    readonly principal: Principal,
    protected readonly delivery: DeliveryOptions,
  ) {
    conn.onClose(this);
    conn.onUncorked(this);
    if (delivery.conflate) this.held = new ConflationQueue((subject, skipped) => this.conflatedFrame(subject, skipped));
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
  /** The `conflated` frame telling what of a subject (its index in the stream) was skipped. */
  protected abstract conflatedFrame(subject: number, skipped: Skipped): Buffer;

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
    this.conn.start(jitteredRetryMs(this.services.settings));
    if (this.held) this.conn.onDrain(() => this.writeHeld());
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
    return Math.max(this.services.settings.clientBufferBytes, this.conn.highWaterMark) - this.unsentBytes();
  }

  failed(_feed: SubjectFeed, error: Error): void {
    this.services.logger.warn({ err: error.message, stream: this.kindLabel }, 'reading history failed; closing the stream so the client resumes');
    this.conn.destroy();
    this.finish('store_error');
  }

  /** Ends what has expired, writes a heartbeat when one is due, and tells when to look again. */
  sweep(now: number): number {
    if (this.closed) return Infinity;
    const { heartbeatMs, idleTimeoutMs } = this.services.settings;
    const { expiresAt } = this.principal;
    if (expiresAt !== undefined && now >= expiresAt) return this.ended('token_expired');
    if (now - this.lastEventAt >= idleTimeoutMs) return this.ended('idle_timeout');
    if (now - this.quietSince() >= heartbeatMs) {
      const unsent = this.conn.unsentBytes;
      if (unsent > 0 && unsent >= this.unsentAtHeartbeat) {
        this.dropSlowConsumer();
        return Infinity;
      }
      this.lastHeartbeatAt = now;
      // While conflation holds frames back, the client has data on its way: a heartbeat would only queue behind it.
      if (!this.held || this.held.isEmpty) {
        this.writeControl(heartbeatFrame(new Date(now)));
        if (this.closed) return Infinity;
        this.services.metrics.heartbeats.inc();
      }
      this.unsentAtHeartbeat = this.conn.unsentBytes;
    }
    return Math.min(expiresAt ?? Infinity, this.lastEventAt + idleTimeoutMs, this.quietSince() + heartbeatMs);
  }

  /** The last write, or the last heartbeat due (which writes nothing while conflation holds frames back). */
  private quietSince(): number {
    return Math.max(this.conn.lastWriteAt, this.lastHeartbeatAt);
  }

  private ended(reason: EndReason): number {
    this.end(reason);
    return Infinity;
  }

  /** Sends `end` {reason} and closes the response. */
  end(reason: EndReason): void {
    if (this.closed) return;
    this.writeHeld();
    this.conn.end(reason);
    this.finish(reason);
  }

  /**
   * Writes domain-event frames and counts them. Live frames that find the client over the buffer
   * limit drop it instead; replayed ones were sized to the room the connection had (`replayRoom`).
   */
  protected writeEvents(frames: Buffer, count: number, replayed: boolean, subject = 0): void {
    if (!replayed && this.droppedForItsBacklog()) return;
    this.lastEventAt = Date.now();
    if (this.held) {
      this.writeConflating(frames, count, replayed, subject);
      return;
    }
    this.conn.write(frames);
    this.services.metrics.countDelivered(this.kindLabel, count, replayed);
  }

  protected writeControl(frame: Buffer): void {
    if (this.droppedForItsBacklog()) return;
    if (this.held && !this.held.isEmpty) this.held.push(frame);
    else this.conn.write(frame);
  }

  /** Unsent bytes of the connection, with what conflation holds back. */
  unsentBytes(): number {
    return this.conn.unsentBytes + (this.held?.bytes ?? 0);
  }

  /**
   * Writes frames while the client keeps up, and holds them from the one that finds it behind on (a
   * batch larger than the threshold is held in part): once something is held, everything after it
   * is, so order is kept. An event counts as delivered when it is written, so a skipped one never does.
   */
  private writeConflating(frames: Buffer, count: number, replayed: boolean, subject: number): void {
    const held = this.held!;
    if (held.isEmpty && this.conn.unsentBytes + frames.length <= this.services.settings.conflateThresholdBytes) {
      this.conn.write(frames);
      this.services.metrics.countDelivered(this.kindLabel, count, replayed);
      return;
    }
    let written = 0;
    for (const frame of splitFrames(frames)) {
      if (held.isEmpty && !this.isBehind()) {
        this.conn.write(frame);
        written += 1;
      } else if (CONFLATABLE.has(eventTypeOf(frame))) held.pushProgress(frame, subject, seqOfFrame(frame), replayed);
      else held.push(frame, replayed);
    }
    if (written > 0) this.services.metrics.countDelivered(this.kindLabel, written, replayed);
  }

  /** Past the conflation threshold with a 'drain' due (which writes what is held). */
  private isBehind(): boolean {
    return this.conn.needsDrain && this.conn.unsentBytes >= this.services.settings.conflateThresholdBytes;
  }

  private writeHeld(): void {
    if (!this.held || this.held.isEmpty || !this.conn.isOpen) return;
    const { frames, skipped, live, replayed } = this.held.take();
    this.conn.write(frames);
    if (skipped > 0) this.services.metrics.conflated.inc(skipped);
    if (live > 0) this.services.metrics.countDelivered(this.kindLabel, live, false);
    if (replayed > 0) this.services.metrics.countDelivered(this.kindLabel, replayed, true);
  }

  /**
   * Drops the client when what it has not taken is over the buffer limit before one more write.
   * Checked before, not after: one write (a frame, or all the frames of a batch published
   * together, which can be larger than the limit) goes to a client that was within it, so one that
   * reads is not dropped for the size of a batch; one that does not is dropped at the next write,
   * holding at most the limit plus one write.
   */
  private droppedForItsBacklog(): boolean {
    if (this.closed) return true;
    if (this.unsentBytes() <= this.services.settings.clientBufferBytes) return false;
    this.dropSlowConsumer();
    return true;
  }

  /**
   * The turn's writes were handed to the socket: tells the process's unsent budget what is still
   * unsent, when this stream is (or was) behind enough to count. Not before: while a turn's writes are
   * corked every socket holds them, though one Buffer written to many sockets is held once.
   */
  uncorked(): void {
    if (this.closed) return;
    const unsent = this.unsentBytes();
    if (this.counted || unsent >= COUNTED_FROM_BYTES) this.counted = this.services.unsentBudget.report(this, unsent);
  }

  /**
   * The process's unsent budget is over: this stream is among those furthest behind. One that ended
   * already (its socket flushing its last bytes) loses them: its client resumes.
   */
  dropForTheBudget(): void {
    this.counted = false;
    if (!this.closed) this.dropSlowConsumer();
    else this.conn.destroy();
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

  /** Once its socket is gone: until then an ended stream's unsent bytes still count. */
  private release(): void {
    if (this.counted) {
      this.counted = false;
      this.services.unsentBudget.forget(this);
    }
    this.releaseListener?.(this);
    this.releaseListener = undefined;
  }
}
