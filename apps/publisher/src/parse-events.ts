import { z } from 'zod';
import { EVENT_TYPE_NAMES, EventEnvelopeSchema, MAX_BATCH_EVENTS, MAX_EVENT_BYTES, PublishBatchSchema, PublishedEvent, PublishedEventSchema } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

type ValidationError = { path: string; message: string };

export interface ParsedBody {
  events: PublishedEvent[];
  /** Whether the body was `{"events": [...]}` (paths in errors then start with `events.N`). */
  batch: boolean;
}

/**
 * Validates a whole request before anything is stored: sizes first (413), then every event's
 * schema (400, every error listed with its path). An event that names no tenant gets `tenant`, when
 * given (the token's).
 */
export function parseEventsBody(body: unknown, tenant: string | undefined): ParsedBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpProblem(400, 'the body must be one event or {"events": [...]}', {
      errors: [{ path: '', message: 'expected an object' }],
    });
  }
  const batch = 'events' in body;
  const raw = (batch ? batchItems(body) : [body]).map((event) => withTenant(event, tenant));

  raw.forEach((event, index) => {
    const bytes = Buffer.byteLength(JSON.stringify(event) ?? '', 'utf8');
    if (bytes > MAX_EVENT_BYTES) {
      const where = batch ? `event ${index}` : 'the event';
      throw new HttpProblem(413, `${where} is ${bytes} bytes of JSON, over the limit of ${MAX_EVENT_BYTES}`);
    }
  });

  const errors: ValidationError[] = [];
  const events: PublishedEvent[] = [];
  raw.forEach((event, index) => {
    const parsed = PublishedEventSchema.safeParse(event, { reportInput: true });
    if (parsed.success) events.push(parsed.data);
    else errors.push(...eventErrors(event, parsed.error.issues, batch ? ['events', index] : []));
  });
  if (errors.length > 0) throw validationProblem(errors);
  return { events, batch };
}

/**
 * Every error of an event, each at the path of the field it is about. An event whose `type` names
 * no event type has no `data` schema to be judged by, but its other fields are still judged.
 */
function eventErrors(event: unknown, issues: readonly z.core.$ZodIssue[], prefix: readonly (string | number)[]): ValidationError[] {
  const isObject = typeof event === 'object' && event !== null && !Array.isArray(event);
  const all = !isObject || (EVENT_TYPE_NAMES as readonly unknown[]).includes((event as { type?: unknown }).type)
    ? issues
    : [...issues, ...(EventEnvelopeSchema.safeParse(event, { reportInput: true }).error?.issues.filter((issue) => issue.path[0] !== 'type') ?? [])];
  return all.flatMap((issue) => issueErrors(issue, prefix));
}

function issueErrors(issue: z.core.$ZodIssue, prefix: readonly (string | number)[]): ValidationError[] {
  const at = (...path: PropertyKey[]) => [...prefix, ...path].map(String).join('.');
  // One error per unknown field, at its own path (zod reports them together, at their object's).
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: at(...issue.path, key), message: `unknown field "${key}"` }));
  const required = requiredMessage(issue);
  return [{ path: at(...issue.path), message: required ?? issue.message }];
}

/** `required (…)` for an issue about a field that is missing, saying what it takes; undefined for any other issue. */
function requiredMessage(issue: z.core.$ZodIssue): string | undefined {
  const oneOf = (values: readonly unknown[]) => `one of ${values.map((v) => JSON.stringify(v)).join('|')}`;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `required (${issue.expected})` : undefined;
    case 'invalid_value':
      return issue.input === undefined ? `required (${oneOf(issue.values)})` : undefined;
    case 'invalid_union': {
      // A discriminated union reports its object as the input, and the discriminator as the path.
      const { discriminator, options } = issue as { discriminator?: string; options?: readonly unknown[] };
      if (discriminator === undefined || options === undefined || typeof issue.input !== 'object' || issue.input === null) return undefined;
      return (issue.input as Record<string, unknown>)[discriminator] === undefined ? `required (${oneOf(options)})` : undefined;
    }
    default:
      return undefined;
  }
}

/** The events of `{"events": [...]}`: an array of 1 to 500, and no other field. */
function batchItems(body: object): unknown[] {
  const events = (body as { events: unknown }).events;
  if (!Array.isArray(events)) {
    throw new HttpProblem(400, '"events" must be an array', { errors: [{ path: 'events', message: 'expected an array' }] });
  }
  if (events.length === 0 || events.length > MAX_BATCH_EVENTS) {
    throw new HttpProblem(400, `a batch holds 1 to ${MAX_BATCH_EVENTS} events, not ${events.length}`, {
      errors: [{ path: 'events', message: `must hold 1 to ${MAX_BATCH_EVENTS} events` }],
    });
  }
  const parsed = PublishBatchSchema.safeParse(body);
  if (!parsed.success) throw validationProblem(parsed.error.issues.flatMap((issue) => issueErrors(issue, [])));
  return parsed.data.events;
}

function withTenant(event: unknown, tenant: string | undefined): unknown {
  if (tenant === undefined || typeof event !== 'object' || event === null || 'tenant' in event) return event;
  return { ...event, tenant };
}

/**
 * The most errors one answer lists: a 4 MiB batch of events full of unknown fields would otherwise
 * answer hundreds of thousands of them, an answer several times the request.
 */
export const MAX_LISTED_ERRORS = 1000;

function validationProblem(errors: ValidationError[]): HttpProblem {
  const listed = errors.length > MAX_LISTED_ERRORS ? `; the first ${MAX_LISTED_ERRORS} are listed` : '';
  return new HttpProblem(400, `${errors.length} validation error(s)${listed}; nothing was stored`, { errors: errors.slice(0, MAX_LISTED_ERRORS) });
}
