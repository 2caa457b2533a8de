/** FANOUT_MAX_REVOCATIONS (issue 17): 10,000 by default; a whole number from 1 to 100,000, else one line naming it at start. */
import { ConfigError, loadConfig } from '../src/config';

const base = { FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' };
const maxRevocationsOf = (env: Record<string, string>) => loadConfig('gateway', { ...base, ...env }).maxRevocations;

describe('FANOUT_MAX_REVOCATIONS', () => {
  it('is 10,000 when unset or empty', () => {
    expect(maxRevocationsOf({})).toBe(10_000);
    expect(maxRevocationsOf({ FANOUT_MAX_REVOCATIONS: '' })).toBe(10_000);
  });

  it('takes a whole number from 1 to 100,000', () => {
    expect(maxRevocationsOf({ FANOUT_MAX_REVOCATIONS: '1' })).toBe(1);
    expect(maxRevocationsOf({ FANOUT_MAX_REVOCATIONS: '100000' })).toBe(100_000);
  });

  it.each(['0', '-1', '2.5', '100001', 'many'])('refuses %j with one line naming the variable', (value) => {
    let refusal: unknown;
    try {
      maxRevocationsOf({ FANOUT_MAX_REVOCATIONS: value });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).variable).toBe('FANOUT_MAX_REVOCATIONS');
    expect((refusal as ConfigError).message).toMatch(/^FANOUT_MAX_REVOCATIONS: .*\(got "/);
  });
});
