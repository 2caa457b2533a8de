import { existsSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Router } from 'express';
import { Bus, lastPublishedAtMs } from '@fanout/bus';
import { Authenticator, HttpProblem, StreamHeaders } from '@fanout/http';
import { GatewayMetrics, Logger, Registry, createGatewayMetrics, throttledWarning } from '@fanout/observability';
import { SweepScheduler, sweepPeriodFor } from '@fanout/sse';
import { AnswerBudget } from './answer-budget';
import { ConnectionLimits } from './connection-limits';
import { dashboardFiles } from './dashboard-files';
import { HistoryPages } from './history-pages';
import { CanaryReadiness } from './readiness';
import { historyRoutes } from './routes/history-routes';
import { logRoute } from './routes/log-route';
import { revocationRoutes } from './routes/revocation-routes';
import { watchersRoute } from './routes/watchers-route';
import { RevocationList } from './revocation-list';
import { createStreamHandler, isStreamRequest } from './stream-handler';
import { StreamServices, StreamSettings } from './stream-context';
import { StreamSession } from './stream-session';
import { SubscriptionManager } from './subscription-manager';
import { UnsentBudget } from './unsent-budget';
import { WatcherReporter } from './watcher-reporter';

export const DEFAULT_MAX_CONNECTIONS = 50_000;
export const DEFAULT_MAX_CONNECTIONS_PER_TENANT = 10_000;
export const DEFAULT_MAX_REVOCATIONS = 10_000;

export interface GatewaySettings extends StreamSettings {
  /** Open streams per replica, then 429. @default {@link DEFAULT_MAX_CONNECTIONS} */
  maxConnections: number;
  /** Open streams per tenant per replica, then 429. @default {@link DEFAULT_MAX_CONNECTIONS_PER_TENANT} */
  maxConnectionsPerTenant: number;
  /** Active revocations at most (the store refuses one more with 409). @default {@link DEFAULT_MAX_REVOCATIONS} */
  maxRevocations: number;
  /** Bytes of history and log answers this process reads and holds at once. @default {@link DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT} */
  maxAnswerBytesInFlight: number;
  /** Unsent bytes over all this process's streams; past it those furthest behind are dropped. @default {@link DEFAULT_MAX_UNSENT_BYTES} */
  maxUnsentBytes: number;
}

export interface GatewayOptions {
  bus: Bus;
  logger: Logger;
  registry: Registry;
  /** Authenticates every request; it must refuse what `revocations` refuses (see refuseRevoked). */
  authenticate: Authenticator;
  /** This replica's copy of the active revocations (shared with the publisher of a dev process). */
  revocations: RevocationList;
  /** Headers of stream answers (CORS, nosniff), which bypass Express's middleware. */
  streamHeaders: StreamHeaders;
  settings: GatewaySettings;
  /** Where the built dashboard is. @default {@link DASHBOARD_DIR} */
  dashboardDir?: string;
}

export interface Gateway {
  /** The JSON routes and the dashboard (Express). */
  router: Router;
  /** Whether `handleStream` answers this request: the stream routes bypass Express. */
  isStreamRequest(req: IncomingMessage): boolean;
  handleStream(req: IncomingMessage, res: ServerResponse): void;
  isReady(): boolean;
  /**
   * Stops taking streams, ends each open one with `end` {shutdown}, spread evenly in random order over
   * `spreadMs` (so their clients do not all reconnect in the same instant), and resolves when all are
   * gone or `graceMs` passed.
   */
  drain(graceMs: number, spreadMs?: number): Promise<void>;
  /** Stops its timers and takes this replica's watcher counts out of the store. */
  close(): Promise<void>;
}

/** A process budget's refusals and drops are logged at most this often, each line with how many since the last. */
const BUDGET_WARNING_EVERY_MS = 10_000;

function refusingAnswersLogged(logger: Logger, limit: number, count: () => void): () => void {
  const warn = throttledWarning(logger, BUDGET_WARNING_EVERY_MS, 'FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT held by history and log answers: refused new ones with 503', 'refused', { limit });
  return () => {
    count();
    warn();
  };
}

function loggingBudgetDrops(logger: Logger, limit: number): (dropped: number) => void {
  return throttledWarning(logger, BUDGET_WARNING_EVERY_MS, 'FANOUT_MAX_UNSENT_BYTES passed: dropped the streams furthest behind as slow consumers (they resume)', 'dropped', { limit });
}

/** How often a drain ends the streams that are due. */
const DRAIN_TICK_MS = 10;

/** The drain spread when none is configured: a quarter of the grace period, leaving the rest for the last streams to flush and close. */
export function defaultShutdownSpreadMs(graceMs: number): number {
  return Math.floor(graceMs / 4);
}

function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** The dashboard as scripts/build-dashboard.js bundles it (apps/gateway/dist/public, from src/ and dist/ alike). */
export const DASHBOARD_DIR = join(__dirname, '..', 'dist', 'public');

export function createGateway(options: GatewayOptions): Gateway {
  const { bus, logger, settings } = options;
  const metrics: GatewayMetrics = createGatewayMetrics(options.registry, { subscriptionCount: () => subscriptions.subjectCount, answerBytes: () => answers.reservedBytes });
  const answers = new AnswerBudget(settings.maxAnswerBytesInFlight, refusingAnswersLogged(logger, settings.maxAnswerBytesInFlight, () => metrics.answersRefused.inc()));
  const watchers = new WatcherReporter(bus, logger);
  watchers.start();
  const subscriptions = new SubscriptionManager(
    bus,
    (batch) => {
      const sentAt = lastPublishedAtMs(batch.frames);
      if (!Number.isNaN(sentAt)) metrics.deliveryLag.observe(Math.max(0, Date.now() - sentAt) / 1000);
    },
    (subject, count) => watchers.set(subject, count),
  );
  const scheduler = new SweepScheduler(sweepPeriodFor(settings.heartbeatMs, settings.idleTimeoutMs));
  const history = new HistoryPages(bus, settings.replayPageSize, settings.historyCacheBytes, subscriptions);
  bus.onConnection((event) => {
    if (event !== 'up') return;
    // Pages cached before the loss may be of a history the store no longer has: clear them first.
    history.clear();
    // The store may have come back without its data (a Redis restarted without persistence).
    watchers.rewriteAll();
    metrics.busReconnects.inc();
    subscriptions.recoverAll();
  });
  const unsentBudget = new UnsentBudget(settings.maxUnsentBytes, loggingBudgetDrops(logger, settings.maxUnsentBytes));
  const services = { bus, history, subscriptions, scheduler, metrics, settings, unsentBudget, logger } satisfies StreamServices;
  const openStreams = new Set<StreamSession>();
  const limits = new ConnectionLimits(settings.maxConnections, settings.maxConnectionsPerTenant);
  const { revocations } = options;
  revocations.onChange(() => {
    const now = Date.now();
    for (const stream of openStreams) if (revocations.refuses(stream.principal, now)) stream.end('revoked');
  });
  const readiness = new CanaryReadiness(bus, logger);
  readiness.start();
  let draining = false;

  const router = Router({ caseSensitive: true });
  const handleStream = createStreamHandler({
    services,
    authenticate: options.authenticate,
    limits,
    open: openStreams,
    isDraining: () => draining,
    isRevoked: (principal) => revocations.refuses(principal),
    headersFor: options.streamHeaders,
  });
  // A tenant's data, often asked for with ?access_token= (no Authorization header to stop a shared cache): never stored.
  router.use('/api/v1', (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  router.use(historyRoutes(bus, answers, options.authenticate, logger));
  router.use(watchersRoute(bus, options.authenticate));
  router.use(revocationRoutes(bus, revocations, options.authenticate, settings.maxRevocations));
  router.use(logRoute(bus, answers, options.authenticate, logger));
  const dashboardDir = options.dashboardDir ?? DASHBOARD_DIR;
  router.use(dashboardFiles(dashboardDir));
  // Only reached when the dashboard is not built.
  router.get(['/', '/index.html'], () => {
    throw new HttpProblem(503, 'the dashboard is not built: run `npm run build` (or `node scripts/build-dashboard.js`)');
  });
  if (!existsSync(join(dashboardDir, 'index.html'))) logger.warn({ dashboardDir }, 'no dashboard built: GET / answers 503 until `npm run build` bundles it');

  return {
    router,
    isStreamRequest,
    handleStream,
    isReady: () => !draining && readiness.isReady(),
    async drain(graceMs, spreadMs = 0) {
      draining = true;
      const startedAt = Date.now();
      const deadline = startedAt + graceMs;
      const order = shuffled([...openStreams]);
      let ended = 0;
      while (openStreams.size > 0 && Date.now() < deadline) {
        // The i-th stream of the order ends at i × spreadMs / n.
        const elapsed = Date.now() - startedAt;
        const due = spreadMs > 0 ? Math.min(order.length, Math.floor((order.length * elapsed) / spreadMs) + 1) : order.length;
        for (; ended < due; ended += 1) order[ended]!.end('shutdown');
        await new Promise((resolve) => setTimeout(resolve, DRAIN_TICK_MS));
      }
      // Past the grace (or with none), every stream still gets its `end` before the connections are cut.
      for (; ended < order.length; ended += 1) order[ended]!.end('shutdown');
    },
    async close() {
      readiness.stop();
      scheduler.stop();
      unsentBudget.stop();
      await watchers.stop();
    },
  };
}
