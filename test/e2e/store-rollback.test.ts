/**
 * A store that loses the last events it stored and answered 202: Redis restarted from a snapshot
 * older than its last writes (as after a kill with RDB persistence, or a replica promoted before it
 * had them). The publisher knows the seqs it saw stored, so new events are numbered after the lost
 * ones instead of reusing seqs that clients hold for other events: a client that had them goes on
 * with nothing skipped, and one that did not is told of the hole with a gap; the tenant's activity
 * stream alike. Real redis-server
 * (restarted on its own data directory), publisher and gateway.
 */
import { startFanout } from '../support/fanout-process';
import { RedisServer, startRedis } from '../support/redis-server';
import { closeAllStreams, openStream } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

let redis: RedisServer;
let stack: Stack;

beforeAll(async () => {
  redis = await startRedis();
  stack = await startStack({ gateways: 1, redis });
}, 60_000);

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
  await redis?.stop();
});

const ready = async (url: string): Promise<boolean> => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
const seqsOf = (data: { seq: number }[]) => data.map((event) => event.seq);

test('after Redis came back from an older snapshot, new events follow the lost seqs: open streams skip nothing, and a reader without the lost events gets a gap', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('scheduled')]);
  expect(await redis.client().save()).toBe('OK');

  const open = await stack.open('job', job.id);
  const activity = await openStream(`${stack.gateways[0]!.url}/api/v1/stream/subjects`, { headers: { 'X-Tenant': stack.tenant } });
  await activity.waitForEvents(2);
  const lost = await stack.publishOk([job.status('leased'), job.status('running'), job.progress(10)]);
  expect(lost.map((r) => r.seq)).toEqual([3, 4, 5]);
  await open.waitForEvents(5);
  await activity.waitForEvents(4);
  const epoch = open.events()[0]!.id!.split('-')[0]!;

  await redis.kill('SIGKILL');
  await redis.start();
  for (const p of stack.processes()) await waitFor(`${p.url}/readyz 200 after the restart`, () => ready(p.url), 30_000, 100);
  // The snapshot's history: the events after it are gone.
  expect(seqsOf((await stack.history('job', job.id)).json.events)).toEqual([1, 2]);

  const after = await stack.publishOk([job.status('leased'), job.progress(50)]);
  expect(after.map((r) => r.seq)).toEqual([6, 7]);
  expect(seqsOf((await stack.history('job', job.id)).json.events)).toEqual([1, 2, 6, 7]);
  // Paging backwards crosses the hole: pages over it are short, or empty, and `next` goes on.
  const paged: number[] = [];
  for (let before: number | null = 1000, pages = 0; before !== null && pages < 10; pages += 1) {
    const answer = await fetch(`${stack.gateways[0]!.url}/api/v1/jobs/${job.id}/events?before=${before}&limit=2`, { headers: { 'X-Tenant': stack.tenant } });
    const body = (await answer.json()) as { events: { seq: number }[]; next: number | null };
    paged.unshift(...seqsOf(body.events));
    before = body.next;
  }
  expect(paged).toEqual([1, 2, 6, 7]);

  // The stream open across the loss had 3..5 live: it goes on at 6, nothing skipped, nothing twice.
  await open.waitForEvents(7);
  expect(seqsOf(open.eventData())).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(open.eventData()[6]).toMatchObject({ type: 'job.progress', data: { percent: 50 } });
  expect(open.named('gap')).toEqual([]);
  // The tenant's activity stream, open across the loss too, gets the new status after the lost ones.
  await activity.waitForEvents(5);
  const activitySeqs = activity.events().map((f) => Number(f.id!.split('-')[1]));
  expect(activitySeqs).toEqual([1, 2, 3, 4, 5]);
  expect(activity.eventData().map((d) => [d.status, d.seq])).toEqual([['pending', 1], ['scheduled', 2], ['leased', 3], ['running', 4], ['leased', 6]]);

  // A new reader, and one resuming inside the lost seqs, are told of the hole before what follows it.
  const gapOf = (frames: { data: string }[]) => frames.map((f) => JSON.parse(f.data));
  const fresh = await stack.open('job', job.id);
  await fresh.waitForEvents(4);
  expect(seqsOf(fresh.eventData())).toEqual([1, 2, 6, 7]);
  expect(gapOf(fresh.named('gap'))).toEqual([{ reason: 'history_trimmed', firstAvailableSeq: 6 }]);
  const inside = await openStream(stack.streamUrl('job', job.id), { headers: { 'X-Tenant': stack.tenant }, lastEventId: `${epoch}-0000000003` });
  await inside.waitForEvents(2);
  expect(seqsOf(inside.eventData())).toEqual([6, 7]);
  expect(gapOf(inside.named('gap'))).toEqual([{ reason: 'history_trimmed', firstAvailableSeq: 6 }]);
  // One resuming before the hole gets the gap where the hole is, between the events around it.
  const before = await openStream(stack.streamUrl('job', job.id), { headers: { 'X-Tenant': stack.tenant }, lastEventId: `${epoch}-0000000001` });
  await before.waitForEvents(3);
  expect(before.frames.filter((f) => f.event !== undefined && f.event !== 'retry').map((f) => (f.event === 'gap' ? `gap ${JSON.parse(f.data).firstAvailableSeq}` : JSON.parse(f.data).seq))).toEqual([2, 'gap 6', 6, 7]);
  // A new multi-subject stream too.
  const many = await openStream(`${stack.gateways[0]!.url}/api/v1/stream?subjects=job:${job.id}`, { headers: { 'X-Tenant': stack.tenant } });
  await many.waitForEvents(4);
  expect(seqsOf(many.eventData())).toEqual([1, 2, 6, 7]);
  expect(many.named('gap')).toHaveLength(1);
  // One that had every lost event resumes after them with no gap.
  const resumed = await openStream(stack.streamUrl('job', job.id), { headers: { 'X-Tenant': stack.tenant }, lastEventId: `${epoch}-0000000005` });
  await resumed.waitForEvents(2);
  expect(seqsOf(resumed.eventData())).toEqual([6, 7]);
  expect(resumed.named('gap')).toEqual([]);
}, 90_000);

test('after a snapshot restore, another publisher gives the lost seqs to new events: streams that hold them are told history_lost and given the history again', async () => {
  const other = await startFanout('publisher', { FANOUT_AUTH: 'none', REDIS_URL: redis.url });
  try {
    const job = jobEvents(stack.tenant);
    await stack.publishOk([job.status('pending'), job.status('scheduled')]);
    expect(await redis.client().save()).toBe('OK');
    const open = await stack.open('job', job.id);
    await stack.publishOk([job.status('leased'), job.status('running'), job.progress(10)]);
    await open.waitForEvents(5);

    await redis.kill('SIGKILL');
    await redis.start();
    for (const p of [...stack.processes(), other]) await waitFor(`${p.url}/readyz 200 after the restart`, () => ready(p.url), 30_000, 100);

    // The other publisher stored none of 3..5: it gives 3 and 4 to new events.
    const post = await fetch(`${other.url}/api/v1/events`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ events: [job.status('leased'), job.progress(50)] }) });
    expect(post.status).toBe(202);
    expect(((await post.json()) as { results: { seq: number }[] }).results.map((r) => r.seq)).toEqual([3, 4]);

    // The open stream had other events at 3 and 4: it is told, and given the history as it now is.
    await open.waitForFrames((frames) => frames.filter((f) => f.event === 'job.progress' && JSON.parse(f.data).data.percent === 50).length === 1, 20_000);
    const shown = open.frames.filter((f) => f.event !== 'retry').map((f) => (f.event === 'gap' ? `gap ${JSON.parse(f.data).reason}` : `${JSON.parse(f.data).seq} ${f.event}`));
    expect(shown).toEqual([
      '1 job.status', '2 job.status', '3 job.status', '4 job.status', '5 job.progress',
      'gap history_lost',
      '1 job.status', '2 job.status', '3 job.status', '4 job.progress',
    ]);
  } finally {
    await other.stop();
  }
}, 90_000);
