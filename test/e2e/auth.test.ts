/**
 * Tenants and tokens, end to end (issue 4): JWT auth (HS256, and RS256/ES256 from a JWKS served on
 * loopback and rotated), scopes, tenant isolation on every read route, publishing for one tenant,
 * token expiry mid-stream, connection limits, CORS, configuration refusals, and a scan of every log
 * line the processes wrote during the file for tokens. Real redis-server, publisher and gateways
 * spawned through the CLI. Timeouts are hang guards only.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer, Server } from 'node:http';
import { createServer as createTcpServer, connect, Server as TcpServer } from 'node:net';
import { EventSource } from 'eventsource';
import { JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { CLI_PATH, FanoutProcess, REPO_ROOT, startFanout } from '../support/fanout-process';
import { closeAllStreams, openStream, SseStream, within } from '../support/sse-client';
import { jobEvents, Kind, packRunEvents, ROUTE_SEGMENT, runEvents, Stack, startStack, TestEvent, uniqueId, jsonOrUndefined } from '../support/stack';
import { sleep, waitFor } from '../support/wait';
import { activitySentinelEvent, sentinelEvent, untilDelivered, withoutEvents } from '../support/sentinel';

type Json = Record<string, any>;

const SECRET = `fanout-e2e-secret-${Math.random().toString(36).slice(2)}-0123456789`;
const SECRET_KEY = new TextEncoder().encode(SECRET);
const ISSUER = 'https://issuer.fanout.test';
const AUDIENCE = 'fanout-e2e';
const ALLOWED_ORIGIN = 'https://dash.example.test';
const OTHER_ORIGIN = 'https://evil.example.test';
const PROBLEM = /^application\/problem\+json\b/;

const nowS = () => Math.floor(Date.now() / 1000);
const suffix = Math.random().toString(36).slice(2, 8);
const TENANT_A = `ta-${suffix}`;
const TENANT_B = `tb-${suffix}`;
const TENANT_C = `tc-${suffix}`;

// ---------------------------------------------------------------------------------------------
// Tokens: every one minted here is remembered, and no log line may hold any of them.

const minted = new Set<string>();

interface MintOptions {
  tenant?: string | null;
  scope?: string | null;
  /** Absolute exp (epoch seconds); default now + 10 min. */
  exp?: number;
  nbf?: number;
  iss?: string | null;
  aud?: string | null;
  key?: Parameters<SignJWT['sign']>[0];
  alg?: string;
  kid?: string;
}

async function mint(options: MintOptions = {}): Promise<string> {
  const claims: Json = {};
  if (options.tenant !== null) claims.tenant = options.tenant ?? TENANT_A;
  if (options.scope !== null) claims.scope = options.scope ?? 'stream:read';
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', ...(options.kid ? { kid: options.kid } : {}) })
    .setIssuedAt()
    .setExpirationTime(options.exp ?? nowS() + 600);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  if (options.iss !== null) jwt.setIssuer(options.iss ?? ISSUER);
  if (options.aud !== null) jwt.setAudience(options.aud ?? AUDIENCE);
  const token = await jwt.sign(options.key ?? SECRET_KEY);
  minted.add(token);
  return token;
}

/** A token that `alg: none` would accept: header and claims, no signature. */
function unsecuredToken(tenant: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${part({ alg: 'none', typ: 'JWT' })}.${part({ tenant, scope: 'stream:read events:write', iss: ISSUER, aud: AUDIENCE, exp: nowS() + 600 })}.`;
  minted.add(token);
  return token;
}

const reader = (tenant: string, exp?: number) => mint({ tenant, scope: 'stream:read', exp });
const writer = (tenant: string) => mint({ tenant, scope: 'events:write' });

// ---------------------------------------------------------------------------------------------
// HTTP helpers

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Json | undefined;
}

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

/**
 * GET over node:http. An event stream that opens (200) is closed at once (its body is not awaited);
 * any other answer is read whole.
 */
async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const s = await openStream(url, { headers });
  if (s.status === 200 && String(s.headers['content-type']).startsWith('text/event-stream')) {
    s.close();
    return { status: 200, headers: s.headers, text: '', json: undefined };
  }
  const text = await s.body();
  return { status: s.status, headers: s.headers, text, json: jsonOrUndefined<Json>(text) };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await response.text();
  let json: Json | undefined;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: Object.fromEntries(response.headers.entries()), text, json };
}

function expectProblem(answer: Answer, status: number, what: string): void {
  expect({ what, status: answer.status, contentType: answer.headers['content-type'] }).toEqual({ what, status, contentType: expect.stringMatching(PROBLEM) });
  expect(answer.json).toEqual(expect.objectContaining({ title: expect.any(String), status, detail: expect.any(String) }));
}

function withQuery(url: string, params: Record<string, string>): string {
  return `${url}${url.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}`;
}

// ---------------------------------------------------------------------------------------------
// The stack: one HS256 publisher and gateway (LOG_LEVEL=debug), a JWKS gateway, a gateway with small limits.

let stack: Stack;
let gateway: FanoutProcess;
let publisher: FanoutProcess;
let jwksGateway: FanoutProcess;
let limitsGateway: FanoutProcess;
/** Every process of the file (stack and refused starts), for the log scan. */
const processLogs: { who: string; lines: string[] }[] = [];

let jwksServer: Server;
let jwksUrl: string;
let jwksDocument: { keys: JWK[] } = { keys: [] };
let jwksRequests = 0;

const REDACTED = { FANOUT_JWT_SECRET: undefined };

beforeAll(async () => {
  jwksServer = createHttpServer((_req, res) => {
    jwksRequests += 1;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(jwksDocument));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const address = jwksServer.address();
  jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/.well-known/jwks.json`;

  stack = await startStack({
    gateways: 1,
    env: {
      FANOUT_AUTH: 'jwt',
      FANOUT_JWT_SECRET: SECRET,
      FANOUT_JWT_ISSUER: ISSUER,
      FANOUT_JWT_AUDIENCE: AUDIENCE,
      FANOUT_CORS_ORIGINS: `${ALLOWED_ORIGIN}, https://other-allowed.example.test`,
      LOG_LEVEL: 'debug',
    },
  });
  gateway = stack.gateways[0]!;
  publisher = stack.publisher;
  [jwksGateway, limitsGateway] = await Promise.all([
    stack.addGateway({ ...REDACTED, FANOUT_JWKS_URL: jwksUrl }),
    stack.addGateway({ FANOUT_MAX_CONNECTIONS: 3, FANOUT_MAX_CONNECTIONS_PER_TENANT: 2 }),
  ]);
  await publishOk([jobA.status('pending'), runA.status('pending')]);
}, 90_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
  jwksServer?.closeAllConnections();
  await new Promise((resolve) => (jwksServer ? jwksServer.close(resolve) : resolve(undefined)));
}, 60_000);

/** Publishes with a writer token for the events' tenant; throws unless 202. */
async function publishOk(events: TestEvent | TestEvent[]): Promise<void> {
  const list = Array.isArray(events) ? events : [events];
  const answer = await post(`${publisher.url}/api/v1/events`, Array.isArray(events) ? { events } : events, bearer(await writer(list[0]!.tenant)));
  if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.text.slice(0, 500)}`);
}

const streamUrl = (g: FanoutProcess, kind: Kind, id: string) => `${g.url}/api/v1/stream/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}`;
const historyUrl = (g: FanoutProcess, kind: Kind, id: string) => `${g.url}/api/v1/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}/events`;
const multiUrl = (g: FanoutProcess, entries: string[]) => `${g.url}/api/v1/stream?subjects=${entries.map(encodeURIComponent).join(',')}`;
const activityUrl = (g: FanoutProcess) => `${g.url}/api/v1/stream/subjects`;
const subjectsUrl = (g: FanoutProcess) => `${g.url}/api/v1/subjects?limit=1000`;

/** Tenant A's subjects that every test may read. */
const jobA = jobEvents(TENANT_A, uniqueId('job-a'));
const runA = runEvents(TENANT_A, uniqueId('run-a'));

/** Every read route, on tenant A's subjects, as [name, url]. */
function readRoutes(g: FanoutProcess): [string, string][] {
  return [
    ['single stream', streamUrl(g, 'job', jobA.id)],
    ['multi-subject stream', multiUrl(g, [`job:${jobA.id}`, `run:${runA.id}`])],
    ['activity stream', activityUrl(g)],
    ['history', historyUrl(g, 'job', jobA.id)],
    ['subjects', subjectsUrl(g)],
  ];
}

describe('tokens', () => {
  test('probes and metrics need no token; every read route answers 200 with a good token (header or ?access_token=)', async () => {
    for (const p of [gateway, publisher, jwksGateway]) {
      for (const path of ['/healthz', '/readyz', '/metrics']) expect({ path, status: (await fetch(`${p.url}${path}`)).status }).toEqual({ path, status: 200 });
    }
    const token = await reader(TENANT_A);
    for (const [name, url] of readRoutes(gateway)) {
      expect({ name, via: 'header', status: (await get(url, bearer(token))).status }).toEqual({ name, via: 'header', status: 200 });
      expect({ name, via: 'query', status: (await get(withQuery(url, { access_token: token }))).status }).toEqual({ name, via: 'query', status: 200 });
    }
    const history = await get(historyUrl(gateway, 'job', jobA.id), bearer(token));
    expect(history.json?.events.map((e: Json) => e.data.status)).toEqual(['pending']);
  });

  test('no token, garbage, a bad signature, alg none, expired, not yet valid, wrong issuer, wrong audience, no tenant → 401 problem+json on every route', async () => {
    // Every token holds both scopes: the only thing wrong with it is what its case names.
    const scope = 'stream:read events:write';
    const cases: [string, string | undefined][] = [
      ['no token', undefined],
      ['garbage', 'not.a.jwt'],
      ['bad signature', await mint({ scope, key: new TextEncoder().encode(`${SECRET}-but-another`) })],
      ['tampered claims', await (async () => {
        const [h, , s] = (await mint({ scope, tenant: TENANT_B })).split('.');
        const claims = Buffer.from(JSON.stringify({ tenant: TENANT_A, scope: 'stream:read events:write', iss: ISSUER, aud: AUDIENCE, exp: nowS() + 600 })).toString('base64url');
        const token = `${h}.${claims}.${s}`;
        minted.add(token);
        return token;
      })()],
      ['alg none', unsecuredToken(TENANT_A)],
      ['expired', await mint({ scope, exp: nowS() - 10 })],
      ['not yet valid (nbf)', await mint({ scope, nbf: nowS() + 300 })],
      ['wrong issuer', await mint({ scope, iss: 'https://someone-else.test' })],
      ['no issuer', await mint({ scope, iss: null })],
      ['wrong audience', await mint({ scope, aud: 'another-service' })],
      ['no audience', await mint({ scope, aud: null })],
      ['no tenant claim', await mint({ scope, tenant: null })],
    ];
    // The control: the same kind of token, with nothing wrong, is accepted everywhere.
    const good = await mint({ scope });
    for (const [route, url] of readRoutes(gateway)) expect({ route, status: (await get(url, bearer(good))).status }).toEqual({ route, status: 200 });
    const writeBody = jobEvents(TENANT_A).status('pending');
    for (const [name, token] of cases) {
      const attempts: [string, Promise<Answer>][] = readRoutes(gateway).map(([route, url]) => [route, get(url, token === undefined ? {} : bearer(token))]);
      if (token !== undefined) attempts.push(['single stream ?access_token=', get(withQuery(streamUrl(gateway, 'job', jobA.id), { access_token: token }))]);
      attempts.push(['publish', post(`${publisher.url}/api/v1/events`, writeBody, token === undefined ? {} : bearer(token))]);
      for (const [route, pending] of attempts) {
        const answer = await pending;
        expectProblem(answer, 401, `${name} on ${route}`);
        expect({ name, route, challenge: answer.headers['www-authenticate'] }).toEqual({ name, route, challenge: expect.stringMatching(/^Bearer\b/) });
        if (token) for (const part of token.split('.').filter((p) => p.length > 10)) expect(answer.text).not.toContain(part);
      }
    }
    // Nothing the refused publishes carried was stored.
    expect((await get(historyUrl(gateway, 'job', writeBody.subject.id), bearer(await reader(TENANT_A)))).status).toBe(404);
  });

  test('a token without the needed scope → 403: reading with events:write only, publishing with stream:read only', async () => {
    const writeOnly = await mint({ scope: 'events:write' });
    const noScope = await mint({ scope: null });
    for (const token of [writeOnly, noScope]) {
      for (const [route, url] of readRoutes(gateway)) expectProblem(await get(url, bearer(token)), 403, `${route} without stream:read`);
    }
    const job = jobEvents(TENANT_A);
    for (const token of [await mint({ scope: 'stream:read' }), noScope, await mint({ scope: 'events:writer' })]) {
      expectProblem(await post(`${publisher.url}/api/v1/events`, job.status('pending'), bearer(token)), 403, 'publish without events:write');
    }
    expect((await get(historyUrl(gateway, 'job', job.id), bearer(await reader(TENANT_A)))).status).toBe(404);
    // Both scopes in one token: both work.
    const both = await mint({ scope: 'stream:read events:write' });
    expect((await post(`${publisher.url}/api/v1/events`, job.status('pending'), bearer(both))).status).toBe(202);
    expect((await get(historyUrl(gateway, 'job', job.id), bearer(both))).status).toBe(200);
  });

  test('a real EventSource streams with ?access_token= (it cannot set headers)', async () => {
    const job = jobEvents(TENANT_A);
    await publishOk(job.status('pending'));
    const es = new EventSource(withQuery(streamUrl(gateway, 'job', job.id), { access_token: await reader(TENANT_A) }));
    const statuses: string[] = [];
    try {
      await within(
        'the EventSource to see pending, scheduled, leased',
        new Promise<void>((resolve, reject) => {
          es.addEventListener('job.status', (event) => {
            statuses.push(JSON.parse((event as MessageEvent).data).data.status);
            if (statuses.length === 1) void publishOk([job.status('scheduled'), job.status('leased')]).catch(reject);
            if (statuses.length === 3) resolve();
          });
          es.addEventListener('error', () => es.readyState === EventSource.CLOSED && reject(new Error('the EventSource was closed')));
        }),
        15_000,
      );
    } finally {
      es.close();
    }
    expect(statuses).toEqual(['pending', 'scheduled', 'leased']);
  });
});

describe('tenant isolation', () => {
  const jobX = jobEvents(TENANT_A, uniqueId('job-x'));
  const packX = packRunEvents(TENANT_A, uniqueId('pack-x'));
  const runX = runEvents(TENANT_A, uniqueId('run-x'));
  const jobB = jobEvents(TENANT_B, uniqueId('job-b'));
  const sharedId = uniqueId('shared');
  const sharedA = jobEvents(TENANT_A, sharedId);
  const sharedB = jobEvents(TENANT_B, sharedId);

  /** What tenant B sees of tenant A's subjects X on each read route (status, content type, body). */
  async function bView(token: string): Promise<Record<string, { status: number; contentType: unknown; body: string }>> {
    const routes: [string, string][] = [
      ['single job', streamUrl(gateway, 'job', jobX.id)],
      ['single pack-run', streamUrl(gateway, 'pack-run', packX.id)],
      ['single run', streamUrl(gateway, 'run', runX.id)],
      ['single job ?access_token=', withQuery(streamUrl(gateway, 'job', jobX.id), { access_token: token })],
      ['single job with Last-Event-ID', streamUrl(gateway, 'job', jobX.id)],
      ['history job', historyUrl(gateway, 'job', jobX.id)],
      ['history pack-run', historyUrl(gateway, 'pack-run', packX.id)],
      ['history run', `${historyUrl(gateway, 'run', runX.id)}?after=0&limit=10`],
      ['multi, only the other tenant’s', multiUrl(gateway, [`job:${jobX.id}`])],
      ['multi, own and the other tenant’s', multiUrl(gateway, [`job:${jobB.id}`, `pack-run:${packX.id}`])],
    ];
    const view: Record<string, { status: number; contentType: unknown; body: string }> = {};
    for (const [name, url] of routes) {
      const headers = name.includes('access_token') ? {} : { ...bearer(token), 'X-Tenant': TENANT_A };
      const answer = await openStream(url, { headers, ...(name.includes('Last-Event-ID') ? { lastEventId: '' } : {}) });
      view[name] = { status: answer.status, contentType: answer.headers['content-type'], body: await answer.body() };
    }
    return view;
  }

  test('another tenant’s subject answers 404 on every read route, byte for byte as when it did not exist; same ids stay apart; activity and subjects show only the own tenant', async () => {
    const tokenB = await reader(TENANT_B);
    const tokenA = await reader(TENANT_A);
    await publishOk(jobB.status('pending'));
    await publishOk(sharedB.status('pending'));

    const activityB = await openStream(activityUrl(gateway), { headers: bearer(tokenB) });
    expect(activityB.status).toBe(200);
    await activityB.waitForFrames((frames) => frames.filter((f) => f.event === 'subject.updated').length >= 2);

    const before = await bView(tokenB);
    for (const [name, answer] of Object.entries(before)) {
      expect({ name, status: answer.status, contentType: answer.contentType }).toEqual({ name, status: 404, contentType: expect.stringMatching(PROBLEM) });
    }

    // Tenant A's subjects come into being (one with the very id tenant B uses).
    await publishOk([jobX.status('pending'), jobX.status('scheduled')]);
    await publishOk(packX.status('pending', { packName: 'p', steps: [{ index: 0, name: 'build' }] }));
    await publishOk([runX.status('pending'), runX.status('running')]);
    await publishOk([sharedA.status('pending'), sharedA.status('scheduled'), sharedA.progress(10, 'a secret of tenant A')]);
    for (const [kind, id] of [['job', jobX.id], ['pack-run', packX.id], ['run', runX.id]] as const) {
      expect((await get(historyUrl(gateway, kind, id), bearer(tokenA))).status).toBe(200);
    }

    // Tenant B sees exactly what it saw before they existed.
    expect(await bView(tokenB)).toEqual(before);

    // The same id in both tenants: each sees its own subject only.
    const sharedForB = await get(historyUrl(gateway, 'job', sharedId), bearer(tokenB));
    expect(sharedForB.json?.events.map((e: Json) => [e.tenant, e.seq, e.data.status])).toEqual([[TENANT_B, 1, 'pending']]);
    const streamB = await openStream(streamUrl(gateway, 'job', sharedId), { headers: bearer(tokenB) });
    const multiB = await openStream(multiUrl(gateway, [`job:${sharedId}`, `job:${jobB.id}`]), { headers: bearer(tokenB) });
    await publishOk(jobB.status('scheduled')); // the last thing published: everything of A's is in before it
    await streamB.waitForEvents(1);
    await multiB.waitForEvents(3);
    await activityB.waitForFrames((frames) => frames.some((f) => f.event === 'subject.updated' && JSON.parse(f.data).status === 'scheduled'));
    // Sentinels of tenant B after all that (a progress on each of its jobs, a new subject for its
    // activity): anything that should not come would be in before them.
    const sentinels = [sentinelEvent(TENANT_B, { kind: 'job', id: sharedId }), sentinelEvent(TENANT_B, jobB), activitySentinelEvent(TENANT_B)];
    const [shared, ofJobB, ofActivity] = sentinels;
    await publishOk(sentinels);
    await Promise.all([untilDelivered(streamB, [shared!]), untilDelivered(multiB, [shared!, ofJobB!]), untilDelivered(activityB, [ofActivity!])]);
    const dataOfEvents = (s: SseStream) => withoutEvents(s.events(), sentinels).map((f) => JSON.parse(f.data) as Json);
    expect(dataOfEvents(streamB).map((e) => [e.tenant, e.data.status])).toEqual([[TENANT_B, 'pending']]);
    expect(dataOfEvents(multiB).map((e) => [e.tenant, e.subject.id, e.data.status])).toEqual(
      expect.arrayContaining([
        [TENANT_B, sharedId, 'pending'],
        [TENANT_B, jobB.id, 'pending'],
        [TENANT_B, jobB.id, 'scheduled'],
      ]),
    );
    expect(withoutEvents(multiB.events(), sentinels)).toHaveLength(3);
    expect(multiB.raw).not.toContain(TENANT_A);
    expect(streamB.raw).not.toContain(TENANT_A);

    const updates = withoutEvents(activityB.named('subject.updated'), sentinels).map((f) => JSON.parse(f.data) as Json);
    expect(updates.map((u) => [u.subject.id, u.status, u.seq])).toEqual([
      [jobB.id, 'pending', 1],
      [sharedId, 'pending', 1],
      [jobB.id, 'scheduled', 2],
    ]);
    expect(activityB.raw).not.toContain(TENANT_A);

    // The subjects list: B's own only (the shared id with B's own status and seq, the sentinels'
    // progress counted in the seqs, the activity sentinel's subject), A's own only.
    const listB = (await get(subjectsUrl(gateway), bearer(tokenB))).json!.subjects as Json[];
    expect(listB.map((s) => `${s.subject.kind}:${s.subject.id}:${s.status}:${s.seq}`).sort()).toEqual(
      [`job:${jobB.id}:scheduled:3`, `job:${sharedId}:pending:2`, `job:${ofActivity!.subject.id}:pending:1`].sort(),
    );
    const listA = (await get(subjectsUrl(gateway), bearer(tokenA))).json!.subjects as Json[];
    const idsA = listA.map((s) => `${s.subject.kind}:${s.subject.id}`);
    expect(idsA).toEqual(expect.arrayContaining([`job:${jobX.id}`, `pack-run:${packX.id}`, `run:${runX.id}`, `job:${sharedId}`]));
    expect(idsA).not.toContain(`job:${jobB.id}`);
    expect(listA.find((s) => s.subject.id === sharedId)).toMatchObject({ status: 'scheduled', seq: 3 });
  });

  test('publishing for another tenant → 403, nothing stored (one event, or one foreign event in a batch)', async () => {
    const tokenA = await writer(TENANT_A);
    const foreign = jobEvents(TENANT_B);
    const own = jobEvents(TENANT_A);
    const url = `${publisher.url}/api/v1/events`;
    expectProblem(await post(url, foreign.status('pending'), bearer(tokenA)), 403, 'one event of tenant B with tenant A’s token');
    expectProblem(await post(url, { events: [own.status('pending'), foreign.status('pending')] }, bearer(tokenA)), 403, 'a batch with one foreign event');
    expectProblem(await post(url, foreign.status('pending'), { ...bearer(tokenA), 'X-Tenant': TENANT_B }), 403, 'X-Tenant does not override the token');
    expect((await get(historyUrl(gateway, 'job', foreign.id), bearer(await reader(TENANT_B)))).status).toBe(404);
    expect((await get(historyUrl(gateway, 'job', own.id), bearer(await reader(TENANT_A)))).status).toBe(404);
    // With the right tenant's token it goes through.
    expect((await post(url, foreign.status('pending'), bearer(await writer(TENANT_B)))).status).toBe(202);
  });

  test('an event without `tenant` is published for the token’s tenant, and is stored and streamed carrying it (one event, and in a batch)', async () => {
    const job = jobEvents(TENANT_A);
    const withoutTenant = ({ tenant: _tenant, ...rest }: TestEvent) => rest;
    const url = `${publisher.url}/api/v1/events`;
    const token = await writer(TENANT_A);
    const published = [job.status('pending'), job.status('scheduled'), job.status('leased')];
    const one = await post(url, withoutTenant(published[0]!), bearer(token));
    expect({ status: one.status, body: one.json }).toEqual({ status: 202, body: { results: [{ eventId: published[0]!.eventId, seq: 1, duplicate: false }] } });
    const batch = await post(url, { events: [withoutTenant(published[1]!), published[2]] }, bearer(token));
    expect({ status: batch.status, seqs: batch.json?.results?.map((r: Json) => r.seq) }).toEqual({ status: 202, seqs: [2, 3] });

    const expected = published.map((e, i) => [e.eventId, TENANT_A, i + 1]);
    const history = await get(historyUrl(gateway, 'job', job.id), bearer(await reader(TENANT_A)));
    expect(history.json?.events.map((e: Json) => [e.eventId, e.tenant, e.seq])).toEqual(expected);
    const stream = await openStream(streamUrl(gateway, 'job', job.id), { headers: bearer(await reader(TENANT_A)) });
    await stream.waitForEvents(3, 10_000);
    expect(stream.eventData().map((e) => [e.eventId, e.tenant, e.seq])).toEqual(expected);
    expect((await get(historyUrl(gateway, 'job', job.id), bearer(await reader(TENANT_B)))).status).toBe(404);
  });
});

describe('JWKS (RS256/ES256 from a key set on loopback)', () => {
  test('keys rotate without a restart: a new kid refetches the key set; the rotated-out key and HS256 are refused', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const jwk = async (key: typeof rsa.publicKey, kid: string, alg: string): Promise<JWK> => ({ ...(await exportJWK(key)), kid, alg, use: 'sig' });
    jwksDocument = { keys: [await jwk(rsa.publicKey, 'rsa-1', 'RS256')] };
    const pid = jwksGateway.pid;
    const url = historyUrl(jwksGateway, 'job', jobA.id);

    const rsaToken = await mint({ alg: 'RS256', kid: 'rsa-1', key: rsa.privateKey });
    expect((await get(url, bearer(rsaToken))).status).toBe(200);
    expect((await get(withQuery(streamUrl(jwksGateway, 'job', jobA.id), { access_token: rsaToken }))).status).toBe(200);
    expect(jwksRequests).toBeGreaterThan(0);

    const ecToken = await mint({ alg: 'ES256', kid: 'ec-2', key: ec.privateKey });
    expectProblem(await get(url, bearer(ecToken)), 401, 'a kid the key set does not have yet');
    expectProblem(await get(url, bearer(await mint())), 401, 'HS256 on a JWKS gateway');
    expectProblem(await get(url, bearer(unsecuredToken(TENANT_A))), 401, 'alg none on a JWKS gateway');

    // Rotate: the key set now holds only the new EC key.
    jwksDocument = { keys: [await jwk(ec.publicKey, 'ec-2', 'ES256')] };
    await sleep(2_200); // past the refetch cooldown (2 s) since the last unknown kid
    const fetchedBefore = jwksRequests;
    expect((await get(url, bearer(ecToken))).status).toBe(200);
    expect(jwksRequests).toBeGreaterThan(fetchedBefore);
    expect((await get(multiUrl(jwksGateway, [`job:${jobA.id}`]), bearer(ecToken))).status).toBe(200);
    expect(jwksGateway.pid).toBe(pid);
    expect(jwksGateway.exited).toBe(false);

    // A key that is no longer published is no longer accepted; a forged kid neither.
    expectProblem(await get(url, bearer(rsaToken)), 401, 'the rotated-out RSA key');
    const stranger = await generateKeyPair('ES256');
    expectProblem(await get(url, bearer(await mint({ alg: 'ES256', kid: 'ec-2', key: stranger.privateKey }))), 401, 'a known kid, signed by another key');
    expectProblem(await get(url, bearer(await mint({ alg: 'ES256', kid: 'ec-3', key: stranger.privateKey }))), 401, 'an unknown kid');
    expectProblem(await get(url, bearer(await mint({ alg: 'ES256', kid: 'ec-2', key: ec.privateKey, aud: 'another-service' }))), 401, 'the right key, the wrong audience');
  });
});

describe('token expiry on open streams', () => {
  test('a token whose exp passes mid-stream ends single, multi-subject and activity streams with end {"reason":"token_expired"}', async () => {
    const job = jobEvents(TENANT_A);
    await publishOk(job.status('pending'));
    const before = (await gateway.metric('fanout_gateway_disconnects_total', { reason: 'token_expired' })) ?? 0;
    const exp = nowS() + 2;
    const token = await reader(TENANT_A, exp);
    const streams: [string, SseStream][] = [
      ['single', await openStream(streamUrl(gateway, 'job', job.id), { headers: bearer(token) })],
      ['single ?access_token=', await openStream(withQuery(streamUrl(gateway, 'job', job.id), { access_token: token }))],
      ['multi', await openStream(multiUrl(gateway, [`job:${job.id}`, `job:${jobA.id}`]), { headers: bearer(token) })],
      ['activity', await openStream(activityUrl(gateway), { headers: bearer(token) })],
    ];
    for (const [name, s] of streams) expect({ name, status: s.status }).toEqual({ name, status: 200 });
    // Still live before the token expires.
    await publishOk(job.status('scheduled'));
    await Promise.all(streams.slice(0, 3).map(([, s]) => s.waitForFrames((frames) => frames.some((f) => f.data.includes('"scheduled"')))));

    for (const [name, s] of streams) {
      const end = await s.waitForFrame('end', 15_000);
      expect({ name, data: JSON.parse(end.data), id: end.id }).toEqual({ name, data: { reason: 'token_expired' }, id: undefined });
      await within(`${name}: the response to end cleanly after end`, s.ended, 10_000);
      expect(s.frames[s.frames.length - 1]).toBe(end);
    }
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    await waitFor('the token_expired disconnects to be counted', async () => ((await gateway.metric('fanout_gateway_disconnects_total', { reason: 'token_expired' })) ?? 0) >= before + 4);

    // Reconnecting with the expired token is a 401; with a fresh one the stream resumes.
    expectProblem(await get(streamUrl(gateway, 'job', job.id), bearer(token)), 401, 'reconnecting with the expired token');
    expect((await get(streamUrl(gateway, 'job', job.id), bearer(await reader(TENANT_A)))).status).toBe(200);
  });
});

describe('connection limits', () => {
  test('FANOUT_MAX_CONNECTIONS_PER_TENANT and FANOUT_MAX_CONNECTIONS answer 429 with Retry-After; a closed stream gives its slot back', async () => {
    const [a, b, c] = await Promise.all([reader(TENANT_A), reader(TENANT_B), reader(TENANT_C)]);
    const open = (token: string) => openStream(activityUrl(limitsGateway), { headers: { ...bearer(token), Origin: ALLOWED_ORIGIN } });
    const expect429 = async (s: SseStream, what: string) => {
      const body = await s.body();
      expect({ what, status: s.status, contentType: s.headers['content-type'], retryAfter: s.headers['retry-after'] }).toEqual({
        what,
        status: 429,
        contentType: expect.stringMatching(PROBLEM),
        retryAfter: expect.stringMatching(/^[1-9]\d*$/),
      });
      expect(JSON.parse(body)).toMatchObject({ status: 429, title: expect.any(String), detail: expect.any(String) });
      expect(s.headers['access-control-expose-headers']).toMatch(/retry-after/i);
    };

    const a1 = await open(a);
    const a2 = await open(a);
    expect([a1.status, a2.status]).toEqual([200, 200]);
    await expect429(await open(a), 'tenant A over its limit of 2');
    // Another tenant still gets in (the replica holds 3)...
    const b1 = await open(b);
    expect(b1.status).toBe(200);
    // ...and then the replica is full for everyone.
    await expect429(await open(c), 'tenant C with the replica full');
    await expect429(await open(b), 'tenant B with the replica full');
    // The limits are on streams only.
    expect((await get(subjectsUrl(limitsGateway), bearer(c))).status).toBe(200);
    expect((await get(multiUrl(limitsGateway, [`job:${jobA.id}`]), bearer(a))).status).toBe(429);

    a1.close();
    const again = await waitFor('tenant A to get its slot back', async () => {
      const s = await open(a);
      if (s.status === 200) return s;
      await s.body();
      return undefined;
    });
    expect(again.status).toBe(200);
    for (const s of [a2, b1, again]) s.close();
    await waitFor('the limits gateway to hold no streams', async () => ((await limitsGateway.metric('fanout_gateway_connections')) ?? 0) === 0);
    const c1 = await open(c);
    expect(c1.status).toBe(200);
    c1.close();
  });
});

/** The names of the CORS answer headers among `headers`. */
function corsHeadersOf(headers: Record<string, unknown>): string[] {
  return Object.keys(headers).filter((name) => name.toLowerCase().startsWith('access-control-'));
}

describe('CORS and security headers', () => {
  test('an allowed origin gets Access-Control-Allow-Origin on a stream GET and a publish preflight; another origin does not', async () => {
    const token = await reader(TENANT_A);
    const allowed = await openStream(streamUrl(gateway, 'job', jobA.id), { headers: { ...bearer(token), Origin: ALLOWED_ORIGIN } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    // A listed origin may open it `withCredentials` (cookies for a proxy in front).
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    allowed.close();
    const plainEventSource = await openStream(withQuery(streamUrl(gateway, 'job', jobA.id), { access_token: token }), { headers: { Origin: 'https://other-allowed.example.test' } });
    expect(plainEventSource.headers['access-control-allow-origin']).toBe('https://other-allowed.example.test');
    plainEventSource.close();
    const refused = await openStream(streamUrl(gateway, 'job', jobA.id), { headers: { ...bearer(token), Origin: OTHER_ORIGIN } });
    expect(corsHeadersOf(refused.headers)).toEqual([]);
    refused.close();
    // Every stream answer varies by Origin, one without an Origin and a refusal too: a shared cache must keep them apart.
    const noOrigin = await openStream(streamUrl(gateway, 'job', jobA.id), { headers: bearer(token) });
    const noToken = await get(streamUrl(gateway, 'job', jobA.id));
    for (const answer of [refused, noOrigin, noToken]) expect(String(answer.headers['vary']).split(/\s*,\s*/)).toContain('Origin');
    noOrigin.close();

    // An error answer to an allowed origin is readable by its page too.
    const unauthorized = await get(streamUrl(gateway, 'job', jobA.id), { Origin: ALLOWED_ORIGIN });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);

    const preflight = (origin: string) =>
      fetch(`${publisher.url}/api/v1/events`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
      });
    const ok = await preflight(ALLOWED_ORIGIN);
    expect(ok.status).toBeLessThan(300);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-methods')).toMatch(/\bPOST\b/);
    // The admin API's DELETE (a revocation) may be called from a browser too.
    expect(ok.headers.get('access-control-allow-methods')).toMatch(/\bDELETE\b/);
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('authorization'));
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('content-type'));
    // A compressed body (docs/api.md) needs Content-Encoding from a browser.
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('content-encoding'));
    // Another origin, or none, gets no CORS header at all: the preflight is a bare 204, other answers as they are.
    const no = await preflight(OTHER_ORIGIN);
    expect({ status: no.status, cors: corsHeadersOf(Object.fromEntries(no.headers)) }).toEqual({ status: 204, cors: [] });
    for (const headers of [{ Origin: OTHER_ORIGIN }, {}] as Record<string, string>[]) {
      const page = await get(historyUrl(gateway, 'job', jobA.id), { ...bearer(token), ...headers });
      expect({ status: page.status, cors: corsHeadersOf(page.headers), vary: page.headers['vary'] }).toEqual({ status: 200, cors: [], vary: 'Origin' });
      const publishedElsewhere = await post(`${publisher.url}/api/v1/events`, jobEvents(TENANT_A).status('pending'), { ...bearer(await writer(TENANT_A)), ...headers });
      expect({ status: publishedElsewhere.status, cors: corsHeadersOf(publishedElsewhere.headers) }).toEqual({ status: 202, cors: [] });
    }

    const job = jobEvents(TENANT_A);
    const published = await post(`${publisher.url}/api/v1/events`, job.status('pending'), { ...bearer(await writer(TENANT_A)), Origin: ALLOWED_ORIGIN });
    expect(published.status).toBe(202);
    expect(published.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);

    // The log route's seq headers are readable by the page (not CORS-safelisted, so exposed).
    const pack = packRunEvents(TENANT_A, uniqueId('pack-cors'));
    await publishOk(pack.status('running'));
    const log = await get(`${gateway.url}/api/v1/pack-runs/${pack.id}/log`, { ...bearer(token), Origin: ALLOWED_ORIGIN });
    expect(log.status).toBe(200);
    expect(log.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    const exposed = String(log.headers['access-control-expose-headers']).toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['retry-after', 'location', 'content-disposition', 'fanout-first-seq', 'fanout-last-seq', 'www-authenticate']));
  });

  test('security headers on the API and the dashboard', async () => {
    for (const url of [historyUrl(gateway, 'job', jobA.id), `${gateway.url}/`, `${publisher.url}/api/v1/events`]) {
      const response = await fetch(url);
      await response.arrayBuffer();
      expect({ url, nosniff: response.headers.get('x-content-type-options') }).toEqual({ url, nosniff: 'nosniff' });
    }
  });
});

describe('request size limits', () => {
  test('a request whose headers are over the limit is refused before any route (and its token is not logged)', async () => {
    const token = await reader(TENANT_A);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(gateway.port, '127.0.0.1');
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('close', () => resolve(received));
      socket.on('error', () => undefined);
      socket.setTimeout(10_000, () => socket.destroy());
      socket.write(
        `GET /api/v1/stream/subjects?access_token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nX-Padding: ${'x'.repeat(64 * 1024)}\r\n\r\n`,
      );
    });
    // Refused: either a 431 or the connection closed without an answer; never a stream.
    expect(answer).not.toMatch(/^HTTP\/1\.1 200/);
    await waitFor('the gateway to log the refused request at debug level', () => gateway.logs.some((line) => /"level":20\b/.test(line)));
  });
});

// ---------------------------------------------------------------------------------------------
// Configuration refusals: the process exits before listening, with one clear line.

interface Exit {
  code: number | null;
  stdout: string[];
  stderr: string[];
}

async function runUntilExit(role: string, env: Record<string, string>, what: string): Promise<Exit> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' };
  for (const key of Object.keys(childEnv)) if (key.startsWith('FANOUT_') || ['HOST', 'PORT', 'REDIS_URL', 'LOG_LEVEL'].includes(key)) delete childEnv[key];
  Object.assign(childEnv, env);
  const child: ChildProcess = spawn(process.execPath, [CLI_PATH, role], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out.stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out.stderr += c));
  const code = await new Promise<number | null>((resolve) => {
    const guard = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 15_000);
    child.once('close', (exitCode) => {
      clearTimeout(guard);
      resolve(exitCode);
    });
  });
  const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');
  const exit = { code, stdout: lines(out.stdout), stderr: lines(out.stderr) };
  processLogs.push({ who: `${role} (${what})`, lines: [...exit.stdout, ...exit.stderr] });
  return exit;
}

function expectOneClearLine(exit: Exit, variable: string, what: string): void {
  expect({ what, code: exit.code, stdout: exit.stdout, lines: exit.stderr.length }).toEqual({ what, code: expect.any(Number), stdout: [], lines: 1 });
  expect(exit.code).not.toBe(0);
  expect(exit.stderr[0]).toContain(variable);
}

describe('configuration refusals', () => {
  let guard: TcpServer | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (guard ? guard.close(resolve) : resolve(undefined)));
    guard = undefined;
  });

  /** A port held on 127.0.0.1: a process that wrongly went on to listen on 0.0.0.0 would fail to bind it (loopback only). */
  async function heldPort(): Promise<number> {
    guard = createTcpServer();
    await new Promise<void>((resolve) => guard!.listen(0, '127.0.0.1', resolve));
    const address = guard.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  test('FANOUT_AUTH=none with HOST=0.0.0.0 exits non-zero with one line naming FANOUT_AUTH (gateway, publisher, and dev whose default is none)', async () => {
    const port = String(await heldPort());
    const redis = stack.redis.url;
    for (const [role, env] of [
      ['gateway', { FANOUT_AUTH: 'none', HOST: '0.0.0.0', PORT: port, REDIS_URL: redis }],
      ['publisher', { FANOUT_AUTH: 'none', HOST: '0.0.0.0', PORT: port, REDIS_URL: redis }],
      ['dev', { HOST: '0.0.0.0', PORT: port }],
    ] as const) {
      const exit = await runUntilExit(role, env, 'FANOUT_AUTH=none on 0.0.0.0');
      expectOneClearLine(exit, 'FANOUT_AUTH', `${role} with FANOUT_AUTH=none on 0.0.0.0`);
      expect(exit.stderr[0]).toContain('0.0.0.0');
    }
  });

  test('FANOUT_AUTH=jwt with neither FANOUT_JWT_SECRET nor FANOUT_JWKS_URL (or a bad JWKS URL) exits non-zero with one line naming the variable', async () => {
    const port = String(await heldPort());
    const redis = stack.redis.url;
    const cases: [string, Record<string, string>, string][] = [
      ['gateway', { FANOUT_AUTH: 'jwt', HOST: '127.0.0.1', PORT: port, REDIS_URL: redis }, 'FANOUT_JWT_SECRET'],
      ['gateway', { HOST: '127.0.0.1', PORT: port, REDIS_URL: redis }, 'FANOUT_JWT_SECRET'],
      ['publisher', { FANOUT_AUTH: 'jwt', HOST: '127.0.0.1', PORT: port, REDIS_URL: redis }, 'FANOUT_JWT_SECRET'],
      ['dev', { FANOUT_AUTH: 'jwt', PORT: port }, 'FANOUT_JWT_SECRET'],
      ['gateway', { FANOUT_AUTH: 'jwt', FANOUT_JWKS_URL: 'not a url', HOST: '127.0.0.1', PORT: port, REDIS_URL: redis }, 'FANOUT_JWKS_URL'],
      ['gateway', { FANOUT_AUTH: 'basic', HOST: '127.0.0.1', PORT: port, REDIS_URL: redis }, 'FANOUT_AUTH'],
    ];
    for (const [role, env, variable] of cases) {
      const exit = await runUntilExit(role, env, JSON.stringify(env));
      expectOneClearLine(exit, variable, `${role} ${JSON.stringify(env)}`);
    }
  });
});

describe('a weak HS256 secret', () => {
  test('a FANOUT_JWT_SECRET under 32 bytes is warned of at start (the process still runs); one of 32 bytes is not', async () => {
    const warning = 'FANOUT_JWT_SECRET is shorter than 32 bytes';
    const cases: [string, boolean][] = [
      ['x'.repeat(31), true],
      ['é'.repeat(16), false], // 32 bytes of UTF-8
    ];
    for (const [secret, warned] of cases) {
      const dev = await startFanout('dev', { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: secret, REDIS_URL: undefined });
      try {
        await waitFor('the listening line', async () => dev.logs.some((line) => line.includes('fanout dev listening')), 10_000);
        const lines = dev.logs.filter((line) => line.includes(warning));
        expect({ secretBytes: Buffer.byteLength(secret), warned: lines.length === 1 }).toEqual({ secretBytes: Buffer.byteLength(secret), warned });
        if (warned) expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, bytes: 31, minimum: 32 });
        expect(dev.logs.some((line) => line.includes(secret))).toBe(false);
        expect((await fetch(`${dev.url}/readyz`)).status).toBe(200);
      } finally {
        await dev.stop();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Last: stop everything, then scan every line every process wrote during this file.

describe('logs', () => {
  test('no log line of any process holds a token (neither a raw JWT nor an access_token value)', async () => {
    const processes = stack.processes();
    expect(processes.map((p) => p.role).sort()).toEqual(['gateway', 'gateway', 'gateway', 'publisher']);
    await stack.stop();
    for (const p of processes) processLogs.push({ who: `${p.role} pid ${p.pid}`, lines: p.logs });

    const lines = processLogs.flatMap(({ who, lines: l }) => l.map((line) => ({ who, line })));
    expect(lines.length).toBeGreaterThan(processes.length);
    expect(lines.some(({ line }) => /"level":20\b/.test(line))).toBe(true); // LOG_LEVEL=debug was in effect
    expect(minted.size).toBeGreaterThan(20);

    const fragments = new Set<string>();
    for (const token of minted) {
      fragments.add(token);
      const [, claims, signature] = token.split('.');
      if (claims) fragments.add(claims);
      if (signature && signature.length > 10) fragments.add(signature);
    }
    const leaks: string[] = [];
    for (const { who, line } of lines) {
      const reasons: string[] = [];
      for (const fragment of fragments) if (line.includes(fragment)) reasons.push('a minted token');
      if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/.test(line)) reasons.push('a JWT');
      if (/access_token=(?!\[redacted\]|&|$|\s|")/i.test(line)) reasons.push('an access_token value');
      if (/Bearer\s+(?!\[redacted\])[A-Za-z0-9_-]{8,}/i.test(line)) reasons.push('a Bearer credential');
      if (reasons.length) leaks.push(`${who}: ${[...new Set(reasons)].join(', ')}: ${line.slice(0, 300)}`);
    }
    expect(leaks).toEqual([]);
  });
});
