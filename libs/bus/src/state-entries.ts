import { TenantSubject } from '@fanout/contracts';
import { HistoryEntry } from './bus';
import { subjectKeys } from './keys';
import { CommandConnection } from './redis-connections';

/** Entries read per call of step-events-3.lua: what Redis is held for at most, per call. */
export const STEP_SCAN_PAGE = 1000;

const EVENT_LINE = Buffer.from('\nevent: ');
const NEWLINE = 0x0a;

/** The event type of a stored frame (`event:` line), read without parsing its JSON. */
export function eventTypeOf(frame: Buffer): string {
  const at = frame.indexOf(EVENT_LINE);
  if (at < 0) return '';
  const start = at + EVENT_LINE.length;
  return frame.toString('latin1', start, frame.indexOf(NEWLINE, start));
}

const STEP_INDEX = /"stepIndex":(\d+)/;

/** A `pack_run.step` frame's step index (data.stepIndex: the only unescaped `"stepIndex":` of its JSON). */
export function stepIndexOf(frame: Buffer): number | undefined {
  const match = STEP_INDEX.exec(frame.toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

/**
 * Of the retained entries of the subject's latest status event and of each step's latest
 * `pack_run.step` event, those with seq < beforeSeq, oldest first; `entries` are the subject's
 * retained entries, oldest first (the in-memory bus's). What `Bus.latestStateEntries` answers.
 */
export function latestStateEntriesOf(entries: readonly HistoryEntry[], beforeSeq: number): HistoryEntry[] {
  const found: HistoryEntry[] = [];
  const steps = new Set<number>();
  let statusFound = false;
  for (let i = entries.length - 1; i >= 0; i -= 1) {
    const entry = entries[i]!;
    const type = eventTypeOf(entry.frame);
    let latest = false;
    if (type.endsWith('.status') && !statusFound) {
      statusFound = true;
      latest = true;
    } else if (type === 'pack_run.step') {
      const index = stepIndexOf(entry.frame);
      if (index !== undefined && !steps.has(index)) {
        steps.add(index);
        latest = true;
      }
    }
    if (latest && entry.seq < beforeSeq) found.push(entry);
  }
  return found.reverse();
}

type StepPageReply = [string, number, string, ...(string | number | Buffer)[]];
type StepEventsConnection = CommandConnection & {
  fanoutStepEventsBuffer(meta: string, stream: string, steps: string, upper: string, pageSize: number): Promise<StepPageReply>;
};

/**
 * `latestStateEntries` on Redis: the status event's seq is the meta hash's `ls`; each step's latest
 * event is found by reading the history backwards a page at a time (lua/step-events-3.lua) until
 * every step of the steps hash was met, or the history's start. At worst that reads the retained
 * history (FANOUT_HISTORY_MAXLEN entries) in pages of {@link STEP_SCAN_PAGE}; only step frames travel.
 */
export async function readLatestStateEntries(
  command: CommandConnection,
  subject: TenantSubject,
  beforeSeq: number,
  history: (afterSeq: number, limit: number) => Promise<HistoryEntry[]>,
): Promise<HistoryEntry[]> {
  const keys = subjectKeys(subject);
  const connection = command as StepEventsConnection;
  const steps = new Map<number, HistoryEntry>();
  let statusSeq = 0;
  let upper = '';
  // Bounded: each page moves `upper` down by a full page, and the history holds finitely many.
  for (let pages = 0; pages < 1_000_000; pages += 1) {
    const reply = await connection.fanoutStepEventsBuffer(keys.meta, keys.stream, keys.steps, upper, STEP_SCAN_PAGE);
    if (pages === 0) statusSeq = Number(String(reply[0])) || 0;
    const stepCount = Number(reply[1]);
    for (let i = 3; i + 3 < reply.length; i += 4) {
      const seq = Number(String(reply[i]));
      const index = Number(String(reply[i + 1]));
      if (String(reply[i + 1]) === '' || steps.has(index)) continue;
      steps.set(index, { seq, frame: reply[i + 2] as Buffer, terminal: String(reply[i + 3]) === '1' });
    }
    upper = String(reply[2]);
    if (upper === '' || steps.size >= stepCount) break;
  }
  const found = [...steps.values()].filter((entry) => entry.seq < beforeSeq);
  if (statusSeq > 0 && statusSeq < beforeSeq) {
    const [entry] = await history(statusSeq - 1, 1);
    if (entry?.seq === statusSeq) found.push(entry);
  }
  return found.sort((a, b) => a.seq - b.seq);
}
