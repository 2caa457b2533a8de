import { BusLogger } from './logger';

export interface HistoryOptions {
  /** Events kept per subject for replay (at least this many). */
  historyMaxLen: number;
  /** Seconds a subject's history lives after its terminal event. */
  historyTtlSeconds: number;
}

export interface BusOptions extends HistoryOptions {
  logger?: BusLogger;
}
