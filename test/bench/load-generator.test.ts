import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { GzipBody, endFrame } from '@fanout/sse';

// The benchmark's load generator (plain CommonJS under bench/): what it counts is what B1–B6 report.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startWorkers } = require('../../bench/lib/loadgen.js') as {
  startWorkers(count: number, options: { sink?: boolean; log?: (line: string) => void }): Promise<Pool>;
};

interface Stats {
  conns: number;
  ids: number;
  frames: number;
  bytes: number;
  ok: number;
  reached: number;
  loss: number;
  extra: number;
  seqGaps: number;
  seqDups: number;
  reordered: number;
  sampled: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
}
interface Pool {
  open(specs: object[], options: { concurrency?: number; sampleEvery?: number }): Promise<void>;
  waitFor(done: (s: Stats) => boolean, options: { timeoutMs: number; stallMs?: number }): Promise<{ stats: Stats; finished: boolean; reason?: string }>;
  stats(): Promise<Stats>;
  closeAll(): Promise<void>;
  stop(): Promise<void>;
}

const EVENTS = 3000;
const HEARTBEAT_EVERY = 500;

/** One stream's body: `retry:`, EVENTS domain frames and a heartbeat every HEARTBEAT_EVERY events. */
function streamBody(): { body: Buffer; frames: number } {
  const parts = ['retry: 1000\n\n'];
  let frames = 1;
  for (let seq = 1; seq <= EVENTS; seq++) {
    const data = JSON.stringify({ subject: { kind: 'job', id: 'j' }, seq, publishedAt: new Date().toISOString(), note: 'x'.repeat(seq % 300) });
    parts.push(`id: 0000000a-${String(seq).padStart(10, '0')}\nevent: job.progress\ndata: ${data}\n\n`);
    frames++;
    if (seq % HEARTBEAT_EVERY === 0) {
      parts.push(`event: heartbeat\ndata: {"at":"${new Date().toISOString()}"}\n\n`);
      frames++;
    }
  }
  return { body: Buffer.from(parts.join('')), frames };
}

/**
 * A stream as Nchan writes it (nchan_subscriber eventsource, no chunked encoding): a `: hi` comment,
 * then `id: <time>:<tag>` and the published body as `data:`. The bodies carry the seq the load
 * generator numbered them with; `swapEvery` swaps each such pair of neighbours (requests that
 * reached nginx in another order), `skip` leaves seqs out.
 */
function nchanBody({ swapEvery = 0, skip = [] as number[] } = {}): { body: Buffer; events: number; swapped: number } {
  const seqs = Array.from({ length: EVENTS }, (_, i) => i + 1).filter((seq) => !skip.includes(seq));
  let swapped = 0;
  if (swapEvery) {
    for (let i = swapEvery - 1; i + 1 < seqs.length; i += swapEvery) {
      [seqs[i], seqs[i + 1]] = [seqs[i + 1]!, seqs[i]!];
      swapped++;
    }
  }
  const parts = [': hi\n\n'];
  seqs.forEach((seq, i) => {
    const data = JSON.stringify({ tenant: 't', subject: { kind: 'job', id: 'j' }, type: 'job.progress', data: { percent: seq % 101 }, seq, publishedAt: new Date().toISOString() });
    parts.push(`id: 1796401882:${i}\ndata: ${data}\n\n`);
  });
  return { body: Buffer.from(parts.join('')), events: seqs.length, swapped };
}

/** The frames of `body`, each with its "\n\n". */
function framesOf(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const end = body.indexOf('\n\n', at) + 2;
    out.push(body.subarray(at, end));
    at = end;
  }
  return out;
}

/** `body` as a gateway sends it gzip: a header, a shared segment per group of frames, and the trailer after `end`. */
function gzipped(body: Buffer): Buffer {
  const gzip = new GzipBody();
  const frames = framesOf(body);
  const parts: Buffer[] = [];
  for (let i = 0; i < frames.length; i += 1 + (i % 5)) parts.push(gzip.encode(Buffer.concat(frames.slice(i, i + 1 + (i % 5)))));
  parts.push(gzip.finish(endFrame('completed')));
  return Buffer.concat(parts);
}

/** Cuts `body` at every length in `cuts` in turn: separators end up split across writes (and reads). */
function pieces(body: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const size = cuts[i % cuts.length]!;
    out.push(body.subarray(at, at + size));
    at += size;
  }
  return out;
}

describe('the benchmark load generator counts exactly what the server sent', () => {
  const { body, frames } = streamBody();
  const gzipBody = gzipped(body);
  const nchanStreams: Record<string, ReturnType<typeof nchanBody>> = {
    '/nchan': nchanBody(),
    '/nchan-reordered': nchanBody({ swapEvery: 7 }),
    '/nchan-hole': nchanBody({ swapEvery: 7, skip: [1000, 2000, 2001] }),
  };
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/missing') return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no');
      const nchan = nchanStreams[req.url ?? ''];
      if (nchan) {
        // As nginx writes it: not chunked, the head then the body, here in tiny pieces.
        res.removeHeader('Transfer-Encoding');
        res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'close' });
        res.flushHeaders();
        const socket = res.socket!;
        const queue = pieces(nchan.body, [1, 2, 3, 4, 5, 6, 7, 8, 9, 700]);
        const next = (): void => {
          const piece = queue.shift();
          if (!piece || socket.destroyed) return;
          socket.write(piece);
          setImmediate(next);
        };
        next();
        return;
      }
      const headers = { 'Content-Type': 'text/event-stream' };
      if (req.url === '/gzip') {
        // As the gateway answers a client that asks for gzip, in tiny pieces.
        res.removeHeader('Transfer-Encoding');
        res.writeHead(200, { ...headers, 'Content-Encoding': 'gzip', Connection: 'close' });
        res.flushHeaders();
        const socket = res.socket!;
        const queue = pieces(gzipBody, [1, 2, 3, 5, 8, 13, 400]);
        const next = (): void => {
          const piece = queue.shift();
          if (!piece || socket.destroyed) return;
          socket.write(piece);
          setImmediate(next);
        };
        next();
        return;
      }
      // Bodies that are not chunk-encoded go straight to the socket, after the head, as the gateway's do.
      const socket = res.socket!;
      if (req.url !== '/chunked') res.removeHeader('Transfer-Encoding');
      if (req.url === '/at-once') {
        // Head and a large body in one write: they reach the client in one read.
        socket.cork();
        res.writeHead(200, { ...headers, Connection: 'close' }).flushHeaders();
        socket.write(body);
        process.nextTick(() => socket.uncork());
        return;
      }
      if (req.url === '/chunked') {
        // As the baseline server writes: one chunk per frame (counting is done on the raw bytes).
        res.writeHead(200, headers);
        for (const frame of framesOf(body)) res.write(frame);
        return;
      }
      // Tiny writes, one per turn, so reads are tiny too and "\nid: " and "\n\n" straddle them.
      res.writeHead(200, { ...headers, Connection: 'close' });
      res.flushHeaders();
      const queue = pieces(body, [1, 2, 3, 4, 5, 6, 7, 8, 9, 1500]);
      const next = (): void => {
        const piece = queue.shift();
        if (!piece || socket.destroyed) return;
        socket.write(piece);
        setImmediate(next);
      };
      next();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  // With the C sink the sampled connections are in Node and the others in C; without it, all in Node.
  describe.each([
    ['with the C counting sink', true],
    ['with Node workers only', false],
  ])('%s', (_name, sink) => {
    let pool: Pool;
    const lines: string[] = [];
    beforeAll(async () => {
      pool = await startWorkers(2, { sink, log: (line) => lines.push(line) });
    });
    afterEach(async () => {
      await pool.closeAll();
    });
    afterAll(async () => {
      await pool.stop();
    });

    it('says which generator it runs', () => {
      expect(lines.join('\n')).toContain(sink ? '+ the C counting sink' : 'no C sink');
    });

    it('counts every byte, frame and domain frame of streams cut at awkward places, chunked or not', async () => {
      const paths = ['/tiny', '/chunked', '/at-once'];
      const specs = Array.from({ length: 12 }, (_, i) => ({ host: '127.0.0.1', port, path: paths[i % paths.length], target: EVENTS, startSeq: 0 }));
      await pool.open(specs, { concurrency: 6, sampleEvery: 4 });
      const done = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 60_000 });
      expect(done.finished).toBe(true);
      const s = await pool.stats();
      const chunked = specs.filter((spec) => spec.path === '/chunked').length;
      expect(s).toMatchObject({ conns: 12, ok: 12, ids: 12 * EVENTS, loss: 0, extra: 0, seqGaps: 0, seqDups: 0, sampled: 3, errors: {} });
      expect(s.frames).toBe(12 * frames);
      // Chunked streams carry a size line and a CRLF per chunk on top of the frames.
      const chunkBytes = framesOf(body).reduce((sum, frame) => sum + frame.length.toString(16).length + 4, 0);
      expect(s.bytes).toBe((12 - chunked) * body.length + chunked * (body.length + chunkBytes));
    });

    it('counts the frames of a gzip stream in what it inflates to, and its bytes as they came', async () => {
      const specs = Array.from({ length: 6 }, () => ({ host: '127.0.0.1', port, path: '/gzip', target: EVENTS, startSeq: 0 }));
      await pool.open(specs, { concurrency: 6, sampleEvery: 3 });
      const done = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 60_000 });
      expect(done.finished).toBe(true);
      const s = await pool.stats();
      // The frames, and the `end` frame that closes the body.
      expect(s).toMatchObject({ conns: 6, ok: 6, ids: 6 * EVENTS, frames: 6 * (frames + 1), bytes: 6 * gzipBody.length, loss: 0, extra: 0, seqGaps: 0, seqDups: 0, sampled: 2, errors: {} });
      expect(gzipBody.length).toBeLessThan(body.length / 2);
    });

    it("counts Nchan's EventSource frames (its `: hi` comment is not a domain frame)", async () => {
      const { body: nchan, events } = nchanStreams['/nchan']!;
      const specs = Array.from({ length: 6 }, () => ({ host: '127.0.0.1', port, path: '/nchan', target: events, startSeq: 0, reorder: true }));
      await pool.open(specs, { concurrency: 6, sampleEvery: 3 });
      const done = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 60_000 });
      expect(done.finished).toBe(true);
      const s = await pool.stats();
      expect(s).toMatchObject({ conns: 6, ok: 6, ids: 6 * events, frames: 6 * (events + 1), bytes: 6 * nchan.length, loss: 0, extra: 0, seqGaps: 0, seqDups: 0, reordered: 0, sampled: 2 });
    });

    it('on reorder streams, a seq that arrives early is reordered, not a gap; one that never arrives is a gap', async () => {
      const reordered = nchanStreams['/nchan-reordered']!;
      const hole = nchanStreams['/nchan-hole']!;
      const specs = [
        { host: '127.0.0.1', port, path: '/nchan-reordered', target: reordered.events, startSeq: 0, reorder: true, sample: true },
        { host: '127.0.0.1', port, path: '/nchan-hole', target: hole.events, startSeq: 0, reorder: true, sample: true },
      ];
      await pool.open(specs, { concurrency: 0 });
      const done = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 60_000 });
      expect(done.finished).toBe(true);
      const s = await pool.stats();
      // 1000 is missing (a gap); 2000 and 2001 are missing at once (two gaps); none is a duplicate.
      expect(s).toMatchObject({ ids: reordered.events + hole.events, seqGaps: 3, seqDups: 0, reordered: reordered.swapped + hole.swapped });
      await pool.closeAll();
      // The same stream checked for strict order (fanout's streams): every swap shows as a gap and a duplicate.
      await pool.open([{ host: '127.0.0.1', port, path: '/nchan-reordered', target: reordered.events, startSeq: 0, sample: true }], { concurrency: 0 });
      await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 60_000 });
      const strict = await pool.stats();
      expect(strict).toMatchObject({ seqGaps: reordered.swapped, seqDups: reordered.swapped, reordered: 0 });
    });

    it('reports a refused stream by its status and loses nothing else', async () => {
      const specs = [
        { host: '127.0.0.1', port, path: '/missing', target: 1 },
        { host: '127.0.0.1', port, path: '/at-once', target: EVENTS },
        { host: '127.0.0.1', port, path: '/missing', target: 1 },
      ];
      await pool.open(specs, { concurrency: 0, sampleEvery: 100 });
      await pool.waitFor((s) => s.ids >= EVENTS, { timeoutMs: 60_000 });
      const s = await pool.stats();
      expect(s.statuses).toEqual({ 200: 1, 404: 2 });
      expect(s.ids).toBe(EVENTS);
      expect(s.loss).toBe(2);
    });
  });
});
