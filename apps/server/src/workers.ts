import cluster, { Worker } from 'node:cluster';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { MIN_ANSWER_BYTES_IN_FLIGHT, MIN_MAX_UNSENT_BYTES } from '@fanout/gateway';
import { createLogger, serveReplicaMetrics } from '@fanout/observability';
import { FanoutConfig } from './config';

/** Workers that exit before they ever listened, in a row, after which the primary gives up. */
const MAX_FAILED_STARTS = 5;
/** Time the primary allows past the workers' own drain grace before it SIGKILLs them. */
const STOP_GUARD_MS = 5000;

/**
 * FANOUT_WORKERS=N: the node:cluster primary. It serves nothing itself: it forks N workers that
 * share the listening port, starts another when one dies, answers the workers' requests for the
 * replica's summed metrics, and on SIGTERM (or SIGINT) forwards it to every worker, waits for them
 * to drain and exits 0.
 */
export function runWorkers(config: FanoutConfig): void {
  const logger = createLogger({ level: config.logLevel, name: `fanout-${config.role}-primary` });
  serveReplicaMetrics();
  const listened = new Set<number>();
  let failedStarts = 0;
  let stopping = false;

  const fork = (): void => {
    if (stopping) return;
    const worker = cluster.fork();
    worker.once('listening', () => {
      listened.add(worker.id);
      failedStarts = 0;
      logger.info({ worker: worker.process.pid, listening: listened.size }, 'worker listening');
    });
  };

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    const pid = worker.process.pid;
    if (stopping) {
      logger.info({ worker: pid, code, signal }, 'worker stopped');
      return;
    }
    const everListened = listened.delete(worker.id);
    failedStarts = everListened ? 0 : failedStarts + 1;
    if (failedStarts >= MAX_FAILED_STARTS) {
      logger.fatal({ worker: pid, code, signal, failedStarts }, 'workers keep exiting before they listen: giving up');
      void stop(1);
      return;
    }
    const delayMs = everListened ? 0 : Math.min(100 * 2 ** failedStarts, 5000);
    logger.error({ worker: pid, code, signal, restartInMs: delayMs }, 'worker exited: starting another');
    setTimeout(fork, delayMs);
  });

  const stop = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    logger.info({ workers: workers.length }, 'stopping: forwarding SIGTERM to every worker');
    const exited = Promise.all(workers.map((w) => new Promise((resolve) => (w.isDead() ? resolve(undefined) : w.once('exit', resolve)))));
    for (const w of workers) w.process.kill('SIGTERM');
    const guard = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.shutdownGraceMs + STOP_GUARD_MS).unref());
    if ((await Promise.race([exited, guard])) === 'timeout') {
      logger.warn('workers did not stop in time: killing them');
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      await exited;
    }
    logger.info('stopped');
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));

  logger.info({ workers: config.workers, port: config.port, host: config.host }, `fanout ${config.role}: starting ${config.workers} workers`);
  for (let i = 0; i < config.workers; i++) fork();
}

/**
 * A worker's share of the replica's connection, body and answer limits (node:cluster hands connections
 * round-robin). FANOUT_MAX_IDLE_SOCKETS is each process's own, as its open-file limit is.
 */
export function workerConfig(config: FanoutConfig): FanoutConfig {
  if (!cluster.isWorker || config.workers <= 1) return config;
  return {
    ...config,
    maxConnections: Math.ceil(config.maxConnections / config.workers),
    maxConnectionsPerTenant: Math.ceil(config.maxConnectionsPerTenant / config.workers),
    // At least one largest body, which any publisher must be able to take.
    maxBodyBytesInFlight: Math.max(MAX_REQUEST_BYTES, Math.ceil(config.maxBodyBytesInFlight / config.workers)),
    // At least one read of a history answer's chunk, which any gateway must be able to make.
    maxAnswerBytesInFlight: Math.max(MIN_ANSWER_BYTES_IN_FLIGHT, Math.ceil(config.maxAnswerBytesInFlight / config.workers)),
    maxUnsentBytes: Math.max(MIN_MAX_UNSENT_BYTES, config.clientBufferBytes, Math.ceil(config.maxUnsentBytes / config.workers)),
  };
}

export const isWorkerProcess = (): boolean => cluster.isWorker;
export const isPrimaryOfWorkers = (config: FanoutConfig): boolean => config.workers > 1 && cluster.isPrimary;
