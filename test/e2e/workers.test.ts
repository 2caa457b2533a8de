/**
 * FANOUT_WORKERS=2 (issue 8): a gateway replica of two node:cluster workers sharing one port. Both
 * worker processes serve streams (told apart by the pid in their debug `request` log lines), /metrics
 * answered by either worker sums the whole replica, a crashed worker is replaced, and SIGTERM drains
 * every worker and exits 0. Real processes on loopback; timeouts are hang guards only.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { FanoutProcess, parsePrometheus, sumSamples } from '../support/fanout-process';
import { closeAllStreams, SseStream, within } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

jest.setTimeout(60_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 0 });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

interface LogLine {
  pid: number;
  msg: string;
  url?: string;
}

function logLines(p: FanoutProcess): LogLine[] {
  return p.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

/** The pids whose `request` log line names a path starting with `prefix`. */
function servingPids(p: FanoutProcess, prefix: string): Set<number> {
  return new Set(logLines(p).filter((l) => l.msg === 'request' && l.url?.startsWith(prefix)).map((l) => l.pid));
}

/** GET /metrics on a connection of its own (so node:cluster hands each to the next worker). */
function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics answered ${res.statusCode}: ${body.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

test('FANOUT_WORKERS=2: streams are served by both worker processes and /metrics, whichever worker answers, sums the whole replica', async () => {
  const gateway = await stack.addGateway({ FANOUT_WORKERS: 2, LOG_LEVEL: 'debug' });
  // A worker listens once its store answers: wait until both take connections.
  await waitFor('both workers listening', () => logLines(gateway).filter((l) => l.msg === 'worker listening').length >= 2, 20_000);
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const streams: SseStream[] = [];
  for (let i = 0; i < 8; i++) streams.push(await stack.open('job', job.id, { gateway }));
  expect(streams.map((s) => s.status)).toEqual(Array(8).fill(200));
  await Promise.all(streams.map((s) => s.waitForEvents(1)));

  const streamPids = await waitFor('stream requests logged by two workers', () => {
    const pids = servingPids(gateway, `/api/v1/stream/jobs/${job.id}`);
    return pids.size >= 2 ? pids : undefined;
  }, 10_000);
  expect(streamPids.has(gateway.pid)).toBe(false); // the primary serves nothing

  // Six scrapes on six connections: each worker answers some, and every answer is the replica's sum.
  const scrapesBefore = servingPids(gateway, '/metrics');
  void scrapesBefore;
  for (let i = 0; i < 6; i++) {
    const samples = parsePrometheus(await scrape(gateway.url));
    expect({
      workers: sumSamples(samples, 'fanout_workers'),
      connections: sumSamples(samples, 'fanout_gateway_connections', { kind: 'job' }),
      subscriptions: sumSamples(samples, 'fanout_gateway_subscriptions'),
    }).toEqual({ workers: 2, connections: 8, subscriptions: 2 });
  }
  const metricsPids = servingPids(gateway, '/metrics');
  expect(metricsPids.size).toBe(2);
  expect([...metricsPids].sort()).toEqual([...streamPids].sort());

  // Both workers deliver live events.
  await stack.publishOk([job.status('scheduled'), job.status('leased'), job.status('running'), job.status('succeeded')]);
  await Promise.all(streams.map((s) => s.waitForFrame('end')));
  for (const s of streams) expect(s.eventData().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  await waitFor('the delivered events summed over both workers', async () => (await gateway.metric('fanout_gateway_events_delivered_total', { kind: 'job' })) === 40, 10_000);
  await stack.stopProcess(gateway);
});

test('a worker that dies is replaced; SIGTERM to the primary ends every stream with end {shutdown}, drains both workers and exits 0', async () => {
  const gateway = await stack.addGateway({ FANOUT_WORKERS: 2, LOG_LEVEL: 'debug', FANOUT_SHUTDOWN_GRACE_MS: 2000 });
  const workerPids = await waitFor('two workers listening', () => {
    const pids = new Set(logLines(gateway).filter((l) => /listening/.test(l.msg) && l.pid !== gateway.pid).map((l) => l.pid));
    return pids.size === 2 ? [...pids] : undefined;
  }, 10_000);

  process.kill(workerPids[0]!, 'SIGKILL');
  const replacement = await waitFor('a new worker listening', () => {
    const pids = logLines(gateway).filter((l) => /listening/.test(l.msg) && l.pid !== gateway.pid && !workerPids.includes(l.pid)).map((l) => l.pid);
    return pids[0];
  }, 15_000);
  expect(logLines(gateway).some((l) => l.pid === gateway.pid && l.msg === 'worker exited: starting another')).toBe(true);
  await waitFor('/metrics to count two workers again', async () => sumSamples(parsePrometheus(await scrape(gateway.url)), 'fanout_workers') === 2, 15_000, 100);

  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const streams: SseStream[] = [];
  for (let i = 0; i < 4; i++) streams.push(await stack.open('job', job.id, { gateway }));
  await Promise.all(streams.map((s) => s.waitForEvents(1)));
  const pids = servingPids(gateway, `/api/v1/stream/jobs/${job.id}`);
  expect(pids.size).toBe(2);
  expect(pids.has(replacement)).toBe(true);

  const exitCode = await gateway.stop('SIGTERM');
  expect(exitCode).toBe(0);
  for (const s of streams) {
    await within('the stream to end', s.ended, 10_000);
    expect(s.named('end').map((f) => JSON.parse(f.data))).toEqual([{ reason: 'shutdown' }]);
  }
  for (const pid of [replacement, workerPids[1]!]) expect(() => process.kill(pid, 0)).toThrow();
});

test("the replica's listening socket queues up to 4096 pending connections (capped by somaxconn), not Node's default 511", async () => {
  const gateway = await stack.addGateway({ FANOUT_WORKERS: 2 });
  const port = new URL(gateway.url).port;
  // `ss -ltn`: for a listening socket, Send-Q is its backlog.
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const backlog = Number(line.split(/\s+/)[2]);
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  expect(backlog).toBe(Math.min(4096, somaxconn));
  expect(backlog).toBeGreaterThan(511);
  await stack.stopProcess(gateway);
});
