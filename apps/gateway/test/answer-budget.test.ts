import { EventEmitter } from 'node:events';
import { HttpProblem } from '@fanout/http';
import { AnswerBudget, MAX_ANSWER_ENTRY_BYTES, MIN_ANSWER_BYTES_IN_FLIGHT } from '../src/answer-budget';

const MiB = 1024 * 1024;

class FakeAnswer extends EventEmitter {
  destroyed = false;
  writableEnded = false;

  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

/** Whether `promise` settled within the current macrotask. */
async function settledNow<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown } | undefined> {
  let outcome: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return outcome;
}

afterEach(() => jest.useRealTimers());

test('a budget smaller than one chunk read of the largest entries is refused', () => {
  expect(() => new AnswerBudget(MIN_ANSWER_BYTES_IN_FLIGHT - 1)).toThrow(RangeError);
  expect(100 * MAX_ANSWER_ENTRY_BYTES).toBeLessThanOrEqual(MIN_ANSWER_BYTES_IN_FLIGHT);
});

test('reservations past the budget wait in turn and are granted as others release, never over the budget', async () => {
  const budget = new AnswerBudget(10 * MiB);
  const answers = [new FakeAnswer(), new FakeAnswer(), new FakeAnswer()];
  expect(await budget.take(6 * MiB, answers[0]!)).toBe(true);
  const second = budget.take(6 * MiB, answers[1]!);
  // Fits, but waits behind the second: no answer overtakes one that waits.
  const third = budget.take(1 * MiB, answers[2]!);
  expect(await settledNow(second)).toBeUndefined();
  expect(await settledNow(third)).toBeUndefined();
  expect(budget.reservedBytes).toBe(6 * MiB);

  budget.release(6 * MiB);
  expect(await settledNow(second)).toEqual({ value: true });
  expect(await settledNow(third)).toEqual({ value: true });
  expect(budget.reservedBytes).toBe(7 * MiB);
});

test('an answer that closes while it waits gets false, leaves the queue and lets the ones behind it go', async () => {
  const budget = new AnswerBudget(10 * MiB);
  const [holder, big, small] = [new FakeAnswer(), new FakeAnswer(), new FakeAnswer()];
  await budget.take(8 * MiB, holder);
  const waitingBig = budget.take(6 * MiB, big);
  const waitingSmall = budget.take(2 * MiB, small);
  big.close();
  expect(await settledNow(waitingBig)).toEqual({ value: false });
  expect(await settledNow(waitingSmall)).toEqual({ value: true });
  expect(budget.reservedBytes).toBe(10 * MiB);
  expect(big.listenerCount('close')).toBe(0);
  expect(small.listenerCount('close')).toBe(0);
});

test('an answer not begun is a 503 with Retry-After once its wait passes, and is counted', async () => {
  jest.useFakeTimers();
  const refused = jest.fn();
  const budget = new AnswerBudget(8 * MiB, refused);
  await budget.take(8 * MiB, new FakeAnswer());
  const waiting = budget.take(1 * MiB, new FakeAnswer(), 5_000);
  jest.advanceTimersByTime(5_000);
  const error = await waiting.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HttpProblem);
  expect(error).toMatchObject({ status: 503, headers: { 'Retry-After': '1' } });
  expect((error as HttpProblem).message).toContain('FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT');
  expect(refused).toHaveBeenCalledTimes(1);
  // It left the queue: what is released now is free for the next.
  budget.release(8 * MiB);
  expect(budget.reservedBytes).toBe(0);
});

test('a share keeps what its answer wrote of its read reservation, gives back the rest, and all of it on release', async () => {
  const budget = new AnswerBudget(8 * MiB);
  const share = budget.shareFor(new FakeAnswer());
  expect(await share.forRead(100)).toBe(true);
  expect(budget.reservedBytes).toBe(100 * MAX_ANSWER_ENTRY_BYTES);
  share.keep(300_000);
  expect(budget.reservedBytes).toBe(300_000);
  // The next read gives back the written part (drained) before it reserves.
  expect(await share.forRead(10)).toBe(true);
  expect(budget.reservedBytes).toBe(10 * MAX_ANSWER_ENTRY_BYTES);
  // Never more than was reserved.
  share.keep(100 * MAX_ANSWER_ENTRY_BYTES);
  expect(budget.reservedBytes).toBe(10 * MAX_ANSWER_ENTRY_BYTES);
  share.release();
  share.release();
  expect(budget.reservedBytes).toBe(0);
});

test('a closed answer reserves nothing', async () => {
  const budget = new AnswerBudget(8 * MiB);
  const answer = new FakeAnswer();
  answer.close();
  expect(await budget.take(1, answer)).toBe(false);
  expect(budget.reservedBytes).toBe(0);
});
