import { EventEmitter } from 'node:events';
import { MAX_EVENT_BYTES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

export const DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
/** The most one history entry read for an answer may take: an event's JSON at its limit, with its seq, publishedAt and frame lines. */
export const MAX_ANSWER_ENTRY_BYTES = MAX_EVENT_BYTES + 1024;
/** A budget must hold one read of a hundred largest entries (an answer's chunk), with room to spare. */
export const MIN_ANSWER_BYTES_IN_FLIGHT = 8 * 1024 * 1024;
/** How long an answer not yet begun waits for room before it is a 503. */
export const ANSWER_ROOM_WAIT_MS = 5_000;
/** Answers waiting for room at most; one more not yet begun is a 503 at once. */
const MAX_WAITING = 10_000;

type Answer = Pick<EventEmitter, 'once' | 'off'> & { destroyed: boolean; writableEnded: boolean };

interface Waiter {
  bytes: number;
  grant(): void;
}

/**
 * Bytes of history and log answers a gateway process holds at once: what it reads from the store for
 * them (reserved at the most a read may return, before the read) and what it wrote that their clients
 * have not taken yet. Answers that do not fit wait in turn; one not yet begun is a 503 after
 * ANSWER_ROOM_WAIT_MS. So clients that ask and never read hold at most this, not their sum.
 */
export class AnswerBudget {
  private reserved = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly maxBytes: number,
    private readonly onRefused: () => void = () => undefined,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_ANSWER_BYTES_IN_FLIGHT) {
      throw new RangeError(`the answer budget must be at least ${MIN_ANSWER_BYTES_IN_FLIGHT} bytes, not ${maxBytes}`);
    }
  }

  get reservedBytes(): number {
    return this.reserved;
  }

  /** One answer's share, released whole with `release()` when the answer is done. */
  shareFor(answer: Answer): AnswerShare {
    return new AnswerShare(this, answer);
  }

  /**
   * Reserves `bytes` at once when they fit and no answer waits before, else once they do, in turn.
   * False when `answer` closed first; a 503 when `refuseAfterMs` is given and passes first, or when
   * too many answers wait already.
   */
  async take(bytes: number, answer: Answer, refuseAfterMs?: number): Promise<boolean> {
    if (answer.destroyed || answer.writableEnded) return false;
    if (this.waiting.length === 0 && this.reserved + bytes <= this.maxBytes) {
      this.reserved += bytes;
      return true;
    }
    if (refuseAfterMs !== undefined && this.waiting.length >= MAX_WAITING) throw this.refusal();
    const outcome = await new Promise<'granted' | 'closed' | 'timed out'>((resolve) => {
      const waiter: Waiter = { bytes, grant: () => settle('granted') };
      const timer = refuseAfterMs === undefined ? undefined : setTimeout(() => settle('timed out'), refuseAfterMs);
      const closed = (): void => settle('closed');
      const settle = (how: 'granted' | 'closed' | 'timed out'): void => {
        if (timer) clearTimeout(timer);
        answer.off('close', closed);
        if (how !== 'granted') this.leaveQueue(waiter);
        resolve(how);
      };
      answer.once('close', closed);
      this.waiting.push(waiter);
    });
    if (outcome === 'timed out') throw this.refusal();
    return outcome === 'granted';
  }

  release(bytes: number): void {
    this.reserved -= bytes;
    this.grantInTurn();
  }

  private leaveQueue(waiter: Waiter): void {
    const at = this.waiting.indexOf(waiter);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    // The one that left may have blocked smaller ones behind it.
    if (at === 0) this.grantInTurn();
  }

  private grantInTurn(): void {
    for (;;) {
      const next = this.waiting[0];
      if (!next || this.reserved + next.bytes > this.maxBytes) return;
      this.waiting.shift();
      this.reserved += next.bytes;
      next.grant();
    }
  }

  private refusal(): HttpProblem {
    this.onRefused();
    return new HttpProblem(503, `the gateway holds as many bytes of history answers as it may (FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT = ${this.maxBytes} bytes); retry`, {}, { 'Retry-After': '1' });
  }
}

/** What one answer holds of its budget: first the room for a read, then the bytes it wrote until its client takes them. */
export class AnswerShare {
  private bytes = 0;

  constructor(
    private readonly budget: AnswerBudget,
    private readonly answer: Answer,
  ) {}

  /** Gives back what it holds, then takes room for reading `entries` entries. See AnswerBudget.take. */
  async forRead(entries: number, refuseAfterMs?: number): Promise<boolean> {
    this.release();
    const bytes = entries * MAX_ANSWER_ENTRY_BYTES;
    if (!(await this.budget.take(bytes, this.answer, refuseAfterMs))) return false;
    this.bytes = bytes;
    return true;
  }

  /** Keeps `bytes` of what it holds (what it wrote and awaits the drain of) and gives back the rest. */
  keep(bytes: number): void {
    const kept = Math.min(bytes, this.bytes);
    this.budget.release(this.bytes - kept);
    this.bytes = kept;
  }

  release(): void {
    if (this.bytes === 0) return;
    this.budget.release(this.bytes);
    this.bytes = 0;
  }
}
