import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './fanout-process';

const SOURCE = join(REPO_ROOT, 'test', 'support', 'native', 'stalled-clients.c');
const BINARY = join(REPO_ROOT, 'test', '.build', 'stalled-clients');

/** Compiles native/stalled-clients.c with `cc` when the binary is missing or older than its source. */
function stalledClientsBinary(): string {
  const built = (() => {
    try {
      return statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs;
    } catch {
      return false;
    }
  })();
  if (!built) {
    mkdirSync(join(REPO_ROOT, 'test', '.build'), { recursive: true });
    const result = spawnSync('cc', ['-O2', '-Wall', '-o', BINARY, SOURCE], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`cc failed to build ${SOURCE}: ${result.error?.message ?? result.stderr}`);
  }
  return BINARY;
}

export interface StalledClients {
  /** How many connections were opened so far. */
  opened(): number;
  /** Resolves once `n` connections are open. */
  untilOpened(n: number, timeoutMs: number): Promise<void>;
  /** Closes every connection (the process exits). */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Connections to 127.0.0.1:`port` that send `request` and never read (receive buffer `rcvbufBytes`),
 * `count` of them, one every `intervalMs`, held until `close()`.
 */
export function openStalledClients(port: number, request: string, options: { count: number; rcvbufBytes?: number; intervalMs?: number }): StalledClients {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-stalled-'));
  const requestFile = join(dir, 'request');
  writeFileSync(requestFile, request);
  const child = spawn(
    stalledClientsBinary(),
    [String(port), String(options.rcvbufBytes ?? 4096), String(options.count), String(options.intervalMs ?? 0), requestFile],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  running.add(child);
  let opened = 0;
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    opened += (text.match(/^open \d+$/gm) ?? []).length;
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => {
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    opened: () => opened,
    async untilOpened(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (opened < n) {
        if (Date.now() > deadline) throw new Error(`only ${opened} of ${n} stalled connections opened within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    async close() {
      child.stdin!.end();
      await exited;
    },
  };
}

interface ServerSocket {
  /** Remote `address:port`, as /proc/net/tcp spells it. */
  peer: string;
  established: boolean;
  /** Bytes the kernel holds for the peer, not yet acknowledged. */
  txQueue: number;
}

/** The server's side of its TCP connections: the sockets whose local port is `port`, from /proc/net/tcp(6). */
export function serverSockets(port: number): ServerSocket[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const sockets: ServerSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 5) continue;
      const local = fields[1]!;
      if (local.slice(local.indexOf(':') + 1) !== hexPort) continue;
      sockets.push({ peer: fields[2]!, established: fields[3] === '01', txQueue: parseInt(fields[4]!.split(':')[0]!, 16) });
    }
  }
  return sockets;
}

export function establishedOnPort(port: number): number {
  return serverSockets(port).filter((s) => s.established).length;
}
