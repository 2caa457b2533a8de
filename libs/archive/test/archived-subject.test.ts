import { HistoryEntry, SubjectInfo } from '@fanout/bus';
import { ArchivedSubject, MalformedArchiveError, decodeArchivedSubject, encodeArchivedSubject } from '../src';

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

  it('is refused when its entries are not the consecutive seqs its header names', () => {
    const gap = { ...subject, entries: [entries[0]!, entries[2]!] };
    expect(() => decodeArchivedSubject(encodeArchivedSubject(gap), 'p:1')).toThrow(/consecutive/);
  });
});

test('a decoded frame does not hold the object it came from (what a replica caches of it stays its own size)', () => {
  const large = { ...subject, entries: entries.map((e) => ({ ...e, frame: Buffer.concat([e.frame, Buffer.alloc(5000, 0x20)]) })) };
  const bytes = encodeArchivedSubject(large);
  for (const entry of decodeArchivedSubject(bytes, 'p:1').entries) expect(entry.frame.buffer).not.toBe(bytes.buffer);
});
