/** FANOUT_COMPRESSION: gzip by default, `gzip` or `off`, else one line naming it at start. */
import { ConfigError, loadConfig } from '../src/config';

const base = { FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' };
const compressionOf = (env: Record<string, string>) => loadConfig('gateway', { ...base, ...env }).compression;

test('is gzip when unset or empty', () => {
  expect(compressionOf({})).toBe('gzip');
  expect(compressionOf({ FANOUT_COMPRESSION: '' })).toBe('gzip');
});

test('takes gzip or off', () => {
  expect(compressionOf({ FANOUT_COMPRESSION: 'gzip' })).toBe('gzip');
  expect(compressionOf({ FANOUT_COMPRESSION: 'off' })).toBe('off');
});

test.each(['on', 'br', 'GZIP', 'false'])('refuses %j with one line naming the variable', (value) => {
  let refusal: unknown;
  try {
    compressionOf({ FANOUT_COMPRESSION: value });
  } catch (error) {
    refusal = error;
  }
  expect(refusal).toBeInstanceOf(ConfigError);
  expect((refusal as ConfigError).message).toMatch(/^FANOUT_COMPRESSION: .*\(got "/);
  expect((refusal as ConfigError).message).not.toContain('\n');
});
