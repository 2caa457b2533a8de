/** Redis Cluster's hash slot of a key or shard channel: CRC16 (XMODEM) of its hash tag, modulo 16384. */
export const SLOT_COUNT = 16384;

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  TABLE[i] = crc & 0xffff;
}

function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!) & 0xffff;
  return crc;
}

/** The part of a key that is hashed: the first non-empty `{…}`, else the whole key (Redis's rule). */
function hashedPart(key: Buffer): Buffer {
  const open = key.indexOf(0x7b); // {
  if (open < 0) return key;
  const close = key.indexOf(0x7d, open + 1); // }
  if (close < 0 || close === open + 1) return key;
  return key.subarray(open + 1, close);
}

export function keySlot(key: string | Buffer): number {
  return crc16(hashedPart(typeof key === 'string' ? Buffer.from(key) : key)) % SLOT_COUNT;
}

let tagsBySlot: string[] | undefined;

/** A short hash tag (without braces) whose slot is `slot`: `{tag}` puts a key or channel on that slot. */
export function tagForSlot(slot: number): string {
  if (!tagsBySlot) {
    const tags: string[] = new Array(SLOT_COUNT);
    let found = 0;
    for (let n = 0; found < SLOT_COUNT; n++) {
      const tag = n.toString(36);
      const s = keySlot(tag);
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    tagsBySlot = tags;
  }
  return tagsBySlot[slot]!;
}
