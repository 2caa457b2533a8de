import { ArchiveReadingBus, ArchivedSubjects, Archiver, S3ArchiveStore } from '@fanout/archive';
import { Bus, RedisBus } from '@fanout/bus';
import { Logger, Registry, createArchiveMetrics } from '@fanout/observability';
import { FanoutConfig } from './config';

/** The archive as a process of its role uses it: the gateway reads it, the publisher writes it. */
export interface ProcessArchive {
  /** The bus the gateway reads through: archived subjects answered from the archive. */
  readingBus: Bus;
  /** Stops the archiver (after the subject it is writing, or after waitMs) and the S3 client. */
  stop(waitMs: number): Promise<void>;
}

/** Undefined when the archive is off. The config refused it with the in-memory bus, so the bus is Redis's. */
export function startArchive(config: FanoutConfig, bus: Bus, logger: Logger, registry: Registry): ProcessArchive | undefined {
  const settings = config.archive;
  if (!settings) return undefined;
  if (!(bus instanceof RedisBus)) throw new Error('the archive needs the Redis bus');
  const store = new S3ArchiveStore(settings.s3);
  let archiver: Archiver | undefined;
  if (config.role !== 'gateway') {
    const metrics = createArchiveMetrics(registry, () => bus.archiveQueue.pendingCount());
    archiver = new Archiver({
      source: bus,
      queue: bus.archiveQueue,
      store,
      logger: logger.child({ component: 'archiver' }),
      metrics: { archived: () => metrics.subjects.inc({ result: 'archived' }), failed: () => metrics.subjects.inc({ result: 'failed' }) },
      settings: { leaseMs: settings.leaseMs, pollMs: settings.pollMs, keepSeconds: settings.keepSeconds, historyTtlSeconds: config.historyTtlSeconds },
    });
    archiver.start();
  }
  const readingBus = config.role === 'publisher' ? bus : new ArchiveReadingBus(bus, new ArchivedSubjects(store, settings), logger);
  logger.info({ bucket: settings.s3.bucket, prefix: settings.s3.prefix, endpoint: settings.s3.endpoint, archiver: archiver !== undefined }, 'archive of finished subjects on');
  return {
    readingBus,
    async stop(waitMs) {
      await archiver?.stop(waitMs);
      store.close();
    },
  };
}
