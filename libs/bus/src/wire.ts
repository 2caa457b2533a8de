import { LiveBatch } from './bus';
import { epochOfFrame } from './event-id';

/**
 * A pub/sub message is a header line `<firstSeq> <lastSeq> <terminal 0|1>\n` followed by the finished
 * SSE frames of those seqs, so a gateway forwards the frames without parsing any JSON.
 */
export function encodeBatchMessage(firstSeq: number, lastSeq: number, terminal: boolean, frames: string): string {
  return `${firstSeq} ${lastSeq} ${terminal ? 1 : 0}\n${frames}`;
}

const NEWLINE = 0x0a;

export function decodeBatchMessage(message: Buffer): LiveBatch | undefined {
  const headerEnd = message.indexOf(NEWLINE);
  if (headerEnd < 0) return undefined;
  const [first, last, terminal] = message.toString('latin1', 0, headerEnd).split(' ');
  const firstSeq = Number(first);
  const lastSeq = Number(last);
  if (!Number.isInteger(firstSeq) || !Number.isInteger(lastSeq) || lastSeq < firstSeq) return undefined;
  const frames = message.subarray(headerEnd + 1);
  return { firstSeq, lastSeq, terminal: terminal === '1', frames, epoch: epochOfFrame(frames) };
}

const FRAME_END = Buffer.from('\n\n');

/** The frames of a batch after `afterSeq` (frames end with a blank line; data lines hold one-line JSON). */
export function framesAfter(batch: LiveBatch, afterSeq: number): Buffer {
  let skip = afterSeq - batch.firstSeq + 1;
  if (skip <= 0) return batch.frames;
  let offset = 0;
  while (skip > 0) {
    const end = batch.frames.indexOf(FRAME_END, offset);
    if (end < 0) return Buffer.alloc(0);
    offset = end + FRAME_END.length;
    skip -= 1;
  }
  return batch.frames.subarray(offset);
}
