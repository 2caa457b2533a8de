import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis, { Cluster } from 'ioredis';
import { RedisServer } from './redis-server';
import { sleep, waitFor } from './wait';

const run = promisify(execFile);

/** One redis-server of the cluster. */
export interface ClusterNode {
  port: number;
  /** `127.0.0.1:<port>` */
  address: string;
  /** The node's id in the cluster (from CLUSTER MYID). */
  id: string;
  pid: number;
  readonly running: boolean;
}

/**
 * A real Redis Cluster on loopback: `redis-server --cluster-enabled yes` processes joined with
 * `redis-cli --cluster create`. It also looks like a RedisServer (its `url` is a `redis+cluster://`
 * URL), so a test stack runs on it unchanged.
 */
export interface RedisCluster extends RedisServer {
  /** Every node started, masters first (in slot order), then replicas added later. */
  nodes: ClusterNode[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…` of the initial masters (REDIS_CLUSTER_NODES). */
  nodeList: string;
  /** A plain connection to one node, made once and kept (disconnected by stop()). */
  nodeClient(port: number): Redis;
  /** An ioredis Cluster client (disconnected by stop()). */
  clusterClient(): Cluster;
  /** The node that serves `slot` now, asked of a running node. */
  ownerOfSlot(slot: number): Promise<ClusterNode>;
  /** The slot owners now, asked of a running node once: slot → node. */
  slotOwners(): Promise<(slot: number) => ClusterNode>;
  /** Starts a new node and joins it as a replica of `master`; resolves once it is in sync. */
  addReplica(master: ClusterNode): Promise<ClusterNode>;
  /**
   * Waits until `replica` has processed the master's replication stream up to the master's offset
   * at the time of the call: everything the master had applied by then would survive a failover.
   * (WAIT from a client that wrote nothing proves nothing: it only counts connected replicas.)
   */
  replicaCaughtUp(master: ClusterNode, replica: ClusterNode, timeoutMs?: number): Promise<void>;
  /**
   * Moves one slot to another master the way `redis-cli --cluster reshard` does: IMPORTING /
   * MIGRATING, the keys MIGRATEd in small groups (clients meanwhile get ASK, or TRYAGAIN for a
   * multi-key command), then SETSLOT NODE on every master. `pauseMs` between groups gives clients
   * time to hit the redirections.
   */
  migrateSlot(slot: number, to: ClusterNode, options?: { pauseMs?: number; keysPerMigrate?: number }): Promise<void>;
  /** SIGKILLs a node (its data directory stays). */
  killNode(node: ClusterNode): Promise<void>;
  /** Waits until every running node agrees on the slot owners and reports cluster_state:ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const taken = new Set<number>();

/** A port below 55535 that is free together with its cluster bus port (port + 10000). */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error('no free port pair (port, port + 10000) found');
}

interface NodeProcess extends ClusterNode {
  proc: ChildProcess;
  dir: string;
}

const started = new Set<ChildProcess>();
// If the test worker exits without stopping its clusters, leave no redis-server behind.
process.once('exit', () => {
  for (const proc of started) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});

async function pingable(port: number): Promise<boolean> {
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 0 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } finally {
    probe.disconnect();
  }
}

async function launchNode(root: string, nodeTimeoutMs: number): Promise<NodeProcess> {
  const port = await clusterPort();
  const dir = join(root, String(port));
  await run('mkdir', ['-p', dir]);
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--cluster-enabled', 'yes',
    '--cluster-config-file', join(dir, 'nodes.conf'),
    '--cluster-node-timeout', String(nodeTimeoutMs),
    // A replica promotes itself however long it was cut from its master (tests kill masters at will).
    '--cluster-replica-validity-factor', '0',
  ];
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  if (proc.pid === undefined) throw new Error('could not spawn redis-server');
  started.add(proc);
  proc.once('exit', () => started.delete(proc));
  await waitFor(`cluster node on port ${port}`, async () => {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
    return pingable(port);
  });
  const probe = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 });
  const id = String(await probe.cluster('MYID'));
  probe.disconnect();
  const node: NodeProcess = {
    port,
    address: `127.0.0.1:${port}`,
    id,
    pid: proc.pid,
    proc,
    dir,
    get running() {
      return proc.exitCode === null && proc.signalCode === null;
    },
  };
  return node;
}

/** CLUSTER SLOTS as [start, end, masterPort][] */
async function slotOwners(c: Redis): Promise<[number, number, number][]> {
  const raw = (await c.cluster('SLOTS')) as unknown as [number, number, [string, number, string]][];
  return raw.map(([start, end, master]) => [start, end, Number(master[1])] as [number, number, number]).sort((a, b) => a[0] - b[0]);
}

/** Starts `masters` cluster nodes, joins them, and waits until the cluster is healthy. */
export async function startRedisCluster(options: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const root = mkdtempSync(join(tmpdir(), 'fanout-cluster-'));
  const nodes: NodeProcess[] = [];
  const clients: (Redis | Cluster)[] = [];
  const nodeClients = new Map<number, Redis>();

  const halt = async (node: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (!node.running) return;
    const exited = new Promise((resolve) => node.proc.once('exit', resolve));
    node.proc.kill(signal);
    await exited;
  };
  const stop = async (): Promise<void> => {
    clients.splice(0).forEach((c) => c.disconnect());
    nodeClients.clear();
    await Promise.all(nodes.map((n) => halt(n)));
    rmSync(root, { recursive: true, force: true });
  };

  const nodeClient = (port: number): Redis => {
    const known = nodeClients.get(port);
    if (known && known.status !== 'end') return known;
    const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, disconnectTimeout: 0, retryStrategy: (n) => (n > 20 ? null : 100) });
    c.on('error', () => undefined);
    clients.push(c);
    nodeClients.set(port, c);
    return c;
  };
  const anyRunning = (): NodeProcess => {
    const node = nodes.find((n) => n.running);
    if (!node) throw new Error('no cluster node is running');
    return node;
  };

  const waitHealthy = async (timeoutMs = 30_000): Promise<void> => {
    await waitFor(
      'every running cluster node to report cluster_state:ok and agree on the slot owners',
      async () => {
        const views: string[] = [];
        for (const node of nodes.filter((n) => n.running)) {
          const c = new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null });
          c.on('error', () => undefined);
          try {
            const info = String(await c.cluster('INFO'));
            if (!/cluster_state:ok/.test(info)) return false;
            const owners = await slotOwners(c);
            // Every slot assigned to a running node.
            if (owners.reduce((sum, [start, end]) => sum + end - start + 1, 0) !== 16384) return false;
            if (!owners.every(([, , port]) => nodes.find((n) => n.port === port)?.running)) return false;
            views.push(JSON.stringify(owners));
          } finally {
            c.disconnect();
          }
        }
        return views.length > 0 && views.every((v) => v === views[0]);
      },
      timeoutMs,
      100,
    );
  };

  try {
    nodes.push(...(await Promise.all(Array.from({ length: masters }, () => launchNode(root, nodeTimeoutMs)))));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await waitHealthy();
    // Masters in slot order: nodes[0] serves slot 0.
    const owners = await slotOwners(nodeClient(nodes[0]!.port));
    nodes.sort((a, b) => owners.findIndex(([, , p]) => p === a.port) - owners.findIndex(([, , p]) => p === b.port));
  } catch (error) {
    await stop();
    throw error;
  }

  const cluster: RedisCluster = {
    nodes,
    port: nodes[0]!.port,
    nodeList: nodes.map((n) => n.address).join(','),
    url: `redis+cluster://${nodes.map((n) => n.address).join(',')}`,
    client() {
      return nodeClient(anyRunning().port);
    },
    nodeClient,
    clusterClient() {
      const c = new Cluster(
        nodes.filter((n) => n.running).map((n) => ({ host: '127.0.0.1', port: n.port })),
        { redisOptions: { maxRetriesPerRequest: 1 }, slotsRefreshInterval: 500 },
      );
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async ownerOfSlot(slot) {
      return (await cluster.slotOwners())(slot);
    },
    async slotOwners() {
      const owners = await slotOwners(nodeClient(anyRunning().port));
      return (slot: number) => {
        const range = owners.find(([start, end]) => slot >= start && slot <= end);
        const node = range && nodes.find((n) => n.port === range[2]);
        if (!node) throw new Error(`no owner of slot ${slot}`);
        return node;
      };
    },
    async addReplica(master) {
      const replica = await launchNode(root, nodeTimeoutMs);
      nodes.push(replica);
      await run(
        'redis-cli',
        ['--cluster', 'add-node', replica.address, master.address, '--cluster-slave', '--cluster-master-id', master.id],
        { timeout: 30_000 },
      );
      const c = nodeClient(replica.port);
      await waitFor(`replica ${replica.address} of ${master.address} in sync`, async () => {
        const info = String(await c.info('replication'));
        return /role:slave/.test(info) && /master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info);
      }, 30_000, 100);
      // Every node knows the replica (a failover needs the masters' votes).
      await waitFor(`every node to know replica ${replica.address}`, async () => {
        for (const n of nodes.filter((x) => x.running)) {
          const known = String(await nodeClient(n.port).cluster('NODES'));
          if (!known.includes(replica.id)) return false;
        }
        return true;
      }, 30_000, 100);
      await sleep(0);
      return replica;
    },
    async replicaCaughtUp(master, replica, timeoutMs = 30_000) {
      const offsetOf = (info: string, field: string): number => {
        const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
        if (!match) throw new Error(`no ${field} in INFO replication: ${info}`);
        return Number(match[1]);
      };
      const target = offsetOf(String(await nodeClient(master.port).info('replication')), 'master_repl_offset');
      let last = '';
      try {
        await waitFor(`replica ${replica.address} to reach offset ${target} of ${master.address}`, async () => {
          last = String(await nodeClient(replica.port).info('replication'));
          return /master_link_status:up/.test(last) && offsetOf(last, 'slave_repl_offset') >= target;
        }, timeoutMs, 20);
      } catch (error) {
        throw new Error(`${String(error)}; the replica's last INFO replication: ${last}`, { cause: error });
      }
    },
    async migrateSlot(slot, to, migrateOptions = {}) {
      const from = await cluster.ownerOfSlot(slot);
      if (from === to) return;
      const source = nodeClient(from.port);
      const target = nodeClient(to.port);
      await target.cluster('SETSLOT', slot, 'IMPORTING', from.id);
      await source.cluster('SETSLOT', slot, 'MIGRATING', to.id);
      for (;;) {
        const keys = (await source.cluster('GETKEYSINSLOT', slot, migrateOptions.keysPerMigrate ?? 2)) as string[];
        if (keys.length === 0) break;
        await source.call('MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
        await sleep(migrateOptions.pauseMs ?? 20);
      }
      await target.cluster('SETSLOT', slot, 'NODE', to.id);
      await source.cluster('SETSLOT', slot, 'NODE', to.id);
      for (const node of nodes.filter((n) => n.running && n !== from && n !== to)) await nodeClient(node.port).cluster('SETSLOT', slot, 'NODE', to.id);
    },
    killNode: (node) => halt(node as NodeProcess),
    waitHealthy,
    async kill() {
      throw new Error('kill() of a whole cluster is not supported: use killNode');
    },
    signal(signal) {
      for (const node of nodes) if (node.running) node.proc.kill(signal);
    },
    async start() {
      throw new Error('start() of a whole cluster is not supported');
    },
    stop,
  };
  return cluster;
}
