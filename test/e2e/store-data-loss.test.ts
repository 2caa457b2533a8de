/**
 * The store loses a subject's history while a client streams it (Redis restarted without
 * persistence, or flushed): the subject starts again at seq 1 under a new epoch. A client must be
 * told (`gap` `history_lost`) and then get the new history from its start, never new events at
 * seqs it believes it already has. Real redis-server and processes on loopback; timeouts are hang
 * guards only.
 */
import Redis from 'ioredis';
import { RedisServer, startRedis } from '../support/redis-server';
import { closeAllStreams, openStream, SseFrame } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

jest.setTimeout(60_000);

let redis: RedisServer;
let stack: Stack;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis({ appendonly: false });
  stack = await startStack({ gateways: 1, redis });
  admin = redis.client();
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
  await redis?.stop();
}, 60_000);

const epochOf = (frame: SseFrame) => frame.id!.split('-')[0];
const seqOf = (frame: SseFrame) => JSON.parse(frame.data).seq as number;

/** The frames after the first `count` domain frames: what the stream said once the store lost the subject. */
function framesAfterEvents(frames: SseFrame[], count: number): SseFrame[] {
  let seen = 0;
  const at = frames.findIndex((f) => f.id !== undefined && ++seen === count);
  return frames.slice(at + 1).filter((f) => f.event !== 'heartbeat');
}

test('a live single-subject stream across a flushed store: gap history_lost, then the new history from seq 1', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('scheduled'), job.progress(10)]);
  const stream = await stack.open('job', job.id);
  await stream.waitForEvents(3, 10_000);
  const before = epochOf(stream.events()[0]!);

  await admin.flushall();
  // The subject starts again: fewer events than the client had, then more than it had.
  await stack.publishOk([job.status('pending')]);
  await stream.waitForFrames((frames) => framesAfterEvents(frames, 3).some((f) => f.id !== undefined), 10_000);
  await stack.publishOk([job.status('scheduled'), job.progress(20), job.progress(30)]);
  await stream.waitForEvents(7, 10_000);

  const after = framesAfterEvents(stream.frames, 3);
  expect(after[0]).toMatchObject({ event: 'gap', data: JSON.stringify({ reason: 'history_lost', firstAvailableSeq: 1 }) });
  const events = after.filter((f) => f.id !== undefined);
  expect(events.map(seqOf)).toEqual([1, 2, 3, 4]);
  expect(new Set(events.map(epochOf)).size).toBe(1);
  expect(epochOf(events[0]!)).not.toBe(before);
  expect(after.filter((f) => f.event === 'gap')).toHaveLength(1);
});

test('a live multi-subject stream across a flushed store: the gap names the subject and the cursor follows its new epoch', async () => {
  const a = jobEvents(stack.tenant);
  const b = jobEvents(stack.tenant);
  await stack.publishOk([a.status('pending'), b.status('pending'), b.status('scheduled')]);
  const multi = await openStream(`${stack.gateways[0]!.url}/api/v1/stream?subjects=job:${a.id},job:${b.id}`, { headers: { 'X-Tenant': stack.tenant } });
  await multi.waitForEvents(3, 10_000);
  const cursorBefore = multi.events()[2]!.id!;

  await admin.flushall();
  await stack.publishOk([b.status('pending'), b.status('scheduled'), a.status('pending')]);
  await multi.waitForEvents(6, 10_000);

  const after = framesAfterEvents(multi.frames, 3);
  const gaps = after.filter((f) => f.event === 'gap').map((f) => JSON.parse(f.data));
  expect(gaps).toEqual(
    expect.arrayContaining([
      { reason: 'history_lost', firstAvailableSeq: 1, subject: { kind: 'job', id: b.id } },
      { reason: 'history_lost', firstAvailableSeq: 1, subject: { kind: 'job', id: a.id } },
    ]),
  );
  const events = after.filter((f) => f.id !== undefined).map((f) => JSON.parse(f.data));
  expect(events.filter((e) => e.subject.id === b.id).map((e) => e.seq)).toEqual([1, 2]);
  expect(events.filter((e) => e.subject.id === a.id).map((e) => e.seq)).toEqual([1]);

  // Resuming from the last cursor continues the new histories: nothing more, nothing again.
  const lastCursor = after.filter((f) => f.id !== undefined).pop()!.id!;
  expect(lastCursor).not.toBe(cursorBefore);
  multi.close();
  await stack.publishOk([a.status('scheduled')]);
  const resumed = await openStream(`${stack.gateways[0]!.url}/api/v1/stream?subjects=job:${a.id},job:${b.id}`, {
    headers: { 'X-Tenant': stack.tenant },
    lastEventId: lastCursor,
  });
  await resumed.waitForEvents(1, 10_000);
  expect(resumed.named('gap')).toEqual([]);
  expect(resumed.eventData().map((e) => [e.subject.id, e.seq])).toEqual([[a.id, 2]]);
});

test('Redis restarted empty under a live stream: after the bus recovers, gap history_lost and the new history, even when it is shorter than what the client had', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('scheduled'), job.progress(10), job.progress(20)]);
  const stream = await stack.open('job', job.id);
  await stream.waitForEvents(4, 10_000);

  await redis.kill('SIGKILL'); // no persistence: everything is gone
  await redis.start();
  // The gateway reconnects by itself; publish once the publisher's store answers again.
  await waitFor('the publisher to store again', async () => (await stack.publish([job.status('pending')])).status === 202, 20_000, 100);
  await stream.waitForFrames((frames) => framesAfterEvents(frames, 4).some((f) => f.id !== undefined), 20_000);

  const after = framesAfterEvents(stream.frames, 4);
  expect(after[0]).toMatchObject({ event: 'gap', data: JSON.stringify({ reason: 'history_lost', firstAvailableSeq: 1 }) });
  expect(after.filter((f) => f.id !== undefined).map(seqOf)).toEqual([1]);
});
