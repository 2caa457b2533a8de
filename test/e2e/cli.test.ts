/**
 * The `fanout` client commands (emit, tail, run-pack) as processes against a real stack: redis-server,
 * a publisher and two gateways, with a loopback proxy in front of the gateways so a test can cut
 * `tail`'s connection. Timeouts are hang guards only.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BalancingProxy, startBalancingProxy } from '../support/balancing-proxy';
import { killAllCli, runCli, startCli } from '../support/cli';
import { REPO_ROOT } from '../support/fanout-process';
import { freePort } from '../support/ports';
import { expectFramesValid } from '../support/frames';
import { SseFrame } from '../support/sse-client';
import { Stack, startStack, uniqueId } from '../support/stack';
import { waitFor } from '../support/wait';

type Json = Record<string, any>;

let stack: Stack;
let proxy: BalancingProxy;
let env: Record<string, string>;
let scratch: string;
const PACKS = join(REPO_ROOT, 'examples', 'packs');

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { FANOUT_RETRY_MS: 300 } });
  proxy = await startBalancingProxy(stack.gateways.map((g) => g.port));
  env = {
    FANOUT_PUBLISHER_URL: stack.publisher.url,
    FANOUT_GATEWAY_URL: proxy.url,
    FANOUT_TENANT: stack.tenant,
    FANOUT_URL: '',
    FANOUT_TOKEN: '',
  };
  scratch = mkdtempSync(join(tmpdir(), 'fanout-cli-'));
}, 60_000);

afterAll(async () => {
  killAllCli();
  await proxy?.close();
  await stack?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function allEvents(kind: 'job' | 'pack-run' | 'run', id: string): Promise<Json[]> {
  const events: Json[] = [];
  let after = 0;
  for (;;) {
    const page = await stack.history(kind, id, { after, limit: 1000 });
    expect(page.status).toBe(200);
    events.push(...page.json.events);
    if (page.json.next === null) return events;
    after = page.json.next;
  }
}

/** Every log line of one step, in order, as `stream: message`. */
function logLines(events: Json[], stepIndex: number): string[] {
  const logs = events.filter((e) => e.type === 'pack_run.log' && e.data.stepIndex === stepIndex);
  expect(logs.map((e) => e.data.lineNo)).toEqual(logs.map((_, i) => i + 1));
  return logs.map((e) => `${e.data.stream}: ${e.data.message}`);
}

function stepStatuses(events: Json[]): string[] {
  return events.filter((e) => e.type === 'pack_run.step').map((e) => `${e.data.stepIndex} ${e.data.stepName} ${e.data.status}`);
}

describe('fanout emit', () => {
  it('publishes an event from arguments, filling in eventId, occurredAt and tenant', async () => {
    const id = uniqueId('job');
    const run = await runCli(['emit', 'job.status', id, 'status=pending', 'jobType=build', '--correlation-id', 'c-1'], { env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`stored\\s+job:${id} job.status\\s+seq 1`));
    const [event] = await allEvents('job', id);
    expect(event).toMatchObject({ tenant: stack.tenant, type: 'job.status', correlationId: 'c-1', data: { status: 'pending', jobType: 'build', attempt: 1 } });
    expect(event!.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(event!.occurredAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('publishes JSON lines from stdin and a JSON file, in order, and reports duplicates', async () => {
    const id = uniqueId('run');
    const lines = [
      { subject: { kind: 'run', id }, type: 'run.status', data: { status: 'running' } },
      { eventId: 'fixed-1', subject: { kind: 'run', id }, type: 'run.progress', data: { total: 3, pending: 2, running: 1, succeeded: 0, failed: 0, canceled: 0 } },
    ];
    const fromStdin = await runCli(['emit'], { env, stdin: lines.map((l) => JSON.stringify(l)).join('\n') + '\n' });
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout.trim().split('\n')).toEqual([expect.stringMatching(/seq 1$/), expect.stringMatching(/seq 2$/)]);

    const file = join(scratch, 'events.json');
    writeFileSync(file, JSON.stringify({ events: [lines[1], { subject: { kind: 'run', id }, type: 'run.status', data: { status: 'completed' } }] }));
    const fromFile = await runCli(['emit', '--file', file, '--json'], { env });
    expect(fromFile.code).toBe(0);
    const answer = JSON.parse(fromFile.stdout.trim()) as Json;
    expect(answer.results.map((r: Json) => [r.eventId, r.seq, r.duplicate])).toEqual([
      ['fixed-1', 2, true],
      [expect.any(String), 3, false],
    ]);
    expect((await allEvents('run', id)).map((e) => e.type)).toEqual(['run.status', 'run.progress', 'run.status']);
  });

  it('exits non-zero with the problem detail on a 409 and on a 400', async () => {
    const id = uniqueId('job');
    expect((await runCli(['emit', 'job.status', id, 'status=pending'], { env })).code).toBe(0);
    const conflict = await runCli(['emit', 'job.status', id, 'status=running'], { env });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('409 Conflict');
    expect(conflict.stderr).toContain('current pending, requested running');

    const invalid = await runCli(['emit', 'job.progress', id, 'percent=150'], { env });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('400 Bad Request');
    expect(invalid.stderr).toMatch(/data\.percent: /);

    const usage = await runCli(['emit', 'job.nope', id], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown event type');
    const badTenant = await runCli(['emit', 'job.status', id, 'status=canceled', '--tenant', 'a b'], { env });
    expect({ code: badTenant.code, stderr: badTenant.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('--tenant (or FANOUT_TENANT): "a b" is not a tenant id') });

    // --json: what came of each event, and the refusal's problem without the results of the one request
    // that the producer then followed with another (they said the first event was not stored).
    const other = uniqueId('job');
    const file = join(scratch, 'conflict.json');
    writeFileSync(
      file,
      JSON.stringify([
        { subject: { kind: 'job', id: other }, type: 'job.status', data: { status: 'pending' } },
        { subject: { kind: 'job', id: other }, type: 'job.status', data: { status: 'running' } },
      ]),
    );
    const batch = await runCli(['emit', '--file', file, '--json'], { env });
    expect(batch.code).toBe(1);
    const line = JSON.parse(batch.stdout.trim()) as Json;
    expect(line).toMatchObject({ status: 409, problem: { status: 409, current: 'pending', requested: 'running' }, results: [{ seq: 1, duplicate: false }, { error: expect.stringContaining('409') }] });
    expect(line.problem).not.toHaveProperty('results');
  });

  it('gives up on a publisher that does not answer after 5 s, as documented, printing the eventId to send again', async () => {
    const id = uniqueId('job');
    process.kill(stack.publisher.pid, 'SIGSTOP');
    let run: Awaited<ReturnType<typeof runCli>>;
    const started = Date.now();
    try {
      run = await runCli(['emit', 'job.status', id, 'status=pending'], { env });
    } finally {
      process.kill(stack.publisher.pid, 'SIGCONT');
    }
    const tookMs = Date.now() - started;
    expect(run.code).toBe(1);
    const eventId = /^failed\s+job:\S+ job\.status\s+eventId (\S+)\s+no answer from \S+ within \d+ ms \(gave up after/.exec(run.stdout)?.[1];
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(tookMs).toBeLessThan(20_000); // 5 s, where the attempt's own 30 s deadline used to hold it
    // Sent again with that eventId: stored once, whether the stopped publisher had stored it or not.
    const again = await runCli(['emit', 'job.status', id, 'status=pending', '--event-id', eventId!], { env });
    expect(again.code).toBe(0);
    expect((await allEvents('job', id)).map((e) => e.eventId)).toEqual([eventId]);
  }, 60_000);
});

describe('fanout run-pack and fanout tail', () => {
  it('runs the example pack: every step succeeds, real stdout and stderr lines in order; tail --json resumes across a cut with nothing lost or repeated', async () => {
    const id = uniqueId('pack');
    const runner = startCli(['run-pack', join(PACKS, 'build-and-test.yaml'), '--id', id], { env });
    await runner.waitForLine(/\[1\/3\] prepare running/);

    const tail = startCli(['tail', 'pack-run', id, '--json'], { env });
    // Cut tail's connection once it has seen a few frames; it must resume by itself.
    await tail.waitForLine(/"event":"pack_run.log"/);
    await waitFor('tail connected through the proxy', () => proxy.connectionsTo(stack.gateways[0]!.port) + proxy.connectionsTo(stack.gateways[1]!.port) > 0);
    expect(proxy.cut()).toBeGreaterThan(0);

    expect(await runner.exited).toBe(0);
    expect(await tail.exited).toBe(0);
    expect(tail.stderr).toMatch(/reconnecting/);
    expect(runner.stdout).toMatch(/\[3\/3\] test succeeded/);
    expect(runner.stdout).toMatch(/pack run \S+ succeeded/);

    const events = await allEvents('pack-run', id);
    expect(events[0]).toMatchObject({
      type: 'pack_run.status',
      data: { status: 'running', packName: 'build-and-test', packVersion: '1.2.0', steps: [{ index: 0, name: 'prepare' }, { index: 1, name: 'compile' }, { index: 2, name: 'test' }] },
    });
    expect(stepStatuses(events)).toEqual(['0 prepare running', '0 prepare succeeded', '1 compile running', '1 compile succeeded', '2 test running', '2 test succeeded']);
    for (const step of events.filter((e) => e.type === 'pack_run.step' && e.data.status === 'succeeded')) {
      expect(step.data.exitCode).toBe(0);
      expect(step.data.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(events.at(-1)).toMatchObject({ type: 'pack_run.status', data: { status: 'succeeded' } });

    expect(logLines(events, 0)).toEqual([
      `stdout: preparing demo in ${PACKS}`,
      `stdout: node ${process.version}`,
      'stderr: warning: no cache found, starting cold',
      'stdout: workspace ready',
    ]);
    expect(logLines(events, 1)).toEqual([
      ...[1, 2, 3, 4, 5].map((i) => `stdout: compiling module ${i}/5`),
      'stderr: deprecated: option --legacy will be removed',
      'stdout: compiled 5 modules',
    ]);
    // The step runs in the repository's root, whatever the checkout's folder is called.
    expect(logLines(events, 2)).toEqual([`stdout: running tests from ${basename(REPO_ROOT)}`, ...['parse', 'encode', 'decode', 'resume'].map((t) => `stdout: ok - ${t}`), 'stdout: 4 passed, 0 failed']);

    // tail --json printed every domain frame exactly once, in order, as a fresh subscriber receives them.
    const printed = tail.lines().map((line) => JSON.parse(line) as Json);
    const domain = printed.filter((f) => f.id !== undefined);
    const reference = await stack.open('pack-run', id);
    await reference.ended;
    expect(domain.map((f) => ({ id: f.id, event: f.event, data: f.data }))).toEqual(
      reference.events().map((f) => ({ id: f.id, event: f.event, data: JSON.parse(f.data) })),
    );
    expect(printed.at(-1)).toEqual({ event: 'end', data: { reason: 'completed' } });
    expectFramesValid(printed.map((f): SseFrame => ({ id: f.id, event: f.event, data: JSON.stringify(f.data), at: 0 })));

    // --from skips earlier seqs; a finished subject ends the tail at once.
    const from = await runCli(['tail', 'pack-run', id, '--json', '--from', '10'], { env });
    expect(from.code).toBe(0);
    const seqs = from.stdout.trim().split('\n').map((l) => JSON.parse(l) as Json).filter((f) => f.id).map((f) => f.data.seq);
    expect(seqs[0]).toBe(10);
    expect(seqs.at(-1)).toBe(events.length);

    // The human-readable form.
    const human = await runCli(['tail', 'pack-run', id], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/step 1 compile succeeded\s+exit 0/);
    expect(human.stdout).toMatch(/1:\s+6 err │ deprecated: option --legacy will be removed/);
    expect(human.stdout).not.toContain('\u001b[');
  });

  it('a failing step fails the run: exit 1, the step failed with its exit code, the rest skipped', async () => {
    const id = uniqueId('pack');
    const run = await runCli(['run-pack', join(PACKS, 'failing.yaml'), '--id', id], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/\[2\/3\] deploy failed\s+exit 3/);
    const events = await allEvents('pack-run', id);
    expect(stepStatuses(events)).toEqual(['0 check running', '0 check succeeded', '1 deploy running', '1 deploy failed', '2 notify pending', '2 notify skipped']);
    expect(events.find((e) => e.type === 'pack_run.step' && e.data.status === 'failed')!.data.exitCode).toBe(3);
    expect(logLines(events, 1)).toEqual(['stdout: uploading artifact', 'stderr: error: connection refused by deploy target']);
    expect(events.at(-1)).toMatchObject({ type: 'pack_run.status', data: { status: 'failed' } });

    const tail = await runCli(['tail', 'pack-run', id], { env });
    expect(tail.code).toBe(0);
    expect(tail.stdout).toMatch(/step 1 deploy failed\s+exit 3/);
    expect(tail.stdout).toMatch(/pack run failed/);
  });

  it('a step over its timeout is killed and fails the run', async () => {
    const id = uniqueId('pack');
    const run = await runCli(['run-pack', join(PACKS, 'timeout.yaml'), '--id', id], { env });
    expect(run.code).toBe(1);
    const events = await allEvents('pack-run', id);
    expect(events.find((e) => e.type === 'pack_run.step' && e.data.status === 'failed')!.data.exitCode).toBe(124);
    expect(events.at(-1)!.data.status).toBe('failed');
  });

  it('SIGINT cancels: the step process group is ended, the step failed, the run canceled, exit 130', async () => {
    const id = uniqueId('pack');
    const pack = join(scratch, 'cancel.yaml');
    writeFileSync(
      pack,
      [
        'name: cancel-me',
        'steps:',
        '  - name: busy',
        '    run: |',
        '      sleep 60 &',
        '      echo "child $!"',
        '      echo "shell $$"',
        '      wait',
        '  - name: never',
        '    run: echo never',
      ].join('\n'),
    );
    const runner = startCli(['run-pack', pack, '--id', id], { env });
    const child = Number(/child (\d+)/.exec(await runner.waitForLine(/child \d+/))![1]);
    const shell = Number(/shell (\d+)/.exec(await runner.waitForLine(/shell \d+/))![1]);
    await waitFor('the log line to be stored', async () => (await allEvents('pack-run', id)).some((e) => e.type === 'pack_run.log'));
    runner.kill('SIGINT');
    expect(await runner.exited).toBe(130);

    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(shell)).toBe(false);
    await waitFor('the background child to be gone', () => !alive(child), 5000);

    const events = await allEvents('pack-run', id);
    expect(stepStatuses(events)).toEqual(['0 busy running', '0 busy failed', '1 never pending', '1 never skipped']);
    expect(events.at(-1)).toMatchObject({ type: 'pack_run.status', data: { status: 'canceled' } });
    const stream = await stack.open('pack-run', id);
    await stream.ended;
    expect(stream.named('pack_run.status').map((f) => JSON.parse(f.data).data.status)).toEqual(['running', 'canceled']);
  });

  it('SIGHUP cancels like SIGINT; a second signal kills a step that ignores SIGTERM, its whole group, at once, and exits 130 without publishing', async () => {
    const id = uniqueId('pack');
    const pack = join(scratch, 'stubborn.yaml');
    writeFileSync(
      pack,
      ['name: stubborn', 'steps:', '  - name: ignores-term', '    run: |', "      trap '' TERM", '      sleep 60 &', '      echo "child $!"', '      echo "shell $$"', '      wait'].join('\n'),
    );
    const runner = startCli(['run-pack', pack, '--id', id], { env });
    const child = Number(/child (\d+)/.exec(await runner.waitForLine(/child \d+/))![1]);
    const shell = Number(/shell (\d+)/.exec(await runner.waitForLine(/shell \d+/))![1]);
    await waitFor('the log line to be stored', async () => (await allEvents('pack-run', id)).some((e) => e.type === 'pack_run.log'));
    runner.kill('SIGHUP');
    await waitFor('the cancel to start', () => runner.stderr.includes('SIGHUP: canceling'), 5000);
    runner.kill('SIGINT');
    expect(await runner.exited).toBe(130);
    // Killed, if not yet reaped by whoever adopted them: a zombie counts as gone.
    const running = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
      } catch {
        return false;
      }
    };
    // Well before the 3 s between SIGTERM and SIGKILL of a cancel.
    await waitFor('the step and its child to be gone', () => !running(shell) && !running(child), 1500);
    expect((await allEvents('pack-run', id)).at(-1)!.type).toBe('pack_run.log');
  });

  it('tail of an unknown subject exits 1 with the 404; a bad pack file is a usage error', async () => {
    const tail = await runCli(['tail', 'job', uniqueId('nobody')], { env });
    expect(tail.code).toBe(1);
    expect(tail.stderr).toContain('404');

    const bad = join(scratch, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nsteps:\n  - name: x\n    timeout: soon\n');
    const run = await runCli(['run-pack', bad], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/steps\.0\.run/);
    expect(run.stderr).toMatch(/steps\.0\.timeout/);
  });
});

/** `npx fanout dev` on `port`, in a process group of its own: `endGroup()` kills every process of it, whatever became of them. */
function npxDev(port: number): { npx: ChildProcess; stderr: () => string; endGroup: () => void } {
  const npx = spawn('npx', ['fanout', 'dev'], { cwd: REPO_ROOT, detached: true, env: { ...process.env, PORT: String(port), REDIS_URL: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  npx.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  const endGroup = () => {
    try {
      process.kill(-npx.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  return { npx, stderr: () => stderr, endGroup };
}

describe('fanout servers', () => {
  it("refuse arguments (they are configured by environment variables) with exit 2 and one line saying so; --help prints the server's own usage", async () => {
    for (const role of ['gateway', 'publisher', 'dev']) {
      const result = await runCli([role, '--port', '9999'], { env: { REDIS_URL: 'redis://127.0.0.1:1/0', FANOUT_AUTH: 'none', HOST: '127.0.0.1' } });
      expect({ code: result.code, stderr: result.stderr.trim() }).toEqual({
        code: 2,
        stderr: expect.stringMatching(new RegExp(`^fanout ${role}: unexpected argument "--port": servers read their configuration from environment variables`)),
      });
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    for (const [role, port] of [
      ['gateway', '8080'],
      ['publisher', '8081'],
      ['dev', '8080'],
    ]) {
      const help = await runCli([role!, '--help']);
      expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
      expect(help.stdout).toMatch(new RegExp(`^usage: fanout ${role}\n`));
      expect(help.stdout).toMatch(new RegExp(`PORT, HOST +${port}`));
      expect(help.stdout).toContain('docs/configuration.md');
    }
  });

  it.each(['SIGTERM', 'SIGKILL'] as const)('started with npx, stop when the npx is sent %s (npm runs them under a shell that does not pass signals on): the port closes, no server lingers', async (signal) => {
    const port = await freePort();
    const { npx, stderr, endGroup } = npxDev(port);
    const ready = async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200;
    const listening = () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
    try {
      await waitFor('the server started by npx to be ready', ready, 60_000);
      npx.kill(signal);
      await waitFor('the port to close', async () => !(await listening()), 30_000);
      expect(stderr()).toMatch(/fanout dev: the npm exec \(npx\) that started it \(pid \d+\) ended: stopping as on SIGTERM/);
    } finally {
      endGroup();
    }
  }, 90_000);

  it('started with npx, stop when the npx is stopped while they are still starting', async () => {
    const { npx, stderr, endGroup } = npxDev(await freePort());
    /** Processes under `pid`, from /proc (pid → parent). */
    const descendants = (pid: number): number[] => {
      const parents = new Map<number, number>();
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
          parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
        } catch {
          // gone meanwhile
        }
      }
      const found: number[] = [];
      for (let frontier = [pid]; frontier.length; ) {
        const children = [...parents].filter(([, parent]) => frontier.includes(parent)).map(([child]) => child);
        found.push(...children);
        frontier = children;
      }
      return found;
    };
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
    let server: number | undefined;
    try {
      // The server's node process exists (started by npm's shell), before it listens.
      await waitFor('the server process', () => (server = descendants(npx.pid!).find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node')) !== undefined, 60_000, 5);
      npx.kill('SIGTERM');
      await waitFor('the server to exit', () => !alive(server!), 30_000);
      expect(stderr()).toMatch(/fanout dev: the npm exec \(npx\) that started it (had )?ended/);
    } finally {
      endGroup();
    }
  }, 90_000);

  it('fanout --version prints the version of the package', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'apps/cli/package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = await runCli([flag]);
      expect({ flag, code: run.code, stdout: run.stdout }).toEqual({ flag, code: 0, stdout: `fanout ${version}\n` });
    }
  });
});
