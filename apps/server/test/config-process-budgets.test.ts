/**
 * A gateway process's budgets: FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT (256 MiB by default, at least 8 MiB:
 * one read of 100 largest events) and FANOUT_MAX_UNSENT_BYTES (1 GiB, at least 16 MiB and at least
 * FANOUT_CLIENT_BUFFER_BYTES).
 */
import { gatewayConfigFrom } from './config-env';

const { configOf, refusal } = gatewayConfigFrom({ FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: 'redis://127.0.0.1:6379/0' });
const answerBudgetOf = (env: Record<string, string>) => configOf(env).maxAnswerBytesInFlight;

describe('FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT', () => {
  it('is 256 MiB when unset or empty', () => {
    expect(answerBudgetOf({})).toBe(268_435_456);
    expect(answerBudgetOf({ FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT: '' })).toBe(268_435_456);
  });

  it('takes a whole number of at least 8 MiB', () => {
    expect(answerBudgetOf({ FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT: '8388608' })).toBe(8_388_608);
    expect(answerBudgetOf({ FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT: '1073741824' })).toBe(1_073_741_824);
  });

  it.each(['0', '8388607', '-1', '1.5e9', 'lots'])('refuses %j, naming the variable', (value) => {
    expect(refusal({ FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT: value }).variable).toBe('FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT');
  });
});

describe('FANOUT_MAX_UNSENT_BYTES', () => {
  const unsentBudgetOf = (env: Record<string, string>) => configOf(env).maxUnsentBytes;

  it('is 1 GiB when unset or empty', () => {
    expect(unsentBudgetOf({})).toBe(1_073_741_824);
    expect(unsentBudgetOf({ FANOUT_MAX_UNSENT_BYTES: '' })).toBe(1_073_741_824);
  });

  it('takes a whole number of at least 16 MiB and at least FANOUT_CLIENT_BUFFER_BYTES', () => {
    expect(unsentBudgetOf({ FANOUT_MAX_UNSENT_BYTES: '16777216' })).toBe(16_777_216);
    expect(unsentBudgetOf({ FANOUT_MAX_UNSENT_BYTES: '33554432', FANOUT_CLIENT_BUFFER_BYTES: '33554432' })).toBe(33_554_432);
  });

  it.each(['0', '16777215', '-1', 'lots'])('refuses %j, naming the variable', (value) => {
    expect(refusal({ FANOUT_MAX_UNSENT_BYTES: value }).variable).toBe('FANOUT_MAX_UNSENT_BYTES');
  });

  it('refuses one under FANOUT_CLIENT_BUFFER_BYTES, naming both', () => {
    const error = refusal({ FANOUT_MAX_UNSENT_BYTES: '16777216', FANOUT_CLIENT_BUFFER_BYTES: '33554432' });
    expect(error.variable).toBe('FANOUT_MAX_UNSENT_BYTES');
    expect(error.message).toContain('FANOUT_CLIENT_BUFFER_BYTES');
  });
});
