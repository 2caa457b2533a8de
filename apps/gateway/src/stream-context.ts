import { Bus } from '@fanout/bus';
import { GatewayMetrics, Logger } from '@fanout/observability';
import { SweepScheduler } from '@fanout/sse';
import { HistoryPages } from './history-pages';
import { SubscriptionManager } from './subscription-manager';

export interface StreamSettings {
  retryMs: number;
  heartbeatMs: number;
  idleTimeoutMs: number;
  clientBufferBytes: number;
  /** Events read from history per page during replay. */
  replayPageSize: number;
  /** Bytes of full history pages kept for replays of many clients. */
  historyCacheBytes: number;
}

/** What every open stream of a replica shares. */
export interface StreamContext {
  bus: Bus;
  history: HistoryPages;
  subscriptions: SubscriptionManager;
  scheduler: SweepScheduler;
  metrics: GatewayMetrics;
  settings: StreamSettings;
  logger: Logger;
}
