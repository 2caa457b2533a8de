/** FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT: 256 MiB by default, a whole number of at least 8 MiB (one read of 100 largest events). */
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
