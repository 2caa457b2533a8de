/**
 * `?types=` on the stream routes (issue 17, item 3): only the asked event types are sent, and ids,
 * resume and gap detection stay exact. Real redis-server, a publisher and two gateway replicas
 * spawned through the CLI, raw SSE clients over node:http and @fanout/client with the `eventsource`
 * package. Timeouts are hang guards only.
 */
import { EventSource } from 'eventsource';
import { GapNotice, StreamedEvent, subscribe } from '@fanout/client';
import { closeAllStreams, openStream, SseFrame, within } from '../support/sse-client';
import { jobEvents, packRunEvents, runEvents, Stack, startStack, TestEvent } from '../support/stack';
import { dataOf, subjectKeyOf } from '../support/frames';
import { waitFor } from '../support/wait';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { FANOUT_RETRY_MS: 200 } });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

const TYPES = ['job.status', 'pack_run.step'];
const matching = (events: TestEvent[]): TestEvent[] => events.filter((e) => TYPES.includes(e.type));
const counts = { total: 4, pending: 4, running: 0, succeeded: 0, failed: 0, canceled: 0 };

function multiUrl(subjects: string[], gateway: number, types: string[]): string {
  return `${stack.gateways[gateway]!.url}/api/v1/stream?subjects=${subjects.join(',')}&types=${types.join(',')}`;
}

const idsOf = (frames: SseFrame[]): string[] => frames.filter((f) => f.id !== undefined).map((f) => dataOf(f).eventId as string);

test('a filtered multi-subject stream resumed with Last-Event-ID after a drop gets every matching event once and nothing else', async () => {
  const job = jobEvents(stack.tenant);
  const pack = packRunEvents(stack.tenant);
  const run = runEvents(stack.tenant);
  const subjects = [`job:${job.id}`, `pack-run:${pack.id}`, `run:${run.id}`];
  const logs = (step: number, from: number, n: number) => Array.from({ length: n }, (_, i) => pack.log(step, from + i, 'stdout', `line ${from + i}`));

  // Phase 1 ends with events that do not match: the last matching id is behind every subject's position.
  const phase1: TestEvent[] = [
    job.status('pending'),
    job.progress(10),
    job.status('scheduled'),
    job.progress(20),
    pack.status('pending', { steps: [{ index: 0, name: 'build' }, { index: 1, name: 'test' }] }),
    pack.status('running'),
    pack.step(0, 'build', 'running'),
    ...logs(0, 1, 30),
    pack.step(0, 'build', 'succeeded', { exitCode: 0 }),
    pack.step(1, 'test', 'running'),
    ...logs(1, 1, 5),
    run.status('pending'),
    run.progress(counts),
    job.progress(30),
  ];
  const phase2: TestEvent[] = [
    job.progress(40),
    job.status('leased'),
    ...logs(1, 6, 40),
    run.status('running'),
    job.status('running'),
    job.progress(60),
  ];
  const phase3: TestEvent[] = [...logs(1, 46, 5), pack.step(1, 'test', 'succeeded', { exitCode: 0 }), job.progress(90), job.status('succeeded')];
  for (const event of phase1) await stack.publishOk(event);

  const first = await openStream(multiUrl(subjects, 0, TYPES), { headers: { 'X-Tenant': stack.tenant } });
  expect(first.status).toBe(200);
  await first.waitForEvents(matching(phase1).length);
  // The rest of phase 1 is filtered out: nothing more comes.
  await stack.publishOk(job.progress(35));
  await new Promise((resolve) => setTimeout(resolve, 300));
  first.close();
  const received1 = first.events();
  expect(idsOf(received1)).toEqual(matching(phase1).map((e) => e.eventId));

  for (const event of phase2) await stack.publishOk(event);
  const lastId = received1[received1.length - 1]!.id!;
  const resumed = await openStream(multiUrl(subjects, 1, TYPES), { headers: { 'X-Tenant': stack.tenant }, lastEventId: lastId });
  expect(resumed.status).toBe(200);
  await resumed.waitForEvents(matching(phase2).length);
  for (const event of phase3) await stack.publishOk(event);
  await resumed.waitForEvents(matching([...phase2, ...phase3]).length);
  await stack.publishOk(pack.status('succeeded'));
  await stack.publishOk(run.status('completed'));
  await within('the filtered stream to end completed', resumed.waitForFrame('end'), 15_000);
  expect(dataOf(resumed.named('end')[0]!)).toEqual({ reason: 'completed' });

  const all = [...received1, ...resumed.events()];
  expect(idsOf(all)).toEqual([...matching(phase1), ...matching(phase2), ...matching(phase3)].map((e) => e.eventId));
  expect(new Set(all.map((f) => f.event))).toEqual(new Set(TYPES));
  // Each subject's seqs only increase; no gap frame (nothing was trimmed).
  for (const key of subjects) {
    const seqs = all.filter((f) => subjectKeyOf(f) === key).map((f) => dataOf(f).seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }
  expect([...first.named('gap'), ...resumed.named('gap')]).toEqual([]);
});

test('a filtered single-subject stream whose terminal event is filtered out ends completed, and its resume is a 204', async () => {
  const job = jobEvents(stack.tenant);
  for (const event of [job.status('pending'), job.progress(10), job.status('scheduled'), job.progress(50), job.progress(70)]) await stack.publishOk(event);
  const s = await stack.open('job', job.id, { query: { types: 'job.progress' } });
  await s.waitForEvents(3);
  await stack.publishOk(job.status('canceled'));
  await within('end after the filtered-out terminal event', s.waitForFrame('end'), 15_000);
  expect(dataOf(s.named('end')[0]!)).toEqual({ reason: 'completed' });
  expect(s.eventData().map((e) => e.data.percent)).toEqual([10, 50, 70]);

  const lastId = s.events()[2]!.id!;
  const resumed = await stack.open('job', job.id, { query: { types: 'job.progress' }, lastEventId: lastId, gateway: 1 });
  expect(resumed.status).toBe(204);
  // From an earlier position, what still matches is sent.
  const earlier = await stack.open('job', job.id, { query: { types: 'job.progress' }, lastEventId: s.events()[0]!.id! });
  expect(earlier.status).toBe(200);
  await within('the rest and end', earlier.waitForFrame('end'), 15_000);
  expect(earlier.eventData().map((e) => e.data.percent)).toEqual([50, 70]);
  // Nothing at all matching on an ended subject: 204 from the start.
  const none = await stack.open('job', job.id, { query: { types: 'pack_run.log' } });
  expect(none.status).toBe(204);
});

test('types must name event types, and the activity stream takes neither types nor conflate (400 problem+json)', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const queries: Record<string, string>[] = [{ types: 'job.sttus' }, { types: 'job.status,' }, { conflate: 'all' }];
  for (const query of queries) {
    const s = await stack.open('job', job.id, { query });
    expect(s.status).toBe(400);
    expect(s.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(await s.body()).errors[0].path).toBe(Object.keys(query)[0]);
  }
  for (const query of ['types=subject.updated', 'conflate=progress']) {
    const s = await openStream(`${stack.gateways[0]!.url}/api/v1/stream/subjects?${query}`, { headers: { 'X-Tenant': stack.tenant } });
    expect(s.status).toBe(400);
  }
  // An empty parameter counts as none, on the activity stream too; one that takes one value, given twice, is a 400 naming it.
  for (const query of ['types=', 'conflate=', 'types=&conflate=']) {
    const s = await openStream(`${stack.gateways[0]!.url}/api/v1/stream/subjects?${query}`, { headers: { 'X-Tenant': stack.tenant } });
    expect({ query, status: s.status }).toEqual({ query, status: 200 });
    s.close();
  }
  for (const query of ['tail=3&tail=4', 'conflate=progress&conflate=progress']) {
    const s = await openStream(`${stack.streamUrl('job', job.id)}?${query}`, { headers: { 'X-Tenant': stack.tenant } });
    expect({ query, status: s.status }).toEqual({ query, status: 400 });
    expect(JSON.parse(await s.body()).errors[0]).toEqual({ path: query.split('=')[0], message: 'given more than once: give it once' });
  }
});

test('@fanout/client with types gets only those events and reports no gap for the seqs the filter skips', async () => {
  const job = jobEvents(stack.tenant);
  const pack = packRunEvents(stack.tenant);
  const events: StreamedEvent[] = [];
  const gaps: GapNotice[] = [];
  await stack.publishOk([job.status('pending'), job.progress(5), job.progress(6), job.status('scheduled')]);
  await stack.publishOk([pack.status('pending'), pack.status('running'), pack.step(0, 'a', 'running'), pack.log(0, 1, 'stdout', 'x'), pack.step(0, 'a', 'succeeded')]);
  const stop = subscribe({
    baseUrl: stack.gateways[0]!.url,
    tenant: stack.tenant,
    subjects: [`job:${job.id}`, `pack-run:${pack.id}`],
    types: ['job.status', 'pack_run.step'],
    EventSource: EventSource as never,
    onState: () => undefined,
    onEvent: (event) => events.push(event),
    onGap: (gap) => gaps.push(gap),
    shareAcrossTabs: false,
  });
  try {
    await waitFor('the four matching events', () => events.length >= 4, 15_000);
    await stack.publishOk([job.progress(50), job.status('leased')]);
    await waitFor('the leased status', () => events.length >= 5, 15_000);
    expect(events.map((e) => `${e.type}:${e.seq}`)).toEqual(['job.status:1', 'job.status:4', 'pack_run.step:3', 'pack_run.step:5', 'job.status:6']);
    expect(gaps).toEqual([]);
  } finally {
    stop();
  }
});
