import { TenantSubject } from '@fanout/contracts';
import { ArchiveQueue, Bus, BusLogger, HistoryEntry, archiveMember } from '@fanout/bus';
import { encodeArchivedSubject } from './archived-subject';
import { ArchiveStore } from './archive-store';

export const DEFAULT_ARCHIVE_LEASE_MS = 60_000;
export const DEFAULT_ARCHIVE_POLL_MS = 1000;
export const DEFAULT_ARCHIVE_KEEP_SECONDS = 300;
/** Subjects claimed at a time: one claim's worth is archived one after another, then the next claim. */
const CLAIM_BATCH = 16;
/** Entries read from the store per page while a subject is read for the archive. */
const READ_PAGE = 1000;
/** The repair sweep runs at start and then this often (and more often when the history's TTL is short). */
const REPAIR_EVERY_MS = 5 * 60_000;

export interface ArchiverSettings {
  /** How long a claimed subject is this archiver's before another may take it. @default {@link DEFAULT_ARCHIVE_LEASE_MS} */
  leaseMs: number;
  /** How long the loop rests when nothing is due. @default {@link DEFAULT_ARCHIVE_POLL_MS} */
  pollMs: number;
  /** Seconds an archived subject's keys stay in the store (0: deleted at once). @default {@link DEFAULT_ARCHIVE_KEEP_SECONDS} */
  keepSeconds: number;
  /** The store's FANOUT_HISTORY_TTL_S: the repair sweep runs well within it, before a finished subject expires unarchived. */
  historyTtlSeconds: number;
}

export interface ArchiverMetrics {
  archived(): void;
  failed(): void;
}

export interface ArchiverOptions {
  source: Pick<Bus, 'info' | 'history'>;
  queue: ArchiveQueue;
  store: ArchiveStore;
  logger: BusLogger;
  metrics: ArchiverMetrics;
  settings: ArchiverSettings;
}

/**
 * How long after start a pass that cannot reach the store is not warned of, until one has: the first
 * passes of a process run while its connection to the store is still being made (commands are not
 * queued), and a store that stays unreachable is warned of by the connection itself at once.
 */
const STARTUP_QUIET_MS = 10_000;

/**
 * Moves finished subjects from the store to the archive: claims due subjects (leased), reads each
 * one's retained history, writes it as one object (a retry writes the same bytes to the same key),
 * then finishes it in the store (its keys deleted or set to expire soon). A subject that fails is
 * left to its lease, and claimed again when the lease runs out: by this process or, if it died
 * half way, by another or by its restart. A sweep of the store repairs marks that were never written.
 */
export class Archiver {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Set by stop(): no pass starts, and one under way ends after its current subject. */
  private stopped = true;
  private nextRepairAt = 0;
  /** Until the store first answered a pass, or this time: a pass that fails is not warned of. */
  private quietUntil = 0;
  private reachedStore = false;

  constructor(private readonly options: ArchiverOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.quietUntil = Date.now() + STARTUP_QUIET_MS;
    this.schedule(0);
  }

  /**
   * Stops the loop; resolves once the pass under way (if any) has ended after its current subject,
   * or after `waitMs`: a subject left half way is claimed again when its lease runs out.
   */
  async stop(waitMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = Number.isFinite(waitMs) ? new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, waitMs)))) : new Promise<void>(() => undefined);
    await Promise.race([this.running, waited]);
    clearTimeout(timer);
  }

  /** Claims and archives what is due until nothing is (or the archiver is stopped). */
  private async archiveDue(): Promise<void> {
    const { queue, settings } = this.options;
    for (;;) {
      const subjects = await queue.claim(settings.leaseMs, CLAIM_BATCH);
      for (const subject of subjects) {
        if (this.stopped) return;
        await this.archiveOne(subject);
      }
      if (subjects.length < CLAIM_BATCH) return;
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.schedule(this.options.settings.pollMs);
      });
    }, delayMs);
  }

  private async pass(): Promise<void> {
    try {
      if (Date.now() >= this.nextRepairAt) {
        const marked = await this.options.queue.repair();
        if (marked > 0) this.options.logger.info({ marked }, 'archive repair sweep: finished subjects marked for the archive');
        this.nextRepairAt = Date.now() + Math.min(REPAIR_EVERY_MS, (this.options.settings.historyTtlSeconds * 1000) / 4);
      }
      await this.archiveDue();
      this.reachedStore = true;
    } catch (error) {
      if (this.reachedStore || Date.now() >= this.quietUntil) {
        this.options.logger.warn({ err: (error as Error).message }, 'the archiver could not reach the store; trying again');
      }
    }
  }

  /** Archives one claimed subject; one that fails is left to its lease, which brings it back. */
  private async archiveOne(subject: TenantSubject): Promise<void> {
    const { source, queue, store, logger, metrics, settings } = this.options;
    try {
      const info = await source.info(subject);
      if (!info || !info.terminal) {
        // Gone from the store (archived and deleted, or expired), or started again: nothing of it to archive.
        await queue.drop(subject);
        return;
      }
      const entries = await this.readHistory(subject, info.firstSeq, info.lastSeq);
      await store.put(subject, encodeArchivedSubject({ ...subject, info, entries }));
      await queue.finish(subject, info.epoch, info.lastSeq, settings.keepSeconds);
      metrics.archived();
      logger.info({ subject: archiveMember(subject), events: entries.length, lastSeq: info.lastSeq }, 'subject archived');
    } catch (error) {
      metrics.failed();
      logger.warn({ err: (error as Error).message, subject: archiveMember(subject), retryInMs: settings.leaseMs }, 'archiving a subject failed');
    }
  }

  /**
   * The retained entries firstSeq..lastSeq, checked to be in order up to lastSeq (a history that
   * expired half way fails the subject). Seqs a store lost (a hole: append-events.lua, lostTail) are
   * archived as the hole they are.
   */
  private async readHistory(subject: TenantSubject, firstSeq: number, lastSeq: number): Promise<HistoryEntry[]> {
    const entries: HistoryEntry[] = [];
    let after = firstSeq - 1;
    while (after < lastSeq) {
      const page = await this.options.source.history(subject, after, Math.min(READ_PAGE, lastSeq - after));
      if (page.length === 0) break;
      for (const entry of page) {
        if (entry.seq <= after) throw new Error(`the history of ${archiveMember(subject)} has seq ${entry.seq} after ${after}`);
        entries.push(entry);
        after = entry.seq;
      }
    }
    if (after !== lastSeq) throw new Error(`the history of ${archiveMember(subject)} ended at seq ${after}, before its last seq ${lastSeq}`);
    return entries;
  }
}
