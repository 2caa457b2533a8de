/** Something the scheduler visits: it does what is due at `now` and tells when it is next due. */
export interface Sweepable {
  /** Returns the time (ms since the epoch) of its next visit; `Infinity` for none. */
  sweep(now: number): number;
}

/**
 * One timer for every connection's heartbeat and timeouts, instead of a timer per connection.
 * Members wait in slots of one period by the time they said they are next due, so a tick visits
 * only the members due in it: an idle connection is visited once per heartbeat interval, not once
 * per period (at 100,000 connections a visit of every member every period cost several percent of
 * a core). A member whose due time moved later since (it wrote something) is simply visited early
 * and tells its new time. The period bounds how late a heartbeat or timeout can be.
 */
export class SweepScheduler {
  private readonly slotOf = new Map<Sweepable, number>();
  private readonly slots = new Map<number, Set<Sweepable>>();
  /** The first slot not yet visited. */
  private nextSlot = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: number) {}

  /** Visits `member` at the first tick from now on (it then tells when it is next due). */
  add(member: Sweepable): void {
    if (!this.timer) {
      this.nextSlot = Math.floor(Date.now() / this.periodMs) + 1;
      this.timer = setInterval(() => this.tick(Date.now()), this.periodMs);
      this.timer.unref();
    }
    this.place(member, this.nextSlot);
  }

  delete(member: Sweepable): void {
    const slot = this.slotOf.get(member);
    if (slot === undefined) return;
    this.slotOf.delete(member);
    this.slots.get(slot)?.delete(member);
    if (this.slotOf.size === 0) this.stop();
  }

  get size(): number {
    return this.slotOf.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.slotOf.clear();
    this.slots.clear();
  }

  /** Visits every member due up to `now` (called by the timer; exposed for tests). */
  tick(now: number): void {
    const last = Math.floor(now / this.periodMs);
    if (last < this.nextSlot) return;
    const due = this.slotsUpTo(last);
    // Whatever is added or moved while these are visited waits for a later tick.
    this.nextSlot = last + 1;
    for (const slot of due) {
      const members = this.slots.get(slot);
      if (!members) continue;
      this.slots.delete(slot);
      for (const member of members) {
        if (this.slotOf.get(member) !== slot) continue;
        const next = member.sweep(now);
        // It may have left (a timeout ended it) or been moved while it was visited.
        if (this.slotOf.get(member) !== slot) continue;
        if (next === Infinity) this.delete(member);
        else this.place(member, Math.max(this.nextSlot, this.slotAt(next)));
      }
    }
  }

  /** The slots from the first not visited up to `last`, in order (only the occupied ones after a long pause). */
  private slotsUpTo(last: number): number[] {
    if (last - this.nextSlot > this.slots.size) return [...this.slots.keys()].filter((slot) => slot <= last).sort((a, b) => a - b);
    const slots: number[] = [];
    for (let slot = this.nextSlot; slot <= last; slot++) slots.push(slot);
    return slots;
  }

  /** The first slot whose tick is at or after `time`. */
  private slotAt(time: number): number {
    return Math.ceil(time / this.periodMs);
  }

  private place(member: Sweepable, slot: number): void {
    const current = this.slotOf.get(member);
    if (current !== undefined) this.slots.get(current)?.delete(member);
    this.slotOf.set(member, slot);
    let members = this.slots.get(slot);
    if (!members) this.slots.set(slot, (members = new Set()));
    members.add(member);
  }
}

/** A sweep period fine enough for the shortest interval it serves (at least 10 ms, at most 1 s). */
export function sweepPeriodFor(...intervalsMs: number[]): number {
  return Math.max(10, Math.min(1000, Math.floor(Math.min(...intervalsMs) / 10)));
}
