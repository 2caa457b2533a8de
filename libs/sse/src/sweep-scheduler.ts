/** Something the scheduler visits: it decides for itself what is due at `now`. */
export interface Sweepable {
  sweep(now: number): void;
}

/**
 * One timer for every connection's heartbeat and timeouts, instead of a timer per connection.
 * Each sweep visits every member; the period bounds how late a heartbeat or timeout can be.
 */
export class SweepScheduler {
  private readonly members = new Set<Sweepable>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: number) {}

  add(member: Sweepable): void {
    this.members.add(member);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweepAll(), this.periodMs);
      this.timer.unref();
    }
  }

  delete(member: Sweepable): void {
    this.members.delete(member);
    if (this.members.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweepAll(): void {
    const now = Date.now();
    for (const member of this.members) member.sweep(now);
  }
}

/** A sweep period fine enough for the shortest interval it serves (at least 10 ms, at most 1 s). */
export function sweepPeriodFor(...intervalsMs: number[]): number {
  return Math.max(10, Math.min(1000, Math.floor(Math.min(...intervalsMs) / 10)));
}
