import { StoredTails } from '../src/stored-tails';

test('knows nothing of a subject it never appended to, and the last seq of one it did', () => {
  const tails = new StoredTails();
  expect(tails.knownOf('m:a')).toBe('');
  tails.remember('m:a', 'e1', 5);
  tails.remember('m:a', 'e1', 7);
  expect(tails.knownOf('m:a')).toBe('e1:7');
});

test('keeps the highest seq of an epoch (an append that stored nothing answers the store\'s lower one), and a new epoch as it comes', () => {
  const tails = new StoredTails();
  tails.remember('m:a', 'e1', 106);
  tails.remember('m:a', 'e1', 101);
  expect(tails.knownOf('m:a')).toBe('e1:106');
  tails.remember('m:a', 'e2', 3);
  expect(tails.knownOf('m:a')).toBe('e2:3');
});

test('is bounded: the subject appended to least recently is forgotten first', () => {
  const tails = new StoredTails(3);
  for (const key of ['a', 'b', 'c']) tails.remember(key, 'e', 1);
  tails.remember('a', 'e', 2);
  tails.remember('d', 'e', 1);
  expect(tails.size).toBe(3);
  expect(['a', 'b', 'c', 'd'].map((key) => tails.knownOf(key))).toEqual(['e:2', '', 'e:1', 'e:1']);
});
