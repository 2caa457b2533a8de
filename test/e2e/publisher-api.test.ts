/**
 * POST /api/v1/events (publisher) and the JSON history route (gateway), end to end over Redis: what
 * is stored, duplicates, state-machine refusals and paging. The answers that need no process or
 * store (400/413/415, nesting, 404, the 405 table) are in-process in apps/server/test/routes.test.ts.
 */
import { StreamedEventSchemas } from '@fanout/contracts';
import { closeAllStreams } from '../support/sse-client';
import { jobEvents, packRunEvents, range, Stack, startStack, TestEvent } from '../support/stack';

type Json = Record<string, any>;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  await stack?.stop();
}, 60_000);

const PROBLEM = /^application\/problem\+json\b/;

function expectProblem(answer: { status: number; headers: Headers | Record<string, unknown>; json: Json | undefined; text: string }, status: number): Json {
  const contentType = answer.headers instanceof Headers ? answer.headers.get('content-type') : (answer.headers['content-type'] as string | undefined);
  expect({ status: answer.status, contentType, body: answer.text.slice(0, 500) }).toEqual({
    status,
    contentType: expect.stringMatching(PROBLEM),
    body: expect.any(String),
  });
  expect(answer.json).toMatchObject({ title: expect.any(String), status, detail: expect.any(String) });
  return answer.json!;
}

/** The subject has exactly these statuses stored (404 when `statuses` is empty). */
async function expectStored(kind: 'job' | 'pack-run', id: string, count: number): Promise<Json[]> {
  const answer = await stack.history(kind, id, { limit: 1000 });
  if (count === 0) {
    expect(answer.status).toBe(404);
    return [];
  }
  expect(answer.status).toBe(200);
  expect(answer.json.events).toHaveLength(count);
  return answer.json.events;
}

test('202 with results[{eventId, seq, duplicate:false}] for one event and for a batch', async () => {
  const job = jobEvents(stack.tenant);
  const first = job.status('pending');
  const one = await stack.publish(first);
  expect(one.status).toBe(202);
  expect(one.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(one.json).toEqual({ results: [{ eventId: first.eventId, seq: 1, duplicate: false }] });

  const batch = [job.status('scheduled'), job.status('leased'), job.status('running'), job.progress(5)];
  const many = await stack.publish({ events: batch });
  expect(many.status).toBe(202);
  expect(many.json).toEqual({ results: batch.map((e, i) => ({ eventId: e.eventId, seq: i + 2, duplicate: false })) });
  await expectStored('job', job.id, 5);
});

test('a duplicate eventId answers the original seq with duplicate:true, stores nothing, and the first content wins (also for a terminal event)', async () => {
  const job = jobEvents(stack.tenant);
  const pending = job.status('pending', { jobType: 'original' });
  await stack.publishOk([pending, job.status('scheduled')]);
  const again = await stack.publish({ ...pending, data: { status: 'pending', jobType: 'changed' } });
  expect(again.status).toBe(202);
  expect(again.json).toEqual({ results: [{ eventId: pending.eventId, seq: 1, duplicate: true }] });
  const stored = await expectStored('job', job.id, 2);
  expect(stored[0]!.data.jobType).toBe('original');

  const done = job.status('succeeded');
  await stack.publishOk([job.status('leased'), job.status('running'), done]);
  const resent = await stack.publish(done);
  expect(resent.status).toBe(202);
  expect(resent.json).toEqual({ results: [{ eventId: done.eventId, seq: 5, duplicate: true }] });
  await expectStored('job', job.id, 5);
});

test('an eventId with a lone surrogate escape is a 400, so ids that Redis would read alike are never taken for one', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk({ ...job.status('pending'), eventId: 'k\ufffd' });
  for (const eventId of ['k\ud800', 'k\udfff']) {
    const refused = await stack.publish({ ...job.status('scheduled'), eventId });
    expect(expectProblem(refused, 400).errors).toEqual([{ path: 'eventId', message: expect.stringContaining('well-formed Unicode') }]);
  }
  const pair = await stack.publish({ ...job.status('scheduled'), eventId: 'k\ud83d\ude00' });
  expect(pair.json).toEqual({ results: [{ eventId: 'k\ud83d\ude00', seq: 2, duplicate: false }] });
  await expectStored('job', job.id, 2);
});

test('409 problem+json naming the current and requested status; nothing stored', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const illegal = await stack.publish(job.status('succeeded'));
  const problem = expectProblem(illegal, 409);
  expect(problem.detail).toMatch(/pending/);
  expect(problem.detail).toMatch(/succeeded/);
  await expectStored('job', job.id, 1);

  const fresh = jobEvents(stack.tenant);
  const firstNotStatus = await stack.publish(fresh.progress(10));
  expect(expectProblem(firstNotStatus, 409).detail).toMatch(/none/);
  const firstRunning = await stack.publish(fresh.status('running'));
  const runningProblem = expectProblem(firstRunning, 409);
  expect(runningProblem.detail).toMatch(/none/);
  expect(runningProblem.detail).toMatch(/running/);
  await expectStored('job', fresh.id, 0);

  const finished = jobEvents(stack.tenant);
  await stack.publishOk([finished.status('pending'), finished.status('canceled')]);
  const afterTerminal = await stack.publish(finished.status('scheduled'));
  const terminalProblem = expectProblem(afterTerminal, 409);
  expect(terminalProblem.detail).toMatch(/canceled/);
  expect(terminalProblem.detail).toMatch(/scheduled/);
});

test('a batch that breaks one subject\'s state machine: 409 with per-event results (seq or error), the other subjects stored', async () => {
  const a = jobEvents(stack.tenant);
  const b = jobEvents(stack.tenant);
  const c = packRunEvents(stack.tenant);
  const events: TestEvent[] = [a.status('pending'), b.status('pending'), a.status('scheduled'), b.status('succeeded'), c.status('pending'), b.progress(3)];
  const answer = await stack.publish({ events });
  expect(answer.status).toBe(409);
  const results = answer.json?.results as Json[];
  expect(Array.isArray(results)).toBe(true);
  expect(results.map((r) => r.eventId)).toEqual(events.map((e) => e.eventId));
  expect(results[0]).toMatchObject({ seq: 1 });
  expect(results[2]).toMatchObject({ seq: 2 });
  expect(results[4]).toMatchObject({ seq: 1 });
  for (const i of [1, 3, 5]) {
    expect(results[i]!.error).toBeDefined();
    expect(results[i]!.seq).toBeUndefined();
  }
  for (const i of [0, 2, 4]) expect(results[i]!.error).toBeUndefined();
  await expectStored('job', a.id, 2);
  await expectStored('job', b.id, 0);
  await expectStored('pack-run', c.id, 1);
});

test('the history JSON route pages with after, limit and next', async () => {
  const job = jobEvents(stack.tenant);
  const published = [job.status('pending'), job.status('scheduled'), job.status('leased'), job.status('running')];
  for (let i = 0; i < 21; i++) published.push(job.progress(i * 4));
  await stack.publishOk(published);

  const page1 = await stack.history('job', job.id, { limit: 10 });
  expect(page1.status).toBe(200);
  expect(page1.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(page1.json.events.map((e: Json) => e.seq)).toEqual(range(1, 10));
  expect(page1.json.next).toBe(10);
  const page2 = await stack.history('job', job.id, { after: page1.json.next, limit: 10 });
  expect(page2.json.events.map((e: Json) => e.seq)).toEqual(range(11, 20));
  expect(page2.json.next).toBe(20);
  const page3 = await stack.history('job', job.id, { after: page2.json.next, limit: 10 });
  expect(page3.json.events.map((e: Json) => e.seq)).toEqual(range(21, 25));
  expect(page3.json.next).toBeNull();

  const all = await stack.history('job', job.id);
  expect(all.status).toBe(200);
  expect(all.json.events).toHaveLength(25);
  expect(all.json.next).toBeNull();
  all.json.events.forEach((e: Json, i: number) => {
    const schema = StreamedEventSchemas[e.type as keyof typeof StreamedEventSchemas];
    expect(schema?.safeParse(e).success).toBe(true);
    expect(e.eventId).toBe(published[i]!.eventId);
    expect(e.data).toMatchObject(published[i]!.data);
  });

  expectProblem(await stack.history('job', `nope-${Date.now()}`), 404);
  expectProblem(await stack.history('job', job.id, { tenant: `other-${stack.tenant}` }), 404);
});
