import { BlockList, isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import {
  DEFAULT_HISTORY_MAX_LEN,
  DEFAULT_HISTORY_TTL_SECONDS,
  DEFAULT_SUBJECT_IDLE_TTL_SECONDS,
  DEFAULT_TENANT_MAX_SUBJECTS,
  DEFAULT_WAIT_REPLICAS,
  DEFAULT_WAIT_TIMEOUT_MS,
  isClusterUrl,
  parseClusterNodes,
  parseClusterUrl,
  RedisSentinelTarget,
} from '@fanout/bus';
import {
  COMPRESSION_MODES,
  CompressionMode,
  DEFAULT_CLIENT_BUFFER_BYTES,
  DEFAULT_COMPRESSION,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_TENANT,
  DEFAULT_MAX_REVOCATIONS,
  DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT,
  MIN_ANSWER_BYTES_IN_FLIGHT,
  DEFAULT_MAX_UNSENT_BYTES,
  MIN_MAX_UNSENT_BYTES,
  DEFAULT_RETRY_MS,
  defaultConflateThresholdBytes,
  DEFAULT_RETRY_JITTER_MS,
  defaultShutdownSpreadMs,
} from '@fanout/gateway';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { AuthConfig } from '@fanout/http';
import { DEFAULT_MAX_BODY_BYTES_IN_FLIGHT } from '@fanout/publisher';
import { ArchiveConfig, readArchiveConfig } from './archive-config';
import { DEFAULT_MAX_IDLE_SOCKETS } from './connection-bounds';
import { ConfigError, MAX_TIMER_MS, read, recordingReads, wholeNumber } from './env-reading';

export { ConfigError };

export const ROLES = ['gateway', 'publisher', 'dev'] as const;
export type Role = (typeof ROLES)[number];

const DEFAULT_PORTS: Readonly<Record<Role, number>> = { gateway: 8080, publisher: 8081, dev: 8080 };
/** `dev` listens on loopback only, where it may run without auth. */
const DEFAULT_HOSTS: Readonly<Record<Role, string>> = { gateway: '0.0.0.0', publisher: '0.0.0.0', dev: '127.0.0.1' };
const DEFAULT_AUTH_MODES: Readonly<Record<Role, AuthConfig['mode']>> = { gateway: 'jwt', publisher: 'jwt', dev: 'none' };
const DEFAULT_WORKERS = 1;
const DEFAULT_LOG_LEVEL = 'info';
const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/**
 * The process's configuration, read from the environment once at start. Settings of the bus and the
 * gateway take their defaults from the constants beside their options (`@fanout/bus`, `@fanout/gateway`).
 */
export interface FanoutConfig {
  role: Role;
  /** FANOUT_* variables of the environment that this configuration did not read: misspelt, or of no effect here (warned of at start). */
  unreadVariables: string[];
  /** PORT. @default {@link DEFAULT_PORTS} of the role */
  port: number;
  /** HOST. @default {@link DEFAULT_HOSTS} of the role */
  host: string;
  /** REDIS_URL: `redis://…`, or `redis+cluster://host:port,…` for Redis Cluster. Unset: the in-memory bus (`dev` only). */
  redisUrl?: string;
  /** REDIS_CLUSTER_NODES: Redis Cluster startup nodes (`host:port`). */
  redisClusterNodes?: string[];
  /** REDIS_SENTINELS with REDIS_SENTINEL_MASTER (and REDIS_SENTINEL_PASSWORD, REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS): a Sentinel-managed master. */
  redisSentinel?: RedisSentinelTarget;
  /** FANOUT_WORKERS: processes sharing the port (node:cluster); 1 runs no primary. @default {@link DEFAULT_WORKERS} */
  workers: number;
  /** LOG_LEVEL. @default {@link DEFAULT_LOG_LEVEL} */
  logLevel: string;
  /** FANOUT_HEARTBEAT_MS. @default {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs: number;
  /** FANOUT_IDLE_TIMEOUT_MS. @default {@link DEFAULT_IDLE_TIMEOUT_MS} */
  idleTimeoutMs: number;
  /** FANOUT_RETRY_MS. @default {@link DEFAULT_RETRY_MS} */
  retryMs: number;
  /** FANOUT_CLIENT_BUFFER_BYTES. @default {@link DEFAULT_CLIENT_BUFFER_BYTES} */
  clientBufferBytes: number;
  /** FANOUT_RETRY_JITTER_MS: each stream's `retry:` is uniform in retryMs ± this. @default {@link DEFAULT_RETRY_JITTER_MS} */
  retryJitterMs: number;
  /** FANOUT_CONFLATE_THRESHOLD_BYTES: unsent bytes from which a `?conflate=progress` stream conflates. @default {@link defaultConflateThresholdBytes} */
  conflateThresholdBytes: number;
  /** FANOUT_SHUTDOWN_SPREAD_MS: the window over which a draining gateway ends its streams. @default {@link defaultShutdownSpreadMs} */
  shutdownSpreadMs: number;
  /** FANOUT_COMPRESSION: `gzip` (streams are gzip for clients that ask) or `off`. @default {@link DEFAULT_COMPRESSION} */
  compression: CompressionMode;
  /** FANOUT_HISTORY_MAXLEN. @default {@link DEFAULT_HISTORY_MAX_LEN} */
  historyMaxLen: number;
  /** FANOUT_HISTORY_TTL_S. @default {@link DEFAULT_HISTORY_TTL_SECONDS} */
  historyTtlSeconds: number;
  /** FANOUT_SUBJECT_IDLE_TTL_S: an unfinished subject's history lives this long after its last event; 0: until its terminal event. @default {@link DEFAULT_SUBJECT_IDLE_TTL_SECONDS} */
  subjectIdleTtlSeconds: number;
  /** FANOUT_REDIS_WAIT_REPLICAS: replicas that must acknowledge each append (Redis WAIT); 0 = asynchronous replication. @default {@link DEFAULT_WAIT_REPLICAS} */
  redisWaitReplicas: number;
  /** FANOUT_REDIS_WAIT_TIMEOUT_MS. @default {@link DEFAULT_WAIT_TIMEOUT_MS} */
  redisWaitTimeoutMs: number;
  /** FANOUT_SHUTDOWN_GRACE_MS. @default {@link DEFAULT_SHUTDOWN_GRACE_MS} */
  shutdownGraceMs: number;
  /** FANOUT_AUTH and its FANOUT_JWT_* / FANOUT_JWKS_URL. @default {@link DEFAULT_AUTH_MODES} of the role */
  auth: AuthConfig;
  /** FANOUT_CORS_ORIGINS. @default [] (no cross-origin access) */
  corsOrigins: string[];
  /** FANOUT_MAX_CONNECTIONS. @default {@link DEFAULT_MAX_CONNECTIONS} */
  maxConnections: number;
  /** FANOUT_MAX_CONNECTIONS_PER_TENANT. @default {@link DEFAULT_MAX_CONNECTIONS_PER_TENANT} */
  maxConnectionsPerTenant: number;
  /** FANOUT_MAX_IDLE_SOCKETS: connections without a request in progress, per process. @default {@link DEFAULT_MAX_IDLE_SOCKETS} */
  maxIdleSockets: number;
  /** FANOUT_MAX_BODY_BYTES_IN_FLIGHT: bytes of request bodies a publisher reads at once, per replica. @default {@link DEFAULT_MAX_BODY_BYTES_IN_FLIGHT} */
  maxBodyBytesInFlight: number;
  /** FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT: bytes of history and log answers a gateway reads and holds at once, per replica. @default {@link DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT} */
  maxAnswerBytesInFlight: number;
  /** FANOUT_MAX_UNSENT_BYTES: unsent bytes over all of a gateway's streams, per replica. @default {@link DEFAULT_MAX_UNSENT_BYTES} */
  maxUnsentBytes: number;
  /** FANOUT_TENANT_MAX_SUBJECTS: subjects one tenant may hold in the store; 0 = no limit. @default {@link DEFAULT_TENANT_MAX_SUBJECTS} */
  tenantMaxSubjects: number;
  /** FANOUT_ARCHIVE_S3_BUCKET and the other FANOUT_ARCHIVE_* settings; unset: no archive. */
  archive?: ArchiveConfig;

  // Live revocation (issue 17)
  /** FANOUT_MAX_REVOCATIONS: active revocations at most. @default {@link DEFAULT_MAX_REVOCATIONS} */
  maxRevocations: number;
}

const positiveInt = wholeNumber(1);
/** A delay in milliseconds, bounded by what a Node timer takes. */
const positiveMs = wholeNumber(1, MAX_TIMER_MS);
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Loopback however it is spelt: `localhost`, 127.0.0.0/8, `::1` in full, IPv4-mapped `::ffff:127.0.0.1`. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * FANOUT_CORS_ORIGINS: `*`, or origins as a browser sends them in `Origin` (`https://host[:port]`),
 * each written as the browser writes it (lower case, no default port, no trailing slash) so that it
 * matches. Anything that is not an origin (a path, a wildcard in a host, another scheme) is refused.
 */
export function parseCorsOrigins(text: string): string[] {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Set to commas and spaces alone is a mistake, not a wish for no cross-origin access (unset is that).
  if (!entries.length && text.trim()) throw new ConfigError('FANOUT_CORS_ORIGINS', `${JSON.stringify(text.slice(0, 100))} lists no origin (expected * or a comma-separated list such as https://app.example.com,http://localhost:3000; unset for none)`);
  return entries.map((entry) => {
    if (entry === '*') return entry;
    const invalid = (why: string) => new ConfigError('FANOUT_CORS_ORIGINS', `${JSON.stringify(entry.replace(/\/\/[^@/]*@/, '//***@').slice(0, 100))} is not an origin: ${why} (expected * or a comma-separated list such as https://app.example.com,http://localhost:3000)`);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw invalid('not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('only http and https origins exist');
    if (url.username || url.password || url.search || url.hash || url.pathname !== '/' || /^[a-z]+:\/\/[^/]*\/./i.test(entry)) throw invalid('an origin has no path, query or credentials');
    if (url.hostname.includes('*')) throw invalid('a host cannot be a wildcard (list each origin, or use * for any)');
    return url.origin;
  });
}

/** `text` with the credentials of any URL or address in it (`user:password@`) hidden. */
function hideCredentials(text: string): string {
  return text.replace(/[^\s"',/@]+@/g, '***@');
}

/** A URL as an error message shows it: the password it may hold never goes into the message. */
function shownUrl(text: string): string {
  return JSON.stringify(hideCredentials(text));
}

/**
 * The longest FANOUT_SUBJECT_IDLE_TTL_S (ten years): the append script renews expiries in
 * milliseconds, which a longer one would write as a number Redis refuses.
 */
const MAX_SUBJECT_IDLE_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** A single Redis's URL: a host, a port from 1 to 65535 if any, and a database number if any. */
function checkRedisUrl(text: string): void {
  const shown = shownUrl(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('REDIS_URL', `is not a valid URL (got ${shown}; expected redis://host:port/db)`);
  }
  if (!url.hostname) throw new ConfigError('REDIS_URL', `has no host (got ${shown}; expected redis://host:port/db)`);
  if (url.port === '0') throw new ConfigError('REDIS_URL', `the port must be from 1 to 65535 (got ${shown})`);
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new ConfigError('REDIS_URL', `the user or password has a malformed %-escape (got ${shown}; write % as %25)`);
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) {
    throw new ConfigError('REDIS_URL', `the database must be a number, as in redis://host:port/0 (got ${shown})`);
  }
}

/** Settings of the data nodes that only a Sentinel target takes (a REDIS_URL carries its own). */
const SENTINEL_ONLY = ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const;

/** REDIS_SENTINELS and its companions, or undefined when unset; exclusive with REDIS_URL and REDIS_CLUSTER_NODES. */
function readSentinel(env: NodeJS.ProcessEnv, other: { redisUrl?: string; redisClusterNodes?: string[] }): RedisSentinelTarget | undefined {
  const list = read<string | undefined>(env, 'REDIS_SENTINELS', z.string().min(1), undefined);
  if (list === undefined) {
    const stray = SENTINEL_ONLY.find((variable) => env[variable] !== undefined && env[variable] !== '');
    if (stray) throw new ConfigError(stray, 'is a setting of Redis Sentinel: set REDIS_SENTINELS too (with REDIS_URL, the URL holds the user, password and TLS: rediss://user:password@host:port/db)');
    return undefined;
  }
  if (other.redisUrl) throw new ConfigError('REDIS_SENTINELS', 'set one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, not two');
  if (other.redisClusterNodes) throw new ConfigError('REDIS_SENTINELS', 'set one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, not two');
  let sentinels: { host: string; port: number }[];
  try {
    sentinels = parseClusterNodes(list);
  } catch (error) {
    throw new ConfigError('REDIS_SENTINELS', `${(error as Error).message} (expected host:port,host:port,…)`);
  }
  const masterName = read<string | undefined>(env, 'REDIS_SENTINEL_MASTER', z.string().regex(/^\S+$/, 'must be the master\'s name, without spaces'), undefined);
  if (masterName === undefined) throw new ConfigError('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS: the name the sentinels monitor the master by');
  const optional = (variable: string) => read<string | undefined>(env, variable, z.string().min(1), undefined);
  const sentinelPassword = optional('REDIS_SENTINEL_PASSWORD');
  const username = optional('REDIS_USERNAME');
  const password = optional('REDIS_PASSWORD');
  const tls = read(env, 'REDIS_TLS', z.enum(['true', 'false', '1', '0']), 'false');
  return {
    sentinels,
    masterName,
    ...(sentinelPassword ? { sentinelPassword } : {}),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    tls: tls === 'true' || tls === '1',
  };
}

/** FANOUT_* variables that are not server settings: those of fanout's clients (`fanout emit|tail|run-pack`), what run-pack gives each step, and the test suite's. */
const NOT_SERVER_SETTINGS = /^FANOUT_(URL|PUBLISHER_URL|GATEWAY_URL|TOKEN|TENANT|PACK_RUN_ID|STEP_INDEX|STEP_NAME|TEST_[A-Z0-9_]*)$/;

/** Parses and checks the environment once, at start. */
export function loadConfig(role: Role, givenEnv: NodeJS.ProcessEnv): FanoutConfig {
  const { env, names: readNames } = recordingReads(givenEnv);
  const host = read(env, 'HOST', z.string().min(1), DEFAULT_HOSTS[role]);
  const redisUrl = read<string | undefined>(
    env,
    'REDIS_URL',
    z.string().regex(/^rediss?(\+cluster)?:\/\/[^\s]+$/, 'must be a redis://host:port/db or redis+cluster://host:port,host:port URL'),
    undefined,
    shownUrl,
  );
  if (redisUrl && isClusterUrl(redisUrl)) {
    try {
      parseClusterUrl(redisUrl);
    } catch (error) {
      throw new ConfigError('REDIS_URL', hideCredentials((error as Error).message));
    }
  } else if (redisUrl) {
    checkRedisUrl(redisUrl);
  }
  const clusterNodesText = read<string | undefined>(env, 'REDIS_CLUSTER_NODES', z.string().min(1), undefined);
  let redisClusterNodes: string[] | undefined;
  if (clusterNodesText !== undefined) {
    if (redisUrl) throw new ConfigError('REDIS_CLUSTER_NODES', 'set either REDIS_URL or REDIS_CLUSTER_NODES, not both');
    try {
      redisClusterNodes = parseClusterNodes(clusterNodesText).map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`));
    } catch (error) {
      throw new ConfigError('REDIS_CLUSTER_NODES', `${(error as Error).message} (expected host:port,host:port,…)`);
    }
  }
  const redisSentinel = readSentinel(env, { redisUrl, redisClusterNodes });
  if (!redisUrl && !redisClusterNodes && !redisSentinel && role !== 'dev') {
    throw new ConfigError(
      'REDIS_URL',
      `is required by fanout ${role} (redis://host:port/db; or REDIS_CLUSTER_NODES=host:port,… for Redis Cluster; or REDIS_SENTINELS=host:port,… with REDIS_SENTINEL_MASTER for Redis Sentinel)`,
    );
  }
  const workers = read(
    env,
    'FANOUT_WORKERS',
    z.union([z.literal('auto').transform(() => availableParallelism()), wholeNumber(1, 256)], { error: 'must be a whole number from 1 to 256, or auto' }),
    DEFAULT_WORKERS,
  );
  if (workers > 1 && role === 'dev') throw new ConfigError('FANOUT_WORKERS', 'must be 1 for fanout dev (its in-memory bus lives in one process)');

  const authMode = read(env, 'FANOUT_AUTH', z.enum(['jwt', 'none']), DEFAULT_AUTH_MODES[role]);
  let auth: AuthConfig;
  if (authMode === 'none') {
    if (!isLoopbackHost(host)) {
      throw new ConfigError('FANOUT_AUTH', `none is refused unless HOST is a loopback address (HOST is ${host}); set FANOUT_AUTH=jwt`);
    }
    auth = { mode: 'none' };
  } else {
    const secret = read<string | undefined>(env, 'FANOUT_JWT_SECRET', z.string().min(1), undefined);
    const jwksUrl = read<string | undefined>(env, 'FANOUT_JWKS_URL', z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }), undefined, shownUrl);
    if (!secret && !jwksUrl) throw new ConfigError('FANOUT_JWT_SECRET', 'FANOUT_JWT_SECRET or FANOUT_JWKS_URL is required when FANOUT_AUTH=jwt');
    auth = {
      mode: 'jwt',
      secret,
      jwksUrl,
      issuer: read<string | undefined>(env, 'FANOUT_JWT_ISSUER', z.string().min(1), undefined),
      audience: read<string | undefined>(env, 'FANOUT_JWT_AUDIENCE', z.string().min(1), undefined),
      maxTtlSeconds: read<number | undefined>(env, 'FANOUT_JWT_MAX_TTL_S', positiveInt, undefined),
    };
  }

  const retryMs = read(env, 'FANOUT_RETRY_MS', wholeNumber(0, MAX_TIMER_MS), DEFAULT_RETRY_MS);
  const retryJitterMs = read(env, 'FANOUT_RETRY_JITTER_MS', wholeNumber(0, MAX_TIMER_MS), DEFAULT_RETRY_JITTER_MS);
  if (retryJitterMs > retryMs) throw new ConfigError('FANOUT_RETRY_JITTER_MS', `must be at most FANOUT_RETRY_MS (${retryMs})`);
  const clientBufferBytes = read(env, 'FANOUT_CLIENT_BUFFER_BYTES', positiveInt, DEFAULT_CLIENT_BUFFER_BYTES);
  const conflateThresholdBytes = read(env, 'FANOUT_CONFLATE_THRESHOLD_BYTES', positiveInt, defaultConflateThresholdBytes(clientBufferBytes));
  if (conflateThresholdBytes >= clientBufferBytes) {
    throw new ConfigError('FANOUT_CONFLATE_THRESHOLD_BYTES', `must be below FANOUT_CLIENT_BUFFER_BYTES (${clientBufferBytes})`);
  }
  const shutdownGraceMs = read(env, 'FANOUT_SHUTDOWN_GRACE_MS', wholeNumber(0, MAX_TIMER_MS), DEFAULT_SHUTDOWN_GRACE_MS);
  const shutdownSpreadMs = read(env, 'FANOUT_SHUTDOWN_SPREAD_MS', wholeNumber(0, MAX_TIMER_MS), defaultShutdownSpreadMs(shutdownGraceMs));
  if (shutdownSpreadMs > 0 && shutdownSpreadMs >= shutdownGraceMs) {
    throw new ConfigError('FANOUT_SHUTDOWN_SPREAD_MS', `must be below FANOUT_SHUTDOWN_GRACE_MS (${shutdownGraceMs}), which must leave the last streams time to close`);
  }
  const maxUnsentBytes = read(env, 'FANOUT_MAX_UNSENT_BYTES', wholeNumber(MIN_MAX_UNSENT_BYTES), DEFAULT_MAX_UNSENT_BYTES);
  if (maxUnsentBytes < clientBufferBytes) {
    throw new ConfigError('FANOUT_MAX_UNSENT_BYTES', `must be at least FANOUT_CLIENT_BUFFER_BYTES (${clientBufferBytes}), what one stream may hold`);
  }
  const archive = readArchiveConfig(env);
  if (archive && !redisUrl && !redisClusterNodes && !redisSentinel) {
    throw new ConfigError('FANOUT_ARCHIVE_S3_BUCKET', 'the archive needs Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): the in-memory bus keeps nothing to archive');
  }

  const config: Omit<FanoutConfig, 'unreadVariables'> = {
    role,
    host,
    archive,
    redisUrl,
    redisClusterNodes,
    redisSentinel,
    workers,
    auth,
    port: read(env, 'PORT', wholeNumber(0, 65535), DEFAULT_PORTS[role]),
    logLevel: read(env, 'LOG_LEVEL', z.enum(LOG_LEVELS), DEFAULT_LOG_LEVEL),
    heartbeatMs: read(env, 'FANOUT_HEARTBEAT_MS', positiveMs, DEFAULT_HEARTBEAT_MS),
    idleTimeoutMs: read(env, 'FANOUT_IDLE_TIMEOUT_MS', positiveMs, DEFAULT_IDLE_TIMEOUT_MS),
    retryMs,
    retryJitterMs,
    clientBufferBytes,
    conflateThresholdBytes,
    compression: read(env, 'FANOUT_COMPRESSION', z.enum(COMPRESSION_MODES), DEFAULT_COMPRESSION),
    historyMaxLen: read(env, 'FANOUT_HISTORY_MAXLEN', positiveInt, DEFAULT_HISTORY_MAX_LEN),
    historyTtlSeconds: read(env, 'FANOUT_HISTORY_TTL_S', positiveInt, DEFAULT_HISTORY_TTL_SECONDS),
    subjectIdleTtlSeconds: read(env, 'FANOUT_SUBJECT_IDLE_TTL_S', wholeNumber(0, MAX_SUBJECT_IDLE_TTL_SECONDS), DEFAULT_SUBJECT_IDLE_TTL_SECONDS),
    redisWaitReplicas: read(env, 'FANOUT_REDIS_WAIT_REPLICAS', wholeNumber(0, 16), DEFAULT_WAIT_REPLICAS),
    redisWaitTimeoutMs: read(env, 'FANOUT_REDIS_WAIT_TIMEOUT_MS', positiveMs, DEFAULT_WAIT_TIMEOUT_MS),
    shutdownGraceMs,
    shutdownSpreadMs,
    corsOrigins: parseCorsOrigins(read(env, 'FANOUT_CORS_ORIGINS', z.string(), '')),
    maxConnections: read(env, 'FANOUT_MAX_CONNECTIONS', positiveInt, DEFAULT_MAX_CONNECTIONS),
    maxConnectionsPerTenant: read(env, 'FANOUT_MAX_CONNECTIONS_PER_TENANT', positiveInt, DEFAULT_MAX_CONNECTIONS_PER_TENANT),
    maxIdleSockets: read(env, 'FANOUT_MAX_IDLE_SOCKETS', positiveInt, DEFAULT_MAX_IDLE_SOCKETS),
    maxBodyBytesInFlight: read(env, 'FANOUT_MAX_BODY_BYTES_IN_FLIGHT', wholeNumber(MAX_REQUEST_BYTES), DEFAULT_MAX_BODY_BYTES_IN_FLIGHT),
    maxAnswerBytesInFlight: read(env, 'FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT', wholeNumber(MIN_ANSWER_BYTES_IN_FLIGHT), DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT),
    maxUnsentBytes,
    tenantMaxSubjects: read(env, 'FANOUT_TENANT_MAX_SUBJECTS', wholeNumber(0), DEFAULT_TENANT_MAX_SUBJECTS),

    // Live revocation (issue 17)
    maxRevocations: read(env, 'FANOUT_MAX_REVOCATIONS', wholeNumber(1, 100_000), DEFAULT_MAX_REVOCATIONS),
  };
  // Once everything was read: a setting read conditionally counts only when its condition held.
  return { ...config, unreadVariables: Object.keys(givenEnv).filter((name) => name.startsWith('FANOUT_') && givenEnv[name] !== '' && !NOT_SERVER_SETTINGS.test(name) && !readNames.has(name)) };
}
