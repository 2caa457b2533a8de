import { Endpoint } from '../client/endpoint';
import { OutgoingEvent, PublishError, postEvents } from '../client/publish';

const DEFAULT_FLUSH_AFTER_MS = 50;
const DEFAULT_MAX_BATCH = 200;
const DEFAULT_SINK_RETRY_FOR_MS = 30_000;

export interface EventSinkOptions {
  endpoint: Endpoint;
  /** Publish what is queued this long after the first queued event. @default {@link DEFAULT_FLUSH_AFTER_MS} */
  flushAfterMs?: number;
  /** …or as soon as this many events are queued; also the most events per request. @default {@link DEFAULT_MAX_BATCH} */
  maxBatch?: number;
  /** Keep retrying a 503 or a failed connection for this long (same eventIds: safe). @default {@link DEFAULT_SINK_RETRY_FOR_MS} */
  retryForMs?: number;
  onRetry?: (reason: string) => void;
}

/**
 * Publishes events in the order they were pushed, in batches: one request in flight at a time, so the
 * subject's seq order is the push order. Once a publish fails for good, every later flush rejects.
 */
export class EventSink {
  private queue: OutgoingEvent[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private unacknowledged = 0;
  private failure: Error | undefined;
  private readonly failureListeners: ((error: Error) => void)[] = [];
  private readonly flushAfterMs: number;
  private readonly maxBatch: number;

  constructor(private readonly options: EventSinkOptions) {
    this.flushAfterMs = options.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  }

  /** Events pushed and not yet acknowledged by the publisher. */
  get pending(): number {
    return this.unacknowledged;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Called once when a publish fails for good. */
  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  push(event: OutgoingEvent): void {
    if (this.failure) return;
    this.queue.push(event);
    this.unacknowledged += 1;
    if (this.queue.length >= this.maxBatch) void this.flush().catch(() => undefined);
    else this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.flushAfterMs);
  }

  /** Sends everything queued; resolves once all of it (and everything before) is stored. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.chain = this.chain.then(() => this.send(batch));
    }
    return this.chain;
  }

  private async send(batch: OutgoingEvent[]): Promise<void> {
    if (this.failure) throw this.failure;
    try {
      await postEvents(this.options.endpoint, batch, { retryForMs: this.options.retryForMs ?? DEFAULT_SINK_RETRY_FOR_MS, onRetry: this.options.onRetry });
      this.unacknowledged -= batch.length;
    } catch (error) {
      this.failure = error instanceof PublishError ? error : new Error(`publishing failed: ${(error as Error).message}`);
      this.queue = [];
      for (const listener of this.failureListeners) listener(this.failure);
      throw this.failure;
    }
  }
}
