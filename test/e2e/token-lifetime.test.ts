/**
 * A maximum token lifetime (issue 12): with FANOUT_JWT_MAX_TTL_S, a token whose exp is further than
 * that from its iat (or from now, without one) is a 401 on the gateway's streams and JSON routes
 * and on the publisher, while a shorter-lived one streams and publishes. Without the setting, a
 * token whose exp is 10^20 s away, or Infinity, streams like any other: heartbeats go on and it is
 * never ended as expired. A bad value stops the process at start with one line naming it. Real
 * redis-server, publisher and gateways spawned through the CLI.
 */
import { startCli } from '../support/cli';
import { FanoutProcess } from '../support/fanout-process';
import { closeAllStreams, openStream } from '../support/sse-client';
import { jobEvents, jsonOrUndefined, Stack, startStack, uniqueId } from '../support/stack';
import { mintHs256, nowS, signHs256ClaimsText } from '../support/tokens';

const SECRET = `lifetime-secret-${Math.random().toString(36).slice(2)}-0123456789`;
const TENANT = `tl-${Math.random().toString(36).slice(2, 8)}`;
const SCOPE = 'stream:read events:write';
const MAX_TTL_S = 3600;

let stack: Stack;
let bounded: FanoutProcess;
let unbounded: FanoutProcess;
const job = jobEvents(TENANT, uniqueId('job'));

const token = (exp: number, iat?: number) => mintHs256(SECRET, { tenant: TENANT, scope: SCOPE, exp, iat });
/** A token whose `exp` is the JSON number 1e400: jose reads it as Infinity. */
const infiniteToken = () => signHs256ClaimsText(SECRET, `{"tenant":"${TENANT}","scope":"${SCOPE}","iat":${nowS()},"exp":1e400}`);

beforeAll(async () => {
  stack = await startStack({ gateways: 1, env: { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: SECRET, FANOUT_JWT_MAX_TTL_S: MAX_TTL_S } });
  bounded = stack.gateways[0]!;
  unbounded = await stack.addGateway({ FANOUT_JWT_MAX_TTL_S: undefined, FANOUT_HEARTBEAT_MS: 200 });
  expect((await publish(await token(nowS() + 600), job.status('pending'))).status).toBe(202);
}, 60_000);

afterEach(() => closeAllStreams());
afterAll(() => stack?.stop(), 60_000);

async function publish(jwt: string, event: unknown): Promise<{ status: number; headers: Headers; json: any }> {
  const response = await fetch(`${stack.publisher.url}/api/v1/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${jwt}` },
    body: JSON.stringify(event),
  });
  return { status: response.status, headers: response.headers, json: jsonOrUndefined(await response.text()) };
}

const readRoutes = (g: FanoutProcess): [string, string][] => [
  ['single stream', `${g.url}/api/v1/stream/jobs/${job.id}`],
  ['multi-subject stream', `${g.url}/api/v1/stream?subjects=job:${job.id}`],
  ['activity stream', `${g.url}/api/v1/stream/subjects`],
  ['history', `${g.url}/api/v1/jobs/${job.id}/events`],
];

test('a token within FANOUT_JWT_MAX_TTL_S streams, reads and publishes', async () => {
  const now = nowS();
  const cases: [string, string][] = [
    ['iat now, exp in 50 min', await token(now + 3000, now)],
    ['minted 55 min ago, 5 min left', await token(now + 300, now - 3300)],
    ['no iat, exp in 59 min', await token(now + 3540)],
    ['exactly the maximum', await token(now + MAX_TTL_S, now)],
  ];
  for (const [name, jwt] of cases) {
    for (const [route, url] of readRoutes(bounded)) {
      const stream = await openStream(url, { headers: { Authorization: `Bearer ${jwt}` } });
      expect({ name, route, status: stream.status }).toEqual({ name, route, status: 200 });
      if (route === 'single stream') expect((await stream.waitForEvents(1))[0]!.event).toBe('job.status');
      stream.close();
    }
    const other = jobEvents(TENANT);
    expect({ name, status: (await publish(jwt, other.status('pending'))).status }).toEqual({ name, status: 202 });
  }
});

test('a longer-lived token is a 401 problem+json on every route and the publisher, and nothing it publishes is stored', async () => {
  const now = nowS();
  const cases: [string, string][] = [
    ['iat now, exp in 2 h', await token(now + 7200, now)],
    ['minted 2 h ago, 10 min left', await token(now + 600, now - 7200)],
    ['no iat, exp in 2 h', await token(now + 7200)],
    ['iat in the future', await token(now + 20_000, now + 19_000)],
    ['exp 10^20 s away', await token(now + 1e20, now)],
    ['exp 1e400', infiniteToken()],
  ];
  for (const [name, jwt] of cases) {
    for (const [route, url] of readRoutes(bounded)) {
      const answer = await openStream(url, { headers: { Authorization: `Bearer ${jwt}` } });
      const problem = jsonOrUndefined(await answer.body());
      expect({ name, route, status: answer.status, type: answer.headers['content-type'], challenge: answer.headers['www-authenticate'], problem }).toEqual({
        name,
        route,
        status: 401,
        type: expect.stringMatching(/^application\/problem\+json/),
        challenge: expect.stringMatching(/^Bearer/),
        problem: expect.objectContaining({ status: 401, detail: expect.stringMatching(new RegExp(`lives too long: .*maximum of ${MAX_TTL_S} s`)) }),
      });
    }
    const refused = jobEvents(TENANT);
    const answer = await publish(jwt, refused.status('pending'));
    expect({ name, status: answer.status, type: answer.headers.get('content-type'), detail: answer.json?.detail }).toEqual({
      name,
      status: 401,
      type: expect.stringMatching(/^application\/problem\+json/),
      detail: expect.stringMatching(/lives too long/),
    });
    const history = await fetch(`${bounded.url}/api/v1/jobs/${refused.id}/events`, { headers: { Authorization: `Bearer ${await token(nowS() + 60)}` } });
    expect({ name, stored: history.status }).toEqual({ name, stored: 404 });
  }
});

test('without a maximum, tokens whose exp is 10^20 s away or Infinity stream on: heartbeats, live events, never token_expired', async () => {
  const far = await token(nowS() + 1e20, nowS());
  const streams = await Promise.all([far, infiniteToken()].map((jwt) => openStream(`${unbounded.url}/api/v1/stream/jobs/${job.id}`, { headers: { Authorization: `Bearer ${jwt}` } })));
  expect(streams.map((s) => s.status)).toEqual([200, 200]);
  for (const stream of streams) await stream.waitForFrames((frames) => frames.filter((f) => f.event === 'heartbeat').length >= 3, 10_000);
  expect((await publish(far, job.status('scheduled'))).status).toBe(401); // the publisher has the maximum
  expect((await publish(await token(nowS() + 600), job.status('scheduled'))).status).toBe(202);
  for (const stream of streams) {
    await stream.waitForEvents(2);
    expect(stream.named('end')).toEqual([]);
  }
  expect(await unbounded.metric('fanout_gateway_disconnects_total', { reason: 'token_expired' })).toBe(0);
});

test('a FANOUT_JWT_MAX_TTL_S that is not a positive whole number stops gateway and publisher at start with one line naming it', async () => {
  for (const role of ['gateway', 'publisher']) {
    for (const value of ['0', '-5', '1.5', '1h']) {
      const run = startCli([role], {
        env: { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: SECRET, FANOUT_JWT_MAX_TTL_S: value, REDIS_URL: stack.redis.url, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
      });
      // Hang guard: a process that ignored the value would go on listening.
      const guard = setTimeout(() => run.kill('SIGKILL'), 15_000);
      const code = await run.exited;
      clearTimeout(guard);
      const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
      expect({ role, value, code: code === 0 ? 0 : 'non-zero', stdout: run.stdout, lines: lines.length }).toEqual({ role, value, code: 'non-zero', stdout: '', lines: 1 });
      expect(lines[0]).toContain('FANOUT_JWT_MAX_TTL_S');
    }
  }
});
