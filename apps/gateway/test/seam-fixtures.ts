import { HistoryEntry, LiveBatch, dataJsonOf, framesWithoutIds, storedFrame } from '@fanout/bus';

/** Epochs are 8 hex digits, as the store makes them. */
export const E1 = 'e1e1e1e1';
export const E2 = 'e2e2e2e2';
export const E3 = 'e3e3e3e3';

/** A stored frame whose data tells its epoch and seq. */
export function frame(epoch: string, seq: number): Buffer {
  return Buffer.from(storedFrame(epoch, seq, 'job.progress', JSON.stringify({ epoch, seq })));
}

export function entry(seq: number, options: { epoch?: string; terminal?: boolean } = {}): HistoryEntry {
  return { seq, frame: frame(options.epoch ?? E1, seq), terminal: options.terminal ?? false };
}

export function entries(firstSeq: number, lastSeq: number, options: { epoch?: string; terminalLast?: boolean } = {}): HistoryEntry[] {
  const list: HistoryEntry[] = [];
  for (let seq = firstSeq; seq <= lastSeq; seq += 1) list.push(entry(seq, { epoch: options.epoch, terminal: options.terminalLast === true && seq === lastSeq }));
  return list;
}

export function batch(firstSeq: number, lastSeq: number, options: { epoch?: string; terminal?: boolean } = {}): LiveBatch {
  const epoch = options.epoch ?? E1;
  const frames = Buffer.concat(entries(firstSeq, lastSeq, { epoch }).map((e) => e.frame));
  return { firstSeq, lastSeq, terminal: options.terminal ?? false, frames, epoch };
}

/** The (epoch, seq) of every frame in a run of frames, from their data. */
export function framesIn(frames: Buffer): Array<{ epoch: string; seq: number }> {
  return framesWithoutIds(frames).map((rest) => JSON.parse(dataJsonOf(rest)) as { epoch: string; seq: number });
}
