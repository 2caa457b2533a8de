/** FANOUT_* variables set but not read (misspelt, or of no effect with this configuration) are named for a warning at start. */
import { gatewayConfigFrom } from './config-env';

const { configOf } = gatewayConfigFrom({ FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' });
const unreadOf = (env: Record<string, string>) => configOf(env).unreadVariables;

describe('unread FANOUT_* variables', () => {
  it('are none when every one set is a setting read', () => {
    expect(unreadOf({ FANOUT_HEARTBEAT_MS: '5000', FANOUT_HISTORY_MAXLEN: '100', FANOUT_WORKERS: '2', FANOUT_MAX_UNSENT_BYTES: '33554432' })).toEqual([]);
  });

  it('name a misspelt one, and one of no effect here (a JWT secret with FANOUT_AUTH=none), but not an empty one', () => {
    expect(unreadOf({ FANOUT_HEARTBEAT: '5000', FANOUT_JWT_SECRET: 'secret', FANOUT_HISTORY_MAXLN: '' })).toEqual(['FANOUT_HEARTBEAT', 'FANOUT_JWT_SECRET']);
    expect(unreadOf({ FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: 'secret' })).toEqual([]);
  });

  it('leave out the variables of fanout\'s clients and of its tests', () => {
    expect(unreadOf({ FANOUT_URL: 'http://x', FANOUT_TOKEN: 't', FANOUT_TENANT: 'acme', FANOUT_PUBLISHER_URL: 'http://p', FANOUT_GATEWAY_URL: 'http://g', FANOUT_STEP_INDEX: '0', FANOUT_TEST_REQUIRE_DOCKER: '1' })).toEqual([]);
  });
});
