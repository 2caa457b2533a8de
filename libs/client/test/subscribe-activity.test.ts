/**
 * subscribeActivity() over a scripted EventSource: the route, validation with the contract's
 * schemas, gaps, the state machine, resuming after the last id and renewing the token.
 */
import { subscribeActivity } from '../src';
import { ActivityGap, ClientError, ConnectionState } from '../src/types';
import { FakeEventSource, FakeEventSourceClass } from './fake-event-source';

interface Seen {
  updates: { subject: string; status: string; seq: number; id: string }[];
  states: ConnectionState[];
  gaps: ActivityGap[];
  errors: ClientError[];
  unsubscribe: () => void;
}

function watch(options: { token?: string; getToken?: () => Promise<string> } = {}): Seen {
  const seen: Seen = { updates: [], states: [], gaps: [], errors: [], unsubscribe: () => undefined };
  seen.unsubscribe = subscribeActivity({
    baseUrl: 'https://gw.example/',
    EventSource: FakeEventSourceClass,
    ...options,
    onUpdate: (update, { id }) => seen.updates.push({ subject: `${update.subject.kind}:${update.subject.id}`, status: update.status, seq: update.seq, id }),
    onState: (state) => seen.states.push(state),
    onGap: (gap) => seen.gaps.push(gap),
    onError: (error) => seen.errors.push(error),
  });
  return seen;
}

const update = (id: string, status: string, seq: number) => ({ subject: { kind: 'job', id }, status, seq, updatedAt: '2026-01-01T00:00:00.000Z' });

beforeEach(() => FakeEventSource.reset());

test('opens the activity route; delivers valid updates with their ids; reports invalid frames and gaps; drops are reconnecting', () => {
  const seen = watch();
  const source = FakeEventSource.latest;
  expect(source.url).toBe('https://gw.example/api/v1/stream/subjects');
  source.open();
  source.frame('subject.updated', update('a', 'pending', 1), 'ep-0000000001');
  source.frame('heartbeat', { ts: '2026-01-01T00:00:01.000Z' });
  source.frame('subject.updated', { ...update('a', 'running', 2), extra: true }, 'ep-0000000002');
  source.frame('subject.updated', update('b', 'pending', 1));
  source.frame('subject.updated', 'not json', 'ep-0000000003');
  source.frame('gap', { reason: 'history_trimmed', firstAvailableSeq: 7 });
  source.frame('gap', { reason: 'history_lost', firstAvailableSeq: 1, subject: { kind: 'job', id: 'a' } });
  source.frame('subject.updated', update('b', 'scheduled', 2), 'ep-0000000008');
  source.drop();
  source.open();

  expect(seen.updates).toEqual([
    { subject: 'job:a', status: 'pending', seq: 1, id: 'ep-0000000001' },
    { subject: 'job:b', status: 'scheduled', seq: 2, id: 'ep-0000000008' },
  ]);
  expect(seen.gaps).toEqual([{ reason: 'history_trimmed', firstAvailableSeq: 7 }]);
  expect(seen.errors.map((e) => [e.kind, e.message.split(':')[0], e.final])).toEqual([
    ['invalid_frame', 'invalid subject.updated frame', false],
    ['invalid_frame', 'invalid subject.updated frame', false],
    ['invalid_frame', 'invalid subject.updated frame', false],
    ['invalid_frame', 'invalid gap frame', false],
  ]);
  expect(seen.states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  expect(FakeEventSource.opened).toHaveLength(1);
});

test('end {shutdown} is left to the EventSource; end {token_expired} renews the token and resumes after the last id', async () => {
  let renewals = 0;
  const seen = watch({ token: 'old', getToken: async () => `new-${++renewals}` });
  const first = FakeEventSource.latest;
  first.open();
  first.frame('subject.updated', update('a', 'pending', 1), 'ep-0000000001');
  first.frame('end', { reason: 'shutdown' });
  expect(seen.states).toEqual(['connecting', 'live', 'reconnecting']);
  first.open();
  first.frame('subject.updated', update('a', 'running', 2), 'ep-0000000002');
  first.frame('end', { reason: 'token_expired' });
  await new Promise((resolve) => setTimeout(resolve));
  expect(first.closed).toBe(true);
  const second = FakeEventSource.latest;
  expect(second).not.toBe(first);
  expect(second.url).toBe('https://gw.example/api/v1/stream/subjects?lastEventId=ep-0000000002&access_token=new-1');
  second.open();
  second.frame('subject.updated', update('a', 'succeeded', 3), 'ep-0000000003');
  expect(seen.updates.map((u) => u.seq)).toEqual([1, 2, 3]);
  expect(seen.states).toEqual(['connecting', 'live', 'reconnecting', 'live', 'reconnecting', 'live']);
  expect(seen.errors).toEqual([]);
});

test('end {completed} is taken at its word; unsubscribing closes the EventSource and silences the callbacks', () => {
  const seen = watch();
  const source = FakeEventSource.latest;
  source.open();
  seen.unsubscribe();
  expect(source.closed).toBe(true);
  source.frame('subject.updated', update('a', 'pending', 1), 'ep-0000000001');
  expect(seen.updates).toEqual([]);

  const other = watch();
  FakeEventSource.latest.open();
  FakeEventSource.latest.frame('end', { reason: 'completed' });
  expect(other.states).toEqual(['connecting', 'live', 'ended']);
  expect(FakeEventSource.latest.closed).toBe(true);
});

test('token_expired without getToken: a token error and the end', () => {
  const seen = watch({ token: 'old' });
  FakeEventSource.latest.open();
  FakeEventSource.latest.frame('end', { reason: 'token_expired' });
  expect(seen.errors).toEqual([{ kind: 'token', message: 'the token expired and there is no getToken to renew it', final: true }]);
  expect(seen.states).toEqual(['connecting', 'live', 'reconnecting', 'ended']);
});
