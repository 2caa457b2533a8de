/** Issue 15, item 4's configuration: the archive of finished subjects (FANOUT_ARCHIVE_*). */
import { ConfigError, loadConfig } from '../src/config';

const base = { FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' };
const bucket = { FANOUT_ARCHIVE_S3_BUCKET: 'fanout-logs' };

function configError(env: Record<string, string>, role: 'gateway' | 'publisher' | 'dev' = 'publisher'): ConfigError {
  try {
    loadConfig(role, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('archive configuration', () => {
  it('is off by default', () => {
    expect(loadConfig('publisher', base).archive).toBeUndefined();
  });

  it('is turned on by FANOUT_ARCHIVE_S3_BUCKET, with its defaults', () => {
    expect(loadConfig('publisher', { ...base, ...bucket }).archive).toEqual({
      s3: { bucket: 'fanout-logs', prefix: '', endpoint: undefined, region: 'us-east-1', forcePathStyle: false },
      keepSeconds: 300,
      leaseMs: 60_000,
      pollMs: 1000,
      cacheBytes: 64 * 1024 * 1024,
      maxObjectBytes: 16 * 1024 * 1024,
    });
    expect(loadConfig('gateway', { ...base, ...bucket, AWS_REGION: 'eu-west-3' }).archive?.s3.region).toBe('eu-west-3');
  });

  it('takes every setting', () => {
    const archive = loadConfig('gateway', {
      ...base,
      ...bucket,
      FANOUT_ARCHIVE_S3_PREFIX: 'fanout/prod/',
      FANOUT_ARCHIVE_S3_ENDPOINT: 'http://127.0.0.1:9000',
      FANOUT_ARCHIVE_S3_REGION: 'eu-central-1',
      FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE: 'true',
      FANOUT_ARCHIVE_KEEP_S: '0',
      FANOUT_ARCHIVE_LEASE_MS: '5000',
      FANOUT_ARCHIVE_POLL_MS: '250',
      FANOUT_ARCHIVE_CACHE_BYTES: '1000000',
      FANOUT_ARCHIVE_MAX_OBJECT_BYTES: '500000',
    }).archive;
    expect(archive).toEqual({
      s3: { bucket: 'fanout-logs', prefix: 'fanout/prod/', endpoint: 'http://127.0.0.1:9000', region: 'eu-central-1', forcePathStyle: true },
      keepSeconds: 0,
      leaseMs: 5000,
      pollMs: 250,
      cacheBytes: 1_000_000,
      maxObjectBytes: 500_000,
    });
  });

  it.each([
    [{ FANOUT_ARCHIVE_S3_PREFIX: 'x/' }, 'FANOUT_ARCHIVE_S3_PREFIX', /set FANOUT_ARCHIVE_S3_BUCKET too/],
    [{ FANOUT_ARCHIVE_S3_BUCKET: 'Not_A_Bucket' }, 'FANOUT_ARCHIVE_S3_BUCKET', /bucket name/],
    [{ ...bucket, FANOUT_ARCHIVE_S3_ENDPOINT: 'minio:9000' }, 'FANOUT_ARCHIVE_S3_ENDPOINT', /http\(s\) URL/],
    [{ ...bucket, FANOUT_ARCHIVE_S3_PREFIX: '/abs' }, 'FANOUT_ARCHIVE_S3_PREFIX', /must not start with/],
    [{ ...bucket, FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE: 'yes' }, 'FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE', /true/],
    [{ ...bucket, FANOUT_ARCHIVE_KEEP_S: '-1' }, 'FANOUT_ARCHIVE_KEEP_S', /\S/],
    [{ ...bucket, FANOUT_ARCHIVE_LEASE_MS: '10' }, 'FANOUT_ARCHIVE_LEASE_MS', /\S/],
    [{ ...bucket, FANOUT_ARCHIVE_CACHE_BYTES: '1000', FANOUT_ARCHIVE_MAX_OBJECT_BYTES: '2000' }, 'FANOUT_ARCHIVE_MAX_OBJECT_BYTES', /at most FANOUT_ARCHIVE_CACHE_BYTES/],
  ])('refuses %j naming %s', (env, variable, message) => {
    const error = configError({ ...base, ...env });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
  });

  it('is refused with the in-memory bus (fanout dev without Redis)', () => {
    const error = configError({ FANOUT_AUTH: 'none', ...bucket }, 'dev');
    expect(error.variable).toBe('FANOUT_ARCHIVE_S3_BUCKET');
    expect(error.message).toMatch(/needs Redis/);
  });
});
