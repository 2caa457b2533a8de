import { EventEmitter } from 'node:events';
import { HttpProblem } from '@fanout/http';
import { AnswerBudget, MAX_ANSWER_ENTRY_BYTES, MAX_ANSWER_READ_BYTES, MIN_ANSWER_BYTES_IN_FLIGHT } from '../src/answer-budget';

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
  expect(await budget.take(6 * MiB, answers[0]!, 'a')).toBe(true);
  const second = budget.take(6 * MiB, answers[1]!, 'b');
  // Fits, but waits behind the second: no answer overtakes one that waits.
  const third = budget.take(1 * MiB, answers[2]!, 'c');
  expect(await settledNow(second)).toBeUndefined();
  expect(await settledNow(third)).toBeUndefined();
  expect(budget.reservedBytes).toBe(6 * MiB);

  budget.release(6 * MiB, 'a');
  expect(await settledNow(second)).toEqual({ value: true });
  expect(await settledNow(third)).toEqual({ value: true });
  expect(budget.reservedBytes).toBe(7 * MiB);
});

test('an answer that closes while it waits gets false, leaves the queue and lets the ones behind it go', async () => {
  const budget = new AnswerBudget(10 * MiB);
  const [holder, big, small] = [new FakeAnswer(), new FakeAnswer(), new FakeAnswer()];
  await budget.take(6 * MiB, holder, 'a');
  const waitingBig = budget.take(6 * MiB, big, 'b');
  const waitingSmall = budget.take(4 * MiB, small, 'c');
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
  await budget.take(6 * MiB, new FakeAnswer(), 'a');
  await budget.take(2 * MiB, new FakeAnswer(), 'b');
  const waiting = budget.take(1 * MiB, new FakeAnswer(), 'c', 5_000);
  jest.advanceTimersByTime(5_000);
  const error = await waiting.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HttpProblem);
  expect(error).toMatchObject({ status: 503, headers: { 'Retry-After': '1' } });
  expect((error as HttpProblem).message).toContain('FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT');
  expect(refused).toHaveBeenCalledTimes(1);
  // It left the queue: what is released now is free for the next.
  budget.release(6 * MiB, 'a');
  budget.release(2 * MiB, 'b');
  expect(budget.reservedBytes).toBe(0);
});

test('a share keeps what its answer wrote of its read reservation, gives back the rest, and all of it on release', async () => {
  const budget = new AnswerBudget(8 * MiB);
  const share = budget.shareFor(new FakeAnswer(), 'a');
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
  expect(await budget.take(1, answer, 'a')).toBe(false);
  expect(budget.reservedBytes).toBe(0);
});

test("one tenant holds at most a quarter of the budget (at least one largest read): its next answer waits while other tenants' go by, and goes once it gave some back", async () => {
  const budget = new AnswerBudget(64 * MiB);
  expect(budget.maxBytesPerTenant).toBe(16 * MiB);
  expect(new AnswerBudget(8 * MiB).maxBytesPerTenant).toBe(MAX_ANSWER_READ_BYTES);
  expect(await budget.take(10 * MiB, new FakeAnswer(), 'greedy')).toBe(true);
  expect(await budget.take(6 * MiB, new FakeAnswer(), 'greedy')).toBe(true);
  const greedyMore = budget.take(1 * MiB, new FakeAnswer(), 'greedy');
  expect(await settledNow(greedyMore)).toBeUndefined();
  // Another tenant is not held back by the greedy one's waiting answer.
  expect(await settledNow(budget.take(6 * MiB, new FakeAnswer(), 'other'))).toEqual({ value: true });
  expect(budget.reservedBytes).toBe(22 * MiB);
  budget.release(6 * MiB, 'greedy');
  expect(await settledNow(greedyMore)).toEqual({ value: true });
  expect(budget.reservedBytes).toBe(17 * MiB);
});

test('an answer held back by the whole budget keeps its turn: later ones wait behind it, even of other tenants', async () => {
  const budget = new AnswerBudget(40 * MiB);
  for (const tenant of ['a', 'b', 'c']) await budget.take(10 * MiB, new FakeAnswer(), tenant);
  await budget.take(5 * MiB, new FakeAnswer(), 'e');
  const big = budget.take(10 * MiB, new FakeAnswer(), 'd');
  // It would fit (40), but waits behind the big one (45 would not).
  const small = budget.take(5 * MiB, new FakeAnswer(), 'f');
  expect(await settledNow(big)).toBeUndefined();
  expect(await settledNow(small)).toBeUndefined();
  budget.release(5 * MiB, 'a');
  expect(await settledNow(big)).toEqual({ value: true });
  expect(await settledNow(small)).toBeUndefined();
  budget.release(5 * MiB, 'b');
  expect(await settledNow(small)).toEqual({ value: true });
  expect(budget.reservedBytes).toBe(40 * MiB);
});

test("a 503 for a tenant over its share says so", async () => {
  jest.useFakeTimers();
  const budget = new AnswerBudget(64 * MiB);
  await budget.take(16 * MiB, new FakeAnswer(), 'greedy');
  const waiting = budget.take(1 * MiB, new FakeAnswer(), 'greedy', 5_000);
  jest.advanceTimersByTime(5_000);
  const error = (await waiting.catch((e: unknown) => e)) as HttpProblem;
  expect(error.status).toBe(503);
  expect(error.message).toContain('for this tenant');
});
