/**
 * No reconnect storms (issue 17, item 5): each stream's `retry:` hint is jittered within
 * FANOUT_RETRY_MS ± FANOUT_RETRY_JITTER_MS, and a draining replica ends its streams spread over
 * FANOUT_SHUTDOWN_SPREAD_MS, so its clients come back to the other replica over that window rather
 * than in one burst. Real redis-server, a publisher and gateways spawned through the CLI, raw SSE
 * clients over node:http. Timeouts are hang guards; the spread is measured.
 */
import { closeAllStreams, SseStream } from '../support/sse-client';
import { chunk, jobEvents, Stack, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

jest.setTimeout(120_000);

const RETRY_MS = 2000;
const JITTER_MS = 1000;
const SPREAD_MS = 3000;
const CLIENTS = 500;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, env: { FANOUT_RETRY_MS: RETRY_MS, FANOUT_RETRY_JITTER_MS: JITTER_MS } });
}, 60_000);

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

test('retry: differs between connections, within FANOUT_RETRY_MS ± FANOUT_RETRY_JITTER_MS', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const streams = await Promise.all(Array.from({ length: 40 }, () => stack.open('job', job.id)));
  const retries = await Promise.all(streams.map(async (s) => (await s.waitForFrame('retry', 10_000)).retry!));
  for (const retry of retries) {
    expect(retry).toBeGreaterThanOrEqual(RETRY_MS - JITTER_MS);
    expect(retry).toBeLessThanOrEqual(RETRY_MS + JITTER_MS);
  }
  expect(new Set(retries).size).toBeGreaterThanOrEqual(20);
  for (const s of streams) s.close();
});

test(`${CLIENTS} clients of a draining replica reconnect to another spread over FANOUT_SHUTDOWN_SPREAD_MS, not in one burst`, async () => {
  const draining = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: SPREAD_MS + 4000, FANOUT_SHUTDOWN_SPREAD_MS: SPREAD_MS });
  const other = stack.gateways[0]!;
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const streams: SseStream[] = [];
  for (const group of chunk(Array.from({ length: CLIENTS }, (_, i) => i), 50)) {
    streams.push(...(await Promise.all(group.map(() => stack.open('job', job.id, { gateway: draining })))));
  }
  await Promise.all(streams.map((s) => s.waitForEvents(1, 30_000)));

  // Each client reconnects to the other replica as soon as its stream ends (as EventSource does on `end` {shutdown} with retry: 0).
  const reconnectedAt: number[] = [];
  const reconnects = streams.map(async (s) => {
    await s.waitForFrame('end', 60_000);
    const again = await stack.open('job', job.id, { gateway: other, lastEventId: s.events()[0]!.id! });
    expect(again.status).toBe(200);
    reconnectedAt.push(performance.now());
    again.close();
  });
  const exited = draining.stop('SIGTERM');
  await Promise.all(reconnects);
  expect(await exited).toBe(0);
  for (const s of streams) expect(JSON.parse(s.named('end')[0]!.data)).toEqual({ reason: 'shutdown' });

  // The spread is the server's: when each stream got its `end` (taken as it arrived, before this
  // process queues 500 reconnects of its own, whose completions a loaded machine bunches together).
  const sorted = streams.map((s) => s.named('end')[0]!.at).sort((a, b) => a - b);
  const span = sorted[sorted.length - 1]! - sorted[0]!;
  // Spread over the window (a hang guard above it: the machine may be loaded)...
  expect(span).toBeGreaterThan(SPREAD_MS * 0.8);
  expect(span).toBeLessThan(SPREAD_MS + 3000);
  // ...and evenly: no tenth of the window takes more than a quarter of the clients (an even spread puts a tenth in each).
  const buckets = new Map<number, number>();
  for (const at of sorted) {
    const bucket = Math.floor(((at - sorted[0]!) / SPREAD_MS) * 10);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
  }
  expect(Math.max(...buckets.values())).toBeLessThanOrEqual(CLIENTS / 4);
  await waitFor('the reconnects to be counted', () => reconnectedAt.length === CLIENTS);
});
