import { GapReason } from '@fanout/contracts';
import { HistoryEntry, StreamRef } from '@fanout/bus';
import { Principal } from '@fanout/http';
import { SseConnection, controlFrame } from '@fanout/sse';
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
  ) {
    super(services, conn, ref.kind === 'activity' ? 'subjects' : ref.kind, principal);
    this.feed = new SubjectFeed(services, ref, this, afterSeq, epoch, prefix);
  }

  async start(gap?: { reason: GapReason; firstAvailableSeq: number }): Promise<void> {
    await this.feed.subscribe();
    if (this.open()) await this.feed.replay(gap);
  }

  deliver(_feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void {
    this.writeEvents(frames, lastSeq - firstSeq + 1, replayed);
  }

  writtenSize(frame: Buffer): number {
    return frame.length;
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
