import { HistoryEntry, SubjectInfo } from '@fanout/bus';
import { ArchivedSubject, MalformedArchiveError, decodeArchivedSubject, encodeArchivedSubject } from '../src';
import { archivedHistory } from '../src/archive-reading-bus';

const info: SubjectInfo = { epoch: 'e1', lastSeq: 4, firstSeq: 2, status: 'succeeded', terminal: true, updatedAt: '2026-12-04T10:00:00.000Z' };
const frame = (seq: number, text: string): Buffer => Buffer.from(`id: e1-${seq}\nevent: pack_run.log\ndata: {"seq":${seq},"message":${JSON.stringify(text)}}\n\n`);
const entries: HistoryEntry[] = [
  { seq: 2, frame: frame(2, 'ünïcødé ✓'), terminal: false },
  { seq: 3, frame: Buffer.concat([frame(3, 'raw bytes'), Buffer.from([0xff, 0x00, 0x0a])]), terminal: false },
  { seq: 4, frame: frame(4, 'done'), terminal: true },
];
const subject: ArchivedSubject = { tenant: 'acme', kind: 'pack-run', id: 'p:1', info, entries };

describe('the archived object of a subject', () => {
  it('holds its place and its frames byte for byte', () => {
    const decoded = decodeArchivedSubject(encodeArchivedSubject(subject), 'p:1');
    expect(decoded).toEqual(subject);
    decoded.entries.forEach((entry, i) => expect(entry.frame.equals(entries[i]!.frame)).toBe(true));
  });

  it('is the same bytes for the same subject, so a retried write writes the same object', () => {
    expect(encodeArchivedSubject(subject).equals(encodeArchivedSubject({ ...subject, entries: entries.map((e) => ({ ...e })) }))).toBe(true);
  });

  it.each([
    ['another format', (b: Buffer) => Buffer.concat([Buffer.from('x'), b])],
    ['cut short', (b: Buffer) => b.subarray(0, b.length - 5)],
    ['bytes after its last entry', (b: Buffer) => Buffer.concat([b, Buffer.from('\n')])],
  ])('is refused when %s', (_what, change) => {
    expect(() => decodeArchivedSubject(change(encodeArchivedSubject(subject)), 'p:1')).toThrow(MalformedArchiveError);
  });

  it('keeps a hole where a store lost seqs (the entries in order, from the first seq to the last)', () => {
    const hole = { ...subject, entries: [entries[0]!, entries[2]!] };
    expect(decodeArchivedSubject(encodeArchivedSubject(hole), 'p:1')).toEqual(hole);
  });

  it.each([
    ['out of order', [entries[1]!, entries[0]!, entries[2]!]],
    ['starting after its first seq', [entries[1]!, entries[2]!]],
    ['ending before its last seq', [entries[0]!, entries[1]!]],
    ['with a seq twice', [entries[0]!, entries[1]!, entries[1]!, entries[2]!]],
  ])('is refused when its entries are %s', (_what, wrong) => {
    expect(() => decodeArchivedSubject(encodeArchivedSubject({ ...subject, entries: wrong }), 'p:1')).toThrow(/not the seqs its header names/);
  });
});

test('a decoded frame does not hold the object it came from (what a replica caches of it stays its own size)', () => {
  const large = { ...subject, entries: entries.map((e) => ({ ...e, frame: Buffer.concat([e.frame, Buffer.alloc(5000, 0x20)]) })) };
  const bytes = encodeArchivedSubject(large);
  for (const entry of decodeArchivedSubject(bytes, 'p:1').entries) expect(entry.frame.buffer).not.toBe(bytes.buffer);
});

test('history after a seq is read across a hole where a store lost seqs', () => {
  const hole: ArchivedSubject = { ...subject, info: { ...info, firstSeq: 1, lastSeq: 9 }, entries: [1, 2, 3, 7, 8, 9].map((seq) => ({ seq, frame: frame(seq, 'x'), terminal: seq === 9 })) };
  const seqs = (afterSeq: number, limit: number) => archivedHistory(hole, afterSeq, limit).map((e) => e.seq);
  expect(seqs(0, 100)).toEqual([1, 2, 3, 7, 8, 9]);
  expect(seqs(2, 2)).toEqual([3, 7]);
  expect(seqs(4, 100)).toEqual([7, 8, 9]);
  expect(seqs(7, 1)).toEqual([8]);
  expect(seqs(9, 100)).toEqual([]);
});
