import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { EVENT_TYPES, EventType, MAX_BATCH_EVENTS } from '@fanout/contracts';
import { ProducerError, ProducerEvent, ProducerUnavailableError, StoredResult, ValidationError, checkEvent, createProducer } from '@fanout/producer';
import { UsageError, resolveEndpoint } from '../client/endpoint';
import { completeEvent } from '../client/publish';
import { styleFor } from '../client/terminal';

export const EMIT_USAGE = `usage: fanout emit <type> <id> [key=value …] [options]
       fanout emit --file <events.json | -> [options]
       … | fanout emit [options]            (events on stdin)

Publishes events through the publisher API and prints each one's seq.

  <type> <id> key=value   one event from the command line: the subject kind follows from the
                          type; each key=value sets one data field (a value that is JSON, e.g.
                          2 or true, is parsed; anything else is a string)
  --data <json>           the event's data as a JSON object (merged under key=value fields)
  --file <path | ->       events from a file (- is stdin): one event, an array, {"events": […]},
                          or one event per line (JSON lines)
  --event-id <id>         the event's idempotency key (default: a new UUID)
  --correlation-id <id>
  --occurred-at <iso>     (default: now)
  --url <url>             publisher URL (FANOUT_PUBLISHER_URL, FANOUT_URL; default http://127.0.0.1:8081)
  --token <jwt>           bearer token (FANOUT_TOKEN)
  --tenant <tenant>       the events' tenant when they name none (FANOUT_TENANT, the token's
                          tenant claim, else "default"); also sent as X-Tenant
  --json                  print the server's answers as JSON lines

eventId, occurredAt and tenant are filled in when an event leaves them out. Every event is checked
against the schema first (one invalid: nothing is sent). They are published through @fanout/producer:
in batches of up to ${MAX_BATCH_EVENTS}, each subject's in order, a 503 or a lost connection retried with the
same eventIds for 5 s; a refused event (409) does not hold back the other subjects' events. With --json,
one line per ${MAX_BATCH_EVENTS} events: {"status":202,"results":[…]}, or the first refusal's status and problem with
per-event results. Exit status: 0 when every event was stored (or was a duplicate), 1 when any was
refused or could not be published (the problem detail is printed), 2 on a usage error.`;

type Json = Record<string, unknown>;

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseJsonObject(what: string, text: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what}: not JSON: ${(error as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${what}: must be a JSON object`);
  return value as Json;
}

/** One event, an array, `{"events": […]}`, or JSON lines. */
export function parseEventsText(text: string, source: string): Json[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new UsageError(`${source}: no events`);
  let whole: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch {
    return trimmed
      .split('\n')
      .map((line, i) => [line.trim(), i + 1] as const)
      .filter(([line]) => line !== '')
      .map(([line, n]) => parseJsonObject(`${source} line ${n}`, line));
  }
  const list = Array.isArray(whole) ? whole : whole && typeof whole === 'object' && Array.isArray((whole as Json)['events']) ? ((whole as Json)['events'] as unknown[]) : [whole];
  return list.map((item, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new UsageError(`${source}: event ${i} is not a JSON object`);
    return item as Json;
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function eventFromArgs(positionals: string[], values: { data?: string; 'event-id'?: string; 'correlation-id'?: string; 'occurred-at'?: string }): Json {
  const [type, id, ...fields] = positionals;
  if (!type || !id) throw new UsageError('an event from the command line needs <type> and <id>');
  if (!Object.prototype.hasOwnProperty.call(EVENT_TYPES, type)) {
    throw new UsageError(`unknown event type ${JSON.stringify(type)}: one of ${Object.keys(EVENT_TYPES).join(', ')}`);
  }
  const data: Json = values.data ? parseJsonObject('--data', values.data) : {};
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got ${JSON.stringify(field)}`);
    data[field.slice(0, eq)] = parseValue(field.slice(eq + 1));
  }
  const event: Json = { subject: { kind: EVENT_TYPES[type as EventType].kind, id }, type, data };
  if (values['event-id']) event['eventId'] = values['event-id'];
  if (values['correlation-id']) event['correlationId'] = values['correlation-id'];
  if (values['occurred-at']) event['occurredAt'] = values['occurred-at'];
  return event;
}

function subjectLabel(event: Json): string {
  const subject = event['subject'] as { kind?: string; id?: string } | undefined;
  return `${subject?.kind ?? '?'}:${subject?.id ?? '?'}`;
}

export async function emitCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      data: { type: 'string', short: 'd' },
      'event-id': { type: 'string' },
      'correlation-id': { type: 'string' },
      'occurred-at': { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      tenant: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(EMIT_USAGE);
    return 0;
  }
  const endpoint = resolveEndpoint('publisher', values, process.env);
  let raw: Json[];
  if (positionals.length > 0) {
    if (values.file) throw new UsageError('give either <type> <id> or --file, not both');
    raw = [eventFromArgs(positionals, values)];
  } else if (values.file) {
    const text = values.file === '-' ? await readStdin() : await readFile(values.file, 'utf8').catch((error: Error) => {
      throw new UsageError(`--file: ${error.message}`);
    });
    raw = parseEventsText(text, values.file === '-' ? 'stdin' : values.file);
  } else if (!process.stdin.isTTY) {
    raw = parseEventsText(await readStdin(), 'stdin');
  } else {
    throw new UsageError('no events: give <type> <id> [key=value …], --file, or events on stdin');
  }

  const events = raw.map((event) => completeEvent(event, endpoint.tenant));
  const style = styleFor(process.stdout);
  const print = (event: Json, outcome: PromiseSettledResult<StoredResult>) => {
    if (values.json) return;
    const label = `${subjectLabel(event)} ${String(event['type'])}`;
    // Refused by the publisher (409, 400, quota), or no answer it could give in time (may be stored: see the message).
    // An event given up on may be stored: its eventId is what publishing it again needs.
    if (outcome.status === 'rejected' && outcome.reason instanceof ProducerUnavailableError) console.log(`${style.red('failed')}  ${label}  eventId ${outcome.reason.eventId}  ${firstLine(outcome.reason)}`);
    else if (outcome.status === 'rejected') console.log(`${style.red('refused')}  ${label}  ${firstLine(outcome.reason)}`);
    else if (outcome.value.duplicate) console.log(`${style.yellow('duplicate')}  ${label}  seq ${outcome.value.seq} (already stored)`);
    else console.log(`${style.green('stored')}  ${label}  seq ${outcome.value.seq}`);
  };

  // The whole input is checked before anything is sent, as the publisher checks a whole batch.
  const invalid: { index: number; error: ValidationError }[] = [];
  events.forEach((event, index) => {
    try {
      checkEvent(event);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      invalid.push({ index, error });
    }
  });
  if (invalid.length > 0) {
    for (const { index, error } of invalid) {
      const where = events.length > 1 ? ` (event ${index})` : '';
      if (values.json) console.log(JSON.stringify({ status: 400, problem: { title: 'Bad Request', status: 400, detail: `event ${index} is invalid; nothing was sent`, errors: error.errors } }));
      console.error(`fanout emit${where}: ${error.message}`);
    }
    return 1;
  }

  const producer = createProducer({ url: endpoint.url, token: endpoint.token, tenant: endpoint.tenant, retry: { maxElapsedMs: 5_000 } });
  const outcomes = await Promise.allSettled(events.map((event) => producer.publish(event as unknown as ProducerEvent)));
  await producer.close();
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected' && !(outcome.reason instanceof ProducerError)) throw outcome.reason;
  }

  for (let start = 0; start < events.length; start += MAX_BATCH_EVENTS) {
    const chunk = outcomes.slice(start, start + MAX_BATCH_EVENTS);
    if (values.json) console.log(JSON.stringify(jsonLine(chunk)));
    chunk.forEach((outcome, i) => print(events[start + i]!, outcome));
  }
  const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  const messages = [...new Set(refused.map((o) => (o.reason as ProducerError).message))];
  for (const message of messages) console.error(`fanout emit: ${message}`);
  if (refused.length > 0 && events.length > 1) console.error(`fanout emit: ${events.length - refused.length} of ${events.length} events stored, ${refused.length} refused or failed`);
  return refused.length > 0 ? 1 : 0;
}

function firstLine(error: unknown): string {
  return String((error as Error).message).split('\n')[0]!;
}

/**
 * One --json line for up to 500 events: the 202's shape when all were stored, else the first
 * refusal's status and problem. The problem's own `results` are left out: they were of one request,
 * and the producer sent again the events that request did not store; `results` says what came of each.
 */
function jsonLine(chunk: PromiseSettledResult<StoredResult>[]): Json {
  const results = chunk.map((o) => (o.status === 'fulfilled' ? o.value : { eventId: (o.reason as ProducerError).eventId, error: firstLine(o.reason) }));
  const refusal = chunk.find((o): o is PromiseRejectedResult => o.status === 'rejected')?.reason as ProducerError | undefined;
  if (!refusal) return { status: 202, results };
  const problem = refusal.problem ? Object.fromEntries(Object.entries(refusal.problem).filter(([key]) => key !== 'results')) : null;
  return { status: refusal.status, problem, results };
}
