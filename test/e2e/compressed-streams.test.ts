/**
 * Streams answer `Content-Encoding: gzip` to clients that ask: a raw client gunzipping the bytes
 * (streaming while live, and whole once ended) reads exactly what an uncompressed client of the
 * same stream reads, for single-subject, multi-subject and activity streams, with resume, gaps,
 * `end` and 204 unchanged; curl --compressed too. Real processes and Redis; timeouts are hang guards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { FanoutProcess } from '../support/fanout-process';
import { closeAllGzipStreams, GzipSseStream, openGzipStream } from '../support/gzip-sse-client';
import { chunk, jobEvents, packRunEvents, Stack, startStack } from '../support/stack';
import { openStalledClients, StalledClients } from '../support/stalled-clients';
import { waitFor } from '../support/wait';

const run = promisify(execFile);
let stack: Stack;
let quickHeartbeats: FanoutProcess;
let uncompressed: FanoutProcess;
let smallBuffers: FanoutProcess;
const stalled: StalledClients[] = [];

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
  [quickHeartbeats, uncompressed, smallBuffers] = await Promise.all([
    stack.addGateway({ FANOUT_HEARTBEAT_MS: 300 }),
    stack.addGateway({ FANOUT_COMPRESSION: 'off' }),
    stack.addGateway({ FANOUT_CLIENT_BUFFER_BYTES: 256 * 1024 }),
  ]);
}, 60_000);

afterEach(async () => {
  closeAllGzipStreams();
  await Promise.all(stalled.splice(0).map((clients) => clients.close()));
});
afterAll(() => stack?.stop(), 30_000);

const count = (text: string, needle: string): number => text.split(needle).length - 1;
const gzipOpen = (url: string, headers: Record<string, string> = {}): Promise<GzipSseStream> => openGzipStream(url, { 'X-Tenant': stack.tenant, ...headers });
const streamsUrl = (gateway: FanoutProcess, query: string): string => `${gateway.url}/api/v1/stream${query}`;

test('a gzip stream is the uncompressed stream, byte for byte once gunzipped; every gzip client gets the same bytes', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending')]);
  const [plain, a, b] = await Promise.all([stack.open('job', job.id), gzipOpen(stack.streamUrl('job', job.id)), gzipOpen(stack.streamUrl('job', job.id))]);
  expect(a.status).toBe(200);
  expect(a.headers['content-encoding']).toBe('gzip');
  expect(a.headers['vary']).toMatch(/Accept-Encoding/);
  expect(plain.headers['content-encoding']).toBeUndefined();
  expect(plain.headers['vary']).toMatch(/Accept-Encoding/);

  // Each batch is read while live, before the next is published: segments are flushed.
  await a.waitForText((t) => count(t, 'id: ') === 1, 'the replayed event');
  let published = 1;
  for (const batch of [[job.status('scheduled')], [job.progress(10), job.progress(20, 'twenty')], [job.status('leased'), job.status('running')]]) {
    await stack.publishOk(batch);
    published += batch.length;
    await a.waitForText((t) => count(t, 'id: ') === published, `${published} events, live`);
  }
  await stack.publishOk([job.status('succeeded')]);
  const [plainBody, aText] = await Promise.all([plain.body(), a.ended, b.ended]);
  expect(aText).toBe(plainBody);
  expect(count(aText, 'id: ')).toBe(7);
  expect(aText.endsWith('event: end\ndata: {"reason":"completed"}\n\n')).toBe(true);
  expect(gunzipSync(a.bytes).toString()).toBe(plainBody);
  expect(b.bytes.equals(a.bytes)).toBe(true);
  expect(a.bytes.length).toBeLessThan(Buffer.byteLength(plainBody));
});

test('resume, a gap and the 204 after the end are the same with gzip', async () => {
  const job = jobEvents(stack.tenant);
  const results = await stack.publishOk([job.status('pending'), job.status('scheduled'), job.progress(50), job.status('canceled')]);
  expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  const whole = await stack.open('job', job.id);
  const ids = (await whole.waitForEvents(4)).map((frame) => frame.id!);
  await whole.ended;

  const foreignEpoch = `${ids[1]!.startsWith('0') ? 'f' : '0'}${ids[1]!.slice(1)}`;
  for (const lastEventId of [ids[1]!, foreignEpoch]) {
    const [plain, gzip] = await Promise.all([stack.open('job', job.id, { lastEventId }), gzipOpen(stack.streamUrl('job', job.id), { 'Last-Event-ID': lastEventId })]);
    expect(gzip.headers['content-encoding']).toBe('gzip');
    const [plainBody, gzipText] = await Promise.all([plain.body(), gzip.ended]);
    expect(gzipText).toBe(plainBody);
    expect(gunzipSync(gzip.bytes).toString()).toBe(plainBody);
  }
  const resumed = await gzipOpen(stack.streamUrl('job', job.id), { 'Last-Event-ID': ids[1]! });
  const afterSecond = await resumed.ended;
  expect(count(afterSecond, 'id: ')).toBe(2);
  const lost = await gzipOpen(stack.streamUrl('job', job.id), { 'Last-Event-ID': foreignEpoch });
  expect(await lost.ended).toContain('event: gap\ndata: {"reason":"history_lost","firstAvailableSeq":1}');

  const done = await gzipOpen(stack.streamUrl('job', job.id), { 'Last-Event-ID': ids[3]! });
  expect(done.status).toBe(204);
  expect(done.headers['content-encoding']).toBeUndefined();
});

test('multi-subject and activity streams are gzip too and read the same as uncompressed', async () => {
  const t = stack.tenant;
  const job = jobEvents(t);
  const pack = packRunEvents(t);
  const activityUrl = streamsUrl(stack.gateways[0]!, '/subjects');
  const [plainActivityStream, gzipActivity] = await Promise.all([gzipOpen(activityUrl, { 'Accept-Encoding': 'identity' }), gzipOpen(activityUrl)]);
  expect(gzipActivity.headers['content-encoding']).toBe('gzip');
  expect(plainActivityStream.headers['content-encoding']).toBeUndefined();

  await stack.publishOk([job.status('pending'), pack.status('running', { steps: [{ index: 0, name: 'build' }] })]);
  const multiUrl = streamsUrl(stack.gateways[0]!, `?subjects=job:${job.id},pack-run:${pack.id}`);
  const [plainMulti, gzipMulti] = await Promise.all([gzipOpen(multiUrl, { 'Accept-Encoding': 'gzip;q=0, br' }), gzipOpen(multiUrl)]);
  expect(gzipMulti.headers['content-encoding']).toBe('gzip');
  expect(plainMulti.headers['content-encoding']).toBeUndefined();
  await gzipMulti.waitForText((text) => count(text, 'id: ') === 2, 'the two replayed events');

  await stack.publishOk([pack.step(0, 'build', 'running'), ...Array.from({ length: 20 }, (_, i) => pack.log(0, i + 1, 'stdout', `compiling module ${i}`))]);
  await stack.publishOk([job.status('canceled'), pack.step(0, 'build', 'succeeded'), pack.status('succeeded')]);
  const [plainMultiText, gzipMultiText] = await Promise.all([plainMulti.ended, gzipMulti.ended]);
  expect(gzipMultiText).toBe(plainMultiText);
  expect(count(gzipMultiText, 'id: ')).toBe(26);
  expect(gunzipSync(gzipMulti.bytes).toString()).toBe(plainMultiText);

  // Activity: the tenant's status changes so far (earlier tests' too), up to this pack run's end.
  const last = `"id":"${pack.id}"},"status":"succeeded"`;
  const upToLast = (text: string): boolean => text.includes(last) && text.endsWith('\n\n');
  const [plainActivityText, gzipActivityText] = await Promise.all([plainActivityStream.waitForText(upToLast, 'the pack run\'s end'), gzipActivity.waitForText(upToLast, 'the pack run\'s end')]);
  expect(gzipActivityText).toBe(plainActivityText);
  expect(count(gzipActivityText, `"id":"${job.id}"}`)).toBe(2);
});

test('heartbeats reach a gzip client while it waits (each segment is flushed)', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending')]);
  const gzip = await gzipOpen(stack.streamUrl('job', job.id, quickHeartbeats));
  expect(gzip.headers['content-encoding']).toBe('gzip');
  const text = await gzip.waitForText((t) => count(t, 'event: heartbeat') >= 3, 'three heartbeats', 10_000);
  expect(text).toMatch(/^retry: \d+\n\nid: [^\n]+\nevent: job\.status\n/);
  expect(text).toMatch(/event: heartbeat\ndata: \{"ts":"[^"]+"\}\n\n$/);
});

test('clients that do not ask, or refuse gzip, and FANOUT_COMPRESSION=off get the stream uncompressed', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('canceled')]);
  const url = stack.streamUrl('job', job.id);
  const [refused, none, off] = await Promise.all([
    gzipOpen(url, { 'Accept-Encoding': 'gzip;q=0, *;q=0' }),
    gzipOpen(url, { 'Accept-Encoding': '' }),
    gzipOpen(stack.streamUrl('job', job.id, uncompressed)),
  ]);
  const plainBody = await (await stack.open('job', job.id)).body();
  for (const stream of [refused, none, off]) {
    expect(stream.headers['content-encoding']).toBeUndefined();
    expect(await stream.ended).toBe(plainBody);
    expect(stream.bytes.toString()).toBe(plainBody);
  }
  expect(refused.headers['vary']).toMatch(/Accept-Encoding/);
  expect(off.headers['vary'] ?? '').not.toMatch(/Accept-Encoding/);
});

test('curl --compressed reads a gzip stream as the uncompressed one', async () => {
  const pack = packRunEvents(stack.tenant);
  await stack.publishOk([pack.status('running'), ...Array.from({ length: 50 }, (_, i) => pack.log(0, i + 1, 'stdout', `line ${i}`)), pack.status('failed')]);
  const url = stack.streamUrl('pack-run', pack.id);
  const plainBody = await (await stack.open('pack-run', pack.id)).body();
  const curl = await run('curl', ['-sS', '-N', '--compressed', '-D', '-', '-H', `X-Tenant: ${stack.tenant}`, '--max-time', '20', url], { maxBuffer: 1 << 24 });
  const [head, body] = [curl.stdout.slice(0, curl.stdout.indexOf('\r\n\r\n')), curl.stdout.slice(curl.stdout.indexOf('\r\n\r\n') + 4)];
  expect(head).toMatch(/^content-encoding: gzip$/im);
  expect(body).toBe(plainBody);
});

test('a gzip client that stops reading is dropped past FANOUT_CLIENT_BUFFER_BYTES (of compressed bytes) while a reader gets everything', async () => {
  const pack = packRunEvents(stack.tenant);
  await stack.publishOk([pack.status('running')]);
  const path = `/api/v1/stream/pack-runs/${pack.id}`;
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip\r\nX-Tenant: ${stack.tenant}\r\n\r\n`;
  const clients = openStalledClients(smallBuffers.port, request, { count: 1 });
  stalled.push(clients);
  await clients.untilOpened(1, 10_000);
  const reader = await gzipOpen(stack.streamUrl('pack-run', pack.id, smallBuffers));
  expect(reader.headers['content-encoding']).toBe('gzip');
  const droppedBefore = (await smallBuffers.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })) ?? 0;
  // Random text compresses little: ~6 MiB on the wire, past the 256 KiB limit and the kernel's buffers (≤ 4 MiB).
  const logs = Array.from({ length: 1000 }, (_, i) => pack.log(0, i + 1, 'stdout', randomBytes(6000).toString('base64').slice(0, 8000)));
  for (const batch of chunk(logs, 10)) await stack.publishOk(batch);
  await waitFor('the stalled gzip client to be dropped', async () => ((await smallBuffers.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })) ?? 0) > droppedBefore, 30_000);
  const text = await reader.waitForText((t) => count(t, 'id: ') === 1001, 'all 1001 events', 60_000);
  expect(text).toContain(`"lineNo":1000,`);
  expect(await smallBuffers.metric('fanout_gateway_connections', { kind: 'pack-run' })).toBe(1);
});
