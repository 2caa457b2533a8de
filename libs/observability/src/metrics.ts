import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Registry } from 'prom-client';

/** Stream kinds as metric labels: the three subject kinds plus the multi-subject and activity streams. */
export type StreamKindLabel = 'job' | 'pack-run' | 'run' | 'multi' | 'subjects';
export type DisconnectReason =
  | 'client_closed'
  | 'completed'
  | 'idle_timeout'
  | 'slow_consumer'
  | 'shutdown'
  | 'token_expired'
  /** An admin revoked the stream's token, subject or tenant. */
  | 'revoked'
  /** History could not be read (the store failed mid-replay): the client resumes. */
  | 'store_error';
export type PublishResult = 'accepted' | 'duplicate' | 'rejected';

const STREAM_KINDS: readonly StreamKindLabel[] = ['job', 'pack-run', 'run', 'multi', 'subjects'];
const DISCONNECT_REASONS: readonly DisconnectReason[] = ['client_closed', 'completed', 'idle_timeout', 'slow_consumer', 'shutdown', 'token_expired', 'revoked', 'store_error'];
const PUBLISH_RESULTS: readonly PublishResult[] = ['accepted', 'duplicate', 'rejected'];

/** A series for every documented label value from the start, so a scrape shows 0 rather than nothing. */
function withZeroes<M extends Counter<L> | Gauge<L>, L extends string>(metric: M, label: L, values: readonly string[]): M {
  for (const value of values) metric.labels({ [label]: value } as Record<L, string>).inc(0);
  return metric;
}

/**
 * The event-loop delay histogram's sampling timer. prom-client's default, 10 ms, wakes an idle
 * process 100 times a second: 0.8 % of a core per process on the benchmark machine (a replica of
 * 6 workers spent 6 % of a core on it alone). A block of 100 ms or more still always shows.
 */
const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

export function createRegistry(): Registry {
  const registry = new Registry();
  // Node's default metrics under their standard names (process_cpu_seconds_total,
  // nodejs_heap_size_used_bytes, …), so the usual Node.js dashboards work; fanout's own carry fanout_.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS });
  return registry;
}

export interface GatewayMetrics {
  connections: Gauge<'kind'>;
  /**
   * Counts delivered events (and those among them replayed). Called per client per write, so it
   * only adds to plain numbers; the counters take them when scraped.
   */
  countDelivered(kind: StreamKindLabel, count: number, replayed: boolean): void;
  heartbeats: Counter;
  disconnects: Counter<'reason'>;
  subscriptions: Gauge;
  answerBytes: Gauge;
  deliveryLag: Histogram;
  busReconnects: Counter;
  /** Progress events a `?conflate=progress` stream skipped, superseded by a later one while its client was behind. */
  conflated: Counter;
  /** History and log requests answered 503 because the process held its answer budget. */
  answersRefused: Counter;
}

/** What the gateway's gauges read when scraped. */
export interface GatewayGaugeReadings {
  subscriptionCount(): number;
  answerBytes(): number;
}

export function createGatewayMetrics(registry: Registry, readings: GatewayGaugeReadings): GatewayMetrics {
  const registers = [registry];
  const delivered: Record<StreamKindLabel, number> = { job: 0, 'pack-run': 0, run: 0, multi: 0, subjects: 0 };
  let replayed = 0;
  const deliveredTotal = new Counter({
    name: 'fanout_gateway_events_delivered_total',
    help: 'Domain events written to clients, live and replayed',
    labelNames: ['kind'],
    registers,
    collect() {
      for (const kind of Object.keys(delivered) as StreamKindLabel[]) {
        if (delivered[kind] > 0) this.inc({ kind }, delivered[kind]);
        delivered[kind] = 0;
      }
    },
  });
  withZeroes(deliveredTotal, 'kind', STREAM_KINDS);
  new Counter({
    name: 'fanout_gateway_replayed_events_total',
    help: 'Domain events written from history',
    registers,
    collect() {
      this.inc(replayed);
      replayed = 0;
    },
  });
  return {
    connections: withZeroes(new Gauge({ name: 'fanout_gateway_connections', help: 'Open SSE streams', labelNames: ['kind'], registers }), 'kind', STREAM_KINDS),
    countDelivered(kind, count, fromHistory) {
      delivered[kind] += count;
      if (fromHistory) replayed += count;
    },
    heartbeats: new Counter({ name: 'fanout_gateway_heartbeats_total', help: 'Heartbeat frames written', registers }),
    disconnects: withZeroes(
      new Counter({ name: 'fanout_gateway_disconnects_total', help: 'Streams ended, by reason', labelNames: ['reason'], registers }),
      'reason',
      DISCONNECT_REASONS,
    ),
    answerBytes: new Gauge({
      name: 'fanout_gateway_answer_bytes',
      help: 'Bytes of history and log answers this process is reading or holds for clients that have not taken them (at most FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT)',
      registers,
      collect() {
        this.set(readings.answerBytes());
      },
    }),
    subscriptions: new Gauge({
      name: 'fanout_gateway_subscriptions',
      help: 'Bus subscriptions held by this replica for its clients',
      registers,
      collect() {
        this.set(readings.subscriptionCount());
      },
    }),
    deliveryLag: new Histogram({
      name: 'fanout_delivery_lag_seconds',
      help: 'From publishedAt to the write to a client (sampled per live batch)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    busReconnects: new Counter({
      name: 'fanout_gateway_bus_recoveries_total',
      help: 'Times the subscription path came back after a loss and every subject was caught up',
      registers,
    }),
    conflated: new Counter({
      name: 'fanout_gateway_conflated_events_total',
      help: 'Progress events skipped by ?conflate=progress streams, superseded by a later one while their client was behind',
      registers,
    }),
    answersRefused: new Counter({
      name: 'fanout_gateway_answers_refused_total',
      help: 'History and log requests answered 503 because this process held FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT',
      registers,
    }),
  };
}

export interface PublisherMetrics {
  events: Counter<'result'>;
  /** Requests answered 503 because the store failed or did not answer in time (nothing stored). */
  storeUnavailable: Counter;
}

export function createPublisherMetrics(registry: Registry): PublisherMetrics {
  return {
    events: withZeroes(
      new Counter({ name: 'fanout_publisher_events_total', help: 'Events received by the publisher, by result', labelNames: ['result'], registers: [registry] }),
      'result',
      PUBLISH_RESULTS,
    ),
    storeUnavailable: new Counter({
      name: 'fanout_publisher_store_unavailable_total',
      help: 'Requests answered 503 because the store failed or did not answer in time (nothing stored; the producer retries)',
      registers: [registry],
    }),
  };
}

export type ArchiveResult = 'archived' | 'failed';
const ARCHIVE_RESULTS: readonly ArchiveResult[] = ['archived', 'failed'];

export interface ArchiveMetrics {
  subjects: Counter<'result'>;
}

/** The archiver's metrics; `pendingCount` is read at each scrape (the store's pending set, shared by every publisher). */
export function createArchiveMetrics(registry: Registry, pendingCount: () => Promise<number>): ArchiveMetrics {
  new Gauge({
    name: 'fanout_archive_pending',
    help: 'Finished subjects waiting to be archived (in the store, over all publishers)',
    registers: [registry],
    // Every worker of a replica reads the same set: their sum would count it once per worker.
    aggregator: 'max',
    async collect() {
      this.set(await pendingCount().catch(() => Number.NaN));
    },
  });
  return {
    subjects: withZeroes(
      new Counter({ name: 'fanout_archive_subjects_total', help: 'Subjects written to the archive by this process, and attempts that failed (retried)', labelNames: ['result'], registers: [registry] }),
      'result',
      ARCHIVE_RESULTS,
    ),
  };
}
