import {
  PublishedEvent,
  Revocation,
  SubjectKind,
  SubjectState,
  TenantSubject,
  applyVerdict,
  checkEvent,
  emptySubjectState,
} from '@fanout/contracts';
import { ActivityUpdate, activityUpdates } from './activity';
import { quotaRefusals, transitionRefused, withholdAfterRefusal } from './append-refusals';
import {
  AppendOutcome,
  BatchListener,
  Bus,
  ConnectionListener,
  HistoryEntry,
  RevocationListener,
  StreamRef,
  SubjectInfo,
  SubjectSummary,
  WatcherCount,
  activityOf,
} from './bus';
import { AppendDeadlineError } from './deadline';
import { subjectKeyString } from './keys';
import { DEFAULT_SUBJECT_IDLE_TTL_SECONDS, DEFAULT_TENANT_MAX_SUBJECTS, HistoryOptions, QuotaOptions, idleSpanMs } from './options';
import { finishEventJson, prepareEvent } from './prepared-event';
import { quotaRetryAfterSeconds } from './quota';
import { MemoryRevocations } from './memory-revocations';
import { MemoryWatchers } from './memory-watchers';
import { latestStateEntriesOf } from './state-entries';
import { activityFrame, decodeBatchMessage, encodeBatchMessage, newEpoch, storedFrame } from './stored-frame';

/** The longest delay setTimeout takes (2^31 − 1 ms, ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A retained log of frames with its epoch: a subject's history, or a tenant's activity. */
interface StoredStream {
  epoch: string;
  lastSeq: number;
  status: string;
  terminal: boolean;
  updatedAt: string;
  /** Retained entries, oldest first. */
  entries: HistoryEntry[];
}

interface StoredSubject extends StoredStream {
  subject: TenantSubject;
  state: SubjectState;
  /** The retained events' ids → seq, in seq order: an id leaves with its event (see forgetTrimmedIds). */
  eventIds: Map<string, number>;
  expiry?: NodeJS.Timeout;
  /** Epoch ms its history expires: after its terminal event, or if idle while unfinished. */
  expiresAt?: number;
}

/** The bus of `fanout dev` without Redis: the same semantics as the Redis bus, in one process. */
export class MemoryBus implements Bus {
  private readonly subjects = new Map<string, StoredSubject>();
  private readonly activities = new Map<string, StoredStream>();
  private readonly listeners = new Map<string, BatchListener>();
  /** Subjects held per tenant, for the quota. */
  private readonly subjectCounts = new Map<string, number>();
  private readonly revocations = new MemoryRevocations();
  private readonly watchers = new MemoryWatchers();

  constructor(private readonly options: HistoryOptions & QuotaOptions) {}

  async append(subject: TenantSubject, events: readonly PublishedEvent[], deadline?: number): Promise<AppendOutcome[]> {
    if (deadline !== undefined && Date.now() > deadline) throw new AppendDeadlineError(Date.now() - deadline);
    const key = subjectKeyString(subject);
    const existing = this.subjects.get(key);
    const maxSubjects = this.options.tenantMaxSubjects ?? DEFAULT_TENANT_MAX_SUBJECTS;
    if (!existing && maxSubjects > 0 && (this.subjectCounts.get(subject.tenant) ?? 0) >= maxSubjects) {
      return quotaRefusals(events, maxSubjects, quotaRetryAfterSeconds(this.msUntilASubjectExpires(subject.tenant), this.options.historyTtlSeconds));
    }
    const state: SubjectState = existing ? { ...existing.state, steps: new Map(existing.state.steps) } : emptySubjectState();
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
        outcomes.push(transitionRefused(event.eventId, verdict));
        return;
      }
      applyVerdict(state, verdict);
      seq += 1;
      seenInBatch.set(event.eventId, seq);
      outcomes.push({ eventId: event.eventId, seq, duplicate: false });
      accepted.push({ index, seq, attempt: event.type === 'job.status' ? state.attempt : undefined, terminal: verdict.terminal });
    });

    if (refused) return withholdAfterRefusal(outcomes, existing?.lastSeq ?? 0);
    if (accepted.length === 0) return outcomes;

    const publishedAt = new Date().toISOString();
    const stored: StoredSubject = existing ?? {
      subject,
      epoch: newEpoch(),
      state,
      status: '',
      lastSeq: 0,
      terminal: false,
      updatedAt: publishedAt,
      entries: [],
      eventIds: new Map(),
    };
    const frames = accepted.map(({ index, seq: entrySeq, attempt, terminal }) => {
      const event = events[index]!;
      stored.eventIds.set(event.eventId, entrySeq);
      const json = finishEventJson(prepareEvent(event), entrySeq, attempt, publishedAt);
      return { seq: entrySeq, frame: storedFrame(stored.epoch, entrySeq, event.type, json), terminal };
    });
    stored.state = state;
    stored.status = state.status ?? '';
    if (!existing) this.subjectCounts.set(subject.tenant, (this.subjectCounts.get(subject.tenant) ?? 0) + 1);
    this.subjects.set(key, stored);
    this.store(key, stored, frames, publishedAt);
    forgetTrimmedIds(stored);
    const idleSeconds = this.options.subjectIdleTtlSeconds ?? DEFAULT_SUBJECT_IDLE_TTL_SECONDS;
    if (stored.terminal) this.expireIn(key, stored, this.options.historyTtlSeconds * 1000);
    // As the Redis bus: renewed once a tenth of the idle time has passed, to at most a tenth more.
    else if (idleSeconds > 0 && (stored.expiresAt === undefined || stored.expiresAt - Date.now() < idleSeconds * 1000)) this.expireIn(key, stored, idleSpanMs(idleSeconds));
    this.recordActivity(subject.tenant, activityUpdates(subject, events, outcomes, publishedAt), publishedAt);
    return outcomes;
  }

  async info(ref: StreamRef): Promise<SubjectInfo | null> {
    const stored = this.stream(ref);
    if (!stored) return null;
    return {
      epoch: stored.epoch,
      lastSeq: stored.lastSeq,
      firstSeq: stored.entries[0]?.seq ?? stored.lastSeq + 1,
      status: stored.status,
      terminal: stored.terminal,
      updatedAt: stored.updatedAt,
    };
  }

  async history(ref: StreamRef, afterSeq: number, limit: number): Promise<HistoryEntry[]> {
    const entries = this.stream(ref)?.entries ?? [];
    const first = entries[0]?.seq ?? 0;
    const start = Math.max(0, afterSeq + 1 - first);
    return entries.slice(start, start + limit);
  }

  async latestStateEntries(subject: TenantSubject, beforeSeq: number): Promise<HistoryEntry[]> {
    return latestStateEntriesOf(this.stream(subject)?.entries ?? [], beforeSeq);
  }

  async recentSubjects(tenant: string, kind: SubjectKind | undefined, limit: number): Promise<SubjectSummary[]> {
    return [...this.subjects.values()]
      .filter((s) => s.subject.tenant === tenant && (kind === undefined || s.subject.kind === kind))
      .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
      .slice(0, limit)
      .map((s) => ({ kind: s.subject.kind, id: s.subject.id, status: s.status, seq: s.lastSeq, updatedAt: s.updatedAt }));
  }

  async subscribe(ref: StreamRef, listener: BatchListener): Promise<void> {
    this.listeners.set(subjectKeyString(ref), listener);
  }

  async unsubscribe(ref: StreamRef): Promise<void> {
    this.listeners.delete(subjectKeyString(ref));
  }

  subscriptionCount(): number {
    return this.listeners.size;
  }

  addRevocation(revocation: Revocation, maxActive: number): Promise<boolean> {
    return this.revocations.addRevocation(revocation, maxActive);
  }

  removeRevocation(id: string): Promise<boolean> {
    return this.revocations.removeRevocation(id);
  }

  activeRevocations(): Promise<Revocation[]> {
    return this.revocations.activeRevocations();
  }

  revocationsVersion(): Promise<string> {
    return this.revocations.revocationsVersion();
  }

  onRevocationChange(listener: RevocationListener): void {
    this.revocations.onRevocationChange(listener);
  }

  reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void> {
    return this.watchers.reportWatchers(replicaId, changed, liveForMs);
  }

  retireReplica(replicaId: string): Promise<void> {
    return this.watchers.retireReplica(replicaId);
  }

  watcherCount(subject: TenantSubject): Promise<number> {
    return this.watchers.watcherCount(subject);
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
    this.subjectCounts.clear();
    this.activities.clear();
    this.listeners.clear();
  }

  private expireIn(key: string, stored: StoredSubject, ms: number): void {
    stored.expiresAt = Date.now() + ms;
    this.armExpiry(key, stored, stored.expiresAt);
  }

  /** A timer lasts at most MAX_TIMER_MS (Node fires a longer one at once): a later expiry takes several. */
  private armExpiry(key: string, stored: StoredSubject, at: number): void {
    clearTimeout(stored.expiry);
    const left = at - Date.now();
    stored.expiry = setTimeout(() => (left > MAX_TIMER_MS ? this.armExpiry(key, stored, at) : this.forget(key, stored.subject.tenant)), Math.max(0, Math.min(left, MAX_TIMER_MS)));
    stored.expiry.unref();
  }

  /** A subject's history expired; with the tenant's last one, its activity goes too (as Redis expires the tenant's keys). */
  private forget(key: string, tenant: string): void {
    this.subjects.delete(key);
    const left = (this.subjectCounts.get(tenant) ?? 1) - 1;
    if (left > 0) {
      this.subjectCounts.set(tenant, left);
      return;
    }
    this.subjectCounts.delete(tenant);
    this.activities.delete(subjectKeyString(activityOf(tenant)));
  }

  private msUntilASubjectExpires(tenant: string): number | undefined {
    let soonest: number | undefined;
    for (const stored of this.subjects.values()) {
      if (stored.subject.tenant === tenant && stored.expiresAt !== undefined) soonest = Math.min(soonest ?? Infinity, stored.expiresAt);
    }
    return soonest === undefined ? undefined : Math.max(0, soonest - Date.now());
  }

  private stream(ref: StreamRef): StoredStream | undefined {
    const key = subjectKeyString(ref);
    return ref.kind === 'activity' ? this.activities.get(key) : this.subjects.get(key);
  }

  /** Appends frames of consecutive seqs, trims to the retention, and publishes them as one batch. */
  private store(key: string, stream: StoredStream, frames: { seq: number; frame: string; terminal: boolean }[], at: string): void {
    for (const { seq, frame, terminal } of frames) stream.entries.push({ seq, frame: Buffer.from(frame), terminal });
    const excess = stream.entries.length - this.options.historyMaxLen;
    if (excess > 0) stream.entries.splice(0, excess);
    const last = frames[frames.length - 1]!;
    stream.lastSeq = last.seq;
    stream.terminal = last.terminal;
    stream.updatedAt = at;
    const message = Buffer.from(encodeBatchMessage(frames[0]!.seq, last.seq, last.terminal, frames.map((f) => f.frame).join('')));
    const listener = this.listeners.get(key);
    // Delivered on a later turn, as a real pub/sub message would be.
    if (listener) setImmediate(() => listener(decodeBatchMessage(message)!));
  }

  /**
   * The status changes an append stored, in the tenant's activity. Recorded in the same synchronous
   * step as the append, so unlike Redis's record (lua/includes/record-subject.lua), which can fail
   * after its append, it never has one to repair.
   */
  private recordActivity(tenant: string, updates: ActivityUpdate[], at: string): void {
    if (updates.length === 0) return;
    const key = subjectKeyString(activityOf(tenant));
    const activity = this.activities.get(key) ?? { epoch: newEpoch(), lastSeq: 0, status: 'active', terminal: false, updatedAt: at, entries: [] };
    const frames = updates.map((update, i) => {
      const seq = activity.lastSeq + i + 1;
      return { seq, frame: activityFrame(activity.epoch, seq, update.json), terminal: false };
    });
    this.activities.set(key, activity);
    this.store(key, activity, frames, at);
  }
}

/**
 * The ids of events no longer retained leave the idempotency index, as Redis's append does
 * (lua/includes/append-events.lua): memory is bounded by the history, and a retry of such an event is
 * checked as a new one. A Map iterates in insertion order, which is seq order (an id is set again
 * only after it left).
 */
function forgetTrimmedIds(stored: StoredSubject): void {
  const firstRetained = stored.entries[0]?.seq ?? stored.lastSeq + 1;
  for (const [eventId, seq] of stored.eventIds) {
    if (seq >= firstRetained) break;
    stored.eventIds.delete(eventId);
  }
}
