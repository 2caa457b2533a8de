/**
 * Fault tests of issue 3 on the edges: a client that stops reading while ~50 MB go to its pack
 * run, one table of bad inputs at every boundary (each with its contract status, problem+json, and
 * no trace in Redis), and 10,000 subscriptions to unknown subjects that leave nothing behind.
 * Real redis-server and processes on loopback; timeouts are hang guards only.
 */
import { connect, Socket } from 'node:net';
import Redis from 'ioredis';
import { createParser } from 'eventsource-parser';
import { formatEventId, parseEventId } from '@fanout/bus';
import { FanoutProcess } from '../support/fanout-process';
import { closeAllStreams, openStream, within } from '../support/sse-client';
import { expectContiguous, packRunPlan, publishPaced, rssBytes } from '../support/resuming-client';
import { Stack, TestEvent, jobEvents, makeEvent, packRunEvents, postBytes, startStack, jsonOrUndefined } from '../support/stack';
import { sleep, waitFor } from '../support/wait';
import { sentinelEvent, untilSentinels } from '../support/sentinel';
import { GC_ON_SIGNAL_ENV, afterFullGc } from '../support/full-gc';

jest.setTimeout(120_000);

type Json = Record<string, any>;
let stack: Stack;
let admin: Redis;

beforeAll(async () => {
  // The gateway collects its garbage on SIGUSR2, so memory can be read without it (see afterFullGc).
  stack = await startStack({ gateways: 1, gatewayEnv: GC_ON_SIGNAL_ENV });
  admin = stack.redis.client();
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

const MiB = 1024 * 1024;
const PROBLEM = /^application\/problem\+json\b/;

/** A raw HTTP/1.1 GET of an SSE stream over a plain socket, which the test can make stop reading. */
function rawSseClient(gateway: FanoutProcess, path: string, tenant: string) {
  const socket: Socket = connect(gateway.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-Tenant: ${tenant}\r\n\r\n`);
  const text = () => Buffer.concat(chunks).toString('utf8');
  return {
    text,
    /** Stops reading: the kernel's buffers fill, then the gateway's. */
    stopReading: () => socket.pause(),
    /** Reads again, to the end of what the gateway had sent before it dropped us. */
    readToEnd: async (timeoutMs: number) => {
      socket.resume();
      await within('the dropped socket to close', closed, timeoutMs);
      return text();
    },
    destroy: () => socket.destroy(),
  };
}

/** The domain frames of a raw HTTP response body (everything after the headers), as a standard SSE parser sees them. */
function parseSseBody(raw: string): { id?: string; event: string; data: string }[] {
  const start = raw.indexOf('\r\n\r\n');
  if (start < 0) throw new Error(`no HTTP header end in ${JSON.stringify(raw.slice(0, 200))}`);
  const frames: { id?: string; event: string; data: string }[] = [];
  const parser = createParser({ onEvent: (m) => frames.push({ id: m.id, event: m.event ?? 'message', data: m.data }) });
  parser.feed(raw.slice(start + 4));
  return frames;
}

test('slow client: one raw socket stops reading while ~50 MB of pack_run.log go to its pack run; it is dropped (slow_consumer), the gateway RSS stays bounded, a reading client gets every event, and the slow one resumed gets everything it missed', async () => {
  const BUFFER_BYTES = 512 * 1024;
  const LINES = 6300;
  const gateway = await stack.addGateway({ FANOUT_CLIENT_BUFFER_BYTES: BUFFER_BYTES });
  const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(230).slice(0, 8000);
  const plan = packRunPlan(stack.tenant, LINES + 5, { message: (lineNo) => `${lineNo} ${filler}`.slice(0, 8000) });
  const total = plan.events.length;
  const path = `/api/v1/stream/pack-runs/${plan.id}`;
  await stack.publishOk(plan.events.slice(0, 3));

  const slow = rawSseClient(gateway, path, stack.tenant);
  let reader: Awaited<ReturnType<typeof openStream>> | undefined;
  let sampling = true;
  try {
    // The slow client reads the replayed first events, then stops reading.
    await waitFor('the slow client to get the first events', () => parseSseBody(slow.text()).filter((f) => f.id).length >= 3, 15_000);
    slow.stopReading();
    reader = await openStream(`${gateway.url}${path}`, { headers: { 'X-Tenant': stack.tenant } });
    expect(reader.status).toBe(200);
    await reader.waitForEvents(3);

    const droppedBefore = (await gateway.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })) ?? 0;
    const baselineRss = rssBytes(gateway.pid);
    let peakRss = baselineRss;
    const sampler = (async () => {
      while (sampling) {
        peakRss = Math.max(peakRss, rssBytes(gateway.pid));
        await sleep(50);
      }
    })();
    const bytes = plan.events.slice(3).reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0);
    expect(bytes).toBeGreaterThan(48 * MiB);

    const started = Date.now();
    await publishPaced(stack, plan.events.slice(3), { batchSize: 16, pauseMs: 0 });
    const publishedIn = Date.now() - started;
    await reader.waitForEvents(total, 60_000);
    sampling = false;
    await sampler;
    expect(dataOf(await reader.waitForFrame('end', 15_000))).toEqual({ reason: 'completed' });

    const growth = peakRss - baselineRss;
    console.log(`slow client: ${(bytes / MiB).toFixed(1)} MiB published in ${publishedIn} ms; gateway RSS ${(baselineRss / MiB).toFixed(1)} MiB at the start, peak +${(growth / MiB).toFixed(1)} MiB`);
    // The reading client got every event, in order, on its one connection.
    expectContiguous(reader.eventData().map((e) => e.seq), 1, total, 'the reading client');
    expect(reader.eventData().map((e) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
    expect(reader.named('gap')).toHaveLength(0);

    // The slow one was dropped and counted.
    const droppedAfter = (await gateway.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })) ?? 0;
    expect(droppedAfter - droppedBefore).toBe(1);
    // The bound: peak RSS at most 48 MiB over its level before publishing. Measured here, pumping ~50 MB through
    // the gateway costs ~30-35 MiB of transient buffers awaiting GC whatever the clients do; a slow client kept
    // instead of dropped adds the ~45 MB of backlog the kernel did not take (peaks of 47-60 MiB were measured);
    // that it was dropped is proven by the metric and the closed socket, not by this bound.
    expect(growth).toBeLessThan(48 * MiB);

    // What the slow client had got before the drop is a contiguous prefix; resumed, it gets all the rest.
    const before = parseSseBody(await slow.readToEnd(30_000)).filter((f) => f.id !== undefined);
    const seqsBefore = before.map((f) => (JSON.parse(f.data) as Json).seq as number);
    expect(before.length).toBeLessThan(total);
    expectContiguous(seqsBefore, 1, seqsBefore.length, 'the slow client before its drop');
    const resumed = await openStream(`${gateway.url}${path}`, { headers: { 'X-Tenant': stack.tenant }, lastEventId: before.at(-1)!.id });
    expect(resumed.status).toBe(200);
    await resumed.waitForEvents(total - before.length, 60_000);
    expect(dataOf(await resumed.waitForFrame('end', 15_000))).toEqual({ reason: 'completed' });
    const all = [...seqsBefore, ...resumed.eventData().map((e) => e.seq as number)];
    expectContiguous(all, 1, total, 'the slow client, before and after resuming');
    expect(resumed.named('gap')).toHaveLength(0);
  } finally {
    sampling = false;
    slow.destroy();
    reader?.close();
    await stack.stopProcess(gateway);
  }
});

const dataOf = (frame: { data: string }): Json => JSON.parse(frame.data) as Json;

test('clients that read get batches larger than their buffer limit (500 log lines of ~2.4 KB, 1.2 MB each) on their one connection: one write goes to a client within the limit, so none is dropped', async () => {
  const gateway = await stack.addGateway({});
  const LINE = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(70);
  const plan = packRunPlan(stack.tenant, 1500, { terminal: false, message: (lineNo) => `${lineNo} ${LINE}` });
  const [head, ...batches] = [plan.events.slice(0, 3), ...[3, 503, 1003].map((from) => plan.events.slice(from, from + 500))];
  const path = `/api/v1/stream/pack-runs/${plan.id}`;
  await stack.publishOk(head!);
  const readers = await Promise.all(Array.from({ length: 3 }, () => openStream(`${gateway.url}${path}`, { headers: { 'X-Tenant': stack.tenant } })));
  try {
    for (const reader of readers) await reader.waitForEvents(3);
    // Each batch once the readers have the one before: a batch is one write, and it alone is over the limit.
    let published = head!.length;
    for (const batch of batches) {
      expect(batch.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0)).toBeGreaterThan(1.1 * MiB);
      await stack.publishOk(batch);
      published += batch.length;
      for (const reader of readers) await reader.waitForEvents(published, 30_000);
    }
    for (const reader of readers) expectContiguous(reader.eventData().map((e) => e.seq as number), 1, plan.events.length, 'a reading client');
    expect(await gateway.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })).toBe(0);
    expect(await gateway.metric('fanout_gateway_connections', { kind: 'pack-run' })).toBe(3);
  } finally {
    for (const reader of readers) reader.close();
    await stack.stopProcess(gateway);
  }
});

interface Answer {
  status: number;
  contentType: string | undefined;
  text: string;
  json: Json | undefined;
}

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type') ?? undefined, text, json: jsonOrUndefined<Json>(text) };
}

/** A GET whose headers are bigger than the server takes, over a raw socket (fetch refuses nothing, but the answer may come before the request is read). */
function oversizeHeaderGet(url: string, headerBytes: number): Promise<Answer> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to an oversize header request within 10 s`));
    }, 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      const raw = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      const headEnd = raw.indexOf('\r\n\r\n');
      const head = headEnd < 0 ? raw : raw.slice(0, headEnd);
      const body = headEnd < 0 ? '' : raw.slice(headEnd + 4);
      let json: Json | undefined;
      try {
        json = JSON.parse(body) as Json;
      } catch {
        json = undefined;
      }
      resolve({ status, contentType: /\r\ncontent-type: *([^\r\n]*)/i.exec(head)?.[1], text: raw.slice(0, 500), json });
    });
    socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nX-Filler: ${'f'.repeat(headerBytes)}\r\n\r\n`);
  });
}

test('bad input at every boundary: the contract status, a problem+json naming the problem, and no trace in Redis', async () => {
  // Everything refused here is for a tenant of its own: afterwards Redis must hold no key of it.
  const tenant = `bad-${Date.now().toString(36)}`;
  const pub = `${stack.publisher.url}/api/v1/events`;
  const gw = stack.gateways[0]!.url;
  const json = { 'Content-Type': 'application/json', 'X-Tenant': tenant };
  const post = (body: unknown, headers: Record<string, string> = json) =>
    request(pub, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const get = (path: string, headers: Record<string, string> = {}) => request(`${gw}${path}`, { headers: { 'X-Tenant': tenant, ...headers } });
  const job = jobEvents(tenant);
  const pr = packRunEvents(tenant);
  const valid = job.status('pending');
  const { data: _data, ...noData } = valid;

  // A subject of the test's own tenant to aim resume positions and transitions at.
  const known = jobEvents(stack.tenant);
  await stack.publishOk([known.status('pending'), known.status('scheduled')]);
  const seen = await openStream(`${gw}/api/v1/stream/jobs/${known.id}`, { headers: { 'X-Tenant': stack.tenant } });
  await seen.waitForEvents(2);
  const epoch = parseEventId(seen.events()[0]!.id!)!.epoch;
  seen.close();
  const finished = jobEvents(stack.tenant);
  await stack.publishOk([finished.status('pending'), finished.status('canceled')]);
  const readKnown = (path: string, lastEventId?: string) =>
    request(`${gw}${path}`, { headers: { 'X-Tenant': stack.tenant, ...(lastEventId !== undefined ? { 'Last-Event-ID': lastEventId } : {}) } });
  const never = jobEvents(stack.tenant);
  const keysBefore = await admin.dbsize();

  type Case = [name: string, call: () => Promise<Answer>, status: number, detail?: RegExp, errorPath?: RegExp];
  const cases: Case[] = [
    // Publishing
    ['malformed JSON', () => post('{"eventId": "x", "tenant": '), 400, /JSON/i],
    ['a JSON body that is not an object', () => post('[1,2]'), 400],
    ['wrong content type', () => post(JSON.stringify(valid), { 'Content-Type': 'text/plain', 'X-Tenant': tenant }), 415, /JSON/],
    ['no content type', () => request(pub, { method: 'POST', body: new Uint8Array(Buffer.from(JSON.stringify(valid))) }), 415],
    ['unknown type', () => post({ ...valid, type: 'job.exploded' }), 400, undefined, /type/],
    ['unknown top-level field', () => post({ ...valid, extra: 1 }), 400, undefined, /extra|^$/],
    ['unknown data field', () => post({ ...job.progress(5), data: { percent: 5, bogus: true } }), 400, undefined, /data/],
    ['missing data', () => post(noData), 400, undefined, /data/],
    ['a type on the wrong subject kind', () => post(makeEvent(tenant, 'pack-run', 'p1', 'job.status', { status: 'pending' })), 400],
    ['an unknown subject kind', () => post({ ...valid, subject: { kind: 'widget', id: 'w1' } }), 400, undefined, /subject/],
    ['percent over 100', () => post(job.progress(101)), 400, undefined, /percent/],
    ['an empty eventId', () => post({ ...valid, eventId: '' }), 400, undefined, /eventId/],
    ['a 129-character eventId', () => post({ ...valid, eventId: 'e'.repeat(129) }), 400, undefined, /eventId/],
    ['a bad occurredAt', () => post({ ...valid, occurredAt: 'yesterday' }), 400, undefined, /occurredAt/],
    ['an illegal tenant', () => post({ ...valid, tenant: 'a b' }), 400, undefined, /tenant/],
    ['a subject id with illegal characters', () => post({ ...valid, subject: { kind: 'job', id: 'a/b c' } }), 400, undefined, /subject/],
    ['a 10 KiB subject id', () => post({ ...valid, subject: { kind: 'job', id: 'x'.repeat(10 * 1024) } }), 400, undefined, /subject/],
    ['a log message over 8 KiB', () => post({ events: [pr.status('pending'), pr.log(0, 1, 'stdout', 'm'.repeat(8 * 1024 + 1))] }), 400, undefined, /message/],
    ['an event over 64 KiB', () => postBytes(pub, JSON.stringify(pr.log(0, 1, 'stdout', 'm'.repeat(65 * 1024))), json).then(fromPostBytes), 413, /65536|64/],
    ['a body over 4 MiB', () => postBytes(pub, JSON.stringify({ events: Array.from({ length: 500 }, (_, i) => pr.log(0, i + 1, 'stdout', 'z'.repeat(8 * 1024))) }), json).then(fromPostBytes), 413],
    ['a batch of 501', () => post({ events: Array.from({ length: 501 }, () => job.progress(1)) }), 400, /501/],
    ['an empty batch', () => post({ events: [] }), 400],
    ['a bad X-Tenant header', () => post(valid, { 'Content-Type': 'application/json', 'X-Tenant': 'a b' }), 400, /X-Tenant/],
    // Transitions (this test's own tenant; checked below to have stored nothing)
    ['a first status that is not pending or scheduled', () => stack.publish(never.status('running')).then(fromStack), 409, /none.*running|running.*none/s],
    ['a non-status first event', () => stack.publish(never.progress(3)).then(fromStack), 409, /none/],
    ['an illegal transition', () => stack.publish(known.status('succeeded')).then(fromStack), 409, /scheduled.*succeeded|succeeded.*scheduled/s],
    ['a retry without a higher attempt', () => stack.publish(known.status('throttled', { attempt: 3 })).then(fromStack), 409],
    ['an event after a terminal one', () => stack.publish(finished.status('scheduled')).then(fromStack), 409, /canceled/],
    ['progress after a terminal one', () => stack.publish(finished.progress(50)).then(fromStack), 409, /canceled/],
    // Subscribing
    ['a subject id with illegal characters', () => get('/api/v1/stream/jobs/a%20b'), 400, /subject id/],
    ['a subject id with a slash', () => get('/api/v1/stream/jobs/a%2Fb'), 400],
    ['a 10 KiB subject id', () => get(`/api/v1/stream/jobs/${'x'.repeat(10 * 1024)}`), 400],
    ['an unknown kind', () => get('/api/v1/stream/widgets/w1'), 404],
    ['an unknown subject', () => get(`/api/v1/stream/jobs/${never.id}`), 404],
    ['a non-numeric Last-Event-ID', () => readKnown(`/api/v1/stream/jobs/${known.id}`, 'abc'), 400, /resume/],
    ['a negative Last-Event-ID', () => readKnown(`/api/v1/stream/jobs/${known.id}`, `${epoch}--1`), 400],
    ['an enormous Last-Event-ID', () => readKnown(`/api/v1/stream/jobs/${known.id}`, `${epoch}-${'9'.repeat(40)}`), 400],
    ['a Last-Event-ID from the future', () => readKnown(`/api/v1/stream/jobs/${known.id}`, formatEventId(epoch, 999_999_999)), 400, /ahead/],
    ['a malformed ?lastEventId=', () => readKnown(`/api/v1/stream/jobs/${known.id}?lastEventId=-5`), 400],
    ['a bad X-Tenant header', () => get(`/api/v1/stream/jobs/${known.id}`, { 'X-Tenant': 'a b' }), 400],
    ['no subjects on the multi-subject stream', () => get('/api/v1/stream'), 400, /subjects/],
    ['101 subjects', () => get(`/api/v1/stream?subjects=${Array.from({ length: 101 }, (_, i) => `job:j${i}`).join(',')}`), 400, /100/],
    ['a malformed subject entry', () => get('/api/v1/stream?subjects=job'), 400, /malformed/],
    ['an entry of an unknown kind', () => get('/api/v1/stream?subjects=widget:w1'), 400],
    ['an unknown subject among known ones', () => readKnown(`/api/v1/stream?subjects=job:${known.id},job:${never.id}`), 404],
    ['a malformed multi-subject cursor', () => readKnown(`/api/v1/stream?subjects=job:${known.id}`, 'not-a-cursor'), 400],
    // History and subjects
    ['history: after=-1', () => readKnown(`/api/v1/jobs/${known.id}/events?after=-1`), 400, undefined, /after/],
    ['history: after=abc', () => readKnown(`/api/v1/jobs/${known.id}/events?after=abc`), 400, undefined, /after/],
    ['history: limit=0', () => readKnown(`/api/v1/jobs/${known.id}/events?limit=0`), 400, undefined, /limit/],
    ['history: limit=1001', () => readKnown(`/api/v1/jobs/${known.id}/events?limit=1001`), 400, undefined, /limit/],
    ['history: limit=1.5', () => readKnown(`/api/v1/jobs/${known.id}/events?limit=1.5`), 400, undefined, /limit/],
    ['history: a bad subject id', () => get('/api/v1/jobs/a%20b/events'), 400],
    ['history: an unknown kind', () => get('/api/v1/widgets/w1/events'), 404],
    ['history: an unknown subject', () => get(`/api/v1/jobs/${never.id}/events`), 404],
    ['subjects: kind=widget', () => get('/api/v1/subjects?kind=widget'), 400, undefined, /kind/],
    ['subjects: limit=abc', () => get('/api/v1/subjects?limit=abc'), 400, undefined, /limit/],
    ['subjects: limit=0', () => get('/api/v1/subjects?limit=0'), 400, undefined, /limit/],
    // Routes and HTTP itself
    ['an unknown gateway route', () => get('/api/v1/nope'), 404, /nope/],
    ['an unknown publisher route', () => request(`${stack.publisher.url}/api/v2/events`, { method: 'POST' }), 404],
    ['a POST to a stream route', () => request(`${gw}/api/v1/stream/jobs/${known.id}`, { method: 'POST' }), 405, /use GET$/],
    ['a GET of the publish route', () => request(pub), 405, /use POST$/],
    ['oversize headers (gateway)', () => oversizeHeaderGet(`${gw}/api/v1/stream/jobs/${known.id}`, 20 * 1024), 431],
    ['oversize headers (publisher)', () => oversizeHeaderGet(pub, 20 * 1024), 431],
  ];

  const failures: string[] = [];
  for (const [name, call, status, detail, errorPath] of cases) {
    const answer = await call();
    const problems: string[] = [];
    if (answer.status !== status) problems.push(`status ${answer.status}, expected ${status}`);
    if (!PROBLEM.test(answer.contentType ?? '')) problems.push(`content type ${answer.contentType}`);
    const body = answer.json;
    if (!body || body.status !== status || typeof body.title !== 'string' || typeof body.detail !== 'string' || body.detail.length === 0) {
      problems.push('not a problem with title, status and detail');
    } else {
      if (detail && !detail.test(body.detail)) problems.push(`detail ${JSON.stringify(body.detail)} does not match ${detail}`);
      if (errorPath) {
        const errors = body.errors as { path: string; message: string }[] | undefined;
        if (!Array.isArray(errors) || !errors.some((e) => typeof e.message === 'string' && errorPath.test(e.path))) {
          problems.push(`errors ${JSON.stringify(errors)?.slice(0, 300)} name no path matching ${errorPath}`);
        }
      }
    }
    if (problems.length) failures.push(`${name}: ${problems.join('; ')} (body ${answer.text.slice(0, 300)})`);
  }
  expect(failures).toEqual([]);

  // No trace: no key of the refused tenant, nothing new for the refused subjects, nothing added to the known ones.
  expect(await admin.keys(`*${tenant}*`)).toEqual([]);
  expect(await admin.keys(`*${never.id}*`)).toEqual([]);
  expect(await admin.dbsize()).toBe(keysBefore);
  const knownHistory = await stack.history('job', known.id);
  expect(knownHistory.json.events.map((e: Json) => e.data.status)).toEqual(['pending', 'scheduled']);
  const finishedHistory = await stack.history('job', finished.id);
  expect(finishedHistory.json.events.map((e: Json) => e.data.status)).toEqual(['pending', 'canceled']);
});

function fromPostBytes(answer: { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }): Answer {
  return { status: answer.status, contentType: answer.headers['content-type'] as string | undefined, text: answer.text, json: answer.json };
}

function fromStack(answer: { status: number; headers: Headers; text: string; json: any }): Answer {
  return { status: answer.status, contentType: answer.headers.get('content-type') ?? undefined, text: answer.text, json: answer.json };
}

test('a log message holding "\\n\\nevent: end\\ndata: {}\\r" arrives intact, as data, in one frame; a foreign-epoch Last-Event-ID gets gap {history_lost} and the full replay', async () => {
  const pr = packRunEvents(stack.tenant);
  const hostile = 'before\n\nevent: end\ndata: {}\r';
  const others = ['\r\n\r\nid: 1\n', 'data: x\n\nretry: 1\n\n', ':comment\n\u2028\u2029 ✓'];
  const events: TestEvent[] = [pr.status('pending'), pr.status('running'), pr.step(0, 'build', 'running'), pr.log(0, 1, 'stdout', hostile)];
  others.forEach((message, i) => events.push(pr.log(0, i + 2, 'stderr', message)));
  await stack.publishOk(events);
  const s = await stack.open('pack-run', pr.id);
  await s.waitForEvents(events.length);
  // A sentinel after them (seq 8): a frame the hostile text made up would be in before it.
  const withoutSentinel = await untilSentinels(s, (e) => stack.publishOk(e), [sentinelEvent(stack.tenant, pr)]);
  expect(withoutSentinel(s.frames).filter((f) => f.event !== 'retry' && f.event !== 'heartbeat').map((f) => f.event)).toEqual([
    'pack_run.status',
    'pack_run.status',
    'pack_run.step',
    'pack_run.log',
    'pack_run.log',
    'pack_run.log',
    'pack_run.log',
  ]);
  const logs = withoutSentinel(s.named('pack_run.log')).map(dataOf);
  expect(logs.map((e) => e.data.message)).toEqual([hostile, ...others]);
  expect(s.named('end')).toHaveLength(0);
  const id = s.events()[1]!.id!;
  s.close();

  const position = parseEventId(id)!;
  const foreign = formatEventId(position.epoch === '0badc0de' ? 'deadbeef' : '0badc0de', 2);
  const r = await stack.open('pack-run', pr.id, { lastEventId: foreign });
  expect(r.status).toBe(200);
  await r.waitForEvents(events.length + 1);
  const gap = r.frames.find((f) => f.event === 'gap');
  expect(gap && dataOf(gap)).toEqual({ reason: 'history_lost', firstAvailableSeq: 1 });
  expect(r.frames.indexOf(gap!)).toBeLessThan(r.frames.indexOf(r.events()[0]!));
  expect(r.eventData().map((e) => e.seq)).toEqual([...events.map((_, i) => i + 1), events.length + 1]); // the sentinel last
});

test('subscribing to 10,000 distinct unknown subject ids leaves no bus subscription, no new Redis key and no gateway RSS growth beyond noise', async () => {
  const gateway: FanoutProcess = stack.gateways[0]!;
  const prefix = `ghost-${Date.now().toString(36)}`;
  const kinds = ['jobs', 'pack-runs', 'runs'];
  const ask = async (i: number): Promise<number> => {
    const response = await fetch(`${gateway.url}/api/v1/stream/${kinds[i % 3]}/${prefix}-${i}`, { headers: { 'X-Tenant': stack.tenant, Accept: 'text/event-stream' } });
    await response.arrayBuffer();
    return response.status;
  };
  const run = async (from: number, to: number): Promise<number[]> => {
    const statuses: number[] = [];
    let next = from;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < to) statuses.push(await ask(next++));
      }),
    );
    return statuses;
  };
  // Warm up with as many requests as are measured (JIT, pools, the heap's working size), then measure:
  // a heap that has reached its working size grows only by what is really retained.
  await run(0, 10_000);
  const keysBefore = await admin.dbsize();
  const subscriptionsBefore = await gateway.metric('fanout_gateway_subscriptions');
  await afterFullGc(gateway);
  const rssBefore = rssBytes(gateway.pid);
  const heapBefore = (await gateway.metric('nodejs_heap_size_used_bytes'))!;
  const statuses = await run(10_000, 20_000);
  expect(statuses).toHaveLength(10_000);
  expect(statuses.filter((s) => s !== 404)).toEqual([]);
  expect(await gateway.metric('fanout_gateway_subscriptions')).toBe(0);
  expect(subscriptionsBefore).toBe(0);
  expect((await gateway.metric('fanout_gateway_connections')) ?? 0).toBe(0);
  expect(await admin.dbsize()).toBe(keysBefore);
  expect(await admin.keys(`*${prefix}*`)).toEqual([]);
  // The subscriber connection holds only the canary channel: PUBSUB SHARDCHANNELS lists no subject channel.
  expect(((await admin.call('PUBSUB', 'SHARDCHANNELS', `*${prefix}*`)) as string[]).length).toBe(0);
  await afterFullGc(gateway);
  const growth = rssBytes(gateway.pid) - rssBefore;
  const heapGrowth = (await gateway.metric('nodejs_heap_size_used_bytes'))! - heapBefore;
  console.log(
    `10,000 unknown subjects: gateway RSS ${(rssBefore / MiB).toFixed(1)} MiB before, ${(growth / MiB).toFixed(1)} MiB growth; ` +
      `JS heap after a full GC ${(heapGrowth / MiB).toFixed(2)} MiB growth`,
  );
  // Both read after a full GC. RSS noise (pages V8 keeps) stays well under this bound; a leak of
  // 2.5 KiB per unknown subject would pass it, so the retained heap is checked too: what these
  // requests left behind, 200 bytes each at most.
  expect(growth).toBeLessThan(24 * MiB);
  expect(heapGrowth).toBeLessThan(2 * MiB);
});

