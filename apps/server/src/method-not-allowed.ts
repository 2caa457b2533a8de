import { RequestHandler } from 'express';
import { OPENAPI_PATH, buildOpenApiDocument } from '@fanout/contracts';
import { HttpProblem, corsFor, sendProblem } from '@fanout/http';

interface KnownRoute {
  pattern: RegExp;
  allow: string;
}

const STREAM_PREFIX = '/api/v1/stream';
const PUBLISH_PATH = '/api/v1/events';
/** Routes of the gateway's half (`dev` and `gateway` serve them); the rest serve every role. */
const isGatewayPath = (path: string): boolean => path === '/' || (path.startsWith('/api/v1/') && path !== PUBLISH_PATH && path !== OPENAPI_PATH);

/**
 * The routes this process serves, from the OpenAPI document (the one list of routes), with the
 * methods each takes: GET routes take HEAD too, except streams.
 */
function knownRoutes(serves: { gateway: boolean; publisher: boolean }): KnownRoute[] {
  const routes: KnownRoute[] = [];
  const paths = (buildOpenApiDocument().paths ?? {}) as Record<string, Record<string, unknown> | undefined>;
  for (const [path, operations] of Object.entries(paths)) {
    if (path === PUBLISH_PATH ? !serves.publisher : isGatewayPath(path) && !serves.gateway) continue;
    const methods = Object.keys(operations ?? {})
      .filter((key) => ['get', 'post', 'put', 'patch', 'delete'].includes(key))
      .map((key) => key.toUpperCase());
    if (methods.includes('GET') && !path.startsWith(STREAM_PREFIX)) methods.push('HEAD');
    const pattern = new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}/?$`);
    routes.push({ pattern, allow: methods.join(', ') });
  }
  return routes;
}

/**
 * Reached when no route took the request: a path this process serves, asked with another method,
 * is a 405 with `Allow` (RFC 9110 §15.5.6); anything else goes on to the 404.
 */
export function methodNotAllowed(serves: { gateway: boolean; publisher: boolean }): RequestHandler {
  const routes = knownRoutes(serves);
  return (req, res, next) => {
    if (req.method === 'OPTIONS') return next();
    const route = routes.find((r) => r.pattern.test(req.path));
    if (!route) return next();
    // As every other answer of a stream route that is not a stream.
    if (req.path.startsWith(STREAM_PREFIX)) res.setHeader('Connection', 'close');
    // OPTIONS is answered too (corsOnServedPaths): Allow lists every method the path answers.
    sendProblem(res, new HttpProblem(405, `${req.method} is not a method of ${req.path}: use ${route.allow}`, {}, { Allow: `${route.allow}, OPTIONS` }));
  };
}

/**
 * CORS (`corsFor`) for every request, but OPTIONS only on a path this process serves: there it is
 * answered 204 with `Allow` (and, for an allowed origin's preflight, the CORS headers); on any other
 * path it goes on to the 404.
 */
export function corsOnServedPaths(origins: readonly string[], serves: { gateway: boolean; publisher: boolean }): RequestHandler {
  const cors = corsFor(origins);
  const routes = knownRoutes(serves);
  return (req, res, next) => {
    if (req.method !== 'OPTIONS') return cors(req, res, next);
    const route = routes.find((r) => r.pattern.test(req.path));
    if (!route) return next();
    res.setHeader('Allow', `${route.allow}, OPTIONS`);
    cors(req, res, next);
  };
}
