import { acceptsGzip } from '../src/accept-encoding';

test.each<[string | string[] | undefined, boolean]>([
  [undefined, false],
  ['', false],
  ['identity', false],
  ['br, deflate', false],
  ['gzip', true],
  ['GZip', true],
  ['x-gzip', true],
  ['gzip, deflate, br', true],
  ['gzip, deflate, br, zstd', true],
  ['deflate;q=1, gzip;q=0.5', true],
  ['gzip;q=0', false],
  ['gzip; q=0.000', false],
  ['gzip;Q=0.001', true],
  ['gzip;q=1.000', true],
  ['gzip;q=2', false],
  ['gzip;q=abc', false],
  ['*', true],
  ['*;q=0', false],
  ['br, *;q=0.1', true],
  ['gzip;q=0, *', false],
  ['*;q=0, gzip', true],
  [['br', 'gzip'], true],
])('Accept-Encoding %j takes gzip: %s', (header, expected) => {
  expect(acceptsGzip(header)).toBe(expected);
});
