import { PublishedEvent } from '@fanout/contracts';
import { AppendOutcome } from './bus';

/*
 * The refusals of an append, with their texts; a broken state machine's texts are @fanout/contracts'
 * `refusalReason`. Both buses answer through these, so they refuse in the same words.
 */

export function transitionRefused(eventId: string, refusal: { current: string; requested: string; reason: string }): AppendOutcome {
  const { current, requested, reason } = refusal;
  return { eventId, error: { code: 'transition', current, requested, reason } };
}

const NOT_STORED = { code: 'not_stored', current: '', requested: '', reason: 'not stored: another event of this subject was refused' } as const;

/**
 * A subject's events are stored all or none: once one is refused, every event the append would have
 * stored is not, nor is a duplicate of one of them within the call (a seq past `storedUpTo`, the
 * subject's last seq before the append).
 */
export function withholdAfterRefusal(outcomes: AppendOutcome[], storedUpTo: number): AppendOutcome[] {
  if (!outcomes.some((o) => 'error' in o)) return outcomes;
  return outcomes.map((o) => ('seq' in o && (!o.duplicate || o.seq > storedUpTo) ? { eventId: o.eventId, error: NOT_STORED } : o));
}

/** Every event of a new subject refused: its tenant already holds `maxSubjects`. */
export function quotaRefusals(events: readonly PublishedEvent[], maxSubjects: number, retryAfterSeconds: number): AppendOutcome[] {
  const reason = `the tenant holds its maximum of ${maxSubjects} subjects; a new subject is accepted once one of them has ended and its history expired`;
  return events.map((event) => ({ eventId: event.eventId, error: { code: 'quota', current: '', requested: '', reason, retryAfterSeconds } }));
}
