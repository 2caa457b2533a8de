/**
 * Issue 15, items 1 and 3 against real processes (Redis, a publisher, two gateways): a pack run's
 * stream started at `?tail=` (its latest status and step events first, then exactly the tail, then
 * live; every id resumable exactly), the JSON history paged backwards, and the plain-text log.
 */
import { get } from 'node:http';
import { dataOf, subjectKeyOf } from '../support/frames';
import { SseStream, openStream } from '../support/sse-client';
import { Stack, TestEvent, chunk, jobEvents, packRunEvents, range, seqsOf, startStack, uniqueId } from '../support/stack';

jest.setTimeout(180_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { FANOUT_HISTORY_MAXLEN: 30_000 } });
});

afterAll(async () => {
  await stack?.stop();
});

const seqOf = (data: string): number => (JSON.parse(data) as { seq: number }).seq;

async function publishAll(events: TestEvent[]): Promise<void> {
  for (const batch of chunk(events, 500)) await stack.publishOk(batch);
}

/** A pack run of 3 steps and `lines` log lines (step 0 done, step 1 running with the lines, step 2 pending), still running. */
async function packRunWithLines(lines: number, message = (n: number) => `line ${n}`) {
  const p = packRunEvents(stack.tenant, uniqueId('tail'));
  await publishAll([
    p.status('pending', { steps: [{ index: 0, name: 'a' }, { index: 1, name: 'b' }, { index: 2, name: 'c' }] }),
    p.status('running'),
    p.step(0, 'a', 'running'),
    p.log(0, 1, 'stdout', 'step a'),
    p.step(0, 'a', 'succeeded', { exitCode: 0 }),
    p.step(2, 'c', 'pending'),
    p.step(1, 'b', 'running'),
    ...range(1, lines).map((n) => p.log(1, n, n % 10 === 0 ? 'stderr' : 'stdout', message(n))),
  ]);
  return p;
}

function text(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'X-Tenant': stack.tenant, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const gatewayUrl = (path: string, g = 0): string => `${stack.gateways[g]!.url}${path}`;

describe('?tail= on a pack run of 3 steps and 5,000 lines', () => {
  let p: ReturnType<typeof packRunEvents>;
  let stream: SseStream;
  const LAST = 7 + 5000;

  beforeAll(async () => {
    p = await packRunWithLines(5000);
    stream = await stack.open('pack-run', p.id, { query: { tail: '100' } });
    await stream.waitForEvents(4 + 100, 30_000);
  });
  afterAll(() => stream?.close());

  test('sends the latest status and step events, then exactly the last 100 lines, then live events', async () => {
    expect(stream.status).toBe(200);
    const first = stream.events().slice(0, 4);
    expect(first.map((f) => [f.event, seqOf(f.data)])).toEqual([
      ['pack_run.status', 2],
      ['pack_run.step', 5],
      ['pack_run.step', 6],
      ['pack_run.step', 7],
    ]);
    expect(stream.named('gap')).toHaveLength(0);
    expect(seqsOf(stream).slice(4)).toEqual(range(LAST - 99, LAST));
    await stack.publishOk([p.log(1, 5001, 'stdout', 'live 1'), p.step(1, 'b', 'succeeded')]);
    await stream.waitForEvents(4 + 102, 10_000);
    expect(seqsOf(stream).slice(4)).toEqual(range(LAST - 99, LAST + 2));
    const ids = stream.events().map((f) => f.id!);
    expect([...ids].sort()).toEqual(ids);
  });

  test('resuming from any id sent gives exactly the events after it (the id wins over ?tail=)', async () => {
    const ids = stream.events().map((f) => f.id!);
    const last = LAST + 2;
    const picks = [0, 1, 3, 4, 50, ids.length - 2, ids.length - 1];
    for (const i of picks) {
      const id = ids[i]!;
      const seq = seqOf(stream.events()[i]!.data);
      const resumed = await stack.open('pack-run', p.id, { gateway: 1, lastEventId: id, query: { tail: '100' } });
      if (seq < last) await resumed.waitForEvents(last - seq, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seqsOf(resumed)).toEqual(range(seq + 1, last));
      expect(resumed.named('gap')).toHaveLength(0);
      resumed.close();
    }
  });

  test('a tail past the retained history starts at its first event (gap first only if trimmed); tail is validated', async () => {
    const all = await stack.open('pack-run', p.id, { query: { tail: '10000' } });
    await all.waitForEvents(LAST + 2, 30_000);
    expect(seqsOf(all)).toEqual(range(1, LAST + 2));
    all.close();
    for (const bad of ['0', '10001', '-1', '1.5', 'x']) {
      const refused = await stack.open('pack-run', p.id, { query: { tail: bad } });
      expect(refused.status).toBe(400);
      expect(JSON.parse(await refused.body())).toMatchObject({ status: 400, detail: expect.stringContaining('tail') });
    }
  });
});

test('?tail= on a multi-subject stream: each subject\'s latest status first, then its last N events, then live', async () => {
  const subjects = [packRunEvents(stack.tenant, uniqueId('tail-multi')), packRunEvents(stack.tenant, uniqueId('tail-multi'))];
  for (const p of subjects) await publishAll([p.status('running'), ...range(1, 20).map((n) => p.log(0, n, 'stdout', `line ${n}`))]);
  const keys = subjects.map((p) => `pack-run:${p.id}`);
  const stream = await openStream(`${gatewayUrl(`/api/v1/stream?subjects=${keys.join(',')}&tail=3`)}`, { headers: { 'X-Tenant': stack.tenant } });
  // Per subject: its status (seq 1, older than the tail), then seqs 19..21 (its last 3 lines).
  await stream.waitForEvents(8);
  for (const p of subjects) await stack.publishOk(p.log(0, 21, 'stdout', 'live'));
  await stream.waitForEvents(10);
  const bySubject = new Map(keys.map((key) => [key, stream.events().filter((f) => subjectKeyOf(f) === key).map((f) => dataOf(f).seq as number)]));
  for (const key of keys) expect(bySubject.get(key)).toEqual([1, 19, 20, 21, 22]);
  expect(stream.named('gap')).toEqual([]);
});

test('?tail=N with ?types= starts at the last N events of those types, on one subject and on many', async () => {
  const job = jobEvents(stack.tenant, uniqueId('tail-types'));
  const other = jobEvents(stack.tenant, uniqueId('tail-types'));
  // Seqs: 1 pending, 2 progress, 3 scheduled, 4 and 5 progress: the last status is older than the last 2 events.
  for (const j of [job, other]) await stack.publishOk([j.status('pending'), j.progress(10), j.status('scheduled'), j.progress(20), j.progress(30)]);
  const cases: [string, string, number[]][] = [
    ['1', 'job.status', [3]],
    ['2', 'job.status', [1, 3]],
    ['5', 'job.status', [1, 3]],
    ['2', 'job.progress', [4, 5]],
    ['2', 'job.status,job.progress', [4, 5]],
  ];
  for (const [tail, types, seqs] of cases) {
    const stream = await stack.open('job', job.id, { query: { tail, types } });
    await stream.waitForEvents(seqs.length);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([tail, types, seqsOf(stream)]).toEqual([tail, types, seqs]);
    expect(stream.named('gap')).toEqual([]);
    stream.close();
  }
  const keys = [`job:${job.id}`, `job:${other.id}`];
  const many = await openStream(gatewayUrl(`/api/v1/stream?subjects=${keys.join(',')}&tail=1&types=job.status`), { headers: { 'X-Tenant': stack.tenant } });
  await many.waitForEvents(2);
  await stack.publishOk(job.status('leased'));
  await many.waitForEvents(3);
  expect(many.events().map((f) => [subjectKeyOf(f), dataOf(f).seq])).toEqual([
    [keys[0], 3],
    [keys[1], 3],
    [keys[0], 6],
  ]);
  many.close();
});

test('?tail= on the activity stream: its last N subject.updated frames, then live', async () => {
  const jobs = range(1, 4).map(() => jobEvents(stack.tenant, uniqueId('tail-activity')));
  for (const job of jobs) await stack.publishOk(job.status('scheduled'));
  const stream = await openStream(gatewayUrl('/api/v1/stream/subjects?tail=2'), { headers: { 'X-Tenant': stack.tenant } });
  await stream.waitForEvents(2);
  const live = jobEvents(stack.tenant, uniqueId('tail-activity'));
  await stack.publishOk(live.status('scheduled'));
  await stream.waitForEvents(3);
  expect(stream.events().map((f) => dataOf(f).subject.id)).toEqual([jobs[2]!.id, jobs[3]!.id, live.id]);
  // The activity's own seqs (its ids are `<epoch>-<seq>`) run on from the tail.
  const seqs = stream.events().map((f) => Number(f.id!.split('-')[1]));
  expect([seqs[1]! - seqs[0]!, seqs[2]! - seqs[1]!]).toEqual([1, 1]);
});

test('backward paging returns every event exactly once, from the end to seq 1', async () => {
  const p = await packRunWithLines(2345);
  const total = 7 + 2345;
  const seen: number[] = [];
  let before = Number.MAX_SAFE_INTEGER;
  for (let pages = 0; pages < 100; pages += 1) {
    const answer = await text(gatewayUrl(`/api/v1/pack-runs/${p.id}/events?before=${before}&limit=1000`, pages % 2));
    expect(answer.status).toBe(200);
    const page = JSON.parse(answer.body) as { events: { seq: number }[]; next: number | null };
    const seqs = page.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    seen.unshift(...seqs);
    if (page.next === null) break;
    expect(page.next).toBe(seqs[0]);
    before = page.next;
  }
  expect(seen).toEqual(range(1, total));
  const bad = await text(gatewayUrl(`/api/v1/pack-runs/${p.id}/events?before=0`));
  expect(bad.status).toBe(400);
  expect((await text(gatewayUrl(`/api/v1/pack-runs/${p.id}/events?before=5&after=1`))).status).toBe(400);
  expect((await text(gatewayUrl(`/api/v1/pack-runs/nope-${p.id}/events?before=5`))).status).toBe(404);
});

describe('GET /api/v1/pack-runs/{id}/log', () => {
  test('the whole log, one line per event, with filters, ANSI kept or stripped, and a download name', async () => {
    const p = packRunEvents(stack.tenant, uniqueId('log'));
    await stack.publishOk([
      p.status('running'),
      p.step(0, 'a', 'running'),
      p.log(0, 1, 'stdout', '\u001b[32mPASS\u001b[0m a.test.ts'),
      p.log(0, 2, 'stderr', 'warning: x'),
      p.log(0, 3, 'stdout', 'downloading 10%\rdownloading 100%'),
      p.step(0, 'a', 'succeeded'),
      p.log(1, 1, 'stdout', 'second step'),
    ]);
    const url = gatewayUrl(`/api/v1/pack-runs/${p.id}/log`);
    const all = await text(url);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(all.headers['content-disposition']).toBeUndefined();
    expect(all.body).toBe('\u001b[32mPASS\u001b[0m a.test.ts\nwarning: x\ndownloading 10%\rdownloading 100%\nsecond step\n');
    expect((await text(`${url}?ansi=strip&step=0&stream=stdout`)).body).toBe('PASS a.test.ts\ndownloading 10%\rdownloading 100%\n');
    expect((await text(`${url}?stream=stderr`)).body).toBe('warning: x\n');
    expect((await text(`${url}?step=1`)).body).toBe('second step\n');
    const download = await text(`${url}?download=1`);
    expect(download.headers['content-disposition']).toBe(`attachment; filename="pack-run-${p.id}.log"`);
    expect((await text(`${url}?ansi=bold`)).status).toBe(400);
    expect((await text(`${url}?step=-1`)).status).toBe(400);
    // A space is not step 0 (Number(' ') is 0), nor is a hexadecimal step 1.
    expect((await text(`${url}?step=%20`)).status).toBe(400);
    expect((await text(`${url}?step=0x1`)).status).toBe(400);
    expect((await text(gatewayUrl(`/api/v1/pack-runs/other-${p.id}/log`))).status).toBe(404);
    expect((await text(url, { 'X-Tenant': `other-${stack.tenant}` })).status).toBe(404);
  });

  test('a log of 20,000 lines streams in full, read as the client reads', async () => {
    const p = await packRunWithLines(20_000, (n) => `line ${n} ${'x'.repeat(200)}`);
    const answer = await new Promise<{ lines: number; firstLine: string; lastLine: string; bytes: number }>((resolve, reject) => {
      get(gatewayUrl(`/api/v1/pack-runs/${p.id}/log?step=1`), { headers: { 'X-Tenant': stack.tenant } }, (res) => {
        let lines = 0;
        let bytes = 0;
        let firstLine = '';
        let rest = '';
        // A slow reader: paused between chunks, so the gateway must wait for the socket to drain.
        res.setEncoding('utf8');
        res.on('data', (part: string) => {
          bytes += Buffer.byteLength(part);
          const text = rest + part;
          const split = text.split('\n');
          rest = split.pop()!;
          if (!firstLine && split.length > 0) firstLine = split[0]!;
          lines += split.length;
          if (lines < 2000) {
            res.pause();
            setTimeout(() => res.resume(), 5);
          }
          if (split.length > 0) lastLine = split[split.length - 1]!;
        });
        let lastLine = '';
        res.on('end', () => resolve({ lines, firstLine, lastLine, bytes }));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(answer.lines).toBe(20_000);
    expect(answer.firstLine).toBe(`line 1 ${'x'.repeat(200)}`);
    expect(answer.lastLine).toBe(`line 20000 ${'x'.repeat(200)}`);
  });
});

test('a trimmed history is noted in the log\'s first line and header, and ?tail= beyond it gets a gap', async () => {
  const small = await startStack({ gateways: 1, env: { FANOUT_HISTORY_MAXLEN: 50 } });
  try {
    const p = packRunEvents(small.tenant, uniqueId('trim'));
    await small.publishOk([p.status('running'), p.step(0, 'a', 'running'), ...range(1, 200).map((n) => p.log(0, n, 'stdout', `l${n}`))]);
    const info = await small.history('pack-run', p.id, { limit: 1 });
    const firstSeq = (info.json as { events: { seq: number }[] }).events[0]!.seq;
    expect(firstSeq).toBeGreaterThan(1);
    const answer = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      get(`${small.gateways[0]!.url}/api/v1/pack-runs/${p.id}/log`, { headers: { 'X-Tenant': small.tenant } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (part: string) => (body += part));
        res.on('end', () => resolve({ headers: res.headers, body }));
      }).on('error', reject);
    });
    expect(answer.headers['fanout-first-seq']).toBe(String(firstSeq));
    const lines = answer.body.split('\n');
    expect(lines[0]).toBe(`[fanout] history trimmed: events 1..${firstSeq - 1} of this pack run are no longer retained; the log below starts at seq ${firstSeq}`);
    expect(lines[1]).toBe(`l${firstSeq - 2}`);
    expect(lines[lines.length - 2]).toBe('l200');
    const tailed = await small.open('pack-run', p.id, { query: { tail: '1000' } });
    await tailed.waitForEvents(202 - firstSeq + 1, 10_000);
    expect(tailed.named('gap').map((f) => JSON.parse(f.data))).toEqual([{ reason: 'history_trimmed', firstAvailableSeq: firstSeq }]);
    expect(seqsOf(tailed)).toEqual(range(firstSeq, 202));
    tailed.close();
    // Fewer lines retained than the filtered tail asks for: the same gap, then every retained line.
    const filtered = await small.open('pack-run', p.id, { query: { tail: '1000', types: 'pack_run.log' } });
    await filtered.waitForEvents(202 - firstSeq + 1, 10_000);
    expect(filtered.named('gap').map((f) => JSON.parse(f.data))).toEqual([{ reason: 'history_trimmed', firstAvailableSeq: firstSeq }]);
    expect(seqsOf(filtered)).toEqual(range(firstSeq, 202));
    filtered.close();
  } finally {
    await small.stop();
  }
});

