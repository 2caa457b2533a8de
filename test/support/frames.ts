import { CONTROL_FRAMES, StreamedEventSchemas, SubjectUpdatedFrameData } from '@fanout/contracts';
import { SseFrame } from './sse-client';

type Json = Record<string, any>;
type Schema = { safeParse(v: unknown): { success: boolean; error?: unknown } };

export const dataOf = (frame: SseFrame): Json => JSON.parse(frame.data) as Json;

/** `kind:id` of a domain frame's subject. */
export const subjectKeyOf = (frame: SseFrame): string => {
  const { subject } = dataOf(frame);
  return `${subject.kind}:${subject.id}`;
};

/** Throws a short, precise message (a long toEqual diff is unreadable). */
export function expectContiguous(seqs: number[], from: number, to: number, who: string): void {
  const expectedLength = to - from + 1;
  for (let i = 0; i < Math.max(seqs.length, expectedLength); i++) {
    if (seqs[i] !== from + i) {
      const around = seqs.slice(Math.max(0, i - 3), i + 4).join(', ');
      throw new Error(
        `${who}: expected seq ${from}..${to} contiguous (${expectedLength} events), got ${seqs.length} events; ` +
          `first mismatch at index ${i}: expected ${from + i <= to ? from + i : '(nothing)'}, got ${seqs[i] ?? '(nothing)'} (around: ${around})`,
      );
    }
  }
}

/** Validates one frame against the contract's schemas; returns a problem description or undefined. */
export function schemaProblem(frame: SseFrame): string | undefined {
  if (frame.event === 'retry') return undefined;
  let data: unknown;
  try {
    data = JSON.parse(frame.data);
  } catch {
    return `${frame.event}: data is not JSON: ${frame.data.slice(0, 200)}`;
  }
  if (frame.id !== undefined) {
    if (frame.event === 'subject.updated') {
      const result = SubjectUpdatedFrameData.safeParse(data);
      return result.success ? undefined : `subject.updated id=${frame.id}: ${String(result.error)}`;
    }
    const schema = (StreamedEventSchemas as Record<string, Schema>)[frame.event];
    if (!schema) return `domain frame with unknown event name "${frame.event}"`;
    const result = schema.safeParse(data);
    if (!result.success) return `${frame.event} id=${frame.id}: ${String(result.error)} in ${frame.data.slice(0, 300)}`;
    if ((data as Json).type !== frame.event) return `${frame.event}: data.type is ${(data as Json).type}`;
    return undefined;
  }
  const control = (CONTROL_FRAMES as Record<string, Schema>)[frame.event];
  if (!control) return `frame without id and with unknown event name "${frame.event}": ${frame.data.slice(0, 200)}`;
  const result = control.safeParse(data);
  return result.success ? undefined : `${frame.event}: ${String(result.error)} in ${frame.data}`;
}

export function expectFramesValid(frames: SseFrame[]): void {
  const problems = frames.map(schemaProblem).filter((p): p is string => p !== undefined);
  expect(problems).toEqual([]);
}

/**
 * A multi-subject cursor, decoded the way docs/api.md describes it (independently of the gateway's
 * code): base64url of a version byte (1), then per subject its epoch's first 3 bytes and its seq as
 * a LEB128 varint.
 */
export interface CursorPosition {
  epochPrefix: string;
  seq: number;
}

export function decodeCursor(text: string): CursorPosition[] {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new Error(`cursor ${text.slice(0, 40)}… is not canonical base64url`);
  if (bytes[0] !== 1) throw new Error(`cursor version byte is ${bytes[0]}, not 1`);
  const positions: CursorPosition[] = [];
  let offset = 1;
  while (offset < bytes.length) {
    const epochPrefix = bytes.toString('hex', offset, offset + 3);
    offset += 3;
    let seq = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[offset++];
      if (byte === undefined) throw new Error('cursor ends inside a varint');
      seq += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) break;
    }
    positions.push({ epochPrefix, seq });
  }
  return positions;
}

export function encodeCursor(positions: CursorPosition[]): string {
  const bytes = [1];
  for (const { epochPrefix, seq } of positions) {
    bytes.push(...Buffer.from(epochPrefix, 'hex'));
    let rest = seq;
    do {
      const low = rest % 128;
      rest = Math.floor(rest / 128);
      bytes.push(rest > 0 ? low | 0x80 : low);
    } while (rest > 0);
  }
  return Buffer.from(bytes).toString('base64url');
}
