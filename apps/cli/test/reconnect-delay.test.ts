/** `fanout tail` reconnects after the server's `retry:` hint, then backs off exponentially with jitter on failures in a row. */
import { reconnectDelayMs } from '../src/client/sse-follow';

test('the first failure waits the retry hint; later ones double up to 15 s, each taken at random in its upper half', () => {
  expect(reconnectDelayMs(2000, 1, () => 0)).toBe(2000);
  expect([2, 3, 4, 5].map((failures) => reconnectDelayMs(1000, failures, () => 0))).toEqual([1000, 2000, 4000, 7500]);
  expect([2, 3, 4, 5].map((failures) => reconnectDelayMs(1000, failures, () => 0.999999))).toEqual([2000, 4000, 8000, 15_000].map((ms) => expect.closeTo(ms, 0)));
  const spread = new Set(Array.from({ length: 50 }, () => Math.round(reconnectDelayMs(1000, 3, Math.random))));
  expect(spread.size).toBeGreaterThan(10);
  for (const delay of spread) {
    expect(delay).toBeGreaterThanOrEqual(2000);
    expect(delay).toBeLessThanOrEqual(4000);
  }
});
