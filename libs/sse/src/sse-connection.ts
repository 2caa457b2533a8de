import { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { SSE_HEADERS, endFrame, retryFrame } from './frames';
import { GzipBody } from './gzip-segments';

/** Told once when the connection closes, whoever closed it (an object, not a closure per connection). */
export interface CloseListener {
  connectionClosed(): void;
}

/** Told after the writes of a turn were handed to the socket: what is unsent then is really behind. */
export interface UncorkListener {
  uncorked(): void;
}

/**
 * How long an ended stream's socket may take to flush what is unsent (the `end` frame included)
 * before it is destroyed: a peer that stopped reading must not keep a socket and its buffer.
 */
export const END_FLUSH_DEADLINE_MS = 2000;

const DEFAULT_HIGH_WATER_MARK = 16 * 1024;
const GZIP_HEADERS = { 'Content-Encoding': 'gzip' } as const;

/** Connections written in this turn: one nextTick uncorks them all (not a closure per connection). */
const corkedThisTurn: SseConnection[] = [];

function uncorkAll(): void {
  for (const conn of corkedThisTurn.splice(0)) conn.uncork();
}

/**
 * One open SSE response. Once the headers are out, frames go straight to the socket: the body is
 * not chunk-encoded (it ends with the connection, `Connection: close`), so no framing is added to
 * each write, and every write of one turn is corked into one syscall. `unsentBytes` is what the
 * kernel has not taken yet, which is how a slow reader is found.
 */
export class SseConnection {
  lastWriteAt = Date.now();
  private socket: Socket | undefined;
  private open = true;
  /** The response closed (its socket is gone): nothing of it is held any more. */
  private closedFully = false;
  private corked = false;
  /** One wait for 'drain' shared by every writer of this connection (one listener, however many wait). */
  private drainWait: Promise<void> | undefined;

  private closeListener: CloseListener | undefined;
  private uncorkListener: UncorkListener | undefined;

  /**
   * `headers` are added to the stream's own (CORS, nosniff); they are not copied per connection.
   * `gzip`: the body is gzip (`Content-Encoding: gzip`) made of segments shared with every other
   * connection written the same Buffer.
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Readonly<Record<string, string>> = {},
    private readonly gzip?: GzipBody,
  ) {
    // One listener, not `once` per interested party: an idle connection should hold as little as possible.
    res.on('close', () => {
      this.open = false;
      this.closedFully = true;
      this.closeListener?.connectionClosed();
    });
  }

  get isOpen(): boolean {
    return this.open && !this.res.destroyed;
  }

  /** Whether the response's socket is gone (closed, or destroyed before this connection saw it). */
  get isClosed(): boolean {
    return this.closedFully || this.res.destroyed || !!this.res.socket?.destroyed;
  }

  start(retryMs: number): void {
    this.res.removeHeader('Transfer-Encoding');
    this.res.writeHead(200, { ...this.headers, ...SSE_HEADERS, ...(this.gzip && GZIP_HEADERS), Connection: 'close' });
    this.res.flushHeaders();
    this.socket = this.res.socket ?? undefined;
    this.write(retryFrame(retryMs));
  }

  /** False when the socket's buffer is full: wait for `drained()` before writing history. */
  write(chunk: Buffer): boolean {
    const socket = this.socket;
    if (!socket || !this.isOpen) return false;
    this.lastWriteAt = Date.now();
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      corkedThisTurn.push(this);
      if (corkedThisTurn.length === 1) process.nextTick(uncorkAll);
    }
    return socket.write(this.gzip ? this.gzip.encode(chunk) : chunk);
  }

  get unsentBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** A write answered false: 'drain' is due once the socket took everything. */
  get needsDrain(): boolean {
    return this.socket?.writableNeedDrain ?? false;
  }

  /** Called on every 'drain' of the socket, before anyone waiting in `drained()` goes on (call after `start`). */
  onDrain(listener: () => void): void {
    this.socket?.on('drain', listener);
  }

  /** Unsent bytes past which a write answers false and 'drain' is due. */
  get highWaterMark(): number {
    return this.socket?.writableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  }

  /** Resolves once the socket took everything written (or closed). */
  drained(): Promise<void> {
    const socket = this.socket;
    if (!socket || !this.isOpen || !socket.writableNeedDrain) return Promise.resolve();
    this.drainWait ??= new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        this.drainWait = undefined;
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
    return this.drainWait;
  }

  /**
   * Sends `end` {reason} and closes the connection cleanly; a peer that does not take what is
   * unsent within END_FLUSH_DEADLINE_MS has its socket destroyed.
   */
  end(reason: string): void {
    if (!this.isOpen) return;
    this.open = false;
    this.uncork();
    const frame = endFrame(reason);
    const socket = this.socket;
    if (!socket) {
      this.res.end(frame);
      return;
    }
    socket.end(this.gzip ? this.gzip.finish(frame) : frame);
    // Even with everything flushed, the socket lives until the peer closes its side too.
    const deadline = setTimeout(() => socket.destroy(), END_FLUSH_DEADLINE_MS);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
  }

  /** Drops the connection at once (a slow consumer: its backlog is not worth sending). */
  destroy(): void {
    this.open = false;
    this.res.destroy();
  }

  /** The one listener told when the connection closes, whoever closed it. */
  onClose(listener: CloseListener): void {
    this.closeListener = listener;
  }

  /** @internal: called once per turn for every connection written in it. */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket?.uncork();
    this.uncorkListener?.uncorked();
  }

  /** The one listener told after each uncork (an object, not a closure: a connection should hold as little as possible). */
  onUncorked(listener: UncorkListener): void {
    this.uncorkListener = listener;
  }
}
