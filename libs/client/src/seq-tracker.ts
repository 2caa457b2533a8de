import { GapReason, isStatusEventType, isTerminalStatus, StreamedEvent } from '@fanout/contracts';
import { subjectKey } from './subjects';

export type EventVerdict =
  /** Next in order. */
  | { kind: 'next' }
  /** Already seen (a resume overlapped): not delivered again. */
  | { kind: 'duplicate' }
  /** Seqs were skipped: a gap the server did not announce. */
  | { kind: 'skipped'; expectedSeq: number };

/**
 * Each subject's next expected `seq` (the contract's seqs are 1, 2, 3, … with no holes), and
 * which subjects have had their terminal event.
 */
export class SeqTracker {
  private readonly next = new Map<string, number>();
  private readonly ended = new Set<string>();

  /** `exact`: every seq is expected (false for a stream filtered by type or conflated: seqs only increase). */
  constructor(
    private readonly keys: readonly string[],
    private readonly exact = true,
  ) {}

  event(event: StreamedEvent): EventVerdict {
    const key = subjectKey(event.subject);
    const expectedSeq = this.next.get(key) ?? 1;
    if (event.seq < expectedSeq) return { kind: 'duplicate' };
    this.next.set(key, event.seq + 1);
    if (isStatusEventType(event.type) && isTerminalStatus((event.data as { status: string }).status)) this.ended.add(key);
    return event.seq === expectedSeq || !this.exact ? { kind: 'next' } : { kind: 'skipped', expectedSeq };
  }

  /** A server `gap`: true when it tells something new (the same gap can be announced again after a resume). */
  gap(key: string, reason: GapReason, firstAvailableSeq: number): boolean {
    const expectedSeq = this.next.get(key) ?? 1;
    if (reason === 'history_trimmed' && firstAvailableSeq <= expectedSeq) return false;
    // history_lost: the subject's history started again; its seqs restart.
    this.next.set(key, firstAvailableSeq);
    this.ended.delete(key);
    return true;
  }

  /** Every subject has had its terminal event (the server would answer 204 to a resume). */
  allEnded(): boolean {
    return this.keys.every((key) => this.ended.has(key));
  }
}
