import { Writable } from 'node:stream';
import { untilTaken, untilWritable } from '../src/routes/until-writable';

function slowSink(): { sink: Writable; take: () => void } {
  const pending: (() => void)[] = [];
  const sink = new Writable({
    highWaterMark: 4,
    write(_chunk, _encoding, callback) {
      pending.push(callback);
    },
  });
  return {
    sink,
    take: () => {
      for (const callback of pending.splice(0)) callback();
    },
  };
}

test('many waits for drain on one answer leave no listener behind', async () => {
  const { sink, take } = slowSink();
  const before = { close: sink.listenerCount('close'), drain: sink.listenerCount('drain'), error: sink.listenerCount('error') };
  for (let page = 0; page < 50; page++) {
    expect(sink.write('0123456789')).toBe(false);
    const waiting = untilWritable(sink);
    take();
    await expect(waiting).resolves.toBe(true);
    expect({ close: sink.listenerCount('close'), drain: sink.listenerCount('drain'), error: sink.listenerCount('error') }).toEqual(before);
  }
});

test('an answer closed while waiting resolves false; one closed or ended before resolves false at once; one with room true', async () => {
  const { sink } = slowSink();
  expect(await untilWritable(sink)).toBe(true);
  sink.write('0123456789');
  const waiting = untilWritable(sink);
  sink.destroy();
  await expect(waiting).resolves.toBe(false);
  expect(await untilWritable(sink)).toBe(false);
  const ended = new Writable({ write: (_c, _e, callback) => callback() });
  ended.end();
  expect(await untilWritable(ended)).toBe(false);
});

test('an ended answer is taken once its last write is handed on, or once it closes; no listener stays behind', async () => {
  const { sink, take } = slowSink();
  const listeners = () => ({ close: sink.listenerCount('close'), finish: sink.listenerCount('finish') });
  const before = listeners();
  sink.end('0123456789');
  let taken = false;
  const waiting = untilTaken(sink).then(() => (taken = true));
  await new Promise((resolve) => setImmediate(resolve));
  expect(taken).toBe(false);
  take();
  await waiting;
  expect(listeners()).toEqual(before);
  await untilTaken(sink);

  const cut = slowSink();
  cut.sink.end('0123456789');
  const waitingCut = untilTaken(cut.sink);
  cut.sink.destroy();
  await waitingCut;
});
