import { randomUUID } from 'node:crypto';
import { MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_REQUEST_BYTES, PublishedEvent, PublishedEventSchema, TENANT_PATTERN } from '@fanout/contracts';
import type { z } from 'zod';
import { EventOutcome, SentEvent, StoredResult, readAnswer } from './answer';
import { ProducerClosedError, ProducerError, ProducerUnavailableError, ValidationError } from './errors';

/** An event as `publish` takes it: the contract's event, where eventId, occurredAt and tenant may be left out. */
export type ProducerEvent = z.input<typeof PublishedEventSchema> extends infer E
  ? E extends { eventId: string; occurredAt: string; tenant: string }
    ? Omit<E, 'eventId' | 'occurredAt' | 'tenant'> & { eventId?: string; occurredAt?: string; tenant?: string }
    : never
  : never;

/** How a request answered 503 (or 502/504), or not at all, is sent again: same body, same eventIds. */
export interface RetryPolicy {
  /** The first wait. @default 50 */
  initialDelayMs?: number;
  /** The longest wait between two attempts. @default 2000 */
  maxDelayMs?: number;
  /** Each wait is this many times the previous one (with full jitter). @default 2 */
  multiplier?: number;
  /** Give up after this long, cutting an attempt still in flight (the events reject with ProducerUnavailableError). @default Infinity: never give up */
  maxElapsedMs?: number;
}

export interface ProducerOptions {
  /** The publisher's base URL, e.g. `http://127.0.0.1:8081` (`/api/v1/events` is added). */
  url: string;
  /** Bearer token with `events:write` (FANOUT_AUTH=jwt). */
  token?: string;
  /** Put on events that name no tenant, and sent as `X-Tenant`. With a token and no tenant, events go without one (the token's tenant is taken). */
  tenant?: string;
  /** The most events per request (1–500). @default 500 */
  maxBatch?: number;
  /** How long a queued event waits for others to share its request. @default 5 */
  lingerMs?: number;
  /** Events held (queued or in flight) before `publish` waits for room. @default 10000 */
  maxQueued?: number;
  /** Requests in flight at once (never two for one subject). @default 16 */
  maxInFlight?: number;
  /** One attempt's deadline; a request past it counts as unanswered and is retried. @default 30000 */
  requestTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Called before each retry with why (to log it). */
  onRetry?: (reason: string, attempt: number) => void;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

export interface Producer {
  /**
   * Validates the event (a bad one rejects at once), queues it (waiting for room when the queue is
   * full) and resolves once the publisher has stored it. Events of one subject are stored in the
   * order of their `publish` calls.
   */
  publish(event: ProducerEvent): Promise<StoredResult>;
  /** Sends everything queued now, without lingering; resolves once each of those events is stored or refused. */
  flush(): Promise<void>;
  /** Refuses new events, then flushes. */
  close(): Promise<void>;
  /** Resolves once `publish` would queue an event without waiting for room (a producer that must not outrun the publisher awaits it). */
  whenRoom(): Promise<void>;
  /** Events held: waiting for room, queued or in flight. */
  readonly size: number;
  /** Events queued or in flight (at most `maxQueued`). */
  readonly queued: number;
  /** `publish` calls waiting for room. */
  readonly waiting: number;
}

interface Entry {
  eventId: string;
  subjectKey: string;
  subject: string;
  json: string;
  bytes: number;
  promise: Promise<StoredResult>;
  resolve: (result: StoredResult) => void;
  reject: (error: Error) => void;
}

interface SubjectQueue {
  key: string;
  entries: Entry[];
  inFlight: boolean;
}

const DEFAULT_LINGER_MS = 5;
const DEFAULT_MAX_QUEUED = 10_000;
const DEFAULT_MAX_IN_FLIGHT = 16;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Network errors of a request that was never sent: no connection, no such host. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
/** `{"events":[` … `]}` and the commas: a request stays under the 4 MiB limit with room to spare. */
const MAX_BODY_BYTES = MAX_REQUEST_BYTES - 1024;

function tenantOfToken(token: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { tenant?: unknown };
    return typeof claims.tenant === 'string' ? claims.tenant : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The checks `publish` makes before queueing: the contract's size limit and schema. Returns the parsed
 * event, or throws ValidationError with every problem (dotted paths, as the publisher's 400 names them).
 */
export function checkEvent(event: unknown, bytes = Buffer.byteLength(JSON.stringify(event) ?? '', 'utf8')): PublishedEvent {
  const eventId = event && typeof event === 'object' && typeof (event as { eventId?: unknown }).eventId === 'string' ? (event as { eventId: string }).eventId : undefined;
  if (bytes > MAX_EVENT_BYTES) {
    throw new ValidationError(`413 Payload Too Large: the event is ${bytes} bytes of JSON, over the limit of ${MAX_EVENT_BYTES}`, eventId, [{ path: '', message: `over ${MAX_EVENT_BYTES} bytes of JSON` }]);
  }
  const parsed = PublishedEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  const lines = [`400 Bad Request: ${errors.length} validation error(s); nothing was sent`, ...errors.map((e) => `  ${e.path || '(event)'}: ${e.message}`)];
  throw new ValidationError(lines.join('\n'), eventId, errors);
}

function publisherUrl(url: unknown): string {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw new RangeError(`url must be the publisher's http(s) URL, not ${JSON.stringify(url)}`);
  return (url as string).replace(/\/+$/, '');
}

function numberOption(name: string, value: number, { integer = false, zero = false } = {}): number {
  const ok = Number.isFinite(value) && (zero ? value >= 0 : value > 0) && (!integer || Number.isInteger(value));
  if (!ok) throw new RangeError(`${name} must be ${integer ? 'a whole number' : 'a finite number'} ${zero ? '≥ 0' : '> 0'}, not ${value}`);
  return value;
}

/** The retry policy with its defaults for what is not given (an option given as `undefined` too). */
function retryPolicy(given: RetryPolicy = {}): Required<RetryPolicy> {
  const maxElapsedMs = given.maxElapsedMs ?? Infinity;
  if (!(maxElapsedMs > 0)) throw new RangeError(`retry.maxElapsedMs must be a number > 0 (or Infinity), not ${maxElapsedMs}`);
  const multiplier = given.multiplier ?? 2;
  if (!(Number.isFinite(multiplier) && multiplier >= 1)) throw new RangeError(`retry.multiplier must be a number ≥ 1, not ${multiplier}`);
  return {
    initialDelayMs: numberOption('retry.initialDelayMs', given.initialDelayMs ?? 50),
    maxDelayMs: numberOption('retry.maxDelayMs', given.maxDelayMs ?? 2000),
    multiplier,
    maxElapsedMs,
  };
}

export function createProducer(options: ProducerOptions): Producer {
  if (typeof options !== 'object' || options === null) throw new RangeError('createProducer needs its options, at least { url }');
  const endpoint = `${publisherUrl(options.url)}/api/v1/events`;
  const maxBatch = options.maxBatch ?? MAX_BATCH_EVENTS;
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH_EVENTS) throw new RangeError(`maxBatch must be 1 to ${MAX_BATCH_EVENTS}, not ${maxBatch}`);
  const lingerMs = numberOption('lingerMs', options.lingerMs ?? DEFAULT_LINGER_MS, { zero: true });
  const maxQueued = numberOption('maxQueued', options.maxQueued ?? DEFAULT_MAX_QUEUED, { integer: true });
  const maxInFlight = numberOption('maxInFlight', options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, { integer: true });
  const requestTimeoutMs = numberOption('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const retry = retryPolicy(options.retry);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new RangeError(`fetch must be a function, not ${typeof fetchImpl}`);
  if (options.tenant !== undefined && !TENANT_PATTERN.test(options.tenant)) throw new RangeError(`tenant must match ${TENANT_PATTERN}, not ${JSON.stringify(options.tenant)}`);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (options.token) headers['Authorization'] = `Bearer ${options.token}`;
  const defaultTenant = options.tenant ?? (options.token ? undefined : 'default');
  const tokenTenant = options.token ? tenantOfToken(options.token) : undefined;
  // Every event left without a tenant would be refused (403): a mistake of the options, said now.
  if (options.tenant !== undefined && tokenTenant !== undefined && options.tenant !== tokenTenant) {
    throw new RangeError(`tenant ${JSON.stringify(options.tenant)} is not the token's tenant (${JSON.stringify(tokenTenant)}): the publisher would refuse its events (403)`);
  }
  const headerTenant = options.tenant ?? tokenTenant ?? 'default';
  headers['X-Tenant'] = headerTenant;

  const subjects = new Map<string, SubjectQueue>();
  /** Subjects with queued events and no request in flight, oldest first. */
  const ready = new Set<SubjectQueue>();
  let readyCount = 0;
  /** Events admitted (queued or in flight), bounded by maxQueued. */
  let admitted = 0;
  /** Events waiting for room, in publish order. */
  const waiting: Entry[] = [];
  /** Every event not yet settled (for flush). */
  const unsettled = new Set<Entry>();
  let inFlight = 0;
  let forcing = 0;
  let timer: NodeJS.Timeout | undefined;
  let lingerOver = false;
  let closed = false;

  const admit = (entry: Entry) => {
    admitted += 1;
    let queue = subjects.get(entry.subjectKey);
    if (!queue) {
      queue = { key: entry.subjectKey, entries: [], inFlight: false };
      subjects.set(entry.subjectKey, queue);
    }
    queue.entries.push(entry);
    if (!queue.inFlight) {
      ready.add(queue);
      readyCount += 1;
    }
  };

  /** Callers of whenRoom(), woken once no publish is waiting and there is room. */
  let roomWaiters: (() => void)[] = [];
  const hasRoom = () => waiting.length === 0 && admitted < maxQueued;

  const settle = (entry: Entry) => {
    unsettled.delete(entry);
    admitted -= 1;
    while (waiting.length > 0 && admitted < maxQueued) admit(waiting.shift()!);
    if (roomWaiters.length > 0 && hasRoom()) {
      const wake = roomWaiters;
      roomWaiters = [];
      for (const resolve of wake) resolve();
    }
  };

  /** Sends what is ready: at once when a batch is full, the linger is over or a flush asks; else starts the linger. */
  const pump = () => {
    while (inFlight < maxInFlight && readyCount > 0 && (forcing > 0 || lingerOver || readyCount >= maxBatch)) send(takeBatch());
    lingerOver = false;
    if (readyCount === 0 || inFlight >= maxInFlight) {
      // Nothing to wait for, or a request's end will pump again.
      if (timer) clearTimeout(timer);
      timer = undefined;
    } else {
      timer ??= setTimeout(() => {
        timer = undefined;
        lingerOver = true;
        pump();
      }, lingerMs);
    }
  };

  /** Whole subjects' queued events (up to the batch's room), oldest ready subject first; each goes in flight. */
  const takeBatch = (): Entry[] => {
    const batch: Entry[] = [];
    let bytes = 0;
    for (const queue of ready) {
      if (batch.length >= maxBatch) break;
      let taken = 0;
      while (taken < queue.entries.length && batch.length < maxBatch) {
        const entry = queue.entries[taken]!;
        if (batch.length > 0 && bytes + entry.bytes + 1 > MAX_BODY_BYTES) break;
        batch.push(entry);
        bytes += entry.bytes + 1;
        taken += 1;
      }
      if (taken === 0) break;
      queue.entries.splice(0, taken);
      queue.inFlight = true;
      ready.delete(queue);
      readyCount -= taken + queue.entries.length;
    }
    return batch;
  };

  const send = (batch: Entry[]) => {
    inFlight += 1;
    void deliver(batch).then((outcomes) => {
      inFlight -= 1;
      const resend = new Map<string, Entry[]>();
      outcomes.forEach((outcome, i) => {
        const entry = batch[i]!;
        if (outcome.kind === 'resend') resend.set(entry.subjectKey, [...(resend.get(entry.subjectKey) ?? []), entry]);
      });
      // The batch's subjects may go again: what they had to send again first, then what queued meanwhile.
      for (const key of new Set(batch.map((e) => e.subjectKey))) {
        const queue = subjects.get(key)!;
        queue.inFlight = false;
        queue.entries.unshift(...(resend.get(key) ?? []));
        if (queue.entries.length > 0) {
          ready.add(queue);
          readyCount += queue.entries.length;
        } else subjects.delete(key);
      }
      outcomes.forEach((outcome, i) => {
        const entry = batch[i]!;
        if (outcome.kind === 'stored') {
          settle(entry);
          entry.resolve(outcome.result);
        } else if (outcome.kind === 'rejected') {
          settle(entry);
          entry.reject(outcome.error);
        }
      });
      pump();
    });
  };

  /** Sends one batch until it has an answer other than 502/503/504 or none, or the retry policy gives up. */
  const deliver = async (batch: Entry[]): Promise<EventOutcome[]> => {
    const body = batch.length === 1 ? batch[0]!.json : `{"events":[${batch.map((e) => e.json).join(',')}]}`;
    const sent: SentEvent[] = batch.map((e) => ({ eventId: e.eventId, subject: e.subject }));
    const started = Date.now();
    let delay = retry.initialDelayMs;
    // Whether some attempt may have reached a publisher that stored the batch: not when every one was
    // refused before it was sent. An answer, even a 503, may come after a store (a replica that did
    // not acknowledge in time, a tenant's record that failed after the append).
    let mayBeStored = false;
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      // An attempt ends at its own deadline or the policy's, whichever comes first.
      const timeoutMs = Math.max(1, Math.min(requestTimeoutMs, retry.maxElapsedMs - (Date.now() - started)));
      try {
        const response = await fetchImpl(endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
        const text = await response.text();
        const outcome = readAnswer(response.status, text, sent, response.headers.get('retry-after'));
        if (outcome.kind === 'events') return outcome.outcomes;
        reason = outcome.reason;
        mayBeStored = true;
      } catch (error) {
        const cause = (error as { cause?: { message?: string; code?: string } }).cause;
        reason = (error as Error).name === 'TimeoutError' ? `no answer from ${options.url} within ${Math.round(timeoutMs)} ms` : `no answer from ${options.url}: ${cause?.message ?? (error as Error).message}`;
        if (!NOT_SENT_CODES.has(cause?.code ?? '')) mayBeStored = true;
      }
      const wait = Math.random() * delay;
      if (Date.now() - started + wait >= retry.maxElapsedMs) {
        const stored = mayBeStored ? 'the events may be stored: publish them again with the same eventIds to know' : 'nothing was stored';
        const message = `${reason} (gave up after ${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}; ${stored})`;
        return batch.map((entry) => ({ kind: 'rejected', error: new ProducerUnavailableError(message, 0, entry.eventId) }));
      }
      options.onRetry?.(reason, attempt);
      await sleep(wait);
      delay = Math.min(retry.maxDelayMs, delay * retry.multiplier);
    }
  };

  const prepare = (event: ProducerEvent): Entry => {
    const complete: Record<string, unknown> = { eventId: randomUUID(), occurredAt: new Date().toISOString(), ...event };
    if (complete['tenant'] === undefined && defaultTenant !== undefined) complete['tenant'] = defaultTenant;
    const json = JSON.stringify(complete);
    const bytes = Buffer.byteLength(json, 'utf8');
    // With a token and no tenant, the server takes the token's: the schema and the size are checked with
    // it, as the server measures the event once it has added it.
    const withoutTenant = complete['tenant'] === undefined;
    const measured = withoutTenant ? bytes + Buffer.byteLength(`,"tenant":${JSON.stringify(headerTenant)}`, 'utf8') : bytes;
    const parsed = checkEvent(withoutTenant ? { ...complete, tenant: headerTenant } : complete, measured);
    const { subject } = parsed;
    const tenant = (complete['tenant'] as string | undefined) ?? headerTenant;
    // The publisher refuses a whole request for one such event (403): refused here, it is refused alone.
    if (tokenTenant !== undefined && tenant !== tokenTenant) {
      throw new ProducerError(`403 Forbidden: the token may publish for tenant ${tokenTenant} only, not ${tenant}; nothing was sent`, 403, parsed.eventId);
    }
    const entry = {
      eventId: parsed.eventId,
      subjectKey: `${tenant}\u0000${subject.kind}\u0000${subject.id}`,
      subject: `${subject.kind} ${subject.id}`,
      json,
      bytes,
    } as Entry;
    entry.promise = new Promise<StoredResult>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    return entry;
  };

  const producer: Producer = {
    publish(event) {
      if (closed) return Promise.reject(new ProducerClosedError());
      let entry: Entry;
      try {
        entry = prepare(event);
      } catch (error) {
        return Promise.reject(error instanceof ProducerError ? error : new ProducerError((error as Error).message, 0, undefined, undefined, { cause: error }));
      }
      unsettled.add(entry);
      if (hasRoom()) {
        admit(entry);
        pump();
      } else waiting.push(entry);
      return entry.promise;
    },
    async flush() {
      const pending = [...unsettled].map((e) => e.promise);
      if (pending.length === 0) return;
      forcing += 1;
      try {
        pump();
        await Promise.allSettled(pending);
      } finally {
        forcing -= 1;
      }
    },
    async close() {
      closed = true;
      await producer.flush();
    },
    whenRoom() {
      return hasRoom() ? Promise.resolve() : new Promise<void>((resolve) => roomWaiters.push(resolve));
    },
    get size() {
      return unsettled.size;
    },
    get queued() {
      return admitted;
    },
    get waiting() {
      return waiting.length;
    },
  };
  return producer;
}
