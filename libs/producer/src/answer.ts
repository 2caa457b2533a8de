import { Problem } from '@fanout/contracts';
import { FieldError, ProducerConflictError, ProducerError, ProducerQuotaError, ValidationError } from './errors';

/** What the publisher stored for one event. */
export interface StoredResult {
  eventId: string;
  seq: number;
  /** True when this eventId was already stored for the subject: `seq` is the original one. */
  duplicate: boolean;
}

/** What a batch's answer means for one of its events. */
export type EventOutcome =
  | { kind: 'stored'; result: StoredResult }
  | { kind: 'rejected'; error: ProducerError }
  /** Not stored, through no fault of its own (another event of its subject was refused, a 400 for another event): send again. */
  | { kind: 'resend' };

/** The answer as a whole: per-event outcomes, or the whole request to be sent again. */
export type BatchOutcome = { kind: 'events'; outcomes: EventOutcome[] } | { kind: 'retry'; reason: string };

export interface SentEvent {
  eventId: string;
  /** `kind id`, for messages. */
  subject: string;
}

/** Statuses sent again as they are (same body, same eventIds: always safe). */
const RETRIED_STATUSES = new Set([502, 503, 504]);

const TRANSITION = /^illegal transition: current (\S+), requested (\S+)/;
const NOT_STORED = /^not stored:/;

/** `409 Conflict: the detail`, then each validation error on its own line (as `fanout emit` prints them). */
export function describeProblem(status: number, problem: Problem | undefined, text: string): string {
  if (!problem) return `${status}: ${text.slice(0, 500) || '(empty answer)'}`;
  const lines = [`${status} ${problem.title}: ${problem.detail}`];
  for (const error of problem.errors ?? []) lines.push(`  ${error.path || '(body)'}: ${error.message}`);
  return lines.join('\n');
}

function parseProblem(text: string): Problem | undefined {
  try {
    const json: unknown = text ? JSON.parse(text) : undefined;
    return json && typeof json === 'object' && 'title' in json && 'status' in json ? (json as Problem) : undefined;
  } catch {
    return undefined;
  }
}

type PerEvent = { eventId: string; seq?: number; duplicate?: boolean; error?: string };

/**
 * Reads the publisher's answer to a batch of `events` (sent as one event when it holds one, else as
 * `{"events": [...]}`). Pure: the producer does the I/O and acts on the outcome.
 */
export function readAnswer(status: number, text: string, events: readonly SentEvent[], retryAfter?: string | null): BatchOutcome {
  if (RETRIED_STATUSES.has(status)) return { kind: 'retry', reason: describeProblem(status, parseProblem(text), text) };
  if (status === 202) {
    const results = (parseProblem(text) ?? safeJson(text)) as { results?: PerEvent[] } | undefined;
    if (!Array.isArray(results?.results) || results.results.length !== events.length) {
      const error = new ProducerError(`202 without one result per event: ${text.slice(0, 200)}`, 202, undefined);
      return { kind: 'events', outcomes: events.map(() => ({ kind: 'rejected', error })) };
    }
    return { kind: 'events', outcomes: results.results.map((r) => ({ kind: 'stored', result: { eventId: r.eventId, seq: r.seq ?? 0, duplicate: r.duplicate ?? false } })) };
  }
  const problem = parseProblem(text);
  const message = describeProblem(status, problem, text);
  const results = problem?.['results'];
  if ((status === 409 || status === 429) && Array.isArray(results) && results.length === events.length) {
    const retryAfterSeconds = retryAfter ? Number(retryAfter) : undefined;
    return {
      kind: 'events',
      outcomes: (results as PerEvent[]).map((r, i): EventOutcome => {
        if (typeof r.seq === 'number') return { kind: 'stored', result: { eventId: r.eventId, seq: r.seq, duplicate: r.duplicate ?? false } };
        const reason = String(r.error ?? 'refused');
        const title = problem?.title ?? (status === 409 ? 'Conflict' : 'Too Many Requests');
        const own = `${status} ${title}: ${events[i]!.subject}: ${reason}`;
        const transition = TRANSITION.exec(reason);
        if (transition) return { kind: 'rejected', error: new ProducerConflictError(own, r.eventId, transition[1]!, transition[2]!, problem) };
        if (NOT_STORED.test(reason)) return { kind: 'resend' };
        if (status === 429) return { kind: 'rejected', error: new ProducerQuotaError(own, r.eventId, Number.isFinite(retryAfterSeconds) ? retryAfterSeconds : undefined, problem) };
        return { kind: 'rejected', error: new ProducerError(own, status, r.eventId, problem) };
      }),
    };
  }
  if (status === 400) return { kind: 'events', outcomes: validationOutcomes(message, problem, events) };
  return { kind: 'events', outcomes: events.map((e) => ({ kind: 'rejected', error: new ProducerError(message, status, e.eventId, problem) })) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A 400 stores nothing. In a batch its errors' paths start `events.N.`: those events are refused with
 * their own errors and the others sent again. Errors that name no event refuse the whole batch.
 */
function validationOutcomes(message: string, problem: Problem | undefined, events: readonly SentEvent[]): EventOutcome[] {
  const errors = problem?.errors ?? [];
  if (events.length === 1) return [{ kind: 'rejected', error: new ValidationError(message, events[0]!.eventId, errors, problem) }];
  const perEvent = new Map<number, FieldError[]>();
  for (const error of errors) {
    const match = /^events\.(\d+)(?:\.|$)(.*)$/.exec(error.path);
    const index = match ? Number(match[1]) : -1;
    if (!match || index >= events.length) {
      return events.map((e) => ({ kind: 'rejected', error: new ValidationError(message, e.eventId, errors, problem) }));
    }
    perEvent.set(index, [...(perEvent.get(index) ?? []), { path: match[2]!, message: error.message }]);
  }
  if (perEvent.size === 0) return events.map((e) => ({ kind: 'rejected', error: new ValidationError(message, e.eventId, errors, problem) }));
  return events.map((e, i): EventOutcome => {
    const own = perEvent.get(i);
    if (!own) return { kind: 'resend' };
    const lines = [`400 ${problem?.title ?? 'Bad Request'}: ${e.subject}: the event is invalid`, ...own.map((f) => `  ${f.path || '(event)'}: ${f.message}`)];
    return { kind: 'rejected', error: new ValidationError(lines.join('\n'), e.eventId, own, problem) };
  });
}
