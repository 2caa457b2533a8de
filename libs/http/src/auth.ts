import { IncomingMessage } from 'node:http';
import { JWTPayload, JWTVerifyGetKey, createRemoteJWKSet, jwtVerify } from 'jose';
import { TENANT_PATTERN } from '@fanout/contracts';
import { HttpProblem } from './problem';

export type Scope = 'stream:read' | 'events:write' | 'admin';

export interface Principal {
  tenant: string;
  /** The tenant came from a verified token (so a publisher may write for that tenant only). */
  fromToken: boolean;
  /** Token expiry in epoch ms, when the principal came from a token. */
  expiresAt?: number;
  /** The token's `jti` and `sub` claims, when it has them (what a revocation may name). */
  tokenId?: string;
  subject?: string;
}

export type AuthConfig =
  | { mode: 'none' }
  | {
      mode: 'jwt';
      secret?: string;
      jwksUrl?: string;
      issuer?: string;
      audience?: string;
      /** Tokens that live longer than this (see lifetimeOf) are refused; unset, any `exp` is taken. */
      maxTtlSeconds?: number;
    };

/** Works on any node:http request (Express's included): reads headers and the `access_token` query parameter. */
export type Authenticator = (req: IncomingMessage, scope: Scope) => Promise<Principal>;

const DEFAULT_TENANT = 'default';
/** Every 401 names the scheme (RFC 9110 §15.5.2, RFC 6750 §3); one for a token sent and refused says so. */
const NO_TOKEN_CHALLENGE = { 'WWW-Authenticate': 'Bearer' };
/** The challenge of a 401 for a token that was sent and refused (a revoked one too). */
export const INVALID_TOKEN = { 'WWW-Authenticate': 'Bearer error="invalid_token"' } as const;
/** A token with an unknown `kid` refetches the key set at most this often: forged kids cannot make every request a fetch. */
const JWKS_REFETCH_COOLDOWN_MS = 2000;
/** The longest `jti` or `sub` a revocation can name (@fanout/contracts' admin API): a token's must fit. */
const MAX_REVOCABLE_CLAIM_LENGTH = 256;

/**
 * Refuses a principal (throws an HttpProblem) before its scope is looked at: a revoked token is a 401
 * whatever its scopes. A promise only when it must wait, so that a check that need not costs no turn.
 */
export type PrincipalCheck = (principal: Principal) => Promise<void> | void;

export function createAuthenticator(config: AuthConfig, check: PrincipalCheck = () => undefined): Authenticator {
  if (config.mode === 'none') {
    return async (req) => {
      const principal = { tenant: tenantFromHeader(req), fromToken: false };
      const waiting = check(principal);
      if (waiting) await waiting;
      return principal;
    };
  }

  const secret = config.secret ? new TextEncoder().encode(config.secret) : undefined;
  // A token with an unknown `kid` refetches the key set (keys rotate without a restart).
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: JWKS_REFETCH_COOLDOWN_MS }) : undefined;
  // With both, each token is checked by its own algorithm (which `algorithms` bounds): HS256 with the secret, RS256/ES256 with the key set.
  const keyFor: JWTVerifyGetKey = (header, token) => (header.alg === 'HS256' || !jwks ? secret! : jwks(header, token));
  const verifyOptions = {
    issuer: config.issuer,
    audience: config.audience,
    algorithms: [...(secret ? ['HS256'] : []), ...(jwks ? ['RS256', 'ES256'] : [])],
    // The contract's claims include `exp`: a token that never expires would hold a stream forever.
    requiredClaims: ['exp'],
  };
  return async (req, scope) => {
    const token = bearerToken(req);
    if (!token) throw new HttpProblem(401, 'a token is required: Authorization: Bearer <jwt>, or ?access_token=', {}, NO_TOKEN_CHALLENGE);
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, keyFor, verifyOptions)).payload;
    } catch (error) {
      if (isKeySetUnreachable(error)) {
        throw new HttpProblem(503, `the signing keys could not be fetched: ${(error as Error).message}`, {}, { 'Retry-After': '1' });
      }
      throw new HttpProblem(401, `the token was refused: ${(error as Error).message}`, {}, INVALID_TOKEN);
    }
    if (config.maxTtlSeconds !== undefined) refuseLongLived(payload, config.maxTtlSeconds);
    const tenant = payload['tenant'];
    if (typeof tenant !== 'string' || !TENANT_PATTERN.test(tenant)) {
      throw new HttpProblem(401, 'the token has no valid tenant claim', {}, INVALID_TOKEN);
    }
    // A token a revocation could not name (a number, or too long) would outlive its revocation.
    for (const claim of ['jti', 'sub'] as const) {
      const value = payload[claim];
      if (value !== undefined && (typeof value !== 'string' || value.length < 1 || value.length > MAX_REVOCABLE_CLAIM_LENGTH)) {
        throw new HttpProblem(401, `the token's ${claim} claim must be a string of 1 to ${MAX_REVOCABLE_CLAIM_LENGTH} characters`, {}, INVALID_TOKEN);
      }
    }
    const principal: Principal = {
      tenant,
      fromToken: true,
      expiresAt: payload.exp !== undefined ? payload.exp * 1000 : undefined,
      tokenId: payload.jti,
      subject: payload.sub,
    };
    const waiting = check(principal);
    if (waiting) await waiting;
    const scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [];
    if (!scopes.includes(scope)) throw new HttpProblem(403, `the token lacks the ${scope} scope`, {}, { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"` });
    return principal;
  };
}

/**
 * How long a token lives: from `iat` to `exp`, so a token minted for too long is refused all its
 * life, not only early on; from now when it has no `iat`, or one in the future (which would
 * otherwise shorten the count).
 */
function lifetimeOf(payload: JWTPayload): { seconds: number; from: 'iat' | 'now' } {
  const now = Math.floor(Date.now() / 1000);
  const exp = payload.exp!;
  return payload.iat !== undefined && payload.iat <= now ? { seconds: exp - payload.iat, from: 'iat' } : { seconds: exp - now, from: 'now' };
}

function refuseLongLived(payload: JWTPayload, maxTtlSeconds: number): void {
  const lifetime = lifetimeOf(payload);
  if (lifetime.seconds <= maxTtlSeconds) return;
  const shown = Number.isFinite(lifetime.seconds) ? `${lifetime.seconds} s` : 'forever';
  throw new HttpProblem(
    401,
    `the token lives too long: ${shown} (exp − ${lifetime.from}), over this server's maximum of ${maxTtlSeconds} s; use a token that expires sooner`,
    {},
    INVALID_TOKEN,
  );
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function tenantFromHeader(req: IncomingMessage): string {
  const header = headerOf(req, 'x-tenant');
  if (header === undefined || header === '') return DEFAULT_TENANT;
  if (!TENANT_PATTERN.test(header)) throw new HttpProblem(400, 'the X-Tenant header must match ^[A-Za-z0-9._-]{1,128}$');
  return header;
}

/** The request's token; a 401 for a Bearer header that holds no single token, or two different `access_token`s (which would win is a guess). */
function bearerToken(req: IncomingMessage): string | undefined {
  const header = headerOf(req, 'authorization');
  // A Bearer header is the token. Another scheme (a Basic-auth proxy in front of a browser, whose
  // EventSource sends it on every request) is not ours: the token is then in the query.
  if (header && /^bearer\b/i.test(header)) {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (!token) throw new HttpProblem(401, 'the Authorization header is not "Bearer <jwt>"', {}, INVALID_TOKEN);
    return token;
  }
  // Express rewrites req.url inside mounted routers; originalUrl is the request's own.
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return undefined;
  // An empty one counts as none; the same one twice is that one.
  const given = new Set(new URLSearchParams(url.slice(queryAt + 1)).getAll('access_token').filter((token) => token !== ''));
  if (given.size > 1) throw new HttpProblem(401, 'access_token is given more than once, with different tokens: send one', {}, INVALID_TOKEN);
  return given.values().next().value;
}

const UNREACHABLE_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** The JWKS endpoint did not answer (a fault on our side, not a bad token). */
function isKeySetUnreachable(error: unknown): boolean {
  return UNREACHABLE_CODES.has((error as { code?: string }).code ?? '');
}
