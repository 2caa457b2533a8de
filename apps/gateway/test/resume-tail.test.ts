/** Where a stream started at `?tail=` begins, and what `tail` values are taken. */
import { SubjectInfo } from '@fanout/bus';
import { HttpProblem } from '@fanout/http';
import { MAX_STREAM_TAIL } from '@fanout/contracts';
import { parseTail, planTail } from '../src/resume-position';

const info = (firstSeq: number, lastSeq: number): SubjectInfo => ({ epoch: 'e1e1e1e1', firstSeq, lastSeq, status: 'running', terminal: false, updatedAt: '' });

test.each<[string, number, SubjectInfo, { afterSeq: number; gap?: object }]>([
  ['the last n of a long history', 100, info(1, 5007), { afterSeq: 4907 }],
  ['all of a short history', 100, info(1, 40), { afterSeq: 0 }],
  ['exactly all of it', 40, info(1, 40), { afterSeq: 0 }],
  ['within what a trimmed history retains', 10, info(50, 200), { afterSeq: 190 }],
  ['from the first retained, after a gap, when more is asked than is retained', 1000, info(50, 200), { afterSeq: 0, gap: { reason: 'history_trimmed', firstAvailableSeq: 50 } }],
  ['the one last event', 1, info(1, 9), { afterSeq: 8 }],
])('planTail: %s', (_name, tail, subject, expected) => {
  expect(planTail(tail, subject)).toEqual({ kind: 'stream', ...expected });
});

test('planTail never starts past the gap it reports, nor skips a retained event of the tail', () => {
  for (let first = 1; first <= 30; first += 1) {
    for (let last = first - 1; last <= 40; last += 1) {
      for (const tail of [1, 2, 5, 10, 40, MAX_STREAM_TAIL]) {
        const plan = planTail(tail, info(first, last));
        const start = (plan.gap ? plan.gap.firstAvailableSeq - 1 : plan.afterSeq) + 1;
        expect(start).toBe(Math.max(first, last - tail + 1, 1));
      }
    }
  }
});

test('parseTail takes 1..10000 and nothing else', () => {
  expect(parseTail(null)).toBeUndefined();
  expect(parseTail('')).toBeUndefined();
  expect(parseTail('1')).toBe(1);
  expect(parseTail('10000')).toBe(10_000);
  for (const bad of ['0', '10001', '-1', '1.5', '1e3', ' 5', 'abc', '0x10', '9999999']) {
    expect(() => parseTail(bad)).toThrow(HttpProblem);
  }
});
