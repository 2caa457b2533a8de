import { Bus } from '@fanout/bus';
import { GatewayMetrics, Logger } from '@fanout/observability';
import { SweepScheduler } from '@fanout/sse';
import { SubscriptionManager } from './subscription-manager';

export interface StreamSettings {
  retryMs: number;
  heartbeatMs: number;
  idleTimeoutMs: number;
  clientBufferBytes: number;
  /** Events read from history per page during replay. */
  replayPageSize: number;
}

/** What every open stream of a replica shares. */
export interface StreamContext {
  bus: Bus;
  subscriptions: SubscriptionManager;
  scheduler: SweepScheduler;
  metrics: GatewayMetrics;
  settings: StreamSettings;
  logger: Logger;
}
