import express, { Express } from 'express';
import { OPENAPI_PATH, buildOpenApiDocument } from '@fanout/contracts';
import { Gateway } from '@fanout/gateway';
import { HttpProblem, notFoundHandler, problemErrorHandler, securityHeaders, sendProblem } from '@fanout/http';
import { Logger, Registry, redactUrl, replicaMetrics } from '@fanout/observability';
import { Publisher } from '@fanout/publisher';
import { corsOnServedPaths, methodNotAllowed } from './method-not-allowed';

export interface HttpAppParts {
  logger: Logger;
  registry: Registry;
  corsOrigins: string[];
  gateway?: Gateway;
  publisher?: Publisher;
  isDraining: () => boolean;
}

/**
 * The Express app of every route but the streams (which bypass it): probes, metrics, the OpenAPI
 * document, the publisher's and gateway's routes, then 405, 404 and the problem+json error handler.
 */
export function createHttpApp({ logger, registry, corsOrigins, gateway, publisher, isDraining }: HttpAppParts): Express {
  // With FANOUT_WORKERS > 1, any worker's /metrics is the whole replica's (summed by the primary).
  const metricsText = replicaMetrics(registry);
  const app = express();
  app.disable('x-powered-by');
  // Paths are what the contract spells: /api/v1/EVENTS is not a route (the stream routes agree).
  app.set('case sensitive routing', true);
  // Answers are API payloads, not cacheable documents: no ETag hash of every body.
  app.set('etag', false);
  app.use(securityHeaders());
  app.use((req, _res, next) => {
    // pino's line carries the pid: with FANOUT_WORKERS it tells which worker served the request.
    if (logger.isLevelEnabled('debug')) logger.debug({ method: req.method, url: redactUrl(req.originalUrl) }, 'request');
    next();
  });
  const serves = { gateway: gateway !== undefined, publisher: publisher !== undefined };
  app.use(corsOnServedPaths(corsOrigins, serves));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const why = await notReadyBecause({ isDraining, gateway, publisher });
    if (why === undefined) res.json({ status: 'ready' });
    else sendProblem(res, new HttpProblem(503, `not ready: ${why}`));
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await metricsText());
  });
  let openApi: string | undefined;
  app.get(OPENAPI_PATH, (_req, res) => {
    openApi ??= JSON.stringify(buildOpenApiDocument());
    res.type('application/json').send(openApi);
  });
  if (publisher) app.use(publisher.router);
  if (gateway) app.use(gateway.router);
  app.use(methodNotAllowed(serves));
  app.use(notFoundHandler);
  app.use(problemErrorHandler((error) => logger.error({ err: error }, 'unexpected error')));
  return app;
}

/** Why the process should get no traffic now, or undefined when it is ready. */
async function notReadyBecause({ isDraining, gateway, publisher }: Pick<HttpAppParts, 'isDraining' | 'gateway' | 'publisher'>): Promise<string | undefined> {
  if (isDraining()) return 'draining';
  if (gateway && !gateway.isReady()) return 'no canary came back through the store and this replica\'s subscription path in the last 2 s';
  if (publisher && !(await publisher.checkStore().then(() => true, () => false))) return 'the store does not answer';
  return undefined;
}
