/** FANOUT_JWT_MAX_TTL_S: unset is no limit; a positive whole number of seconds, else one line naming it at start. */
import { ConfigError, loadConfig } from '../src/config';

const base = { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: 'config-test-secret', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' };
const maxTtlOf = (env: Record<string, string>) => {
  const { auth } = loadConfig('gateway', { ...base, ...env });
  return auth.mode === 'jwt' ? auth.maxTtlSeconds : 'no jwt';
};

describe('FANOUT_JWT_MAX_TTL_S', () => {
  it('is no limit when unset or empty', () => {
    expect(maxTtlOf({})).toBeUndefined();
    expect(maxTtlOf({ FANOUT_JWT_MAX_TTL_S: '' })).toBeUndefined();
  });

  it('takes a positive whole number of seconds', () => {
    expect(maxTtlOf({ FANOUT_JWT_MAX_TTL_S: '3600' })).toBe(3600);
    expect(maxTtlOf({ FANOUT_JWT_MAX_TTL_S: '1' })).toBe(1);
  });

  it.each(['0', '-60', '1.5', '1h', 'abc', '1e400'])('refuses %j with one line naming the variable', (value) => {
    let refusal: unknown;
    try {
      maxTtlOf({ FANOUT_JWT_MAX_TTL_S: value });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).variable).toBe('FANOUT_JWT_MAX_TTL_S');
    expect((refusal as ConfigError).message).toMatch(/^FANOUT_JWT_MAX_TTL_S: .*\(got "/);
    expect((refusal as ConfigError).message).not.toContain('\n');
  });
});

describe('FANOUT_JWKS_URL', () => {
  const jwksOf = (url: string) => {
    const { auth } = loadConfig('gateway', { ...base, FANOUT_JWT_SECRET: '', FANOUT_JWKS_URL: url });
    return auth.mode === 'jwt' ? auth.jwksUrl : 'no jwt';
  };

  it('takes an http or https URL', () => {
    expect(jwksOf('https://issuer.example/.well-known/jwks.json')).toBe('https://issuer.example/.well-known/jwks.json');
    expect(jwksOf('http://127.0.0.1:9000/jwks')).toBe('http://127.0.0.1:9000/jwks');
  });

  // Another scheme cannot be fetched: every token would be a 401 for the server's own setting.
  it.each(['ftp://127.0.0.1/jwks', 'file:///etc/jwks.json', 'jwks', 'http://u:s3cret@/jwks'])('refuses %j at start, naming the variable and no password', (url) => {
    expect(() => jwksOf(url)).toThrow(/^FANOUT_JWKS_URL: must be an http:\/\/ or https:\/\/ URL/);
    expect(() => jwksOf(url)).not.toThrow(/s3cret/);
  });
});
