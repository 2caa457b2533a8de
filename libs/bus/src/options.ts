import { BusLogger } from './logger';

export const DEFAULT_HISTORY_MAX_LEN = 10_000;
export const DEFAULT_HISTORY_TTL_SECONDS = 86_400;
/** Seven days. */
export const DEFAULT_SUBJECT_IDLE_TTL_SECONDS = 604_800;
/** No limit. */
export const DEFAULT_TENANT_MAX_SUBJECTS = 0;

/** The longest an unfinished subject's history lives after its last append: its idle TTL and a tenth more (append-events.lua's idleSpanMs). */
export function idleSpanMs(idleTtlSeconds: number): number {
  const idleMs = idleTtlSeconds * 1000;
  return idleMs + Math.floor(idleMs / 10);
}

export interface HistoryOptions {
  /** Events kept per subject for replay (at least this many). @default {@link DEFAULT_HISTORY_MAX_LEN} */
  historyMaxLen: number;
  /** Seconds a subject's history lives after its terminal event. @default {@link DEFAULT_HISTORY_TTL_SECONDS} */
  historyTtlSeconds: number;
  /**
   * Seconds an unfinished subject's history lives after its last append (up to a tenth more); 0: until
   * its terminal event. @default {@link DEFAULT_SUBJECT_IDLE_TTL_SECONDS}
   */
  subjectIdleTtlSeconds?: number;
}

export interface QuotaOptions {
  /** Subjects one tenant may hold in the store; a new one past it is refused. 0: no limit. @default {@link DEFAULT_TENANT_MAX_SUBJECTS} */
  tenantMaxSubjects?: number;
}

export interface BusOptions extends HistoryOptions, QuotaOptions {
  /** @default silentLogger (nothing is logged) */
  logger?: BusLogger;
}
