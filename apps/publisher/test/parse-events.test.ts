import { HttpProblem } from '@fanout/http';
import { MAX_LISTED_ERRORS, parseEventsBody } from '../src/parse-events';

const progress = { eventId: 'e1', tenant: 't', subject: { kind: 'job', id: 'j1' }, type: 'job.progress', occurredAt: '2026-12-05T00:00:00.000Z', data: { percent: 5 } };

function errorsOf(body: unknown): { path: string; message: string }[] {
  try {
    parseEventsBody(body, undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(HttpProblem);
    expect((error as HttpProblem).status).toBe(400);
    return (error as HttpProblem).extra.errors as { path: string; message: string }[];
  }
  throw new Error('the body was accepted');
}

test('an unknown field is an error at its own path, one per field', () => {
  expect(errorsOf({ ...progress, data: { percent: 5, pad: 1, pod: 2 }, extra: true })).toEqual([
    { path: 'data.pad', message: 'unknown field "pad"' },
    { path: 'data.pod', message: 'unknown field "pod"' },
    { path: 'extra', message: 'unknown field "extra"' },
  ]);
});

test('a missing field says it is required', () => {
  const { tenant: _tenant, ...withoutTenant } = progress;
  expect(errorsOf({ ...withoutTenant, data: {} })).toEqual([
    { path: 'tenant', message: 'required (string)' },
    { path: 'data.percent', message: 'required (number)' },
  ]);
  // Fields that take one of a list of values, and the type, say so too; a wrong value keeps its own message.
  const { type: _type, ...withoutType } = progress;
  expect(errorsOf({ ...progress, type: 'job.status', subject: { id: 'j1' }, data: {} })).toEqual([
    { path: 'subject.kind', message: 'required (one of "job"|"pack-run"|"run")' },
    { path: 'data.status', message: 'required (one of "pending"|"scheduled"|"throttled"|"leased"|"running"|"succeeded"|"failed"|"canceled"|"timed_out")' },
  ]);
  expect(errorsOf(withoutType)).toEqual([
    { path: 'type', message: 'required (one of "job.status"|"job.progress"|"pack_run.status"|"pack_run.step"|"pack_run.log"|"run.status"|"run.progress")' },
  ]);
  expect(errorsOf({ ...progress, type: 'job.exploded' })[0]!.message).not.toMatch(/^required/);
  expect(errorsOf({ ...progress, type: 'job.status', data: { status: 'exploded' } })[0]!.message).not.toMatch(/^required/);
});

test('an event with a missing or unknown type has its other fields judged too', () => {
  const { type: _type, ...withoutType } = progress;
  const bad = { ...withoutType, eventId: '', subject: { kind: 'job', id: 'x y' }, occurredAt: 'yesterday' };
  for (const [body, prefix] of [
    [bad, ''],
    [{ ...bad, type: 'job.exploded' }, ''],
    [{ events: [progress, { ...bad, type: 7 }] }, 'events.1.'],
  ] as const) {
    expect(errorsOf(body).map((e) => e.path)).toEqual(['type', 'eventId', 'subject.id', 'occurredAt'].map((path) => prefix + path));
  }
  // With its other fields right, the type is the one error.
  expect(errorsOf({ ...progress, type: 'job.exploded' }).map((e) => e.path)).toEqual(['type']);
  // Unknown fields are errors whatever the type.
  expect(errorsOf({ ...withoutType, pad: 1 }).map((e) => e.path)).toEqual(['type', 'pad']);
  expect(errorsOf({ ...progress, type: 'job.exploded', pad: 1 })).toEqual([expect.objectContaining({ path: 'type' }), { path: 'pad', message: 'unknown field "pad"' }]);
  expect(errorsOf({ events: [{ pad: 1 }] }).map((e) => e.path)).toEqual(['events.0.type', 'events.0.eventId', 'events.0.tenant', 'events.0.subject', 'events.0.occurredAt', 'events.0.pad']);
});

test('an eventId holding a lone surrogate (a JSON \\ud800 escape) is refused: Redis would read it as U+FFFD', () => {
  for (const eventId of ['k\ud800', 'k\udfff', '\ude00\ud83d']) {
    expect(errorsOf(JSON.parse(JSON.stringify({ ...progress, eventId })))).toEqual([{ path: 'eventId', message: expect.stringContaining('well-formed Unicode') }]);
  }
  // A surrogate pair is one character, and U+FFFD itself is text.
  for (const eventId of ['k\ud83d\ude00', 'k\ufffd']) expect(parseEventsBody({ ...progress, eventId }, undefined).events[0]!.eventId).toBe(eventId);
});

test('an event that is not an object is a 400 at its index, in a batch of any shape', () => {
  for (const item of [null, 7, 'event', [progress]]) {
    expect(errorsOf({ events: [item] })).toEqual([{ path: 'events.0', message: expect.stringMatching(/^Invalid input: expected object/) }]);
  }
  expect(errorsOf({ events: [{}, null] }).map((e) => e.path)).toEqual(['events.0.type', 'events.0.eventId', 'events.0.tenant', 'events.0.subject', 'events.0.occurredAt', 'events.1']);
});

test('unknown fields beside "events" are errors at their own paths', () => {
  expect(errorsOf({ events: [progress], pad: 1, pod: 2 })).toEqual([
    { path: 'pad', message: 'unknown field "pad"' },
    { path: 'pod', message: 'unknown field "pod"' },
  ]);
});

test('at most MAX_LISTED_ERRORS errors are listed, and the detail counts them all', () => {
  const data = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, i]));
  const events = Array.from({ length: 10 }, (_, i) => ({ ...progress, eventId: `e${i}`, data: { percent: 5, ...data } }));
  try {
    parseEventsBody({ events }, undefined);
    throw new Error('the body was accepted');
  } catch (error) {
    const problem = error as HttpProblem;
    expect(problem.detail).toBe(`3000 validation error(s); the first ${MAX_LISTED_ERRORS} are listed; nothing was stored`);
    expect((problem.extra.errors as unknown[]).length).toBe(MAX_LISTED_ERRORS);
  }
});
