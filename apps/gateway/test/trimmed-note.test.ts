import { trimmedNote } from '../src/routes/log-route';

test('the note of a log trimmed before it was read names where the log below starts', () => {
  expect(trimmedNote(51)).toBe('[fanout] history trimmed: events 1..50 of this pack run are no longer retained; the log below starts at seq 51\n');
});

test('the note of events trimmed while the log was read, up to past its end, says nothing follows rather than naming a seq that never comes', () => {
  expect(trimmedNote(700, 602, 1001)).toBe('[fanout] history trimmed: events 602..699 of this pack run are no longer retained; the log below starts at seq 700\n');
  expect(trimmedNote(1002, 602, 1001)).toBe('[fanout] history trimmed: events 602..1001 of this pack run are no longer retained; that is the end of this log\n');
});
