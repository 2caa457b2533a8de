/**
 * Issue 12, item 5, on the publisher: a body nested a million levels deep (under the 4 MiB limit)
 * is a 400 problem+json, not a 500 with a stack trace; and FANOUT_TENANT_MAX_SUBJECTS bounds the
 * subjects one tenant holds: a new subject past it is a 429 problem+json with Retry-After and is
 * not stored, while the tenant's subjects go on. Real redis-server, publisher and gateway on loopback.
 */
import { randomUUID } from 'node:crypto';
import { Socket, connect } from 'node:net';
import { runCli } from '../support/cli';
import { millionDeepBodies } from '../support/deep-json';
import { startFanout } from '../support/fanout-process';
import { closeAllStreams, within } from '../support/sse-client';
import { PublishResult, Stack, jobEvents, packRunEvents, postBytes, runEvents, startStack } from '../support/stack';
import { sleep, waitFor } from '../support/wait';

jest.setTimeout(60_000);

const HISTORY_TTL_S = 2;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1, publisherEnv: { FANOUT_TENANT_MAX_SUBJECTS: 3, FANOUT_HISTORY_TTL_S: HISTORY_TTL_S } });
}, 60_000);

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

const PROBLEM = /^application\/problem\+json\b/;

/** A publisher started with each of `values` for `variable` exits at once, with one line naming it. */
async function expectRefusedAtStart(variable: string, values: string[]): Promise<void> {
  for (const value of values) {
    const run = await runCli(['publisher'], { env: { REDIS_URL: stack.redis.url, FANOUT_AUTH: 'none', HOST: '127.0.0.1', PORT: '0', [variable]: value }, timeoutMs: 20_000 });
    expect({ value, code: run.code === 0 ? 'exited 0' : 'refused' }).toEqual({ value, code: 'refused' });
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
  }
}

async function postJson(body: string) {
  return postBytes(`${stack.publisher.url}/api/v1/events`, body, { 'Content-Type': 'application/json' });
}

describe('deep nesting', () => {
  // The answers to nesting at and past the limit are checked in process (apps/server/test/routes.test.ts);
  // this one is about the process: no stack overflow is logged.
  test('a million levels (under 4 MiB), as an event field or the whole body, is a 400 problem+json; no error is logged', async () => {
    const job = jobEvents(stack.tenant);
    for (const body of millionDeepBodies(JSON.stringify(job.status('pending')))) {
      expect(Buffer.byteLength(body)).toBeLessThan(4 * 1024 * 1024);
      const answer = await postJson(body);
      expect({ status: answer.status, contentType: answer.headers['content-type'] }).toEqual({ status: 400, contentType: expect.stringMatching(PROBLEM) });
      expect(answer.json).toMatchObject({ title: 'Bad Request', status: 400, detail: expect.stringMatching(/nested deeper than 64 levels/) });
    }
    expect((await stack.history('job', job.id)).status).toBe(404);
    expect(stack.publisher.logs.filter((line) => /unexpected error|RangeError|stack size/.test(line))).toEqual([]);
  });
});

/**
 * Sends `head`, then body bytes as fast as the connection takes them until the server answers (or
 * `maxBytes` are sent), then a piece every 200 ms, as a client that goes on sending would, until the
 * server closes the connection (or 25 s pass): the answer's first line, how much was sent by then,
 * and how long after the answer the connection was closed.
 */
function sendUntilAnswered(port: number, head: string, piece: Buffer, maxBytes: number): Promise<{ statusLine: string; sentBytes: number; closed: boolean; closedAfterAnswerMs: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let sentBytes = 0;
    let answer = '';
    let answeredAt = 0;
    let trickle: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(trickle);
      socket.destroy();
      resolve({ statusLine: answer.split('\r\n')[0] ?? '', sentBytes, closed, closedAfterAnswerMs: Date.now() - answeredAt });
    };
    socket.on('error', () => settle(true));
    socket.on('close', () => settle(true));
    socket.on('data', (data: Buffer) => {
      answer += data.toString('latin1');
      if (answeredAt) return;
      answeredAt = Date.now();
      trickle = setInterval(() => socket.write(piece), 200);
      setTimeout(() => settle(false), 25_000).unref();
    });
    socket.once('connect', () => {
      socket.write(head);
      const pump = (): void => {
        while (!settled && answer === '' && sentBytes < maxBytes) {
          sentBytes += piece.length;
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
        if (sentBytes >= maxBytes && answer === '') reject(new Error(`no answer after ${sentBytes} bytes`));
      };
      pump();
    });
  });
}

describe('request body limit', () => {
  test('a body declared over 64 MiB, or a chunked one that passes 64 MiB and never ends, is a 413 without reading on, and its connection is closed', async () => {
    const port = Number(new URL(stack.publisher.url).port);
    const post = `POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Tenant: ${stack.tenant}\r\n`;
    const declared = await sendUntilAnswered(port, `${post}Content-Length: 1000000000000\r\n\r\n`, Buffer.alloc(64 * 1024, 32), 256 * 1024 * 1024);
    const chunkBody = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024, 32), Buffer.from('\r\n')]);
    const chunked = await sendUntilAnswered(port, `${post}Transfer-Encoding: chunked\r\n\r\n`, chunkBody, 256 * 1024 * 1024);
    for (const [what, result] of [['declared', declared], ['chunked', chunked]] as const) {
      expect({ what, statusLine: result.statusLine, closed: result.closed, within15s: result.closedAfterAnswerMs < 15_000 }).toEqual({ what, statusLine: 'HTTP/1.1 413 Payload Too Large', closed: true, within15s: true });
      // Refused without reading on: a declared body at once, a chunked one once 64 MiB had come
      // (what was sent past that is what the sockets' buffers held).
      expect({ what, sentUnder128MiB: result.sentBytes < 128 * 1024 * 1024 }).toEqual({ what, sentUnder128MiB: true });
    }
    // Any answer given before its body ended (a 404 of a POST): a client that goes on sending is cut
    // a moment later, not read for as long as it sends (up to Node's 30 s request timeout).
    const early = await sendUntilAnswered(port, `POST /api/v1/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000000\r\n\r\n`, Buffer.alloc(64 * 1024, 32), 256 * 1024 * 1024);
    expect({ statusLine: early.statusLine, closed: early.closed, within15s: early.closedAfterAnswerMs < 15_000 }).toEqual({ statusLine: 'HTTP/1.1 404 Not Found', closed: true, within15s: true });

    // A chunked body within the limit is taken as before.
    const job = jobEvents(stack.tenant);
    const small = JSON.stringify(job.status('pending'));
    const accepted = await fetch(`${stack.publisher.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: new Blob([small]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(accepted.status).toBe(202);
  });
});

test('a publish whose body stops coming is answered 408 (problem+json) after a 15 s pause, its connection closed, and nothing of it stored', async () => {
  const port = Number(new URL(stack.publisher.url).port);
  const job = jobEvents(stack.tenant);
  const body = Buffer.from(JSON.stringify(job.status('pending')));
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Tenant: ${stack.tenant}\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body.subarray(0, 10));
  const paused = Date.now();
  const closedAt = await closed;
  console.log(`a body paused was answered and closed after ${closedAt - paused} ms`);
  expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  expect(text).toMatch(/\r\nContent-Type: application\/problem\+json/i);
  expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 408, detail: expect.stringContaining('15 s') });
  // Nothing of it was stored: the same event is the subject's first.
  expect(await stack.publishOk(job.status('pending'))).toEqual([expect.objectContaining({ seq: 1, duplicate: false })]);
}, 60_000);

test('a kept-alive connection idle past 5 s is closed with nothing more sent, and the process serves on (publisher and gateway, after a publish and a GET)', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const body = JSON.stringify(job.status('scheduled'));
  const targets = [
    { process: stack.publisher, request: `POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Tenant: ${stack.tenant}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, status: 202 },
    { process: stack.publisher, request: 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', status: 200 },
    { process: stack.gateways[0]!, request: `GET /api/v1/jobs/${job.id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tenant: ${stack.tenant}\r\n\r\n`, status: 200 },
  ];
  await Promise.all(
    targets.map(async ({ process, request, status }) => {
      const socket = connect(Number(new URL(process.url).port), '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(request);
      await waitFor(`the answer of ${request.split(' ', 2).join(' ')}`, () => /\r\n\r\n/.test(text), 10_000);
      expect(text.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
      expect(text).toMatch(/\r\nConnection: keep-alive\r\n/i);
      await within('the idle connection to be closed', closed, 20_000);
      expect(text).not.toContain('HTTP/1.1 408');
    }),
  );
  await sleep(500);
  expect({ publisherExited: stack.publisher.exited, gatewayExited: stack.gateways[0]!.exited }).toEqual({ publisherExited: false, gatewayExited: false });
  expect((await fetch(`${stack.publisher.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${stack.gateways[0]!.url}/healthz`)).status).toBe(200);
}, 60_000);

test('a body that ends after an early answer keeps its connection: the next request on it is served', async () => {
  const port = Number(new URL(stack.publisher.url).port);
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const body = Buffer.alloc(5 * 1024 * 1024, 32);
  socket.write(`POST /api/v1/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body);
  await waitFor('the 404', () => text.startsWith('HTTP/1.1 404'), 10_000);
  await sleep(2000); // past the moment a body still arriving closes the connection
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await waitFor('the answer to the next request', () => /HTTP\/1\.1 200 OK[\s\S]*"status":"ok"/.test(text), 10_000);
  expect(socket.destroyed).toBe(false);
  socket.destroy();
});

describe('FANOUT_TENANT_MAX_SUBJECTS', () => {
  test('with 3: a fourth subject is a 429 with Retry-After and is not stored; the first three take more events; another tenant is not affected', async () => {
    const tenant = `quota-${randomUUID().slice(0, 8)}`;
    const [a, b, c, d] = [jobEvents(tenant), runEvents(tenant), packRunEvents(tenant), jobEvents(tenant)];
    await stack.publishOk([a.status('pending'), b.status('pending'), c.status('pending')]);

    const refused = await stack.publish(d.status('pending'));
    expect({ status: refused.status, contentType: refused.headers.get('content-type') }).toEqual({ status: 429, contentType: expect.stringMatching(PROBLEM) });
    // Every subject of the tenant is running: a place frees one history TTL after one of them ends, at the soonest.
    expect(refused.headers.get('retry-after')).toBe(String(HISTORY_TTL_S));
    expect(refused.json).toMatchObject({ title: 'Too Many Requests', status: 429, detail: expect.stringMatching(new RegExp(`job ${d.id}: .*maximum of 3 subjects`)) });
    expect(refused.json.results).toEqual([{ eventId: expect.any(String), error: expect.stringMatching(/maximum of 3 subjects/) }]);
    expect((await stack.history('job', d.id, { tenant })).status).toBe(404);

    // A batch spanning an existing subject and a new one: the existing subject's events are stored, the new one's refused, the answer 429.
    const mixed = [a.status('scheduled'), d.status('pending'), a.progress(10), b.status('running')];
    const partly = await stack.publish(mixed);
    expect(partly.status).toBe(429);
    expect(partly.headers.get('retry-after')).toBe(String(HISTORY_TTL_S));
    const results = partly.json.results as PublishResult[];
    expect(results.map((r) => r.eventId)).toEqual(mixed.map((e) => e.eventId));
    expect(results[0]).toEqual({ eventId: mixed[0]!.eventId, seq: 2, duplicate: false });
    expect(results[1]).toEqual({ eventId: mixed[1]!.eventId, error: expect.stringMatching(/maximum of 3 subjects/) });
    expect(results[2]).toEqual({ eventId: mixed[2]!.eventId, seq: 3, duplicate: false });
    expect(results[3]).toEqual({ eventId: mixed[3]!.eventId, seq: 2, duplicate: false });
    expect((await stack.history('job', d.id, { tenant })).status).toBe(404);

    for (const [kind, id, count] of [['job', a.id, 3], ['run', b.id, 2], ['pack-run', c.id, 1]] as const) {
      const history = await stack.history(kind, id, { tenant });
      expect({ id, status: history.status, count: history.json.events.length }).toEqual({ id, status: 200, count });
    }
    await stack.publishOk([c.status('running')]);
    const other = jobEvents(`quota-${randomUUID().slice(0, 8)}`);
    await stack.publishOk(other.status('pending'));

    // The one that ends frees its place once its history has expired; then the fourth is stored.
    await stack.publishOk(b.status('completed'));
    const untilExpired = await stack.publish(d.status('pending'));
    expect(untilExpired.status).toBe(429);
    expect(Number(untilExpired.headers.get('retry-after'))).toBeLessThanOrEqual(HISTORY_TTL_S);
    const accepted = d.status('pending');
    await waitFor('the fourth subject to be accepted once the ended one expired', async () => (await stack.publish(accepted)).status === 202, 15_000, 200);
    expect((await stack.history('job', d.id, { tenant })).json.events.map((e: { eventId: string }) => e.eventId)).toEqual([accepted.eventId]);
  });

  test('an invalid value stops the process at start with one line naming the variable', async () => {
    await expectRefusedAtStart('FANOUT_TENANT_MAX_SUBJECTS', ['-1', '2.5', 'many']);
  });
});

describe('FANOUT_MAX_BODY_BYTES_IN_FLIGHT', () => {
  test('with room for three 4 MiB bodies: ten clients sending such bodies slowly have three read and seven answered 503 at once; a small publish is a 503 until one of the three goes, then a 202', async () => {
    const MiB = 1024 * 1024;
    const publisher = await startFanout('publisher', { FANOUT_AUTH: 'none', REDIS_URL: stack.redis.url, FANOUT_MAX_BODY_BYTES_IN_FLIGHT: 3 * 4 * MiB });
    const port = Number(new URL(publisher.url).port);
    const senders: { socket: Socket; answer: () => string }[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
        socket.on('error', () => undefined);
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        // Half of a declared 4 MiB body, the rest never sent.
        socket.write(`POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Tenant: ${stack.tenant}\r\nContent-Length: ${4 * MiB}\r\n\r\n`);
        socket.write(Buffer.alloc(2 * MiB, 32));
        senders.push({ socket, answer: () => text });
        await waitFor(`sender ${i} to be read or answered`, async () => i < 3 || text.startsWith('HTTP/1.1 '), 10_000);
      }
      const refused = senders.filter((s) => s.answer().startsWith('HTTP/1.1 503 '));
      expect(refused).toHaveLength(7);
      expect(senders.slice(0, 3).map((s) => s.answer())).toEqual(['', '', '']);
      const answer = refused[0]!.answer();
      expect(answer).toMatch(/\r\nRetry-After: 1\r\n/i);
      expect(answer).toMatch(/\r\nContent-Type: application\/problem\+json/i);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 503, detail: expect.stringContaining('FANOUT_MAX_BODY_BYTES_IN_FLIGHT') });

      const job = jobEvents(stack.tenant);
      const publish = () => postBytes(`${publisher.url}/api/v1/events`, JSON.stringify(job.status('pending')), { 'Content-Type': 'application/json' });
      const full = await publish();
      expect({ status: full.status, retryAfter: full.headers['retry-after'] }).toEqual({ status: 503, retryAfter: '1' });
      // Through Express too (a chunked body takes the most a body may be).
      const chunked = await fetch(`${publisher.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: new Blob([JSON.stringify(job.status('pending'))]).stream(),
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(503);
      await chunked.text();

      senders[0]!.socket.destroy();
      await waitFor('a publish to be taken once a reader went', async () => (await publish()).status === 202, 10_000);
      expect(stack.publisher.exited).toBe(false);
    } finally {
      for (const sender of senders) sender.socket.destroy();
      await publisher.stop();
    }
  });

  test('a value under one largest body (4 MiB) stops the process at start with one line naming the variable', async () => {
    await expectRefusedAtStart('FANOUT_MAX_BODY_BYTES_IN_FLIGHT', ['0', '4194303', 'lots']);
  });
});
