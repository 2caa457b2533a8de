/** keepTypes: the frames of a run (stored or with rewritten ids) whose `event:` is one of the types. */
import { storedFrame } from '@fanout/bus';
import { keepTypes } from '../src/frame-filter';

const run = (types: string[]): Buffer => Buffer.from(types.map((type, i) => storedFrame('0a0b0c0d', i + 1, type, `{"seq":${i + 1}}`)).join(''));

test('keeps only the frames of the types asked for, in order, and counts them', () => {
  const frames = run(['job.status', 'job.progress', 'job.progress', 'job.status']);
  const kept = keepTypes(frames, new Set(['job.status']));
  expect(kept.count).toBe(2);
  expect(kept.frames.toString()).toBe(storedFrame('0a0b0c0d', 1, 'job.status', '{"seq":1}') + storedFrame('0a0b0c0d', 4, 'job.status', '{"seq":4}'));
});

test('gives the run itself when every frame matches, and nothing when none does', () => {
  const frames = run(['pack_run.log', 'pack_run.log']);
  expect(keepTypes(frames, new Set(['pack_run.log'])).frames).toBe(frames);
  expect(keepTypes(frames, new Set(['pack_run.step'])).count).toBe(0);
});

test('a type that is a prefix of another does not match it', () => {
  expect(keepTypes(run(['job.progress']), new Set(['job.pro'])).count).toBe(0);
});
