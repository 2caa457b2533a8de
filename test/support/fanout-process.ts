import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort } from './ports';
import { sleep } from './wait';

export type FanoutRole = 'gateway' | 'publisher' | 'dev';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'apps', 'cli', 'bin', 'fanout.js');

export interface FanoutProcess {
  role: FanoutRole;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
  /** Every stdout/stderr line so far (stderr lines are prefixed with `[stderr] `). */
  logs: string[];
  /** The exit code once the process has ended (null while running, or when ended by a signal). */
  readonly exitCode: number | null;
  readonly exited: boolean;
  /** Sends `signal` and waits for the process to end (SIGKILL after a hang guard); resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** GET /metrics as text. */
  metrics(): Promise<string>;
  /** One sample of /metrics: the sum of every sample of `name` whose labels include `labels`; undefined when none. */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** The last `n` log lines, for diagnostics. */
  tail(n?: number): string;
}

export interface StartOptions {
  /** Hang guard for /healthz (and /readyz) to answer 200. */
  startTimeoutMs?: number;
  /** Wait for /readyz 200 too (default: true for gateway and publisher). */
  waitReady?: boolean;
}

const running = new Set<FanoutProcess>();

/** Every process started by startFanout that has not ended yet. */
export function runningFanoutProcesses(): FanoutProcess[] {
  return [...running];
}

/** SIGKILLs every process this module started that is still running (a last-resort cleanup). */
export async function killAllFanout(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

// If the test worker exits without cleaning up, do not leave orphans behind.
process.once('exit', () => {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** The port a process was given was taken by another one before it could listen (its answers were not its own). */
class PortTakenError extends Error {}

/**
 * Spawns `node apps/cli/bin/fanout.js <role>` on a free loopback port and waits until it is healthy
 * (and ready). A port found free can be taken by a process of a parallel test before the child binds
 * it, and then that process answers the health checks: the child must own the port's listening
 * socket, else it is ended and started again on another port.
 */
export async function startFanout(
  role: FanoutRole,
  env: Record<string, string | number | undefined> = {},
  options: StartOptions = {},
): Promise<FanoutProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startFanoutOnce(role, env, options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 3) throw error;
    }
  }
}

async function startFanoutOnce(role: FanoutRole, env: Record<string, string | number | undefined>, options: StartOptions): Promise<FanoutProcess> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} does not exist: build the apps first (cd ${REPO_ROOT} && npx tsc -b)`);
  }
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = String(value);
  }
  childEnv.PORT = String(port);

  const child: ChildProcess = spawn(process.execPath, [CLI_PATH, role], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${role}`);
  const pid = child.pid;
  const logs: string[] = [];
  const capture = (stream: NodeJS.ReadableStream | null, prefix: string) => {
    if (!stream) return;
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        logs.push(prefix + pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (logs.length > 20_000) logs.splice(0, logs.length - 10_000);
    });
    stream.on('end', () => {
      if (pending) logs.push(prefix + pending);
      pending = '';
    });
  };
  capture(child.stdout, '');
  capture(child.stderr, '[stderr] ');

  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  let exited = false;
  const exitPromise = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      running.delete(handle);
      resolveExit(code);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const tail = (n = 40) => logs.slice(-n).join('\n');

  const waitExit = async (timeoutMs: number): Promise<boolean> => {
    if (exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<boolean>((resolveGuard) => {
      timer = setTimeout(() => resolveGuard(false), timeoutMs);
    });
    return Promise.race([exitPromise.then(() => true), guard]).finally(() => clearTimeout(timer));
  };

  const kill = async (): Promise<void> => {
    if (exited) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
    await waitExit(10_000);
  };

  const handle: FanoutProcess = {
    role,
    url,
    port,
    pid,
    logs,
    get exitCode() {
      return exitCode;
    },
    get exited() {
      return exited;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (exited) return exitCode;
      try {
        process.kill(pid, signal);
      } catch {
        /* gone already */
      }
      const graceMs = Number(childEnv.FANOUT_SHUTDOWN_GRACE_MS ?? 10_000);
      if (!(await waitExit(graceMs + 10_000))) {
        logs.push(`[test] ${role} pid ${pid} did not exit within ${graceMs + 10_000} ms of ${signal}; sending SIGKILL`);
        await kill();
      }
      return exitCode;
    },
    kill,
    async metrics() {
      const response = await fetch(`${url}/metrics`);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET ${url}/metrics answered ${response.status}: ${text.slice(0, 500)}`);
      return text;
    },
    async metric(name: string, labels: Record<string, string> = {}) {
      return sumSamples(parsePrometheus(await handle.metrics()), name, labels);
    },
    tail,
  };
  running.add(handle);
  void exitSignal;

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  const waitReady = options.waitReady ?? role !== 'dev';
  const paths = waitReady ? ['/healthz', '/readyz'] : ['/healthz'];
  try {
    for (const path of paths) {
      let last = 'no answer yet';
      for (;;) {
        if (exited) throw new Error(`${role} exited with code ${exitCode ?? `signal ${exitSignal}`} before ${path} answered 200`);
        try {
          const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2_000) });
          await response.arrayBuffer();
          if (response.status === 200) break;
          last = `status ${response.status}`;
        } catch (error) {
          last = String((error as Error)?.cause ?? error);
        }
        if (Date.now() > deadline) throw new Error(`${role} on ${url}: ${path} did not answer 200 in time (${last})`);
        await sleep(50);
      }
    }
  } catch (error) {
    await kill();
    throw new Error(`${(error as Error).message}\n--- last log lines of ${role} (pid ${pid}) ---\n${tail(60)}`, { cause: error });
  }
  if (!(await listensOn(pid, port))) {
    await kill();
    throw new PortTakenError(`port ${port} was taken by another process before ${role} (pid ${pid}) could listen on it`);
  }
  return handle;
}

/** Whether process `pid` holds the listening TCP socket of `port` (Linux: /proc/net/tcp* and the process's fds). */
async function listensOn(pid: number, port: number): Promise<boolean> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is hex ip:port; state 0A is LISTEN; the inode is the 10th field.
      if (fields[1]?.endsWith(`:${portHex}`) && fields[3] === '0A' && fields[9]) inodes.add(`socket:[${fields[9]}]`);
    }
  }
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    if (inodes.has(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''))) return true;
  }
  return false;
}

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format (samples only). */
export function parsePrometheus(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    const body = match[3] ?? '';
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
    let lm: RegExpExecArray | null;
    while ((lm = labelRe.exec(body))) labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const valueText = match[4]!;
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

export function sumSamples(samples: PromSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matching.length === 0) return undefined;
  return matching.reduce((sum, s) => sum + s.value, 0);
}
