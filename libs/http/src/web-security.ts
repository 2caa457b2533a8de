import { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * CORS for the allowed origins: plain requests for EventSource and history reads, preflight for
 * publishing (JSON bodies, Authorization). No origin is allowed unless configured, and a request
 * from no allowed origin gets no CORS header at all (an OPTIONS is still answered 204). An origin
 * listed by name may send credentials (an EventSource `withCredentials`, for cookies a proxy in
 * front checks); `*` allows any origin without them, so no page of any site can send a user's cookies.
 */
export function corsFor(origins: readonly string[]): RequestHandler {
  const anyOrigin = origins.includes('*');
  const listed = new Set(origins);
  // Only allowed origins reach them: they reflect the request's origin.
  const options = {
    origin: true,
    methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Encoding', 'Content-Type', 'Last-Event-ID', 'X-Tenant'],
    exposedHeaders: [...EXPOSED_HEADERS],
    maxAge: 600,
  };
  const withCredentials = cors({ ...options, credentials: true });
  const withoutCredentials = cors(options);
  return (req, res, next) => {
    const { origin } = req.headers;
    if (origin !== undefined && listed.has(origin)) return withCredentials(req, res, next);
    if (origin !== undefined && anyOrigin) return withoutCredentials(req, res, next);
    // The answer differs by Origin once any is allowed: a shared cache must keep them apart.
    if (origins.length > 0) varyByOrigin(res);
    if (req.method !== 'OPTIONS') return next();
    res.statusCode = 204;
    res.setHeader('Content-Length', '0');
    res.end();
  };
}

function varyByOrigin(res: Pick<ServerResponse, 'getHeader' | 'setHeader'>): void {
  const vary = res.getHeader('Vary');
  if (vary === undefined) res.setHeader('Vary', 'Origin');
  else if (!/(^|,)\s*(origin|\*)\s*(,|$)/i.test(String(vary))) res.setHeader('Vary', `${String(vary)}, Origin`);
}

/** Answer headers a cross-origin page may read: beyond the CORS-safelisted ones, those the API documents. */
const EXPOSED_HEADERS = ['Retry-After', 'Location', 'Content-Disposition', 'Fanout-First-Seq', 'Fanout-Last-Seq', 'WWW-Authenticate'] as const;

/** The headers of a stream answer for the request's origin. */
export type StreamHeaders = (origin: string | undefined) => Readonly<Record<string, string>>;

/**
 * The headers of the stream routes, which bypass Express: the same CORS policy as `corsFor` for
 * their simple GETs (preflights still go through `corsFor`), and `nosniff`. Built once per
 * origin, so an open stream holds no header objects of its own.
 */
export function streamHeadersFor(origins: readonly string[]): StreamHeaders {
  // The answer differs by Origin once any is allowed: a shared cache must keep them apart.
  const base: Readonly<Record<string, string>> = origins.length > 0 ? { 'X-Content-Type-Options': 'nosniff', Vary: 'Origin' } : { 'X-Content-Type-Options': 'nosniff' };
  const anyOrigin = origins.includes('*');
  const allowed = new Map<string, Readonly<Record<string, string>>>();
  for (const origin of origins) {
    if (origin === '*') continue;
    allowed.set(origin, {
      ...base,
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': EXPOSED_HEADERS.join(','),
    });
  }
  return (origin) => {
    if (origin === undefined) return base;
    const known = allowed.get(origin);
    if (known || !anyOrigin) return known ?? base;
    // `*` reflects the origin, as corsFor does.
    return { ...base, 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSED_HEADERS.join(',') };
  };
}

/** Security headers for the dashboard and the API. */
export function securityHeaders(): RequestHandler {
  return helmet({
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    // Gateways are often reached over plain HTTP behind a proxy (docker-compose.yml): upgrading the
    // dashboard's own script and API requests to https there would break it.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  });
}

/** The headers of an API answer, for a route that bypasses Express. */
export type ApiHeaders = (req: IncomingMessage) => Readonly<Record<string, string>>;

/**
 * The headers Express's `securityHeaders()` and `corsFor(origins)` give a simple (non-preflight)
 * API request, for routes that bypass Express. Taken by running those same middlewares once per
 * origin against a recorder, so both paths answer with exactly the same headers; kept for no origin
 * and the configured ones (any other origin is worked out per request: its values are the client's).
 */
export function apiHeadersFor(origins: readonly string[]): ApiHeaders {
  const middlewares = [securityHeaders(), corsFor(origins)];
  const recorded = (method: string, origin: string | undefined): Readonly<Record<string, string>> => {
    // Lower-cased name → the name as set, and its value.
    const headers = new Map<string, [string, string]>();
    const recorder = {
      getHeader: (name: string) => headers.get(name.toLowerCase())?.[1],
      setHeader: (name: string, value: string | number | readonly string[]) => void headers.set(name.toLowerCase(), [name, String(value)]),
      removeHeader: (name: string) => void headers.delete(name.toLowerCase()),
      hasHeader: (name: string) => headers.has(name.toLowerCase()),
    };
    const request = { method, headers: origin === undefined ? {} : { origin } };
    for (const middleware of middlewares) {
      let nextCalled = false;
      middleware(request as never, recorder as never, () => (nextCalled = true));
      if (!nextCalled) throw new Error(`a header middleware did not pass ${method} on`);
    }
    return Object.fromEntries(headers.values());
  };
  const known = new Map<string | undefined, Readonly<Record<string, string>>>();
  for (const origin of [undefined, ...origins.filter((o) => o !== '*')]) known.set(origin, recorded('POST', origin));
  return (req) => {
    const origin = req.headers.origin;
    return known.get(origin) ?? recorded(req.method ?? 'POST', origin);
  };
}
