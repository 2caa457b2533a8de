import { Producer, ProducerEvent, createProducer } from '@fanout/producer';
import { Endpoint } from '../client/endpoint';
import { OutgoingEvent } from '../client/publish';

const DEFAULT_FLUSH_AFTER_MS = 50;
const DEFAULT_MAX_BATCH = 200;
const DEFAULT_SINK_RETRY_FOR_MS = 30_000;

export interface EventSinkOptions {
  endpoint: Endpoint;
  /** Publish what is queued this long after the first queued event (the producer's linger). @default {@link DEFAULT_FLUSH_AFTER_MS} */
  flushAfterMs?: number;
  /** The most events per request. @default {@link DEFAULT_MAX_BATCH} */
  maxBatch?: number;
  /** Keep retrying a 503 or a failed connection for this long (same eventIds: safe). @default {@link DEFAULT_SINK_RETRY_FOR_MS} */
  retryForMs?: number;
  onRetry?: (reason: string) => void;
}

/**
 * A pack run's events, published through @fanout/producer (one subject: its events are stored in the
 * order they were pushed, batched by the producer's linger). `push` does not wait; the run pauses its
 * steps' output on `pending` instead. Once a publish fails for good, later pushes are dropped and every
 * later flush rejects.
 */
export class EventSink {
  private readonly producer: Producer;
  private unacknowledged = 0;
  private failure: Error | undefined;
  private readonly failureListeners: ((error: Error) => void)[] = [];

  constructor(options: EventSinkOptions) {
    const { endpoint } = options;
    this.producer = createProducer({
      url: endpoint.url,
      token: endpoint.token,
      tenant: endpoint.tenant,
      maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH,
      lingerMs: options.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS,
      retry: { maxElapsedMs: options.retryForMs ?? DEFAULT_SINK_RETRY_FOR_MS },
      onRetry: options.onRetry && ((reason) => options.onRetry!(reason)),
    });
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
    this.unacknowledged += 1;
    this.producer.publish(event as unknown as ProducerEvent).then(
      () => {
        this.unacknowledged -= 1;
      },
      (error: unknown) => {
        this.unacknowledged -= 1;
        this.fail(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  /** Sends everything queued; resolves once all of it (and everything before) is stored. */
  async flush(): Promise<void> {
    await this.producer.flush();
    if (this.failure) throw this.failure;
  }

  /** Flushes, then refuses further events. */
  async close(): Promise<void> {
    await this.producer.close();
    if (this.failure) throw this.failure;
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const listener of this.failureListeners) listener(error);
  }
}
