import { PublishedEvent } from '@fanout/contracts';
import { AppendOutcome, AppendRefusal } from '@fanout/bus';
import { HttpProblem } from '@fanout/http';

/** One event's line of a publish answer: stored (or a duplicate), or refused with the reason. */
export type PublishResult = { eventId: string; seq: number; duplicate: boolean } | { eventId: string; error: string };

export function describeRefusal(error: AppendRefusal): string {
  return error.code === 'transition'
    ? `illegal transition: current ${error.current}, requested ${error.requested} (${error.reason})`
    : error.reason;
}

export function publishResults(outcomes: readonly AppendOutcome[]): PublishResult[] {
  return outcomes.map((o) => ('error' in o ? { eventId: o.eventId, error: describeRefusal(o.error) } : o));
}

/**
 * The problem a request with refused subjects is answered with, undefined when none was: 429 when
 * a new subject was over its tenant's quota (Retry-After: the latest any refused subject needs),
 * else 409 for a broken state machine. Either way `results` says per event what was stored.
 */
export function refusalProblem(events: readonly PublishedEvent[], outcomes: readonly AppendOutcome[]): HttpProblem | undefined {
  const overQuota = firstRefusal(events, outcomes, 'quota');
  if (overQuota) {
    const retryAfter = Math.max(...outcomes.map((o) => ('error' in o ? (o.error.retryAfterSeconds ?? 0) : 0)));
    return new HttpProblem(429, `${subjectOf(overQuota.event)}: ${overQuota.refusal.reason}`, { results: publishResults(outcomes) }, { 'Retry-After': String(retryAfter) });
  }
  const broken = firstRefusal(events, outcomes, 'transition');
  if (!broken) return undefined;
  const { current, requested } = broken.refusal;
  return new HttpProblem(409, `${subjectOf(broken.event)}: ${describeRefusal(broken.refusal)}`, { current, requested, results: publishResults(outcomes) });
}

function firstRefusal(events: readonly PublishedEvent[], outcomes: readonly AppendOutcome[], code: AppendRefusal['code']): { event: PublishedEvent; refusal: AppendRefusal } | undefined {
  for (const [i, outcome] of outcomes.entries()) {
    if ('error' in outcome && outcome.error.code === code) return { event: events[i]!, refusal: outcome.error };
  }
  return undefined;
}

function subjectOf(event: PublishedEvent): string {
  return `${event.subject.kind} ${event.subject.id}`;
}
