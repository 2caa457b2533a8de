import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface SentinelNode {
  port: number;
  /** Whether its process is running. */
  readonly running: boolean;
  /** A plain client (made once, disconnected by stop()). */
  client(): Redis;
  /** SIGKILLs the process. */
  kill(): Promise<void>;
  /** Sends a signal without waiting (SIGSTOP / SIGCONT: a node that stops answering, as behind a partition). */
  signal(signal: NodeJS.Signals): void;
}

/** A Sentinel-managed master with replicas, and the sentinels that watch it, as real processes on loopback. */
export interface SentinelSetup {
  masterName: string;
  /** `127.0.0.1:p1,127.0.0.1:p2,…` of the sentinels (REDIS_SENTINELS). */
  sentinelList: string;
  /** Every data node: the first master, then the replicas. */
  nodes: SentinelNode[];
  sentinels: SentinelNode[];
  /** The data node the sentinels name as master now. */
  currentMaster(): Promise<SentinelNode>;
  /** Waits until every sentinel names a master other than `old` and that node says it is the master. */
  waitForNewMaster(old: SentinelNode, timeoutMs?: number): Promise<SentinelNode>;
  stop(): Promise<void>;
}

const MASTER_NAME = 'fanout-test';

function spawnNode(args: string[]): ChildProcess {
  return spawn('redis-server', args, { stdio: 'ignore' });
}

function nodeOf(port: number, proc: ChildProcess, clients: Redis[]): SentinelNode {
  let client: Redis | undefined;
  return {
    port,
    get running() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    client() {
      if (!client) {
        client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, disconnectTimeout: 0, retryStrategy: () => 200 });
        client.on('error', () => undefined);
        clients.push(client);
      }
      return client;
    },
    signal(signal) {
      proc.kill(signal);
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A master, `replicas` replicas of it and `sentinelCount` sentinels (quorum: a majority), each a
 * real `redis-server` (`--sentinel` for the sentinels) on a free loopback port with its own
 * directory. Sentinels judge a master down after 1 s without an answer.
 */
export async function startSentinelSetup(options: { replicas?: number; sentinels?: number } = {}): Promise<SentinelSetup> {
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'fanout-sentinel-'));
  const procs: ChildProcess[] = [];
  const clients: Redis[] = [];
  const nodes: SentinelNode[] = [];
  const sentinels: SentinelNode[] = [];

  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    // A node left stopped (SIGSTOP) must go on to take its SIGKILL.
    for (const proc of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
    await Promise.all(
      procs.map(async (proc) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const masterPort = await freePort();
    for (let i = 0; i <= replicaCount; i++) {
      const port = i === 0 ? masterPort : await freePort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--save', '', '--appendonly', 'no'];
      if (i > 0) args.push('--replicaof', '127.0.0.1', String(masterPort));
      const proc = spawnNode(args);
      procs.push(proc);
      nodes.push(nodeOf(port, proc, clients));
    }
    await waitFor('the master answers', async () => (await nodes[0]!.client().ping().catch(() => '')) === 'PONG');
    for (const replica of nodes.slice(1)) {
      await waitFor(`replica ${replica.port} in sync`, async () => /master_link_status:up/.test(await replica.client().info('replication').catch(() => '')));
    }

    const quorum = Math.floor(sentinelCount / 2) + 1;
    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} ${quorum}`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      procs.push(proc);
      sentinels.push(nodeOf(port, proc, clients));
    }
    // Every sentinel knows the replicas and the other sentinels before anything fails.
    await waitFor(
      'the sentinels see every replica and each other',
      async () => {
        for (const s of sentinels) {
          const [master] = (await s.client().call('SENTINEL', 'MASTERS').catch(() => [])) as string[][];
          if (!master) return false;
          const fields = new Map<string, string>();
          for (let f = 0; f + 1 < master.length; f += 2) fields.set(master[f]!, master[f + 1]!);
          if (Number(fields.get('num-slaves')) < replicaCount || Number(fields.get('num-other-sentinels')) < sentinelCount - 1) return false;
        }
        return true;
      },
      30_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const byPort = (port: number): SentinelNode => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`the sentinels name 127.0.0.1:${port}, which is not a node of this setup`);
    return node;
  };
  const masterPortNamedBy = async (sentinel: SentinelNode): Promise<number | undefined> => {
    const reply = (await sentinel.client().call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME).catch(() => null)) as [string, string] | null;
    return reply ? Number(reply[1]) : undefined;
  };

  return {
    masterName: MASTER_NAME,
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    nodes,
    sentinels,
    async currentMaster() {
      const port = await masterPortNamedBy(sentinels.find((s) => s.running)!);
      if (port === undefined) throw new Error('no sentinel names a master');
      return byPort(port);
    },
    async waitForNewMaster(old, timeoutMs = 30_000) {
      const port = await waitFor(
        'a new master, named by every running sentinel and answering as master',
        async () => {
          const named = await Promise.all(sentinels.filter((s) => s.running).map(masterPortNamedBy));
          const first = named[0];
          if (first === undefined || first === old.port || named.some((p) => p !== first)) return undefined;
          const role = (await byPort(first).client().role().catch(() => ['unknown'])) as string[];
          return role[0] === 'master' ? first : undefined;
        },
        timeoutMs,
        100,
      );
      return byPort(port);
    },
    stop,
  };
}
