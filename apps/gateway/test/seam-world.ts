/**
 * A subject's store and pub/sub path, simulated for SubjectFeed with the replica's real HistoryPages and
 * SubscriptionManager: every read, drain and delivery is a task of a fast-check scheduler, so a test
 * can let them happen in any order. Live batches may be dropped (a recovery follows), duplicated or
 * reordered; the store trims to a maximum length and may lose the subject and start it again.
 */
import fc from 'fast-check';
import { GapReason } from '@fanout/contracts';
import { Bus, HistoryEntry, LiveBatch, StreamRef, SubjectInfo } from '@fanout/bus';
import { HistoryPages } from '../src/history-pages';
import { FeedServices, FeedSink, SubjectFeed } from '../src/subject-feed';
import { SubscriptionManager } from '../src/subscription-manager';
import { frame } from './seam-fixtures';

export const REF: StreamRef = { tenant: 'acme', kind: 'job', id: 'job-1' };

export type LogItem =
  | { type: 'deliver'; firstSeq: number; lastSeq: number; frames: Buffer; replayed: boolean }
  | { type: 'gap'; reason: GapReason; firstAvailableSeq: number; storeEpochs: number }
  | { type: 'completed' }
  | { type: 'failed'; message: string }
  /** A replay run written without the room for it (more than one frame past the room, or none left). */
  | { type: 'past-room'; bytes: number; room: number };

export type LiveFate = 'deliver' | 'drop' | 'duplicate';

/** What the simulation asks of a scheduler: to hold a task until it lets it go. */
export type TaskScheduler = Pick<fc.Scheduler, 'schedule'>;

/** The subject's history as the store keeps it, epoch after epoch. */
export class SimulatedStore {
  readonly epochs: string[] = [epochName(0)];
  /** Per epoch: the highest seq trimmed away. */
  readonly trimmedThrough = new Map<string, number>();
  /** Per epoch: the seq of its terminal event. */
  readonly terminalSeq = new Map<string, number>();
  /** Per epoch: its last seq. */
  readonly lastSeq = new Map<string, number>();
  private retained: HistoryEntry[] = [];

  constructor(private readonly maxLen: number) {}

  get epoch(): string {
    return this.epochs[this.epochs.length - 1]!;
  }

  publish(size: number, terminal: boolean): LiveBatch {
    const epoch = this.epoch;
    const firstSeq = (this.lastSeq.get(epoch) ?? 0) + 1;
    const lastSeq = firstSeq + size - 1;
    const published: HistoryEntry[] = [];
    for (let seq = firstSeq; seq <= lastSeq; seq += 1) published.push({ seq, frame: frame(epoch, seq), terminal: terminal && seq === lastSeq });
    this.retained.push(...published);
    this.lastSeq.set(epoch, lastSeq);
    if (terminal) this.terminalSeq.set(epoch, lastSeq);
    while (this.retained.length > this.maxLen) this.trimmedThrough.set(epoch, this.retained.shift()!.seq);
    return { firstSeq, lastSeq, terminal, frames: Buffer.concat(published.map((e) => e.frame)), epoch };
  }

  /** The store lost the subject: its next event starts a new epoch at seq 1. */
  lose(): void {
    this.epochs.push(epochName(this.epochs.length));
    this.retained = [];
  }

  history(afterSeq: number, limit: number): HistoryEntry[] {
    return this.retained.filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  info(): SubjectInfo | null {
    const lastSeq = this.lastSeq.get(this.epoch);
    if (lastSeq === undefined) return null;
    const terminal = this.terminalSeq.has(this.epoch);
    return { epoch: this.epoch, lastSeq, firstSeq: this.retained[0]?.seq ?? lastSeq + 1, status: terminal ? 'succeeded' : 'running', terminal, updatedAt: '' };
  }
}

function epochName(index: number): string {
  return (0xe0000000 + index).toString(16);
}

/** A connection that takes at most `room` unsent bytes of replay and drains when the scheduler says. */
export class RecordingSink implements FeedSink {
  readonly log: LogItem[] = [];
  private unsent = 0;
  private open = true;

  constructor(
    private readonly scheduler: TaskScheduler,
    private readonly store: SimulatedStore,
    private readonly room: number,
  ) {}

  deliver(_feed: SubjectFeed, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean): void {
    const room = this.replayRoom();
    if (replayed && (room <= 0 || (lastSeq > firstSeq && frames.length > room))) this.log.push({ type: 'past-room', bytes: frames.length, room });
    this.log.push({ type: 'deliver', firstSeq, lastSeq, frames, replayed });
    this.unsent += frames.length;
  }

  gap(_feed: SubjectFeed, reason: GapReason, firstAvailableSeq: number): void {
    this.log.push({ type: 'gap', reason, firstAvailableSeq, storeEpochs: this.store.epochs.length });
  }

  completed(): void {
    this.log.push({ type: 'completed' });
    this.open = false;
  }

  failed(_feed: SubjectFeed, error: Error): void {
    this.log.push({ type: 'failed', message: error.message });
    this.open = false;
  }

  isOpen(): boolean {
    return this.open;
  }

  drained(): Promise<void> {
    if (this.unsent === 0) return Promise.resolve();
    return this.scheduler.schedule(Promise.resolve(), 'drain').then(() => {
      this.unsent = 0;
    });
  }

  replayRoom(): number {
    return this.room - this.unsent;
  }

  writtenSize(frameBytes: Buffer): number {
    return frameBytes.length;
  }
}

export interface WorldOptions {
  maxLen: number;
  pageSize: number;
  /** The feed's limit on held live batches, in bytes (the client buffer limit). */
  clientBufferBytes: number;
  /** Whether a history read sees the store as it was when issued (else as it is when answered). */
  readsSeeIssueTime: boolean;
}

/** One replica: a store, its pub/sub path, and the shared pages and subscriptions of the gateway. */
export class SimulatedReplica {
  readonly store: SimulatedStore;
  readonly history: HistoryPages;
  readonly subscriptions: SubscriptionManager;
  private readonly bus: Pick<Bus, 'history' | 'info' | 'subscribe' | 'unsubscribe'>;
  private listener: ((batch: LiveBatch) => void) | undefined;
  /** The bus path's connection: a recovery makes a new one. */
  private connection = 0;

  constructor(
    private readonly scheduler: TaskScheduler,
    private readonly options: WorldOptions,
  ) {
    this.store = new SimulatedStore(options.maxLen);
    this.bus = {
      history: (_ref, afterSeq, limit) => this.answer('history read', () => this.store.history(afterSeq, limit)),
      info: () => this.answer('info', () => this.store.info()),
      subscribe: (_ref, listener) => {
        this.listener = listener;
        return scheduler.schedule(Promise.resolve(), 'subscribed');
      },
      unsubscribe: () => {
        this.listener = undefined;
        return Promise.resolve();
      },
    };
    this.subscriptions = new SubscriptionManager(this.bus as Bus);
    this.history = new HistoryPages(this.bus as Bus, options.pageSize, 1 << 20, this.subscriptions);
  }

  /** Reads of history and of the epoch that feeds asked for: a feed that loops reads without end. */
  feedReads = 0;

  feed(sink: FeedSink, afterSeq: number, epoch: string | undefined): SubjectFeed {
    const history: FeedServices['history'] = {
      read: (...args) => {
        this.feedReads += 1;
        return this.history.read(...args);
      },
      forget: (ref) => this.history.forget(ref),
    };
    const bus: FeedServices['bus'] = {
      info: (ref) => {
        this.feedReads += 1;
        return this.bus.info(ref);
      },
    };
    return new SubjectFeed({ bus, history, subscriptions: this.subscriptions, settings: { clientBufferBytes: this.options.clientBufferBytes } }, REF, sink, afterSeq, epoch);
  }

  /** Publishes a batch and sends it down the pub/sub path, which may drop or duplicate it; the scheduler may reorder it. */
  publish(size: number, terminal: boolean, fate: LiveFate): LiveBatch {
    const batch = this.store.publish(size, terminal);
    if (fate === 'drop') {
      // The pub/sub path loses messages only with its connection, and says so when it is back.
      void this.scheduler.schedule(Promise.resolve(), `recovery after dropping ${batch.firstSeq}-${batch.lastSeq}`).then(() => this.recover());
      return batch;
    }
    // A batch still on its way when the bus path is lost never arrives: a recovery is a new connection.
    const connection = this.connection;
    for (let copies = fate === 'duplicate' ? 2 : 1; copies > 0; copies -= 1) {
      void this.scheduler.schedule(Promise.resolve(), `live ${batch.firstSeq}-${batch.lastSeq}`).then(() => {
        if (connection === this.connection) this.listener?.(batch);
      });
    }
    return batch;
  }

  /** The bus path came back after a loss, as the gateway handles it. */
  recover(): void {
    this.connection += 1;
    this.history.clear();
    this.subscriptions.recoverAll();
  }

  private answer<T>(label: string, read: () => T): Promise<T> {
    if (this.options.readsSeeIssueTime) return this.scheduler.schedule(Promise.resolve(read()), label);
    return this.scheduler.schedule(Promise.resolve(), label).then(read);
  }
}
