/**
 * FANOUT_RETRY_JITTER_MS, FANOUT_CONFLATE_THRESHOLD_BYTES and FANOUT_SHUTDOWN_SPREAD_MS: defaults derived
 * from the setting each lives under, and each refused (one line naming it) when it does not fit under it.
 */
import { gatewayConfigFrom } from './config-env';

const { configOf, refusal } = gatewayConfigFrom({ FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: 'config-test-secret', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' });

it('defaults: no retry jitter (the contract\'s exact retry:), half of FANOUT_CLIENT_BUFFER_BYTES, a quarter of FANOUT_SHUTDOWN_GRACE_MS', () => {
  expect(configOf({})).toMatchObject({ retryJitterMs: 0, conflateThresholdBytes: 524_288, shutdownSpreadMs: 2500 });
  expect(configOf({ FANOUT_RETRY_MS: '500', FANOUT_CLIENT_BUFFER_BYTES: '65536', FANOUT_SHUTDOWN_GRACE_MS: '3000' })).toMatchObject({
    retryJitterMs: 0,
    conflateThresholdBytes: 32_768,
    shutdownSpreadMs: 750,
  });
  expect(configOf({ FANOUT_RETRY_JITTER_MS: '0', FANOUT_SHUTDOWN_SPREAD_MS: '0' })).toMatchObject({ retryJitterMs: 0, shutdownSpreadMs: 0 });
});

it.each([
  [{ FANOUT_RETRY_JITTER_MS: '2001' }, 'FANOUT_RETRY_JITTER_MS'],
  [{ FANOUT_RETRY_JITTER_MS: '-1' }, 'FANOUT_RETRY_JITTER_MS'],
  [{ FANOUT_CONFLATE_THRESHOLD_BYTES: '1048576' }, 'FANOUT_CONFLATE_THRESHOLD_BYTES'],
  [{ FANOUT_CONFLATE_THRESHOLD_BYTES: '0' }, 'FANOUT_CONFLATE_THRESHOLD_BYTES'],
  [{ FANOUT_SHUTDOWN_SPREAD_MS: '10000' }, 'FANOUT_SHUTDOWN_SPREAD_MS'],
  [{ FANOUT_SHUTDOWN_SPREAD_MS: 'soon' }, 'FANOUT_SHUTDOWN_SPREAD_MS'],
])('refuses %j naming %s', (env, variable) => {
  const error = refusal(env);
  expect(error.variable).toBe(variable);
  expect(error.message).not.toContain('\n');
});
