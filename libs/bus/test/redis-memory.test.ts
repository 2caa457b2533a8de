/**
 * Redis memory per event, measured on real streams (MEMORY USAGE … SAMPLES 0 is exact): 10,000
 * events of three typical shapes are appended through RedisBus, then the subject's keys are weighed
 * (docs/operations.md's table of whole subjects comes from test/docs/redis-memory.test.ts). Run `npx jest libs/bus/test/redis-memory.test.ts`
 * to print the table. The assertions bound the overhead, so a change of the stored format that
 * costs memory shows up here.
 */
import Redis from 'ioredis';
import { PublishedEvent, TenantSubject } from '@fanout/contracts';
import { RedisBus, subjectKeys } from '../src';
import { TestRedis, testRedis } from '../../../test/support/redis-source';
import { event, log, newSubject, status, step } from './conformance';
import { openReadyRedisBus } from './ready-redis-bus';

jest.setTimeout(60_000);

const EVENTS = 10_000;
let redis: TestRedis;
let bus: RedisBus;
let admin: Redis;

beforeAll(async () => {
  redis = await testRedis();
  bus = await openReadyRedisBus({ url: redis.url, historyMaxLen: EVENTS, historyTtlSeconds: 3600 });
  admin = redis.client();
});

afterAll(async () => {
  try {
    await bus?.close();
  } finally {
    await redis?.stop();
  }
});

interface Shape {
  name: string;
  subject: TenantSubject;
  head: PublishedEvent[];
  next(i: number): PublishedEvent;
}

const message = (bytes: number, i: number) => `line ${i}: ${'x'.repeat(Math.max(0, bytes - 12))}`.slice(0, bytes);

function shapes(): Shape[] {
  const job = newSubject('job');
  const small = newSubject('pack-run');
  const large = newSubject('pack-run');
  const packHead = (s: TenantSubject) => [status(s, 'pending', { steps: [{ index: 0, name: 'build' }] }), status(s, 'running'), step(s, 0, 'running')];
  return [
    { name: 'job.progress (percent only)', subject: job, head: [status(job, 'pending'), status(job, 'scheduled'), status(job, 'leased'), status(job, 'running')], next: (i) => event(job, 'job.progress', { percent: (i % 10_000) / 100 }) },
    { name: 'pack_run.log, 100-byte message', subject: small, head: packHead(small), next: (i) => log(small, 0, i + 1, message(100, i)) },
    { name: 'pack_run.log, 1 KiB message', subject: large, head: packHead(large), next: (i) => log(large, 0, i + 1, message(1024, i)) },
  ];
}

async function usage(key: string): Promise<number> {
  return Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
}

test(`memory per retained event, for ${EVENTS} events per subject`, async () => {
  const rows: string[] = [];
  const measured: { frameBytes: number; stream: number; ids: number }[] = [];
  for (const shape of shapes()) {
    await bus.append(shape.subject, shape.head);
    const events = Array.from({ length: EVENTS - shape.head.length }, (_, i) => shape.next(i));
    for (let i = 0; i < events.length; i += 500) await bus.append(shape.subject, events.slice(i, i + 500));
    const keys = subjectKeys(shape.subject);
    expect(Number(await admin.xlen(keys.stream))).toBe(EVENTS);
    const history = await bus.history(shape.subject, 0, EVENTS);
    const frameBytes = history.reduce((sum, e) => sum + e.frame.length, 0) / EVENTS;
    const stream = (await usage(keys.stream)) / EVENTS;
    const ids = (await usage(keys.ids)) / EVENTS;
    const fixed = (await usage(keys.meta)) + (await usage(keys.steps).catch(() => 0));
    rows.push(`| ${shape.name} | ${Math.round(frameBytes)} | ${Math.round(stream)} | ${Math.round(ids)} | ${Math.round(stream + ids)} | ${fixed} |`);
    measured.push({ frameBytes, stream, ids });
  }
  console.log(
    [
      `Redis ${String(await admin.info('server')).match(/redis_version:(\S+)/)?.[1]}, ${EVENTS} events per subject (MEMORY USAGE … SAMPLES 0):`,
      '| event | frame bytes | stream bytes/event | idempotency bytes/event | total bytes/event | per-subject fixed bytes |',
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
  // The stream costs the frame plus an overhead (entry headers, listpack nodes of at most 4 KiB,
  // allocator rounding); the idempotency entry is the eventId and a seq.
  for (const m of measured) {
    expect(m.stream).toBeLessThan(m.frameBytes * 1.3 + 64);
    expect(m.ids).toBeLessThan(160);
  }
});
