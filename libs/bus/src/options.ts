import { BusLogger } from './logger';

export interface HistoryOptions {
  /** Events kept per subject for replay (at least this many). */
  historyMaxLen: number;
  /** Seconds a subject's history lives after its terminal event. */
  historyTtlSeconds: number;
}

export interface QuotaOptions {
  /** Subjects one tenant may hold in the store; a new one past it is refused. 0 or unset: no limit. */
  tenantMaxSubjects?: number;
}

export interface BusOptions extends HistoryOptions, QuotaOptions {
  logger?: BusLogger;
}
