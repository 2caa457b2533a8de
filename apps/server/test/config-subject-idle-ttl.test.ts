/** FANOUT_SUBJECT_IDLE_TTL_S: 7 days by default, a whole number from 0 to ten years (0: unfinished subjects never expire idle). */
import { gatewayConfigFrom } from './config-env';

const { configOf, refusal } = gatewayConfigFrom({ FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' });
const idleTtlOf = (env: Record<string, string>) => configOf(env).subjectIdleTtlSeconds;

describe('FANOUT_SUBJECT_IDLE_TTL_S', () => {
  it('is 7 days when unset or empty', () => {
    expect(idleTtlOf({})).toBe(604_800);
    expect(idleTtlOf({ FANOUT_SUBJECT_IDLE_TTL_S: '' })).toBe(604_800);
  });

  it('takes a whole number from 0 to ten years, 0 turning it off', () => {
    expect(idleTtlOf({ FANOUT_SUBJECT_IDLE_TTL_S: '0' })).toBe(0);
    expect(idleTtlOf({ FANOUT_SUBJECT_IDLE_TTL_S: '3600' })).toBe(3600);
    expect(idleTtlOf({ FANOUT_SUBJECT_IDLE_TTL_S: '315360000' })).toBe(315_360_000);
  });

  // Longer, the append script's expiry in milliseconds is a number Redis refuses, after it wrote the event.
  it.each(['-1', '2.5', '7d', '315360001', '9007199254740991'])('refuses %j, naming the variable', (value) => {
    expect(refusal({ FANOUT_SUBJECT_IDLE_TTL_S: value }).variable).toBe('FANOUT_SUBJECT_IDLE_TTL_S');
  });
});
