import Redis, { Callback, Cluster, RedisOptions } from 'ioredis';
import { ClusterSubscriber } from './cluster-subscriber';
import { BusLogger } from './logger';

/**
 * Where the bus's Redis is: one server (a `redis://` URL), a Redis Cluster (its startup nodes), or
 * the master a set of Redis Sentinels name.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; cluster: RedisClusterTarget }
  | { kind: 'sentinel'; sentinel: RedisSentinelTarget };

/** A Sentinel-managed master: asked of the sentinels on every (re)connection, and checked to be the master. */
export interface RedisSentinelTarget {
  sentinels: { host: string; port: number }[];
  /** The master's name, as the sentinels know it (`sentinel monitor <name> …`). */
  masterName: string;
  /** The sentinels' own password (`requirepass` of the sentinels), if any. */
  sentinelPassword?: string;
  /** The data nodes' user and password (the master's and replicas' `requirepass` / ACL user). */
  username?: string;
  password?: string;
  /** TLS to the sentinels and the data nodes. */
  tls: boolean;
}

export interface RedisClusterTarget {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?(?:\?.*)?$/;

export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//.test(url);
}

/** `host:port` (or `[v6]:port`) → host and port; throws a readable error. */
export function parseNodeAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s,]+)):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) throw new Error(`"${address}" is not host:port`);
  return { host: (match[1] ?? match[2])!, port };
}

/** `host:port,host:port,…` → startup nodes. */
export function parseClusterNodes(list: string | readonly string[]): { host: string; port: number }[] {
  const items = (typeof list === 'string' ? list.split(',') : list).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error('names no node (host:port,host:port,…)');
  return items.map(parseNodeAddress);
}

/** `redis+cluster://[user:password@]host:port,host:port[/]` (`rediss+cluster://` for TLS). */
export function parseClusterUrl(url: string): RedisClusterTarget {
  const match = CLUSTER_URL.exec(url);
  if (!match) throw new Error('must be redis+cluster://[user:password@]host:port,host:port');
  const [, scheme, auth, hosts] = match;
  const target: RedisClusterTarget = { nodes: parseClusterNodes(hosts!), tls: scheme === 'rediss' };
  if (auth) {
    const colon = auth.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
    const password = colon < 0 ? '' : decodeURIComponent(auth.slice(colon + 1));
    if (colon < 0) target.password = user;
    else {
      if (user) target.username = user;
      if (password) target.password = password;
    }
  }
  return target;
}

/** The target named by a bus's options: `sentinel`, `clusterNodes`, a `redis+cluster://` URL, or a plain URL. */
export function redisTargetOf(options: { url?: string; clusterNodes?: readonly string[]; sentinel?: RedisSentinelTarget }): RedisTarget {
  if (options.sentinel) return { kind: 'sentinel', sentinel: options.sentinel };
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    return { kind: 'cluster', cluster: { nodes: parseClusterNodes(options.clusterNodes), tls: false } };
  }
  if (!options.url) throw new Error('RedisBus needs a url or clusterNodes');
  if (isClusterUrl(options.url)) return { kind: 'cluster', cluster: parseClusterUrl(options.url) };
  return { kind: 'single', url: options.url };
}

/** How the target appears in a log line: no password. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.kind === 'single') return target.url.replace(/\/\/[^@/]*@/, '//[redacted]@');
  if (target.kind === 'sentinel') return `sentinel master ${target.sentinel.masterName} via ${target.sentinel.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  return `cluster ${target.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

export type CommandConnection = Redis | Cluster;
export type SubscriberConnection = Redis | ClusterSubscriber;

function nodeOptions(cluster: RedisClusterTarget, base: RedisOptions): RedisOptions {
  return {
    ...base,
    ...(cluster.username ? { username: cluster.username } : {}),
    ...(cluster.password ? { password: cluster.password } : {}),
    ...(cluster.tls ? { tls: {} } : {}),
  };
}

/** How long a Sentinel connection ioredis ended by itself waits before it connects again. */
const CONNECT_AGAIN_MS = 100;

/**
 * ioredis ends a Sentinel connection for good when it is dropped while it asks the sentinels for the
 * master (a `+switch-master`, or assertOnTheMaster, during a reconnection): its connector's lookup
 * then fails "Connection is closed." and the status becomes `end`, with no retry. Seen after a master
 * was killed: two gateways' connections both ended, never ready again. This one connects again
 * whenever it ends unless it was closed on purpose (`quit`, `disconnect()`).
 */
class SentinelConnection extends Redis {
  private closedOnPurpose = false;

  constructor(options: RedisOptions) {
    super(options);
    this.on('end', () => {
      if (this.closedOnPurpose) return;
      setTimeout(() => {
        if (!this.closedOnPurpose && this.status === 'end') this.connect().catch(() => undefined);
      }, CONNECT_AGAIN_MS).unref();
    });
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.closedOnPurpose = true;
    super.disconnect(reconnect);
  }

  override quit(callback?: Callback<'OK'>): Promise<'OK'> {
    this.closedOnPurpose = true;
    return super.quit(callback);
  }
}

/**
 * A connection to a Sentinel-managed master, through ioredis's Sentinel support: the master's address
 * is asked of the sentinels on every connection, the node's role is checked to be master when it
 * connects (else the next sentinel is asked), a `+switch-master` from any sentinel drops the connection
 * (failoverDetector), and a write refused as READONLY (a demoted master the detector missed) drops it
 * too. Each drop reconnects to the master of the moment, as after a restart.
 */
function sentinelConnection(target: RedisSentinelTarget, base: RedisOptions): Redis {
  return new SentinelConnection({
    ...base,
    sentinels: target.sentinels,
    name: target.masterName,
    role: 'master',
    failoverDetector: true,
    sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    reconnectOnError: (error) => (/^READONLY\b/.test(error.message) ? 1 : false),
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(target.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
  });
}

/**
 * How often a Redis Cluster's slot map is read again (CLUSTER SLOTS). A master that hangs (a frozen
 * process, a partitioned host) answers no command, so no MOVED ever says a replica took its slots:
 * without this, commands went on to it, and failed, until it came back, and then it took writes for
 * a moment before it learnt it was demoted (writes that its new master's history then lacks).
 */
const SLOTS_REFRESH_INTERVAL_MS = 1000;

/**
 * The command connection: a Redis, or an ioredis Cluster that sends each command (and each Lua
 * script, by its first key) to the master of its slot and follows MOVED and ASK. Commands are not
 * queued while a node is away: after a few quick retries (a failover) they fail, and the publisher
 * answers 503.
 */
export function createCommandConnection(target: RedisTarget, base: RedisOptions): CommandConnection {
  if (target.kind === 'single') return new Redis(target.url, base);
  if (target.kind === 'sentinel') return sentinelConnection(target.sentinel, base);
  const { enableAutoPipelining: _notOnACluster, ...nodeBase } = base;
  return new Cluster(target.cluster.nodes, {
    redisOptions: nodeOptions(target.cluster, nodeBase),
    enableOfflineQueue: false,
    // No auto-pipelining on a cluster: ioredis groups a turn's commands by the slot map it has cached,
    // so while a slot moves (resharding, failover) a pipeline can mix nodes and fails whole ("All keys
    // in the pipeline should belong to the same slots allocation group"), and a MOVED answer inside a
    // pipeline that holds a script is returned to the caller instead of being followed. Plain
    // commands follow MOVED and ASK one by one.
    enableAutoPipelining: false,
    clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 50,
    maxRedirections: 16,
    scaleReads: 'master',
    slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
  });
}

/**
 * The subscription path: one Redis connection, or (Redis Cluster) a ClusterSubscriber with a
 * connection per master, which emits the same `ready`, `close` and `smessageBuffer` events.
 */
export function createSubscriberConnection(target: RedisTarget, base: RedisOptions, logger: BusLogger): SubscriberConnection {
  if (target.kind === 'single') return new Redis(target.url, base);
  if (target.kind === 'sentinel') return sentinelConnection(target.sentinel, base);
  const options = nodeOptions(target.cluster, base);
  const topology = new Cluster(target.cluster.nodes, {
    redisOptions: { ...options, connectionName: 'fanout-topology' },
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    // Losses are normally seen at once (a closed connection, MOVED, a server-side SUNSUBSCRIBE), but
    // not a master that hangs and is failed over: its connection stays open and answers nothing.
    slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
  });
  return new ClusterSubscriber(topology, options, logger);
}

/** Under fanout's prefix, as every key and channel: an ACL user with `&fo:*` may use them all. */
const CANARY_PREFIX = 'fo:canary';

/** A replica's canary channels: one per master in a cluster, so a probe proves every shard's path. */
export function canaryChannelsOf(subscriber: SubscriberConnection, id: string): string[] {
  return subscriber instanceof ClusterSubscriber ? subscriber.canaryChannels(`${CANARY_PREFIX}:${id}`) : [`${CANARY_PREFIX}:{${id}}`];
}

export function isCanaryChannel(channel: string): boolean {
  return channel.startsWith(`${CANARY_PREFIX}:`);
}

/** How long closing a connection waits for the store to answer its QUIT. */
export const QUIT_WAIT_MS = 1000;

/**
 * Closes a connection: QUIT (the store finishes what it was sent), then the socket. At once when QUIT
 * fails (a connection that is down), and after `waitMs` when the store does not answer (a frozen
 * Redis), so that a process told to stop stops within its grace.
 */
export async function closeConnection(connection: CommandConnection | SubscriberConnection, waitMs = QUIT_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
  await Promise.race([connection.quit().then(() => undefined, () => undefined), waited]);
  clearTimeout(timer);
  // Once ended, disconnect() would only arm ioredis's 2 s timer to destroy a socket already gone.
  if (connection.status !== 'end') connection.disconnect();
}
