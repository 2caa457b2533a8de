import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import { Bus, MemoryBus, RedisBus, describeRedisTarget, redisTargetOf } from '@fanout/bus';
import { OPENAPI_PATH, PROBLEM_CONTENT_TYPE, buildOpenApiDocument } from '@fanout/contracts';
import { createGateway } from '@fanout/gateway';
import { corsFor, createAuthenticator, streamHeadersFor, notFoundHandler, problemErrorHandler, securityHeaders } from '@fanout/http';
import { Logger, createLogger, createRegistry, redactUrl, replicaMetrics } from '@fanout/observability';
import { createPublisher } from '@fanout/publisher';
import { FanoutConfig } from './config';
import { methodNotAllowed } from './method-not-allowed';

export interface RunningServer {
  server: Server;
  url: string;
  /** Drains and stops everything; resolves when the process may exit. */
  shutdown(): Promise<void>;
}

function createBus(config: FanoutConfig, logger: Logger): Bus {
  const history = { historyMaxLen: config.historyMaxLen, historyTtlSeconds: config.historyTtlSeconds };
  const quota = { tenantMaxSubjects: config.tenantMaxSubjects };
  if (!config.redisUrl && !config.redisClusterNodes) {
    logger.info('no REDIS_URL: using the embedded in-memory bus (one process, nothing persisted)');
    return new MemoryBus({ ...history, ...quota });
  }
  return new RedisBus({
    ...history,
    ...quota,
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    waitReplicas: config.redisWaitReplicas,
    waitTimeoutMs: config.redisWaitTimeoutMs,
    autoPipelining: config.role !== 'gateway',
    logger,
  });
}

const STORE_WAIT_BEFORE_LISTEN_MS = 10_000;
/**
 * Sockets that carry no response are bounded in time: a new connection must start a request within
 * FIRST_REQUEST_TIMEOUT_MS, send its headers within 10 s and its whole request within 30 s
 * (checked every second), and a kept-alive socket closes after 5 s without a request (Node's
 * keepAliveTimeout). Node itself never times out a connection that sends nothing.
 */
const IDLE_SOCKET_LIMITS = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 } as const;
const FIRST_REQUEST_TIMEOUT_MS = 10_000;
/** How long a draining process keeps its port open after its streams ended (within the grace period). */
const DRAIN_LINGER_MS = 1000;

async function untilStoreAnswers(bus: Bus, logger: Logger, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      await bus.probe(500);
      return;
    } catch (error) {
      if (Date.now() >= deadline) {
        logger.warn({ err: (error as Error).message }, 'the store does not answer yet: listening anyway (not ready)');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Builds the process's HTTP app for its role (gateway, publisher, or both for dev) and listens. */
export async function startServer(config: FanoutConfig): Promise<RunningServer> {
  const logger = createLogger({ level: config.logLevel, name: `fanout-${config.role}` });
  const registry = createRegistry();
  // With FANOUT_WORKERS > 1, any worker's /metrics is the whole replica's (summed by the primary).
  const metricsText = replicaMetrics(registry);
  const bus = createBus(config, logger);
  const authenticate = createAuthenticator(config.auth);
  const withGateway = config.role !== 'publisher';
  const withPublisher = config.role !== 'gateway';

  const gateway = withGateway
    ? createGateway({
        bus,
        logger,
        registry,
        authenticate,
        streamHeaders: streamHeadersFor(config.corsOrigins),
        settings: {
          retryMs: config.retryMs,
          heartbeatMs: config.heartbeatMs,
          idleTimeoutMs: config.idleTimeoutMs,
          clientBufferBytes: config.clientBufferBytes,
          replayPageSize: 500,
          historyCacheBytes: 32 * 1024 * 1024,
          maxConnections: config.maxConnections,
          maxConnectionsPerTenant: config.maxConnectionsPerTenant,
        },
      })
    : undefined;
  const publisher = withPublisher ? createPublisher({ bus, logger, registry, authenticate }) : undefined;
  let draining = false;

  const app = express();
  app.disable('x-powered-by');
  // Paths are what the contract spells: /api/v1/EVENTS is not a route (the stream routes agree).
  app.set('case sensitive routing', true);
  // Answers are API payloads, not cacheable documents: no ETag hash of every body.
  app.set('etag', false);
  const security = securityHeaders();
  const cors = corsFor(config.corsOrigins);
  app.use(security);
  app.use((req, _res, next) => {
    // pino's line carries the pid: with FANOUT_WORKERS it tells which worker served the request.
    if (logger.isLevelEnabled('debug')) logger.debug({ method: req.method, url: redactUrl(req.originalUrl) }, 'request');
    next();
  });
  app.use(cors);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    let ready = !draining && (gateway ? gateway.isReady() : true);
    if (ready && publisher) ready = await publisher.checkStore().then(() => true, () => false);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready' });
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
  app.use(methodNotAllowed({ gateway: withGateway, publisher: withPublisher }));
  app.use(notFoundHandler);
  app.use(problemErrorHandler((error) => logger.error({ err: error }, 'unexpected error')));

  // The stream routes bypass Express (an idle stream then holds no router state or header
  // objects); their CORS and nosniff headers come from streamHeadersFor, the same policy.
  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    // A request came: the connection's first-request timeout no longer applies (a stream may idle).
    if (req.socket.timeout) req.socket.setTimeout(0);
    if (!gateway?.isStreamRequest(req)) return void app(req, res);
    if (logger.isLevelEnabled('debug')) logger.debug({ method: req.method, url: redactUrl(req.url ?? '') }, 'request');
    gateway.handleStream(req, res);
  };
  // Workers share one port: a worker still connecting to its store would take connections the
  // others could serve, so it listens once its store answers (bounded: an outage never keeps the
  // port closed, and /readyz tells the load balancer).
  if (config.workers > 1) await untilStoreAnswers(bus, logger, STORE_WAIT_BEFORE_LISTEN_MS);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer(IDLE_SOCKET_LIMITS, dispatch);
    s.once('error', reject);
    s.listen(config.port, config.host, () => resolve(s));
  });
  // With no 'timeout' listener of the server's own, Node's HTTP server destroys a socket that times out.
  server.on('connection', (socket: Socket) => socket.setTimeout(FIRST_REQUEST_TIMEOUT_MS));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    logger.debug({ err: error.message, code: error.code }, 'malformed request');
    if (socket.writable && !socket.destroyed) {
      // Every error answer is problem+json, even one the HTTP parser gives before any route runs.
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify({
        title: tooLarge ? 'Request Header Fields Too Large' : 'Bad Request',
        status: tooLarge ? 431 : 400,
        detail: tooLarge ? 'the request headers are over the size limit' : 'the request is not valid HTTP/1.1',
      });
      const statusLine = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(
        `HTTP/1.1 ${statusLine}\r\nConnection: close\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const busName = config.redisUrl || config.redisClusterNodes ? describeRedisTarget(redisTargetOf({ url: config.redisUrl, clusterNodes: config.redisClusterNodes })) : 'memory';
  logger.info({ url, role: config.role, bus: busName }, `fanout ${config.role} listening`);

  return {
    server,
    url,
    async shutdown() {
      draining = true;
      logger.info({ graceMs: config.shutdownGraceMs }, 'draining');
      const deadline = Date.now() + config.shutdownGraceMs;
      const until = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
      if (gateway) await gateway.drain(config.shutdownGraceMs);
      // Still listening for a moment: probes and proxies get /readyz 503 and new streams a 503 with
      // Retry-After, rather than a refused connection, before the port closes.
      await until(Math.min(DRAIN_LINGER_MS, config.shutdownGraceMs / 2, deadline - Date.now()));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.race([closed, until(deadline - Date.now())]);
      server.closeAllConnections();
      gateway?.close();
      await bus.close();
      logger.info('stopped');
    },
  };
}
