import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32Combine } from '../src/crc32-combine';

test.each([
  [0, 0],
  [0, 1],
  [1, 0],
  [5, 1],
  [1, 4096],
  [1000, 777],
  [70_000, 65_537],
])('the CRC of %i bytes then %i bytes is combined from the two CRCs', (lengthA, lengthB) => {
  const a = randomBytes(lengthA);
  const b = randomBytes(lengthB);
  expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
});

test('combining segment after segment gives the CRC of them all (as a gzip trailer needs)', () => {
  const parts = Array.from({ length: 50 }, (_, i) => randomBytes(1 + ((i * 37) % 300)));
  let crc = 0;
  for (const part of parts) crc = crc32Combine(crc, crc32(part), part.length);
  expect(crc).toBe(crc32(Buffer.concat(parts)));
});
