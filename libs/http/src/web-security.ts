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
    exposedHeaders: ['Retry-After'],
    maxAge: 600,
  });
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
