import { ServerResponse } from 'node:http';
import { SSE_HEADERS, controlFrame, retryFrame } from './frames';

/**
 * One open SSE response. Writes go straight to the socket; `unsentBytes` is what the kernel has not
 * taken yet, which is how a slow reader is found. The body is not chunk-encoded: it ends with the
 * connection (`Connection: close`), so no framing bytes are added to each write.
 */
export class SseConnection {
  lastWriteAt = Date.now();
  private open = true;

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => {
      this.open = false;
    });
  }

  get isOpen(): boolean {
    return this.open && !this.res.destroyed;
  }

  start(retryMs: number, extraHeaders: Record<string, string> = {}): void {
    this.res.removeHeader('Transfer-Encoding');
    this.res.writeHead(200, { ...extraHeaders, ...SSE_HEADERS, Connection: 'close' });
    this.res.flushHeaders();
    this.write(retryFrame(retryMs));
  }

  /** False when the socket's buffer is full: wait for `drained()` before writing history. */
  write(chunk: Buffer): boolean {
    if (!this.isOpen) return false;
    this.lastWriteAt = Date.now();
    return this.res.write(chunk);
  }

  get unsentBytes(): number {
    return this.res.writableLength + (this.res.socket?.writableLength ?? 0);
  }

  drained(): Promise<void> {
    if (!this.isOpen || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Sends `end` {reason} and closes the response cleanly. */
  end(reason: string): void {
    if (!this.isOpen) return;
    this.res.end(controlFrame('end', { reason }));
    this.open = false;
  }

  /** Drops the connection at once (a slow consumer: its backlog is not worth sending). */
  destroy(): void {
    this.open = false;
    this.res.destroy();
  }

  onClose(listener: () => void): void {
    this.res.once('close', listener);
  }
}
