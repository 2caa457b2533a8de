import { constants, crc32, deflateRawSync } from 'node:zlib';
import { crc32CombineShifted, crc32ShiftFor } from './crc32-combine';

/**
 * Compression once per Buffer, not once per connection. A Buffer written to many connections (a
 * live batch, a replayed page, a heartbeat) is deflated once, with a fresh context and a sync flush:
 * the segment ends on a byte boundary with no final block, so segments concatenate into one valid
 * deflate stream. Each connection adds only what is its own: the gzip header, and at a clean end a
 * final empty block and the trailer (CRC-32 and length of what it was sent, combined from the
 * segments' own). No zlib context outlives a call.
 *
 * A segment standing alone compresses a small frame poorly (a ~300 B event to ~70 %): most of what
 * it shares is with the frames before it. So a Buffer is also deflated once with the Buffer that
 * preceded it as the preset dictionary; a connection whose last Buffer was exactly that one (the
 * clients of one subject, live, all are) is sent that form, whose back-references land in the bytes
 * its decoder has just produced. Any other connection gets the form standing alone. So a Buffer
 * costs at most two compressions, however many connections it goes to.
 */

/** A Buffer's compressed forms (made when first needed), and what the gzip trailer needs of it. */
interface GzipSegment {
  /** Tells segments apart without holding them (a segment never references another Buffer). */
  readonly id: number;
  readonly crc: number;
  readonly length: number;
  /** crc32ShiftFor(length): what the segment does to a connection's CRC, worked out once. */
  readonly crcShift: number;
  standingAlone?: Buffer;
  /** The form compressed after the segment `afterId` (the first one a connection needed). */
  following?: { afterId: number; deflated: Buffer };
}

/** Level 6 (zlib's default): a 40 KiB log batch takes ~0.2 ms here; level 1 is not much faster on small ones. */
const DEFLATE_OPTIONS = { level: 6, finishFlush: constants.Z_SYNC_FLUSH } as const;
/** Deflate's window: a back-reference reaches at most this far into what was sent before. */
const WINDOW_BYTES = 32 * 1024;

/** ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown): the same for every connection. */
const GZIP_HEADER: Buffer = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
/** A final fixed-Huffman block holding nothing: after a sync flush it closes the deflate stream. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

/** Every Buffer's segment lives as long as the Buffer does (history pages, a batch in flight). */
const segments = new WeakMap<Buffer, GzipSegment>();
let nextSegmentId = 1;

function segmentOf(chunk: Buffer): GzipSegment {
  let segment = segments.get(chunk);
  if (!segment) {
    segment = { id: nextSegmentId++, crc: crc32(chunk), length: chunk.length, crcShift: crc32ShiftFor(chunk.length) };
    segments.set(chunk, segment);
  }
  return segment;
}

/** `chunk` deflated on its own: valid after anything. */
export function deflatedAlone(chunk: Buffer): Buffer {
  const segment = segmentOf(chunk);
  segment.standingAlone ??= deflateRawSync(chunk, DEFLATE_OPTIONS);
  return segment.standingAlone;
}

/** `chunk` deflated for a stream whose last bytes were all of `previous`. */
function deflatedAfter(chunk: Buffer, segment: GzipSegment, previous: Buffer): Buffer {
  const afterId = segmentOf(previous).id;
  if (segment.following?.afterId === afterId) return segment.following.deflated;
  if (segment.following || previous.length === 0) return deflatedAlone(chunk);
  const dictionary = previous.length > WINDOW_BYTES ? previous.subarray(previous.length - WINDOW_BYTES) : previous;
  segment.following = { afterId, deflated: deflateRawSync(chunk, { ...DEFLATE_OPTIONS, dictionary }) };
  return segment.following.deflated;
}

/**
 * One connection's gzip body: the header, then shared segments, then (on a clean end) its trailer.
 * What it holds of its own is its CRC, its length and the last Buffer it was written (shared).
 */
export class GzipBody {
  private crc = 0;
  private length = 0;
  private last: Buffer | undefined;

  /**
   * The bytes to write for `chunk`: a shared compressed form of it, counted into this body's
   * trailer (after the gzip header, for the body's first chunk).
   */
  encode(chunk: Buffer): Buffer {
    const segment = segmentOf(chunk);
    const first = this.last === undefined;
    const deflated = first ? deflatedAlone(chunk) : deflatedAfter(chunk, segment, this.last!);
    this.last = chunk;
    this.crc = crc32CombineShifted(this.crc, segment.crc, segment.crcShift);
    this.length += segment.length;
    return first ? Buffer.concat([GZIP_HEADER, deflated]) : deflated;
  }

  /** The last bytes of the body: `chunk`'s segment, the final block and the trailer. */
  finish(chunk: Buffer): Buffer {
    const deflated = this.encode(chunk);
    this.last = undefined;
    const trailer = Buffer.allocUnsafe(8);
    trailer.writeUInt32LE(this.crc, 0);
    trailer.writeUInt32LE(this.length % 2 ** 32, 4);
    return Buffer.concat([deflated, FINAL_EMPTY_BLOCK, trailer]);
  }
}
