/**
 * The bus conformance suite (./conformance.ts, the same one MemoryBus and the Cluster bus run) on a
 * RedisBus over "a Redis" from test/support/redis-source.ts: REDIS_URL, else a Testcontainers
 * container when a Docker engine answers, else a redis-server process. .ci/run runs it with
 * FANOUT_TEST_REQUIRE_DOCKER=1: on Testcontainers, or failing.
 * The RedisBus-specific tests (restarts, FLUSHALL) are in redis-bus.test.ts, on a process of their own.
 */
import { TestRedis, redisSource, testRedis } from '../../../test/support/redis-source';
import { runBusConformance } from './conformance';
import { openReadyRedisBus } from './ready-redis-bus';

const source = redisSource();
let redis: TestRedis;

beforeAll(async () => {
  redis = await testRedis();
}, 120_000);

afterAll(async () => {
  await redis?.stop();
});

test(`the Redis comes from ${source}`, () => {
  expect(redis.source).toBe(source);
  if (process.env.FANOUT_TEST_REQUIRE_DOCKER === '1') expect(redis.source).toBe('testcontainers');
});

runBusConformance(`RedisBus (Redis from ${source})`, async (opts) => {
  const bus = await openReadyRedisBus({ url: redis.url, ...opts });
  return { bus, cleanup: () => bus.close() };
});
