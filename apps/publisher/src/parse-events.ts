import { MAX_BATCH_EVENTS, MAX_EVENT_BYTES, PublishedEvent, PublishedEventSchema } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

export interface ParsedBody {
  events: PublishedEvent[];
  /** Whether the body was `{"events": [...]}` (paths in errors then start with `events.N`). */
  batch: boolean;
}

/**
 * Validates a whole request before anything is stored: sizes first (413), then every event's
 * schema (400, every error listed with its path).
 */
export function parseEventsBody(body: unknown): ParsedBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpProblem(400, 'the body must be one event or {"events": [...]}', {
      errors: [{ path: '', message: 'expected an object' }],
    });
  }
  const batch = 'events' in body;
  const raw: unknown[] = batch ? batchItems((body as { events: unknown }).events) : [body];

  raw.forEach((event, index) => {
    const bytes = Buffer.byteLength(JSON.stringify(event) ?? '', 'utf8');
    if (bytes > MAX_EVENT_BYTES) {
      const where = batch ? `event ${index}` : 'the event';
      throw new HttpProblem(413, `${where} is ${bytes} bytes of JSON, over the limit of ${MAX_EVENT_BYTES}`);
    }
  });

  const errors: { path: string; message: string }[] = [];
  const events: PublishedEvent[] = [];
  raw.forEach((event, index) => {
    const parsed = PublishedEventSchema.safeParse(event);
    if (parsed.success) events.push(parsed.data);
    else {
      for (const issue of parsed.error.issues) {
        const path = [...(batch ? ['events', index] : []), ...issue.path].join('.');
        errors.push({ path, message: issue.message });
      }
    }
  });
  if (errors.length > 0) {
    throw new HttpProblem(400, `${errors.length} validation error(s); nothing was stored`, { errors });
  }
  return { events, batch };
}

function batchItems(events: unknown): unknown[] {
  if (!Array.isArray(events)) {
    throw new HttpProblem(400, '"events" must be an array', { errors: [{ path: 'events', message: 'expected an array' }] });
  }
  if (events.length === 0 || events.length > MAX_BATCH_EVENTS) {
    throw new HttpProblem(400, `a batch holds 1 to ${MAX_BATCH_EVENTS} events, not ${events.length}`, {
      errors: [{ path: 'events', message: `must hold 1 to ${MAX_BATCH_EVENTS} events` }],
    });
  }
  return events;
}
