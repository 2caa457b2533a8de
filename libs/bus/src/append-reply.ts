import { PublishedEvent, SubjectKind, isRefusalRule, refusalReason } from '@fanout/contracts';
import { transitionRefused, withholdAfterRefusal } from './append-refusals';
import { AppendOutcome } from './bus';
import { AppendDeadlineError } from './deadline';
import { luaString } from './lua-literals';

/** The codes the append scripts answer with; they get them as their `append-reply` include. */
const STORED = 1;
const DUPLICATE = 2;
const REFUSED = 0;
/** The answer when asked to store only for an existing subject, and it has no history. */
const NEW_SUBJECT = 'new';
/** The first element of the answer `{OVER_QUOTA, msUntilAnEntryLapses}` (append-and-record-9.lua): a new subject over its tenant's quota, nothing stored. */
const OVER_QUOTA = 'quota';
/** The error the script answers, followed by how many ms late it ran, when it stored nothing because it ran after the append's deadline. */
const DEADLINE_PASSED = 'FANOUT_DEADLINE';
/** The error the script answers, followed by the channel, when the Redis user's ACL may not publish on it: nothing stored. */
const PUBLISH_DENIED = 'FANOUT_NOPUBLISH';

export function appendReplyLua(): string {
  return [
    `local STORED, DUPLICATE, REFUSED = ${STORED}, ${DUPLICATE}, ${REFUSED}`,
    `local NEW_SUBJECT = ${luaString(NEW_SUBJECT)}`,
    `local OVER_QUOTA = ${luaString(OVER_QUOTA)}`,
    `local DEADLINE_PASSED = ${luaString(DEADLINE_PASSED)}`,
    `local PUBLISH_DENIED = ${luaString(PUBLISH_DENIED)}`,
  ].join('\n');
}

/** Per event: stored or duplicate with its seq, or refused: {REFUSED, rule, current, requested, expectedAttempt?}. */
type RawOutcome = [typeof STORED | typeof DUPLICATE, number] | [typeof REFUSED, string, string, string, number?];
type RawState = [] | [string, number, string, '0' | '1', string | number, string, string, number | '', '1' | ''];

type RawOverQuota = [typeof OVER_QUOTA, number];

export type RawAppendReply = typeof NEW_SUBJECT | RawOverQuota | [RawOutcome[], RawState, string?];

export function isNewSubjectReply(raw: RawAppendReply): raw is typeof NEW_SUBJECT {
  return raw === NEW_SUBJECT;
}

/** Undefined unless the answer refused a new subject for its tenant's quota; else when an entry lapses, in ms (-1: none is due). */
export function overQuotaReply(raw: RawAppendReply): { msUntilAnEntryLapses: number } | undefined {
  if (!Array.isArray(raw) || raw[0] !== OVER_QUOTA) return undefined;
  return { msUntilAnEntryLapses: Number(raw[1]) };
}

/** The bus's own error for the script's deadline and publish-denied answers; any other error as it was. */
export function appendError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith(`${DEADLINE_PASSED} `)) return new AppendDeadlineError(Number(message.slice(DEADLINE_PASSED.length + 1)));
  if (message.startsWith(`${PUBLISH_DENIED} `)) {
    const channel = message.slice(PUBLISH_DENIED.length + 1);
    return new Error(`the Redis user may not publish on ${channel} (its ACL lacks the channel: allow &fo:*): nothing was stored`);
  }
  return error;
}

/** The last status event of a subject. */
export interface StoredStatus {
  seq: number;
  status: string;
  at: string;
}

/** A subject as an append left it: what its tenant's record needs (see lua/includes/record-subject.lua). */
export interface SubjectState {
  epoch: string;
  lastSeq: number;
  /** publishedAt of its last stored append. */
  storedAt: string;
  terminal: boolean;
  /** Epoch ms its unfinished history expires if no append comes (none: finished, or no idle expiry). */
  liveUntilMs?: number;
  /** Its last status event stored before this append, if any. */
  previousStatus?: StoredStatus;
}

export interface AppendReply {
  outcomes: AppendOutcome[];
  /** Undefined when the subject has no history (nothing stored, now or before). */
  state?: SubjectState;
  /** append-and-record-9.lua's record: the activity's `<epoch>:<lastSeq>` when it appended to it, else ''. */
  activity?: string;
}

export function parseAppendReply(kind: SubjectKind, events: readonly PublishedEvent[], raw: RawAppendReply): AppendReply {
  if (isNewSubjectReply(raw)) throw new Error('the append answered for a new subject although asked to store');
  if (overQuotaReply(raw)) throw new Error('the append answered over quota: its caller answers that before parsing');
  const [rawOutcomes, rawState, activity] = raw as [RawOutcome[], RawState, string?];
  const answered = rawOutcomes.map((r, i) => toOutcome(kind, events[i]!, r));
  if (rawState.length === 0) return { outcomes: withholdAfterRefusal(answered, 0) };
  const [epoch, lastSeq, storedAt, terminal, statusSeq, status, statusAt, liveUntil, archived] = rawState;
  // An archived subject takes nothing, and its tenant's record leaves it alone (lua/finish-archive-4.lua).
  if (archived === '1') return { outcomes: withholdAfterRefusal(answered, Number(lastSeq)) };
  const state: SubjectState = { epoch, lastSeq: Number(lastSeq), storedAt, terminal: terminal === '1' };
  if (liveUntil !== undefined && liveUntil !== '') state.liveUntilMs = Number(liveUntil);
  if (statusSeq !== '') state.previousStatus = { seq: Number(statusSeq), status, at: statusAt };
  return { outcomes: withholdAfterRefusal(answered, state.lastSeq), state, ...(activity ? { activity } : {}) };
}

function toOutcome(kind: SubjectKind, event: PublishedEvent, raw: RawOutcome): AppendOutcome {
  if (raw[0] !== REFUSED) return { eventId: event.eventId, seq: raw[1], duplicate: raw[0] === DUPLICATE };
  const [, rule, current, requested, expectedAttempt] = raw;
  if (!isRefusalRule(rule)) throw new Error(`the append answered an unknown refusal rule: ${rule}`);
  const refusal = expectedAttempt === undefined ? { rule, current, requested } : { rule, current, requested, expectedAttempt };
  return transitionRefused(event.eventId, { current, requested, reason: refusalReason(kind, event, refusal) });
}
