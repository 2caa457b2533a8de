import { EventOutcome, ProducerConflictError, ProducerError, ProducerQuotaError, ValidationError, readAnswer } from '../src';

/** The error an event was rejected with, which must be an `E`. */
function rejectionOf<E extends ProducerError>(outcome: EventOutcome | undefined, type: abstract new (...args: never[]) => E): E {
  if (outcome?.kind !== 'rejected' || !(outcome.error instanceof type)) throw new Error(`expected a ${type.name} rejection, got ${JSON.stringify(outcome)}`);
  return outcome.error;
}

const sent = [
  { eventId: 'a1', subject: 'job a' },
  { eventId: 'a2', subject: 'job a' },
  { eventId: 'b1', subject: 'job b' },
];

describe('readAnswer', () => {
  it('sends 502/503/504 again whole', () => {
    for (const status of [502, 503, 504]) expect(readAnswer(status, '', sent).kind).toBe('retry');
  });

  it('reads a 202 per event', () => {
    const text = JSON.stringify({ results: sent.map((e, i) => ({ eventId: e.eventId, seq: i + 1, duplicate: i === 0 })) });
    const outcome = readAnswer(202, text, sent);
    expect(outcome).toEqual({ kind: 'events', outcomes: sent.map((e, i) => ({ kind: 'stored', result: { eventId: e.eventId, seq: i + 1, duplicate: i === 0 } })) });
  });

  it('maps a batch 400 to the events its paths name and sends the others again', () => {
    const problem = { title: 'Bad Request', status: 400, detail: '1 validation error(s)', errors: [{ path: 'events.1.data.percent', message: 'too big' }] };
    const outcome = readAnswer(400, JSON.stringify(problem), sent);
    if (outcome.kind !== 'events') throw new Error('expected events');
    expect(outcome.outcomes.map((o) => o.kind)).toEqual(['resend', 'rejected', 'resend']);
    const error = rejectionOf(outcome.outcomes[1], ValidationError);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.errors).toEqual([{ path: 'data.percent', message: 'too big' }]);
  });

  it('refuses every event of a 400 whose errors name no event', () => {
    const problem = { title: 'Bad Request', status: 400, detail: 'bad', errors: [{ path: 'events', message: 'x' }] };
    const outcome = readAnswer(400, JSON.stringify(problem), sent);
    expect(outcome.kind === 'events' && outcome.outcomes.every((o) => o.kind === 'rejected' && o.error instanceof ValidationError)).toBe(true);
  });

  it('splits a 409 and a 429 per event: stored, refused with the reason, or sent again', () => {
    const conflict = {
      title: 'Conflict', status: 409, detail: 'job a: …', current: 'pending', requested: 'running',
      results: [{ eventId: 'a1', error: 'not stored: another event of this subject was refused' }, { eventId: 'a2', error: 'illegal transition: current pending, requested succeeded (x)' }, { eventId: 'b1', seq: 4, duplicate: false }],
    };
    const outcome = readAnswer(409, JSON.stringify(conflict), sent);
    if (outcome.kind !== 'events') throw new Error('expected events');
    expect(outcome.outcomes[0]).toEqual({ kind: 'resend' });
    expect(rejectionOf(outcome.outcomes[1], ProducerConflictError)).toMatchObject({ current: 'pending', requested: 'succeeded', eventId: 'a2' });
    expect(outcome.outcomes[2]).toEqual({ kind: 'stored', result: { eventId: 'b1', seq: 4, duplicate: false } });

    const quota = { title: 'Too Many Requests', status: 429, detail: 'x', results: sent.map((e) => ({ eventId: e.eventId, error: 'the tenant holds its maximum of 1 subjects' })) };
    const refused = readAnswer(429, JSON.stringify(quota), sent, '7');
    expect(refused.kind === 'events' && refused.outcomes.every((o) => o.kind === 'rejected' && o.error instanceof ProducerQuotaError && o.error.retryAfterSeconds === 7)).toBe(true);
  });

  it('refuses every event on another status, with the problem', () => {
    const outcome = readAnswer(403, JSON.stringify({ title: 'Forbidden', status: 403, detail: 'no scope' }), sent);
    expect(outcome.kind === 'events' && outcome.outcomes.every((o) => o.kind === 'rejected' && o.error instanceof ProducerError && o.error.status === 403 && o.error.message === '403 Forbidden: no scope')).toBe(true);
  });
});
