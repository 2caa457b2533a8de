/** `fanout tail --tail N` and its ANSI handling, as a process against a real stack (issue 15, item 5). */
import { runCli } from '../support/cli';
import { Stack, packRunEvents, range, startStack, uniqueId } from '../support/stack';

type Json = Record<string, any>;
let stack: Stack;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
  env = { FANOUT_GATEWAY_URL: stack.gateways[0]!.url, FANOUT_TENANT: stack.tenant, FANOUT_URL: '', FANOUT_TOKEN: '', NO_COLOR: undefined, FORCE_COLOR: undefined };
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const GREEN_PASS = '\u001b[32mPASS\u001b[0m';

async function finishedPackRun(): Promise<string> {
  const p = packRunEvents(stack.tenant, uniqueId('cli-tail'));
  await stack.publishOk([
    p.status('running'),
    p.step(0, 'test', 'running'),
    ...range(1, 50).map((n) => p.log(0, n, 'stdout', `${GREEN_PASS} test ${n}`)),
    p.step(0, 'test', 'succeeded'),
    p.status('succeeded'),
  ]);
  return p.id;
}

test('--tail N starts at the last N events, after the latest status and step events older than them', async () => {
  const id = await finishedPackRun();
  const run = await runCli(['tail', 'pack-run', id, '--json', '--tail', '3'], { env });
  expect(run.code).toBe(0);
  const frames = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Json);
  const events = frames.filter((f) => f['id'] !== undefined);
  // seqs: 1 running, 2 step running, 3..52 logs, 53 step succeeded, 54 succeeded: the tail is 52..54;
  // the latest status (54) and step (53) events are in it, so nothing comes before.
  expect(events.map((f) => f['data'].seq)).toEqual([52, 53, 54]);
  expect(events[0]!['data'].data.message).toBe(`${GREEN_PASS} test 50`);
  const bad = await runCli(['tail', 'pack-run', id, '--tail', '0'], { env });
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--tail/);
});

test('a log line keeps its colours when colour is on (a terminal, or FORCE_COLOR) and loses them on a pipe or with NO_COLOR', async () => {
  const id = await finishedPackRun();
  const piped = await runCli(['tail', 'pack-run', id, '--tail', '5'], { env });
  expect(piped.code).toBe(0);
  expect(piped.stdout).toMatch(/│ PASS test 50\n/);
  expect(piped.stdout).not.toContain('\u001b');
  const coloured = await runCli(['tail', 'pack-run', id, '--tail', '5'], { env: { ...env, FORCE_COLOR: '1' } });
  expect(coloured.stdout).toContain(`│ ${GREEN_PASS} test 50\n`);
  const noColor = await runCli(['tail', 'pack-run', id, '--tail', '5'], { env: { ...env, NO_COLOR: '1' } });
  expect(noColor.stdout).toContain('│ PASS test 50\n');
  expect(noColor.stdout).not.toContain('\u001b');
});

test('--types prints only events of those types, and exits 0 when the run completes though its terminal event is filtered out (issue 17, item 3)', async () => {
  const id = await finishedPackRun();
  const run = await runCli(['tail', 'pack-run', id, '--json', '--types', 'pack_run.step'], { env });
  expect(run.code).toBe(0);
  const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Json).filter((f) => f['id'] !== undefined);
  expect(events.map((f) => [f['event'], f['data'].seq])).toEqual([
    ['pack_run.step', 2],
    ['pack_run.step', 53],
  ]);
  const bad = await runCli(['tail', 'pack-run', id, '--types', 'pack_run.stp'], { env });
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/pack_run\.stp/);
});
