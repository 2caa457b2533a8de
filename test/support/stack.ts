import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { FanoutProcess, startFanout } from './fanout-process';
import { RedisServer, startRedis } from './redis-server';
import { closeAllStreams, openStream, OpenStreamOptions, SseStream } from './sse-client';

export type Kind = 'job' | 'pack-run' | 'run';
export const ROUTE_SEGMENT: Record<Kind, string> = { job: 'jobs', 'pack-run': 'pack-runs', run: 'runs' };

type Env = Record<string, string | number | undefined>;

export interface StackOptions {
  gateways?: number;
  /** Env for every process of the stack. */
  env?: Env;
  publisherEnv?: Env;
  gatewayEnv?: Env;
  /** Reuse a running redis (not stopped by stack.stop()). */
  redis?: RedisServer;
  /** The tenant the helpers use by default. */
  tenant?: string;
}

export interface HttpAnswer<T = any> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body (undefined when it is not JSON). */
  json: T;
}

export interface PublishResult {
  eventId: string;
  seq?: number;
  duplicate?: boolean;
  error?: unknown;
}

export interface Stack {
  redis: RedisServer;
  publisher: FanoutProcess;
  gateways: FanoutProcess[];
  tenant: string;
  /** Every process of the stack (for diagnostics). */
  processes(): FanoutProcess[];
  /** POST /api/v1/events with the events (an array is sent as `{"events": [...]}`; one event as itself). */
  publish(body: TestEvent | TestEvent[] | { events: unknown[] } | unknown): Promise<HttpAnswer<{ results: PublishResult[] }>>;
  /** publish(), throwing unless the answer is 202; resolves with the results. */
  publishOk(body: TestEvent | TestEvent[]): Promise<PublishResult[]>;
  /** POST raw bytes to the publisher. */
  postRaw(body: string | Buffer, contentType?: string): Promise<HttpAnswer>;
  /** `<gateway>/api/v1/stream/<segment>/<id>` */
  streamUrl(kind: Kind, id: string, gateway?: number | FanoutProcess, query?: Record<string, string>): string;
  /** Opens a raw SSE stream with `X-Tenant: <tenant>`. */
  open(kind: Kind, id: string, options?: OpenStreamOptions & { gateway?: number | FanoutProcess; tenant?: string; query?: Record<string, string> }): Promise<SseStream>;
  /** GET the JSON history route. */
  history(kind: Kind, id: string, options?: { after?: number; limit?: number; tenant?: string; gateway?: number }): Promise<HttpAnswer>;
  /** Starts one more gateway on this stack's redis (ended by stop()). */
  addGateway(env?: Env): Promise<FanoutProcess>;
  /** Ends one process of the stack now (and forgets it). */
  stopProcess(p: FanoutProcess): Promise<void>;
  /** Ends everything (idempotent). */
  stop(): Promise<void>;
}

async function readAnswer(response: Response): Promise<HttpAnswer> {
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: jsonOrUndefined(text) };
}

/** The parsed body, or undefined when it is not JSON. */
export function jsonOrUndefined<T = any>(text: string): T | undefined {
  try {
    return text ? (JSON.parse(text) as T) : undefined;
  } catch {
    return undefined;
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const { gateways: gatewayCount = 2 } = options;
  const ownsRedis = !options.redis;
  const redis = options.redis ?? (await startRedis());
  const base: Env = { FANOUT_AUTH: 'none', FANOUT_SHUTDOWN_GRACE_MS: 1000, REDIS_URL: redis.url, ...options.env };
  const all: FanoutProcess[] = [];
  const tenant = options.tenant ?? `t-${randomUUID().slice(0, 8)}`;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    closeAllStreams();
    await Promise.all(all.splice(0).map((p) => p.stop().catch(() => p.kill())));
    if (ownsRedis) await redis.stop();
  };

  let publisher: FanoutProcess;
  const gateways: FanoutProcess[] = [];
  try {
    const starting = [
      startFanout('publisher', { ...base, ...options.publisherEnv }).then((p) => {
        all.push(p);
        publisher = p;
      }),
      ...Array.from({ length: gatewayCount }, (_, i) =>
        startFanout('gateway', { ...base, ...options.gatewayEnv }).then((p) => {
          all.push(p);
          gateways[i] = p;
        }),
      ),
    ];
    const outcomes = await Promise.allSettled(starting);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    await stop();
    throw error;
  }

  const gatewayOf = (g: number | FanoutProcess | undefined): FanoutProcess => {
    if (g === undefined) return gateways[0]!;
    if (typeof g === 'number') {
      const found = gateways[g];
      if (!found) throw new Error(`no gateway #${g}`);
      return found;
    }
    return g;
  };

  const stack: Stack = {
    redis,
    publisher: publisher!,
    gateways,
    tenant,
    processes: () => [...all],
    async publish(body) {
      const payload = Array.isArray(body) ? { events: body } : body;
      const response = await fetch(`${publisher!.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(payload),
      });
      return readAnswer(response);
    },
    async publishOk(body) {
      const answer = await stack.publish(body);
      if (answer.status !== 202) {
        throw new Error(`publish answered ${answer.status} (expected 202): ${answer.text.slice(0, 1000)}`);
      }
      return answer.json.results;
    },
    async postRaw(body, contentType = 'application/json') {
      const response = await fetch(`${publisher!.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': contentType },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
      return readAnswer(response);
    },
    streamUrl(kind, id, gateway, query) {
      const qs = query && Object.keys(query).length ? `?${new URLSearchParams(query).toString()}` : '';
      return `${gatewayOf(gateway).url}/api/v1/stream/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}${qs}`;
    },
    open(kind, id, opts = {}) {
      const { gateway, tenant: t = tenant, query, headers, ...rest } = opts;
      return openStream(stack.streamUrl(kind, id, gateway, query), { ...rest, headers: { 'X-Tenant': t, ...headers } });
    },
    async history(kind, id, opts = {}) {
      const params = new URLSearchParams();
      if (opts.after !== undefined) params.set('after', String(opts.after));
      if (opts.limit !== undefined) params.set('limit', String(opts.limit));
      const qs = params.toString() ? `?${params.toString()}` : '';
      const response = await fetch(`${gatewayOf(opts.gateway).url}/api/v1/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}/events${qs}`, {
        headers: { 'X-Tenant': opts.tenant ?? tenant },
      });
      return readAnswer(response);
    },
    async addGateway(env = {}) {
      const p = await startFanout('gateway', { ...base, ...options.gatewayEnv, ...env });
      all.push(p);
      return p;
    },
    async stopProcess(p) {
      const index = all.indexOf(p);
      if (index >= 0) all.splice(index, 1);
      await p.stop().catch(() => p.kill());
    },
    stop,
  };
  return stack;
}

// ---------------------------------------------------------------------------------------------
// Event builders

export interface TestEvent {
  eventId: string;
  tenant: string;
  subject: { kind: Kind; id: string };
  type: string;
  occurredAt: string;
  correlationId?: string;
  data: Record<string, unknown>;
}

/** A subject id no other test uses. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 13)}`;
}

export function makeEvent(tenant: string, kind: Kind, id: string, type: string, data: Record<string, unknown>, extra: Partial<TestEvent> = {}): TestEvent {
  return { eventId: randomUUID(), tenant, subject: { kind, id }, type, occurredAt: new Date().toISOString(), data, ...extra };
}

export function jobEvents(tenant: string, id: string = uniqueId('job')) {
  return {
    id,
    kind: 'job' as const,
    status: (status: string, data: Record<string, unknown> = {}) => makeEvent(tenant, 'job', id, 'job.status', { status, ...data }),
    progress: (percent: number, message?: string) =>
      makeEvent(tenant, 'job', id, 'job.progress', message === undefined ? { percent } : { percent, message }),
  };
}

export function packRunEvents(tenant: string, id: string = uniqueId('pack')) {
  return {
    id,
    kind: 'pack-run' as const,
    status: (status: string, data: Record<string, unknown> = {}) => makeEvent(tenant, 'pack-run', id, 'pack_run.status', { status, ...data }),
    step: (stepIndex: number, stepName: string, status: string, data: Record<string, unknown> = {}) =>
      makeEvent(tenant, 'pack-run', id, 'pack_run.step', { stepIndex, stepName, status, ...data }),
    log: (stepIndex: number, lineNo: number, stream: 'stdout' | 'stderr', message: string, level?: string) =>
      makeEvent(tenant, 'pack-run', id, 'pack_run.log', { stepIndex, lineNo, stream, message, ...(level ? { level } : {}) }),
  };
}

export function runEvents(tenant: string, id: string = uniqueId('run')) {
  return {
    id,
    kind: 'run' as const,
    status: (status: string) => makeEvent(tenant, 'run', id, 'run.status', { status }),
    progress: (counts: { total: number; pending: number; running: number; succeeded: number; failed: number; canceled: number }) =>
      makeEvent(tenant, 'run', id, 'run.progress', counts),
  };
}

/** Splits `items` into chunks of `size`. */
export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The `seq` of each domain frame of a stream. */
export function seqsOf(stream: SseStream): number[] {
  return stream.events().map((f) => (JSON.parse(f.data) as { seq: number }).seq);
}

/** [from, from+1, …, to] */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/**
 * POSTs bytes over node:http and resolves with the answer even when the server answers (e.g. 413) and
 * closes before it has read the whole body (fetch may fail with "other side closed" then).
 */
export function postBytes(url: string, body: string | Buffer, headers: Record<string, string>, timeoutMs = 20_000): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }> {
  return new Promise((resolvePost, rejectPost) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) }, agent: false });
    let answered = false;
    const guard = setTimeout(() => {
      req.destroy();
      rejectPost(new Error(`POST ${url}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (error) => {
      if (!answered) {
        clearTimeout(guard);
        rejectPost(new Error(`POST ${url} failed before an answer: ${error.message}`));
      }
    });
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      const done = () => {
        clearTimeout(guard);
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolvePost({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        req.destroy();
      };
      res.on('end', done);
      res.on('close', done);
    });
    req.end(body);
  });
}
