import { GapReason } from '@fanout/contracts';
import { HistoryEntry, StreamRef, eventTypeOf } from '@fanout/bus';
import { Principal } from '@fanout/http';
import { SseConnection, controlFrame } from '@fanout/sse';
import { Skipped } from './conflation-queue';
import { DELIVER_EVERYTHING, DeliveryOptions } from './delivery-options';
import { keepTypes } from './frame-filter';
import { StreamServices } from './stream-context';
import { StreamSession } from './stream-session';
import { SubjectFeed } from './subject-feed';

/** A stream of one subject (or of a tenant's activity): stored frames are written as they are. */
export class SingleStream extends StreamSession {
  private readonly feed: SubjectFeed;

  /**
   * `epoch`: the history `afterSeq` belongs to (undefined when the subject has none yet). `prefix`:
   * entries older than `afterSeq` sent first (a pack run's state before its `?tail=`).
   */
  constructor(
    services: StreamServices,
    ref: StreamRef,
    conn: SseConnection,
    afterSeq: number,
    epoch: string | undefined,
    principal: Principal,
    prefix?: readonly HistoryEntry[],
    delivery: DeliveryOptions = DELIVER_EVERYTHING,
  ) {
    super(services, conn, ref.kind === 'activity' ? 'subjects' : ref.kind, principal, delivery);
    this.feed = new SubjectFeed(services, ref, this, afterSeq, epoch, prefix);
  }

  async start(gap?: { reason: GapReason; firstAvailableSeq: number }): Promise<void> {
    await this.feed.subscribe();
    if (this.open()) await this.feed.replay(gap);
  }

  deliver(_feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void {
    const types = this.delivery.types;
    if (!types) return this.writeEvents(frames, lastSeq - firstSeq + 1, replayed);
    // Filtered out events are not written; the ids of those written say exactly where a resume starts.
    const kept = keepTypes(frames, types);
    if (kept.count > 0) this.writeEvents(kept.frames, kept.count, replayed);
  }

  writtenSize(frame: Buffer): number {
    return this.delivery.types && !this.delivery.types.has(eventTypeOf(frame)) ? 0 : frame.length;
  }

  protected conflatedFrame(_subject: number, skipped: Skipped): Buffer {
    const type = this.feed.ref.kind === 'run' ? 'run.progress' : 'job.progress';
    return controlFrame('conflated', { type, skipped: skipped.count, firstSeq: skipped.firstSeq, lastSeq: skipped.lastSeq });
  }

  gap(_feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void {
    this.writeControl(controlFrame('gap', { reason, firstAvailableSeq }));
  }

  completed(): void {
    this.end('completed');
  }

  protected stopFeeds(): void {
    this.feed.stop();
  }
}
