import { GapReason, MAX_STREAM_TAIL } from '@fanout/contracts';
import { EventPosition, SubjectInfo } from '@fanout/bus';
import { HttpProblem } from '@fanout/http';

export type Gap = { reason: GapReason; firstAvailableSeq: number };

export type ResumePlan = { kind: 'done' } | StreamPlan;
export type StreamPlan = { kind: 'stream'; afterSeq: number; gap?: Gap };


/** `?tail=`: undefined when absent (or empty), else an integer 1..MAX_STREAM_TAIL, else a 400. */
export function parseTail(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || text === '') return undefined;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_STREAM_TAIL)) {
    throw new HttpProblem(400, `invalid tail ${JSON.stringify(text.slice(0, 32))}: expected an integer from 1 to ${MAX_STREAM_TAIL}`, {
      errors: [{ path: 'tail', message: `an integer from 1 to ${MAX_STREAM_TAIL}` }],
    });
  }
  return n;
}

/**
 * A stream without a resume position that starts at the last `tail` events: replay after
 * lastSeq − tail (no gap: the client asked to skip what is before), or, when the history retains
 * fewer, from its first retained event after a `gap` `history_trimmed`, as a stream from the start would.
 */
export function planTail(tail: number, info: SubjectInfo): StreamPlan {
  const start = Math.max(1, info.lastSeq - tail + 1);
  if (start < info.firstSeq) return { kind: 'stream', afterSeq: start - 1, gap: { reason: 'history_trimmed', firstAvailableSeq: info.firstSeq } };
  return { kind: 'stream', afterSeq: start - 1 };
}

/** `Last-Event-ID` wins over `?lastEventId=`; an empty one counts as none. */
export function resumeText(header: string | undefined, query: unknown): string | undefined {
  if (header !== undefined && header !== '') return header;
  if (typeof query === 'string' && query !== '') return query;
  return undefined;
}

export function malformedResume(text: string): HttpProblem {
  return new HttpProblem(400, `malformed resume position ${JSON.stringify(text.slice(0, 64))}: expected an event id of this stream`);
}

/**
 * Where a subject's stream starts, from the client's position (its `epoch` may be a prefix of the
 * full epoch, as multi-subject cursors keep) and the subject's place in the store: replay after a
 * seq, with a `gap` first when history is missing, or nothing at all (the client has it all: 204).
 */
export function planResume(position: EventPosition | undefined, info: SubjectInfo): ResumePlan {
  if (position === undefined) {
    return info.firstSeq > 1
      ? { kind: 'stream', afterSeq: 0, gap: { reason: 'history_trimmed', firstAvailableSeq: info.firstSeq } }
      : { kind: 'stream', afterSeq: 0 };
  }
  if (!info.epoch.startsWith(position.epoch)) {
    return { kind: 'stream', afterSeq: 0, gap: { reason: 'history_lost', firstAvailableSeq: info.firstSeq } };
  }
  if (position.seq > info.lastSeq) {
    throw new HttpProblem(400, `the resume position (seq ${position.seq}) is ahead of the stream's last event (seq ${info.lastSeq})`);
  }
  if (info.terminal && position.seq === info.lastSeq) return { kind: 'done' };
  if (position.seq < info.firstSeq - 1) {
    return { kind: 'stream', afterSeq: position.seq, gap: { reason: 'history_trimmed', firstAvailableSeq: info.firstSeq } };
  }
  return { kind: 'stream', afterSeq: position.seq };
}
