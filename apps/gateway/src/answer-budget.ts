import { EventEmitter } from 'node:events';
import { MAX_EVENT_BYTES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

export const DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
/** The most one history entry read for an answer may take: an event's JSON at its limit, with its seq, publishedAt and frame lines. */
export const MAX_ANSWER_ENTRY_BYTES = MAX_EVENT_BYTES + 1024;
/** The most one read for an answer reserves: a chunk of a hundred largest entries. */
export const MAX_ANSWER_READ_BYTES = 100 * MAX_ANSWER_ENTRY_BYTES;
/** A budget must hold one read of a hundred largest entries (an answer's chunk), with room to spare. */
export const MIN_ANSWER_BYTES_IN_FLIGHT = 8 * 1024 * 1024;
/** How long an answer not yet begun waits for room before it is a 503. */
export const ANSWER_ROOM_WAIT_MS = 5_000;
/** One tenant holds at most this share of the budget (and at least one largest read), so others still get room. */
const TENANT_SHARE = 0.25;
/** Answers waiting for room at most; one more not yet begun is a 503 at once. */
const MAX_WAITING = 10_000;

type Answer = Pick<EventEmitter, 'once' | 'off'> & { destroyed: boolean; writableEnded: boolean };

interface Waiter {
  tenant: string;
  bytes: number;
  grant(): void;
}

/**
 * Bytes of history and log answers a gateway process holds at once: what it reads from the store for
 * them (reserved at the most a read may return, before the read) and what it wrote that their clients
 * have not taken yet. So clients that ask and never read hold at most this, not their sum.
 *
 * One tenant holds at most a quarter of it (at least one largest read). Answers that do not fit wait
 * in turn, except that one held back only by its own tenant's share lets the others by; one not yet
 * begun is a 503 after ANSWER_ROOM_WAIT_MS.
 */
export class AnswerBudget {
  private reserved = 0;
  private readonly reservedByTenant = new Map<string, number>();
  private readonly waiting: Waiter[] = [];
  readonly maxBytesPerTenant: number;

  constructor(
    readonly maxBytes: number,
    private readonly onRefused: () => void = () => undefined,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_ANSWER_BYTES_IN_FLIGHT) {
      throw new RangeError(`the answer budget must be at least ${MIN_ANSWER_BYTES_IN_FLIGHT} bytes, not ${maxBytes}`);
    }
    this.maxBytesPerTenant = Math.max(Math.floor(maxBytes * TENANT_SHARE), MAX_ANSWER_READ_BYTES);
  }

  get reservedBytes(): number {
    return this.reserved;
  }

  /** One answer's share, released whole with `release()` when the answer is done. */
  shareFor(answer: Answer, tenant: string): AnswerShare {
    return new AnswerShare(this, answer, tenant);
  }

  /**
   * Reserves `bytes` for `tenant` once they fit, in turn. False when `answer` closed first; a 503 when
   * `refuseAfterMs` is given and passes first, or when too many answers wait already.
   */
  async take(bytes: number, answer: Answer, tenant: string, refuseAfterMs?: number): Promise<boolean> {
    if (answer.destroyed || answer.writableEnded) return false;
    if (refuseAfterMs !== undefined && this.waiting.length >= MAX_WAITING) throw this.refusal(tenant);
    let granted = false;
    const waiter: Waiter = { tenant, bytes, grant: () => (granted = true) };
    this.waiting.push(waiter);
    this.grantInTurn();
    if (granted) return true;
    const outcome = await new Promise<'granted' | 'closed' | 'timed out'>((resolve) => {
      const timer = refuseAfterMs === undefined ? undefined : setTimeout(() => settle('timed out'), refuseAfterMs);
      const closed = (): void => settle('closed');
      const settle = (how: 'granted' | 'closed' | 'timed out'): void => {
        if (timer) clearTimeout(timer);
        answer.off('close', closed);
        if (how !== 'granted') this.leaveQueue(waiter);
        resolve(how);
      };
      waiter.grant = () => settle('granted');
      answer.once('close', closed);
    });
    if (outcome === 'timed out') throw this.refusal(tenant);
    return outcome === 'granted';
  }

  release(bytes: number, tenant: string): void {
    this.reserved -= bytes;
    const left = (this.reservedByTenant.get(tenant) ?? 0) - bytes;
    if (left > 0) this.reservedByTenant.set(tenant, left);
    else this.reservedByTenant.delete(tenant);
    this.grantInTurn();
  }

  private leaveQueue(waiter: Waiter): void {
    const at = this.waiting.indexOf(waiter);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    // The one that left may have held back others behind it.
    this.grantInTurn();
  }

  /** Grants the waiting answers in order; one held back by its tenant's share lets those behind it by, one held back by the budget does not. */
  private grantInTurn(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const next = this.waiting[i]!;
      const tenantHolds = this.reservedByTenant.get(next.tenant) ?? 0;
      if (tenantHolds + next.bytes > this.maxBytesPerTenant) {
        i += 1;
        continue;
      }
      if (this.reserved + next.bytes > this.maxBytes) return;
      this.waiting.splice(i, 1);
      this.reserved += next.bytes;
      this.reservedByTenant.set(next.tenant, tenantHolds + next.bytes);
      next.grant();
    }
  }

  private refusal(tenant: string): HttpProblem {
    this.onRefused();
    const held = this.reservedByTenant.get(tenant) ?? 0;
    const whose = held + MAX_ANSWER_READ_BYTES > this.maxBytesPerTenant ? `for this tenant (a quarter of FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT = ${this.maxBytes} bytes)` : `(FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT = ${this.maxBytes} bytes)`;
    return new HttpProblem(503, `the gateway holds as many bytes of history answers ${whose} as it may; retry`, {}, { 'Retry-After': '1' });
  }
}

/** What one answer holds of its budget: first the room for a read, then the bytes it wrote until its client takes them. */
export class AnswerShare {
  private bytes = 0;

  constructor(
    private readonly budget: AnswerBudget,
    private readonly answer: Answer,
    private readonly tenant: string,
  ) {}

  /** Gives back what it holds, then takes room for reading `entries` entries. See AnswerBudget.take. */
  async forRead(entries: number, refuseAfterMs?: number): Promise<boolean> {
    this.release();
    const bytes = entries * MAX_ANSWER_ENTRY_BYTES;
    if (!(await this.budget.take(bytes, this.answer, this.tenant, refuseAfterMs))) return false;
    this.bytes = bytes;
    return true;
  }

  /** Keeps `bytes` of what it holds (what it wrote and awaits the drain of) and gives back the rest. */
  keep(bytes: number): void {
    const kept = Math.min(bytes, this.bytes);
    this.budget.release(this.bytes - kept, this.tenant);
    this.bytes = kept;
  }

  release(): void {
    if (this.bytes === 0) return;
    this.budget.release(this.bytes, this.tenant);
    this.bytes = 0;
  }
}
