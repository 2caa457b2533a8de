import { HistoryEntry } from '@fanout/bus';
import { joinedFrames } from '../src/replay-frames';

const page = (seqs: number[]): HistoryEntry[] => seqs.map((seq) => ({ seq, frame: Buffer.from(`id: e-${seq}\nevent: x\ndata: {}\n\n`), terminal: false }));

test('clients replaying the same run of a shared page get the same Buffer (so it is compressed once for all)', () => {
  const entries = page([1, 2, 3, 4, 5]);
  const first = joinedFrames(entries, 1, 4);
  expect(first.toString()).toBe(entries.slice(1, 4).map((e) => e.frame.toString()).join(''));
  expect(joinedFrames(entries, 1, 4)).toBe(first);
  expect(joinedFrames(entries, 0, 1)).toBe(entries[0]!.frame);
});

test('another run, or another page, is joined anew', () => {
  const entries = page([1, 2, 3]);
  const whole = joinedFrames(entries, 0, 3);
  const tail = joinedFrames(entries, 1, 3);
  expect(tail).not.toBe(whole);
  expect(tail.toString()).toBe(`${entries[1]!.frame}${entries[2]!.frame}`);
  const other = page([1, 2, 3]);
  expect(joinedFrames(other, 1, 3)).not.toBe(tail);
  expect(joinedFrames(other, 1, 3).equals(tail)).toBe(true);
});
