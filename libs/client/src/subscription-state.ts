import { GapReason, StreamedEvent, Subject } from '@fanout/contracts';
import { SeqTracker } from './seq-tracker';
import { subjectKey } from './subjects';
import { ClientError, ConnectionState, GapNotice, SubscribeOptions } from './types';

/** What a tab applies and hands on to other tabs: events and the server's gaps. */
export type SharedFrame =
  | { type: 'event'; id: string; event: StreamedEvent }
  | { type: 'gap'; subject: Subject; reason: GapReason; firstAvailableSeq: number };

/** Told of everything this subscription applied (the tab-sharing leader relays it). */
export interface StateObserver {
  frame(frame: SharedFrame): void;
  state(state: ConnectionState): void;
  error(error: ClientError): void;
}

/** A throwing callback of the application must not break the stream: report it, asynchronously. */
function safely(callback: () => void): void {
  try {
    callback();
  } catch (error) {
    const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
    if (report) report(error);
    else
      setTimeout(() => {
        throw error;
      });
  }
}

/**
 * One subscription's view of its subjects, whoever holds the connection: seq per subject, the last
 * event id (where a resume starts), the connection state, and the recent frames a tab hands to
 * tabs that join later. Calls the application's callbacks.
 */
export class SubscriptionState {
  readonly keys: readonly string[];
  private readonly tracker: SeqTracker;
  private readonly history: SharedFrame[] = [];
  private historyTruncated = false;
  private current: ConnectionState | undefined;
  private last: string | undefined;
  private closed = false;
  observer: StateObserver | undefined;

  constructor(
    readonly subjects: readonly Subject[],
    private readonly options: SubscribeOptions,
    private readonly historyLimit: number,
  ) {
    this.keys = subjects.map(subjectKey);
    this.tracker = new SeqTracker(this.keys);
  }

  get state(): ConnectionState {
    return this.current ?? 'connecting';
  }

  /** The id of the last event applied: a resume continues after it. */
  get lastEventId(): string | undefined {
    return this.last;
  }

  /** Every subject has had its terminal event. */
  allEnded(): boolean {
    return this.tracker.allEnded();
  }

  apply(frame: SharedFrame): void {
    if (this.closed || this.current === 'ended') return;
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
    if (verdict.kind === 'skipped' && this.options.onGap) {
      const notice: GapNotice = { source: 'client', subject: event.subject, reason: 'seq_skipped', expectedSeq: verdict.expectedSeq, receivedSeq: event.seq };
      safely(() => this.options.onGap!(notice));
    }
    safely(() => this.options.onEvent(event, { id, subject: event.subject }));
    this.observer?.frame(frame);
  }

  setState(state: ConnectionState): void {
    if (this.closed || this.current === 'ended' || this.current === state) return;
    this.current = state;
    safely(() => this.options.onState(state));
    this.observer?.state(state);
  }

  error(error: ClientError): void {
    if (this.closed) return;
    if (this.options.onError) safely(() => this.options.onError!(error));
    this.observer?.error(error);
  }

  /** The frames this tab still holds, oldest first, and whether older ones were let go. */
  snapshot(): { frames: SharedFrame[]; truncated: boolean } {
    return { frames: [...this.history], truncated: this.historyTruncated };
  }

  /** No callback after this (the application unsubscribed). */
  close(): void {
    this.closed = true;
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
