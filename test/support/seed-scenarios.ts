/**
 * Scenarios of the seed test plan (test/e2e/seed-plan.test.ts) that other suites run unchanged on
 * another stack: the rapid sequence (test 6) and the resume tests, e.g. on a Redis Cluster
 * (test/e2e/cluster.test.ts). Each takes a running stack of one publisher and two gateways.
 */
import { SseFrame, SseStream, within } from './sse-client';
import { expectContiguous } from './resuming-client';
import { Stack, chunk, jobEvents, seqsOf } from './stack';
import { sleep } from './wait';

type Json = Record<string, any>;
const dataOf = (frame: SseFrame): Json => JSON.parse(frame.data) as Json;

/** The id of the domain frame with this seq. */
function idOfSeq(stream: SseStream, seq: number): string {
  const frame = stream.events().find((f) => dataOf(f).seq === seq);
  if (!frame?.id) throw new Error(`no frame with seq ${seq} on ${stream.url}`);
  return frame.id;
}

export const RAPID_SEQUENCE_TITLE =
  '6. 10,000 events published in batches of 500: every client on both replicas receives all of them in seq order, no gap, no duplicate';

/** Test 6: 10,000 events in batches of 500 reach 4 clients (2 per gateway) complete and in order. */
export async function rapidSequence(stack: Stack): Promise<void> {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('leased'), job.status('running')]);
  const clients = await Promise.all([0, 1, 0, 1].map((gateway) => stack.open('job', job.id, { gateway })));
  expect(clients.map((c) => c.status)).toEqual([200, 200, 200, 200]);
  await Promise.all(clients.map((c) => c.waitForEvents(4)));

  const progress = Array.from({ length: 10_000 }, (_, i) => job.progress(Math.round((i / 100) * 100) / 100));
  const started = Date.now();
  for (const batch of chunk(progress, 500)) await stack.publishOk(batch);
  await stack.publishOk(job.status('succeeded'));
  const publishMs = Date.now() - started;

  await Promise.all(clients.map((c) => c.waitForFrame('end', 60_000)));
  await within('every response to end cleanly', Promise.all(clients.map((c) => c.ended)), 10_000);
  clients.forEach((c, i) => {
    expectContiguous(seqsOf(c), 1, 10_005, `client ${i} (gateway ${i % 2})`);
    const percents = c.named('job.progress').map((f) => dataOf(f).data.percent);
    expect(percents.length).toBe(10_000);
    for (let n = 0; n < percents.length; n++) {
      if (percents[n] !== progress[n]!.data.percent) throw new Error(`client ${i}: progress #${n} is ${percents[n]}, published ${progress[n]!.data.percent}`);
    }
    expect(dataOf(c.named('end')[0]!)).toEqual({ reason: 'completed' });
  });
  // Two views of the same subject must be the same bytes.
  expect(clients[1]!.events().map((f) => f.id)).toEqual(clients[0]!.events().map((f) => f.id));
  void publishMs;
}

export const RESUME_CASES = [
  ['the Last-Event-ID header', 'header'],
  ['?lastEventId=', 'query'],
] as const;

export const RESUME_TITLE =
  'a client that drops after seq k and reconnects to the other replica with %s, while events keep coming, receives exactly k+1, k+2, …';

/** The resume tests: a client drops after seq k on gateway 0 and resumes on gateway 1 while events keep coming. */
export async function resumeOnTheOtherReplica(stack: Stack, via: 'header' | 'query'): Promise<void> {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('scheduled'), job.status('leased'), job.status('running')]);
  const a = await stack.open('job', job.id, { gateway: 0 });
  await a.waitForEvents(4);

  let publishing = true;
  let published = 4;
  let producerError: unknown;
  const producer = (async () => {
    while (publishing) {
      await stack.publishOk([job.progress(published % 100), job.progress((published + 1) % 100), job.progress((published + 2) % 100)]);
      published += 3;
      await sleep(5);
    }
  })().catch((error) => {
    producerError = error;
    throw error;
  });
  const producing = () => {
    if (producerError) throw producerError;
    return true;
  };
  try {
    await a.waitForFrames((frames) => producing() && frames.filter((f) => f.id !== undefined).length >= 30, 20_000);
    a.close();
    const k = seqsOf(a).at(-1)!;
    const lastId = idOfSeq(a, k);
    expectContiguous(seqsOf(a), 1, k, 'the first connection');

    const b =
      via === 'header'
        ? await stack.open('job', job.id, { gateway: 1, lastEventId: lastId })
        : await stack.open('job', job.id, { gateway: 1, query: { lastEventId: lastId } });
    expect(b.status).toBe(200);
    await b.waitForFrames((frames) => producing() && frames.filter((f) => f.id !== undefined).length >= 30 && published >= k + 60, 20_000);
    publishing = false;
    await producer;
    await stack.publishOk(job.status('succeeded'));
    await b.waitForFrame('end');
    await within('a clean end', b.ended, 10_000);
    expect(b.frames.filter((f) => f.id === undefined && f.event !== 'heartbeat').map((f) => f.event)).toEqual(['retry', 'end']);
    expectContiguous(seqsOf(b), k + 1, published + 1, 'the resumed connection');
  } finally {
    publishing = false;
    await producer.catch(() => undefined);
  }
}
