/**
 * createAuthenticator in-process: which token is read (header or ?access_token=), what is refused with
 * 401 and what with 403, and that no answer ever echoes the token. The end-to-end side (real processes,
 * JWKS rotation, tenant isolation, expiry mid-stream) is test/e2e/auth.test.ts.
 */
import { createHmac } from 'node:crypto';
import { IncomingMessage, Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { AuthConfig, HttpProblem, createAuthenticator } from '@fanout/http';

const SECRET = 'unit-test-secret-0123456789abcdef';
const KEY = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** A node:http request as the authenticator sees it: lower-cased headers and a URL with the query. */
function fakeRequest(headers: Record<string, string> = {}, query: Record<string, string> = {}): IncomingMessage {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const search = new URLSearchParams(query).toString();
  return { headers: lower, url: `/api/v1/stream/jobs/j1${search ? `?${search}` : ''}` } as unknown as IncomingMessage;
}

function mint(claims: Record<string, unknown>, options: { exp?: number; key?: Uint8Array; alg?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.exp ?? now() + 300)
    .sign(options.key ?? KEY);
}

/** The HttpProblem thrown by `promise` (fails the test when it resolves). */
async function problemOf(promise: Promise<unknown>): Promise<HttpProblem> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HttpProblem) return error;
    throw error;
  }
  throw new Error('expected an HttpProblem, but the request was accepted');
}

const jwt: AuthConfig = { mode: 'jwt', secret: SECRET };

describe('createAuthenticator (jwt, HS256)', () => {
  const authenticate = createAuthenticator(jwt);

  test('a Bearer header or ?access_token= is read; the principal carries the tenant and expiry', async () => {
    const exp = now() + 120;
    const token = await mint({ tenant: 'acme', scope: 'stream:read' }, { exp });
    for (const req of [
      fakeRequest({ Authorization: `Bearer ${token}` }),
      fakeRequest({ Authorization: `bearer ${token}` }),
      fakeRequest({}, { access_token: token }),
    ]) {
      await expect(authenticate(req, 'stream:read')).resolves.toEqual({ tenant: 'acme', fromToken: true, expiresAt: exp * 1000 });
    }
  });

  test('X-Tenant is ignored when a token decides the tenant', async () => {
    const token = await mint({ tenant: 'acme', scope: 'stream:read' });
    const principal = await authenticate(fakeRequest({ Authorization: `Bearer ${token}`, 'X-Tenant': 'other' }), 'stream:read');
    expect(principal.tenant).toBe('acme');
  });

  test('scopes are space-separated words: a scope is granted only when listed exactly', async () => {
    const both = await mint({ tenant: 'acme', scope: 'events:write stream:read' });
    await expect(authenticate(fakeRequest({}, { access_token: both }), 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
    await expect(authenticate(fakeRequest({}, { access_token: both }), 'events:write')).resolves.toMatchObject({ tenant: 'acme' });
    for (const scope of [undefined, '', 'stream:readx', 'stream', 'events:write', ['stream:read']]) {
      const token = await mint(scope === undefined ? { tenant: 'acme' } : { tenant: 'acme', scope });
      const problem = await problemOf(authenticate(fakeRequest({ Authorization: `Bearer ${token}` }), 'stream:read'));
      expect({ status: problem.status, challenge: problem.headers['WWW-Authenticate'] }).toEqual({ status: 403, challenge: 'Bearer error="insufficient_scope", scope="stream:read"' });
    }
  });

  test('refused tokens are 401 with WWW-Authenticate: Bearer (error="invalid_token" when one was sent), and the detail never echoes the token', async () => {
    const other = new TextEncoder().encode('another-secret-0123456789abcdef');
    const rsa = await generateKeyPair('RS256');
    const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsecured = `${header({ alg: 'none', typ: 'JWT' })}.${header({ tenant: 'acme', scope: 'stream:read', exp: now() + 300 })}.`;
    const cases: Record<string, string | undefined> = {
      'no token': undefined,
      garbage: 'not-a-jwt',
      'bad signature': await mint({ tenant: 'acme', scope: 'stream:read' }, { key: other }),
      'alg none': unsecured,
      'RS256 where HS256 is configured': await new SignJWT({ tenant: 'acme', scope: 'stream:read' })
        .setProtectedHeader({ alg: 'RS256' })
        .setExpirationTime(now() + 300)
        .sign(rsa.privateKey),
      expired: await mint({ tenant: 'acme', scope: 'stream:read' }, { exp: now() - 5 }),
      'not yet valid': await new SignJWT({ tenant: 'acme', scope: 'stream:read' })
        .setProtectedHeader({ alg: 'HS256' })
        .setNotBefore(now() + 300)
        .setExpirationTime(now() + 600)
        .sign(KEY),
      'no exp claim': await new SignJWT({ tenant: 'acme', scope: 'stream:read' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(KEY),
      'no tenant claim': await mint({ scope: 'stream:read' }),
      'a malformed tenant claim': await mint({ tenant: 'a/b', scope: 'stream:read' }),
      // A revocation names a jti or sub of 1 to 256 characters: a token it could not name is refused.
      'a numeric jti': await mint({ tenant: 'acme', scope: 'stream:read', jti: 777 }),
      'a numeric sub': await mint({ tenant: 'acme', scope: 'stream:read', sub: 888 }),
      'an empty jti': await mint({ tenant: 'acme', scope: 'stream:read', jti: '' }),
      'a jti of 257 characters': await mint({ tenant: 'acme', scope: 'stream:read', jti: 'j'.repeat(257) }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const problem = await problemOf(authenticate(fakeRequest(token === undefined ? {} : { Authorization: `Bearer ${token}` }), 'stream:read'));
      expect({ name, status: problem.status, challenge: problem.headers['WWW-Authenticate'] }).toEqual({ name, status: 401, challenge: token === undefined ? 'Bearer' : 'Bearer error="invalid_token"' });
      if (token) {
        const answer = JSON.stringify(problem.toProblem());
        for (const part of token.split('.').filter((p) => p.length > 8)) expect(answer).not.toContain(part);
      }
    }
  });

  test("another authorization scheme is not a token: a browser behind a Basic-auth proxy sends one, so ?access_token= is read", async () => {
    const token = await mint({ tenant: 'acme', scope: 'stream:read' });
    await expect(authenticate(fakeRequest({ Authorization: 'Basic dXNlcjpwYXNz' }, { access_token: token }), 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
    expect((await problemOf(authenticate(fakeRequest({ Authorization: 'Basic dXNlcjpwYXNz' }), 'stream:read'))).status).toBe(401);
  });

  test('a Bearer header wins over the query, and a malformed one is refused', async () => {
    const token = await mint({ tenant: 'acme', scope: 'stream:read' });
    expect((await problemOf(authenticate(fakeRequest({ Authorization: 'Bearer not-a-jwt' }, { access_token: token }), 'stream:read'))).status).toBe(401);
    expect((await problemOf(authenticate(fakeRequest({ Authorization: `Bearer ${token} extra` }, { access_token: token }), 'stream:read'))).status).toBe(401);
  });

  test('a Bearer header without a single token, or two different access_tokens, is a 401 saying so (not "a token is required", nor one of them picked)', async () => {
    const token = await mint({ tenant: 'acme', scope: 'stream:read' });
    for (const header of ['Bearer', 'Bearer ', `Bearer ${token} ${token}`]) {
      const problem = await problemOf(authenticate(fakeRequest({ Authorization: header }), 'stream:read'));
      expect({ header, status: problem.status, detail: problem.detail }).toEqual({ header, status: 401, detail: 'the Authorization header is not "Bearer <jwt>"' });
    }
    const other = await mint({ tenant: 'beta', scope: 'stream:read' });
    const two = { headers: {}, url: `/api/v1/stream/jobs/j1?access_token=${other}&access_token=${token}` } as unknown as IncomingMessage;
    const problem = await problemOf(authenticate(two, 'stream:read'));
    expect({ status: problem.status, detail: problem.detail }).toEqual({ status: 401, detail: 'access_token is given more than once, with different tokens: send one' });
    // The same one twice is that one; an empty one beside it does not count.
    const same = { headers: {}, url: `/api/v1/stream/jobs/j1?access_token=${token}&access_token=${token}` } as unknown as IncomingMessage;
    await expect(authenticate(same, 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
    const withEmpty = { headers: {}, url: `/api/v1/stream/jobs/j1?access_token=&access_token=${token}` } as unknown as IncomingMessage;
    await expect(authenticate(withEmpty, 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
  });
});

describe('createAuthenticator (jwt, issuer and audience)', () => {
  const authenticate = createAuthenticator({ ...jwt, issuer: 'https://issuer.test', audience: 'fanout' });
  const build = (iss?: string, aud?: string) => {
    const t = new SignJWT({ tenant: 'acme', scope: 'stream:read' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now() + 300);
    if (iss) t.setIssuer(iss);
    if (aud) t.setAudience(aud);
    return t.sign(KEY);
  };

  test('the configured issuer and audience are required', async () => {
    await expect(authenticate(fakeRequest({}, { access_token: await build('https://issuer.test', 'fanout') }), 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
    for (const [iss, aud] of [
      ['https://evil.test', 'fanout'],
      ['https://issuer.test', 'other'],
      [undefined, 'fanout'],
      ['https://issuer.test', undefined],
    ] as const) {
      const problem = await problemOf(authenticate(fakeRequest({}, { access_token: await build(iss, aud) }), 'stream:read'));
      expect({ iss, aud, status: problem.status }).toEqual({ iss, aud, status: 401 });
    }
  });
});

describe('createAuthenticator (jwt, maximum token lifetime)', () => {
  const MAX = 3600;
  const authenticate = createAuthenticator({ ...jwt, maxTtlSeconds: MAX });
  const claims = { tenant: 'acme', scope: 'stream:read' };
  /** A token with the given `iat` (none when undefined) and `exp`, in seconds from now. */
  const lasting = (iatFromNow: number | undefined, expFromNow: number) => {
    const at = now();
    const t = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(at + expFromNow);
    if (iatFromNow !== undefined) t.setIssuedAt(at + iatFromNow);
    return t.sign(KEY);
  };
  /** Claims jose will not write: `{"exp":1e400}` parses as Infinity. */
  const signedText = (text: string) => {
    const part = (s: string) => Buffer.from(s).toString('base64url');
    const input = `${part('{"alg":"HS256"}')}.${part(text)}`;
    return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
  };

  test('a token living up to the maximum is taken: from iat to exp, or from now to exp without iat', async () => {
    for (const [iat, exp] of [[0, MAX], [-600, MAX - 600], [-MAX + 60, 60], [undefined, MAX - 5]] as const) {
      await expect(authenticate(fakeRequest({}, { access_token: await lasting(iat, exp) }), 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
    }
  });

  test('a longer-lived token is a 401 naming its lifetime and the maximum, whatever is left of it', async () => {
    const cases: [string, string, RegExp][] = [
      ['iat now, exp in 2 h', await lasting(0, 2 * MAX), /7200 s \(exp − iat\), over this server's maximum of 3600 s/],
      ['minted 2 h ago, 30 min left', await lasting(-2 * MAX, MAX / 2), /9000 s \(exp − iat\)/],
      ['no iat, exp in 2 h', await lasting(undefined, 2 * MAX), /7200 s \(exp − now\)/],
      ['an iat in the future', await lasting(3 * MAX, 3 * MAX + 60), /exp − now/],
      ['exp 10^20 s away', await lasting(0, 1e20), /over this server's maximum/],
      ['exp 1e400 (Infinity)', signedText(`{"tenant":"acme","scope":"stream:read","iat":${now()},"exp":1e400}`), /lives too long: forever/],
    ];
    for (const [name, token, detail] of cases) {
      const problem = await problemOf(authenticate(fakeRequest({ Authorization: `Bearer ${token}` }), 'stream:read'));
      expect({ name, status: problem.status, challenge: problem.headers['WWW-Authenticate'], detail: problem.detail }).toEqual({ name, status: 401, challenge: 'Bearer error="invalid_token"', detail: expect.stringMatching(detail) });
    }
  });

  test('without a maximum, a huge exp is taken and its expiry stays a number the gateway can compare', async () => {
    const unbounded = createAuthenticator(jwt);
    const far = await unbounded(fakeRequest({}, { access_token: await lasting(0, 1e20) }), 'stream:read');
    expect(far.expiresAt).toBeGreaterThan(Date.now() + 1e22);
    const infinite = await unbounded(fakeRequest({}, { access_token: signedText('{"tenant":"acme","scope":"stream:read","exp":1e400}') }), 'stream:read');
    expect(infinite.expiresAt).toBe(Infinity);
    expect(Date.now() >= infinite.expiresAt!).toBe(false);
  });
});

describe('createAuthenticator (none)', () => {
  const authenticate = createAuthenticator({ mode: 'none' });

  test('the tenant is X-Tenant, else default; a malformed X-Tenant is a 400', async () => {
    await expect(authenticate(fakeRequest({ 'X-Tenant': 'acme' }), 'events:write')).resolves.toEqual({ tenant: 'acme', fromToken: false });
    await expect(authenticate(fakeRequest(), 'stream:read')).resolves.toEqual({ tenant: 'default', fromToken: false });
    expect((await problemOf(authenticate(fakeRequest({ 'X-Tenant': 'a b' }), 'stream:read'))).status).toBe(400);
  });
});

describe('createAuthenticator (jwt) with both a secret and a JWKS URL', () => {
  let server: Server;
  let jwksUrl: string;
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    const keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }];
    server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('each token is checked by its algorithm: HS256 with the secret, RS256 with the key set; a token right for neither is a 401', async () => {
    const authenticate = createAuthenticator({ mode: 'jwt', secret: SECRET, jwksUrl });
    const claims = { tenant: 'acme', scope: 'stream:read' };
    const asBearer = (token: string) => fakeRequest({ Authorization: `Bearer ${token}` });
    await expect(authenticate(asBearer(await mint(claims)), 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });
    const rs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setExpirationTime(now() + 300).sign(rsa.privateKey);
    await expect(authenticate(asBearer(rs256), 'stream:read')).resolves.toMatchObject({ tenant: 'acme' });

    const otherSecret = await mint(claims, { key: new TextEncoder().encode('another-secret-0123456789abcdefgh') });
    const stranger = await generateKeyPair('RS256');
    const otherKey = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setExpirationTime(now() + 300).sign(stranger.privateKey);
    const hs512 = await mint(claims, { alg: 'HS512' });
    for (const token of [otherSecret, otherKey, hs512]) expect((await problemOf(authenticate(asBearer(token), 'stream:read'))).status).toBe(401);
  });
});
