import { SweepScheduler, Sweepable, sweepPeriodFor } from '../src/sweep-scheduler';

const PERIOD = 100;
const START = 1_000_000;

/** A member due every `every` ms after its last visit, recording when it was visited. */
class Periodic implements Sweepable {
  readonly visits: number[] = [];
  constructor(
    private readonly every: number,
    private readonly onVisit?: (now: number) => number | undefined,
  ) {}

  sweep(now: number): number {
    this.visits.push(now);
    return this.onVisit?.(now) ?? now + this.every;
  }
}

describe('SweepScheduler', () => {
  let scheduler: SweepScheduler;

  beforeEach(() => {
    jest.useFakeTimers({ now: START });
    scheduler = new SweepScheduler(PERIOD);
  });

  afterEach(() => {
    scheduler.stop();
    jest.useRealTimers();
  });

  test('visits a member at the first tick, then once per its own interval, not once per period', () => {
    const member = new Periodic(1000);
    scheduler.add(member);
    jest.advanceTimersByTime(5000);
    expect(member.visits[0]).toBe(START + PERIOD);
    // One visit per second over 5 s of 50 ticks.
    expect(member.visits).toHaveLength(5);
    for (let i = 1; i < member.visits.length; i++) {
      const gap = member.visits[i]! - member.visits[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(1000);
      expect(gap).toBeLessThanOrEqual(1000 + PERIOD);
    }
  });

  test('a due time that moved later while waiting only costs an early visit', () => {
    let due = START + 300;
    const member = new Periodic(0, () => due);
    scheduler.add(member);
    jest.advanceTimersByTime(PERIOD);
    expect(member.visits).toEqual([START + PERIOD]);
    due = START + 2000;
    jest.advanceTimersByTime(300);
    // Visited at 300 as first told; told 2000 then: nothing more until then.
    expect(member.visits).toEqual([START + PERIOD, START + 300]);
    jest.advanceTimersByTime(1600);
    expect(member.visits).toEqual([START + PERIOD, START + 300, START + 2000]);
  });

  test('a member is never visited before the time it told, nor later than one period after', () => {
    const told: number[] = [];
    const member = new Periodic(0, (now) => {
      const next = now + 37 + ((now * 7) % 450);
      told.push(next);
      return next;
    });
    scheduler.add(member);
    jest.advanceTimersByTime(20_000);
    expect(member.visits.length).toBeGreaterThan(20);
    for (let i = 1; i < member.visits.length; i++) {
      expect(member.visits[i]).toBeGreaterThanOrEqual(told[i - 1]!);
      expect(member.visits[i]).toBeLessThanOrEqual(told[i - 1]! + PERIOD);
    }
  });

  test('a deleted member, or one that deletes itself or answers Infinity, is not visited again', () => {
    const deleted = new Periodic(200);
    const selfDeleting: Periodic = new Periodic(0, () => {
      scheduler.delete(selfDeleting);
      return START;
    });
    const finished = new Periodic(0, () => Infinity);
    const staying = new Periodic(200);
    for (const member of [deleted, selfDeleting, finished, staying]) scheduler.add(member);
    scheduler.delete(deleted);
    jest.advanceTimersByTime(1000);
    expect(deleted.visits).toHaveLength(0);
    expect(selfDeleting.visits).toHaveLength(1);
    expect(finished.visits).toHaveLength(1);
    expect(staying.visits.length).toBeGreaterThanOrEqual(4);
    expect(scheduler.size).toBe(1);
  });

  test('a visit that deletes another member due in the same tick spares it', () => {
    const victim = new Periodic(1000);
    const killer = new Periodic(1000, () => {
      scheduler.delete(victim);
      return undefined;
    });
    scheduler.add(killer);
    scheduler.add(victim);
    jest.advanceTimersByTime(PERIOD);
    expect(killer.visits).toHaveLength(1);
    expect(victim.visits).toHaveLength(0);
  });

  test('a member added during a tick waits for the next one', () => {
    const late = new Periodic(1000);
    const adder = new Periodic(1000, () => {
      if (late.visits.length === 0) scheduler.add(late);
      return undefined;
    });
    scheduler.add(adder);
    jest.advanceTimersByTime(PERIOD);
    expect(late.visits).toHaveLength(0);
    jest.advanceTimersByTime(PERIOD);
    expect(late.visits).toEqual([START + 2 * PERIOD]);
  });

  test('the timer stops with the last member and starts again with the next', () => {
    const member = new Periodic(100);
    scheduler.add(member);
    expect(jest.getTimerCount()).toBe(1);
    scheduler.delete(member);
    expect(jest.getTimerCount()).toBe(0);
    scheduler.add(member);
    jest.advanceTimersByTime(PERIOD);
    expect(member.visits).toHaveLength(1);
  });

  test('after a long pause every due member is visited once, in order of due time', () => {
    const order: string[] = [];
    const early = new Periodic(0, () => (order.push('early'), START + 10 * 60_000));
    const later = new Periodic(0, () => (order.push('later'), START + 20 * 60_000));
    scheduler.add(early);
    scheduler.add(later);
    jest.advanceTimersByTime(PERIOD);
    order.length = 0;
    // The event loop was blocked for an hour: one tick sees it all.
    scheduler.tick(START + 60 * 60_000);
    expect(order).toEqual(['early', 'later']);
  });

  test('visits are spread: 10,000 idle members cost 10,000 visits per interval, not per period', () => {
    let visits = 0;
    const members = Array.from({ length: 10_000 }, (_, i) => ({
      sweep(now: number): number {
        visits++;
        return now + 1000 + (i % 7);
      },
    }));
    for (const member of members) scheduler.add(member);
    jest.advanceTimersByTime(PERIOD);
    visits = 0;
    jest.advanceTimersByTime(10_000);
    // Ten intervals of ~1 s (some members' 1,006 ms round up to 1,100): at most 10 visits each, 100 ticks.
    expect(visits).toBeLessThanOrEqual(100_000);
    expect(visits).toBeGreaterThanOrEqual(90_000);
  });
});

test('sweepPeriodFor is a tenth of the shortest interval, from 10 ms to 1 s', () => {
  expect(sweepPeriodFor(15_000, 300_000)).toBe(1000);
  expect(sweepPeriodFor(2000, 300_000)).toBe(200);
  expect(sweepPeriodFor(50)).toBe(10);
});
