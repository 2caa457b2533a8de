/**
 * The README's `npm start` as a process manager or a test harness runs it: npm is the one process it
 * knows, and a SIGTERM to npm alone must stop the server (drained), leaving nothing that holds the port.
 * Timeouts are hang guards only.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { REPO_ROOT } from '../support/fanout-process';
import { freePort } from '../support/ports';
import { waitFor } from '../support/wait';

/** Every live process whose chain of parents leads to `root` (a zombie counts as gone). */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = stateAndParentOf(Number(entry));
    if (fields && fields.state !== 'Z') parents.set(Number(entry), fields.ppid);
  }
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const next = [...parents].filter(([, ppid]) => frontier.includes(ppid)).map(([pid]) => pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

function stateAndParentOf(pid: number): { state: string; ppid: number } | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields that matter follow its last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  const fields = stateAndParentOf(pid);
  return fields !== undefined && fields.state !== 'Z';
};

async function healthz(port: number): Promise<number | string> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch (error) {
    return (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
  }
}

let npm: ChildProcess | undefined;
let started: number[] = [];

afterEach(() => {
  // What a failed test left: npm's group (it was started detached) and anything that escaped it.
  for (const pid of [...started, ...(npm?.pid ? [npm.pid] : [])]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (npm?.pid) {
    try {
      process.kill(-npm.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  npm = undefined;
  started = [];
});

test('SIGTERM to the npm process alone stops fanout dev: no process is left and the port is free', async () => {
  const port = await freePort();
  // The embedded bus, as on a fresh machine: none of the test run's own settings.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(REDIS_|FANOUT_|PORT$|HOST$)/.test(name)));
  npm = spawn('npm', ['start'], { cwd: REPO_ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  npm.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => npm!.once('exit', (code) => resolve(code)));

  await waitFor('npm start to serve /healthz', async () => (await healthz(port)) === 200, 120_000, 200);
  started = descendantsOf(npm.pid!);
  expect(started.length).toBeGreaterThan(0);

  npm.kill('SIGTERM');
  await exited;
  await waitFor(`every process npm started to be gone (${started.join(', ')}); output:\n${output}`, () => started.every((pid) => !alive(pid)), 30_000, 100);
  expect(await healthz(port)).toBe('ECONNREFUSED');
  expect(output).toContain('fanout dev listening');
}, 180_000);
