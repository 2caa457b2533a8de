import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { isClusterUrl, parseClusterNodes, parseClusterUrl } from '@fanout/bus';
import { AuthConfig } from '@fanout/http';

export const ROLES = ['gateway', 'publisher', 'dev'] as const;
export type Role = (typeof ROLES)[number];

export interface FanoutConfig {
  role: Role;
  port: number;
  host: string;
  /** `redis://…`, or `redis+cluster://host:port,…` for Redis Cluster. */
  redisUrl?: string;
  /** REDIS_CLUSTER_NODES: Redis Cluster startup nodes (`host:port`). */
  redisClusterNodes?: string[];
  /** FANOUT_WORKERS: processes sharing the port (node:cluster); 1 runs no primary. */
  workers: number;
  logLevel: string;
  heartbeatMs: number;
  idleTimeoutMs: number;
  retryMs: number;
  clientBufferBytes: number;
  historyMaxLen: number;
  historyTtlSeconds: number;
  /** Replicas that must acknowledge each append (Redis WAIT); 0 = asynchronous replication. */
  redisWaitReplicas: number;
  redisWaitTimeoutMs: number;
  shutdownGraceMs: number;
  auth: AuthConfig;
  corsOrigins: string[];
  maxConnections: number;
  maxConnectionsPerTenant: number;
  /** FANOUT_TENANT_MAX_SUBJECTS: subjects one tenant may hold in the store; 0 = no limit. */
  tenantMaxSubjects: number;
}

/** A configuration error names the variable; the CLI prints it as one line and exits non-zero. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const DEFAULT_PORTS: Record<Role, number> = { gateway: 8080, publisher: 8081, dev: 8080 };
const positiveInt = z.coerce.number().int().positive();
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function read<T>(env: NodeJS.ProcessEnv, variable: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(variable, `${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(raw)})`);
  return parsed.data;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** A single Redis's URL: a host, a port from 1 to 65535 if any, and a database number if any. */
function checkRedisUrl(text: string): void {
  // The URL may hold a password: it never goes into the message.
  const shown = JSON.stringify(text.replace(/\/\/[^@/]*@/, '//***@'));
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('REDIS_URL', `is not a valid URL (got ${shown}; expected redis://host:port/db)`);
  }
  if (!url.hostname) throw new ConfigError('REDIS_URL', `has no host (got ${shown}; expected redis://host:port/db)`);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) {
    throw new ConfigError('REDIS_URL', `the database must be a number, as in redis://host:port/0 (got ${shown})`);
  }
}

/** Parses and checks the environment once, at start. */
export function loadConfig(role: Role, env: NodeJS.ProcessEnv): FanoutConfig {
  const host = read(env, 'HOST', z.string().min(1), role === 'dev' ? '127.0.0.1' : '0.0.0.0');
  const redisUrl = read<string | undefined>(
    env,
    'REDIS_URL',
    z.string().regex(/^rediss?(\+cluster)?:\/\/[^\s]+$/, 'must be a redis://host:port/db or redis+cluster://host:port,host:port URL'),
    undefined,
  );
  if (redisUrl && isClusterUrl(redisUrl)) {
    try {
      parseClusterUrl(redisUrl);
    } catch (error) {
      throw new ConfigError('REDIS_URL', (error as Error).message);
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
  if (!redisUrl && !redisClusterNodes && role !== 'dev') {
    throw new ConfigError('REDIS_URL', `is required by fanout ${role} (redis://host:port/db; or REDIS_CLUSTER_NODES=host:port,… for Redis Cluster)`);
  }
  const workers = read(
    env,
    'FANOUT_WORKERS',
    z.union([z.literal('auto').transform(() => availableParallelism()), z.coerce.number().int().min(1).max(256)]),
    1,
  );
  if (workers > 1 && role === 'dev') throw new ConfigError('FANOUT_WORKERS', 'must be 1 for fanout dev (its in-memory bus lives in one process)');

  const authMode = read(env, 'FANOUT_AUTH', z.enum(['jwt', 'none']), role === 'dev' ? 'none' : 'jwt');
  let auth: AuthConfig;
  if (authMode === 'none') {
    if (!isLoopbackHost(host)) {
      throw new ConfigError('FANOUT_AUTH', `none is refused unless HOST is a loopback address (HOST is ${host}); set FANOUT_AUTH=jwt`);
    }
    auth = { mode: 'none' };
  } else {
    const secret = read<string | undefined>(env, 'FANOUT_JWT_SECRET', z.string().min(1), undefined);
    const jwksUrl = read<string | undefined>(env, 'FANOUT_JWKS_URL', z.url({ message: 'must be a URL' }), undefined);
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

  return {
    role,
    host,
    redisUrl,
    redisClusterNodes,
    workers,
    auth,
    port: read(env, 'PORT', z.coerce.number().int().min(0).max(65535), DEFAULT_PORTS[role]),
    logLevel: read(env, 'LOG_LEVEL', z.enum(LOG_LEVELS), 'info'),
    heartbeatMs: read(env, 'FANOUT_HEARTBEAT_MS', positiveInt, 15_000),
    idleTimeoutMs: read(env, 'FANOUT_IDLE_TIMEOUT_MS', positiveInt, 300_000),
    retryMs: read(env, 'FANOUT_RETRY_MS', z.coerce.number().int().min(0), 2_000),
    clientBufferBytes: read(env, 'FANOUT_CLIENT_BUFFER_BYTES', positiveInt, 1_048_576),
    historyMaxLen: read(env, 'FANOUT_HISTORY_MAXLEN', positiveInt, 10_000),
    historyTtlSeconds: read(env, 'FANOUT_HISTORY_TTL_S', positiveInt, 86_400),
    redisWaitReplicas: read(env, 'FANOUT_REDIS_WAIT_REPLICAS', z.coerce.number().int().min(0).max(16), 0),
    redisWaitTimeoutMs: read(env, 'FANOUT_REDIS_WAIT_TIMEOUT_MS', positiveInt, 1000),
    shutdownGraceMs: read(env, 'FANOUT_SHUTDOWN_GRACE_MS', z.coerce.number().int().min(0), 10_000),
    corsOrigins: read(env, 'FANOUT_CORS_ORIGINS', z.string(), '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
    maxConnections: read(env, 'FANOUT_MAX_CONNECTIONS', positiveInt, 50_000),
    maxConnectionsPerTenant: read(env, 'FANOUT_MAX_CONNECTIONS_PER_TENANT', positiveInt, 10_000),
    tenantMaxSubjects: read(env, 'FANOUT_TENANT_MAX_SUBJECTS', z.coerce.number().int().min(0), 0),
  };
}
