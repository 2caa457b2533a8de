/** Issue 8's configuration: REDIS_CLUSTER_NODES, redis+cluster:// URLs and FANOUT_WORKERS. */
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from '../src/config';

const base = { FANOUT_AUTH: 'none', HOST: '127.0.0.1' };

function configError(env: Record<string, string>, role: 'gateway' | 'publisher' | 'dev' = 'gateway'): ConfigError {
  try {
    loadConfig(role, { ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('Redis Cluster configuration', () => {
  it('takes REDIS_CLUSTER_NODES instead of REDIS_URL', () => {
    const config = loadConfig('gateway', { ...base, REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b:7001 ,[::1]:7002' });
    expect(config.redisClusterNodes).toEqual(['10.0.0.1:7000', 'redis-b:7001', '[::1]:7002']);
    expect(config.redisUrl).toBeUndefined();
  });

  it('takes a redis+cluster:// (or rediss+cluster://) REDIS_URL', () => {
    expect(loadConfig('publisher', { ...base, REDIS_URL: 'redis+cluster://:pw@a:7000,b:7001' }).redisUrl).toBe('redis+cluster://:pw@a:7000,b:7001');
    expect(loadConfig('publisher', { ...base, REDIS_URL: 'rediss+cluster://a:7000' }).redisUrl).toBe('rediss+cluster://a:7000');
  });

  it('names the variable of a malformed value', () => {
    expect(configError({ REDIS_CLUSTER_NODES: 'a:7000,b' }).variable).toBe('REDIS_CLUSTER_NODES');
    expect(configError({ REDIS_CLUSTER_NODES: 'a:0' }).variable).toBe('REDIS_CLUSTER_NODES');
    expect(configError({ REDIS_URL: 'redis+cluster://a' }).variable).toBe('REDIS_URL');
    expect(configError({ REDIS_URL: 'http://a:1' }).variable).toBe('REDIS_URL');
  });

  it('never shows the password of a REDIS_URL it refuses', () => {
    for (const url of ['http://user:s3cret@a:1', 'redis://:s3cret@a:0', 'redis://:s3cret@a:1/x', 'redis://u:s3cret%zz@a:1', 'redis+cluster://u:s3cret@', 'redis+cluster://u:s3cret@a:1,u2:s3cret2@b']) {
      const error = configError({ REDIS_URL: url });
      expect({ url, variable: error.variable, leaks: error.message.includes('s3cret') }).toEqual({ url, variable: 'REDIS_URL', leaks: false });
    }
  });

  it('refuses both REDIS_URL and REDIS_CLUSTER_NODES, and neither for a server', () => {
    expect(configError({ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'a:1' }).message).toMatch(/REDIS_CLUSTER_NODES: set either REDIS_URL or REDIS_CLUSTER_NODES/);
    expect(configError({}).message).toMatch(/^REDIS_URL: is required by fanout gateway .*REDIS_CLUSTER_NODES/);
  });
});

describe('FANOUT_WORKERS', () => {
  it('defaults to 1 and takes a count or auto', () => {
    expect(loadConfig('gateway', { ...base, REDIS_URL: 'redis://a:1' }).workers).toBe(1);
    expect(loadConfig('gateway', { ...base, REDIS_URL: 'redis://a:1', FANOUT_WORKERS: '4' }).workers).toBe(4);
    expect(loadConfig('gateway', { ...base, REDIS_URL: 'redis://a:1', FANOUT_WORKERS: 'auto' }).workers).toBe(availableParallelism());
  });

  it('refuses 0, a fraction, a word, and more than 1 for dev', () => {
    for (const value of ['0', '1.5', 'many', '-2']) expect(configError({ REDIS_URL: 'redis://a:1', FANOUT_WORKERS: value }).variable).toBe('FANOUT_WORKERS');
    expect(configError({ FANOUT_WORKERS: '2' }, 'dev').message).toMatch(/^FANOUT_WORKERS: must be 1 for fanout dev/);
    expect(configError({ REDIS_URL: 'redis://a:1', FANOUT_WORKERS: 'many' }).message).toBe('FANOUT_WORKERS: must be a whole number from 1 to 256, or auto (got "many")');
  });
});
