/**
 * `types` and `conflate: 'progress'` (issue 17, items 3 and 4): the URL asks for them, the seqs the
 * gateway leaves out on purpose are not reported as gaps, and a `conflated` frame reaches onConflated.
 * Without either, a skipped seq is still a gap.
 */
import { subscribe } from '../src';
import { ConflatedNotice, GapNotice, SubscribeOptions } from '../src/types';
import { FakeEventSource, FakeEventSourceClass } from './fake-event-source';

beforeEach(() => FakeEventSource.reset());

function progress(seq: number, percent: number) {
  return {
    eventId: `e${seq}`,
    tenant: 't',
    subject: { kind: 'job', id: 'j-1' },
    type: 'job.progress',
    occurredAt: '2026-01-01T00:00:00.000Z',
    data: { percent },
    seq,
    publishedAt: '2026-01-01T00:00:00.000Z',
  };
}

function run(options: Partial<SubscribeOptions>) {
  const seen = { seqs: [] as number[], gaps: [] as GapNotice[], conflated: [] as ConflatedNotice[] };
  const stop = subscribe({
    baseUrl: 'http://gateway.test',
    subjects: ['job:j-1'],
    EventSource: FakeEventSourceClass,
    shareAcrossTabs: false,
    onState: () => undefined,
    onEvent: (event) => seen.seqs.push(event.seq),
    onGap: (gap) => seen.gaps.push(gap),
    onConflated: (notice) => seen.conflated.push(notice),
    ...options,
  });
  const source = FakeEventSource.latest;
  source.open();
  return { seen, source, stop };
}

test('types and conflate go in the URL', () => {
  const { stop } = run({ types: ['job.status', 'job.progress'], conflate: 'progress' });
  expect(FakeEventSource.latest.url).toBe('http://gateway.test/api/v1/stream/jobs/j-1?types=job.status,job.progress&conflate=progress');
  stop();
});

test('a tail, types or conflate the gateway would refuse is a TypeError from subscribe, before any connection', () => {
  for (const [options, message] of [
    [{ tail: 0 }, /tail must be a whole number from 1 to 10000, not 0/],
    [{ tail: 1.5 }, /tail/],
    [{ tail: 10_001 }, /tail/],
    [{ types: ['job.status', 'nope'] }, /"nope" is not an event type/],
    [{ conflate: 'everything' }, /conflate takes 'progress' only/],
  ] as [Partial<SubscribeOptions>, RegExp][]) {
    expect(() => run(options as Partial<SubscribeOptions>)).toThrow(message);
  }
  expect(FakeEventSource.opened).toHaveLength(0);
});

test('with conflate, a conflated frame reaches onConflated and the seqs it names are no gap', () => {
  const { seen, source, stop } = run({ conflate: 'progress' });
  source.frame('job.progress', progress(1, 10), 'ep-0000000001');
  source.frame('conflated', { type: 'job.progress', skipped: 3, firstSeq: 2, lastSeq: 4 });
  source.frame('job.progress', progress(5, 50), 'ep-0000000005');
  source.frame('job.progress', progress(5, 50), 'ep-0000000005');
  expect(seen.seqs).toEqual([1, 5]);
  expect(seen.conflated).toEqual([{ subject: { kind: 'job', id: 'j-1' }, type: 'job.progress', skipped: 3, firstSeq: 2, lastSeq: 4 }]);
  expect(seen.gaps).toEqual([]);
  stop();
});

test('with types, skipped seqs are no gap; without types or conflate they are', () => {
  const filtered = run({ types: ['job.progress'] });
  filtered.source.frame('job.progress', progress(2, 10), 'ep-0000000002');
  filtered.source.frame('job.progress', progress(7, 70), 'ep-0000000007');
  expect(filtered.seen.seqs).toEqual([2, 7]);
  expect(filtered.seen.gaps).toEqual([]);
  filtered.stop();

  const plain = run({});
  plain.source.frame('job.progress', progress(1, 10), 'ep-0000000001');
  plain.source.frame('job.progress', progress(3, 30), 'ep-0000000003');
  expect(plain.seen.gaps).toEqual([{ source: 'client', subject: { kind: 'job', id: 'j-1' }, reason: 'seq_skipped', expectedSeq: 2, receivedSeq: 3 }]);
  plain.stop();
});
