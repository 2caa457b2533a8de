import { Backlogged, COUNTED_FROM_BYTES, MIN_MAX_UNSENT_BYTES, STALL_CHECK_MS, UnsentBudget } from '../src/unsent-budget';

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

let budgets: UnsentBudget[] = [];
/** `bufferBytes` is what the process holds in Buffers: by default as much as the streams count (none shared). */
function budgetOf(maxBytes: number, onDropped?: (dropped: number, stalled: number) => void, bufferBytes = () => Infinity): UnsentBudget {
  const budget = new UnsentBudget(maxBytes, onDropped, bufferBytes);
  budgets.push(budget);
  return budget;
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  for (const budget of budgets) budget.stop();
  budgets = [];
  jest.useRealTimers();
});

test('a budget under 16 MiB is refused', () => {
  expect(() => new UnsentBudget(MIN_MAX_UNSENT_BYTES - 1)).toThrow(RangeError);
});

test('a stream is watched from 64 KiB unsent after a turn, and counts once it is behind at two checks in a row', () => {
  const budget = budgetOf(16 * MiB);
  const stream = new FakeStream('a', COUNTED_FROM_BYTES - 1);
  expect(budget.report(stream, stream.unsent)).toBe(false);
  stream.unsent = 3 * MiB;
  expect(budget.report(stream, stream.unsent)).toBe(true);
  jest.advanceTimersByTime(STALL_CHECK_MS);
  expect(budget.stalledBytes).toBe(0);
  stream.unsent = 5 * MiB;
  jest.advanceTimersByTime(STALL_CHECK_MS);
  expect(budget.stalledBytes).toBe(5 * MiB);
  // Caught up: it leaves.
  stream.unsent = 1000;
  jest.advanceTimersByTime(STALL_CHECK_MS);
  expect(budget.stalledBytes).toBe(0);
  expect(budget.report(stream, 2 * MiB)).toBe(true);
  budget.forget(stream);
  jest.advanceTimersByTime(2 * STALL_CHECK_MS);
  expect(budget.stalledBytes).toBe(0);
});

test('past the budget the stalled streams furthest behind are dropped until they hold under 90 % of it; nothing is dropped at or below it', () => {
  const drops: [number, number][] = [];
  const budget = budgetOf(20 * MiB, (dropped, stalled) => drops.push([dropped, stalled]));
  const streams = [3, 7, 2, 5, 3].map((mib, i) => new FakeStream(`s${i}`, mib * MiB));
  for (const stream of streams) budget.report(stream, stream.unsent);
  jest.advanceTimersByTime(2 * STALL_CHECK_MS);
  expect(budget.stalledBytes).toBe(20 * MiB);
  expect(streams.some((s) => s.dropped)).toBe(false);
  streams[2]!.unsent = 3 * MiB;
  jest.advanceTimersByTime(STALL_CHECK_MS);
  // 21 MiB: the 7 MiB one goes (14 ≤ 18).
  expect(streams.map((s) => s.dropped)).toEqual([false, true, false, false, false]);
  expect(drops).toEqual([[1, 21 * MiB]]);
  expect(budget.stalledBytes).toBe(14 * MiB);
});

test('streams that catch up within a check never count, however much a burst left them behind together', () => {
  const budget = budgetOf(16 * MiB);
  const readers = Array.from({ length: 1000 }, (_, i) => new FakeStream(`r${i}`, 800 * 1024));
  for (let burst = 0; burst < 5; burst++) {
    for (const reader of readers) {
      reader.unsent = 800 * 1024;
      budget.report(reader, reader.unsent);
    }
    // 800 MB by the sockets' count, one 800 KB batch in memory; the readers take it before the check.
    for (const reader of readers) reader.unsent = 0;
    jest.advanceTimersByTime(STALL_CHECK_MS);
  }
  expect(readers.some((r) => r.dropped)).toBe(false);
  expect(budget.stalledBytes).toBe(0);
});

test('streams behind on the same frames count them each, but are dropped only for what the process holds in Buffers: while that is within the budget none goes, past it the furthest behind go until their count covers the excess', () => {
  let buffers = 6 * MiB;
  const drops: [number, number][] = [];
  const budget = budgetOf(16 * MiB, (dropped, stalled) => drops.push([dropped, stalled]), () => buffers);
  // 40 readers of one subject, each 3 MiB behind on the same frames: 120 MiB by their count, 6 in memory.
  const readers = Array.from({ length: 40 }, (_, i) => new FakeStream(`r${i}`, 3 * MiB - i * 1024));
  for (const reader of readers) budget.report(reader, reader.unsent);
  jest.advanceTimersByTime(5 * STALL_CHECK_MS);
  expect(budget.stalledBytes).toBe(readers.reduce((sum, r) => sum + r.unsent, 0));
  expect(readers.some((r) => r.dropped)).toBe(false);
  expect(drops).toEqual([]);
  // The process now holds 20 MiB of Buffers: 20 − 14.4 = 5.6 MiB to free, the two furthest behind.
  buffers = 20 * MiB;
  jest.advanceTimersByTime(STALL_CHECK_MS);
  expect(readers.filter((r) => r.dropped).map((r) => r.name)).toEqual(['r0', 'r1']);
  expect(drops).toHaveLength(1);
  expect(drops[0]![0]).toBe(2);
});

test('a burst that puts the streams behind past the budget between two checks is checked at once: the furthest behind go, read or not, when the process holds the bytes', () => {
  const drops: [number, number][] = [];
  let buffers = 6 * MiB;
  const budget = budgetOf(16 * MiB, (dropped, stalled) => drops.push([dropped, stalled]), () => buffers);
  // 40 streams 1 MiB behind each on the same frames: 40 MiB by their count, 6 in memory. Nothing goes.
  const shared = Array.from({ length: 40 }, (_, i) => new FakeStream(`s${i}`, MiB - i * 1024));
  for (const stream of shared) budget.report(stream, stream.unsent);
  jest.advanceTimersByTime(0);
  expect(shared.some((s) => s.dropped)).toBe(false);
  // The same, each on frames of its own (a multi-subject stream's): the process holds them all.
  buffers = 40 * MiB;
  jest.advanceTimersByTime(100);
  for (const stream of shared) budget.report(stream, stream.unsent);
  jest.advanceTimersByTime(0);
  // Well before a check a second apart: 40 − 14.4 MiB to free, the furthest behind first.
  const dropped = shared.filter((s) => s.dropped).map((s) => s.name);
  expect(dropped).toEqual(shared.slice(0, dropped.length).map((s) => s.name));
  expect(dropped.length).toBeGreaterThanOrEqual(25);
  expect(drops).toHaveLength(1);
  expect(budget.stalledBytes).toBe(0);
});
