import { Backlogged, COUNTED_FROM_BYTES, MIN_MAX_UNSENT_BYTES, UnsentBudget } from '../src/unsent-budget';

const MiB = 1024 * 1024;

class FakeStream implements Backlogged {
  dropped = false;

  constructor(
    readonly name: string,
    public unsent: number,
  ) {}

  unsentBytes(): number {
    return this.unsent;
  }

  dropForTheBudget(): void {
    this.dropped = true;
  }
}

test('a budget under 16 MiB is refused', () => {
  expect(() => new UnsentBudget(MIN_MAX_UNSENT_BYTES - 1)).toThrow(RangeError);
});

test('a stream counts from 64 KiB unsent, and leaves the count when it reports less', () => {
  const budget = new UnsentBudget(16 * MiB);
  const stream = new FakeStream('a', COUNTED_FROM_BYTES - 1);
  expect(budget.report(stream, stream.unsent)).toBe(false);
  expect(budget.countedBytes).toBe(0);
  expect(budget.report(stream, 3 * MiB)).toBe(true);
  expect(budget.report(stream, 5 * MiB)).toBe(true);
  expect(budget.countedBytes).toBe(5 * MiB);
  expect(budget.report(stream, 1000)).toBe(false);
  expect(budget.countedBytes).toBe(0);
  budget.report(stream, 2 * MiB);
  budget.forget(stream);
  budget.forget(stream);
  expect(budget.countedBytes).toBe(0);
});

test('past the budget, the streams furthest behind are dropped until the total is under 90 % of it; nothing is dropped below it', () => {
  const dropped: [number, number][] = [];
  const budget = new UnsentBudget(20 * MiB, (count, total) => dropped.push([count, total]));
  const streams = [3, 7, 1, 5, 2].map((mib, i) => new FakeStream(`s${i}`, mib * MiB));
  for (const stream of streams.slice(0, 4)) budget.report(stream, stream.unsent);
  expect(budget.countedBytes).toBe(16 * MiB);
  // 18 MiB, then 19, then 20: at the budget, not over it.
  budget.report(streams[4]!, streams[4]!.unsent);
  streams[4]!.unsent = 3 * MiB;
  budget.report(streams[4]!, streams[4]!.unsent);
  streams[2]!.unsent = 2 * MiB;
  budget.report(streams[2]!, streams[2]!.unsent);
  expect(budget.countedBytes).toBe(20 * MiB);
  expect(streams.some((s) => s.dropped)).toBe(false);
  streams[2]!.unsent = 3 * MiB;
  budget.report(streams[2]!, streams[2]!.unsent);
  // 21 MiB: the 7 MiB one goes (14 ≤ 18).
  expect(streams.map((s) => s.dropped)).toEqual([false, true, false, false, false]);
  expect(dropped).toEqual([[1, 21 * MiB]]);
  expect(budget.countedBytes).toBe(14 * MiB);
});

test('what the clients took since their last report is read again before anything is dropped', () => {
  const budget = new UnsentBudget(16 * MiB);
  const slow = new FakeStream('slow', 10 * MiB);
  const caughtUp = new FakeStream('caught up', 6 * MiB);
  budget.report(slow, slow.unsent);
  budget.report(caughtUp, caughtUp.unsent);
  caughtUp.unsent = 0;
  const writer = new FakeStream('writer', 2 * MiB);
  budget.report(writer, writer.unsent);
  expect([slow.dropped, caughtUp.dropped, writer.dropped]).toEqual([false, false, false]);
  expect(budget.countedBytes).toBe(12 * MiB);
});
