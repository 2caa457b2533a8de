/**
 * `?conflate=progress` (issue 17, item 4): a client that stops reading while 10,000 progress events
 * and 100 status events are published, then reads again, gets every status event in order, the
 * latest progress, and `conflated` frames saying exactly what was skipped; without the flag the same
 * client is disconnected as `slow_consumer`, as before. Real redis-server, a publisher and a gateway
 * spawned through the CLI, a raw node:http client that pauses its response. Timeouts are hang guards.
 */
import { IncomingMessage, request } from 'node:http';
import { connect, Socket } from 'node:net';
import { createParser } from 'eventsource-parser';
import { jobEvents, chunk, packRunEvents, Stack, startStack, TestEvent } from '../support/stack';
import { waitFor } from '../support/wait';

jest.setTimeout(180_000);

let stack: Stack;

beforeAll(async () => {
  // Heartbeats far apart: the stalled-reader check (no bytes taken over a heartbeat interval) stays out of the way.
  stack = await startStack({ gateways: 1, gatewayEnv: { FANOUT_HEARTBEAT_MS: 120_000 } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

interface Frame {
  event: string;
  id?: string;
  data: string;
}

interface PausedStream {
  frames: Frame[];
  /** 'open' until the response ends: 'ended' (the connection closed), 'cut' (reset, or closed by the client). */
  outcome(): 'open' | 'ended' | 'cut';
  read(): void;
  close(): void;
}

/** A stream whose client reads nothing until `read()`: its socket's buffers fill and the gateway's unsent bytes grow. */
function openPaused(url: string, tenant: string): Promise<PausedStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'text/event-stream', 'X-Tenant': tenant }, agent: false });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.pause();
      const frames: Frame[] = [];
      let outcome: 'open' | 'ended' | 'cut' = 'open';
      const parser = createParser({ onEvent: (m) => frames.push({ event: m.event ?? 'message', data: m.data, ...(m.id === undefined ? {} : { id: m.id }) }) });
      res.setEncoding('utf8');
      res.on('data', (chunkText: string) => parser.feed(chunkText));
      res.once('end', () => (outcome = 'ended'));
      res.once('close', () => {
        if (!res.complete) outcome = 'cut';
      });
      req.on('error', () => undefined);
      resolve({ frames, outcome: () => outcome, read: () => res.resume(), close: () => req.destroy() });
    });
    req.end();
  });
}

/** 10,000 progress events of about 2 KB and 100 status events (pending, then scheduled ⇄ throttled, then leased and running), one status after every 100 progress events. */
function burst(job: ReturnType<typeof jobEvents>): TestEvent[] {
  const statuses = ['scheduled', ...Array.from({ length: 48 }, () => ['throttled', 'scheduled']).flat(), 'leased', 'running'];
  const padding = 'x'.repeat(2000);
  const events: TestEvent[] = [];
  for (let i = 1; i <= 10_000; i += 1) {
    events.push(job.progress((i % 100) + 0.5, `${i} ${padding}`));
    if (i % 100 === 0 && statuses.length > 0) events.push(job.status(statuses.shift()!));
  }
  return events;
}

async function publishAll(events: TestEvent[], batchSize = 400): Promise<void> {
  for (const batch of chunk(events, batchSize)) await stack.publishOk(batch);
}

const slowConsumers = async (): Promise<number> => (await stack.gateways[0]!.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })) ?? 0;

test('a conflating client that stopped reading gets every status in order, the latest progress and what was skipped; without the flag it is dropped', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const url = stack.streamUrl('job', job.id, 0, { conflate: 'progress' });
  const delivered = async (): Promise<number> => (await stack.gateways[0]!.metric('fanout_gateway_events_delivered_total', { kind: 'job' })) ?? 0;
  const deliveredBefore = await delivered();
  const stream = await openPaused(url, stack.tenant);
  const droppedBefore = await slowConsumers();

  const events = burst(job);
  await publishAll(events);
  const lastSeq = 1 + events.length;
  const statusSeqs = [1, ...events.flatMap((e, i) => (e.type === 'job.status' ? [i + 2] : []))];
  const progressSeqs = events.flatMap((e, i) => (e.type === 'job.progress' ? [i + 2] : []));
  expect(statusSeqs).toHaveLength(100);
  expect(progressSeqs).toHaveLength(10_000);

  stream.read();
  const seqOf = (f: Frame) => (JSON.parse(f.data) as { seq: number }).seq;
  await waitFor('the last event', () => stream.frames.some((f) => f.id !== undefined && seqOf(f) === lastSeq), 60_000);
  expect(stream.outcome()).toBe('open');
  expect(await slowConsumers()).toBe(droppedBefore);

  const domain = stream.frames.filter((f) => f.id !== undefined);
  expect(domain.filter((f) => f.event === 'job.status').map(seqOf)).toEqual(statusSeqs);
  const progress = domain.filter((f) => f.event === 'job.progress').map(seqOf);
  expect(progress[progress.length - 1]).toBe(lastSeq);
  // Every seq at most once, in order.
  const seqs = domain.map(seqOf);
  expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));

  // The notices account for every progress event not received, exactly.
  const notices = stream.frames.filter((f) => f.event === 'conflated').map((f) => JSON.parse(f.data) as { type: string; skipped: number; firstSeq: number; lastSeq: number });
  expect(notices.length).toBeGreaterThan(0);
  const received = new Set(progress);
  const skipped = new Set<number>();
  for (const notice of notices) {
    expect(notice.type).toBe('job.progress');
    const inRange = progressSeqs.filter((seq) => seq >= notice.firstSeq && seq <= notice.lastSeq);
    expect(inRange).toHaveLength(notice.skipped);
    for (const seq of inRange) {
      expect(received.has(seq)).toBe(false);
      skipped.add(seq);
    }
  }
  expect(received.size + skipped.size).toBe(10_000);
  expect(skipped.size).toBeGreaterThan(0);
  expect(await stack.gateways[0]!.metric('fanout_gateway_conflated_events_total')).toBe(skipped.size);
  // Delivered counts what was written: the events received, not those skipped.
  expect((await delivered()) - deliveredBefore).toBe(domain.length);
  // Each notice comes right before the progress event that superseded what it names.
  stream.frames.forEach((f, i) => {
    if (f.event !== 'conflated') return;
    const next = stream.frames[i + 1]!;
    expect(next.event).toBe('job.progress');
    expect(seqOf(next)).toBeGreaterThan((JSON.parse(f.data) as { lastSeq: number }).lastSeq);
  });
  stream.close();

  // The same client without the flag: disconnected as a slow consumer, exactly as before.
  const plainJob = jobEvents(stack.tenant);
  await stack.publishOk(plainJob.status('pending'));
  const plain = await openPaused(stack.streamUrl('job', plainJob.id, 0), stack.tenant);
  await publishAll(burst(plainJob));
  await waitFor('the slow consumer to be dropped', async () => (await slowConsumers()) === droppedBefore + 1, 60_000);
  plain.read();
  // The body ends with the connection (no chunked encoding): a dropped client sees its response end without an `end` frame.
  await waitFor('the dropped stream to close', () => plain.outcome() !== 'open', 30_000);
  expect(plain.frames.filter((f) => f.event === 'conflated' || f.event === 'end')).toEqual([]);
  const plainSeqs = plain.frames.filter((f) => f.id !== undefined).map(seqOf);
  expect(plainSeqs).toEqual(plainSeqs.map((_, i) => i + 1));
  expect(plainSeqs.length).toBeLessThan(lastSeq);
  plain.close();
});

test('what a conflating stream holds counts towards FANOUT_CLIENT_BUFFER_BYTES: a client behind on log lines, never dropped, is disconnected', async () => {
  const pack = packRunEvents(stack.tenant);
  await stack.publishOk([pack.status('pending'), pack.status('running'), pack.step(0, 'build', 'running')]);
  const stream = await openPaused(stack.streamUrl('pack-run', pack.id, 0, { conflate: 'progress' }), stack.tenant);
  const droppedBefore = await slowConsumers();
  const line = 'y'.repeat(4000);
  // Batches well under the threshold: it is what is held that passes the limit, not one large write.
  await publishAll(Array.from({ length: 5000 }, (_, i) => pack.log(0, i + 1, 'stdout', `${i + 1} ${line}`)), 20);
  await waitFor('the slow consumer to be dropped', async () => (await slowConsumers()) === droppedBefore + 1, 60_000);
  stream.read();
  await waitFor('the dropped stream to close', () => stream.outcome() !== 'open', 30_000);
  expect(stream.frames.filter((f) => f.event === 'conflated' || f.event === 'end')).toEqual([]);
  const lineNos = stream.frames.filter((f) => f.event === 'pack_run.log').map((f) => (JSON.parse(f.data) as { data: { lineNo: number } }).data.lineNo);
  expect(lineNos).toEqual(lineNos.map((_, i) => i + 1));
  expect(lineNos.length).toBeLessThan(5000);
  stream.close();
});

test('a conflating client that is behind but takes some bytes in every heartbeat interval is not dropped, however rarely it reads within one; no heartbeats pile up behind what is held', async () => {
  // Heartbeats every 3 s: the gateway's sweep looks every 300 ms. The client takes 256 KB once a second.
  const heartbeatMs = 3_000;
  const own = await startStack({ gateways: 1, gatewayEnv: { FANOUT_HEARTBEAT_MS: heartbeatMs } });
  let socket: Socket | undefined;
  let publishing = true;
  try {
    const job = jobEvents(own.tenant);
    await own.publishOk(job.status('pending'));
    const dropped = async (): Promise<number> => (await own.gateways[0]!.metric('fanout_gateway_disconnects_total', { reason: 'slow_consumer' })) ?? 0;
    const droppedBefore = await dropped();
    socket = connect(own.gateways[0]!.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket!.once('connect', resolve);
      socket!.once('error', reject);
    });
    const url = new URL(own.streamUrl('job', job.id, 0, { conflate: 'progress' }));
    const stream = socket;
    stream.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-Tenant: ${own.tenant}\r\n\r\n`);
    const received: Buffer[] = [];
    let closed = false;
    stream.on('close', () => (closed = true));
    // Enough at a time for the kernel to open its window again (a few KB would not reach the gateway).
    const take = async (bytes: number) => {
      const until = Date.now() + 200;
      while (bytes > 0 && Date.now() < until) {
        const chunkRead = stream.read() as Buffer | null;
        if (chunkRead === null) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        received.push(chunkRead);
        bytes -= chunkRead.length;
      }
    };
    // Progress published faster than the client reads: the gateway stays behind and holds what comes next.
    const padding = 'z'.repeat(2_000);
    let n = 0;
    const publisher = (async () => {
      while (publishing) {
        await own.publishOk(Array.from({ length: 100 }, () => job.progress(((n += 1) % 100) + 0.5, `${n} ${padding}`)));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const started = Date.now();
    while (Date.now() - started < 4 * heartbeatMs) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await take(256 * 1024);
    }
    publishing = false;
    await publisher;
    expect(closed).toBe(false);
    expect(await dropped()).toBe(droppedBefore);

    // Now it reads everything: the latest progress arrives, and only a few heartbeats came meanwhile.
    await own.publishOk(job.status('canceled'));
    stream.on('data', (data: Buffer) => received.push(data));
    stream.resume();
    await waitFor('the end of the stream', () => Buffer.concat(received).includes('event: end'), 60_000);
    const text = Buffer.concat(received).toString('utf8');
    const heartbeats = text.split('\nevent: heartbeat\n').length - 1 + (text.includes('\r\n\r\nevent: heartbeat\n') ? 1 : 0);
    expect(heartbeats).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / heartbeatMs) + 1);
    expect(text).toContain('event: job.status\ndata: ');
    expect(text).toMatch(/"status":"canceled"/);
    expect(await dropped()).toBe(droppedBefore);
  } finally {
    publishing = false;
    socket?.destroy();
    await own.stop();
  }
}, 120_000);
