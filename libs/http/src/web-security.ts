import cors from 'cors';
import { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * CORS for the allowed origins: plain requests for EventSource and history reads, preflight for
 * publishing (JSON bodies, Authorization). No origin is allowed unless configured.
 */
export function corsFor(origins: readonly string[]): RequestHandler {
  return cors({
    origin: origins.includes('*') ? true : [...origins],
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-Tenant'],
    exposedHeaders: [...EXPOSED_HEADERS],
    maxAge: 600,
  });
}

const EXPOSED_HEADERS = ['Retry-After'] as const;

/** The headers of a stream answer for the request's origin. */
export type StreamHeaders = (origin: string | undefined) => Readonly<Record<string, string>>;

/**
 * The headers of the stream routes, which bypass Express: the same CORS policy as `corsFor` for
 * their simple GETs (preflights still go through `corsFor`), and `nosniff`. Built once per
 * origin, so an open stream holds no header objects of its own.
 */
export function streamHeadersFor(origins: readonly string[]): StreamHeaders {
  const base = { 'X-Content-Type-Options': 'nosniff' };
  const anyOrigin = origins.includes('*');
  const allowed = new Map<string, Readonly<Record<string, string>>>();
  for (const origin of origins) {
    allowed.set(origin, {
      ...base,
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Expose-Headers': EXPOSED_HEADERS.join(','),
      Vary: 'Origin',
    });
  }
  return (origin) => {
    if (origin === undefined) return base;
    const known = allowed.get(origin);
    if (known || !anyOrigin) return known ?? base;
    // `*` reflects the origin, as corsFor does.
    return { ...base, 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSED_HEADERS.join(','), Vary: 'Origin' };
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
