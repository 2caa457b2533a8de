import { GapReason, StreamedEvent, Subject } from '@fanout/contracts';
import { ConflatedFrame } from './frames';
import { SeqTracker } from './seq-tracker';
import { safely, StreamState } from './stream-state';
import { subjectKey } from './subjects';
import { ClientError, ConnectionState, GapNotice, SubscribeOptions } from './types';

/** What a tab applies and hands on to other tabs: events and the server's gaps. */
export type SharedFrame =
  | { type: 'event'; id: string; event: StreamedEvent }
  | { type: 'gap'; subject: Subject; reason: GapReason; firstAvailableSeq: number }
  | ConflatedFrame;

/** Told of everything this subscription applied (the tab-sharing leader relays it). */
export interface StateObserver {
  frame(frame: SharedFrame): void;
  state(state: ConnectionState): void;
  error(error: ClientError): void;
}

/**
 * One subscription's view of its subjects, whoever holds the connection: seq per subject, the last
 * event id (where a resume starts), the connection state, and the recent frames a tab hands to
 * tabs that join later. Calls the application's callbacks.
 */
export class SubscriptionState extends StreamState {
  readonly keys: readonly string[];
  private readonly tracker: SeqTracker;
  private readonly history: SharedFrame[] = [];
  private historyTruncated = false;
  private last: string | undefined;
  /** Started at `tail` and not yet resumed from an id: seqs may jump (the events before the tail were skipped on purpose). */
  private openingAtTail: boolean;
  observer: StateObserver | undefined;

  constructor(
    readonly subjects: readonly Subject[],
    private readonly options: SubscribeOptions,
    private readonly historyLimit: number,
  ) {
    super(options);
    this.keys = subjects.map(subjectKey);
    // A stream filtered by type, or conflated, skips seqs on purpose: they are not gaps.
    this.tracker = new SeqTracker(this.keys, options.types === undefined && options.conflate === undefined);
    this.openingAtTail = options.tail !== undefined;
  }

  get lastEventId(): string | undefined {
    return this.last;
  }

  /** Every subject has had its terminal event. */
  allEnded(): boolean {
    return this.tracker.allEnded();
  }

  apply(frame: SharedFrame): void {
    if (this.closed || this.state === 'ended') return;
    if (frame.type === 'conflated') {
      this.remember(frame);
      const { subject, eventType, skipped, firstSeq, lastSeq } = frame;
      if (this.options.onConflated) safely(() => this.options.onConflated!({ subject, type: eventType, skipped, firstSeq, lastSeq }));
      this.observer?.frame(frame);
      return;
    }
    if (frame.type === 'gap') {
      if (!this.tracker.gap(subjectKey(frame.subject), frame.reason, frame.firstAvailableSeq)) return;
      this.remember(frame);
      const notice: GapNotice = { source: 'server', subject: frame.subject, reason: frame.reason, firstAvailableSeq: frame.firstAvailableSeq };
      if (this.options.onGap) safely(() => this.options.onGap!(notice));
      this.observer?.frame(frame);
      return;
    }
    const { event, id } = frame;
    const verdict = this.tracker.event(event);
    if (verdict.kind === 'duplicate') return;
    this.last = id;
    this.remember(frame);
    if (verdict.kind === 'skipped' && this.options.onGap && !this.openingAtTail) {
      const notice: GapNotice = { source: 'client', subject: event.subject, reason: 'seq_skipped', expectedSeq: verdict.expectedSeq, receivedSeq: event.seq };
      safely(() => this.options.onGap!(notice));
    }
    safely(() => this.options.onEvent(event, { id, subject: event.subject }));
    this.observer?.frame(frame);
  }

  override setState(state: ConnectionState): boolean {
    // A reconnect with an id resumes exactly: from then on a skipped seq is a gap.
    if (state === 'reconnecting' && this.last !== undefined) this.openingAtTail = false;
    const changed = super.setState(state);
    if (changed) this.observer?.state(state);
    return changed;
  }

  override error(error: ClientError): boolean {
    const reported = super.error(error);
    if (reported) this.observer?.error(error);
    return reported;
  }

  /** The frames this tab still holds, oldest first, and whether older ones were let go. */
  snapshot(): { frames: SharedFrame[]; truncated: boolean } {
    return { frames: [...this.history], truncated: this.historyTruncated };
  }

  override close(): void {
    super.close();
    this.observer = undefined;
  }

  private remember(frame: SharedFrame): void {
    this.history.push(frame);
    if (this.history.length > this.historyLimit) {
      this.history.splice(0, this.history.length - this.historyLimit);
      this.historyTruncated = true;
    }
  }
}
