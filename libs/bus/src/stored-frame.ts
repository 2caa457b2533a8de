import { randomFillSync } from 'node:crypto';
import { LiveBatch } from './bus';
import { luaString } from './lua-literals';

/*
 * The stored frame: an event's bytes as the store keeps them, publishes them, and every gateway
 * writes them to its clients without parsing them (docs/architecture.md, "The store"):
 *
 *   id: <epoch>-<seq>\nevent: <type>\ndata: <one line of JSON>\n\n
 *
 * The epoch is 8 hex digits, the seq 10 zero-padded digits, so ids also increase as strings. An
 * event's JSON ends `,"seq":<seq>,"publishedAt":"<ISO 8601>"}`: publishedAt last, so it can be read
 * from the end. A tenant activity frame is a `subject.updated` whose data is its own JSON. A pub/sub
 * message is the header `<firstSeq> <lastSeq> <terminal 0|1>\n` then the frames of those seqs.
 *
 * This module is the one writer and the one reader of those bytes; the Lua scripts get its writers
 * as their `stored-frame` include (`storedFrameLua`).
 */

const ID_FIELD = 'id: ';
const EVENT_FIELD = '\nevent: ';
const DATA_FIELD = '\ndata: ';
const FRAME_END = '\n\n';
const ID_SEPARATOR = '-';
const EPOCH_BYTES = 4;
const EPOCH_LENGTH = EPOCH_BYTES * 2;
const SEQ_DIGITS = 10;
const SEQ_FIELD = ',"seq":';
const PUBLISHED_AT_FIELD = ',"publishedAt":"';
const EVENT_JSON_END = '"}';
const ISO_8601_MS_LENGTH = '2026-11-27T10:00:00.000Z'.length;
const HEADER_SEPARATOR = ' ';
const HEADER_END = '\n';
const ACTIVITY_EVENT_TYPE = 'subject.updated';

const FRAME_END_BYTES = Buffer.from(FRAME_END);
const DATA_FIELD_BYTES = Buffer.from(DATA_FIELD);
const PUBLISHED_AT_BYTES = Buffer.from(PUBLISHED_AT_FIELD);
const NEWLINE = 0x0a;
const HEADER_END_BYTE = HEADER_END.charCodeAt(0);

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

const epochPool = Buffer.alloc(4096);
let epochPoolOffset = epochPool.length;

/** A history epoch: random, so nothing about it survives the loss of the history it names. */
export function newEpoch(): string {
  // Every append passes an epoch for the case its subject is new: random bytes are drawn a pool at a
  // time, not one system call per append.
  if (epochPoolOffset + EPOCH_BYTES > epochPool.length) {
    randomFillSync(epochPool);
    epochPoolOffset = 0;
  }
  epochPoolOffset += EPOCH_BYTES;
  return epochPool.toString('hex', epochPoolOffset - EPOCH_BYTES, epochPoolOffset);
}

/** `<epoch>-<seq>`, the `id` of a stored frame and a single stream's resume position. */
export function formatEventId(epoch: string, seq: number): string {
  return `${epoch}${ID_SEPARATOR}${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

export function storedFrame(epoch: string, seq: number, type: string, dataJson: string): string {
  return `${ID_FIELD}${formatEventId(epoch, seq)}${EVENT_FIELD}${type}${DATA_FIELD}${dataJson}${FRAME_END}`;
}

/** A tenant activity frame, whose data is the `subject.updated` JSON. */
export function activityFrame(epoch: string, seq: number, dataJson: string): string {
  return storedFrame(epoch, seq, ACTIVITY_EVENT_TYPE, dataJson);
}

/** What closes an event's JSON object (open, without its last `}`): its seq and publishedAt. */
export function closeEventJson(seq: number, publishedAt: string): string {
  return `${SEQ_FIELD}${seq}${PUBLISHED_AT_FIELD}${publishedAt}${EVENT_JSON_END}`;
}

/** A pub/sub message: the frames of seqs firstSeq..lastSeq behind their header. */
export function encodeBatchMessage(firstSeq: number, lastSeq: number, terminal: boolean, frames: string): string {
  return `${firstSeq}${HEADER_SEPARATOR}${lastSeq}${HEADER_SEPARATOR}${terminal ? 1 : 0}${HEADER_END}${frames}`;
}

/** An `id:` line holding another id than the stored one (a multi-subject stream's cursor). */
export function idLine(id: string): Buffer {
  return Buffer.from(`${ID_FIELD}${id}\n`);
}

/** The writers above as Lua functions, for the scripts that build frames inside Redis. */
export function storedFrameLua(): string {
  return `local function formatEventId(epoch, seq)
  return epoch .. ${luaString(ID_SEPARATOR)} .. string.format(${luaString(`%0${SEQ_DIGITS}d`)}, seq)
end
local function storedFrame(epoch, seq, etype, dataJson)
  return ${luaString(ID_FIELD)} .. formatEventId(epoch, seq) .. ${luaString(EVENT_FIELD)} .. etype .. ${luaString(DATA_FIELD)} .. dataJson .. ${luaString(FRAME_END)}
end
local function activityFrame(epoch, seq, dataJson)
  return storedFrame(epoch, seq, ${luaString(ACTIVITY_EVENT_TYPE)}, dataJson)
end
-- storedFrame(epoch, seq, etype, open1 .. open2 .. open3 .. closeEventJson(seq, publishedAt)) as one
-- concatenation: an event's frame from its open JSON in three pieces, with no intermediate strings;
-- seqText is the seq written as string.format('%d') writes it.
local function storedEventFrame(epoch, seq, seqText, etype, open1, open2, open3, publishedAt)
  return ${luaString(ID_FIELD)} .. epoch .. ${luaString(ID_SEPARATOR)} .. string.format(${luaString(`%0${SEQ_DIGITS}d`)}, seq) .. ${luaString(EVENT_FIELD)} .. etype
    .. ${luaString(DATA_FIELD)} .. open1 .. open2 .. open3
    .. ${luaString(SEQ_FIELD)} .. seqText .. ${luaString(PUBLISHED_AT_FIELD)} .. publishedAt .. ${luaString(EVENT_JSON_END)} .. ${luaString(FRAME_END)}
end
local function encodeBatchMessage(firstSeq, lastSeq, terminal, frames)
  return firstSeq .. ${luaString(HEADER_SEPARATOR)} .. lastSeq .. ${luaString(HEADER_SEPARATOR)} .. (terminal and '1' or '0') .. ${luaString(HEADER_END)}
    .. (#frames == 1 and frames[1] or table.concat(frames))
end`;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

export interface EventPosition {
  epoch: string;
  seq: number;
}

const EVENT_ID_PATTERN = new RegExp(`^([0-9a-f]{${EPOCH_LENGTH}})${ID_SEPARATOR}(\\d{1,15})$`);

/** Undefined when the text is not an event id of ours. */
export function parseEventId(text: string): EventPosition | undefined {
  const match = EVENT_ID_PATTERN.exec(text);
  if (!match) return undefined;
  return { epoch: match[1]!, seq: Number(match[2]) };
}

/** The epoch in the `id:` line that begins a stored frame (or a batch of them); undefined for anything else. */
export function epochOfFrame(frame: Buffer): string | undefined {
  if (frame.length < ID_FIELD.length + EPOCH_LENGTH || frame.toString('latin1', 0, ID_FIELD.length) !== ID_FIELD) return undefined;
  return frame.toString('latin1', ID_FIELD.length, ID_FIELD.length + EPOCH_LENGTH);
}

export function decodeBatchMessage(message: Buffer): LiveBatch | undefined {
  const headerEnd = message.indexOf(HEADER_END_BYTE);
  if (headerEnd < 0) return undefined;
  const [first, last, terminal] = message.toString('latin1', 0, headerEnd).split(HEADER_SEPARATOR);
  const firstSeq = Number(first);
  const lastSeq = Number(last);
  if (!Number.isInteger(firstSeq) || !Number.isInteger(lastSeq) || lastSeq < firstSeq) return undefined;
  const frames = message.subarray(headerEnd + HEADER_END.length);
  return { firstSeq, lastSeq, terminal: terminal === '1', frames, epoch: epochOfFrame(frames) };
}

/** The frames of a batch after `afterSeq` (frames end with a blank line; data lines hold one-line JSON). */
export function framesAfter(batch: LiveBatch, afterSeq: number): Buffer {
  let skip = afterSeq - batch.firstSeq + 1;
  if (skip <= 0) return batch.frames;
  let offset = 0;
  while (skip > 0) {
    const end = batch.frames.indexOf(FRAME_END_BYTES, offset);
    if (end < 0) return Buffer.alloc(0);
    offset = end + FRAME_END_BYTES.length;
    skip -= 1;
  }
  return batch.frames.subarray(offset);
}

/** Each of the frames without its `id:` line: its `event:` and `data:` lines and the blank line that ends it. */
export function framesWithoutIds(frames: Buffer): Buffer[] {
  const rests: Buffer[] = [];
  let offset = 0;
  for (let end = frames.indexOf(FRAME_END_BYTES, offset); end >= 0; end = frames.indexOf(FRAME_END_BYTES, offset)) {
    rests.push(frames.subarray(frames.indexOf(NEWLINE, offset) + 1, end + FRAME_END_BYTES.length));
    offset = end + FRAME_END_BYTES.length;
  }
  return rests;
}

/** The JSON of a stored frame's one `data:` line. */
export function dataJsonOf(frame: Buffer): string {
  return dataJsonBytesOf(frame).toString('utf8');
}

/** The bytes of a stored frame's one `data:` line (its JSON), without copying them. */
export function dataJsonBytesOf(frame: Buffer): Buffer {
  const start = frame.indexOf(DATA_FIELD_BYTES) + DATA_FIELD_BYTES.length;
  return frame.subarray(start, frame.indexOf(NEWLINE, start));
}

/** publishedAt of the last event of `frames`, in epoch ms, read without parsing the JSON; NaN when it has none (activity). */
export function lastPublishedAtMs(frames: Buffer): number {
  const at = frames.lastIndexOf(PUBLISHED_AT_BYTES);
  if (at < 0) return NaN;
  const start = at + PUBLISHED_AT_BYTES.length;
  return Date.parse(frames.toString('latin1', start, start + ISO_8601_MS_LENGTH));
}

const EVENT_LINE_BYTES = Buffer.from('event: ');
const SEQ_FIELD_BYTES = Buffer.from(SEQ_FIELD);

/** Each finished frame of `frames` (stored frames, or frames whose `id:` line was rewritten), blank line included. */
export function splitFrames(frames: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let offset = 0;
  for (let end = frames.indexOf(FRAME_END_BYTES, offset); end >= 0; end = frames.indexOf(FRAME_END_BYTES, offset)) {
    parts.push(frames.subarray(offset, end + FRAME_END_BYTES.length));
    offset = end + FRAME_END_BYTES.length;
  }
  return parts;
}

/** The `event:` name of one frame (with or without its `id:` line), read without parsing its JSON. */
export function eventTypeOf(frame: Buffer): string {
  const at = frame.indexOf(EVENT_LINE_BYTES);
  if (at < 0) return '';
  const start = at + EVENT_LINE_BYTES.length;
  return frame.toString('latin1', start, frame.indexOf(NEWLINE, start));
}

/** The `seq` of one event frame, read from the end of its JSON (NaN for a frame without one). */
export function seqOfFrame(frame: Buffer): number {
  const at = frame.lastIndexOf(SEQ_FIELD_BYTES);
  if (at < 0) return NaN;
  const start = at + SEQ_FIELD_BYTES.length;
  let seq = 0;
  for (let i = start; i < frame.length && frame[i]! >= 0x30 && frame[i]! <= 0x39; i += 1) seq = seq * 10 + frame[i]! - 0x30;
  return seq;
}
