import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface RedisServer {
  url: string;
  port: number;
  /** A plain client for assertions and fault injection. */
  client(): Redis;
  /** Ends the server and removes its data. */
  stop(): Promise<void>;
  /** Ends the server's process, keeping its data directory (for restart tests). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  /** Sends a signal to the running server without waiting (SIGSTOP / SIGCONT: a stalled store). */
  signal(signal: NodeJS.Signals): void;
}

/** A real redis-server on a free loopback port, with its own data directory. */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fanout-redis-'));
  const clients: Redis[] = [];
  let proc: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no'];
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    const started = proc;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}`);
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 0 });
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } finally {
        probe.disconnect();
      }
    });
  };

  const halt = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const running = proc;
    proc = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client() {
      const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, disconnectTimeout: 0 });
      clients.push(c);
      return c;
    },
    start: launch,
    kill: halt,
    signal(signal) {
      if (!proc || proc.exitCode !== null) throw new Error('redis-server is not running');
      proc.kill(signal);
    },
    async stop() {
      clients.splice(0).forEach((c) => c.disconnect());
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
