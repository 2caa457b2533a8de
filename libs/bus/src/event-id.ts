import { randomBytes } from 'node:crypto';

const SEQ_DIGITS = 10;

/** A history epoch: random, so nothing about it survives the loss of the history it names. */
export function newEpoch(): string {
  return randomBytes(4).toString('hex');
}

/** `<epoch>-<seq>`; seq is zero-padded so ids also increase as strings. */
export function formatEventId(epoch: string, seq: number): string {
  return `${epoch}-${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

export interface EventPosition {
  epoch: string;
  seq: number;
}

const EVENT_ID_PATTERN = /^([0-9a-f]{8})-(\d{1,15})$/;

/** Undefined when the text is not an event id of ours. */
export function parseEventId(text: string): EventPosition | undefined {
  const match = EVENT_ID_PATTERN.exec(text);
  if (!match) return undefined;
  return { epoch: match[1]!, seq: Number(match[2]) };
}


const FRAME_ID_PREFIX = 'id: ';
const EPOCH_LENGTH = 8;

/** The epoch in the `id:` line that begins a stored frame (or a batch of them); undefined for anything else. */
export function epochOfFrame(frame: Buffer): string | undefined {
  if (frame.length < FRAME_ID_PREFIX.length + EPOCH_LENGTH || frame.toString('latin1', 0, FRAME_ID_PREFIX.length) !== FRAME_ID_PREFIX) return undefined;
  return frame.toString('latin1', FRAME_ID_PREFIX.length, FRAME_ID_PREFIX.length + EPOCH_LENGTH);
}
