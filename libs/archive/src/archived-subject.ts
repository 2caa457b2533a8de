import { SubjectKind } from '@fanout/contracts';
import { HistoryEntry, SubjectInfo } from '@fanout/bus';

/**
 * A finished subject as the archive holds it: its place (what `Bus.info` answered when it was
 * archived) and its retained entries, frames byte for byte as the store kept them, so every read
 * route serves it with the same ids, seqs and frames.
 */
export interface ArchivedSubject {
  tenant: string;
  kind: SubjectKind;
  id: string;
  info: SubjectInfo;
  /** Seqs info.firstSeq..info.lastSeq in order: consecutive, but for seqs a store lost (a hole). */
  entries: HistoryEntry[];
}

const MAGIC = 'fanout-archive 1\n';

interface Header {
  tenant: string;
  kind: SubjectKind;
  id: string;
  info: SubjectInfo;
  count: number;
}

/**
 * One object per subject: `fanout-archive 1\n`, a JSON header line, then per entry a line
 * `<seq> <terminal 0|1> <bytes>\n` and the frame's bytes. The same subject always encodes to the same
 * bytes, so a retried write of it is the same object.
 */
export function encodeArchivedSubject(subject: ArchivedSubject): Buffer {
  const header: Header = { tenant: subject.tenant, kind: subject.kind, id: subject.id, info: subject.info, count: subject.entries.length };
  const parts: Buffer[] = [Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`)];
  for (const entry of subject.entries) {
    parts.push(Buffer.from(`${entry.seq} ${entry.terminal ? 1 : 0} ${entry.frame.length}\n`), entry.frame);
  }
  return Buffer.concat(parts);
}

export class MalformedArchiveError extends Error {
  constructor(what: string, reason: string) {
    super(`the archived object of ${what} is malformed: ${reason}`);
    this.name = 'MalformedArchiveError';
  }
}

export function decodeArchivedSubject(bytes: Buffer, what: string): ArchivedSubject {
  const fail = (reason: string): never => {
    throw new MalformedArchiveError(what, reason);
  };
  if (bytes.subarray(0, MAGIC.length).toString() !== MAGIC) fail('it does not start with its format line');
  let at = MAGIC.length;
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail(`a line at byte ${at} has no end`);
    const text = bytes.subarray(at, end).toString();
    at = end + 1;
    return text;
  };
  const header = JSON.parse(line()) as Header;
  const entries: HistoryEntry[] = [];
  for (let i = 0; i < header.count; i += 1) {
    const match = /^(\d+) ([01]) (\d+)$/.exec(line());
    if (!match) return fail(`entry ${i + 1} has no valid header line`);
    const length = Number(match[3]);
    if (at + length > bytes.length) fail(`entry ${i + 1} is cut short`);
    // A copy: a frame kept elsewhere (a replica's cached history pages) must not hold the whole object.
    entries.push({ seq: Number(match[1]), terminal: match[2] === '1', frame: Buffer.from(bytes.subarray(at, at + length)) });
    at += length;
  }
  if (at !== bytes.length) fail('bytes follow its last entry');
  const { firstSeq, lastSeq } = header.info;
  const inOrder = entries.every((e, i) => (i === 0 ? e.seq === firstSeq : e.seq > entries[i - 1]!.seq));
  if (!inOrder || (entries.length > 0 ? entries[entries.length - 1]!.seq !== lastSeq : firstSeq <= lastSeq)) fail('its entries are not the seqs its header names, in order');
  return { tenant: header.tenant, kind: header.kind, id: header.id, info: header.info, entries };
}
