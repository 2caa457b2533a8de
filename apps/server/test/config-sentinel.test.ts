/** Issue 16's configuration: a Sentinel-managed master (REDIS_SENTINELS and its companions). */
import { ConfigError, loadConfig } from '../src/config';
import { describeBus } from '../src/bus';

const base = { FANOUT_AUTH: 'none', HOST: '127.0.0.1' };
const sentinels = { REDIS_SENTINELS: 's1:26379, 10.0.0.2:26380,[::1]:26381', REDIS_SENTINEL_MASTER: 'mymaster' };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig('gateway', { ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('Redis Sentinel configuration', () => {
  it('takes REDIS_SENTINELS and REDIS_SENTINEL_MASTER instead of REDIS_URL', () => {
    const config = loadConfig('publisher', { ...base, ...sentinels });
    expect(config.redisSentinel).toEqual({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      masterName: 'mymaster',
      tls: false,
    });
    expect(config.redisUrl).toBeUndefined();
    expect(describeBus(config)).toBe('sentinel master mymaster via s1:26379,10.0.0.2:26380,::1:26381');
  });

  it('takes the sentinels\' password, the data nodes\' user and password, and TLS', () => {
    const config = loadConfig('gateway', { ...base, ...sentinels, REDIS_SENTINEL_PASSWORD: 'sp', REDIS_USERNAME: 'fanout', REDIS_PASSWORD: 'dp', REDIS_TLS: 'true' });
    expect(config.redisSentinel).toMatchObject({ sentinelPassword: 'sp', username: 'fanout', password: 'dp', tls: true });
    expect(describeBus(config)).not.toMatch(/sp|dp/);
  });

  it('needs the master\'s name', () => {
    const error = configError({ REDIS_SENTINELS: 's1:26379' });
    expect(error.variable).toBe('REDIS_SENTINEL_MASTER');
  });

  it('names the variable of a malformed value', () => {
    expect(configError({ ...sentinels, REDIS_SENTINELS: 's1:26379,s2' }).variable).toBe('REDIS_SENTINELS');
    expect(configError({ ...sentinels, REDIS_SENTINEL_MASTER: 'my master' }).variable).toBe('REDIS_SENTINEL_MASTER');
    expect(configError({ ...sentinels, REDIS_TLS: 'yes' }).variable).toBe('REDIS_TLS');
  });

  it('is one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS', () => {
    expect(configError({ ...sentinels, REDIS_URL: 'redis://r:6379' }).message).toMatch(/not two/);
    expect(configError({ ...sentinels, REDIS_CLUSTER_NODES: 'a:7000' }).message).toMatch(/not two/);
  });

  it('refuses a Sentinel setting without REDIS_SENTINELS rather than ignore it', () => {
    for (const variable of ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD', 'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS']) {
      const error = configError({ REDIS_URL: 'redis://r:6379', [variable]: 'true' });
      expect(error.variable).toBe(variable);
      expect(error.message).toMatch(/REDIS_SENTINELS/);
    }
  });

  it('names the Sentinel settings when no Redis is configured', () => {
    expect(configError({}).message).toMatch(/REDIS_SENTINELS/);
  });
});
