import {
  PublishedEvent,
  SubjectKind,
  SubjectState,
  TenantSubject,
  applyVerdict,
  checkEvent,
  emptySubjectState,
} from '@fanout/contracts';
import { AppendOutcome, BatchListener, Bus, ConnectionListener, HistoryEntry, SubjectInfo, SubjectSummary } from './bus';
import { newEpoch } from './event-id';
import { eventFrame } from './frame';
import { subjectKeyString } from './keys';
import { HistoryOptions } from './options';
import { finishEventJson, prepareEvent } from './prepared-event';
import { encodeBatchMessage, decodeBatchMessage } from './wire';

interface StoredSubject {
  subject: TenantSubject;
  epoch: string;
  state: SubjectState;
  lastSeq: number;
  terminal: boolean;
  updatedAt: string;
  /** Retained entries, oldest first. */
  entries: HistoryEntry[];
  eventIds: Map<string, number>;
  expiry?: NodeJS.Timeout;
}

/** The bus of `fanout dev` without Redis: the same semantics as the Redis bus, in one process. */
export class MemoryBus implements Bus {
  private readonly subjects = new Map<string, StoredSubject>();
  private readonly listeners = new Map<string, BatchListener>();

  constructor(private readonly options: HistoryOptions) {}

  async append(subject: TenantSubject, events: readonly PublishedEvent[]): Promise<AppendOutcome[]> {
    const key = subjectKeyString(subject);
    const existing = this.subjects.get(key);
    const state: SubjectState = existing
      ? { ...existing.state, steps: new Map(existing.state.steps) }
      : emptySubjectState();
    const seenInBatch = new Map<string, number>();
    const outcomes: AppendOutcome[] = [];
    const accepted: { index: number; seq: number; attempt?: number; terminal: boolean }[] = [];
    let seq = existing?.lastSeq ?? 0;
    let refused = false;

    events.forEach((event, index) => {
      const duplicateOf = seenInBatch.get(event.eventId) ?? existing?.eventIds.get(event.eventId);
      if (duplicateOf !== undefined) {
        outcomes.push({ eventId: event.eventId, seq: duplicateOf, duplicate: true });
        return;
      }
      const verdict = checkEvent(subject.kind, state, event);
      if (!verdict.ok) {
        refused = true;
        const { current, requested, reason } = verdict;
        outcomes.push({ eventId: event.eventId, error: { code: 'transition', current, requested, reason } });
        return;
      }
      applyVerdict(state, verdict);
      seq += 1;
      seenInBatch.set(event.eventId, seq);
      outcomes.push({ eventId: event.eventId, seq, duplicate: false });
      accepted.push({ index, seq, attempt: event.type === 'job.status' ? state.attempt : undefined, terminal: verdict.terminal });
    });

    if (refused) {
      return outcomes.map((o) =>
        'seq' in o && !o.duplicate
          ? { eventId: o.eventId, error: { code: 'not_stored', current: '', requested: '', reason: 'not stored: another event of this subject was refused' } }
          : o,
      );
    }
    if (accepted.length === 0) return outcomes;

    const publishedAt = new Date().toISOString();
    const stored: StoredSubject = existing ?? {
      subject,
      epoch: newEpoch(),
      state,
      lastSeq: 0,
      terminal: false,
      updatedAt: publishedAt,
      entries: [],
      eventIds: new Map(),
    };
    let frames = '';
    for (const { index, seq: entrySeq, attempt, terminal } of accepted) {
      const event = events[index]!;
      const frame = eventFrame(stored.epoch, entrySeq, event.type, finishEventJson(prepareEvent(event), entrySeq, attempt, publishedAt));
      stored.entries.push({ seq: entrySeq, frame: Buffer.from(frame), terminal });
      stored.eventIds.set(event.eventId, entrySeq);
      frames += frame;
    }
    const terminal = accepted.some((a) => a.terminal);
    if (stored.entries.length > this.options.historyMaxLen) stored.entries.splice(0, stored.entries.length - this.options.historyMaxLen);
    Object.assign(stored, { state, lastSeq: seq, terminal, updatedAt: publishedAt });
    this.subjects.set(key, stored);
    if (terminal) {
      stored.expiry = setTimeout(() => this.subjects.delete(key), this.options.historyTtlSeconds * 1000);
      stored.expiry.unref();
    }
    const message = Buffer.from(encodeBatchMessage(accepted[0]!.seq, seq, terminal, frames));
    const listener = this.listeners.get(key);
    // Delivered on a later turn, as a real pub/sub message would be.
    if (listener) setImmediate(() => listener(decodeBatchMessage(message)!));
    return outcomes;
  }

  async info(subject: TenantSubject): Promise<SubjectInfo | null> {
    const stored = this.subjects.get(subjectKeyString(subject));
    if (!stored) return null;
    return {
      epoch: stored.epoch,
      lastSeq: stored.lastSeq,
      firstSeq: stored.entries[0]?.seq ?? stored.lastSeq + 1,
      status: stored.state.status ?? '',
      terminal: stored.terminal,
      updatedAt: stored.updatedAt,
    };
  }

  async history(subject: TenantSubject, afterSeq: number, limit: number): Promise<HistoryEntry[]> {
    const entries = this.subjects.get(subjectKeyString(subject))?.entries ?? [];
    const first = entries[0]?.seq ?? 0;
    const start = Math.max(0, afterSeq + 1 - first);
    return entries.slice(start, start + limit);
  }

  async recentSubjects(tenant: string, kind: SubjectKind | undefined, limit: number): Promise<SubjectSummary[]> {
    return [...this.subjects.values()]
      .filter((s) => s.subject.tenant === tenant && (kind === undefined || s.subject.kind === kind))
      .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
      .slice(0, limit)
      .map((s) => ({ kind: s.subject.kind, id: s.subject.id, status: s.state.status ?? '', seq: s.lastSeq, updatedAt: s.updatedAt }));
  }

  async subscribe(subject: TenantSubject, listener: BatchListener): Promise<void> {
    this.listeners.set(subjectKeyString(subject), listener);
  }

  async unsubscribe(subject: TenantSubject): Promise<void> {
    this.listeners.delete(subjectKeyString(subject));
  }

  subscriptionCount(): number {
    return this.listeners.size;
  }

  onConnection(_listener: ConnectionListener): void {
    // An in-process bus never loses its connection.
  }

  async probe(): Promise<void> {
    // Nothing between the store and the subscribers can fail.
  }

  async close(): Promise<void> {
    for (const stored of this.subjects.values()) clearTimeout(stored.expiry);
    this.subjects.clear();
    this.listeners.clear();
  }
}
