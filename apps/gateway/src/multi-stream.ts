import { HistoryEntry, eventTypeOf, framesWithoutIds, idLine } from '@fanout/bus';
import { GapReason, TenantSubject } from '@fanout/contracts';
import { Principal } from '@fanout/http';
import { SseConnection, controlFrame } from '@fanout/sse';
import { Skipped } from './conflation-queue';
import { DELIVER_EVERYTHING, DeliveryOptions } from './delivery-options';
import { encodeCursor, epochPrefixOf } from './multi-cursor';
import { Gap } from './resume-position';
import { StreamServices } from './stream-context';
import { StreamSession } from './stream-session';
import { SubjectFeed } from './subject-feed';

export interface MultiEntry {
  subject: TenantSubject;
  epoch: string;
  afterSeq: number;
  /** The client already has this subject's terminal event: nothing to stream. */
  done: boolean;
  gap?: Gap;
  /** Entries older than `afterSeq` sent first (a pack run's state before its `?tail=`). */
  prefix?: readonly HistoryEntry[];
}

/**
 * Many subjects on one connection. Each subject has its own feed (the same gapless seam as a
 * single stream); every frame's `id` is rewritten to the cursor of all positions after it.
 */
export class MultiStream extends StreamSession {
  private readonly feeds = new Map<SubjectFeed, number>();
  /**
   * Each subject's position: the seq of its last event written (or vouched for by a later cursor),
   * and the epoch of that event as the cursor holds it (`epochPrefixOf`: a subject that starts again
   * keeps its old position until its first event of the new epoch, so a resume from it is told
   * `history_lost`).
   */
  private readonly seqs: number[];
  private readonly seqEpochPrefixes: number[];
  private readonly epochs: string[];
  private readonly done: boolean[];
  private cursorBytes = 0;

  constructor(
    services: StreamServices,
    private readonly entries: readonly MultiEntry[],
    conn: SseConnection,
    principal: Principal,
    delivery: DeliveryOptions = DELIVER_EVERYTHING,
  ) {
    super(services, conn, 'multi', principal, delivery);
    this.epochs = entries.map((e) => e.epoch);
    this.seqs = entries.map((e) => e.afterSeq);
    this.seqEpochPrefixes = this.epochs.map(epochPrefixOf);
    this.done = entries.map((e) => e.done);
    this.cursorBytes = idLine(encodeCursor(this.seqEpochPrefixes, this.seqs)).length;
    entries.forEach((entry, index) => {
      if (!entry.done) this.feeds.set(new SubjectFeed(services, entry.subject, this, entry.afterSeq, entry.epoch, entry.prefix), index);
    });
  }

  /**
   * Subscribes every feed, then replays the subjects one after another (so at most one subject's
   * history is in hand at a time); those already replayed are live meanwhile.
   */
  async start(): Promise<void> {
    await Promise.all([...this.feeds.keys()].map((feed) => feed.subscribe()));
    if (!this.open()) return;
    for (const [feed, index] of this.feeds) {
      if (!this.isOpen()) return;
      await feed.replay(this.entries[index]!.gap);
    }
  }

  writtenSize(frame: Buffer): number {
    if (this.delivery.types && !this.delivery.types.has(eventTypeOf(frame))) return 0;
    // The stored `id:` line is replaced by the cursor's, which is about as long as the last one written.
    return frame.length + this.cursorBytes;
  }

  deliver(feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void {
    const index = this.feeds.get(feed);
    if (index === undefined) return;
    const parts: Buffer[] = [];
    const types = this.delivery.types;
    const rests = framesWithoutIds(frames);
    let count = 0;
    for (let i = 0; i < rests.length && firstSeq + i <= lastSeq; i += 1) {
      // A filtered out event still moves its subject's position: the next cursor written vouches for it.
      this.seqs[index] = firstSeq + i;
      this.seqEpochPrefixes[index] = epochPrefixOf(this.epochs[index]!);
      if (types && !types.has(eventTypeOf(rests[i]!))) continue;
      const cursorLine = idLine(encodeCursor(this.seqEpochPrefixes, this.seqs));
      this.cursorBytes = cursorLine.length;
      parts.push(cursorLine, rests[i]!);
      count += 1;
    }
    if (count > 0) this.writeEvents(Buffer.concat(parts), count, replayed, index);
  }

  protected conflatedFrame(index: number, skipped: Skipped): Buffer {
    const { kind, id } = this.entries[index]!.subject;
    const type = kind === 'run' ? 'run.progress' : 'job.progress';
    return controlFrame('conflated', { type, skipped: skipped.count, firstSeq: skipped.firstSeq, lastSeq: skipped.lastSeq, subject: { kind, id } });
  }

  gap(feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void {
    const index = this.feeds.get(feed);
    // history_lost while streaming: the subject started again; the cursor follows its new epoch.
    if (index !== undefined && feed.epoch !== undefined) this.epochs[index] = feed.epoch;
    const { kind, id } = feed.ref as TenantSubject;
    this.writeControl(controlFrame('gap', { reason, firstAvailableSeq, subject: { kind, id } }));
  }

  completed(feed: SubjectFeed): void {
    const index = this.feeds.get(feed);
    if (index === undefined) return;
    this.done[index] = true;
    if (this.done.every(Boolean)) this.end('completed');
  }

  protected stopFeeds(): void {
    for (const feed of this.feeds.keys()) feed.stop();
  }
}
