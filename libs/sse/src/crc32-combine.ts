/**
 * CRC-32 of two byte strings joined, from the CRC-32 of each and the second's length (zlib's
 * crc32_combine), so that a connection's gzip trailer costs O(log n) per segment instead of a pass
 * over bytes that were checksummed once for every connection.
 */

const POLYNOMIAL = 0xedb88320;

/** (a · b) modulo the CRC polynomial, both reflected as CRC-32 keeps them. */
function multiplyModP(a: number, b: number): number {
  const top = 0x80000000;
  let product = 0;
  for (let m = top; m !== 0; m >>>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    b = b & 1 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial for k = 0..31. */
const X_TO_2_TO_THE: number[] = (() => {
  const table: number[] = [];
  let p = 1 << 30; // x^1
  for (let k = 0; k < 32; k += 1) {
    table.push(p);
    p = multiplyModP(p, p);
  }
  return table;
})();

/** x^(n · 2^k) modulo the polynomial. */
function xToNModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n) {
    if (n & 1) p = multiplyModP(X_TO_2_TO_THE[k & 31]!, p);
    n = Math.floor(n / 2);
    k += 1;
  }
  return p;
}

/**
 * What appending `length` bytes does to a CRC (x^(8·length) modulo the polynomial): computed once per
 * shared segment, so that each connection's combine is one multiplication.
 */
export function crc32ShiftFor(length: number): number {
  return xToNModP(length, 3);
}

/** The CRC-32 of A followed by B, given crc(A), crc(B) and `crc32ShiftFor(B's length)`. */
export function crc32CombineShifted(crcA: number, crcB: number, shiftB: number): number {
  return (multiplyModP(shiftB, crcA) ^ crcB) >>> 0;
}

/** The CRC-32 of A followed by B, given crc(A), crc(B) and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return crc32CombineShifted(crcA, crcB, crc32ShiftFor(lengthB));
}
