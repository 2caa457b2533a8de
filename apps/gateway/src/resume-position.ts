import { GapReason } from '@fanout/contracts';
import { SubjectInfo, parseEventId } from '@fanout/bus';
import { HttpProblem } from '@fanout/http';

export type ResumePlan =
  | { kind: 'done' }
  | { kind: 'stream'; afterSeq: number; gap?: { reason: GapReason; firstAvailableSeq: number } };

/** `Last-Event-ID` wins over `?lastEventId=`; an empty one counts as none. */
export function resumeText(header: string | undefined, query: unknown): string | undefined {
  if (header !== undefined && header !== '') return header;
  if (typeof query === 'string' && query !== '') return query;
  return undefined;
}

/**
 * Where a stream starts, from the client's resume position and the subject's place in the store:
 * replay after a seq (with a `gap` first when history is missing), or nothing at all (204).
 */
export function planResume(text: string | undefined, info: SubjectInfo): ResumePlan {
  if (text === undefined) {
    return info.firstSeq > 1
      ? { kind: 'stream', afterSeq: 0, gap: { reason: 'history_trimmed', firstAvailableSeq: info.firstSeq } }
      : { kind: 'stream', afterSeq: 0 };
  }
  const position = parseEventId(text);
  if (!position) throw new HttpProblem(400, `malformed resume position ${JSON.stringify(text.slice(0, 64))}: expected an event id of this stream`);
  if (position.epoch !== info.epoch) {
    return { kind: 'stream', afterSeq: 0, gap: { reason: 'history_lost', firstAvailableSeq: info.firstSeq } };
  }
  if (position.seq > info.lastSeq) {
    throw new HttpProblem(400, `resume position ${text} is ahead of the subject's last event (seq ${info.lastSeq})`);
  }
  if (info.terminal && position.seq === info.lastSeq) return { kind: 'done' };
  if (position.seq < info.firstSeq - 1) {
    return { kind: 'stream', afterSeq: position.seq, gap: { reason: 'history_trimmed', firstAvailableSeq: info.firstSeq } };
  }
  return { kind: 'stream', afterSeq: position.seq };
}
