/**
 * @fanout/client in Node (the `eventsource` package injected) against real gateway processes: a
 * real redis-server, a publisher and gateway replicas spawned through the CLI, a loopback TCP proxy
 * in front of replicas that go away, and a tiny crafted SSE server for what a correct gateway never
 * sends. Timeouts are hang guards only.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { SignJWT } from 'jose';
import {
  ClientError,
  ConnectionState,
  EventMeta,
  EventSourceConstructor,
  GapNotice,
  StreamedEvent,
  subscribe,
  subscribeActivity,
  SubscribeOptions,
  SubjectUpdate,
} from '@fanout/client';
import { FanoutProcess } from '../support/fanout-process';
import { expectContiguous } from '../support/frames';
import { jobEvents, makeEvent, packRunEvents, runEvents, Stack, startStack, TestEvent, uniqueId } from '../support/stack';
import { BalancingProxy, startBalancingProxy } from '../support/balancing-proxy';
import { sleep, waitFor } from '../support/wait';

const RETRY_MS = 200;
const JWT_SECRET = 'client-test-secret-0123456789abcdef';

let stack: Stack;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { FANOUT_RETRY_MS: RETRY_MS } });
}, 60_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await stack?.stop();
}, 60_000);

interface Requested {
  url: string;
  lastEventId: string | undefined;
}

/** The `eventsource` package, recording every request it makes (URL and Last-Event-ID header). */
function recordingEventSource(requests: Requested[]): SubscribeOptions['EventSource'] {
  return class extends EventSource {
    constructor(url: string, init?: { fetch?: (url: string | URL, init: any) => Promise<any> }) {
      const inner = init?.fetch ?? ((u: string | URL, i: any) => fetch(u, i));
      super(url, {
        ...init,
        fetch: (u, i) => {
          requests.push({ url: String(u), lastEventId: (i.headers as Record<string, string>)['Last-Event-ID'] });
          return inner(u, i);
        },
      });
    }
  };
}

/** The same, telling no status when it gives up: a browser's EventSource does not expose it. */
function statuslessEventSource(requests: Requested[]): EventSourceConstructor {
  const Recording = recordingEventSource(requests) as unknown as typeof EventSource;
  return class extends Recording {
    override addEventListener(type: string, listener: (event: any) => void): void {
      super.addEventListener(type, type === 'error' ? () => listener({}) : listener);
    }
  } as unknown as EventSourceConstructor;
}

interface Recording {
  events: { event: StreamedEvent; meta: EventMeta }[];
  states: ConnectionState[];
  gaps: GapNotice[];
  errors: ClientError[];
  requests: Requested[];
  unsubscribe: () => void;
  /** Each subject's seqs in delivery order. */
  seqs(key: string): number[];
  until(what: string, check: () => unknown, timeoutMs?: number): Promise<void>;
}

function record(options: Omit<SubscribeOptions, 'onEvent' | 'onState' | 'onGap' | 'onError'>): Recording {
  const requests: Requested[] = [];
  const rec: Recording = {
    events: [],
    states: [],
    gaps: [],
    errors: [],
    requests,
    unsubscribe: () => undefined,
    seqs: (key) => rec.events.filter(({ event }) => `${event.subject.kind}:${event.subject.id}` === key).map(({ event }) => event.seq),
    until: async (what, check, timeoutMs = 15_000) => {
      await waitFor(`${what} (states ${rec.states.join(' → ')}; ${rec.events.length} events; gaps ${JSON.stringify(rec.gaps)}; errors ${JSON.stringify(rec.errors)})`, check, timeoutMs, 10);
    },
  };
  rec.unsubscribe = subscribe({
    EventSource: recordingEventSource(requests),
    tenant: stack.tenant,
    ...options,
    onEvent: (event, meta) => rec.events.push({ event, meta }),
    onState: (state) => rec.states.push(state),
    onGap: (gap) => rec.gaps.push(gap),
    onError: (error) => rec.errors.push(error),
  });
  cleanups.push(rec.unsubscribe);
  return rec;
}

const keyOf = (b: { kind: string; id: string }): string => `${b.kind}:${b.id}`;

async function connectionsOn(gateway: FanoutProcess): Promise<number> {
  return (await gateway.metric('fanout_gateway_connections')) ?? 0;
}

describe('@fanout/client against gateway replicas', () => {
  test('three subjects on one multi-subject stream: every event once, validated, in seq order; completed ends it and nothing reconnects', async () => {
    const t = stack.tenant;
    const job = jobEvents(t);
    const pr = packRunEvents(t);
    const run = runEvents(t);
    await stack.publishOk([job.status('pending'), pr.status('pending'), run.status('pending')]);
    const gateway = stack.gateways[0]!;
    const rec = record({ baseUrl: gateway.url, subjects: [keyOf(run), `job:${job.id}`, { kind: 'pack-run', id: pr.id }] });
    await rec.until('3 replayed events', () => rec.events.length === 3);
    expect(rec.states).toEqual(['connecting', 'live']);
    expect(rec.requests).toHaveLength(1);
    expect(rec.requests[0]!.url).toMatch(/\/api\/v1\/stream\?subjects=/);

    await stack.publishOk([job.status('scheduled'), pr.status('running'), pr.log(0, 1, 'stdout', 'hi'), run.status('running')]);
    await stack.publishOk([job.status('canceled'), pr.status('succeeded')]);
    await rec.until('both ended subjects', () => rec.events.length === 9);
    expect(rec.states.at(-1)).toBe('live');
    await stack.publishOk(run.status('completed'));
    await rec.until('the ended state', () => rec.states.at(-1) === 'ended');

    expect(rec.states).toEqual(['connecting', 'live', 'ended']);
    expect(rec.gaps).toEqual([]);
    expect(rec.errors).toEqual([]);
    expect(rec.seqs(keyOf(job))).toEqual([1, 2, 3]);
    expect(rec.seqs(keyOf(pr))).toEqual([1, 2, 3, 4]);
    expect(rec.seqs(keyOf(run))).toEqual([1, 2, 3]);
    expect(rec.events.at(-1)!.event).toMatchObject({ type: 'run.status', data: { status: 'completed' } });
    // The meta id is the stream's id: the cursor of every position.
    expect(rec.events.at(-1)!.meta.id).toMatch(/^[A-Za-z0-9_-]+$/);
    await waitFor('the gateway to count no connection', async () => (await connectionsOn(gateway)) === 0);
    await sleep(RETRY_MS * 3);
    expect(rec.requests).toHaveLength(1);
  });

  test('one subject uses the single-subject route; an already finished subject replays and ends; an unknown one is an error that ends', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('canceled')]);
    const done = record({ baseUrl: stack.gateways[1]!.url, subjects: [keyOf(job)] });
    await done.until('the ended state', () => done.states.at(-1) === 'ended');
    expect(done.requests.map((r) => new URL(r.url).pathname)).toEqual([`/api/v1/stream/jobs/${job.id}`]);
    expect(done.events.map(({ event }) => event.seq)).toEqual([1, 2, 3]);
    expect(done.events[0]!.meta.id).toMatch(/^[0-9a-f]{8}-0000000001$/);

    const missing = record({ baseUrl: stack.gateways[1]!.url, subjects: [`job:${uniqueId('missing')}`, keyOf(job)] });
    await missing.until('the ended state', () => missing.states.at(-1) === 'ended');
    expect(missing.errors).toEqual([expect.objectContaining({ kind: 'connection', status: 404 })]);
    expect(missing.events).toEqual([]);
    expect(missing.requests).toHaveLength(1);
  });

  test('reconnection resumes every subject: a replica shut down (end shutdown), then the connection dropped, behind a loopback proxy', async () => {
    const t = stack.tenant;
    const job = jobEvents(t);
    const pr = packRunEvents(t);
    const run = runEvents(t);
    const subjects = [keyOf(job), keyOf(pr), keyOf(run)];
    const doomed = await stack.addGateway({ FANOUT_RETRY_MS: RETRY_MS });
    const proxy: BalancingProxy = await startBalancingProxy([doomed.port]);
    cleanups.push(() => proxy.close());
    await stack.publishOk([job.status('pending'), pr.status('running'), run.status('pending')]);
    const rec = record({ baseUrl: proxy.url, subjects });
    await rec.until('3 replayed events', () => rec.events.length === 3);
    await stack.publishOk([job.status('scheduled'), pr.log(0, 1, 'stdout', 'a'), run.status('running')]);
    await rec.until('6 events', () => rec.events.length === 6);
    const idBeforeShutdown = rec.events.at(-1)!.meta.id;

    // The replica drains (SIGTERM: end {shutdown}); the proxy sends the reconnect to the other one.
    proxy.setTargets([stack.gateways[1]!.port]);
    await stack.stopProcess(doomed);
    await stack.publishOk([job.status('leased'), pr.log(0, 2, 'stdout', 'b'), run.progress({ total: 1, pending: 0, running: 1, succeeded: 0, failed: 0, canceled: 0 })]);
    await rec.until('the events published while it was away', () => rec.events.length === 9);
    expect(rec.requests[1]!.lastEventId).toBe(idBeforeShutdown);
    await stack.publishOk([job.status('running'), pr.log(0, 3, 'stdout', 'c')]);
    await rec.until('11 events', () => rec.events.length === 11);
    const idBeforeDrop = rec.events.at(-1)!.meta.id;

    // A network drop (connection reset), with events published before the client is back.
    proxy.setTargets([stack.gateways[0]!.port]);
    expect(proxy.cut()).toBe(1);
    await stack.publishOk([job.progress(50), pr.log(0, 4, 'stderr', 'd'), run.status('completed')]);
    await rec.until('the events published during the drop', () => rec.events.length === 14);
    expect(rec.requests.at(-1)!.lastEventId).toBe(idBeforeDrop);
    await stack.publishOk([job.status('succeeded'), pr.status('failed')]);
    await rec.until('the ended state', () => rec.states.at(-1) === 'ended');

    expect(rec.gaps).toEqual([]);
    expect(rec.errors).toEqual([]);
    expectContiguous(rec.seqs(keyOf(job)), 1, 6, 'job');
    expectContiguous(rec.seqs(keyOf(pr)), 1, 6, 'pack-run');
    expectContiguous(rec.seqs(keyOf(run)), 1, 4, 'run');
    expect(rec.states).toEqual(['connecting', 'live', 'reconnecting', 'live', 'reconnecting', 'live', 'ended']);
    expect(rec.requests).toHaveLength(3);
  });

  test('token_expired: getToken gives a new token and the stream resumes after the last event', async () => {
    const gateway = await stack.addGateway({ FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: JWT_SECRET, FANOUT_RETRY_MS: RETRY_MS });
    cleanups.push(() => stack.stopProcess(gateway));
    const token = (seconds: number) =>
      new SignJWT({ tenant: stack.tenant, scope: 'stream:read' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
        .sign(new TextEncoder().encode(JWT_SECRET));
    const job = jobEvents(stack.tenant);
    const run = runEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), run.status('pending')]);
    let renewals = 0;
    const rec = record({
      baseUrl: gateway.url,
      subjects: [keyOf(job), keyOf(run)],
      token: await token(2),
      getToken: () => {
        renewals += 1;
        return token(60);
      },
    });
    await rec.until('2 events', () => rec.events.length === 2);
    await rec.until('the token to expire and the stream to reopen', () => rec.requests.length === 2, 10_000);
    await stack.publishOk([job.status('scheduled'), run.status('running')]);
    await rec.until('4 events', () => rec.events.length === 4);
    expect(renewals).toBe(1);
    const reopened = new URL(rec.requests[1]!.url);
    expect(reopened.searchParams.get('lastEventId')).toBe(rec.events[1]!.meta.id);
    expect(reopened.searchParams.get('access_token')).not.toBe(new URL(rec.requests[0]!.url).searchParams.get('access_token'));
    expect(rec.seqs(keyOf(job))).toEqual([1, 2]);
    expect(rec.seqs(keyOf(run))).toEqual([1, 2]);
    expect(rec.gaps).toEqual([]);
    expect(rec.states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  });
});

describe('@fanout/client: the activity stream and an EventSource that tells no status, against gateway replicas', () => {
  test('subscribeActivity: every status change of the tenant (not progress), live, then resumed after a drop from the last id with nothing repeated', async () => {
    const tenant = uniqueId('activity');
    const proxy = await startBalancingProxy([stack.gateways[0]!.port]);
    cleanups.push(() => proxy.close());
    const requests: Requested[] = [];
    const updates: { update: SubjectUpdate; id: string }[] = [];
    const states: ConnectionState[] = [];
    const errors: ClientError[] = [];
    const unsubscribe = subscribeActivity({
      baseUrl: proxy.url,
      tenant,
      EventSource: recordingEventSource(requests),
      onUpdate: (update, { id }) => updates.push({ update, id }),
      onState: (state) => states.push(state),
      onError: (error) => errors.push(error),
    });
    cleanups.push(unsubscribe);
    const until = (what: string, check: () => boolean) =>
      waitFor(`${what} (states ${states.join(' → ')}; ${JSON.stringify(updates.map((u) => u.update))}; errors ${JSON.stringify(errors)})`, check, 15_000, 10);
    await until('live', () => states.at(-1) === 'live');
    expect(requests.map((r) => new URL(r.url).pathname)).toEqual(['/api/v1/stream/subjects']);

    const job = jobEvents(tenant);
    const pr = packRunEvents(tenant);
    const run = runEvents(tenant);
    await stack.publishOk([job.status('pending'), pr.status('running'), pr.log(0, 1, 'stdout', 'not a status'), job.progress(10)]);
    await until('2 updates', () => updates.length === 2);
    const idBeforeDrop = updates[1]!.id;
    expect(idBeforeDrop).toMatch(/^[0-9a-f]{8}-0000000002$/);

    expect(proxy.cut()).toBe(1);
    await stack.publishOk([job.status('scheduled'), run.status('pending')]);
    await until('the changes published during the drop', () => updates.length === 4);
    expect(requests.at(-1)!.lastEventId).toBe(idBeforeDrop);
    await stack.publishOk(job.status('canceled'));
    await until('5 updates', () => updates.length === 5);

    expect(updates.map(({ update }) => [`${update.subject.kind}:${update.subject.id}`, update.status, update.seq])).toEqual([
      [`job:${job.id}`, 'pending', 1],
      [`pack-run:${pr.id}`, 'running', 1],
      [`job:${job.id}`, 'scheduled', 3],
      [`run:${run.id}`, 'pending', 1],
      [`job:${job.id}`, 'canceled', 4],
    ]);
    expect(updates.map(({ id }) => Number(id.split('-')[1]))).toEqual([1, 2, 3, 4, 5]);
    expect(states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
    expect(errors).toEqual([]);
  });

  test('a refused stream whose status the EventSource does not tell: one fetch of it finds the 404 and the subscription ends with that error', async () => {
    const requests: Requested[] = [];
    const states: ConnectionState[] = [];
    const errors: ClientError[] = [];
    cleanups.push(
      subscribe({
        baseUrl: stack.gateways[0]!.url,
        subjects: [`job:${uniqueId('missing')}`],
        tenant: stack.tenant,
        EventSource: statuslessEventSource(requests),
        onEvent: () => undefined,
        onState: (state) => states.push(state),
        onError: (error) => errors.push(error),
      }),
    );
    await waitFor('the end', () => states.at(-1) === 'ended');
    expect(errors).toEqual([{ kind: 'connection', message: 'the gateway answered 404', status: 404, final: true }]);
    expect(states).toEqual(['connecting', 'ended']);
    expect(requests).toHaveLength(1);
  });

  test('a refused token whose status the EventSource does not tell: the 401 is found out, getToken renews it and the stream goes live', async () => {
    const gateway = await stack.addGateway({ FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: JWT_SECRET, FANOUT_RETRY_MS: RETRY_MS });
    cleanups.push(() => stack.stopProcess(gateway));
    const job = jobEvents(stack.tenant);
    await stack.publishOk(job.status('pending'));
    let renewals = 0;
    const requests: Requested[] = [];
    const rec = {
      events: [] as StreamedEvent[],
      states: [] as ConnectionState[],
      errors: [] as ClientError[],
    };
    cleanups.push(
      subscribe({
        baseUrl: gateway.url,
        subjects: [keyOf(job)],
        token: 'not-a-token',
        getToken: () => {
          renewals += 1;
          return new SignJWT({ tenant: stack.tenant, scope: 'stream:read' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(new TextEncoder().encode(JWT_SECRET));
        },
        EventSource: statuslessEventSource(requests),
        onEvent: (event) => rec.events.push(event),
        onState: (state) => rec.states.push(state),
        onError: (error) => rec.errors.push(error),
      }),
    );
    await waitFor('the replayed event', () => rec.events.length === 1);
    expect(renewals).toBe(1);
    expect(rec.states).toEqual(['connecting', 'reconnecting', 'live']);
    expect(rec.errors).toEqual([]);
    expect(requests.map((r) => new URL(r.url).searchParams.get('access_token'))).toEqual(['not-a-token', expect.stringMatching(/^ey/)]);
  });
});

describe('@fanout/client against a crafted SSE server', () => {
  let server: Server;
  let baseUrl: string;
  let script: string[] = [];
  let seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.end(`retry: 60000\n\n${script.join('')}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const streamed = (event: TestEvent, seq: number) => ({ ...event, data: event.type === 'job.status' ? { attempt: 1, ...event.data } : event.data, seq, publishedAt: new Date().toISOString() });
  const frame = (name: string, data: unknown, id?: string) => `${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

  test('a skipped seq is reported as a gap; server gaps are surfaced; duplicates, invalid frames and foreign subjects are not delivered', async () => {
    const t = 'crafted';
    const a = jobEvents(t, 'a');
    const b = jobEvents(t, 'b');
    const events: [TestEvent, number][] = [
      [a.status('pending'), 1],
      [b.status('pending'), 1],
      [a.status('scheduled'), 2],
      [a.progress(10), 4], // seq 3 never came
    ];
    script = [
      ...events.map(([e, seq], i) => frame(e.type, streamed(e, seq), `c${i}`)),
      frame('gap', { reason: 'history_trimmed', firstAvailableSeq: 5, subject: { kind: 'job', id: 'b' } }),
      frame('job.progress', streamed(b.progress(20), 5), 'c5'),
      frame('job.progress', streamed(a.progress(10), 4), 'c6'), // a duplicate
      frame('job.status', { ...streamed(a.status('running'), 5), data: { status: 'flying', attempt: 1 } }, 'c7'),
      frame('job.status', streamed(makeEvent(t, 'job', 'stranger', 'job.status', { status: 'pending' }), 1), 'c8'),
      frame('heartbeat', { ts: new Date().toISOString() }),
      frame('job.status', streamed(a.status('succeeded'), 5), 'c9'),
      frame('job.status', streamed(b.status('canceled'), 6), 'c10'),
      frame('end', { reason: 'completed' }),
    ];
    seen = [];
    const rec = record({ baseUrl, subjects: ['job:a', 'job:b'], tenant: undefined });
    await rec.until('the ended state', () => rec.states.at(-1) === 'ended');
    expect(seen).toEqual(['/api/v1/stream?subjects=job:a,job:b']);
    expect(rec.events.map(({ event, meta }) => [event.subject.id, event.seq, meta.id])).toEqual([
      ['a', 1, 'c0'],
      ['b', 1, 'c1'],
      ['a', 2, 'c2'],
      ['a', 4, 'c3'],
      ['b', 5, 'c5'],
      ['a', 5, 'c9'],
      ['b', 6, 'c10'],
    ]);
    expect(rec.gaps).toEqual([
      { source: 'client', subject: { kind: 'job', id: 'a' }, reason: 'seq_skipped', expectedSeq: 3, receivedSeq: 4 },
      { source: 'server', subject: { kind: 'job', id: 'b' }, reason: 'history_trimmed', firstAvailableSeq: 5 },
    ]);
    expect(rec.errors.map((e) => e.kind)).toEqual(['invalid_frame', 'invalid_frame']);
    expect(rec.errors[1]!.message).toMatch(/job:stranger/);
    expect(rec.states).toEqual(['connecting', 'live', 'ended']);
  });

  test('on a single-subject stream a gap names no subject: it is the one subject', async () => {
    const c = jobEvents('crafted', 'c');
    script = [
      frame('gap', { reason: 'history_lost', firstAvailableSeq: 1 }),
      frame('job.status', streamed(c.status('pending'), 1), 'x1'),
      frame('job.status', streamed(c.status('canceled'), 2), 'x2'),
      frame('end', { reason: 'completed' }),
    ];
    seen = [];
    const rec = record({ baseUrl: `${baseUrl}/`, subjects: ['job:c'] });
    await rec.until('the ended state', () => rec.states.at(-1) === 'ended');
    expect(seen).toEqual(['/api/v1/stream/jobs/c']);
    expect(rec.gaps).toEqual([{ source: 'server', subject: { kind: 'job', id: 'c' }, reason: 'history_lost', firstAvailableSeq: 1 }]);
    expect(rec.events.map(({ event }) => event.seq)).toEqual([1, 2]);
  });
});

test('stop() while reconnecting to a gateway that does not answer leaves no timer behind: a Node process exits at once', async () => {
  const { execFile } = await import('node:child_process');
  // A port with nothing listening: every connection is refused.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const script = `
    const { EventSource } = require('eventsource');
    const { subscribe } = require('@fanout/client');
    let errors = 0;
    // Counts the EventSource's errors; acts once the client's own handler (added later) has run.
    class Counting extends EventSource {
      constructor(...args) {
        super(...args);
        this.addEventListener('error', () => {
          if (++errors !== 2) return;
          setImmediate(() => {
            stop();
            setImmediate(() => console.log(JSON.stringify(process.getActiveResourcesInfo().filter((r) => r === 'Timeout'))));
          });
        });
      }
    }
    const stop = subscribe({ baseUrl: 'http://127.0.0.1:${port}', subjects: ['job:j1'], EventSource: Counting, reconnectDelayMs: 50, onEvent: () => {}, onState: () => {} });
  `;
  const output = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['-e', script], { cwd: __dirname, timeout: 60_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );
  expect(output.trim()).toBe('[]');
});
