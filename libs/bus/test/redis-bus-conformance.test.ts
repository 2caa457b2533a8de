/**
 * The bus conformance suite (./conformance.ts, the same one MemoryBus and the Cluster bus run) on a
 * RedisBus over "a Redis" from test/support/redis-source.ts: REDIS_URL, else a Testcontainers
 * container when a Docker engine answers, else a redis-server process. .ci/run runs it with
 * FANOUT_TEST_REQUIRE_DOCKER=1: on Testcontainers, or failing.
 * The RedisBus-specific tests (restarts, FLUSHALL) are in redis-bus.test.ts, on a process of their own.
 */
import { RedisBus } from '../src';
import { TestRedis, redisSource, testRedis } from '../../../test/support/redis-source';
import { waitFor } from '../../../test/support/wait';
import { runBusConformance } from './conformance';

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
  const bus = new RedisBus({ url: redis.url, ...opts });
  try {
    // Readiness as the gateway's /readyz sees it: a probe that went round.
    await waitFor('the bus to pass a probe', () => bus.probe(1000).then(() => true), 10_000, 5);
  } catch (error) {
    await bus.close();
    throw error;
  }
  return { bus, cleanup: () => bus.close() };
});
