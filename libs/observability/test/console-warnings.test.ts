import { Writable } from 'node:stream';
import { createLogger, logConsoleWarnings } from '../src';

test('console.warn goes to the logger as one JSON warning until put back', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const original = console.warn;
  const restore = logConsoleWarnings(createLogger({ level: 'info', name: 'console-test', destination }));
  try {
    console.warn('[WARN] a library says %s', 'something', { n: 1 });
  } finally {
    restore();
  }
  expect(console.warn).toBe(original);
  expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
    expect.objectContaining({ level: 40, source: 'console.warn', msg: "[WARN] a library says something { n: 1 }" }),
  ]);
});
