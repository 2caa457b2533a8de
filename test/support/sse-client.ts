import { IncomingHttpHeaders, IncomingMessage, request } from 'node:http';
import { createParser } from 'eventsource-parser';
import { EventSource } from 'eventsource';

export interface SseFrame {
  /** Set only when the frame carried an `id:` line. */
  id?: string;
  /** The `event:` name (`message` when absent; `retry` for a bare `retry:` field). */
  event: string;
  data: string;
  /** Set on the `retry` pseudo-frame recorded when a `retry:` field arrives. */
  retry?: number;
  /** performance.now() when the frame was parsed (for spacing assertions). */
  at: number;
}

export interface SseStream {
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  /** Every frame so far, in order, including `retry` pseudo-frames and control frames. */
  frames: SseFrame[];
  /** The raw response body so far. */
  readonly raw: string;
  /** Domain frames only: those with an `id`. */
  events(): SseFrame[];
  /** Domain frames' data, parsed. */
  eventData<T = Record<string, any>>(): T[];
  /** Frames named `name`. */
  named(name: string): SseFrame[];
  /** Resolves once `predicate(frames)` holds (or `frames.length >= count`); rejects on timeout or when the response ends first. */
  waitForFrames(predicateOrCount: number | ((frames: SseFrame[]) => unknown), timeoutMs?: number): Promise<SseFrame[]>;
  /** Resolves once at least `count` domain frames arrived. */
  waitForEvents(count: number, timeoutMs?: number): Promise<SseFrame[]>;
  /** Resolves with the first frame named `name`. */
  waitForFrame(name: string, timeoutMs?: number): Promise<SseFrame>;
  /** The whole body once the response ended (for non-stream answers: 4xx problem+json, 204). */
  body(timeoutMs?: number): Promise<string>;
  /** Resolves when the response ended cleanly; rejects when it was aborted or reset (or close() was called). */
  ended: Promise<void>;
  readonly isEnded: boolean;
  readonly isClosed: boolean;
  /** Destroys the socket. */
  close(): void;
}

export interface OpenStreamOptions {
  headers?: Record<string, string>;
  /** Sent as the `Last-Event-ID` header. */
  lastEventId?: string;
  /** Hang guard for the response headers. */
  timeoutMs?: number;
}

const openStreams = new Set<SseStream>();

/** Closes every stream opened by openStream that is still open (use in afterEach/afterAll). */
export function closeAllStreams(): void {
  for (const s of openStreams) s.close();
  openStreams.clear();
}

function summary(stream: { url: string; status: number; frames: SseFrame[] }, n = 8): string {
  const last = stream.frames.slice(-n).map((f) => `${f.id ? `id=${f.id} ` : ''}${f.event}${f.retry !== undefined ? `=${f.retry}` : ''} ${f.data.slice(0, 200)}`);
  return `${stream.url} (status ${stream.status}, ${stream.frames.length} frames; last: ${last.length ? `\n  ${last.join('\n  ')}` : 'none'})`;
}

/** A raw SSE client over node:http, for protocol assertions. Resolves once response headers arrive. */
export function openStream(url: string, options: OpenStreamOptions = {}): Promise<SseStream> {
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...options.headers };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId;
  return new Promise<SseStream>((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, agent: false });
    const guard = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response headers from ${url} within ${options.timeoutMs ?? 10_000} ms`));
    }, options.timeoutMs ?? 10_000);
    req.once('error', (error) => {
      clearTimeout(guard);
      reject(new Error(`GET ${url} failed: ${error.message}`));
    });
    req.once('response', (res: IncomingMessage) => {
      clearTimeout(guard);
      resolve(wrap(url, req, res));
    });
    req.end();
  });
}

function wrap(url: string, req: ReturnType<typeof request>, res: IncomingMessage): SseStream {
  const frames: SseFrame[] = [];
  let raw = '';
  let eventCount = 0;
  let isEnded = false;
  let isClosed = false;
  let finished = false;
  let endError: Error | undefined;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };

  const parser = createParser({
    onEvent(message) {
      const frame: SseFrame = { event: message.event ?? 'message', data: message.data, at: performance.now() };
      if (message.id !== undefined) frame.id = message.id;
      if (frame.id !== undefined) eventCount++;
      frames.push(frame);
    },
    onRetry(interval) {
      frames.push({ event: 'retry', data: '', retry: interval, at: performance.now() });
    },
  });

  let resolveEnded!: () => void;
  let rejectEnded!: (error: Error) => void;
  const ended = new Promise<void>((resolve, reject) => {
    resolveEnded = resolve;
    rejectEnded = reject;
  });
  ended.catch(() => undefined); // awaited by the tests that care

  const finish = (error?: Error) => {
    if (finished) return;
    finished = true;
    if (error) {
      endError = error;
      rejectEnded(error);
    } else {
      isEnded = true;
      resolveEnded();
    }
    openStreams.delete(stream);
    notify();
  };

  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    raw += chunk;
    parser.feed(chunk);
    notify();
  });
  res.once('end', () => finish());
  res.once('aborted', () => finish(new Error(`response from ${url} was aborted (connection reset before a clean end)`)));
  res.once('error', (error) => finish(new Error(`response from ${url} failed: ${error.message}`)));
  res.once('close', () => {
    if (!res.complete) finish(new Error(isClosed ? `stream ${url} was closed by the test` : `response from ${url} closed before a clean end`));
    else finish();
  });
  req.on('error', () => undefined);

  const waitUntil = <T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const attempt = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          cleanup();
          reject(error);
          return;
        }
        if (value !== undefined) {
          cleanup();
          resolve(value);
        } else if (finished) {
          cleanup();
          reject(new Error(`stream ended (${endError ? endError.message : 'cleanly'}) before ${what}: ${summary(stream)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${summary(stream)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(attempt);
      };
      waiters.add(attempt);
      attempt();
    });

  const stream: SseStream = {
    url,
    status: res.statusCode ?? 0,
    headers: res.headers,
    frames,
    get raw() {
      return raw;
    },
    events: () => frames.filter((f) => f.id !== undefined),
    eventData<T>() {
      return frames.filter((f) => f.id !== undefined).map((f) => JSON.parse(f.data) as T);
    },
    named: (name: string) => frames.filter((f) => f.event === name),
    waitForFrames(predicateOrCount, timeoutMs = 15_000) {
      if (typeof predicateOrCount === 'number') {
        const count = predicateOrCount;
        return waitUntil(`${count} frames`, () => (frames.length >= count ? frames : undefined), timeoutMs);
      }
      const predicate = predicateOrCount;
      return waitUntil('the expected frames', () => (predicate(frames) ? frames : undefined), timeoutMs);
    },
    waitForEvents(count, timeoutMs = 15_000) {
      return waitUntil(`${count} domain events`, () => (eventCount >= count ? stream.events() : undefined), timeoutMs);
    },
    waitForFrame(name, timeoutMs = 15_000) {
      return waitUntil(`a "${name}" frame`, () => frames.find((f) => f.event === name), timeoutMs);
    },
    body(timeoutMs = 10_000) {
      return waitUntil('the end of the response', () => (finished ? raw : undefined), timeoutMs).catch((error: Error) => {
        if (finished) return raw;
        throw error;
      });
    },
    ended,
    get isEnded() {
      return isEnded;
    },
    get isClosed() {
      return isClosed;
    },
    close() {
      if (isClosed) return;
      isClosed = true;
      req.destroy();
      res.destroy();
      openStreams.delete(stream);
    },
  };
  openStreams.add(stream);
  // A body that has ended before anyone waits (e.g. a 404) still resolves waiters promptly.
  return stream;
}

/** Awaits a promise with a hang guard. */
export function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

export interface EventSourceMessage {
  type: string;
  data: string;
  lastEventId: string;
}

export interface EventSourceRun {
  messages: EventSourceMessage[];
  /** Every request the EventSource made: its Last-Event-ID header and the answer's status. */
  requests: { lastEventId: string | null; status: number }[];
  /** readyState once the run finished (2 = CLOSED). */
  readyState: number;
  errors: string[];
}

/**
 * Drives the real `eventsource` package (v3) against `url` with `X-Tenant: tenant` until `until(run)` holds,
 * then closes it. Listens for `eventNames` (custom event names do not reach `onmessage`).
 */
export async function runEventSource(
  url: string,
  tenant: string,
  eventNames: string[],
  until: (run: EventSourceRun, es: EventSource) => boolean,
  timeoutMs = 15_000,
): Promise<EventSourceRun> {
  const run: EventSourceRun = { messages: [], requests: [], readyState: 0, errors: [] };
  let check: () => void = () => undefined;
  const es = new EventSource(url, {
    fetch: async (input, init) => {
      const headers: Record<string, string> = { ...(init?.headers as Record<string, string> | undefined), 'X-Tenant': tenant };
      const response = await fetch(input, { ...init, headers });
      run.requests.push({ lastEventId: headers['Last-Event-ID'] ?? null, status: response.status });
      setImmediate(() => check());
      return response;
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`EventSource on ${url}: condition not met within ${timeoutMs} ms; ${JSON.stringify({ ...run, readyState: es.readyState }).slice(0, 2000)}`));
      }, timeoutMs);
      check = () => {
        run.readyState = es.readyState;
        if (until(run, es)) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const name of eventNames) {
        es.addEventListener(name, (event) => {
          const message = event as unknown as { type: string; data: string; lastEventId: string };
          run.messages.push({ type: message.type, data: message.data, lastEventId: message.lastEventId });
          check();
        });
      }
      es.addEventListener('error', (event) => {
        run.errors.push(String((event as unknown as { message?: string }).message ?? 'error'));
        setImmediate(() => check());
      });
    });
  } finally {
    run.readyState = es.readyState;
    es.close();
  }
  return run;
}
