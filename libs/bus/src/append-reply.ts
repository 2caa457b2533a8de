import { PublishedEvent } from '@fanout/contracts';
import { AppendOutcome } from './bus';

type RawOutcome = [1 | 2, number] | [0, string, string, string] | [3];
type RawState = [] | [string, number, string, '0' | '1', string | number, string, string];

/** What append-4.lua answers: 'new' when asked to store only for an existing subject and it has no history. */
export type RawAppendReply = 'new' | [RawOutcome[], RawState];

/** The last status event of a subject. */
export interface StoredStatus {
  seq: number;
  status: string;
  at: string;
}

/** A subject as an append left it: what its tenant's record needs (see record-subject-5.lua). */
export interface SubjectState {
  epoch: string;
  lastSeq: number;
  /** publishedAt of its last stored append. */
  storedAt: string;
  terminal: boolean;
  /** Its last status event stored before this append, if any. */
  previousStatus?: StoredStatus;
}

export interface AppendReply {
  outcomes: AppendOutcome[];
  /** Undefined when the subject has no history (nothing stored, now or before). */
  state?: SubjectState;
}

export function parseAppendReply(events: readonly PublishedEvent[], raw: RawAppendReply): AppendReply {
  if (raw === 'new') throw new Error('the append answered for a new subject although asked to store');
  const [rawOutcomes, rawState] = raw;
  const outcomes = rawOutcomes.map((r, i) => toOutcome(events[i]!.eventId, r));
  if (rawState.length === 0) return { outcomes };
  const [epoch, lastSeq, storedAt, terminal, statusSeq, status, statusAt] = rawState;
  const state: SubjectState = { epoch, lastSeq: Number(lastSeq), storedAt, terminal: terminal === '1' };
  if (statusSeq !== '') state.previousStatus = { seq: Number(statusSeq), status, at: statusAt };
  return { outcomes, state };
}

function toOutcome(eventId: string, raw: RawOutcome): AppendOutcome {
  switch (raw[0]) {
    case 1:
      return { eventId, seq: raw[1], duplicate: false };
    case 2:
      return { eventId, seq: raw[1], duplicate: true };
    case 0:
      return { eventId, error: { code: 'transition', current: raw[1], requested: raw[2], reason: raw[3] } };
    default:
      return {
        eventId,
        error: { code: 'not_stored', current: '', requested: '', reason: 'not stored: another event of this subject was refused' },
      };
  }
}
