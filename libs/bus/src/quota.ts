import { PublishedEvent } from '@fanout/contracts';
import { AppendOutcome } from './bus';

/**
 * When a tenant refused for its quota may retry: once its soonest subject expires, or, when all of
 * its subjects are still running, after one history TTL (the soonest a subject ending now frees).
 */
export function quotaRetryAfterSeconds(msUntilASubjectExpires: number | undefined, historyTtlSeconds: number): number {
  if (msUntilASubjectExpires === undefined) return historyTtlSeconds;
  return Math.max(1, Math.ceil(msUntilASubjectExpires / 1000));
}

/** Every event of a new subject refused: its tenant already holds `maxSubjects`. */
export function quotaRefusals(events: readonly PublishedEvent[], maxSubjects: number, retryAfterSeconds: number): AppendOutcome[] {
  const reason = `the tenant holds its maximum of ${maxSubjects} subjects; a new subject is accepted once one of them has ended and its history expired`;
  return events.map((event) => ({ eventId: event.eventId, error: { code: 'quota', current: '', requested: '', reason, retryAfterSeconds } }));
}
