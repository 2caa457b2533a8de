/**
 * deploy/nginx.conf, the proxy of docker-compose.yml, run for real: Debian's nginx with the shipped
 * file, only the compose service names mapped to this test's loopback processes and the listen
 * port to a free one. Streams must pass unbuffered, resume with Last-Event-ID on whichever replica
 * they land, and publishing must reach the publisher (install nginx first: apt-get install -y nginx).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/fanout-process';
import { freePort } from '../support/ports';
import { openStream } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';
import { sleep } from '../support/wait';

const NGINX = 'nginx';

/** The shipped config with each compose address replaced; fails when one is no longer in the file. */
function configFor(replacements: Record<string, string>): string {
  let text = readFileSync(join(REPO_ROOT, 'deploy/nginx.conf'), 'utf8');
  for (const [from, to] of Object.entries(replacements)) {
    if (!text.includes(from)) throw new Error(`deploy/nginx.conf no longer contains ${JSON.stringify(from)}: update this test`);
    text = text.split(from).join(to);
  }
  return text;
}

async function untilListening(url: string, nginx: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (nginx.exitCode !== null) throw new Error(`nginx exited (${nginx.exitCode}):\n${output()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url}:\n${output()}`);
      await sleep(100);
    }
  }
}

describe('deploy/nginx.conf in front of two gateways and the publisher', () => {
  let stack: Stack;
  let nginx: ChildProcess;
  let dir: string;
  let proxy: string;
  let logFile: string;
  const output = () => readFileSync(logFile, 'utf8');

  beforeAll(async () => {
    const found = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
    if (found.error) throw new Error(`nginx is not installed (apt-get install -y nginx): ${found.error.message}`);
    stack = await startStack({ gateways: 2 });
    const port = await freePort();
    proxy = `http://127.0.0.1:${port}`;
    dir = mkdtempSync(join(tmpdir(), 'fanout-nginx-'));
    const portOf = (url: string) => new URL(url).port;
    const config = configFor({
      'gateway-1:8080': `127.0.0.1:${portOf(stack.gateways[0]!.url)}`,
      'gateway-2:8080': `127.0.0.1:${portOf(stack.gateways[1]!.url)}`,
      'publisher:8081': `127.0.0.1:${portOf(stack.publisher.url)}`,
      'listen 80;': `listen 127.0.0.1:${port};`,
    });
    writeFileSync(join(dir, 'nginx.conf'), config);
    const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `pid ${join(dir, 'nginx.pid')}; daemon off;`];
    // The config logs to /dev/stdout and /dev/stderr, which must be files or pipes (as in a
    // container), not the sockets Node gives a child by default.
    logFile = join(dir, 'nginx.log');
    const log = openSync(logFile, 'a');
    try {
      const check = spawnSync(NGINX, ['-t', ...args], { stdio: ['ignore', log, log] });
      expect({ status: check.status, output: output() }).toEqual({ status: 0, output: expect.stringContaining('test is successful') });
      nginx = spawn(NGINX, args, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    await untilListening(`${proxy}/healthz`, nginx, output);
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx.once('exit', resolve));
      nginx.kill('SIGTERM');
      const force = setTimeout(() => nginx.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(force);
    }
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const publish = async (events: object[]) => {
    const response = await fetch(`${proxy}/api/v1/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(response.status).toBe(202);
  };

  test('publishing goes through to the publisher, and each event reaches an open stream as it is published', async () => {
    const job = jobEvents(stack.tenant);
    await publish([job.status('pending')]);
    const stream = await openStream(`${proxy}/api/v1/stream/jobs/${job.id}`, { headers: { 'X-Tenant': stack.tenant } });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream');
    await stream.waitForEvents(1, 10_000);
    // One event at a time: a buffering proxy would hold these small frames back.
    for (const [i, percent] of [10, 20, 30, 40].entries()) {
      await publish([job.progress(percent)]);
      await stream.waitForEvents(2 + i, 10_000);
    }
    expect(stream.eventData().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    stream.close();
  });

  test('Last-Event-ID passes through: a stream resumes after the last event it had, on either replica', async () => {
    const job = jobEvents(stack.tenant);
    await publish([job.status('pending'), job.progress(1), job.progress(2)]);
    const first = await openStream(`${proxy}/api/v1/stream/jobs/${job.id}`, { headers: { 'X-Tenant': stack.tenant } });
    const seen = await first.waitForEvents(3, 10_000);
    first.close();
    await publish([job.progress(3), job.status('scheduled')]);
    for (let attempt = 0; attempt < 4; attempt++) {
      // least_conn spreads these over both replicas.
      const resumed = await openStream(`${proxy}/api/v1/stream/jobs/${job.id}`, { headers: { 'X-Tenant': stack.tenant }, lastEventId: seen[2]!.id! });
      await resumed.waitForEvents(2, 10_000);
      expect(resumed.eventData().map((e) => e.seq)).toEqual([4, 5]);
      resumed.close();
    }
  });

  test('answers of the gateways pass through unchanged; /metrics is not exposed', async () => {
    const missing = await fetch(`${proxy}/api/v1/stream/jobs/no-such-job`, { headers: { 'X-Tenant': stack.tenant } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${proxy}/metrics`)).status).toBe(404);
    expect((await fetch(`${proxy}/api/v1/openapi.json`)).status).toBe(200);
  });

  test('with one replica gone, streams and their resumes land on the other', async () => {
    const job = jobEvents(stack.tenant);
    await publish([job.status('pending'), job.progress(5)]);
    await stack.stopProcess(stack.gateways[0]!);
    for (let attempt = 0; attempt < 3; attempt++) {
      const stream = await openStream(`${proxy}/api/v1/stream/jobs/${job.id}`, { headers: { 'X-Tenant': stack.tenant } });
      expect(stream.status).toBe(200);
      await stream.waitForEvents(2, 10_000);
      stream.close();
    }
  });
});
