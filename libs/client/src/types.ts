import { CONFLATABLE_EVENT_TYPES, EventType, GapReason, StreamedEvent, Subject, SubjectUpdate } from '@fanout/contracts';
import { SubjectRef } from './subjects';

/** connecting → live ⇄ reconnecting → ended (ended is final). */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'ended';

/** Where an event came from: its stream id (a cursor of every subject on a multi-subject stream). */
export interface EventMeta {
  id: string;
  subject: Subject;
}

/**
 * Something is missing from a subject's sequence: announced by the server (its history no longer
 * holds what the client needs), or seen by the client itself (seqs skipped; this should never happen).
 */
export type GapNotice =
  | { source: 'server'; subject: Subject; reason: GapReason; firstAvailableSeq: number }
  | { source: 'client'; subject: Subject; reason: 'seq_skipped'; expectedSeq: number; receivedSeq: number };

export type ClientErrorKind =
  /** A frame the contract does not allow (it is not delivered). */
  | 'invalid_frame'
  /** The gateway refused the stream (`status`: the EventSource's, or that of one fetch of the same URL) or the connection failed. */
  | 'connection'
  /** getToken() failed, or a token expired with no getToken to renew it. */
  | 'token';

export interface ClientError {
  kind: ClientErrorKind;
  message: string;
  status?: number;
  /** The subscription ends with this error (`ended` follows); otherwise the client carries on (retrying, for a connection error). */
  final: boolean;
}

/** The part of an EventSource the client uses (the browser's, or e.g. the `eventsource` package's). */
export interface EventSourceLike {
  readonly readyState: number;
  /** Frames arrive as MessageEvents; an `error` event of the `eventsource` package also carries `code` and `message`. */
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

/** The second argument of the EventSource constructor. `fetch` is honoured by fetch-based implementations (the `eventsource` package), ignored by browsers. */
export interface EventSourceInitLike {
  withCredentials?: boolean;
  fetch?: (url: string | URL, init: { headers?: Record<string, string> }) => Promise<Response>;
}

export type EventSourceConstructor = new (url: string, init?: EventSourceInitLike) => EventSourceLike;

export const DEFAULT_RECONNECT_DELAY_MS = 1000;
export const DEFAULT_SHARED_HISTORY_LIMIT = 10_000;

/** What every subscription takes: where the gateway is, how to authenticate, what to call on state changes. */
export interface StreamOptions {
  /** The gateway's origin (and path prefix, if any), e.g. `https://events.example.com`; `''` for the page's own origin. */
  baseUrl: string;
  /** A JWT with `stream:read`; sent as `?access_token=` (EventSource cannot set headers). */
  token?: string;
  /**
   * Called for a new token when the stream ends with `token_expired` (no argument), and when the
   * gateway refuses the token (`refusedWith`: 401 for a missing, malformed, expired or badly signed
   * one, 403 for one without `stream:read`), at most twice in a row.
   */
  getToken?: (refusedWith?: 401 | 403) => string | Promise<string>;
  /**
   * `X-Tenant` for a gateway with `FANOUT_AUTH=none`. Only fetch-based EventSource implementations
   * (such as the `eventsource` package) can send it; a browser's EventSource cannot.
   */
  tenant?: string;
  /** Sent with cookies across origins (EventSource's `withCredentials`): the gateway must list the page's origin by name in `FANOUT_CORS_ORIGINS` (`*` allows no credentials). */
  withCredentials?: boolean;
  onState: (state: ConnectionState) => void;
  onError?: (error: ClientError) => void;
  /** Defaults to `globalThis.EventSource`; in Node pass one (e.g. `import { EventSource } from 'eventsource'`). */
  EventSource?: EventSourceConstructor;
  /**
   * First delay before reopening a stream the EventSource gave up on, or that failed to reconnect
   * twice in a row; doubles up to 30 s, each delay taken at random between its half and itself.
   * @default {@link DEFAULT_RECONNECT_DELAY_MS}
   */
  reconnectDelayMs?: number;
}

export interface SubscribeOptions extends StreamOptions {
  /** One subject (the single-subject route) or up to 100 (one multi-subject stream). */
  subjects: readonly SubjectRef[];
  /** Every event, validated, once, in seq order per subject. */
  onEvent: (event: StreamedEvent, meta: EventMeta) => void;
  onGap?: (gap: GapNotice) => void;
  /** In browsers sharing one connection across tabs: whether this tab holds the connection. */
  onRole?: (role: 'leader' | 'follower') => void;
  /**
   * Share one connection among the tabs of this origin that subscribe to the same subjects (Web
   * Locks + BroadcastChannel).
   * @default true in a browser page that has both
   */
  shareAcrossTabs?: boolean;
  /** Events a tab keeps to hand to tabs that join later. @default {@link DEFAULT_SHARED_HISTORY_LIMIT} */
  sharedHistoryLimit?: number;
  /**
   * Start at each subject's last `tail` events (1–10,000) rather than its first retained one; a pack
   * run's latest status and step events come first. Seqs then start past 1 and jump after those
   * events: until the stream first resumes, such jumps are not reported as gaps (`onGap` still gets
   * the server's `gap` frames); once it resumes (from the last id received) every seq is checked.
   */
  tail?: number;
  /**
   * Only events of these types are sent (`?types=`). Ids and resume stay exact; the seqs of the
   * events left out are not reported as gaps (seqs are then only checked to increase).
   */
  types?: readonly EventType[];
  /**
   * `'progress'`: when this client falls behind, the gateway skips job.progress and run.progress
   * events superseded by a later one of the same subject (never status, step or log events) and says
   * so (`onConflated`). Seqs are then only checked to increase.
   */
  conflate?: 'progress';
  /** What the gateway skipped because this client fell behind (`conflate: 'progress'`). */
  onConflated?: (notice: ConflatedNotice) => void;
}

/** The subject's `type` events from firstSeq to lastSeq (`skipped` of them) were superseded by a later one and not sent; every other event in that range was. */
export interface ConflatedNotice {
  subject: Subject;
  type: (typeof CONFLATABLE_EVENT_TYPES)[number];
  skipped: number;
  firstSeq: number;
  lastSeq: number;
}

/** The activity stream's history no longer holds what the client needs: updates from `firstAvailableSeq` of the activity follow. */
export interface ActivityGap {
  reason: GapReason;
  firstAvailableSeq: number;
}

export interface ActivityOptions extends StreamOptions {
  /** Every status change of a subject of the tenant, validated, in the order the gateway stored them. */
  onUpdate: (update: SubjectUpdate, meta: { id: string }) => void;
  onGap?: (gap: ActivityGap) => void;
}
