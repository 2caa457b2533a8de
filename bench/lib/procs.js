'use strict';
/**
 * Processes the benchmark starts: every one is tracked by PID and ended by PID (SIGTERM, then
 * SIGKILL after a grace), at the end, on error and on Ctrl-C. CPU and memory come from /proc.
 */
const { spawn, execFileSync } = require('node:child_process');
const { readFileSync, readdirSync, mkdtempSync, rmSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CLI_PATH = path.join(REPO_ROOT, 'apps', 'cli', 'bin', 'fanout.js');
const NOFILE = 65536;

let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* the usual value */
}

/** @type {Map<number, Managed>} */
const managed = new Map();
/** Processes started by a managed one (nginx's worker): ended by PID if their parent could not end them. */
const tracked = new Map();

function trackPid(pid, name) {
  tracked.set(pid, name);
}

function untrackPid(pid) {
  tracked.delete(pid);
}

/** SIGKILL a tracked PID if it is still the process it was (same command name). */
function killTracked(pid) {
  const name = tracked.get(pid);
  tracked.delete(pid);
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (name && name.startsWith(comm)) process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/**
 * @typedef {object} Managed
 * @property {string} name
 * @property {number} pid
 * @property {import('node:child_process').ChildProcess} child
 * @property {string[]} logs
 * @property {boolean} exited
 * @property {Promise<void>} exit
 */

/**
 * Spawns `command args` through `bash -c 'ulimit -n …; exec …'` (same PID: bash execs it), with
 * `taskset -c <cpus>` in front when `cpus` is given. stdout/stderr lines are kept (the last 200).
 */
function spawnManaged(name, command, args, options = {}) {
  const { env = process.env, cpus, ipc = false, stdin = false, onLine } = options;
  const pinned = cpus !== undefined && cpus !== null ? ['taskset', '-c', String(cpus)] : [];
  const argv = [...pinned, command, ...args];
  const script = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn) 2>/dev/null; exec "$@"`;
  const child = spawn('bash', ['-c', script, 'bench', ...argv], {
    cwd: REPO_ROOT,
    env,
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])],
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${name}`);
  const logs = [];
  const capture = (stream, prefix) => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (text) => {
      pending += text;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        logs.push(prefix + line);
        if (logs.length > 200) logs.shift();
        if (onLine) onLine(line);
      }
    });
  };
  capture(child.stdout, '');
  capture(child.stderr, '[stderr] ');
  const entry = { name, pid: child.pid, child, logs, exited: false, exitCode: null, exitSignal: null };
  entry.exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      entry.exited = true;
      entry.exitCode = code;
      entry.exitSignal = signal;
      managed.delete(entry.pid);
      resolve();
    });
  });
  managed.set(entry.pid, entry);
  return entry;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitExit(entry, ms) {
  if (entry.exited) return true;
  let timer;
  const guard = new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([entry.exit.then(() => true), guard]);
  clearTimeout(timer);
  return done;
}

/** SIGTERM (so `--cpu-prof` profiles get written), then SIGKILL after `graceMs`. */
async function stopManaged(entry, graceMs = 5000) {
  if (!entry || entry.exited) return;
  try {
    process.kill(entry.pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  if (await waitExit(entry, graceMs)) return;
  try {
    process.kill(entry.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await waitExit(entry, 5000);
}

async function stopAll(graceMs = 5000) {
  await Promise.all([...managed.values()].map((entry) => stopManaged(entry, graceMs)));
  for (const pid of [...tracked.keys()]) killTracked(pid);
}

/** Last resort, synchronous: SIGKILL every process still tracked. */
function killAllNow() {
  for (const entry of managed.values()) {
    try {
      process.kill(entry.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const pid of [...tracked.keys()]) killTracked(pid);
}

function runningProcesses() {
  return [...managed.values()];
}

/** utime + stime of a process in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size in KiB, from /proc/<pid>/status. */
function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : NaN;
}

/** The PIDs of a process's children (a cluster primary's workers), from /proc/<pid>/task/<tid>/children. */
function childPids(pid) {
  const out = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

/** How many file descriptors a process holds (its sockets, among others). */
function openFiles(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A CPU meter over a set of named PIDs: start(), then stop() gives seconds per name. */
function cpuMeter(pids) {
  const start = {};
  for (const [name, pid] of Object.entries(pids)) start[name] = cpuSeconds(pid);
  const startedAt = process.hrtime.bigint();
  return {
    stop() {
      const out = {};
      for (const [name, pid] of Object.entries(pids)) {
        try {
          out[name] = cpuSeconds(pid) - start[name];
        } catch {
          out[name] = NaN;
        }
      }
      return { cpu: out, wallSeconds: Number(process.hrtime.bigint() - startedAt) / 1e9 };
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET url until it answers 200, the process exits, or `timeoutMs` passes. */
async function waitHttp200(url, entry, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (entry && entry.exited) throw new Error(`${entry.name} exited (${entry.exitCode ?? entry.exitSignal}) before ${url} answered 200:\n${entry.logs.slice(-20).join('\n')}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = String(error.cause || error);
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${last})${entry ? `\n${entry.logs.slice(-20).join('\n')}` : ''}`);
}

/** A redis-server on a free loopback port with its own data directory, no persistence. */
async function startRedis(options = {}) {
  const Redis = require('ioredis');
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-redis-'));
  const entry = spawnManaged('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxclients', '20000'], { cpus: options.cpus });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (entry.exited) throw new Error(`redis-server exited: ${entry.logs.slice(-10).join('\n')}`);
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      /* not yet */
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING in time`);
    await sleep(50);
  }
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  return {
    entry,
    pid: entry.pid,
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    /** INFO <section> as an object of numbers/strings. */
    async info(section = 'stats') {
      const text = await client.info(section);
      const out = {};
      for (const line of text.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) {
          const value = line.slice(colon + 1);
          out[line.slice(0, colon)] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
        }
      }
      return out;
    },
    async stop() {
      client.disconnect();
      await stopManaged(entry, 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SIGUSR2 makes the servers run a full GC (bench/gc-preload.js), for B4's retained-heap figure. */
const GC_ARGS = ['--expose-gc', '--require', path.join(__dirname, '..', 'gc-preload.js')];

/** A V8 CPU profile written to `dir` when the process exits normally (SIGTERM is handled by both servers). */
function profileArgs(dir) {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/**
 * `node apps/cli/bin/fanout.js <role>` on a free loopback port, waited until /healthz (and /readyz) answer 200.
 * `profileDir` adds --cpu-prof so a profile is written when the process ends on SIGTERM.
 */
async function startFanout(role, name, env, options = {}) {
  const port = await freePort();
  const childEnv = {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    FANOUT_AUTH: 'none',
    LOG_LEVEL: 'warn',
    FANOUT_SHUTDOWN_GRACE_MS: '1000',
    ...env,
  };
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: it goes on the command line.
  const nodeArgs = [...(options.profileDir ? profileArgs(path.join(options.profileDir, name)) : []), ...GC_ARGS];
  const entry = spawnManaged(name, process.execPath, [...nodeArgs, CLI_PATH, role], { env: childEnv, cpus: options.cpus });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp200(`${url}/healthz`, entry);
  await waitHttp200(`${url}/readyz`, entry);
  return { entry, pid: entry.pid, port, url, name, stop: () => stopManaged(entry, 8000) };
}

/** bench/baseline-server.js on a free loopback port. */
async function startBaseline(options = {}) {
  const port = await freePort();
  const env = { ...process.env, ...options.env, PORT: String(port), HOST: '127.0.0.1' };
  const nodeArgs = [...(options.profileDir ? profileArgs(path.join(options.profileDir, 'baseline')) : []), ...GC_ARGS];
  const entry = spawnManaged('baseline', process.execPath, [...nodeArgs, path.join(__dirname, '..', 'baseline-server.js')], { env, cpus: options.cpus });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp200(`${url}/healthz`, entry);
  return { entry, pid: entry.pid, port, url, name: 'baseline', stop: () => stopManaged(entry, 3000) };
}

/** The soft limit on open files of a child of this process. */
function childNofile() {
  try {
    return Number(execFileSync('bash', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn) 2>/dev/null; ulimit -n`], { encoding: 'utf8' }).trim());
  } catch {
    return NaN;
  }
}

module.exports = {
  REPO_ROOT,
  CLI_PATH,
  NOFILE,
  spawnManaged,
  stopManaged,
  stopAll,
  killAllNow,
  trackPid,
  untrackPid,
  runningProcesses,
  cpuSeconds,
  rssKiB,
  childPids,
  openFiles,
  cpuMeter,
  freePort,
  waitHttp200,
  startRedis,
  startFanout,
  startBaseline,
  childNofile,
  sleep,
};
