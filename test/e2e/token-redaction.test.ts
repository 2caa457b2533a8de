/**
 * Tokens never reach a log line, however the request spells them (issue 12): the auth code reads
 * `?access_token=` after percent-decoding the query, so `?access%5Ftoken=`, `?%61ccess_token=`, an
 * encoded value, a repeated parameter and a second `?` all carry a token it accepts. Every spelling
 * is sent, with a valid and a badly signed token, to the stream routes, the JSON routes and the
 * publisher of real processes logging at trace level; then every line they wrote is searched for the
 * tokens, raw and percent-decoded.
 */
import { request } from 'node:http';
import { FanoutProcess } from '../support/fanout-process';
import { jobEvents, Stack, startStack, uniqueId } from '../support/stack';
import { mintHs256, nowS, secretPartsOf } from '../support/tokens';

const SECRET = `redaction-secret-${Math.random().toString(36).slice(2)}-0123456789`;
const TENANT = `tr-${Math.random().toString(36).slice(2, 8)}`;
const SCOPE = 'stream:read events:write';

interface Spelling {
  name: string;
  /** Whether the auth code takes a valid token sent this way. */
  accepted: boolean;
  /** The request target and headers for `token` on `path` (which may already have a query). */
  build(path: string, token: string): { target: string; headers: Record<string, string> } | undefined;
}

const withParameter = (path: string, parameter: string) => `${path}${path.includes('?') ? '&' : '?'}${parameter}`;
const percentEncodeEvery = (text: string) => [...Buffer.from(text)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
const inQuery = (name: string, accepted: boolean, parameter: (token: string) => string): Spelling => ({
  name,
  accepted,
  build: (path, token) => ({ target: withParameter(path, parameter(token)), headers: {} }),
});

const SPELLINGS: Spelling[] = [
  { name: 'Authorization: Bearer', accepted: true, build: (path, token) => ({ target: path, headers: { Authorization: `Bearer ${token}` } }) },
  { name: 'Authorization: bearer', accepted: true, build: (path, token) => ({ target: path, headers: { Authorization: `bearer ${token}` } }) },
  {
    name: 'Basic header and ?access%5Ftoken=',
    accepted: true,
    build: (path, token) => ({ target: withParameter(path, `access%5Ftoken=${token}`), headers: { Authorization: 'Basic dXNlcjpwYXNz' } }),
  },
  inQuery('?access_token=', true, (token) => `access_token=${token}`),
  inQuery('?access%5Ftoken=', true, (token) => `access%5Ftoken=${token}`),
  inQuery('?access%5ftoken=', true, (token) => `access%5ftoken=${token}`),
  inQuery('?%61ccess_token=', true, (token) => `%61ccess_token=${token}`),
  inQuery('every byte of the name encoded', true, (token) => `${percentEncodeEvery('access_token')}=${token}`),
  inQuery('the value’s dots encoded', true, (token) => `access_token=${token.replaceAll('.', '%2E')}`),
  inQuery('every byte of the value encoded', true, (token) => `access_token=${percentEncodeEvery(token)}`),
  inQuery('repeated, both spellings', true, (token) => `access%5Ftoken=${token}&access_token=${token}`),
  {
    name: '??access_token=',
    accepted: true,
    build: (path, token) => (path.includes('?') ? undefined : { target: `${path}??access_token=${token}`, headers: {} }),
  },
  inQuery('repeated, the first one empty', true, (token) => `access_token=&access%5Ftoken=${token}`),
  // Refused spellings carry a token all the same.
  inQuery('two different tokens', false, (token) => `access_token=${token}&access_token=${token.slice(0, -2)}xx`),
  inQuery('?access+token=', false, (token) => `access+token=${token}`),
  inQuery('?token=', false, (token) => `token=${token}`),
  inQuery('a # after the value', false, (token) => `access_token=${token}#${token}`),
];

interface Answer {
  status: number;
  contentType: string;
}

/** Sends the request target as given (no URL parsing: `#` and `%5F` reach the server as written); an event stream is closed once its headers arrive. */
function send(process: FanoutProcess, method: 'GET' | 'POST', target: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: process.port, method, path: target, headers: { ...headers, ...(body ? { 'Content-Type': 'application/json' } : {}) }, agent: false });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${target}: no answer within 10 s`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const answer = { status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? '') };
      if (answer.contentType.startsWith('text/event-stream')) {
        res.destroy();
        return resolve(answer);
      }
      res.resume();
      res.once('end', () => resolve(answer));
    });
    req.end(body);
  });
}

/** `%XX` sequences decoded (invalid ones left alone), so an encoded token is found too. */
function percentDecoded(line: string): string {
  return line.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

let stack: Stack;
const job = jobEvents(TENANT, uniqueId('job'));

beforeAll(async () => {
  stack = await startStack({ gateways: 1, env: { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: SECRET, LOG_LEVEL: 'trace' } });
  const writer = await mintHs256(SECRET, { tenant: TENANT, scope: SCOPE, exp: nowS() + 600 });
  const answer = await send(stack.publisher, 'POST', '/api/v1/events', { Authorization: `Bearer ${writer}` }, JSON.stringify(job.status('pending')));
  expect(answer.status).toBe(202);
}, 60_000);

afterAll(() => stack?.stop(), 60_000);

test('no log line holds a token, whichever spelling carried it, valid or not, on every route', async () => {
  const valid = await mintHs256(SECRET, { tenant: TENANT, scope: SCOPE, exp: nowS() + 600 });
  const badlySigned = await mintHs256(`${SECRET}-but-another`, { tenant: TENANT, scope: SCOPE, exp: nowS() + 600 });
  const gateway = stack.gateways[0]!;
  const readRoutes: [string, string][] = [
    ['single stream', `/api/v1/stream/jobs/${job.id}`],
    ['multi-subject stream', `/api/v1/stream?subjects=job:${job.id}`],
    ['activity stream', '/api/v1/stream/subjects'],
    ['history', `/api/v1/jobs/${job.id}/events`],
    ['subjects', '/api/v1/subjects?kind=job'],
  ];

  const outcomes: string[] = [];
  const expected: string[] = [];
  let sentInQuery = 0;
  for (const [tokenName, token] of [['valid', valid], ['badly signed', badlySigned]] as const) {
    for (const spelling of SPELLINGS) {
      const okStatus = (success: number) => (tokenName === 'valid' && spelling.accepted ? success : 401);
      for (const [route, path] of readRoutes) {
        const built = spelling.build(path, token);
        if (!built) continue;
        if (built.target !== path) sentInQuery += 1;
        const answer = await send(gateway, 'GET', built.target, built.headers);
        outcomes.push(`${tokenName} ${spelling.name} ${route}: ${answer.status}`);
        expected.push(`${tokenName} ${spelling.name} ${route}: ${okStatus(200)}`);
      }
      const built = spelling.build('/api/v1/events', token)!;
      const answer = await send(stack.publisher, 'POST', built.target, built.headers, JSON.stringify(jobEvents(TENANT).status('pending')));
      outcomes.push(`${tokenName} ${spelling.name} publish: ${answer.status}`);
      expected.push(`${tokenName} ${spelling.name} publish: ${okStatus(202)}`);
    }
  }
  // Every spelling called accepted really is: the redaction below is tested on tokens the server took.
  expect(outcomes).toEqual(expected);

  const processes = stack.processes();
  await stack.stop();
  const lines = processes.flatMap((p) => p.logs.map((line) => ({ who: `${p.role} pid ${p.pid}`, line })));
  const secrets = [valid, badlySigned].flatMap(secretPartsOf);
  const leaks: string[] = [];
  for (const { who, line } of lines) {
    const decoded = percentDecoded(line);
    if (secrets.some((secret) => line.includes(secret) || decoded.includes(secret))) leaks.push(`${who}: a token: ${line.slice(0, 400)}`);
    else if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ/.test(decoded)) leaks.push(`${who}: a JWT: ${line.slice(0, 400)}`);
  }
  expect(leaks).toEqual([]);

  const requestLines = lines.filter(({ line }) => line.includes('"msg":"request"'));
  // LOG_LEVEL=trace was in effect: every request was logged with its URL.
  expect(requestLines.length).toBeGreaterThanOrEqual(outcomes.length);
  expect(requestLines.filter(({ line }) => line.includes('[redacted]')).length).toBeGreaterThanOrEqual(sentInQuery);

  // What is left of each logged URL: every parameter auth would read as access_token is blanked.
  for (const { line } of requestLines) {
    const url = (JSON.parse(line) as { url: string }).url;
    const query = url.slice(url.indexOf('?') + 1);
    for (const value of url.includes('?') ? new URLSearchParams(query).getAll('access_token') : []) expect({ url, value }).toEqual({ url, value: expect.stringMatching(/^(\[redacted\])?$/) });
  }
}, 120_000);
