import { EventPosition } from '@fanout/bus';

/**
 * The `id` of a multi-subject stream: every subject's position in one compact token, so a native
 * EventSource resumes all of them with its one Last-Event-ID. Layout (then base64url): a version
 * byte, then per subject, in the request's order, the first 3 bytes of its epoch and its seq as a
 * LEB128 varint. 100 subjects at seq < 16,384 take 501 bytes, 668 characters.
 */
const VERSION = 1;
const EPOCH_BYTES = 3;
export const CURSOR_EPOCH_HEX = EPOCH_BYTES * 2;

/** The first bytes of an epoch, as the cursor holds them, in one number (worked out once per epoch). */
export function epochPrefixOf(epoch: string): number {
  return parseInt(epoch.slice(0, CURSOR_EPOCH_HEX), 16);
}

/** The most bytes a cursor takes per subject: its epoch prefix and a seq's varint (at most 8 bytes up to 2^53). */
const MAX_POSITION_BYTES = EPOCH_BYTES + 8;

/**
 * The cursor of subjects at `seqs` of the histories whose `epochPrefixOf` are `epochPrefixes`
 * (index for index). Built whole for each frame from numbers: a stream keeps no Buffer per subject
 * (small Buffers are slices of Node's shared 8 KiB blocks, and one kept for long keeps its whole block).
 */
export function encodeCursor(epochPrefixes: readonly number[], seqs: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(1 + seqs.length * MAX_POSITION_BYTES);
  bytes[0] = VERSION;
  let at = 1;
  for (let i = 0; i < seqs.length; i += 1) {
    const prefix = epochPrefixes[i]!;
    bytes[at++] = prefix >>> 16;
    bytes[at++] = (prefix >>> 8) & 0xff;
    bytes[at++] = prefix & 0xff;
    let seq = seqs[i]!;
    do {
      const low = seq % 128;
      seq = Math.floor(seq / 128);
      bytes[at++] = seq > 0 ? low | 0x80 : low;
    } while (seq > 0);
  }
  return bytes.toString('base64url', 0, at);
}

/** The positions of `count` subjects, or undefined when the text is not a cursor for that many. */
export function decodeCursor(text: string, count: number): EventPosition[] | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes[0] !== VERSION) return undefined;
  const positions: EventPosition[] = [];
  let offset = 1;
  while (offset < bytes.length) {
    if (offset + EPOCH_BYTES > bytes.length) return undefined;
    const epoch = bytes.toString('hex', offset, offset + EPOCH_BYTES);
    offset += EPOCH_BYTES;
    let seq = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[offset++];
      if (byte === undefined || scale > 2 ** 49) return undefined;
      seq += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) break;
    }
    positions.push({ epoch, seq });
  }
  return positions.length === count ? positions : undefined;
}
