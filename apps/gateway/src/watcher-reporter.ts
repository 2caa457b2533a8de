import { randomBytes } from 'node:crypto';
import { TenantSubject } from '@fanout/contracts';
import { WATCHER_REWRITE_MS, WatcherCount, WatcherStore, subjectKeyString } from '@fanout/bus';
import { Logger } from '@fanout/observability';

/** How often a replica reports the counts that changed, and that it is alive. */
export const WATCHER_REPORT_MS = 2000;
/** A replica's counts stop counting this long after its last report (a replica killed without a goodbye). */
export const WATCHER_LIVE_FOR_MS = 3 * WATCHER_REPORT_MS;

/**
 * This replica's watcher counts (open streams per subject), reported to the store every
 * WATCHER_REPORT_MS: only the subjects whose count changed since the last report, so the cost is
 * per change of a count, never per connection per event. Everything is reported again every
 * WATCHER_REWRITE_MS, after a report failed or came late (the store may have stopped counting this
 * replica meanwhile), and when asked (`rewriteAll`: the store came back, perhaps without its data).
 */
export class WatcherReporter {
  readonly replicaId = randomBytes(8).toString('hex');
  private readonly counts = new Map<string, WatcherCount>();
  private readonly changed = new Map<string, WatcherCount>();
  private timer: NodeJS.Timeout | undefined;
  private reporting = false;
  private lastReportAt = 0;
  private lastRewriteAt = 0;
  private rewriteDue = true;

  constructor(
    private readonly store: WatcherStore,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.report();
    this.timer = setInterval(() => void this.report(), WATCHER_REPORT_MS);
    this.timer.unref();
  }

  /** The replica now has `count` open streams following `subject`. */
  set(subject: TenantSubject, count: number): void {
    const key = subjectKeyString(subject);
    if (count > 0) this.counts.set(key, { subject, count });
    else this.counts.delete(key);
    this.changed.set(key, { subject, count });
  }

  /** The next report writes every count, not only those that changed. */
  rewriteAll(): void {
    this.rewriteDue = true;
  }

  /** Stops reporting and takes this replica's counts out at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.store.retireReplica(this.replicaId).catch((error: Error) => this.logger.warn({ err: error.message }, 'retiring the watcher counts failed; they lapse on their own'));
  }

  private async report(): Promise<void> {
    if (this.reporting) return;
    this.reporting = true;
    const now = Date.now();
    const rewrite = this.rewriteDue || now - this.lastReportAt >= WATCHER_LIVE_FOR_MS || now - this.lastRewriteAt >= WATCHER_REWRITE_MS;
    this.rewriteDue = false;
    const batch = rewrite ? [...this.changed.values()].filter((c) => c.count === 0).concat([...this.counts.values()]) : [...this.changed.values()];
    this.changed.clear();
    try {
      await this.store.reportWatchers(this.replicaId, batch, WATCHER_LIVE_FOR_MS);
      this.lastReportAt = now;
      if (rewrite) this.lastRewriteAt = now;
    } catch (error) {
      // Until a first report lands, a failure is the store's connection still being made (a store
      // that is down says so through its own connection's warnings), not news for the log.
      const level = this.lastReportAt > 0 ? 'warn' : 'debug';
      this.logger[level]({ err: (error as Error).message }, 'reporting watcher counts failed; trying again');
      this.rewriteDue = true;
      // Reported again next time, as they are now (unless they changed again meanwhile).
      for (const { subject } of batch) {
        const key = subjectKeyString(subject);
        if (!this.changed.has(key)) this.changed.set(key, this.counts.get(key) ?? { subject, count: 0 });
      }
    } finally {
      this.reporting = false;
    }
  }
}
