import { GapReason } from '@fanout/contracts';
import { Bus, HistoryEntry, LiveBatch, StreamRef, epochOfFrame, framesAfter } from '@fanout/bus';
import {
  FeedAction,
  FeedState,
  ReplayRoom,
  newFeedState,
  nextCatchUpStep,
  startReplay,
  stopFeed,
  takeLiveBatch,
  takePage,
  takeRecovery,
  takeReusedSeqs,
  takeStoreEpoch,
} from './feed-seam';
import { HistoryPages } from './history-pages';
import { Gap } from './resume-position';
import { joinedFrames } from './replay-frames';
import { StreamSettings } from './stream-context';
import { LiveClient, SubscriptionManager } from './subscription-manager';

/** Where a feed's events go: a connection, which may rewrite ids (multi-subject) before writing. */
export interface FeedSink extends ReplayRoom {
  /** Frames of the consecutive seqs firstSeq..lastSeq, each one a finished SSE frame with its own `id:` line. */
  deliver(feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void;
  gap(feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void;
  /** The feed delivered its subject's terminal event. */
  completed(feed: SubjectFeed): void;
  failed(feed: SubjectFeed, error: Error): void;
  isOpen(): boolean;
  /** Resolves once the connection took everything written (or closed). */
  drained(): Promise<void>;
}

/** What a feed uses of the replica's shared services. */
export interface FeedServices {
  bus: Pick<Bus, 'info'>;
  history: Pick<HistoryPages, 'read' | 'forget'>;
  subscriptions: Pick<SubscriptionManager, 'join' | 'leave' | 'latestMark'>;
  settings: Pick<StreamSettings, 'clientBufferBytes'>;
}

/**
 * One subject's events for one connection, with a gapless seam between replay and live
 * (docs/architecture.md, rule 2): the subscription is made first, then history after the position
 * is replayed while live batches are held, and the held batches are delivered past what history
 * gave. What to send is decided in `feed-seam.ts`; this class does the I/O (subscribe, read
 * history, write, wait for the socket).
 */
export class SubjectFeed implements LiveClient {
  private readonly state: FeedState;
  private catchingUp = false;
  /** Where this feed began taking live batches, on the subscription manager's order of joins and batches. */
  private joinMark = Number.POSITIVE_INFINITY;

  /**
   * `epoch`: the history `sentSeq` belongs to (undefined: none yet, the first one seen is taken).
   * Frames of another epoch may mean the store lost the subject's history and started it again.
   */
  constructor(
    private readonly services: FeedServices,
    readonly ref: StreamRef,
    private readonly sink: FeedSink,
    sentSeq: number,
    epoch: string | undefined,
    prefix?: readonly HistoryEntry[],
  ) {
    this.state = newFeedState(sentSeq, epoch, services.settings.clientBufferBytes, prefix);
  }

  get epoch(): string | undefined {
    return this.state.epoch;
  }

  /** Resolves once live batches reach this feed (call before `replay`). */
  async subscribe(): Promise<void> {
    await this.services.subscriptions.join(this.ref, this);
  }

  /**
   * Sends `gap` if due, then replays history and goes live. Until this is called the feed holds
   * nothing of what arrives live: the history read it starts with is issued after those batches
   * were stored, so a multi-subject stream replays its subjects one after another for free.
   */
  async replay(gap?: Gap): Promise<void> {
    if (this.state.phase !== 'waiting') return;
    this.joinMark = this.services.subscriptions.latestMark();
    await this.apply(startReplay(this.state, gap));
  }

  stop(): void {
    if (stopFeed(this.state)) this.services.subscriptions.leave(this.ref, this);
  }

  onBatch(batch: LiveBatch): void {
    const actions = takeLiveBatch(this.state, batch);
    if (actions.length > 0) void this.apply(actions, batch);
  }

  onRecovered(): void {
    void this.apply(takeRecovery(this.state));
  }

  onSeqsReused(firstSeq: number): void {
    void this.apply(takeReusedSeqs(this.state, firstSeq));
  }

  private isOpen(): boolean {
    return this.state.phase !== 'stopped' && this.sink.isOpen();
  }

  /** Does what the seam decided, in order, while the connection is open; resolves when a catch-up it began ends. */
  private apply(actions: readonly FeedAction[], batch?: LiveBatch): Promise<void> | undefined {
    let caughtUp: Promise<void> | undefined;
    for (let i = 0; i < actions.length && this.isOpen(); i += 1) {
      const action = actions[i]!;
      switch (action.type) {
        case 'deliver-live': {
          const afterSeq = batch!.firstSeq - 1 + action.alreadySent;
          this.sink.deliver(this, framesAfter(batch!, afterSeq), afterSeq + 1, batch!.lastSeq, false);
          break;
        }
        case 'gap':
          this.sink.gap(this, action.gap.reason, action.gap.firstAvailableSeq);
          break;
        case 'forget-cached-history':
          this.services.history.forget(this.ref);
          break;
        case 'catch-up':
          caughtUp = this.catchUp();
          break;
        case 'complete':
          this.complete();
          break;
        case 'fail':
          this.stop();
          this.sink.failed(this, new Error(action.reason));
          break;
      }
    }
    return caughtUp;
  }

  /** Runs the seam's catch-up steps until it is live (a second call while they run changes nothing: they read the state again). */
  private async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      while (this.isOpen()) {
        const step = nextCatchUpStep(this.state, this.sink);
        switch (step.type) {
          case 'verify-epoch': {
            const info = await this.services.bus.info(this.ref);
            if (this.isOpen()) void this.apply(takeStoreEpoch(this.state, info?.epoch));
            break;
          }
          case 'read-history': {
            const page = await this.services.history.read(this.ref, step.afterSeq, this.joinMark, step.fresh, this.sink.replayRoom());
            const first = page.entries[0];
            if (this.isOpen()) void this.apply(takePage(this.state, page, first && epochOfFrame(first.frame)));
            break;
          }
          case 'replay':
            this.deliverReplay(step.entries, step.from, step.to);
            if (step.completes) this.complete();
            break;
          case 'wait-for-drain':
            await this.sink.drained();
            break;
          case 'go-live':
            for (const batch of step.held) {
              if (!this.isOpen()) break;
              this.onBatch(batch);
            }
            break;
          case 'done':
            return;
        }
      }
    } catch (error) {
      if (this.isOpen()) this.sink.failed(this, error as Error);
    } finally {
      this.catchingUp = false;
    }
  }

  private complete(): void {
    this.stop();
    this.sink.completed(this);
  }

  private deliverReplay(entries: readonly HistoryEntry[], from: number, to: number): void {
    const first = entries[from]!;
    if (entries[to - 1]!.seq - first.seq !== to - 1 - from) {
      // Not consecutive seqs (a prefix: a pack run's latest status and step events): one at a time.
      for (let i = from; i < to && this.isOpen(); i += 1) this.sink.deliver(this, entries[i]!.frame, entries[i]!.seq, entries[i]!.seq, true);
      return;
    }
    this.sink.deliver(this, joinedFrames(entries, from, to), first.seq, entries[to - 1]!.seq, true);
  }
}
