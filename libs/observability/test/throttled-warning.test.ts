import { Writable } from 'node:stream';
import { createLogger, throttledWarning } from '../src';

afterEach(() => jest.useRealTimers());

test('a throttled warning is logged at most once per period, with how many happened since the last line', () => {
  jest.useFakeTimers({ now: 1_000_000 });
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: 'info', name: 'test', destination });
  const happened = throttledWarning(logger, 10_000, 'a limit closed something', 'closed', { limit: 5 });
  happened();
  happened();
  happened(3);
  jest.advanceTimersByTime(9_999);
  happened();
  jest.advanceTimersByTime(1);
  happened();
  expect(lines.map(({ msg, closed, limit, level }) => ({ msg, closed, limit, level }))).toEqual([
    { msg: 'a limit closed something', closed: 1, limit: 5, level: 40 },
    { msg: 'a limit closed something', closed: 6, limit: 5, level: 40 },
  ]);
});
