/**
 * SIGTERM drains a replica: its streams end with `end {"reason":"shutdown"}`, and while it drains it
 * still answers: /readyz 503 (so a load balancer takes it out), an EventSource's new stream a 200
 * that ends at once with `end shutdown` (a 503 would stop it for good), other new stream requests
 * 503 with Retry-After (so a proxy retries elsewhere), not a refused connection; then it exits 0
 * within FANOUT_SHUTDOWN_GRACE_MS. Real redis-server and processes on loopback.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { EventSource } from 'eventsource';
import { FanoutProcess } from '../support/fanout-process';
import { closeAllStreams } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';

jest.setTimeout(60_000);

const GRACE_MS = 4000;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 0 });
}, 60_000);

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
});

test('a draining gateway answers /readyz 503 and new streams 503 with Retry-After until it closes, then exits 0 within the grace period', async () => {
  const gateway: FanoutProcess = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: GRACE_MS });
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const stream = await stack.open('job', job.id, { gateway });
  await stream.waitForEvents(1, 10_000);

  const signalledAt = Date.now();
  const exited = gateway.stop('SIGTERM');
  const end = await stream.waitForFrame('end', 10_000);
  expect(JSON.parse(end.data)).toEqual({ reason: 'shutdown' });

  const ready = await fetch(`${gateway.url}/readyz`);
  expect(ready.status).toBe(503);
  const refused = await fetch(stack.streamUrl('job', job.id, gateway), { headers: { 'X-Tenant': stack.tenant } });
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('1');
  expect(refused.headers.get('content-type')).toContain('application/problem+json');
  expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);

  expect(await exited).toBe(0);
  expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS + 2000); // a hang guard around the grace period
});

test('an EventSource that comes to a draining gateway gets a stream that ends with end shutdown, and keeps reconnecting', async () => {
  const gateway: FanoutProcess = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: GRACE_MS, FANOUT_RETRY_MS: 300 });
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const held = await stack.open('job', job.id, { gateway });
  await held.waitForEvents(1, 10_000);
  const exited = gateway.stop('SIGTERM');
  await held.waitForFrame('end', 10_000);

  const answer = await fetch(stack.streamUrl('job', job.id, gateway), { headers: { 'X-Tenant': stack.tenant, Accept: 'text/event-stream' } });
  expect({ status: answer.status, type: answer.headers.get('content-type'), cache: answer.headers.get('cache-control') }).toEqual({
    status: 200,
    type: 'text/event-stream',
    cache: 'no-cache, no-transform',
  });
  expect(await answer.text()).toMatch(/^retry: \d+\n\nevent: end\ndata: \{"reason":"shutdown"\}\n\n$/);

  const source = new EventSource(stack.streamUrl('job', job.id, gateway), { fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, 'X-Tenant': stack.tenant } }) });
  try {
    let ends = 0;
    source.addEventListener('end', () => ends++);
    const deadline = Date.now() + 10_000;
    while (ends < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    // Two ends: it came back after the first; and it is still trying (a 503 would have closed it for good).
    expect({ ends, closed: source.readyState === EventSource.CLOSED }).toEqual({ ends: 2, closed: false });
  } finally {
    source.close();
  }
  expect(await exited).toBe(0);
});

test('with no grace (FANOUT_SHUTDOWN_GRACE_MS=0) every stream still gets end {"reason":"shutdown"} before the gateway exits', async () => {
  const gateway: FanoutProcess = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: 0 });
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const streams = await Promise.all([1, 2, 3].map(() => stack.open('job', job.id, { gateway })));
  await Promise.all(streams.map((s) => s.waitForEvents(1, 10_000)));

  const exited = gateway.stop('SIGTERM');
  for (const stream of streams) expect(JSON.parse((await stream.waitForFrame('end', 10_000)).data)).toEqual({ reason: 'shutdown' });
  expect(await exited).toBe(0);
});

test('a request still arriving when the drain ends is cut before the grace is over, and the gateway says so, not that the store did not answer', async () => {
  const gateway: FanoutProcess = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: 3000 });
  const halfSent = connect(gateway.port, '127.0.0.1');
  halfSent.on('error', () => undefined);
  await new Promise<void>((resolve) => halfSent.once('connect', () => resolve()));
  halfSent.write('GET /api/v1/jobs/x/events HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  try {
    const signalledAt = Date.now();
    expect(await gateway.stop('SIGTERM')).toBe(0);
    console.log(`a gateway with a 3 s grace and a half-sent request exited after ${Date.now() - signalledAt} ms`);
    const messages = gateway.logs.map((line) => (JSON.parse(line.replace(/^\[stderr\] /, '')) as { msg?: string }).msg);
    expect(messages).toContain('closing the connections still open at the end of the drain');
    expect(messages).toContain('stopped');
    expect(messages.filter((m) => m?.includes('before the store answered'))).toEqual([]);
  } finally {
    halfSent.destroy();
  }
});

test('while it drains, every answer closes its connection: clients that keep sockets alive never have a kept-alive socket closed under their next request', async () => {
  const gateway: FanoutProcess = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: GRACE_MS });
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const { port } = new URL(gateway.url);
  const outcomes = { answered: 0, answeredWhileDraining: 0, keptAliveWhileDraining: 0, refused: 0, resetInQueue: 0, other: [] as string[] };
  let draining = false;
  let signalledAt = 0;
  const get = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: `/api/v1/jobs/${job.id}/events`, agent, headers: { 'X-Tenant': stack.tenant } }, (res) => {
        res.resume();
        res.on('end', () => {
          outcomes.answered += 1;
          // 200 ms after the signal the gateway surely drains (answers before that may predate it).
          if (draining && Date.now() - signalledAt > 200) {
            outcomes.answeredWhileDraining += 1;
            if (res.headers.connection !== 'close') outcomes.keptAliveWhileDraining += 1;
          }
          resolve();
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED') outcomes.refused += 1;
        // A new connection still in the port's accept queue when it closes is reset by the kernel: no
        // server avoids that (the load balancer has taken the replica out by then: /readyz is 503).
        else if (!req.reusedSocket && error.code === 'ECONNRESET') outcomes.resetInQueue += 1;
        else outcomes.other.push(`${error.code ?? error.message} on a ${req.reusedSocket ? 'kept-alive' : 'new'} socket ${Date.now() - signalledAt} ms after the signal`);
        resolve();
      });
      req.end();
    });
  const loop = async () => {
    for (let i = 0; i < 5_000 && outcomes.refused === 0; i += 1) await get();
  };
  const loops = Promise.all([loop(), loop(), loop(), loop()]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  draining = true;
  signalledAt = Date.now();
  const exited = gateway.stop('SIGTERM');
  await loops;
  expect(await exited).toBe(0);
  agent.destroy();
  expect(outcomes.other).toEqual([]);
  expect(outcomes.answeredWhileDraining).toBeGreaterThan(0);
  expect(outcomes.keptAliveWhileDraining).toBe(0);
  expect(outcomes.refused).toBeGreaterThan(0);
});
