/**
 * A subject's Redis memory is bounded by its retained history, not by every event it ever stored
 * (docs/architecture.md, rule 7): 200,000 pack_run.log events to one pack run with historyMaxLen
 * 1000, through the real RedisBus against a real redis-server, leave every key of the subject under
 * 4 MiB in total (MEMORY USAGE … SAMPLES 0, exact), because an eventId leaves the idempotency index
 * when its event leaves the stream. A retry of a retained event is still a duplicate with its
 * original seq; one of an event older than the history is checked as a new event (docs/api.md).
 * Run alone, it prints the memory and the append script's CPU per call (INFO commandstats).
 */
import Redis from 'ioredis';
import { PublishedEvent } from '@fanout/contracts';
import { RedisBus, subjectKeys, subjectTag } from '../src';
import { TestRedis, testRedis } from '../../../test/support/redis-source';
import { expectStored, log, newSubject, status, step } from './conformance';
import { openReadyRedisBus } from './ready-redis-bus';

jest.setTimeout(120_000);

const EVENTS = 200_000;
const MAX_LEN = 1000;
const BATCH = 500;

let redis: TestRedis;
let bus: RedisBus;
let admin: Redis;

beforeAll(async () => {
  redis = await testRedis();
  bus = await openReadyRedisBus({ url: redis.url, historyMaxLen: MAX_LEN, historyTtlSeconds: 3600 });
  admin = redis.client();
});

afterAll(async () => {
  try {
    await bus?.close();
  } finally {
    await redis?.stop();
  }
});

/** Calls and µs per call of the append script (EVALSHA), from INFO commandstats. */
async function appendScriptStats(): Promise<{ calls: number; usec: number }> {
  const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await admin.info('commandstats'));
  return { calls: Number(line?.[1] ?? 0), usec: Number(line?.[2] ?? 0) };
}

test(`${EVENTS.toLocaleString('en')} events with historyMaxLen ${MAX_LEN} leave the subject's keys under 4 MiB; retained retries stay duplicates`, async () => {
  const s = newSubject('pack-run');
  const head = [status(s, 'pending', { steps: [{ index: 0, name: 'build' }] }), status(s, 'running'), step(s, 0, 'running')];
  expectStored(await bus.append(s, head), [1, 2, 3]);
  const line = (n: number) => `[${String(n).padStart(6, '0')}] src/modules/render/page-${n % 97}.ts: compiled in ${(n % 40) + 3} ms (cache miss)`;
  let first: PublishedEvent | undefined;
  let lastBatch: PublishedEvent[] = [];
  await admin.config('RESETSTAT');
  for (let lineNo = 1; lineNo <= EVENTS - head.length; lineNo += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, EVENTS - head.length - lineNo + 1) }, (_, i) => log(s, 0, lineNo + i, line(lineNo + i)));
    const outcomes = await bus.append(s, batch);
    expect(outcomes.every((o) => 'seq' in o && !o.duplicate)).toBe(true);
    first ??= batch[0];
    lastBatch = batch;
  }
  const cpu = await appendScriptStats();

  const keys = await admin.keys(`fo:${subjectTag(s).replace(/[*?[\]\\]/g, '\\$&')}*`);
  const sizes = await Promise.all(keys.map(async (key) => [key.slice(key.lastIndexOf(':')), Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))] as const));
  const total = sizes.reduce((sum, [, bytes]) => sum + bytes, 0);
  console.log(
    `${EVENTS.toLocaleString('en')} pack_run.log events, historyMaxLen ${MAX_LEN}: ${sizes.map(([k, b]) => `${k} ${b.toLocaleString('en')} B`).join(', ')}; ` +
      `total ${total.toLocaleString('en')} B; append script ${(cpu.usec / cpu.calls).toFixed(0)} µs per call of ${BATCH} (${(cpu.usec / (cpu.calls * BATCH)).toFixed(2)} µs per event)`,
  );
  const subjectKeyNames = subjectKeys(s);
  expect(await admin.xlen(subjectKeyNames.stream)).toBe(MAX_LEN);
  expect(await admin.hlen(subjectKeyNames.ids)).toBe(MAX_LEN);
  expect(total).toBeLessThan(4 * 1024 * 1024);

  // The last event sent, and one well inside the retained history, answer their original seqs.
  const last = lastBatch.at(-1)!;
  const retained = lastBatch.at(-10)!;
  const info = (await bus.info(s))!;
  expect(info).toMatchObject({ lastSeq: EVENTS, firstSeq: EVENTS - MAX_LEN + 1 });
  const retainedSeq = (await bus.history(s, info.firstSeq - 1, MAX_LEN)).find((e) => e.frame.toString().includes(`"eventId":"${retained.eventId}"`))!.seq;
  expect(await bus.append(s, [retained, last])).toEqual([
    { eventId: retained.eventId, seq: retainedSeq, duplicate: true },
    { eventId: last.eventId, seq: EVENTS, duplicate: true },
  ]);
  // A retained event retried after the terminal event is a duplicate too; an older one is refused (the subject is terminal).
  const done = status(s, 'succeeded');
  expectStored(await bus.append(s, [done]), [EVENTS + 1]);
  expect(await bus.append(s, [retained, done])).toEqual([
    { eventId: retained.eventId, seq: retainedSeq, duplicate: true },
    { eventId: done.eventId, seq: EVENTS + 1, duplicate: true },
  ]);
  const trimmed = await bus.append(s, [first!]);
  expect(trimmed[0]).toMatchObject({ eventId: first!.eventId, error: { code: 'transition', current: 'succeeded', requested: 'pack_run.log' } });
  expect(await bus.info(s)).toMatchObject({ lastSeq: EVENTS + 1 });
});
