/**
 * Live revocation (issue 17, item 1): an admin revokes a token by `jti`, every token of a `sub`, or
 * a whole tenant. Each gateway ends the open streams it names with `end` {revoked} within a second
 * while the tenant's other streams go on, refuses those tokens with 401 afterwards (the publisher
 * too), and so does a gateway started after the revocation; lifting it takes the token again. The
 * number of active revocations is bounded (FANOUT_MAX_REVOCATIONS). Real redis-server, publisher and
 * two gateways, with JWT auth.
 */
import { randomUUID } from 'node:crypto';
import { REVOCATION_RELOAD_MS } from '@fanout/gateway';
import { FanoutProcess, startFanout } from '../support/fanout-process';
import { closeAllStreams, openStream, SseStream } from '../support/sse-client';
import { jobEvents, jsonOrUndefined, Stack, startStack, uniqueId } from '../support/stack';
import { mintHs256, nowS } from '../support/tokens';
import { sleep, waitFor } from '../support/wait';

const SECRET = `revocation-secret-${randomUUID()}`;
const TENANT = `rv-${randomUUID().slice(0, 8)}`;
/** Well above what a revocation takes on an idle machine (a few ms), at the limit. */
const REVOKED_WITHIN_MS = 1000;

let stack: Stack;
const job = jobEvents(TENANT, uniqueId('job'));

interface TokenClaims {
  tenant?: string;
  scope?: string;
  jti?: string;
  sub?: string;
}

function token(claims: TokenClaims = {}): Promise<string> {
  const { tenant = TENANT, scope = 'stream:read events:write', jti = `jti-${randomUUID()}`, sub } = claims;
  return mintHs256(SECRET, { tenant, scope, exp: nowS() + 3600, jti, sub });
}

const bearer = (jwt: string) => ({ Authorization: `Bearer ${jwt}` });

async function call(method: string, url: string, jwt: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const response = await fetch(url, {
    method,
    headers: { ...bearer(jwt), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: jsonOrUndefined(await response.text()) };
}

const inTenMinutes = () => new Date(Date.now() + 600_000).toISOString();
const adminToken = () => token({ scope: 'admin' });
const revoke = async (gateway: FanoutProcess, body: unknown) => call('POST', `${gateway.url}/api/v1/admin/revocations`, await adminToken(), body);

function openJob(gateway: FanoutProcess, jwt: string): Promise<SseStream> {
  return openStream(`${gateway.url}/api/v1/stream/jobs/${job.id}`, { headers: bearer(jwt) });
}

/** Opened and replayed: the stream holds the job's first event. */
async function openedJob(gateway: FanoutProcess, jwt: string): Promise<SseStream> {
  const stream = await openJob(gateway, jwt);
  expect(stream.status).toBe(200);
  await stream.waitForEvents(1);
  return stream;
}

const endReason = (stream: SseStream) => {
  const end = stream.named('end')[0];
  return end ? (JSON.parse(end.data) as { reason: string }).reason : undefined;
};

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: SECRET } });
  expect((await call('POST', `${stack.publisher.url}/api/v1/events`, await token(), job.status('pending'))).status).toBe(202);
}, 60_000);

afterEach(() => closeAllStreams());
afterAll(() => stack?.stop(), 60_000);

/** The victim's streams on both gateways (single, multi-subject, activity), each holding its replay. */
async function victimStreams(jwt: string): Promise<SseStream[]> {
  const [g0, g1] = stack.gateways as [FanoutProcess, FanoutProcess];
  const streams = [
    await openedJob(g0, jwt),
    await openedJob(g1, jwt),
    await openStream(`${g1.url}/api/v1/stream?subjects=job:${job.id}`, { headers: bearer(jwt) }),
    await openStream(`${g0.url}/api/v1/stream/subjects`, { headers: bearer(jwt) }),
  ];
  await Promise.all(streams.map((stream) => stream.waitForEvents(1)));
  return streams;
}

/** Revokes `jti` through `gateway` and expects every one of `victims` ended `revoked` within REVOKED_WITHIN_MS. */
async function revokeAndExpectEnded(gateway: FanoutProcess, jti: string, victims: SseStream[]): Promise<{ id: string }> {
  const revokedAt = performance.now();
  const answer = await revoke(gateway, { jti, expiresAt: inTenMinutes() });
  expect(answer.status).toBe(201);
  expect(answer.json).toEqual({ id: expect.any(String), jti, expiresAt: expect.any(String), createdAt: expect.any(String) });
  expect(answer.headers.get('location')).toBe(`/api/v1/admin/revocations/${answer.json.id}`);
  await Promise.all(victims.map((stream) => stream.waitForFrame('end', 10_000)));
  for (const stream of victims) {
    expect(endReason(stream)).toBe('revoked');
    expect(stream.named('end')[0]!.at - revokedAt).toBeLessThan(REVOKED_WITHIN_MS);
    await stream.ended;
  }
  return answer.json;
}

test('a revocation by jti ends its streams on both replicas within 1 s; the tenant\'s other streams go on; the token is then refused everywhere, by a gateway started later too, until the revocation is lifted', async () => {
  const [g0, g1] = stack.gateways as [FanoutProcess, FanoutProcess];
  const victimJti = `victim-${randomUUID()}`;
  const victim = await token({ jti: victimJti });
  const secondJti = `victim-${randomUUID()}`;
  const other = await token();
  const victims = await victimStreams(victim);
  const seconds = await victimStreams(await token({ jti: secondJti }));
  const others = [await openedJob(g0, other), await openedJob(g1, other)];

  // One revocation through each gateway, half a reload period apart: the periodic reload could end
  // the other replica's streams in time for one of them at most, so both in time is the announcement.
  const revocation = await revokeAndExpectEnded(g0, victimJti, victims);
  await sleep(REVOCATION_RELOAD_MS / 2);
  await revokeAndExpectEnded(g1, secondJti, seconds);

  // The other token's streams of the same tenant go on: they get the next event, and no end.
  expect((await call('POST', `${stack.publisher.url}/api/v1/events`, other, job.status('scheduled'))).status).toBe(202);
  await Promise.all(others.map((stream) => stream.waitForEvents(2)));
  for (const stream of others) expect(stream.named('end')).toEqual([]);

  // The revoked token is refused on both replicas, on every route, and by the publisher.
  for (const gateway of [g0, g1]) {
    const refused = await openJob(gateway, victim);
    expect(refused.status).toBe(401);
    expect(JSON.parse(await refused.body()).detail).toBe('the token was revoked');
    expect((await call('GET', `${gateway.url}/api/v1/jobs/${job.id}/events`, victim)).status).toBe(401);
    expect((await call('GET', `${gateway.url}/api/v1/jobs/${job.id}/events`, other)).status).toBe(200);
  }
  await waitFor('the publisher to refuse the revoked token', async () => (await call('POST', `${stack.publisher.url}/api/v1/events`, victim, job.progress(5))).status === 401, 5000);
  // Revoked is a 401 whatever the token's scopes: one of the same jti without the route's scope is refused as revoked, not 403.
  const revokedReader = await token({ jti: victimJti, scope: 'stream:read' });
  const asWriter = await call('POST', `${stack.publisher.url}/api/v1/events`, revokedReader, job.progress(5));
  expect([asWriter.status, asWriter.json.detail]).toEqual([401, 'the token was revoked']);
  const revokedWriter = await token({ jti: victimJti, scope: 'events:write' });
  for (const path of [`/api/v1/jobs/${job.id}/events`, '/api/v1/admin/revocations']) {
    const asReader = await call('GET', `${g0.url}${path}`, revokedWriter);
    expect([path, asReader.status, asReader.json.detail]).toEqual([path, 401, 'the token was revoked']);
  }

  // A gateway started after the revocation loads it from the store.
  const late = await stack.addGateway();
  expect((await openJob(late, victim)).status).toBe(401);
  expect((await openJob(late, other)).status).toBe(200);

  // Listed while active; lifted, the token streams again on every replica.
  const listed = await call('GET', `${g1.url}/api/v1/admin/revocations`, await adminToken());
  expect(listed.status).toBe(200);
  expect(listed.json.revocations).toContainEqual(revocation);
  expect((await call('DELETE', `${g1.url}/api/v1/admin/revocations/${revocation.id}`, await adminToken())).status).toBe(204);
  for (const gateway of [g0, g1, late]) {
    await waitFor(`${gateway.url} to take the token again`, async () => {
      const stream = await openJob(gateway, victim);
      stream.close();
      return stream.status === 200;
    }, 5000);
  }
  expect((await call('DELETE', `${g1.url}/api/v1/admin/revocations/${revocation.id}`, await adminToken())).status).toBe(404);
  await stack.stopProcess(late);
}, 60_000);

test('a revocation by sub ends every token of that subject; one by tenant ends the whole tenant, activity streams included', async () => {
  const [g0, g1] = stack.gateways as [FanoutProcess, FanoutProcess];
  const sub = `user-${randomUUID()}`;
  const bySub = [await openedJob(g0, await token({ sub })), await openedJob(g1, await token({ sub }))];
  const bystander = await openedJob(g1, await token({ sub: `user-${randomUUID()}` }));
  expect((await revoke(g1, { sub, expiresAt: inTenMinutes() })).status).toBe(201);
  await Promise.all(bySub.map((stream) => stream.waitForFrame('end', 5000)));
  expect(bySub.map(endReason)).toEqual(['revoked', 'revoked']);
  expect((await openJob(g0, await token({ sub }))).status).toBe(401);

  const otherTenant = `rv-${randomUUID().slice(0, 8)}`;
  const activity = await openStream(`${g0.url}/api/v1/stream/subjects`, { headers: bearer(await token({ tenant: otherTenant })) });
  expect(activity.status).toBe(200);
  await activity.waitForFrames((frames) => frames.some((f) => f.retry !== undefined));
  expect((await revoke(g0, { tenant: otherTenant, expiresAt: inTenMinutes() })).status).toBe(201);
  await activity.waitForFrame('end', 5000);
  expect(endReason(activity)).toBe('revoked');
  expect((await call('GET', `${g1.url}/api/v1/subjects`, await token({ tenant: otherTenant }))).status).toBe(401);

  expect(bystander.named('end')).toEqual([]);
  expect((await call('GET', `${g1.url}/api/v1/subjects`, await token())).status).toBe(200);
}, 60_000);

test('the admin routes need the admin scope and a valid body: 401, 403, 400, 413, 415, 404', async () => {
  const g0 = stack.gateways[0]!;
  const url = `${g0.url}/api/v1/admin/revocations`;
  expect((await call('POST', url, await token(), { jti: 'x', expiresAt: inTenMinutes() })).status).toBe(403);
  expect((await call('GET', url, await token())).status).toBe(403);
  expect((await fetch(url)).status).toBe(401);

  const invalid: [string, unknown][] = [
    ['two targets', { jti: 'a', sub: 'b', expiresAt: inTenMinutes() }],
    ['no target', { expiresAt: inTenMinutes() }],
    ['a past expiry', { jti: 'a', expiresAt: new Date(Date.now() - 1000).toISOString() }],
    ['an expiry too far ahead', { jti: 'a', expiresAt: new Date(Date.now() + 400 * 86_400_000).toISOString() }],
    ['not a date', { jti: 'a', expiresAt: 'tomorrow' }],
    ['an unknown field', { jti: 'a', expiresAt: inTenMinutes(), reason: 'x' }],
    ['a bad tenant', { tenant: 'a:b', expiresAt: inTenMinutes() }],
    // JSON, but not an object: the schema's refusal, not "not valid JSON".
    ['null', null],
    ['true', true],
    ['a number', 5],
    ['a string', 'jti'],
    ['an array', [{ jti: 'a', expiresAt: inTenMinutes() }]],
  ];
  for (const [what, body] of invalid) {
    const answer = await revoke(g0, body);
    expect([what, answer.status, answer.json.detail]).toEqual([what, 400, 'invalid revocation']);
    expect(answer.json.errors.length).toBeGreaterThan(0);
  }
  const notJson = await fetch(url, { method: 'POST', headers: { ...bearer(await adminToken()), 'Content-Type': 'text/plain' }, body: 'jti=a' });
  expect(notJson.status).toBe(415);
  const tooLarge = await fetch(url, {
    method: 'POST',
    headers: { ...bearer(await adminToken()), 'Content-Type': 'application/json' },
    body: JSON.stringify({ jti: 'x'.repeat(5000), expiresAt: inTenMinutes() }),
  });
  expect(tooLarge.status).toBe(413);
  expect((await call('DELETE', `${url}/no-such-revocation`, await adminToken())).status).toBe(404);
}, 30_000);

test('at most FANOUT_MAX_REVOCATIONS revocations are active: one more is a 409 and stores nothing', async () => {
  const active = (await call('GET', `${stack.gateways[0]!.url}/api/v1/admin/revocations`, await adminToken())).json.revocations.length as number;
  const capped = await stack.addGateway({ FANOUT_MAX_REVOCATIONS: active + 1 });
  expect((await revoke(capped, { jti: `cap-${randomUUID()}`, expiresAt: inTenMinutes() })).status).toBe(201);
  const refusedJti = `cap-${randomUUID()}`;
  const refused = await revoke(capped, { jti: refusedJti, expiresAt: inTenMinutes() });
  expect(refused.status).toBe(409);
  expect(refused.json.detail).toMatch(/FANOUT_MAX_REVOCATIONS/);
  const after = (await call('GET', `${capped.url}/api/v1/admin/revocations`, await adminToken())).json.revocations as { jti?: string }[];
  expect(after).toHaveLength(active + 1);
  expect(after.map((r) => r.jti)).not.toContain(refusedJti);
  await stack.stopProcess(capped);
}, 30_000);

test('fanout dev (the in-memory bus, FANOUT_AUTH=none) revokes a tenant too: its streams end revoked, its requests are 401', async () => {
  const dev = await startFanout('dev', { REDIS_URL: undefined, FANOUT_AUTH: 'none' });
  try {
    const tenant = `rv-${randomUUID().slice(0, 8)}`;
    const devJob = jobEvents(tenant, uniqueId('job'));
    const headers = { 'X-Tenant': tenant };
    const published = await fetch(`${dev.url}/api/v1/events`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(devJob.status('pending')) });
    expect(published.status).toBe(202);
    const stream = await openStream(`${dev.url}/api/v1/stream/jobs/${devJob.id}`, { headers });
    await stream.waitForEvents(1);
    const bystander = await openStream(`${dev.url}/api/v1/stream/subjects`, { headers: { 'X-Tenant': `other-${tenant}` } });
    expect(bystander.status).toBe(200);

    const revokedAt = performance.now();
    const answer = await fetch(`${dev.url}/api/v1/admin/revocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ tenant, expiresAt: inTenMinutes() }),
    });
    expect(answer.status).toBe(201);
    await stream.waitForFrame('end', 5000);
    expect(endReason(stream)).toBe('revoked');
    expect(stream.named('end')[0]!.at - revokedAt).toBeLessThan(REVOKED_WITHIN_MS);
    expect((await fetch(`${dev.url}/api/v1/jobs/${devJob.id}/events`, { headers })).status).toBe(401);
    expect(bystander.named('end')).toEqual([]);
  } finally {
    await dev.stop();
  }
}, 30_000);
