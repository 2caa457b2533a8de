/**
 * POST /api/v1/events (publisher) and the JSON history route (gateway), end to end.
 */
import { connect } from 'node:net';
import { StreamedEventSchemas } from '@fanout/contracts';
import { closeAllStreams } from '../support/sse-client';
import { jobEvents, jsonOrUndefined, makeEvent, packRunEvents, postBytes, range, Stack, startStack, TestEvent } from '../support/stack';

type Json = Record<string, any>;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  await stack?.stop();
}, 60_000);

const PROBLEM = /^application\/problem\+json\b/;

function expectProblem(answer: { status: number; headers: Headers | Record<string, unknown>; json: Json | undefined; text: string }, status: number): Json {
  const contentType = answer.headers instanceof Headers ? answer.headers.get('content-type') : (answer.headers['content-type'] as string | undefined);
  expect({ status: answer.status, contentType, body: answer.text.slice(0, 500) }).toEqual({
    status,
    contentType: expect.stringMatching(PROBLEM),
    body: expect.any(String),
  });
  expect(answer.json).toMatchObject({ title: expect.any(String), status, detail: expect.any(String) });
  return answer.json!;
}

function expectValidationErrors(problem: Json): { path: string; message: string }[] {
  expect(Array.isArray(problem.errors)).toBe(true);
  expect(problem.errors.length).toBeGreaterThan(0);
  for (const e of problem.errors) expect(e).toEqual(expect.objectContaining({ path: expect.any(String), message: expect.any(String) }));
  return problem.errors;
}

/** A POST with no body at all, neither Content-Length nor Transfer-Encoding (as `curl -X POST` sends it). */
function postWithoutBody(url: string, contentType: string): Promise<{ status: number; headers: Record<string, string>; text: string; json: Json | undefined }> {
  const { host, hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let raw = '';
    socket.setEncoding('utf8');
    socket.setTimeout(20_000, () => socket.destroy(new Error(`POST ${url}: no answer within 20 s`)));
    socket.on('data', (chunk: string) => (raw += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const split = raw.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = raw.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      const text = raw.slice(split + 4);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text, json: jsonOrUndefined(text) });
    });
    socket.write(`POST ${pathname} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${contentType}\r\nConnection: close\r\n\r\n`);
  });
}

/** The subject has exactly these statuses stored (404 when `statuses` is empty). */
async function expectStored(kind: 'job' | 'pack-run', id: string, count: number): Promise<Json[]> {
  const answer = await stack.history(kind, id, { limit: 1000 });
  if (count === 0) {
    expect(answer.status).toBe(404);
    return [];
  }
  expect(answer.status).toBe(200);
  expect(answer.json.events).toHaveLength(count);
  return answer.json.events;
}

test('202 with results[{eventId, seq, duplicate:false}] for one event and for a batch', async () => {
  const job = jobEvents(stack.tenant);
  const first = job.status('pending');
  const one = await stack.publish(first);
  expect(one.status).toBe(202);
  expect(one.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(one.json).toEqual({ results: [{ eventId: first.eventId, seq: 1, duplicate: false }] });

  const batch = [job.status('scheduled'), job.status('leased'), job.status('running'), job.progress(5)];
  const many = await stack.publish({ events: batch });
  expect(many.status).toBe(202);
  expect(many.json).toEqual({ results: batch.map((e, i) => ({ eventId: e.eventId, seq: i + 2, duplicate: false })) });
  await expectStored('job', job.id, 5);
});

test('a duplicate eventId answers the original seq with duplicate:true, stores nothing, and the first content wins (also for a terminal event)', async () => {
  const job = jobEvents(stack.tenant);
  const pending = job.status('pending', { jobType: 'original' });
  await stack.publishOk([pending, job.status('scheduled')]);
  const again = await stack.publish({ ...pending, data: { status: 'pending', jobType: 'changed' } });
  expect(again.status).toBe(202);
  expect(again.json).toEqual({ results: [{ eventId: pending.eventId, seq: 1, duplicate: true }] });
  const stored = await expectStored('job', job.id, 2);
  expect(stored[0]!.data.jobType).toBe('original');

  const done = job.status('succeeded');
  await stack.publishOk([job.status('leased'), job.status('running'), done]);
  const resent = await stack.publish(done);
  expect(resent.status).toBe(202);
  expect(resent.json).toEqual({ results: [{ eventId: done.eventId, seq: 5, duplicate: true }] });
  await expectStored('job', job.id, 5);
});

test('400 problem+json with errors[{path, message}] for schema errors; nothing of the batch is stored', async () => {
  const job = jobEvents(stack.tenant);
  const badStatus = await stack.publish(job.status('exploded'));
  const errors = expectValidationErrors(expectProblem(badStatus, 400));
  expect(errors.some((e) => /status/.test(e.path))).toBe(true);

  const unknownField = await stack.publish(makeEvent(stack.tenant, 'job', job.id, 'job.progress', { percent: 5, bogusField: 1 }));
  const unknownErrors = expectValidationErrors(expectProblem(unknownField, 400));
  expect(unknownErrors.some((e) => /bogusField/.test(`${e.path} ${e.message}`))).toBe(true);

  const wrongKind = await stack.publish(makeEvent(stack.tenant, 'pack-run', job.id, 'job.status', { status: 'pending' }));
  expectValidationErrors(expectProblem(wrongKind, 400));

  const { tenant: _tenant, ...noTenant } = job.status('pending');
  const missingTenant = await stack.publish(noTenant);
  const tenantErrors = expectValidationErrors(expectProblem(missingTenant, 400));
  expect(tenantErrors.some((e) => /tenant/.test(`${e.path} ${e.message}`))).toBe(true);

  const other = jobEvents(stack.tenant);
  const mixed = await stack.publish({ events: [other.status('pending'), other.status('scheduled'), job.progress(101)] });
  const mixedErrors = expectValidationErrors(expectProblem(mixed, 400));
  expect(mixedErrors.some((e) => /percent/.test(e.path))).toBe(true);
  await expectStored('job', other.id, 0);
  await expectStored('job', job.id, 0);

  const unknownWrapperKey = await stack.publish({ events: [other.status('pending')], x: 1 });
  const wrapperErrors = expectValidationErrors(expectProblem(unknownWrapperKey, 400));
  expect(wrapperErrors.some((e) => /"x"/.test(`${e.path} ${e.message}`))).toBe(true);
  await expectStored('job', other.id, 0);

  const tooMany = await stack.publish({ events: Array.from({ length: 501 }, () => other.progress(1)) });
  expectProblem(tooMany, 400);
  await expectStored('job', other.id, 0);
});

test('400 problem+json for bad JSON', async () => {
  const answer = await stack.postRaw('{"eventId": "x", "tenant": ');
  expectProblem(answer, 400);
  const notAnObject = await stack.postRaw('"just a string"');
  expectProblem(notAnObject, 400);
  // An empty body is not JSON either, whether it is sent as Content-Length: 0 or with no length at all.
  expectProblem(await stack.postRaw(''), 400);
  expectProblem(await postWithoutBody(`${stack.publisher.url}/api/v1/events`, 'application/json'), 400);
  expectProblem(await postWithoutBody(`${stack.publisher.url}/api/v1/events`, 'text/plain'), 415);
});

test('valid JSON that is no event (null, a number) is a 400 saying what a body must be, not "not valid JSON"', async () => {
  for (const body of ['null', '3', '[]']) {
    const answer = await stack.postRaw(body);
    expectProblem(answer, 400);
    expect(answer.json.detail).toMatch(/one event or \{"events": \[\.\.\.\]\}/);
  }
});

test('routes are case-sensitive: /api/v1/EVENTS and /api/v1/jobs/x/EVENTS are not routes (404 problem+json)', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const upper = await fetch(`${stack.publisher.url}/api/v1/EVENTS`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(job.status('scheduled')) });
  expect(upper.status).toBe(404);
  expect(upper.headers.get('content-type')).toContain('application/problem+json');
  const history = await fetch(`${stack.gateways[0]!.url}/api/v1/jobs/${job.id}/EVENTS`, { headers: { 'X-Tenant': stack.tenant } });
  expect(history.status).toBe(404);
  expect((await stack.history('job', job.id)).json.events).toHaveLength(1);
});

test('409 problem+json naming the current and requested status; nothing stored', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const illegal = await stack.publish(job.status('succeeded'));
  const problem = expectProblem(illegal, 409);
  expect(problem.detail).toMatch(/pending/);
  expect(problem.detail).toMatch(/succeeded/);
  await expectStored('job', job.id, 1);

  const fresh = jobEvents(stack.tenant);
  const firstNotStatus = await stack.publish(fresh.progress(10));
  expect(expectProblem(firstNotStatus, 409).detail).toMatch(/none/);
  const firstRunning = await stack.publish(fresh.status('running'));
  const runningProblem = expectProblem(firstRunning, 409);
  expect(runningProblem.detail).toMatch(/none/);
  expect(runningProblem.detail).toMatch(/running/);
  await expectStored('job', fresh.id, 0);

  const finished = jobEvents(stack.tenant);
  await stack.publishOk([finished.status('pending'), finished.status('canceled')]);
  const afterTerminal = await stack.publish(finished.status('scheduled'));
  const terminalProblem = expectProblem(afterTerminal, 409);
  expect(terminalProblem.detail).toMatch(/canceled/);
  expect(terminalProblem.detail).toMatch(/scheduled/);
});

test('a batch that breaks one subject\'s state machine: 409 with per-event results (seq or error), the other subjects stored', async () => {
  const a = jobEvents(stack.tenant);
  const b = jobEvents(stack.tenant);
  const c = packRunEvents(stack.tenant);
  const events: TestEvent[] = [a.status('pending'), b.status('pending'), a.status('scheduled'), b.status('succeeded'), c.status('pending'), b.progress(3)];
  const answer = await stack.publish({ events });
  expect(answer.status).toBe(409);
  const results = answer.json?.results as Json[];
  expect(Array.isArray(results)).toBe(true);
  expect(results.map((r) => r.eventId)).toEqual(events.map((e) => e.eventId));
  expect(results[0]).toMatchObject({ seq: 1 });
  expect(results[2]).toMatchObject({ seq: 2 });
  expect(results[4]).toMatchObject({ seq: 1 });
  for (const i of [1, 3, 5]) {
    expect(results[i]!.error).toBeDefined();
    expect(results[i]!.seq).toBeUndefined();
  }
  for (const i of [0, 2, 4]) expect(results[i]!.error).toBeUndefined();
  await expectStored('job', a.id, 2);
  await expectStored('job', b.id, 0);
  await expectStored('pack-run', c.id, 1);
});

test('413 for an event over 64 KiB (before the schema) and for a body over 4 MiB', async () => {
  const pr = packRunEvents(stack.tenant);
  const url = `${stack.publisher.url}/api/v1/events`;
  const json = { 'Content-Type': 'application/json' };

  const huge = pr.log(0, 1, 'stdout', 'y'.repeat(70 * 1024));
  expectProblem(await postBytes(url, JSON.stringify(huge), json), 413);
  // Inside a batch too, next to a valid event.
  const inBatch = await postBytes(url, JSON.stringify({ events: [pr.status('pending'), huge] }), json);
  expectProblem(inBatch, 413);
  await expectStored('pack-run', pr.id, 0);

  // Small events, but the request body is over 4 MiB.
  const bigLines = Array.from({ length: 500 }, (_, i) => pr.log(0, i + 1, 'stdout', 'z'.repeat(8 * 1024)));
  const body = JSON.stringify({ events: [pr.status('pending'), ...bigLines.slice(0, 499)] });
  expect(Buffer.byteLength(body)).toBeGreaterThan(4 * 1024 * 1024);
  expectProblem(await postBytes(url, body, json), 413);
  const padded = JSON.stringify(pr.status('pending')) + ' '.repeat(4 * 1024 * 1024 + 10);
  expectProblem(await postBytes(url, padded, json), 413);
  await expectStored('pack-run', pr.id, 0);
});

test('415 problem+json for a non-JSON content type', async () => {
  const job = jobEvents(stack.tenant);
  expectProblem(await stack.postRaw(JSON.stringify(job.status('pending')), 'text/plain'), 415);
  expectProblem(await stack.postRaw(JSON.stringify(job.status('pending')), 'application/x-www-form-urlencoded'), 415);
  await expectStored('job', job.id, 0);
});

test('the history JSON route pages with after, limit and next', async () => {
  const job = jobEvents(stack.tenant);
  const published = [job.status('pending'), job.status('scheduled'), job.status('leased'), job.status('running')];
  for (let i = 0; i < 21; i++) published.push(job.progress(i * 4));
  await stack.publishOk(published);

  const page1 = await stack.history('job', job.id, { limit: 10 });
  expect(page1.status).toBe(200);
  expect(page1.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(page1.json.events.map((e: Json) => e.seq)).toEqual(range(1, 10));
  expect(page1.json.next).toBe(10);
  const page2 = await stack.history('job', job.id, { after: page1.json.next, limit: 10 });
  expect(page2.json.events.map((e: Json) => e.seq)).toEqual(range(11, 20));
  expect(page2.json.next).toBe(20);
  const page3 = await stack.history('job', job.id, { after: page2.json.next, limit: 10 });
  expect(page3.json.events.map((e: Json) => e.seq)).toEqual(range(21, 25));
  expect(page3.json.next).toBeNull();

  const all = await stack.history('job', job.id);
  expect(all.status).toBe(200);
  expect(all.json.events).toHaveLength(25);
  expect(all.json.next).toBeNull();
  all.json.events.forEach((e: Json, i: number) => {
    const schema = StreamedEventSchemas[e.type as keyof typeof StreamedEventSchemas];
    expect(schema?.safeParse(e).success).toBe(true);
    expect(e.eventId).toBe(published[i]!.eventId);
    expect(e.data).toMatchObject(published[i]!.data);
  });

  expectProblem(await stack.history('job', `nope-${Date.now()}`), 404);
  expectProblem(await stack.history('job', job.id, { tenant: `other-${stack.tenant}` }), 404);
});

test('a served path asked with another method is a 405 problem+json with Allow; a path this process does not serve stays a 404', async () => {
  const gateway = stack.gateways[0]!.url;
  const cases: [string, string, string][] = [
    [`${stack.publisher.url}/api/v1/events`, 'GET', 'POST'],
    [`${gateway}/api/v1/jobs/x/events`, 'DELETE', 'GET, HEAD'],
    [`${gateway}/api/v1/subjects`, 'POST', 'GET, HEAD'],
    [`${gateway}/api/v1/stream/jobs/x`, 'POST', 'GET'],
    [`${gateway}/api/v1/stream/jobs/x`, 'HEAD', 'GET'],
    [`${gateway}/api/v1/stream?subjects=job:x`, 'PUT', 'GET'],
    [`${gateway}/healthz`, 'PATCH', 'GET, HEAD'],
  ];
  for (const [url, method, allow] of cases) {
    const answer = await fetch(url, { method });
    expect({ method, url, status: answer.status, allow: answer.headers.get('allow') }).toEqual({ method, url, status: 405, allow });
    if (method !== 'HEAD') expect(answer.headers.get('content-type')).toContain('application/problem+json');
  }
  // The publisher's route on a gateway-only process, and a path nobody serves: 404.
  expect((await fetch(`${gateway}/api/v1/events`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status).toBe(404);
  expect((await fetch(`${gateway}/api/v1/nothing-here`, { method: 'DELETE' })).status).toBe(404);
});
