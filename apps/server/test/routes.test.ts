/**
 * The HTTP answers that need no real process, in process with supertest: the composition root
 * (startServer) on port 0 over the embedded MemoryBus, for each role. Probes, metrics, the OpenAPI
 * document, the 405 table, the 404 problem, the JSON history and subjects routes' validation, and
 * the publisher's 400/413/415 answers and nesting limit. What needs a process (Redis, logs, signals,
 * sockets held open) stays in test/e2e.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import request, { Response } from 'supertest';
import { OPENAPI_PATH, buildOpenApiDocument } from '@fanout/contracts';
import { Role, loadConfig } from '../src/config';
import { RunningServer, startServer } from '../src/server';
import { millionDeepBodies, nestedJson } from '../../../test/support/deep-json';

type Json = Record<string, any>;

const REPO_ROOT = join(__dirname, '..', '..', '..');
const PROBLEM = /^application\/problem\+json$/;
const TENANT = 'routes-test';
const running: RunningServer[] = [];

/** startServer for `role` with the in-memory bus (loadConfig takes no REDIS_URL for `dev` only; the role is set after). */
async function serve(role: Role, env: Record<string, string> = {}): Promise<RunningServer> {
  const config = loadConfig('dev', { PORT: '0', LOG_LEVEL: 'silent', FANOUT_SHUTDOWN_GRACE_MS: '0', ...env });
  const server = await startServer({ ...config, role });
  running.push(server);
  return server;
}

let dev: RunningServer;
let gatewayOnly: RunningServer;
let publisherOnly: RunningServer;

beforeAll(async () => {
  [dev, gatewayOnly, publisherOnly] = await Promise.all([serve('dev'), serve('gateway'), serve('publisher')]);
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.shutdown()));
});

function expectProblem(answer: Response, status: number): Json {
  expect({ status: answer.status, contentType: answer.headers['content-type'], body: answer.text.slice(0, 500) }).toEqual({
    status,
    contentType: expect.stringMatching(PROBLEM),
    body: expect.any(String),
  });
  const json = JSON.parse(answer.text) as Json;
  expect(json).toMatchObject({ title: expect.any(String), status, detail: expect.any(String) });
  return json;
}

function expectValidationErrors(problem: Json): { path: string; message: string }[] {
  expect(Array.isArray(problem.errors)).toBe(true);
  expect(problem.errors.length).toBeGreaterThan(0);
  for (const e of problem.errors) expect(e).toEqual(expect.objectContaining({ path: expect.any(String), message: expect.any(String) }));
  return problem.errors;
}

let ids = 0;
const uniqueId = (prefix: string) => `${prefix}-${process.pid}-${++ids}`;
function event(kind: 'job' | 'pack-run', id: string, type: string, data: Json, extra: Json = {}): Json {
  return { eventId: uniqueId('e'), tenant: TENANT, subject: { kind, id }, type, occurredAt: new Date().toISOString(), data, ...extra };
}
function jobEvents(id = uniqueId('job')) {
  return {
    id,
    status: (status: string) => event('job', id, 'job.status', { status }),
    progress: (percent: number) => event('job', id, 'job.progress', { percent }),
  };
}
function packRunEvents(id = uniqueId('pack')) {
  return {
    id,
    status: (status: string, data: Json = {}) => event('pack-run', id, 'pack_run.status', { status, ...data }),
    log: (stepIndex: number, lineNo: number, stream: 'stdout' | 'stderr', message: string) =>
      event('pack-run', id, 'pack_run.log', { stepIndex, lineNo, stream, message }),
  };
}

const publish = (body: unknown, server = dev) => request(server.server).post('/api/v1/events').send(body as object);
const postRaw = (body: string, contentType = 'application/json', server = dev) =>
  request(server.server).post('/api/v1/events').set('Content-Type', contentType).send(body);
const history = (kind: 'jobs' | 'pack-runs', id: string, query = '') => request(dev.server).get(`/api/v1/${kind}/${id}/events${query}`).set('X-Tenant', TENANT);

/** How many events the subject has stored (0: the history route answers 404). */
async function storedCount(kind: 'jobs' | 'pack-runs', id: string): Promise<number> {
  const answer = await history(kind, id, '?limit=1000');
  if (answer.status === 404) return 0;
  expect(answer.status).toBe(200);
  return (answer.body as Json).events.length as number;
}

/** A POST to /api/v1/events with these header lines and body bytes, on its own connection, read whole off a raw socket. */
function rawPost(server: RunningServer, headerLines: string, body: Buffer = Buffer.alloc(0)): Promise<Response> {
  const { hostname, port, host } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (raw += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const split = raw.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = raw.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text: raw.slice(split + 4) } as unknown as Response);
    });
    socket.write(Buffer.concat([Buffer.from(`POST /api/v1/events HTTP/1.1\r\nHost: ${host}\r\n${headerLines}Connection: close\r\n\r\n`), body]));
  });
}

/** A POST with no body at all, neither Content-Length nor Transfer-Encoding (as `curl -X POST` sends it). */
function postWithoutBody(server: RunningServer, contentType: string): Promise<Response> {
  return rawPost(server, `Content-Type: ${contentType}\r\n`);
}

/** A POST of `body` with its `Content-Length` (the publisher's direct path, for a JSON type in UTF-8). */
function postDeclared(server: RunningServer, contentType: string, body: Buffer): Promise<Response> {
  return rawPost(server, `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n`, body);
}

/** A POST of `body` with `Transfer-Encoding: chunked` (the publisher's Express path). */
function postChunked(server: RunningServer, contentType: string, body: Buffer): Promise<Response> {
  return rawPost(server, `Content-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n`, Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]));
}

describe('probes, metrics and the OpenAPI document', () => {
  test('/healthz and /readyz answer 200 JSON on every role; HEAD too', async () => {
    for (const server of [dev, gatewayOnly, publisherOnly]) {
      const health = await request(server.server).get('/healthz');
      expect({ status: health.status, type: health.headers['content-type'], body: health.body }).toEqual({ status: 200, type: expect.stringMatching(/^application\/json/), body: { status: 'ok' } });
      const ready = await request(server.server).get('/readyz');
      expect({ status: ready.status, type: ready.headers['content-type'], body: ready.body }).toEqual({ status: 200, type: expect.stringMatching(/^application\/json/), body: { status: 'ready' } });
      expect((await request(server.server).head('/healthz')).status).toBe(200);
    }
  });

  test('/readyz is 503 while the process drains (a publisher too, which has no gateway to drain), /healthz still 200', async () => {
    const draining = await Promise.all((['dev', 'publisher'] as const).map((role) => serve(role, { FANOUT_SHUTDOWN_GRACE_MS: '2000' })));
    const stopped = draining.map((server) => server.shutdown()); // each lingers on its port for a second before it closes
    for (const server of draining) {
      const ready = await request(server.server).get('/readyz');
      expect({ status: ready.status, type: ready.headers['content-type'], body: ready.body }).toEqual({
        status: 503,
        type: 'application/problem+json',
        body: { title: 'Service Unavailable', status: 503, detail: 'not ready: draining' },
      });
      expect((await request(server.server).get('/healthz')).status).toBe(200);
    }
    await Promise.all(stopped);
    for (const server of draining) running.splice(running.indexOf(server), 1);
  });

  test('/metrics is the Prometheus text of the role’s metrics, without a token', async () => {
    const jwtDev = await serve('dev', { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: 'a-test-secret-of-enough-length' });
    const cases: [RunningServer, string[], string[]][] = [
      [dev, ['fanout_publisher_events_total', 'fanout_gateway_connections'], []],
      [jwtDev, ['fanout_publisher_events_total', 'fanout_gateway_connections'], []],
      [gatewayOnly, ['fanout_gateway_connections', 'fanout_gateway_subscriptions'], ['fanout_publisher_events_total']],
      [publisherOnly, ['fanout_publisher_events_total'], ['fanout_gateway_connections']],
    ];
    for (const [server, present, absent] of cases) {
      const answer = await request(server.server).get('/metrics');
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      for (const name of present) expect(answer.text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
      for (const name of absent) expect(answer.text).not.toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
      expect(answer.text).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
      expect(answer.text).toMatch(/^# TYPE nodejs_heap_size_used_bytes gauge$/m);
      expect(answer.text).not.toMatch(/^# TYPE fanout_process_/m);
    }
  });

  test('every role serves the generated document at /api/v1/openapi.json without a token (also dev with JWT on, where the API needs one)', async () => {
    const expected = JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'openapi.json'), 'utf8')) as Json;
    expect(buildOpenApiDocument()).toEqual(expected);
    const jwtDev = await serve('dev', { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: 'a-test-secret-of-enough-length' });
    for (const server of [dev, gatewayOnly, publisherOnly, jwtDev]) {
      const answer = await request(server.server).get(OPENAPI_PATH);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(answer.text)).toEqual(expected);
    }
    expectProblem(await request(jwtDev.server).get('/api/v1/subjects'), 401);
  });
});

describe('405 and 404', () => {
  const GATEWAY_GET_HEAD = [
    '/api/v1/jobs/x/events',
    '/api/v1/pack-runs/x/events',
    '/api/v1/runs/x/events',
    '/api/v1/pack-runs/x/log',
    '/api/v1/subjects',
    '/',
    '/api/v1/jobs/x/watchers',
    '/api/v1/pack-runs/x/watchers',
    '/api/v1/runs/x/watchers',
  ];
  const STREAMS = ['/api/v1/stream/jobs/x', '/api/v1/stream/pack-runs/x', '/api/v1/stream/runs/x', '/api/v1/stream?subjects=job:x', '/api/v1/stream/subjects'];
  const EVERY_ROLE = ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json'];
  /** Every route, the methods it takes (the `Allow` of its 405, with OPTIONS), and the roles that serve it. */
  const ROUTES: [path: string, allow: string, roles: Role[]][] = [
    ['/api/v1/events', 'POST', ['publisher', 'dev']],
    ...STREAMS.map((path): [string, string, Role[]] => [path, 'GET', ['gateway', 'dev']]),
    ...GATEWAY_GET_HEAD.map((path): [string, string, Role[]] => [path, 'GET, HEAD', ['gateway', 'dev']]),
    ...EVERY_ROLE.map((path): [string, string, Role[]] => [path, 'GET, HEAD', ['gateway', 'publisher', 'dev']]),
    ['/api/v1/admin/revocations', 'GET, POST, HEAD', ['gateway', 'dev']],
    ['/api/v1/admin/revocations/x', 'DELETE', ['gateway', 'dev']],
  ];
  const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
  const servers = (): Record<Role, RunningServer> => ({ dev, gateway: gatewayOnly, publisher: publisherOnly });
  const ask = (server: RunningServer, method: (typeof METHODS)[number], path: string) => {
    const agent = request(server.server);
    const asked = { GET: agent.get(path), HEAD: agent.head(path), POST: agent.post(path), PUT: agent.put(path), PATCH: agent.patch(path), DELETE: agent.delete(path) }[method];
    // A client that would keep its connection: whether the answer closes it is the server's choice.
    return asked.set('Connection', 'keep-alive');
  };

  test('the table covers every route of the OpenAPI document', () => {
    const documented = Object.keys(buildOpenApiDocument().paths ?? {}).map((path) => path.replace('{id}', 'x'));
    expect(ROUTES.map(([path]) => path.replace(/\?.*/, '')).sort()).toEqual(documented.sort());
  });

  test('every served route asked with a method it does not take is a 405 problem+json with Allow, on every role that serves it', async () => {
    const failures: string[] = [];
    for (const [path, allow, roles] of ROUTES) {
      for (const role of roles) {
        for (const method of METHODS.filter((m) => !allow.split(', ').includes(m))) {
          const answer = await ask(servers()[role], method, path);
          const seen = { status: answer.status, allow: answer.headers.allow, type: answer.headers['content-type'] };
          if (seen.status !== 405 || seen.allow !== `${allow}, OPTIONS` || (method !== 'HEAD' && !PROBLEM.test(seen.type ?? ''))) {
            failures.push(`${role} ${method} ${path}: ${JSON.stringify(seen)}`);
          }
          // Every answer of a stream route that is not a stream closes its connection (docs/api.md).
          if (STREAMS.includes(path) && answer.headers.connection !== 'close') failures.push(`${role} ${method} ${path}: Connection ${answer.headers.connection}`);
          if (method !== 'HEAD' && !(JSON.parse(answer.text || '{}') as Json).detail?.endsWith(`use ${allow}`)) {
            failures.push(`${role} ${method} ${path}: detail ${answer.text.slice(0, 200)}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  test('a route a role does not serve is a 404 problem+json for every method', async () => {
    const failures: string[] = [];
    for (const [path, , roles] of ROUTES) {
      for (const role of (['gateway', 'publisher'] as const).filter((r) => !roles.includes(r))) {
        for (const method of METHODS) {
          const answer = await ask(servers()[role], method, path);
          if (answer.status !== 404 || (method !== 'HEAD' && !PROBLEM.test(answer.headers['content-type'] ?? ''))) {
            failures.push(`${role} ${method} ${path}: ${answer.status} ${answer.headers['content-type']}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  test('unknown paths are a 404 problem+json naming the path; routes are case-sensitive', async () => {
    const job = jobEvents();
    expect((await publish(job.status('pending'))).status).toBe(202);
    expect(expectProblem(await request(dev.server).get('/api/v1/nope').set('X-Tenant', TENANT), 404).detail).toMatch(/nope/);
    expectProblem(await request(dev.server).delete('/api/v1/nothing-here'), 404);
    expectProblem(await request(dev.server).post('/api/v2/events').send({}), 404);
    expectProblem(await request(dev.server).post('/api/v1/EVENTS').send(job.status('scheduled')), 404);
    expectProblem(await request(dev.server).get(`/api/v1/jobs/${job.id}/EVENTS`).set('X-Tenant', TENANT), 404);
    expect(await storedCount('jobs', job.id)).toBe(1);
  });

  test('OPTIONS on a served path is a 204 with Allow (the CORS preflight answer); on any other path, or a role that does not serve it, a 404', async () => {
    for (const [server, path, allow] of [
      [dev, '/api/v1/events', 'POST, OPTIONS'],
      [dev, '/api/v1/stream/jobs/j1', 'GET, OPTIONS'],
      [dev, '/api/v1/admin/revocations/r1', 'DELETE, OPTIONS'],
      [publisherOnly, '/api/v1/events', 'POST, OPTIONS'],
      [gatewayOnly, '/api/v1/jobs/j1/events', 'GET, HEAD, OPTIONS'],
    ] as const) {
      const answer = await request(server.server).options(path);
      expect({ path, status: answer.status, allow: answer.headers['allow'] }).toEqual({ path, status: 204, allow });
    }
    expectProblem(await request(dev.server).options('/api/v1/nothing-here'), 404);
    expectProblem(await request(gatewayOnly.server).options('/api/v1/events'), 404);
    expectProblem(await request(publisherOnly.server).options('/api/v1/stream/jobs/j1'), 404);
  });
});

describe('the JSON history and subjects routes', () => {
  test("the gateway's JSON answers (history, log, subjects, watchers) are never stored by a cache: Cache-Control: no-store, errors included", async () => {
    const pack = packRunEvents();
    expect((await publish({ events: [pack.status('running')] })).status).toBe(202);
    for (const path of [`/api/v1/pack-runs/${pack.id}/events`, `/api/v1/pack-runs/${pack.id}/events?before=5`, `/api/v1/pack-runs/${pack.id}/log`, '/api/v1/subjects', `/api/v1/pack-runs/${pack.id}/watchers`, '/api/v1/jobs/nope/events']) {
      const answer = await request(dev.server).get(path).set('X-Tenant', TENANT);
      expect({ path, status: answer.status < 500, cacheControl: answer.headers['cache-control'] }).toEqual({ path, status: true, cacheControl: 'no-store' });
    }
  });

  test('400 problem+json naming the parameter for a bad after, limit or kind; 400 for a bad subject id; 404 for an unknown kind or subject', async () => {
    const job = jobEvents();
    expect((await publish({ events: [job.status('pending'), job.status('scheduled')] })).status).toBe(202);
    const get = (path: string) => request(dev.server).get(path).set('X-Tenant', TENANT);
    const cases: [path: string, status: number, errorPath?: RegExp][] = [
      [`/api/v1/jobs/${job.id}/events?after=-1`, 400, /after/],
      [`/api/v1/jobs/${job.id}/events?after=abc`, 400, /after/],
      [`/api/v1/jobs/${job.id}/events?limit=0`, 400, /limit/],
      [`/api/v1/jobs/${job.id}/events?limit=1001`, 400, /limit/],
      [`/api/v1/jobs/${job.id}/events?limit=1.5`, 400, /limit/],
      ['/api/v1/jobs/a%20b/events', 400],
      ['/api/v1/widgets/w1/events', 404],
      [`/api/v1/jobs/${uniqueId('never')}/events`, 404],
      ['/api/v1/subjects?kind=widget', 400, /kind/],
      ['/api/v1/subjects?limit=abc', 400, /limit/],
      ['/api/v1/subjects?limit=0', 400, /limit/],
      [`/api/v1/jobs/${job.id}/events?limit=5&limit=6`, 400, /^limit$/],
      ['/api/v1/subjects?kind=job&kind=run', 400, /^kind$/],
      // Numbers are decimal digits: not what Number() would also read (a space would read as 0).
      [`/api/v1/jobs/${job.id}/events?before=0x10`, 400, /^before$/],
      [`/api/v1/jobs/${job.id}/events?after=1e0`, 400, /^after$/],
      [`/api/v1/jobs/${job.id}/events?after=%20`, 400, /^after$/],
      [`/api/v1/jobs/${job.id}/events?limit=+5`, 400, /^limit$/],
      ['/api/v1/subjects?limit=0b1', 400, /^limit$/],
    ];
    for (const [path, status, errorPath] of cases) {
      const problem = expectProblem(await get(path), status);
      if (errorPath) expect({ path, errors: expectValidationErrors(problem).some((e) => errorPath.test(e.path)) }).toEqual({ path, errors: true });
    }
    // A bad X-Tenant header, and another tenant's subject: 400 and a 404 like an unknown one.
    expectProblem(await request(dev.server).get(`/api/v1/jobs/${job.id}/events`).set('X-Tenant', 'a b'), 400);
    expectProblem(await request(dev.server).get(`/api/v1/jobs/${job.id}/events`).set('X-Tenant', `other-${TENANT}`), 404);
    // The limits themselves are fine.
    const page = await get(`/api/v1/jobs/${job.id}/events?after=0&limit=1000`);
    expect({ status: page.status, seqs: (page.body as Json).events.map((e: Json) => e.seq), next: (page.body as Json).next }).toEqual({ status: 200, seqs: [1, 2], next: null });
    const subjects = await get('/api/v1/subjects?kind=job&limit=1');
    expect(subjects.status).toBe(200);
    expect((subjects.body as Json).subjects).toHaveLength(1);
    // An empty parameter counts as none, as on the stream routes.
    for (const query of ['after=', 'limit=', 'before=', 'after=&before=', 'after=&limit=&before=']) {
      const empty = await get(`/api/v1/jobs/${job.id}/events?${query}`);
      expect({ query, status: empty.status, seqs: (empty.body as Json).events?.map((e: Json) => e.seq) }).toEqual({ query, status: 200, seqs: [1, 2] });
    }
    expect((await get('/api/v1/subjects?kind=&limit=')).status).toBe(200);
    // A parameter that is not the route's is not judged, repeated or not.
    expect((await get(`/api/v1/jobs/${job.id}/events?x=1&x=2&limit=1`)).status).toBe(200);
  });

  test('pages that span several store reads (100 events each) are whole and exact, forwards and backwards; HEAD answers no body', async () => {
    const job = jobEvents();
    const events = [job.status('pending'), ...Array.from({ length: 249 }, (_, i) => job.progress(i % 101))];
    expect((await publish({ events })).status).toBe(202);
    const get = (query: string) => request(dev.server).get(`/api/v1/jobs/${job.id}/events${query}`).set('X-Tenant', TENANT);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const cases: [query: string, seqs: number[], next: number | null][] = [
      ['?limit=1000', range(1, 250), null],
      ['?after=20&limit=150', range(21, 170), 170],
      ['?after=50&limit=200', range(51, 250), null],
      ['?after=49&limit=200', range(50, 249), 249],
      ['?after=100&limit=100', range(101, 200), 200],
      ['?after=250&limit=1000', [], null],
      ['?before=240&limit=230', range(10, 239), 10],
      ['?before=251&limit=1000', range(1, 250), null],
      ['?before=999&limit=120', range(131, 250), 131],
      ['?before=1&limit=10', [], null],
    ];
    for (const [query, seqs, next] of cases) {
      const page = await get(query);
      const body = JSON.parse(page.text) as Json;
      const retained = [page.headers['fanout-first-seq'], page.headers['fanout-last-seq']];
      expect({ query, status: page.status, type: page.headers['content-type'], retained, seqs: body.events.map((e: Json) => e.seq), next: body.next }).toEqual({
        query,
        status: 200,
        type: expect.stringMatching(/^application\/json\b/),
        retained: ['1', '250'],
        seqs,
        next,
      });
    }
    const head = await request(dev.server).head(`/api/v1/jobs/${job.id}/events?limit=1000`).set('X-Tenant', TENANT);
    expect({ status: head.status, type: head.headers['content-type'], text: head.text }).toEqual({ status: 200, type: expect.stringMatching(/^application\/json\b/), text: undefined });
  });
});

describe('the publisher’s refusals', () => {
  test('400 problem+json with errors[{path, message}] for schema errors; nothing of the batch is stored', async () => {
    const job = jobEvents();
    const errors = expectValidationErrors(expectProblem(await publish(job.status('exploded')), 400));
    expect(errors.some((e) => /status/.test(e.path))).toBe(true);

    const unknownErrors = expectValidationErrors(expectProblem(await publish(event('job', job.id, 'job.progress', { percent: 5, bogusField: 1 })), 400));
    expect(unknownErrors.some((e) => /bogusField/.test(`${e.path} ${e.message}`))).toBe(true);

    expectValidationErrors(expectProblem(await publish(event('pack-run', job.id, 'job.status', { status: 'pending' })), 400));

    const { tenant: _tenant, ...noTenant } = job.status('pending');
    const tenantErrors = expectValidationErrors(expectProblem(await publish(noTenant), 400));
    expect(tenantErrors.some((e) => /tenant/.test(`${e.path} ${e.message}`))).toBe(true);

    const other = jobEvents();
    const mixedErrors = expectValidationErrors(expectProblem(await publish({ events: [other.status('pending'), other.status('scheduled'), job.progress(101)] }), 400));
    expect(mixedErrors.some((e) => /percent/.test(e.path))).toBe(true);
    expect(await storedCount('jobs', other.id)).toBe(0);
    expect(await storedCount('jobs', job.id)).toBe(0);

    const wrapperErrors = expectValidationErrors(expectProblem(await publish({ events: [other.status('pending')], x: 1 }), 400));
    expect(wrapperErrors.some((e) => /"x"/.test(`${e.path} ${e.message}`))).toBe(true);
    expect(await storedCount('jobs', other.id)).toBe(0);

    expect(expectProblem(await publish({ events: Array.from({ length: 501 }, () => other.progress(1)) }), 400).detail).toMatch(/501/);
    expectProblem(await publish({ events: [] }), 400);
    expect(expectProblem(await request(dev.server).post('/api/v1/events').set('X-Tenant', 'a b').send(other.status('pending')), 400).detail).toMatch(/X-Tenant/);
    expect(await storedCount('jobs', other.id)).toBe(0);
  });

  test('a body sent gzip, deflate or br is stored; another coding is a 415, one that does not inflate a 400; the 4 MiB limit counts inflated bytes', async () => {
    const job = jobEvents();
    const codings: [string, (b: Buffer) => Buffer][] = [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ];
    const raw = (coding: string, body: Buffer) =>
      rawPost(dev, `Content-Type: application/json\r\nContent-Encoding: ${coding}\r\nContent-Length: ${body.length}\r\n`, body);
    let seq = 0;
    for (const [coding, compress] of codings) {
      const sent = seq === 0 ? job.status('pending') : job.progress(seq);
      const answer = await raw(coding, compress(Buffer.from(JSON.stringify(sent))));
      expect([coding, answer.status, answer.text]).toEqual([coding, 202, JSON.stringify({ results: [{ eventId: sent.eventId, seq: ++seq, duplicate: false }] })]);
    }
    expectProblem(await raw('compress', Buffer.from(JSON.stringify(job.progress(9)))), 415);
    expectProblem(await raw('gzip', Buffer.from('not gzip at all')), 400);
    const inflatesOver4MiB = gzipSync(Buffer.from(JSON.stringify({ events: [job.progress(9)], pad: 'x'.repeat(5 * 1024 * 1024) })));
    expect(inflatesOver4MiB.length).toBeLessThan(64 * 1024);
    expectProblem(await raw('gzip', inflatesOver4MiB), 413);
    expect(await storedCount('jobs', job.id)).toBe(3);
  });

  test('400 problem+json for bad JSON, an empty body (with Content-Length: 0 or none at all) and JSON that is no event', async () => {
    expect(expectProblem(await postRaw('{"eventId": "x", "tenant": '), 400).detail).toMatch(/JSON/i);
    expectProblem(await postRaw('"just a string"'), 400);
    expectProblem(await postRaw(''), 400);
    expectProblem(await postWithoutBody(dev, 'application/json'), 400);
    expectProblem(await postWithoutBody(dev, 'text/plain'), 415);
    for (const body of ['null', '3', '[]', '[1,2]']) {
      expect(expectProblem(await postRaw(body), 400).detail).toMatch(/one event or \{"events": \[\.\.\.\]\}/);
    }
  });

  test('a body that is not UTF-8 is a 400 and stores nothing, declared or chunked: two eventIds that differ only in bad bytes are never read as one; `charset=utf8` is UTF-8', async () => {
    const job = jobEvents();
    const withEventId = (eventId: Buffer) => {
      const [before, after] = JSON.stringify({ ...job.status('pending'), eventId: 'EVENT-ID' }).split('EVENT-ID') as [string, string];
      return Buffer.concat([Buffer.from(before), eventId, Buffer.from(after)]);
    };
    for (const bad of [Buffer.from([0xff]), Buffer.from([0xfe]), Buffer.from('e\u0301', 'utf8').subarray(0, 2), Buffer.from([0xed, 0xa0, 0x80])]) {
      expect(expectProblem(await postDeclared(dev, 'application/json', withEventId(bad)), 400).detail).toMatch(/not valid UTF-8/);
      expect(expectProblem(await postChunked(dev, 'application/json; charset=utf-8', withEventId(bad)), 400).detail).toMatch(/not valid UTF-8/);
    }
    expect(await storedCount('jobs', job.id)).toBe(0);
    const good = withEventId(Buffer.from('é-1'));
    const first = await postDeclared(dev, 'application/json; charset=utf8', good);
    expect({ status: first.status, body: JSON.parse(first.text) }).toEqual({ status: 202, body: { results: [{ eventId: 'é-1', seq: 1, duplicate: false }] } });
    const again = await postChunked(dev, 'application/json; charset="UTF8"', good);
    expect({ status: again.status, body: JSON.parse(again.text) }).toEqual({ status: 202, body: { results: [{ eventId: 'é-1', seq: 1, duplicate: true }] } });
  });

  test('413 for an event over 64 KiB (before the schema, alone or in a batch) and for a body over 4 MiB', async () => {
    const pr = packRunEvents();
    const huge = pr.log(0, 1, 'stdout', 'y'.repeat(70 * 1024));
    expect(expectProblem(await postRaw(JSON.stringify(huge)), 413).detail).toMatch(/65536|64/);
    expectProblem(await postRaw(JSON.stringify({ events: [pr.status('pending'), huge] })), 413);
    expect(await storedCount('pack-runs', pr.id)).toBe(0);

    const bigLines = Array.from({ length: 499 }, (_, i) => pr.log(0, i + 1, 'stdout', 'z'.repeat(8 * 1024)));
    const body = JSON.stringify({ events: [pr.status('pending'), ...bigLines] });
    expect(Buffer.byteLength(body)).toBeGreaterThan(4 * 1024 * 1024);
    expectProblem(await postRaw(body), 413);
    expectProblem(await postRaw(JSON.stringify(pr.status('pending')) + ' '.repeat(4 * 1024 * 1024 + 10)), 413);
    expect(await storedCount('pack-runs', pr.id)).toBe(0);
  });

  test('415 problem+json for a non-JSON content type or none', async () => {
    const job = jobEvents();
    expect(expectProblem(await postRaw(JSON.stringify(job.status('pending')), 'text/plain'), 415).detail).toMatch(/JSON/);
    expectProblem(await postRaw(JSON.stringify(job.status('pending')), 'application/x-www-form-urlencoded'), 415);
    expectProblem(await request(dev.server).post('/api/v1/events').send(Buffer.from(JSON.stringify(job.status('pending')))), 415);
    expect(await storedCount('jobs', job.id)).toBe(0);
  });

  describe('nesting', () => {
    test('a million levels (under 4 MiB), as an event field or the whole body, is a 400 problem+json', async () => {
      const job = jobEvents();
      for (const body of millionDeepBodies(JSON.stringify(job.status('pending')))) {
        expect(Buffer.byteLength(body)).toBeLessThan(4 * 1024 * 1024);
        expect(expectProblem(await postRaw(body), 400)).toMatchObject({ title: 'Bad Request', detail: expect.stringMatching(/nested deeper than 64 levels/) });
      }
      expect(await storedCount('jobs', job.id)).toBe(0);
    });

    test('64 levels are parsed (and judged by the schema), 65 are refused before; brackets inside strings do not count; a legal event is stored', async () => {
      expect(expectProblem(await postRaw(nestedJson(64)), 400).detail).toMatch(/one event or \{"events": \[\.\.\.\]\}/);
      expect(expectProblem(await postRaw(nestedJson(65)), 400).detail).toMatch(/nested deeper than 64 levels/);

      const pr = packRunEvents();
      const first = pr.status('pending', { steps: [{ index: 0, name: '[[[[{{{{'.repeat(30) }] });
      const answer = await postRaw(JSON.stringify({ events: [first, pr.log(0, 1, 'stdout', `"${'['.repeat(5000)}\\"`)] }));
      expect({ status: answer.status, body: answer.body as Json }).toEqual({
        status: 202,
        body: { results: [expect.objectContaining({ seq: 1, duplicate: false }), expect.objectContaining({ seq: 2, duplicate: false })] },
      });
    });
  });
});
