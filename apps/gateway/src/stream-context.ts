import { GatewayMetrics, Logger } from '@fanout/observability';
import { SweepScheduler } from '@fanout/sse';
import type { CompressionMode } from './stream-compression';
import type { FeedServices } from './subject-feed';
import type { UnsentBudget } from './unsent-budget';

/** The stream settings fanout runs with unless they are configured. */
export const DEFAULT_RETRY_MS = 2000;
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_CLIENT_BUFFER_BYTES = 1024 * 1024;
export const DEFAULT_REPLAY_PAGE_SIZE = 500;
export const DEFAULT_HISTORY_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * No `retry:` jitter unless configured: the contract's first frame is exactly `retry: <FANOUT_RETRY_MS>`.
 * Deployments turn it on (the Helm chart does) to spread reconnects.
 */
export const DEFAULT_RETRY_JITTER_MS = 0;

/** The conflation threshold when none is configured: half the client buffer limit. */
export function defaultConflateThresholdBytes(clientBufferBytes: number): number {
  return Math.floor(clientBufferBytes / 2);
}

/** This connection's `retry:` hint: uniform in retryMs ± jitterMs, so clients of one replica do not come back in the same instant. */
export function jitteredRetryMs(settings: Pick<StreamSettings, 'retryMs' | 'retryJitterMs'>, random: () => number = Math.random): number {
  return Math.max(0, settings.retryMs + Math.round((random() * 2 - 1) * settings.retryJitterMs));
}

export interface StreamSettings {
  /** The SSE `retry:` hint sent first on every stream. @default {@link DEFAULT_RETRY_MS} */
  retryMs: number;
  /** Each connection's `retry:` is uniform in retryMs ± this. @default {@link DEFAULT_RETRY_JITTER_MS} */
  retryJitterMs: number;
  /** A `heartbeat` is sent after this long with nothing written. @default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs: number;
  /** A stream ends after this long with no domain event. @default {@link DEFAULT_IDLE_TIMEOUT_MS} */
  idleTimeoutMs: number;
  /** A client whose unsent bytes exceed this is disconnected. @default {@link DEFAULT_CLIENT_BUFFER_BYTES} */
  clientBufferBytes: number;
  /** With `?conflate=progress`, unsent bytes from which progress events are held back and conflated (below clientBufferBytes). @default {@link defaultConflateThresholdBytes} */
  conflateThresholdBytes: number;
  /** Events read from history per page during replay. @default {@link DEFAULT_REPLAY_PAGE_SIZE} */
  replayPageSize: number;
  /** Bytes of full history pages kept for replays of many clients. @default {@link DEFAULT_HISTORY_CACHE_BYTES} */
  historyCacheBytes: number;
  /** Whether streams answer `Content-Encoding: gzip` to clients that ask. @default {@link DEFAULT_COMPRESSION} */
  compression: CompressionMode;
}

/** What a stream session uses of its replica: the sweep, its metrics, its settings and the log. */
export interface SessionServices {
  scheduler: Pick<SweepScheduler, 'add' | 'delete'>;
  metrics: Pick<GatewayMetrics, 'connections' | 'disconnects' | 'heartbeats' | 'countDelivered' | 'conflated'>;
  settings: Pick<StreamSettings, 'retryMs' | 'retryJitterMs' | 'heartbeatMs' | 'idleTimeoutMs' | 'clientBufferBytes' | 'conflateThresholdBytes' | 'compression'>;
  /** Unsent bytes over all the process's streams. */
  unsentBudget: Pick<UnsentBudget, 'report' | 'forget'>;
  logger: Logger;
}

/** What a session is handed: its own services and those of the feeds it makes. */
export type StreamServices = SessionServices & FeedServices;
