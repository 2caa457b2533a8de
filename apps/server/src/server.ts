import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { Socket } from 'node:net';
import { Bus } from '@fanout/bus';
import { DEFAULT_HISTORY_CACHE_BYTES, DEFAULT_REPLAY_PAGE_SIZE, RevocationList, createGateway, refuseRevoked } from '@fanout/gateway';
import { apiHeadersFor, createAuthenticator, streamHeadersFor } from '@fanout/http';
import { Logger, createLogger, createRegistry, logConsoleWarnings, redactUrl, throttledWarning } from '@fanout/observability';
import { createPublisher } from '@fanout/publisher';
import { startArchive } from './archive';
import { createBus, describeBus } from './bus';
import { FanoutConfig } from './config';
import { ConnectionBounds, MAX_UNANSWERED_REQUESTS, RESPONSE_STALL_TIMEOUT_MS } from './connection-bounds';
import { createHttpApp } from './http-app';
import { answerMalformedRequest, answerTimedOut } from './malformed-request';
import { lowOpenFileLimit, readProcessLimits } from './open-file-limit';

export interface RunningServer {
  server: Server;
  url: string;
  /** Drains and stops everything; resolves when the process may exit. */
  shutdown(): Promise<void>;
}

const STORE_WAIT_BEFORE_LISTEN_MS = 10_000;
/** The end of a shutdown's grace kept for closing the store's connections (at most a quarter of it). */
const CLOSING_RESERVE_MS = 500;

/**
 * Sockets that carry no response are bounded in time: a new connection must start a request within
 * FIRST_REQUEST_TIMEOUT_MS, send its headers within 10 s and its whole request within 30 s
 * (checked every second) with no pause of RESPONSE_STALL_TIMEOUT_MS (else it is answered 408), and a
 * kept-alive socket closes after 5 s without a request (Node's keepAliveTimeout). Node itself never
 * times out a connection that sends nothing. How many such sockets a process holds at once, and an
 * answer in progress, are bounded by connection-bounds.ts.
 */
const IDLE_SOCKET_LIMITS = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 } as const;
const FIRST_REQUEST_TIMEOUT_MS = 10_000;
/**
 * Pending connections the kernel queues before accept() (capped by net.core.somaxconn). Node's
 * default, 511, overflows when thousands of clients connect at once (B7: a herd reconnecting to a
 * replica of several workers, whose primary accepts them all); an overflow drops the SYN and the
 * client retries only after a second.
 */
const LISTEN_BACKLOG = 4096;
/** How long after SIGTERM a draining process keeps its port open at least (within the grace period). */
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

/** How often at most the idle socket limit's closings are logged, each line with how many since the last. */
const IDLE_SOCKETS_LOG_EVERY_MS = 10_000;

function loggingIdleSocketsClosed(logger: Logger, limit: number): () => void {
  return throttledWarning(logger, IDLE_SOCKETS_LOG_EVERY_MS, 'FANOUT_MAX_IDLE_SOCKETS connections without a request in progress: closed the ones idle longest', 'closed', { limit });
}

/** RFC 7518 §3.2: an HS256 key is at least 256 bits; a shorter one lets a captured token be brute-forced offline. */
const MIN_HS256_SECRET_BYTES = 32;

function warnOfAWeakSecret(config: FanoutConfig, logger: Logger): void {
  if (config.auth.mode !== 'jwt' || config.auth.secret === undefined) return;
  const bytes = Buffer.byteLength(config.auth.secret);
  if (bytes >= MIN_HS256_SECRET_BYTES) return;
  logger.warn({ bytes, minimum: MIN_HS256_SECRET_BYTES }, 'FANOUT_JWT_SECRET is shorter than 32 bytes: tokens signed with it can be guessed offline; use 32 random bytes or more');
}

function warnOfALowOpenFileLimit(config: FanoutConfig, logger: Logger): void {
  // `fanout dev` runs on a developer's machine, whose default limit is far under the production defaults.
  if (config.role === 'dev') return;
  const low = lowOpenFileLimit(config, readProcessLimits());
  if (!low) return;
  logger.warn(
    { openFileLimit: low.limit, needed: low.needed, maxConnections: config.maxConnections, maxIdleSockets: config.maxIdleSockets },
    'the open-file limit is under what FANOUT_MAX_CONNECTIONS and FANOUT_MAX_IDLE_SOCKETS may hold: at full load new connections fail instead of answering 429; raise the limit (ulimit -n) or lower them',
  );
}

function warnOfUnreadVariables(config: FanoutConfig, logger: Logger): void {
  if (config.unreadVariables.length === 0) return;
  logger.warn(
    { variables: config.unreadVariables },
    `set but not read by fanout ${config.role}: misspelt, or of no effect with this configuration (docs/configuration.md lists every setting)`,
  );
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}

/** Composes the process for its role (gateway, publisher, or both for dev): config → bus → apps → listen. */
export async function startServer(config: FanoutConfig): Promise<RunningServer> {
  const logger = createLogger({ level: config.logLevel, name: `fanout-${config.role}` });
  const restoreConsoleWarn = logConsoleWarnings(logger);
  warnOfAWeakSecret(config, logger);
  warnOfALowOpenFileLimit(config, logger);
  warnOfUnreadVariables(config, logger);
  const registry = createRegistry();
  const bus = createBus(config, logger);
  // Every replica (a publisher too) refuses a revoked token from the moment it learns of the revocation.
  const revocations = new RevocationList(bus, logger);
  revocations.start();
  const authenticate = createAuthenticator(config.auth, refuseRevoked(revocations));
  const archive = startArchive(config, bus, logger, registry);

  const gateway =
    config.role === 'publisher'
      ? undefined
      : createGateway({
          bus: archive?.readingBus ?? bus,
          logger,
          registry,
          authenticate,
          revocations,
          streamHeaders: streamHeadersFor(config.corsOrigins),
          settings: {
            retryMs: config.retryMs,
            retryJitterMs: config.retryJitterMs,
            conflateThresholdBytes: config.conflateThresholdBytes,
            heartbeatMs: config.heartbeatMs,
            idleTimeoutMs: config.idleTimeoutMs,
            clientBufferBytes: config.clientBufferBytes,
            replayPageSize: DEFAULT_REPLAY_PAGE_SIZE,
            historyCacheBytes: DEFAULT_HISTORY_CACHE_BYTES,
            compression: config.compression,
            maxConnections: config.maxConnections,
            maxConnectionsPerTenant: config.maxConnectionsPerTenant,
            maxRevocations: config.maxRevocations,
            maxAnswerBytesInFlight: config.maxAnswerBytesInFlight,
            maxUnsentBytes: config.maxUnsentBytes,
          },
        });
  const publisher = config.role === 'gateway' ? undefined : createPublisher({ bus, logger, registry, authenticate, apiHeaders: apiHeadersFor(config.corsOrigins), maxBodyBytesInFlight: config.maxBodyBytesInFlight });
  let draining = false;
  const app = createHttpApp({ logger, registry, corsOrigins: config.corsOrigins, gateway, publisher, isDraining: () => draining });

  // The stream routes bypass Express (an idle stream then holds no router state or header
  // objects); their CORS and nosniff headers come from streamHeadersFor, the same policy. So does
  // the common publish (Express's layers cost more than the rest of a one-event POST), with the
  // headers Express would give it.
  const bounds = new ConnectionBounds(config.maxIdleSockets, loggingIdleSocketsClosed(logger, config.maxIdleSockets));
  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    // Draining, a request's answer closes its connection: the client sends its next request on a new
    // one (refused once the port closes), not on a kept-alive socket the drain is about to close.
    if (draining) res.shouldKeepAlive = false;
    if (!bounds.admit(req, res)) {
      logger.debug({ limit: MAX_UNANSWERED_REQUESTS }, 'a connection sent too many requests without reading their answers: closed');
      return;
    }
    if (gateway?.isStreamRequest(req)) {
      // A stream may idle: its heartbeats, idle timeout and client buffer limit bound it instead.
      if (req.socket.timeout) req.socket.setTimeout(0);
      if (logger.isLevelEnabled('debug')) logger.debug({ method: req.method, url: redactUrl(req.url ?? '') }, 'request');
      return gateway.handleStream(req, res);
    }
    // Replaces the first-request timeout (and Node's keep-alive one) while this answer is pending.
    if (req.socket.timeout !== RESPONSE_STALL_TIMEOUT_MS) req.socket.setTimeout(RESPONSE_STALL_TIMEOUT_MS);
    if (publisher?.takesDirectly(req)) {
      if (logger.isLevelEnabled('debug')) logger.debug({ method: req.method, url: redactUrl(req.url ?? '') }, 'request');
      return publisher.handleDirectly(req, res);
    }
    app(req, res);
  };
  // Workers share one port: a worker still connecting to its store would take connections the
  // others could serve, so it listens once its store answers (bounded: an outage never keeps the
  // port closed, and /readyz tells the load balancer).
  if (config.workers > 1) await untilStoreAnswers(bus, logger, STORE_WAIT_BEFORE_LISTEN_MS);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer(IDLE_SOCKET_LIMITS, dispatch);
    s.once('error', (error: NodeJS.ErrnoException) => {
      // The configuration could not say whether HOST names an address of this machine, nor whether PORT is free.
      reject(Object.assign(new Error(`cannot listen on HOST=${config.host} PORT=${config.port}: ${error.message}`), { code: error.code }));
    });
    s.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => resolve(s));
  });
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(FIRST_REQUEST_TIMEOUT_MS);
    bounds.connected(socket);
  });
  // Replaces Node's default for a socket that times out (destroy it): a request cut short gets a 408.
  server.on('timeout', (socket: Socket) => answerTimedOut(socket, bounds.beganRequestWhileIdle(socket)));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    logger.debug({ err: error.message, code: error.code }, 'malformed request');
    answerMalformedRequest(error, socket);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, role: config.role, bus: describeBus(config) }, `fanout ${config.role} listening`);

  return {
    server,
    url,
    async shutdown() {
      draining = true;
      logger.info({ graceMs: config.shutdownGraceMs }, 'draining');
      const deadline = Date.now() + config.shutdownGraceMs;
      // The archiver takes no new subject from now; the one it writes may finish within the grace.
      const archiveStopped = archive?.stop(config.shutdownGraceMs);
      const until = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
      if (gateway) await gateway.drain(config.shutdownGraceMs, config.shutdownSpreadMs);
      // Listening for a moment after the signal: probes and proxies get /readyz 503 and new streams a
      // 503 with Retry-After, rather than a refused connection, before the port closes. A drain that
      // spread its streams' ends over a while has kept the port open that long already.
      const lingerUntil = deadline - config.shutdownGraceMs + Math.min(DRAIN_LINGER_MS, config.shutdownGraceMs / 2);
      await until(Math.min(lingerUntil, deadline) - Date.now());
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Connections still busy (a request still arriving, an answer not taken) are cut a moment before
      // the deadline, so the steps after it have that moment too.
      const closingReserveMs = Math.min(CLOSING_RESERVE_MS, config.shutdownGraceMs / 4);
      const connectionsClosed = await Promise.race([closed.then(() => true), until(deadline - closingReserveMs - Date.now()).then(() => false)]);
      if (!connectionsClosed) logger.info({ connections: await connectionCount(server) }, 'closing the connections still open at the end of the drain');
      server.closeAllConnections();
      revocations.stop();
      const closing = (async () => {
        await gateway?.close();
        await archiveStopped;
        await bus.close();
      })();
      // Within the grace too: a store that does not answer (a frozen Redis) is not waited for.
      const closedInTime = await Promise.race([closing.then(() => true), until(deadline - Date.now()).then(() => false)]);
      if (closedInTime) logger.info('stopped');
      else logger.warn('stopped at the end of the grace, before the store answered the last calls');
      restoreConsoleWarn();
    },
  };
}
