import {
  activityFrame,
  closeEventJson,
  dataJsonOf,
  decodeBatchMessage,
  encodeBatchMessage,
  epochOfFrame,
  formatEventId,
  framesAfter,
  framesWithoutIds,
  idLine,
  lastPublishedAtMs,
  newEpoch,
  parseEventId,
  storedFrame,
} from '../src';

const PUBLISHED_AT = '2026-11-27T10:00:00.123Z';
const eventJson = (seq: number, extra = ''): string => `{"type":"job.progress","data":{"percent":${seq}${extra}}${closeEventJson(seq, PUBLISHED_AT)}`;

describe('the stored frame, written', () => {
  it('is the id line with epoch and 10-digit seq, the event line and one data line, then a blank line', () => {
    expect(storedFrame('0a1b2c3d', 42, 'job.progress', '{"a":1}')).toBe('id: 0a1b2c3d-0000000042\nevent: job.progress\ndata: {"a":1}\n\n');
    expect(activityFrame('0a1b2c3d', 7, '{"b":2}')).toBe('id: 0a1b2c3d-0000000007\nevent: subject.updated\ndata: {"b":2}\n\n');
  });

  it("closes an event's JSON with seq and publishedAt, publishedAt last", () => {
    expect(`{"x":1${closeEventJson(3, PUBLISHED_AT)}`).toBe(`{"x":1,"seq":3,"publishedAt":"${PUBLISHED_AT}"}`);
    expect(JSON.parse(eventJson(9))).toEqual({ type: 'job.progress', data: { percent: 9 }, seq: 9, publishedAt: PUBLISHED_AT });
  });

  it('puts a batch behind its header: first seq, last seq, terminal', () => {
    expect(encodeBatchMessage(4, 5, true, 'F')).toBe('4 5 1\nF');
    expect(encodeBatchMessage(1, 1, false, '')).toBe('1 1 0\n');
  });

  it('ids increase as strings as they do as numbers, and a new epoch is 8 hex digits', () => {
    const ids = [1, 9, 10, 99, 100, 123456].map((seq) => formatEventId('00ff00ff', seq));
    expect([...ids].sort()).toEqual(ids);
    expect(newEpoch()).toMatch(/^[0-9a-f]{8}$/);
    expect(idLine('cursor').toString()).toBe('id: cursor\n');
  });
});

describe('the stored frame, read', () => {
  const epoch = '89abcdef';
  const frames = [1, 2, 3].map((seq) => storedFrame(epoch, seq, 'job.progress', eventJson(seq)));
  const message = Buffer.from(encodeBatchMessage(1, 3, false, frames.join('')));

  it('reads back what was written: id, epoch, data and the batch header', () => {
    expect(parseEventId(formatEventId(epoch, 12))).toEqual({ epoch, seq: 12 });
    expect(epochOfFrame(Buffer.from(frames[0]!))).toBe(epoch);
    expect(dataJsonOf(Buffer.from(frames[1]!))).toBe(eventJson(2));
    const batch = decodeBatchMessage(message)!;
    expect(batch).toMatchObject({ firstSeq: 1, lastSeq: 3, terminal: false, epoch });
    expect(batch.frames.toString()).toBe(frames.join(''));
    expect(decodeBatchMessage(Buffer.from(encodeBatchMessage(7, 7, true, frames[0]!)))).toMatchObject({ firstSeq: 7, lastSeq: 7, terminal: true });
  });

  it('refuses what it did not write', () => {
    for (const text of ['', '0a1b2c3d', '0a1b2c3d-', 'ABCDEF01-1', '0a1b2c3-1', '0a1b2c3d-1234567890123456', ' 0a1b2c3d-1']) expect(parseEventId(text)).toBeUndefined();
    expect(epochOfFrame(Buffer.from('event: x\n\n'))).toBeUndefined();
    expect(epochOfFrame(Buffer.from('id: 12'))).toBeUndefined();
    for (const text of ['no header', '3 2 0\n', 'a b 0\n', '']) expect(decodeBatchMessage(Buffer.from(text))).toBeUndefined();
  });

  it('cuts a batch after a seq, and each frame from its id line', () => {
    const batch = decodeBatchMessage(message)!;
    expect(framesAfter(batch, 0).toString()).toBe(frames.join(''));
    expect(framesAfter(batch, 2).toString()).toBe(frames[2]);
    expect(framesAfter(batch, 3).length).toBe(0);
    expect(framesWithoutIds(batch.frames).map(String)).toEqual(frames.map((f) => f.slice(f.indexOf('\n') + 1)));
  });

  it("reads the last event's publishedAt from the end, without parsing, even when a string holds the field's text", () => {
    const tricky = storedFrame(epoch, 4, 'job.progress', eventJson(4, ',"message":"\\"publishedAt\\":\\"2000-01-01T00:00:00.000Z\\""'));
    expect(lastPublishedAtMs(Buffer.from(frames.join('') + tricky))).toBe(Date.parse(PUBLISHED_AT));
    expect(lastPublishedAtMs(Buffer.from(activityFrame(epoch, 1, '{"status":"running"}')))).toBeNaN();
  });
});
