/**
 * The seed test plan of the fan-out gateway (the "Done when"), end to end: real redis-server,
 * one publisher and two gateway replicas spawned through the CLI, raw SSE clients over node:http.
 * Timeouts are hang guards only.
 */
import { formatEventId, parseEventId } from '@fanout/bus';
import { CONTROL_FRAMES } from '@fanout/contracts';
import { closeAllStreams, openStream, runEventSource, SseFrame, SseStream, within } from '../support/sse-client';
import {
  chunk,
  jobEvents,
  Kind,
  packRunEvents,
  runEvents,
  seqsOf,
  Stack,
  startStack,
  TestEvent,
} from '../support/stack';
import { sleep, waitFor } from '../support/wait';
import { sentinelEvent, untilSentinels } from '../support/sentinel';
import { expectContiguous, schemaProblem } from '../support/frames';
import { RAPID_SEQUENCE_TITLE, RESUME_CASES, RESUME_TITLE, rapidSequence, resumeOnTheOtherReplica } from '../support/seed-scenarios';

const RETRY_MS = 1500;

type Json = Record<string, any>;
const dataOf = (frame: SseFrame): Json => JSON.parse(frame.data) as Json;

let stack: Stack;

beforeAll(async () => {
  // No jitter: the contract's `retry: <FANOUT_RETRY_MS>` exactly (no-storms.test.ts covers the jittered default).
  stack = await startStack({ gateways: 2, env: { FANOUT_RETRY_MS: RETRY_MS, FANOUT_RETRY_JITTER_MS: 0 } });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

/** Publishes the events one request at a time, in order. */
async function publishEach(events: TestEvent[]): Promise<void> {
  for (const event of events) await stack.publishOk(event);
}

/** The id of the domain frame with this seq. */
function idOfSeq(stream: SseStream, seq: number): string {
  const frame = stream.events().find((f) => dataOf(f).seq === seq);
  if (!frame?.id) throw new Error(`no frame with seq ${seq} on ${stream.url}`);
  return frame.id;
}

describe('seed plan', () => {
  test('1. a job pending → scheduled → leased → running → succeeded: one job.status frame per transition, then end completed; retry first; SSE headers', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk(job.status('pending'));
    const s = await stack.open('job', job.id);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['cache-control']).toBe('no-cache, no-transform');
    expect(s.headers['x-accel-buffering']).toBe('no');

    await s.waitForEvents(1);
    for (const status of ['scheduled', 'leased', 'running', 'succeeded']) await stack.publishOk(job.status(status));
    await s.waitForFrame('end');
    await within('the response to end cleanly after end', s.ended, 10_000);

    const frames = s.frames.filter((f) => f.event !== 'heartbeat');
    expect(frames[0]).toMatchObject({ event: 'retry', retry: RETRY_MS });
    expect(frames.map((f) => f.event)).toEqual(['retry', 'job.status', 'job.status', 'job.status', 'job.status', 'job.status', 'end']);
    const events = s.eventData();
    expect(events.map((e) => e.data.status)).toEqual(['pending', 'scheduled', 'leased', 'running', 'succeeded']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const end = frames[frames.length - 1]!;
    expect(end.id).toBeUndefined();
    expect(dataOf(end)).toEqual({ reason: 'completed' });
  });

  test('2. a pack-run of 3 steps with ≥ 20 log lines: pack_run.step frames carry stepIndex and status, pack_run.log frames stepIndex, lineNo, stream and message', async () => {
    const pr = packRunEvents(stack.tenant);
    const steps = [
      { index: 0, name: 'checkout' },
      { index: 1, name: 'build' },
      { index: 2, name: 'deploy' },
    ];
    await stack.publishOk(pr.status('pending', { packName: 'demo-pack', packVersion: '1.2.3', steps }));
    const s = await stack.open('pack-run', pr.id);
    expect(s.status).toBe(200);
    await s.waitForEvents(1);
    await stack.publishOk(pr.status('running'));

    const expectedSteps: Json[] = [];
    const expectedLogs: Json[] = [];
    for (const step of steps) {
      const batch: TestEvent[] = [pr.step(step.index, step.name, 'running')];
      expectedSteps.push({ stepIndex: step.index, stepName: step.name, status: 'running' });
      for (let line = 1; line <= 8; line++) {
        const stream = line % 3 === 0 ? 'stderr' : 'stdout';
        const message = `[${step.name}] line ${line}: ${'x'.repeat(line * 5)} ünïcødé ✓`;
        batch.push(pr.log(step.index, line, stream, message));
        expectedLogs.push({ stepIndex: step.index, lineNo: line, stream, message });
      }
      batch.push(pr.step(step.index, step.name, 'succeeded', { exitCode: 0, durationMs: 120 + step.index }));
      expectedSteps.push({ stepIndex: step.index, stepName: step.name, status: 'succeeded', exitCode: 0, durationMs: 120 + step.index });
      // Mix one-batch and one-by-one publishing.
      if (step.index === 1) await publishEach(batch);
      else await stack.publishOk(batch);
    }
    await stack.publishOk(pr.status('succeeded'));
    await s.waitForFrame('end');
    await within('the response to end cleanly', s.ended, 10_000);

    const stepFrames = s.named('pack_run.step').map(dataOf);
    const logFrames = s.named('pack_run.log').map(dataOf);
    expect(expectedLogs.length).toBeGreaterThanOrEqual(20);
    expect(stepFrames.map((e) => e.data)).toEqual(expectedSteps);
    expect(logFrames.map((e) => e.data)).toEqual(expectedLogs);
    expect(s.named('pack_run.status').map((f) => dataOf(f).data.status)).toEqual(['pending', 'running', 'succeeded']);
    expect(dataOf(s.named('end')[0]!)).toEqual({ reason: 'completed' });
    expectContiguous(seqsOf(s), 1, 3 + expectedSteps.length + expectedLogs.length, 'pack-run stream');
  });

  test('3. heartbeat: with FANOUT_HEARTBEAT_MS=300 and no events, heartbeats {"ts": ISO} arrive about every 300 ms', async () => {
    const gateway = await stack.addGateway({ FANOUT_HEARTBEAT_MS: 300 });
    try {
      const job = jobEvents(stack.tenant);
      await stack.publishOk(job.status('pending'));
      const s = await stack.open('job', job.id, { gateway });
      expect(s.status).toBe(200);
      await s.waitForFrames((frames) => frames.filter((f) => f.event === 'heartbeat').length >= 7, 15_000);
      const heartbeats = s.named('heartbeat');
      const spacing = heartbeats.slice(1).map((h, i) => h.at - heartbeats[i]!.at);
      const sorted = [...spacing].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      // On failure this prints every spacing measured.
      expect({ medianWithin200to900ms: median >= 200 && median <= 900, median, spacing: spacing.map(Math.round) }).toMatchObject({
        medianWithin200to900ms: true,
      });
      for (const h of heartbeats) {
        expect(h.id).toBeUndefined();
        const data = dataOf(h);
        expect(Object.keys(data)).toEqual(['ts']);
        expect(CONTROL_FRAMES.heartbeat.safeParse(data).success).toBe(true);
        expect(new Date(data.ts).toISOString()).toBe(data.ts);
      }
      // Nothing but the replayed status and heartbeats.
      expect(s.frames.filter((f) => f.event !== 'heartbeat').map((f) => f.event)).toEqual(['retry', 'job.status']);
      s.close();
    } finally {
      closeAllStreams();
      await stack.stopProcess(gateway);
    }
  });

  test('4. two clients on the same job, one on each replica, receive identical frames (same ids, same data)', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk(job.status('pending'));
    const a = await stack.open('job', job.id, { gateway: 0 });
    const b = await stack.open('job', job.id, { gateway: 1 });
    expect([a.status, b.status]).toEqual([200, 200]);
    await Promise.all([a.waitForEvents(1), b.waitForEvents(1)]);

    await stack.publishOk([job.status('scheduled'), job.status('leased')]);
    await stack.publishOk(job.status('running'));
    for (const percent of [10, 50, 90]) await stack.publishOk(job.progress(percent, `at ${percent}%`));
    await stack.publishOk(job.status('succeeded'));
    await Promise.all([a.waitForFrame('end'), b.waitForFrame('end')]);
    await within('both responses to end cleanly', Promise.all([a.ended, b.ended]), 10_000);

    const view = (s: SseStream) => s.events().map(({ id, event, data }) => ({ id, event, data }));
    expect(view(a)).toHaveLength(8);
    expect(view(b)).toEqual(view(a));
    expectContiguous(seqsOf(a), 1, 8, 'replica 0 client');
  });

  test('5. disconnecting one of two clients: the other keeps receiving every event; connections drop by one; subscriptions return to 0 when the last leaves', async () => {
    const gateway = await stack.addGateway();
    try {
      const connections = async () => (await gateway.metric('fanout_gateway_connections', { kind: 'job' })) ?? 0;
      const subscriptions = async () => (await gateway.metric('fanout_gateway_subscriptions')) ?? 0;
      expect(await connections()).toBe(0);
      expect(await subscriptions()).toBe(0);

      const job = jobEvents(stack.tenant);
      await stack.publishOk(job.status('pending'));
      const a = await stack.open('job', job.id, { gateway });
      const b = await stack.open('job', job.id, { gateway });
      await Promise.all([a.waitForEvents(1), b.waitForEvents(1)]);
      await waitFor('fanout_gateway_connections{kind="job"} = 2', async () => (await connections()) === 2, 10_000);
      expect(await subscriptions()).toBe(1);

      await stack.publishOk([job.status('scheduled'), job.status('leased'), job.status('running'), job.progress(10)]);
      await Promise.all([a.waitForEvents(5), b.waitForEvents(5)]);
      a.close();
      await waitFor('fanout_gateway_connections{kind="job"} to drop to 1', async () => (await connections()) === 1, 10_000);
      expect(await subscriptions()).toBe(1);

      for (let percent = 20; percent <= 90; percent += 10) await stack.publishOk(job.progress(percent));
      await b.waitForEvents(13);
      // Anything unexpected (a duplicate) would arrive before the sentinel.
      const withoutSentinel = await untilSentinels(b, (e) => stack.publishOk(e), [sentinelEvent(stack.tenant, job)]);
      const events = withoutSentinel(b.events()).map(dataOf);
      expectContiguous(events.map((e) => e.seq as number), 1, 13, 'the remaining client');
      expect(events.slice(5).map((e) => e.data.percent)).toEqual([20, 30, 40, 50, 60, 70, 80, 90]);

      b.close();
      await waitFor('fanout_gateway_connections{kind="job"} to drop to 0', async () => (await connections()) === 0, 10_000);
      await waitFor('fanout_gateway_subscriptions to return to 0', async () => (await subscriptions()) === 0, 10_000);
    } finally {
      closeAllStreams();
      await stack.stopProcess(gateway);
    }
  });

  test(RAPID_SEQUENCE_TITLE, () => rapidSequence(stack), 120_000);

  test('7. every frame parses with the contract schema for its event name, across streams with every event type of each kind', async () => {
    const t = stack.tenant;
    const job = jobEvents(t);
    const pr = packRunEvents(t);
    const run = runEvents(t);
    const withCorrelation = (e: TestEvent): TestEvent => ({ ...e, correlationId: 'corr-123' });

    const jobSeq: TestEvent[] = [
      job.status('pending', { jobType: 'build', runId: run.id }),
      job.status('scheduled'),
      job.status('throttled', { reason: 'tenant quota' }),
      job.status('scheduled'),
      job.status('leased'),
      job.status('running'),
      job.progress(12.5, 'compiling'),
      job.status('scheduled', { attempt: 2, reason: 'worker lost' }),
      job.status('leased'),
      withCorrelation(job.status('running', { attempt: 2 })),
      job.progress(100),
      job.status('succeeded'),
    ];
    const expectedAttempts = [1, 1, 1, 1, 1, 1, undefined, 2, 2, 2, undefined, 2];
    const packSeq: TestEvent[] = [
      pr.status('pending', { packName: 'p', packVersion: '1', steps: [{ index: 0, name: 'a' }, { index: 1, name: 'b' }, { index: 2, name: 'c' }] }),
      pr.status('running'),
      pr.step(0, 'a', 'pending'),
      pr.step(0, 'a', 'running'),
      pr.log(0, 1, 'stdout', 'hello', 'info'),
      pr.log(0, 2, 'stderr', 'careful', 'warn'),
      pr.step(0, 'a', 'succeeded', { exitCode: 0, durationMs: 5 }),
      pr.step(1, 'b', 'running'),
      withCorrelation(pr.log(1, 1, 'stdout', 'boom')),
      pr.step(1, 'b', 'failed', { exitCode: 2 }),
      pr.step(2, 'c', 'pending'),
      pr.step(2, 'c', 'skipped'),
      pr.status('failed'),
    ];
    const runSeq: TestEvent[] = [
      run.status('pending'),
      run.status('running'),
      run.progress({ total: 3, pending: 2, running: 1, succeeded: 0, failed: 0, canceled: 0 }),
      run.progress({ total: 3, pending: 0, running: 0, succeeded: 2, failed: 0, canceled: 1 }),
      run.status('completed'),
    ];

    const cases: { kind: Kind; id: string; events: TestEvent[]; gateway: number }[] = [
      { kind: 'job', id: job.id, events: jobSeq, gateway: 0 },
      { kind: 'pack-run', id: pr.id, events: packSeq, gateway: 1 },
      { kind: 'run', id: run.id, events: runSeq, gateway: 0 },
    ];
    for (const c of cases) {
      await stack.publishOk(c.events[0]!);
      const s = await stack.open(c.kind, c.id, { gateway: c.gateway });
      expect(s.status).toBe(200);
      await s.waitForEvents(1);
      await publishEach(c.events.slice(1, 4));
      await stack.publishOk(c.events.slice(4));
      await s.waitForFrame('end');
      await within('a clean end', s.ended, 10_000);

      const problems = s.frames.map(schemaProblem).filter(Boolean);
      expect(problems).toEqual([]);
      const types = new Set(s.events().map((f) => f.event));
      expect([...types].sort()).toEqual([...new Set(c.events.map((e) => e.type))].sort());

      // data is exactly the published event (defaults applied) plus seq and publishedAt.
      const received = s.eventData();
      expect(received).toHaveLength(c.events.length);
      received.forEach((got, i) => {
        const published = c.events[i]!;
        const data = { ...published.data };
        if (c.kind === 'job' && published.type === 'job.status') data.attempt = expectedAttempts[i];
        expect(got).toEqual({ ...published, data, seq: i + 1, publishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$/) });
      });
    }
  });

  test('8. with FANOUT_IDLE_TIMEOUT_MS=1000 and no events, the stream sends end {"reason":"idle_timeout"} and ends cleanly', async () => {
    const gateway = await stack.addGateway({ FANOUT_IDLE_TIMEOUT_MS: 1000 });
    try {
      const job = jobEvents(stack.tenant);
      await stack.publishOk(job.status('pending'));
      const opened = performance.now();
      const s = await stack.open('job', job.id, { gateway });
      expect(s.status).toBe(200);
      const end = await s.waitForFrame('end', 15_000);
      await within('a clean end after end', s.ended, 10_000);
      expect(end.at - opened).toBeGreaterThanOrEqual(900);
      expect(end.id).toBeUndefined();
      expect(dataOf(end)).toEqual({ reason: 'idle_timeout' });
      expect(s.frames.filter((f) => f.event !== 'heartbeat').map((f) => f.event)).toEqual(['retry', 'job.status', 'end']);
    } finally {
      closeAllStreams();
      await stack.stopProcess(gateway);
    }
  });
});

describe('resume', () => {
  test.each(RESUME_CASES)(RESUME_TITLE, (_label, via) => resumeOnTheOtherReplica(stack, via), 60_000);
});

describe('trimmed history (FANOUT_HISTORY_MAXLEN=10)', () => {
  let trimmed: Stack;
  beforeAll(async () => {
    trimmed = await startStack({ gateways: 1, redis: stack.redis, tenant: stack.tenant, env: { FANOUT_HISTORY_MAXLEN: 10, FANOUT_RETRY_MS: RETRY_MS } });
  }, 60_000);
  afterAll(async () => {
    await trimmed?.stop();
  }, 60_000);

  async function fiftyEvents(): Promise<{ job: ReturnType<typeof jobEvents>; idOf3: string }> {
    const job = jobEvents(trimmed.tenant);
    await trimmed.publishOk([job.status('pending'), job.status('scheduled'), job.status('leased')]);
    const first = await trimmed.open('job', job.id);
    await first.waitForEvents(3);
    const idOf3 = idOfSeq(first, 3);
    first.close();
    const rest = [job.status('running'), ...Array.from({ length: 46 }, (_, i) => job.progress(i))];
    for (const batch of chunk(rest, 12)) await trimmed.publishOk(batch);
    return { job, idOf3 };
  }

  /** The replay of `s` up to seq 50, then a sentinel published on the job: its frames before the sentinel are the whole replay. */
  async function expectTrimmedReplay(s: SseStream, job: ReturnType<typeof jobEvents>): Promise<void> {
    await s.waitForFrames((frames) => frames.some((f) => f.id !== undefined && dataOf(f).seq === 50));
    const withoutSentinel = await untilSentinels(s, (e) => trimmed.publishOk(e), [sentinelEvent(trimmed.tenant, job)]);
    const frames = withoutSentinel(s.frames).filter((f) => f.event !== 'heartbeat' && f.event !== 'retry');
    expect(frames[0]?.event).toBe('gap');
    const gap = dataOf(frames[0]!);
    expect(CONTROL_FRAMES.gap.safeParse(gap).success).toBe(true);
    expect(gap).toMatchObject({ reason: 'history_trimmed', firstAvailableSeq: expect.any(Number) });
    const n = gap.firstAvailableSeq as number;
    expect(n).toBeGreaterThan(4); // the client (at seq 3, or at none) really missed something
    expect(n).toBeLessThanOrEqual(41); // at least the last 10 are retained
    expect(frames.slice(1).every((f) => f.id !== undefined)).toBe(true);
    expectContiguous(frames.filter((f) => f.id !== undefined).map((f) => dataOf(f).seq as number), n, 50, 'the replay after the gap');
  }

  test('resuming below the retained history gets gap {history_trimmed, firstAvailableSeq: N} first, then N…50 contiguous', async () => {
    const { job, idOf3 } = await fiftyEvents();
    const s = await trimmed.open('job', job.id, { lastEventId: idOf3 });
    expect(s.status).toBe(200);
    await expectTrimmedReplay(s, job);
  });

  test('a client with no resume position on a trimmed subject gets gap first too', async () => {
    const { job } = await fiftyEvents();
    const s = await trimmed.open('job', job.id);
    expect(s.status).toBe(200);
    await expectTrimmedReplay(s, job);
  });
});

describe('answers before streaming', () => {
  async function problem(s: SseStream, status: number): Promise<Json> {
    const body = await s.body();
    expect({ status: s.status, contentType: s.headers['content-type'], body }).toEqual({
      status,
      contentType: expect.stringMatching(/^application\/problem\+json\b/),
      body: expect.any(String),
    });
    const json = JSON.parse(body) as Json;
    expect(json).toMatchObject({ title: expect.any(String), status, detail: expect.any(String) });
    return json;
  }

  test('204 on resume with the last event id of a terminal subject', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('canceled', { reason: 'user' })]);
    const first = await stack.open('job', job.id, { gateway: 1 });
    await first.waitForFrame('end');
    expect(dataOf(first.named('end')[0]!)).toEqual({ reason: 'completed' });
    const lastId = first.events().at(-1)!.id!;
    expect(first.events()).toHaveLength(3);

    for (const gateway of [0, 1]) {
      const again = await stack.open('job', job.id, { gateway, lastEventId: lastId });
      expect(again.status).toBe(204);
      expect(await again.body()).toBe('');
    }
    // A client that still misses the terminal event gets it, then end.
    const behind = await stack.open('job', job.id, { lastEventId: idOfSeq(first, 2) });
    expect(behind.status).toBe(200);
    await behind.waitForFrame('end');
    expect(seqsOf(behind)).toEqual([3]);
  });

  test('404 problem+json for an unknown subject', async () => {
    const s = await stack.open('job', `missing-${Date.now()}`);
    await problem(s, 404);
    const p = await stack.open('pack-run', `missing-${Date.now()}`, { gateway: 1 });
    await problem(p, 404);
  });

  test("404 for another tenant's subject, with a body byte-identical to an unknown subject's", async () => {
    const job = jobEvents(stack.tenant);
    const other = `other-${stack.tenant}`;
    const before = await stack.open('job', job.id, { tenant: other });
    const unknownBody = await before.body();
    expect(before.status).toBe(404);

    await stack.publishOk(job.status('pending'));
    const owner = await stack.open('job', job.id);
    expect(owner.status).toBe(200);
    owner.close();

    for (const gateway of [0, 1]) {
      const foreign = await stack.open('job', job.id, { tenant: other, gateway });
      const foreignBody = await foreign.body();
      expect(foreign.status).toBe(404);
      expect(foreign.headers['content-type']).toBe(before.headers['content-type']);
      expect(foreignBody).toBe(unknownBody);
    }
    await problem(await stack.open('job', job.id, { tenant: other }), 404);
  });

  test('400 problem+json for a malformed Last-Event-ID (header or query)', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk(job.status('pending'));
    await problem(await stack.open('job', job.id, { lastEventId: 'not-an-event-id' }), 400);
    await problem(await stack.open('job', job.id, { query: { lastEventId: 'zzzz-12' } }), 400);
  });

  test('400 problem+json for a subject id that is not valid percent-encoding, on the stream and the JSON history routes', async () => {
    await problem(await openStream(`${stack.gateways[0]!.url}/api/v1/stream/jobs/%E0%A4%A`, { headers: { 'X-Tenant': stack.tenant } }), 400);
    const history = await fetch(`${stack.gateways[0]!.url}/api/v1/jobs/%E0%A4%A/events`, { headers: { 'X-Tenant': stack.tenant } });
    expect(history.status).toBe(400);
    expect(history.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
    expect(await history.json()).toMatchObject({ title: expect.any(String), status: 400, detail: expect.any(String) });
  });

  test('the Last-Event-ID header wins over ?lastEventId=', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('leased')]);
    const s = await stack.open('job', job.id);
    await s.waitForEvents(3);
    const idOf1 = idOfSeq(s, 1);
    s.close();
    const both = await stack.open('job', job.id, { lastEventId: idOf1, query: { lastEventId: 'not-an-event-id' }, gateway: 1 });
    expect(both.status).toBe(200);
    await both.waitForEvents(2);
    const withoutSentinel = await untilSentinels(both, (e) => stack.publishOk(e), [sentinelEvent(stack.tenant, job)]);
    expect(withoutSentinel(both.events()).map((f) => dataOf(f).seq)).toEqual([2, 3]);
  });

  test('?lastEventId= given more than once: the last non-empty one counts (a polyfill appends the newer one to the URL)', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('leased')]);
    const s = await stack.open('job', job.id);
    await s.waitForEvents(3);
    const [first, second] = [idOfSeq(s, 1), idOfSeq(s, 2)];
    s.close();
    const url = `${stack.streamUrl('job', job.id, 1)}?lastEventId=${encodeURIComponent(first)}&lastEventId=${encodeURIComponent(second)}&lastEventId=`;
    const resumed = await openStream(url, { headers: { 'X-Tenant': stack.tenant } });
    expect(resumed.status).toBe(200);
    await resumed.waitForEvents(1);
    const withoutSentinel = await untilSentinels(resumed, (e) => stack.publishOk(e), [sentinelEvent(stack.tenant, job)]);
    expect(withoutSentinel(resumed.events()).map((f) => dataOf(f).seq)).toEqual([3]);
  });

  test('an empty Last-Event-ID counts as none', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled')]);
    const s = await stack.open('job', job.id, { lastEventId: '' });
    expect(s.status).toBe(200);
    await s.waitForEvents(2);
    expect(seqsOf(s)).toEqual([1, 2]);
  });

  test('400 for a Last-Event-ID from the future of the current epoch', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled')]);
    const s = await stack.open('job', job.id);
    await s.waitForEvents(2);
    const position = parseEventId(s.events()[1]!.id!);
    if (!position) throw new Error(`unexpected id format ${s.events()[1]!.id}`);
    s.close();
    await problem(await stack.open('job', job.id, { lastEventId: formatEventId(position.epoch, position.seq + 5), gateway: 1 }), 400);
  });

  test('an id from another epoch gives gap {history_lost} then the full replay', async () => {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('leased')]);
    const s = await stack.open('job', job.id);
    await s.waitForEvents(3);
    const position = parseEventId(s.events()[0]!.id!);
    if (!position) throw new Error(`unexpected id format ${s.events()[0]!.id}`);
    s.close();
    const otherEpoch = position.epoch === '0badc0de' ? 'deadbeef' : '0badc0de';

    const r = await stack.open('job', job.id, { lastEventId: formatEventId(otherEpoch, 2), gateway: 1 });
    expect(r.status).toBe(200);
    await r.waitForEvents(3);
    const withoutSentinel = await untilSentinels(r, (e) => stack.publishOk(e), [sentinelEvent(stack.tenant, job)]);
    const frames = withoutSentinel(r.frames).filter((f) => f.event !== 'heartbeat' && f.event !== 'retry');
    expect(frames[0]?.event).toBe('gap');
    expect(dataOf(frames[0]!)).toMatchObject({ reason: 'history_lost', firstAvailableSeq: 1 });
    expect(CONTROL_FRAMES.gap.safeParse(dataOf(frames[0]!)).success).toBe(true);
    expect(frames.filter((f) => f.id !== undefined).map((f) => dataOf(f).seq)).toEqual([1, 2, 3]);
  });
});

describe('the real eventsource package', () => {
  test('connects, receives the events with their ids, and resumes with the last id (204 after the terminal event stops it)', async () => {
    const job = jobEvents(stack.tenant);
    const statuses = ['pending', 'scheduled', 'leased', 'running', 'succeeded'];
    await stack.publishOk(job.status('pending'));
    const raw = await stack.open('job', job.id, { gateway: 1 });
    await raw.waitForEvents(1);

    const published = (async () => {
      await sleep(300);
      for (const status of statuses.slice(1)) await stack.publishOk(job.status(status));
    })();
    const run = await runEventSource(
      stack.streamUrl('job', job.id, 0),
      stack.tenant,
      ['job.status', 'job.progress', 'end', 'gap'],
      (r) => r.readyState === 2 && r.requests.length >= 2,
      20_000,
    );
    await published;
    await raw.waitForFrame('end');

    const statusMessages = run.messages.filter((m) => m.type === 'job.status');
    expect(statusMessages.map((m) => JSON.parse(m.data).data.status)).toEqual(statuses);
    expect(statusMessages.map((m) => m.lastEventId)).toEqual(raw.events().map((f) => f.id));
    expect(run.messages.filter((m) => m.type === 'end').map((m) => JSON.parse(m.data))).toEqual([{ reason: 'completed' }]);
    expect(run.requests[0]).toEqual({ lastEventId: null, status: 200 });
    expect(run.requests[1]).toEqual({ lastEventId: raw.events().at(-1)!.id, status: 204 });
    expect(run.requests).toHaveLength(2);
    expect(run.readyState).toBe(2);
  }, 30_000);
});
