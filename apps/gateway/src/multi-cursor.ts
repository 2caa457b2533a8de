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

export function encodePosition(position: EventPosition): Buffer {
  const bytes = [...Buffer.from(position.epoch.slice(0, CURSOR_EPOCH_HEX), 'hex')];
  let seq = position.seq;
  do {
    const low = seq % 128;
    seq = Math.floor(seq / 128);
    bytes.push(seq > 0 ? low | 0x80 : low);
  } while (seq > 0);
  return Buffer.from(bytes);
}

export function encodeCursor(encodedPositions: readonly Buffer[]): string {
  return Buffer.concat([Buffer.of(VERSION), ...encodedPositions]).toString('base64url');
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
