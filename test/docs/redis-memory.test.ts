/**
 * Redis memory per subject, for docs/operations.md ("Memory per subject"): subjects of 1, 10, 1,000
 * and 10,000 events are published through a real publisher process, every key of each subject is
 * weighed with MEMORY USAGE … SAMPLES 0 (exact), and the tenant's index and activity are divided
 * by its subjects; then again with smaller stream nodes (`stream-node-max-bytes`). Run
 * `npx jest test/docs/redis-memory.test.ts` (after `npx tsc -b`) to print the doc's tables. On the
 * Redis version the doc names, every figure in them must be what this measures, within 10 %.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { subjectTag } from '@fanout/bus';
import { REPO_ROOT } from '../support/fanout-process';
import { chunk, jobEvents, packRunEvents, Stack, startStack, TestEvent, uniqueId } from '../support/stack';

jest.setTimeout(240_000);

const SIZES = [1, 10, 1_000, 10_000];
const NODE_SIZES = ['4096', '2048', '1024'];
const TENANT_SUBJECTS = 1_000;

let stack: Stack;
let admin: Redis;

beforeAll(async () => {
  stack = await startStack({ gateways: 0 });
  admin = stack.redis.client();
}, 60_000);

afterAll(() => stack?.stop(), 60_000);

interface Shape {
  name: string;
  /** The first `n` events of a new subject of this shape. */
  events(n: number): TestEvent[];
}

/** A job as an orchestrator reports it: its statuses, then progress with a short message. */
const JOB: Shape = {
  name: 'job',
  events(n) {
    const job = jobEvents(uniqueId('mem'));
    const head = [job.status('pending', { jobType: 'report.render' }), job.status('scheduled'), job.status('leased'), job.status('running')];
    const progress = Array.from({ length: Math.max(0, n - head.length) }, (_, i) => job.progress(Math.min(100, (i * 100) / n), `rendered page ${i + 1}`));
    return [...head, ...progress].slice(0, n);
  },
};

/** A pack run streaming a build log: lines of about 100 bytes, as a compiler or test runner writes them. */
const PACK_RUN: Shape = {
  name: 'pack run',
  events(n) {
    const run = packRunEvents(uniqueId('mem'));
    const steps = ['checkout', 'build', 'test'].map((name, index) => ({ index, name }));
    const head = [run.status('pending', { packName: 'ci-node', packVersion: '1.4.2', steps }), run.status('running'), run.step(1, 'build', 'running')];
    const line = (i: number) => `[${String(i).padStart(5, '0')}] src/modules/render/page-${i % 97}.ts: compiled in ${(i % 40) + 3} ms (cache miss)`;
    const logs = Array.from({ length: Math.max(0, n - head.length) }, (_, i) => run.log(1, i + 1, 'stdout', line(i + 1)));
    return [...head, ...logs].slice(0, n);
  },
};

async function usage(key: string): Promise<number> {
  return Number((await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

async function publishAll(events: TestEvent[]): Promise<void> {
  for (const batch of chunk(events, 500)) await stack.publishOk(batch);
}

/** Every key whose name starts with `prefix`, and its bytes, by the rest of its name. */
async function keysUnder(prefix: string): Promise<Map<string, number>> {
  const names = await admin.keys(`${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`);
  return new Map(await Promise.all(names.map(async (name) => [name.slice(prefix.length), await usage(name)] as const)));
}

const SUBJECT_KEYS = [':m', ':s', ':ids', ':steps'];

/** The mean size of the SSE frames a stream holds. */
async function meanFrameBytes(streamKey: string): Promise<number> {
  const entries = await admin.xrange(streamKey, '-', '+');
  const frames = entries.map(([, fields]) => Buffer.byteLength(fields[fields.indexOf('f') + 1]!));
  return frames.reduce((a, b) => a + b, 0) / frames.length;
}

/** Publishes a new subject of `n` events (each subject its own tenant) and weighs every key of it. */
async function subjectCost(shape: Shape, n: number): Promise<{ parts: number[]; total: number; frameBytes: number }> {
  const events = shape.events(n);
  await publishAll(events);
  const { tenant, subject } = events[0]!;
  const prefix = `fo:${subjectTag({ tenant, ...subject })}`;
  const keys = await keysUnder(prefix);
  expect(await admin.xlen(`${prefix}:s`)).toBe(n);
  // A key this table has no column for would be left out of it: none may exist.
  expect([...keys.keys()].filter((suffix) => !SUBJECT_KEYS.includes(suffix))).toEqual([]);
  const parts = SUBJECT_KEYS.map((suffix) => keys.get(suffix) ?? 0);
  return { parts, total: parts.reduce((a, b) => a + b, 0), frameBytes: await meanFrameBytes(`${prefix}:s`) };
}

const bytes = (n: number) => `${n.toLocaleString('en')} B`;
const kib = (n: number) => `${(n / 1024).toLocaleString('en', { maximumFractionDigits: n < 10_240 ? 1 : 0, minimumFractionDigits: n < 10_240 ? 1 : 0 })} KiB`;
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
const separator = (columns: number) => `|${'---|'.repeat(columns)}`;

/** A table cell as a number of bytes (or a plain count); undefined for text. */
function numberOf(cell: string): number | undefined {
  const match = /^([\d,.]+)\s*(B|KiB|MiB)?$/.exec(cell.trim());
  if (!match) return undefined;
  const scale = { B: 1, KiB: 1024, MiB: 1024 * 1024 }[match[2] ?? 'B']!;
  return Number(match[1]!.replaceAll(',', '')) * scale;
}

/** Every table row of the doc, keyed by its first two cells. */
function docRows(doc: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of doc.split('\n')) {
    if (!line.startsWith('| ')) continue;
    const cells = line.slice(1, -1).split('|').map((c) => c.trim());
    rows.set(`${cells[0]} | ${cells[1]}`, cells.slice(2));
  }
  return rows;
}

test('memory per subject, every key of it, for 1 to 10,000 events, the tenant’s share, and smaller stream nodes', async () => {
  const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1];
  const [, defaultNodeBytes] = (await admin.config('GET', 'stream-node-max-bytes')) as string[];
  expect(defaultNodeBytes).toBe(NODE_SIZES[0]);

  const perSubject: string[] = [];
  const frames: string[] = [];
  const byNodeSize: string[] = [];
  for (const nodeBytes of NODE_SIZES) {
    await admin.config('SET', 'stream-node-max-bytes', nodeBytes);
    for (const shape of [JOB, PACK_RUN]) {
      const totals: number[] = [];
      for (const n of SIZES) {
        const c = await subjectCost(shape, n);
        totals.push(c.total);
        if (nodeBytes === defaultNodeBytes) {
          if (n === SIZES.at(-1)) frames.push(`${shape.name} ${Math.round(c.frameBytes)} B`);
          perSubject.push(row([shape.name, n.toLocaleString('en'), ...c.parts.map(bytes), kib(c.total), bytes(Math.round(c.total / n))]));
        }
      }
      byNodeSize.push(row([nodeBytes === defaultNodeBytes ? `${nodeBytes} (default)` : nodeBytes, shape.name, ...totals.map(kib)]));
    }
  }
  await admin.config('SET', 'stream-node-max-bytes', defaultNodeBytes!);

  // The tenant's keys, shared by its subjects: a tenant of live jobs that each sent their first
  // status. Redis's own used_memory checks the method: it grows by what MEMORY USAGE counts.
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const before = await usedMemory();
  await publishAll(Array.from({ length: TENANT_SUBJECTS }, () => jobEvents('mem-tenant').status('pending')));
  const grown = (await usedMemory()) - before;
  const tenantKeys = await keysUnder('fo:{mem-tenant}');
  const counted = [...(await keysUnder('fo:{mem-tenant:')).values(), ...tenantKeys.values()].reduce((a, b) => a + b, 0);
  expect(Math.abs(grown - counted) / counted).toBeLessThan(0.25);
  const tenantShare = [...tenantKeys]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([suffix, size]) => row([`\`fo:{tenant}${suffix}\``, `${TENANT_SUBJECTS.toLocaleString('en')} subjects`, bytes(size), bytes(Math.round(size / TENANT_SUBJECTS))]));

  const printed = [
    `Redis ${version}; MEMORY USAGE … SAMPLES 0 of every key of one subject:`,
    row(['subject', 'events', 'meta', 'stream', 'ids', 'steps', 'total', 'per event']),
    separator(8),
    ...perSubject,
    `mean frame of the ${SIZES.at(-1)!.toLocaleString('en')}-event subjects: ${frames.join(', ')}`,
    '',
    row(['stream-node-max-bytes', 'subject', ...SIZES.map((n) => `${n.toLocaleString('en')} event${n === 1 ? '' : 's'}`)]),
    separator(2 + SIZES.length),
    ...byNodeSize,
    '',
    row(['tenant key', 'tenant of', 'total', 'per subject']),
    separator(4),
    ...tenantShare,
    '',
    `${TENANT_SUBJECTS} one-status subjects of one tenant: used_memory grew by ${bytes(Math.round(grown / TENANT_SUBJECTS))} per subject; MEMORY USAGE of their keys and the tenant's: ${bytes(Math.round(counted / TENANT_SUBJECTS))} per subject`,
  ];
  console.log(printed.join('\n'));

  const doc = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const docVersion = /Measured on Redis (\S+?),/.exec(doc)?.[1];
  expect(docVersion).toBeDefined();
  if (docVersion !== version) {
    console.warn(`docs/operations.md gives figures for Redis ${docVersion}; this is Redis ${version}: its figures are not compared`);
    return;
  }
  const documented = docRows(doc);
  const mismatches: string[] = [];
  for (const line of [...perSubject, ...byNodeSize, ...tenantShare]) {
    const cells = line.slice(1, -1).split('|').map((c) => c.trim());
    const key = `${cells[0]} | ${cells[1]}`;
    const inDoc = documented.get(key);
    const fits = inDoc?.length === cells.length - 2 && cells.slice(2).every((cell, i) => {
      const measured = numberOf(cell)!;
      const stated = numberOf(inDoc[i]!);
      return stated !== undefined && Math.abs(stated - measured) <= Math.max(0.1 * measured, 16);
    });
    if (!fits) mismatches.push(`doc: ${inDoc ? row([cells[0]!, cells[1]!, ...inDoc]) : 'no row'}\n   measured: ${line}`);
  }
  expect(mismatches).toEqual([]);
});
