import { PublishedEvent, Revocation, SubjectKind, TenantSubject } from '@fanout/contracts';

/** A tenant's activity stream: one `subject.updated` frame per status change of any of its subjects. */
export interface ActivityRef {
  tenant: string;
  kind: 'activity';
}

/** Anything with a history and a live channel: a subject, or a tenant's activity. */
export type StreamRef = TenantSubject | ActivityRef;

export function activityOf(tenant: string): ActivityRef {
  return { tenant, kind: 'activity' };
}

export type AppendOutcome =
  | { eventId: string; seq: number; duplicate: boolean }
  | { eventId: string; error: AppendRefusal };

export interface AppendRefusal {
  /**
   * `transition`: this event broke the state machine; `not_stored`: another event of its subject
   * did; `quota`: the subject is new and its tenant holds its maximum of subjects.
   */
  code: 'transition' | 'not_stored' | 'quota';
  current: string;
  requested: string;
  reason: string;
  /** `quota`: when a retry may be admitted. */
  retryAfterSeconds?: number;
}

/** A subject's place in the store, read before serving it. */
export interface SubjectInfo {
  epoch: string;
  lastSeq: number;
  /** The oldest seq still retained (lastSeq + 1 when nothing is). */
  firstSeq: number;
  status: string;
  terminal: boolean;
  updatedAt: string;
}

export interface HistoryEntry {
  seq: number;
  /** The finished SSE frame, `id:` line included. */
  frame: Buffer;
  terminal: boolean;
}

/** One pub/sub message: the frames of consecutive seqs firstSeq..lastSeq, published together. */
export interface LiveBatch {
  firstSeq: number;
  lastSeq: number;
  /** The last frame is the subject's terminal event. */
  terminal: boolean;
  frames: Buffer;
  /** The epoch of the frames' ids, read once when the batch is decoded. */
  epoch?: string;
}

export interface SubjectSummary {
  kind: SubjectKind;
  id: string;
  status: string;
  seq: number;
  updatedAt: string;
}

export type BatchListener = (batch: LiveBatch) => void;
export type ConnectionListener = (event: 'down' | 'up') => void;

/** A revocation stored or lifted: told to every replica (the one that made it too). */
export type RevocationChange = { kind: 'added'; revocation: Revocation } | { kind: 'removed'; id: string };
export type RevocationListener = (change: RevocationChange) => void;

/**
 * Revocations shared by every replica: stored until each expires (so a replica that starts later
 * loads them) and announced over the pub/sub path as they change.
 */
export interface RevocationStore {
  /** Stores it until its `expiresAt` and announces it; false (nothing stored) when `maxActive` are active already. */
  addRevocation(revocation: Revocation, maxActive: number): Promise<boolean>;
  /** Lifts it and announces that; false when no active revocation has that id. */
  removeRevocation(id: string): Promise<boolean>;
  /** Every revocation that has not expired. */
  activeRevocations(): Promise<Revocation[]>;
  /**
   * Changes whenever a revocation is added or lifted (not when one expires), and takes no value again
   * while a revocation it was changed for would not have expired. Read before `activeRevocations`, it
   * tells a reload whether anything changed since the last. '' before the first change (or once every
   * revocation it was changed for would have expired).
   */
  revocationsVersion(): Promise<string>;
  /** Told of every change announced from now on (a change missed while the path was down is not repeated: reload). */
  onRevocationChange(listener: RevocationListener): void;
}

/** How many of a replica's open streams follow one subject (0: none any more). */
export interface WatcherCount {
  subject: TenantSubject;
  count: number;
}

/**
 * Watcher counts summed over replicas. Each replica reports only the counts that changed, and that
 * it is alive; the counts of a replica that stops saying so no longer count once `liveForMs` passed.
 */
export interface WatcherStore {
  reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void>;
  /** The replica leaves: its counts stop counting at once. */
  retireReplica(replicaId: string): Promise<void>;
  /** The open streams following the subject on every live replica. */
  watcherCount(subject: TenantSubject): Promise<number>;
}

/**
 * The store and the pub/sub path. Appends are atomic per subject: validation against the state
 * machine, idempotency, seq, storage, trimming and publishing happen as one step.
 */
export interface Bus extends RevocationStore, WatcherStore {
  /**
   * With a `deadline` (epoch ms) the append rejects once it passes, and stores nothing if the store
   * would only get to it after that: a rejected append is safe to retry.
   */
  append(subject: TenantSubject, events: readonly PublishedEvent[], deadline?: number): Promise<AppendOutcome[]>;
  info(ref: StreamRef): Promise<SubjectInfo | null>;
  /** Retained entries with seq > afterSeq, oldest first, at most `limit`. */
  history(ref: StreamRef, afterSeq: number, limit: number): Promise<HistoryEntry[]>;
  /**
   * The retained entries of the subject's latest status event and of each step's latest
   * `pack_run.step` event (the events that say its current state), those with seq < beforeSeq,
   * oldest first: what a stream started at `?tail=` sends before the tail.
   */
  latestStateEntries(subject: TenantSubject, beforeSeq: number): Promise<HistoryEntry[]>;
  recentSubjects(tenant: string, kind: SubjectKind | undefined, limit: number): Promise<SubjectSummary[]>;
  /** One listener per subject; resolves once live batches are flowing. */
  subscribe(ref: StreamRef, listener: BatchListener): Promise<void>;
  unsubscribe(ref: StreamRef): Promise<void>;
  /** Number of subject subscriptions held. */
  subscriptionCount(): number;
  /** Told when the subscription path is lost, and when it is back after a loss (every subscription restored). */
  onConnection(listener: ConnectionListener): void;
  /** Resolves once a canary went through the store and back over the subscription path. */
  probe(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}
