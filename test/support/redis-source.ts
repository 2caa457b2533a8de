/**
 * "A Redis" for the tests that need nothing more than one (the bus conformance suite and the bus's
 * memory measurements): the one place that decides where it comes from.
 *
 * 1. REDIS_URL, when set: that server (shared; nothing is flushed, every test uses its own keys).
 * 2. Else Testcontainers (@testcontainers/redis) when a Docker engine answers: a container of
 *    FANOUT_TEST_REDIS_IMAGE (default: fanout-test/redis:local when the engine has it, built by
 *    scripts/docker-images.sh redis, else redis:7.4-alpine), its port published on 127.0.0.1 only,
 *    removed by stop(). Ryuk is off (TESTCONTAINERS_RYUK_DISABLED=true): no helper image is pulled.
 * 3. Else a redis-server process (test/support/redis-server.ts).
 *
 * FANOUT_TEST_REQUIRE_DOCKER=1 (.ci/run) makes it Testcontainers or a failure: REDIS_URL is then
 * ignored, a missing engine fails, and a missing image fails instead of being pulled.
 *
 * Tests that need their own server process (restart, SIGSTOP, replication, Cluster, Sentinel,
 * CONFIG SET on the whole server, MONITOR) use startRedis() and friends directly.
 */
import { spawnSync } from 'node:child_process';
import type { StartedRedisContainer } from '@testcontainers/redis';
import Redis from 'ioredis';
import { TEST_LABEL, dockerEngine, imageExists, requireDocker } from './docker';
import { startRedis } from './redis-server';

export type RedisSourceKind = 'REDIS_URL' | 'testcontainers' | 'redis-server';

export interface TestRedis {
  source: RedisSourceKind;
  url: string;
  host: string;
  port: number;
  /** A plain client for assertions (disconnected by stop()). */
  client(): Redis;
  /** Disconnects the clients; removes the container or ends the process (leaves a REDIS_URL server alone). */
  stop(): Promise<void>;
}

export const LOCAL_REDIS_IMAGE = 'fanout-test/redis:local';
const PUBLIC_REDIS_IMAGE = 'redis:7.4-alpine';

/** Which source testRedis() will use, decided synchronously (so it can name the tests). */
export function redisSource(): RedisSourceKind {
  if (requireDocker) {
    const engine = dockerEngine();
    if (!engine.ok) throw new Error(`FANOUT_TEST_REQUIRE_DOCKER=1 but ${engine.reason}`);
    return 'testcontainers';
  }
  if (process.env.REDIS_URL) return 'REDIS_URL';
  return dockerEngine().ok ? 'testcontainers' : 'redis-server';
}

function withClients(base: Omit<TestRedis, 'client' | 'stop'>, stop: () => Promise<void>): TestRedis {
  const clients: Redis[] = [];
  return {
    ...base,
    client() {
      const c = new Redis(base.url, { maxRetriesPerRequest: 1, disconnectTimeout: 0 });
      clients.push(c);
      return c;
    },
    async stop() {
      clients.splice(0).forEach((c) => c.disconnect());
      await stop();
    },
  };
}

async function redisImage(): Promise<string> {
  const configured = process.env.FANOUT_TEST_REDIS_IMAGE;
  const image = configured ?? ((await imageExists(LOCAL_REDIS_IMAGE)) ? LOCAL_REDIS_IMAGE : PUBLIC_REDIS_IMAGE);
  if (requireDocker && !(await imageExists(image))) {
    throw new Error(`FANOUT_TEST_REQUIRE_DOCKER=1 and the engine has no image ${image} (nothing is pulled): build it with scripts/docker-images.sh redis`);
  }
  return image;
}

async function startContainer(): Promise<TestRedis> {
  // Before testcontainers reads its configuration: no Ryuk (its image would be pulled), and the
  // published ports are reached on 127.0.0.1 (not `localhost`, which may resolve to ::1).
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  const { RedisContainer } = await import('@testcontainers/redis');
  const image = await redisImage();

  /** Publishes the port on 127.0.0.1 only (Testcontainers binds every interface). */
  class LoopbackRedisContainer extends RedisContainer {
    override async start(): Promise<StartedRedisContainer> {
      for (const bindings of Object.values(this.hostConfig.PortBindings ?? {}) as Array<Array<{ HostIp?: string }>>) {
        for (const binding of bindings) binding.HostIp = '127.0.0.1';
      }
      return super.start();
    }
  }

  const started = await new LoopbackRedisContainer(image)
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .withLabels({ [TEST_LABEL]: 'redis' })
    .start();
  const host = started.getHost();
  const port = started.getPort();
  // A safety net for a test file that never reaches stop() (a failed hook, a worker ended early).
  const id = started.getId();
  const removeOnExit = (): void => void spawnSync('docker', ['rm', '-f', '-v', id], { stdio: 'ignore', timeout: 10_000 });
  process.once('exit', removeOnExit);
  return withClients({ source: 'testcontainers', url: `redis://${host}:${port}`, host, port }, async () => {
    process.removeListener('exit', removeOnExit);
    await started.stop({ remove: true, removeVolumes: true, timeout: 1000 });
  });
}

/** A Redis from the source redisSource() names. */
export async function testRedis(): Promise<TestRedis> {
  const source = redisSource();
  if (source === 'REDIS_URL') {
    const url = process.env.REDIS_URL!;
    const parsed = new URL(url);
    return withClients({ source, url, host: parsed.hostname, port: Number(parsed.port || 6379) }, async () => undefined);
  }
  if (source === 'testcontainers') return startContainer();
  const server = await startRedis();
  return withClients({ source, url: server.url, host: '127.0.0.1', port: server.port }, () => server.stop());
}
