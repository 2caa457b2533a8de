/**
 * What the client does when its EventSource gives up without telling why (as a browser's does):
 * one fetch of the same stream URL on a loopback server says which status the gateway answers, and
 * that decides between ending, renewing the token, stopping with an error and backing off.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { subscribe, subscribeActivity } from '../src';
import { ClientError, ConnectionState } from '../src/types';
import { FakeEventSource, FakeEventSourceClass } from './fake-event-source';

/**
 * What the loopback gateway answers to the next probes, in turn (the last one repeats): `drop`
 * closes the socket unanswered, `hang` never answers.
 */
let answers: (number | 'drop' | 'hang')[] = [];
let hanging: ServerResponse[] = [];
let probes: { url: string; accept: string | undefined; tenant: string | undefined }[] = [];
/** Whether the body of every 200 was let go by the client. */
let openBodies = 0;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    probes.push({ url: req.url ?? '', accept: req.headers.accept, tenant: req.headers['x-tenant'] as string | undefined });
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    if (answer === 'drop') return void req.socket.destroy();
    if (answer === 'hang') return void hanging.push(res);
    if (answer !== 200) return void res.writeHead(answer, { 'Content-Type': 'application/problem+json' }).end('{}');
    openBodies += 1;
    res.on('close', () => (openBodies -= 1));
    res.writeHead(200, { 'Content-Type': 'text/event-stream' }).write('retry: 1000\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  FakeEventSource.reset();
  FakeEventSource.refuseAll = true;
  probes = [];
});

interface Seen {
  states: ConnectionState[];
  errors: ClientError[];
  unsubscribe: () => void;
}

async function until(what: string, check: () => boolean, seen: Seen): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ states: seen.states, errors: seen.errors, probes })}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function watchJob(options: { token?: string; getToken?: () => string; tenant?: string } = {}): Seen {
  const seen: Seen = { states: [], errors: [], unsubscribe: () => undefined };
  seen.unsubscribe = subscribe({
    baseUrl,
    subjects: ['job:j-1'],
    EventSource: FakeEventSourceClass,
    reconnectDelayMs: 10,
    ...options,
    onEvent: () => undefined,
    onState: (state) => seen.states.push(state),
    onError: (error) => seen.errors.push(error),
  });
  return seen;
}

const ended = (seen: Seen) => () => seen.states.at(-1) === 'ended';

test.each([400, 404])('%i: an error with the status, and the end; the stream is asked for once', async (status) => {
  answers = [status];
  const seen = watchJob({ tenant: 'acme' });
  await until('the end', ended(seen), seen);
  expect(seen.errors).toEqual([{ kind: 'connection', message: `the gateway answered ${status}`, status, final: true }]);
  expect(seen.states).toEqual(['connecting', 'ended']);
  expect(FakeEventSource.opened).toHaveLength(1);
  expect(probes).toEqual([{ url: '/api/v1/stream/jobs/j-1', accept: 'text/event-stream', tenant: 'acme' }]);
});

test('204: the end, without an error', async () => {
  answers = [204];
  const seen = watchJob();
  await until('the end', ended(seen), seen);
  expect(seen.errors).toEqual([]);
  expect(seen.states).toEqual(['connecting', 'ended']);
});

test('401 and 403: getToken twice, each new token used for the next stream, then an error', async () => {
  answers = [401, 403, 401];
  let renewals = 0;
  const seen = watchJob({ token: 'first', getToken: () => `renewed-${++renewals}` });
  await until('the end', ended(seen), seen);
  expect(renewals).toBe(2);
  expect(FakeEventSource.opened.map((s) => new URL(s.url).searchParams.get('access_token'))).toEqual(['first', 'renewed-1', 'renewed-2']);
  expect(probes.map((p) => new URL(p.url, baseUrl).searchParams.get('access_token'))).toEqual(['first', 'renewed-1', 'renewed-2']);
  expect(seen.errors).toEqual([{ kind: 'connection', message: 'the gateway answered 401', status: 401, final: true }]);
  expect(seen.states).toEqual(['connecting', 'reconnecting', 'ended']);
});

test('403 without getToken: an error and the end', async () => {
  answers = [403];
  const seen = watchJob({ token: 'weak' });
  await until('the end', ended(seen), seen);
  expect(seen.errors).toEqual([{ kind: 'connection', message: 'the gateway answered 403', status: 403, final: true }]);
});

test('429, 503, no answer at all and a 200 by the time it asked: backing off and asking again, until a 404', async () => {
  answers = [429, 503, 'drop', 200, 404];
  const seen = watchJob();
  await until('the end', ended(seen), seen);
  expect(seen.errors.map((e) => [e.status, e.final])).toEqual([
    [429, false],
    [503, false],
    [undefined, false],
    [200, false],
    [404, true],
  ]);
  expect(seen.errors[2]).toEqual({ kind: 'connection', message: 'the stream could not be opened', final: false });
  expect(seen.states).toEqual(['connecting', 'reconnecting', 'ended']);
  expect(FakeEventSource.opened).toHaveLength(5);
  // The 200's stream was aborted, not left open.
  await until('the probe of the 200 to let go of its body', () => openBodies === 0, seen);
});

test('a resumed stream is probed from where it stands: the last event id', async () => {
  FakeEventSource.refuseAll = false;
  answers = [204];
  const seen = watchJob();
  const source = FakeEventSource.latest;
  source.open();
  source.frame('job.status', jobStatus(1, 'pending'), 'e-1');
  source.giveUp();
  await until('the end', ended(seen), seen);
  expect(probes.map((p) => p.url)).toEqual(['/api/v1/stream/jobs/j-1?lastEventId=e-1']);
  expect(seen.states).toEqual(['connecting', 'live', 'ended']);
});

test('the activity stream: a 401 without getToken ends it with the error; a 503 is retried', async () => {
  answers = [503, 401];
  const states: ConnectionState[] = [];
  const errors: ClientError[] = [];
  subscribeActivity({ baseUrl, EventSource: FakeEventSourceClass, reconnectDelayMs: 10, onUpdate: () => undefined, onState: (s) => states.push(s), onError: (e) => errors.push(e) });
  const seen = { states, errors, unsubscribe: () => undefined };
  await until('the end', ended(seen), seen);
  expect(errors.map((e) => e.status)).toEqual([503, 401]);
  expect(probes.map((p) => p.url)).toEqual(['/api/v1/stream/subjects', '/api/v1/stream/subjects']);
});

test('unsubscribed while the status is asked for: the request is aborted and nothing more happens', async () => {
  answers = ['hang'];
  hanging = [];
  const seen = watchJob();
  await until('the probe', () => hanging.length === 1, seen);
  const aborted = new Promise((resolve) => hanging[0]!.on('close', resolve));
  seen.unsubscribe();
  await aborted;
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(seen.states).toEqual(['connecting']);
  expect(seen.errors).toEqual([]);
});

function jobStatus(seq: number, status: string) {
  return {
    eventId: `e${seq}`,
    tenant: 't',
    subject: { kind: 'job', id: 'j-1' },
    type: 'job.status',
    occurredAt: '2026-01-01T00:00:00.000Z',
    data: { status, attempt: 1 },
    seq,
    publishedAt: '2026-01-01T00:00:00.000Z',
  };
}
