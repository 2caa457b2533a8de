/** The queue a `?conflate=progress` stream holds while its client is behind: order kept, a subject's progress replaced by its latest. */
import { ConflationQueue, Skipped } from '../src/conflation-queue';

const frame = (text: string): Buffer => Buffer.from(`${text}\n\n`);
const notice = (subject: number, s: Skipped): Buffer => frame(`conflated ${subject} ${s.count} ${s.firstSeq}-${s.lastSeq}`);
const taken = (queue: ConflationQueue): string[] => queue.take().frames.toString().split('\n\n').filter(Boolean);

test.each<[string, (q: ConflationQueue) => void, string[]]>([
  ['nothing replaced: everything in order, no notice', (q) => (q.push(frame('s1')), q.pushProgress(frame('p2'), 0, 2, false), q.push(frame('s3'))), ['s1', 'p2', 's3']],
  [
    'a newer progress of the subject replaces the held one and goes last, after a notice',
    (q) => (q.pushProgress(frame('p1'), 0, 1, false), q.push(frame('s2')), q.pushProgress(frame('p3'), 0, 3, false)),
    ['s2', 'conflated 0 1 1-1', 'p3'],
  ],
  [
    'skipped ones add up over several replacements',
    (q) => (q.pushProgress(frame('p1'), 0, 1, false), q.pushProgress(frame('p2'), 0, 2, false), q.push(frame('l3')), q.pushProgress(frame('p4'), 0, 4, false)),
    ['l3', 'conflated 0 2 1-2', 'p4'],
  ],
  [
    'subjects are conflated apart',
    (q) => (q.pushProgress(frame('a1'), 0, 1, false), q.pushProgress(frame('b1'), 1, 1, false), q.pushProgress(frame('a2'), 0, 2, false), q.push(frame('heartbeat'))),
    ['b1', 'conflated 0 1 1-1', 'a2', 'heartbeat'],
  ],
])('%s', (_, fill, expected) => {
  const queue = new ConflationQueue(notice);
  fill(queue);
  expect(taken(queue)).toEqual(expected);
  expect(queue.isEmpty).toBe(true);
  expect(queue.bytes).toBe(0);
});

test('its bytes are those of the frames it holds, replaced ones not counted', () => {
  const queue = new ConflationQueue(notice);
  queue.push(frame('status'));
  queue.pushProgress(frame('p-1'), 0, 1, false);
  queue.pushProgress(frame('p-22'), 0, 22, false);
  expect(queue.bytes).toBe(frame('status').length + frame('p-22').length);
  // A take says how many it skipped; a take after it has nothing left of the first.
  expect(queue.take().skipped).toBe(1);
  queue.pushProgress(frame('p-23'), 0, 23, false);
  expect(taken(queue)).toEqual(['p-23']);
});

test('a take counts the domain events it writes, live and replayed, and neither control frames nor skipped events', () => {
  const queue = new ConflationQueue(notice);
  queue.push(frame('status'), true);
  queue.pushProgress(frame('p-1'), 0, 1, true);
  queue.push(frame('heartbeat'));
  queue.pushProgress(frame('p-2'), 0, 2, false);
  queue.pushProgress(frame('p-3'), 0, 3, false);
  queue.push(frame('log'), false);
  expect(queue.take()).toMatchObject({ skipped: 2, live: 2, replayed: 1 });
});
