/**
 * `POST /api/v1/events` is answered on node:http, bypassing Express, when its body is plain JSON of
 * a declared length (publisher.takesDirectly). Every answer must be the one the Express route gives:
 * each case is sent twice, to two fresh subjects, once with Content-Length (the direct path) and once
 * chunked (which only the Express route takes), and the two answers must be equal in status,
 * headers and body. In process over real sockets: startServer with the embedded MemoryBus.
 */
import { request } from 'node:http';
import { loadConfig } from '../src/config';
import { RunningServer, startServer } from '../src/server';
import { nestedJson } from '../../../test/support/deep-json';
import { mintHs256, nowS } from '../../../test/support/tokens';

const SECRET = 'direct-publish-test-secret';
const TENANT = 'direct-publish';
const ALLOWED_ORIGIN = 'https://dashboard.example';
const running: RunningServer[] = [];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Headers that differ between any two answers (the time), or by how the body was framed. */
const FRAMING_HEADERS = ['date', 'connection', 'keep-alive', 'transfer-encoding'];

function send(base: string, body: Buffer, headers: Record<string, string>, framing: 'declared' | 'chunked', query = ''): Promise<Answer> {
  const url = new URL(`/api/v1/events${query}`, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: framing === 'declared' ? { ...headers, 'Content-Length': String(body.length) } : headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const kept = Object.fromEntries(Object.entries(res.headers).filter(([name]) => !FRAMING_HEADERS.includes(name)));
        resolve({ status: res.statusCode ?? 0, headers: kept, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    if (framing === 'chunked') {
      // Two writes without a Content-Length: Node sends the body chunked.
      req.write(body.subarray(0, body.length >> 1));
      req.end(body.subarray(body.length >> 1));
    } else {
      req.end(body);
    }
  });
}

async function serve(env: Record<string, string>): Promise<RunningServer> {
  const config = loadConfig('dev', { PORT: '0', LOG_LEVEL: 'silent', FANOUT_SHUTDOWN_GRACE_MS: '0', ...env });
  const server = await startServer({ ...config, role: 'publisher' });
  running.push(server);
  return server;
}

let open: RunningServer;
let secured: RunningServer;
let writeToken: string;
let readToken: string;

beforeAll(async () => {
  [open, secured] = await Promise.all([
    serve({ FANOUT_CORS_ORIGINS: ALLOWED_ORIGIN }),
    serve({ FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: SECRET, FANOUT_CORS_ORIGINS: '*' }),
  ]);
  writeToken = await mintHs256(SECRET, { tenant: TENANT, scope: 'events:write', exp: nowS() + 600 });
  readToken = await mintHs256(SECRET, { tenant: TENANT, scope: 'stream:read', exp: nowS() + 600 });
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.shutdown()));
});

let subjectCounter = 0;

function jobEvent(jobId: string, eventId: string, type: string, data: unknown, tenant: string | undefined = TENANT): Record<string, unknown> {
  return { eventId, ...(tenant === undefined ? {} : { tenant }), subject: { kind: 'job', id: jobId }, type, occurredAt: '2026-12-04T12:00:00.000Z', data };
}

interface Case {
  name: string;
  /** The status both paths answer. */
  status: number;
  /** The body for a fresh job id (each framing gets its own job, so stored state never differs). */
  body: (jobId: string) => Buffer | string;
  headers?: Record<string, string>;
  server?: () => RunningServer;
  /** The request target's query, e.g. `?access_token=…`. */
  query?: () => string;
  /** Requests sent first, the same way for both framings, to set up the job's state. */
  before?: (jobId: string) => unknown[];
}

const json = (value: unknown): string => JSON.stringify(value);
const bearer = (token: () => string) => () => ({ Authorization: `Bearer ${token()}` });

const CASES: (Omit<Case, 'headers'> & { headers?: Record<string, string> | (() => Record<string, string>) })[] = [
  { name: 'one stored event', status: 202, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  {
    name: 'a batch over two events', status: 202,
    body: (id) => json({ events: [jobEvent(id, 'e1', 'job.status', { status: 'pending' }), jobEvent(id, 'e2', 'job.status', { status: 'scheduled' })] }),
  },
  { name: 'a duplicate', status: 202, before: (id) => [jobEvent(id, 'e1', 'job.status', { status: 'pending' })], body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  { name: 'an illegal transition (409)', status: 409, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'succeeded' })) },
  { name: 'schema errors (400)', status: 400, body: (id) => json({ events: [jobEvent(id, 'e1', 'job.status', { status: 'bogus' }), { eventId: 3 }] }) },
  { name: 'not JSON (400)', status: 400, body: () => '{"eventId": ' },
  { name: 'an empty body', status: 400, body: () => '' },
  { name: 'whitespace only', status: 400, body: () => '  \n' },
  { name: 'a UTF-8 byte order mark before the JSON', status: 202, body: (id) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })))]) },
  { name: 'invalid UTF-8 inside a string', status: 202, body: (id) => Buffer.from(Buffer.from(json(jobEvent(id, 'e\u0000', 'job.status', { status: 'pending' }))).map((b) => (b === 0 ? 0xff : b))) },
  { name: 'JSON null', status: 400, body: () => 'null' },
  { name: 'nested too deep', status: 400, body: () => nestedJson(100) },
  { name: 'an event over the size limit (413)', status: 413, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending', detail: 'x'.repeat(70_000) })) },
  { name: 'charset=utf-8 spelled with quotes and case', status: 202, headers: { 'Content-Type': 'Application/JSON; Charset="UTF-8"' }, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  { name: 'an allowed Origin', status: 202, headers: { Origin: ALLOWED_ORIGIN }, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  { name: 'another Origin', status: 202, headers: { Origin: 'https://elsewhere.example' }, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  { name: 'no token (401)', status: 401, server: () => secured, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  { name: 'a token without the write scope (403)', status: 403, server: () => secured, headers: bearer(() => readToken), body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' })) },
  { name: 'a token, the tenant filled in', status: 202, server: () => secured, headers: bearer(() => writeToken), body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' }, undefined)) },
  { name: 'a token, another tenant (403)', status: 403, server: () => secured, headers: bearer(() => writeToken), body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' }, 'someone-else')) },
  { name: 'a token in the query', status: 202, server: () => secured, query: () => `?access_token=${writeToken}`, body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' }, undefined)) },
  { name: 'any Origin allowed (*), reflected', status: 202, server: () => secured, headers: () => ({ Authorization: `Bearer ${writeToken}`, Origin: 'https://any.example' }), body: (id) => json(jobEvent(id, 'e1', 'job.status', { status: 'pending' }, undefined)) },
];

test.each(CASES.map((c) => [c.name, c] as const))('%s: the direct path answers as the Express route does', async (_name, c) => {
  const server = c.server?.() ?? open;
  const headers = { 'Content-Type': 'application/json', ...(typeof c.headers === 'function' ? c.headers() : c.headers) };
  const answers: Answer[] = [];
  for (const framing of ['declared', 'chunked'] as const) {
    const jobId = `job-${++subjectCounter}`;
    for (const setup of c.before?.(jobId) ?? []) {
      expect((await send(server.url, Buffer.from(json(setup)), headers, framing, c.query?.())).status).toBe(202);
    }
    const body = c.body(jobId);
    const answer = await send(server.url, Buffer.isBuffer(body) ? body : Buffer.from(body), headers, framing, c.query?.());
    answers.push({ ...answer, body: answer.body.replaceAll(jobId, '<job>') });
  }
  const [direct, express] = answers as [Answer, Answer];
  expect({ status: direct.status, body: direct.body.slice(0, 300) }).toEqual({ status: c.status, body: expect.any(String) });
  expect(direct.headers['content-length']).toBeDefined();
  expect(direct).toEqual(express);
});
