import { PublishedEvent, SubjectKind, TenantSubject, isStatusEventType, isTerminalStatus } from '@fanout/contracts';
import { ActivityUpdate, activitySubjectJson, activityUpdate, activityUpdates } from './activity';
import { quotaRefusals } from './append-refusals';
import { RawAppendReply, SubjectState, appendError, isNewSubjectReply, overQuotaReply, parseAppendReply } from './append-reply';
import { ArchiveQueue } from './archive-queue';
import { ConcurrencyLimit } from './concurrency-limit';
import { beforeDeadline } from './deadline';
import { AppendOutcome, Bus, HistoryEntry, StreamRef, SubjectInfo, SubjectSummary, activityOf } from './bus';
import { ARCHIVED_META_FIELD, activityKeys, streamKeys, subjectKeys, subjectMember, tenantIndexKeys } from './keys';
import { BusLogger, silentLogger } from './logger';
import { loadLuaScripts } from './lua-scripts';
import { BusOptions, DEFAULT_SUBJECT_IDLE_TTL_SECONDS, DEFAULT_TENANT_MAX_SUBJECTS, idleSpanMs } from './options';
import { prepareEvent } from './prepared-event';
import { quotaRetryAfterSeconds } from './quota';
import { CommandConnection, closeConnection } from './redis-connections';
import { readLatestStateEntries } from './state-entries';
import { newEpoch } from './stored-frame';
import { StoredTails } from './stored-tails';

/** The scripts of lua/, each defined as the command `fanout` + its name in PascalCase. */
type ScriptedRedis = CommandConnection & {
  fanoutAppend(...args: (string | number)[]): Promise<RawAppendReply>;
  fanoutAppendAndRecord(...args: (string | number)[]): Promise<RawAppendReply>;
  fanoutRecordSubject(...args: (string | number)[]): Promise<string>;
  fanoutAdmitSubject(live: string, member: string, maxSubjects: number, reservationMs: number): Promise<[0 | 1, string | number]>;
  fanoutReleaseReservation(live: string, member: string, reservedUntil: string): Promise<number>;
  fanoutStreamInfo(meta: string, stream: string): Promise<(string | number | null)[]>;
};

const commandName = (scriptName: string): string => `fanout${scriptName.replace(/(?:^|-)([a-z])/g, (_m, letter: string) => letter.toUpperCase())}`;

export const DEFAULT_WAIT_REPLICAS = 0;
export const DEFAULT_WAIT_TIMEOUT_MS = 1000;

export interface RedisStoreOptions extends BusOptions {
  /**
   * Replicas that must acknowledge each append before it is answered (Redis WAIT), so an event
   * answered 202 survives the loss of its master. 0: asynchronous replication, as Redis defaults.
   * @default {@link DEFAULT_WAIT_REPLICAS}
   */
  waitReplicas?: number;
  /** How long an append waits for those acknowledgements before it fails. @default {@link DEFAULT_WAIT_TIMEOUT_MS} */
  waitTimeoutMs?: number;
  /**
   * Where an append that stores (or repeats) a subject's terminal event marks the subject for the
   * archive, after the script: a mark lost to a crash is repaired by {@link ArchiveQueue.repair}.
   */
  archiveQueue?: Pick<ArchiveQueue, 'markPending'>;
}

/** An append stored on the master that not enough replicas acknowledged in time. */
export class ReplicationTimeoutError extends Error {
  constructor(acknowledged: number, wanted: number, timeoutMs: number) {
    super(`only ${acknowledged} of ${wanted} replicas acknowledged the append within ${timeoutMs} ms`);
    this.name = 'ReplicationTimeoutError';
  }
}

/**
 * The append script stores nothing once Redis's clock is this close to the append's deadline: room
 * for its reply (and, in Redis Cluster, the record after it) to arrive in time, and for the hosts'
 * clocks to differ.
 */
export const STORE_CUTOFF_MARGIN_MS = 500;

/** Entries one XRANGE of a history read asks for (each at most an event of 64 KiB and its frame). */
const HISTORY_COMMAND_COUNT = 100;
/** History reads of one process on the store at once; the others wait their turn. */
const MAX_HISTORY_READS_IN_FLIGHT = 8;

function historyEntryOf(id: Buffer, fields: Buffer[]): HistoryEntry {
  const entry: HistoryEntry = { seq: Number(id.toString().slice(2)), frame: Buffer.alloc(0), terminal: false };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i]!.toString();
    if (field === 'f') entry.frame = fields[i + 1]!;
    else if (field === 'x') entry.terminal = fields[i + 1]!.toString() === '1';
  }
  return entry;
}

/**
 * How long a new subject admitted under its tenant's quota counts before its first append is
 * recorded. Only an append that fails between admission and record leaves it to lapse (in one
 * script, a record that fails half way).
 */
const RESERVATION_MS = 60_000;

/**
 * How an append reaches Redis. `one-script`: on a single Redis (a standalone server, or a
 * Sentinel-managed master) the subject's and its tenant's keys are on one node, and
 * append-and-record-9.lua admits, appends and records in one round trip. `two-scripts`: in Redis
 * Cluster they are on two slots, so append-4.lua runs on the subject's, then record-subject-5.lua on
 * the tenant's (and, for a new subject under a tenant quota, admit-subject-1.lua before them).
 */
export type AppendPath = 'one-script' | 'two-scripts';

/** The path an append takes over this connection: the one place it is chosen. */
export function appendPathOf(command: CommandConnection): AppendPath {
  return command.isCluster ? 'two-scripts' : 'one-script';
}

/**
 * The store half of the Redis bus, over the command connection: a Lua script per atomic append
 * (loaded once, called by SHA) with the tenant's record in it or after it, a Stream per subject for
 * replay, the tenant's recent subjects, and the publish of the readiness canary.
 */
export class RedisStore implements Pick<Bus, 'append' | 'info' | 'history' | 'recentSubjects'> {
  private readonly command: ScriptedRedis;
  private readonly logger: BusLogger;
  /** Set when Redis refused to SELECT the URL's database: nothing may be written, and the bus is never ready. */
  private databaseRefused: Error | undefined;
  private readonly historyReads = new ConcurrencyLimit(MAX_HISTORY_READS_IN_FLIGHT);
  private readonly storedTails = new StoredTails();
  private readonly idleTtlSeconds: number;

  /** @param appendPath chosen by the connection ({@link appendPathOf}); tests may ask for the other on a single Redis. */
  constructor(
    command: CommandConnection,
    private readonly options: RedisStoreOptions,
    readonly appendPath: AppendPath = appendPathOf(command),
  ) {
    this.logger = options.logger ?? silentLogger;
    this.idleTtlSeconds = options.subjectIdleTtlSeconds ?? DEFAULT_SUBJECT_IDLE_TTL_SECONDS;
    this.command = command as ScriptedRedis;
    for (const { name, numberOfKeys, lua } of loadLuaScripts()) this.command.defineCommand(commandName(name), { numberOfKeys, lua });
    this.command.on('error', (error: Error) => {
      // ioredis reports a refused SELECT and goes on in database 0: that would be the wrong data.
      if (/\bDB index is out of range\b/i.test(error.message)) {
        this.databaseRefused ??= new Error(`Redis refused the database of the URL (${error.message}): not ready, and nothing is stored`);
        this.logger.error({ err: error.message }, 'redis refused the database of REDIS_URL');
        // Closed for good: nothing that shares the connection (revocations, watcher counts, the
        // archive's queue) may read or write database 0, which may be another deployment's.
        this.command.disconnect();
        return;
      }
      this.logger.warn({ err: error.message }, 'redis command connection error');
    });
  }

  /** Throws once Redis has refused the URL's database. */
  assertDatabaseAccepted(): void {
    if (this.databaseRefused) throw this.databaseRefused;
  }

  async append(subject: TenantSubject, events: readonly PublishedEvent[], deadline?: number): Promise<AppendOutcome[]> {
    this.assertDatabaseAccepted();
    const outcomes =
      deadline === undefined
        ? await this.appendAndRecord(subject, events, '')
        : await beforeDeadline(this.appendAndRecord(subject, events, deadline - STORE_CUTOFF_MARGIN_MS), deadline, 'the append');
    const terminal = this.options.archiveQueue ? terminalEventOf(events, outcomes) : undefined;
    if (terminal) await this.markForArchive(subject, terminal, deadline);
    return outcomes;
  }

  /**
   * The append is stored whatever happens here, and answered by its deadline: a mark that failed or
   * is late is logged, and the archiver's repair sweep finds the subject. A repeated terminal event
   * marks the subject again (repairing a lost mark at once) unless it is archived already: its keys
   * are kept a while after the archive, and archiving them again would only write the same object.
   */
  private async markForArchive(subject: TenantSubject, terminal: 'stored' | 'repeated', deadline: number | undefined): Promise<void> {
    const marking = this.markUnlessArchived(subject, terminal);
    try {
      await (deadline === undefined ? marking : beforeDeadline(marking, deadline, 'marking the subject for the archive'));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, subject }, 'marking a finished subject for the archive failed; the repair sweep will');
    }
  }

  private async markUnlessArchived(subject: TenantSubject, terminal: 'stored' | 'repeated'): Promise<void> {
    if (terminal === 'repeated' && (await this.command.hget(subjectKeys(subject).meta, ARCHIVED_META_FIELD)) === '1') return;
    await this.options.archiveQueue!.markPending([subject]);
  }

  private appendAndRecord(subject: TenantSubject, events: readonly PublishedEvent[], storeBy: number | ''): Promise<AppendOutcome[]> {
    if (this.appendPath === 'one-script') return this.appendAndRecordInOneScript(subject, events, storeBy);
    return this.appendThenRecord(subject, events, storeBy);
  }

  /**
   * One round trip: append-and-record-9.lua admits a new subject under its tenant's quota, appends,
   * and records the subject in its tenant's keys, as the two-script path does in up to four.
   */
  private async appendAndRecordInOneScript(subject: TenantSubject, events: readonly PublishedEvent[], storeBy: number | ''): Promise<AppendOutcome[]> {
    const maxSubjects = this.options.tenantMaxSubjects ?? DEFAULT_TENANT_MAX_SUBJECTS;
    const keys = subjectKeys(subject);
    const index = tenantIndexKeys(subject.tenant);
    const activity = activityKeys(activityOf(subject.tenant));
    const published = new Date();
    const args: (string | number)[] = [
      keys.meta,
      keys.stream,
      keys.ids,
      keys.steps,
      index.recent,
      index.live,
      index.recorded,
      activity.meta,
      activity.stream,
      keys.channel,
      subject.kind,
      this.options.historyMaxLen,
      this.options.historyTtlSeconds,
      newEpoch(),
      published.toISOString(),
      storeBy,
      activity.channel,
      newEpoch(),
      subjectMember(subject),
      activitySubjectJson(subject),
      maxSubjects,
      RESERVATION_MS,
      events.length,
      published.getTime(),
      this.idleTtlSeconds,
      this.storedTails.knownOf(keys.meta),
      this.storedTails.knownOf(activity.meta),
    ];
    pushEventArgs(args, events);
    const raw = await this.runAppend('fanoutAppendAndRecord', args);
    const overQuota = overQuotaReply(raw);
    if (overQuota) return quotaRefusals(events, maxSubjects, this.retryAfterSeconds(overQuota.msUntilAnEntryLapses));
    const { outcomes, state, activity: activityTail } = parseAppendReply(subject.kind, events, raw);
    if (state) this.storedTails.remember(keys.meta, state.epoch, state.lastSeq);
    this.rememberActivity(activity.meta, activityTail);
    return outcomes;
  }

  /**
   * The append script, then the subject's record in its tenant's keys (recent-subjects index, live
   * subjects, activity). Those are on another slot in Redis Cluster, so the record is a second
   * script; it is idempotent and every append of the subject (a duplicate or a refused one too)
   * records the subject as it stands, so a record that failed is repaired by the retry.
   * With a tenant quota, an append that would create a subject first asks the tenant's slot to admit it.
   */
  private async appendThenRecord(subject: TenantSubject, events: readonly PublishedEvent[], storeBy: number | ''): Promise<AppendOutcome[]> {
    const publishedAt = new Date().toISOString();
    const maxSubjects = this.options.tenantMaxSubjects ?? DEFAULT_TENANT_MAX_SUBJECTS;
    let raw = await this.runAppend('fanoutAppend', this.appendArgs(subject, events, publishedAt, storeBy, maxSubjects > 0));
    let reservedUntil = '';
    if (isNewSubjectReply(raw)) {
      const admission = await this.admit(subject, maxSubjects);
      if (!admission.admitted) return quotaRefusals(events, maxSubjects, admission.retryAfterSeconds);
      reservedUntil = admission.reservedUntil;
      raw = await this.runAppend('fanoutAppend', this.appendArgs(subject, events, publishedAt, storeBy, false));
    }
    const { outcomes, state } = parseAppendReply(subject.kind, events, raw);
    if (!state) {
      if (reservedUntil) await this.releaseReservation(subject, reservedUntil);
      return outcomes;
    }
    this.storedTails.remember(subjectKeys(subject).meta, state.epoch, state.lastSeq);
    const previous = state.previousStatus;
    const updates = activityUpdates(subject, events, outcomes, publishedAt);
    if (previous) updates.unshift(activityUpdate(subject, previous.status, previous.seq, previous.at));
    await this.record(subject, state, updates);
    return outcomes;
  }

  private appendArgs(subject: TenantSubject, events: readonly PublishedEvent[], publishedAt: string, storeBy: number | '', onlyExisting: boolean): (string | number)[] {
    const keys = subjectKeys(subject);
    const args: (string | number)[] = [
      keys.meta,
      keys.stream,
      keys.ids,
      keys.steps,
      keys.channel,
      subject.kind,
      this.options.historyMaxLen,
      this.options.historyTtlSeconds,
      newEpoch(),
      publishedAt,
      storeBy,
      onlyExisting ? '1' : '0',
      events.length,
      this.idleTtlSeconds,
      this.storedTails.knownOf(keys.meta),
    ];
    pushEventArgs(args, events);
    return args;
  }

  private async admit(subject: TenantSubject, maxSubjects: number): Promise<{ admitted: true; reservedUntil: string } | { admitted: false; retryAfterSeconds: number }> {
    const [admitted, detail] = await this.command.fanoutAdmitSubject(tenantIndexKeys(subject.tenant).live, subjectMember(subject), maxSubjects, RESERVATION_MS);
    if (admitted === 1) return { admitted: true, reservedUntil: String(detail) };
    return { admitted: false, retryAfterSeconds: this.retryAfterSeconds(Number(detail)) };
  }

  /** A quota refusal's retry hint, from the ms until the tenant's soonest entry lapses (-1: none is due). */
  private retryAfterSeconds(msUntilAnEntryLapses: number): number {
    return quotaRetryAfterSeconds(msUntilAnEntryLapses < 0 ? undefined : msUntilAnEntryLapses, this.options.historyTtlSeconds);
  }

  /** A new subject's first append stored nothing: it no longer counts (or does until its reservation lapses, if this fails). */
  private async releaseReservation(subject: TenantSubject, reservedUntil: string): Promise<void> {
    try {
      await this.command.fanoutReleaseReservation(tenantIndexKeys(subject.tenant).live, subjectMember(subject), reservedUntil);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'releasing a new subject\'s reservation failed; it lapses by itself');
    }
  }

  private async record(subject: TenantSubject, state: SubjectState, updates: ActivityUpdate[]): Promise<void> {
    const index = tenantIndexKeys(subject.tenant);
    const activity = activityKeys(activityOf(subject.tenant));
    const args: (string | number)[] = [
      index.recent,
      index.live,
      index.recorded,
      activity.meta,
      activity.stream,
      activity.channel,
      this.options.historyMaxLen,
      newEpoch(),
      this.options.historyTtlSeconds * 1000,
      subjectMember(subject),
      state.epoch,
      state.lastSeq,
      state.terminal ? '1' : '0',
      state.storedAt,
      Date.parse(state.storedAt),
      state.liveUntilMs ?? '',
      idleSpanMs(this.idleTtlSeconds),
      updates.length,
      this.storedTails.knownOf(activity.meta),
    ];
    for (const u of updates) args.push(u.subjectSeq, u.json);
    this.rememberActivity(activity.meta, await this.command.fanoutRecordSubject(...args));
  }

  /** The activity's `<epoch>:<lastSeq>` a record answered when it appended to it (else ''). */
  private rememberActivity(metaKey: string, answer: string | undefined): void {
    const known = answer ? /^([0-9a-f]+):(\d+)$/.exec(answer) : null;
    if (known) this.storedTails.remember(metaKey, known[1]!, Number(known[2]));
  }

  /**
   * An append script, and with `waitReplicas` a WAIT in the same pipeline: a pipeline goes to the
   * node of its keyed command, so WAIT asks the subject's own master (in Redis Cluster too).
   */
  private async runAppend(script: 'fanoutAppend' | 'fanoutAppendAndRecord', args: (string | number)[]): Promise<RawAppendReply> {
    const wanted = this.options.waitReplicas ?? DEFAULT_WAIT_REPLICAS;
    if (wanted === 0) {
      try {
        return await this.command[script](...args);
      } catch (error) {
        throw appendError(error);
      }
    }
    const timeoutMs = this.options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    const pipeline = this.command.pipeline() as unknown as Record<typeof script, (...a: (string | number)[]) => unknown> & {
      wait(replicas: number, timeout: number): unknown;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    pipeline[script](...args);
    pipeline.wait(wanted, timeoutMs);
    const replies = await pipeline.exec();
    const [append, wait] = replies ?? [];
    if (!append || append[0]) throw appendError(append?.[0] ?? new Error('the append pipeline was not executed'));
    if (!wait || wait[0]) throw wait?.[0] ?? new Error('WAIT was not executed');
    const acknowledged = Number(wait[1]);
    if (acknowledged < wanted) throw new ReplicationTimeoutError(acknowledged, wanted, timeoutMs);
    return append[1] as RawAppendReply;
  }

  async info(ref: StreamRef): Promise<SubjectInfo | null> {
    this.assertDatabaseAccepted();
    const keys = streamKeys(ref);
    const raw = await this.command.fanoutStreamInfo(keys.meta, keys.stream);
    if (raw.length === 0) return null;
    const [epoch, lastSeq, firstSeq, status, terminal, updatedAt] = raw;
    return {
      epoch: String(epoch),
      lastSeq: Number(lastSeq),
      firstSeq: Number(firstSeq),
      status: String(status),
      terminal: terminal === '1',
      updatedAt: String(updatedAt),
    };
  }

  /**
   * Read in XRANGEs of at most HISTORY_COMMAND_COUNT entries, and at most
   * MAX_HISTORY_READS_IN_FLIGHT reads at once in this process: however many clients read large
   * events, the connection carries a few bounded replies at a time, and other commands (the
   * canary's, an append's) are not stuck behind them.
   */
  history(ref: StreamRef, afterSeq: number, limit: number): Promise<HistoryEntry[]> {
    // XRANGE … COUNT 0 answers nil, not an empty list.
    if (limit <= 0) return Promise.resolve([]);
    // Not another database's data: ioredis goes on in database 0 after a refused SELECT.
    if (this.databaseRefused) return Promise.reject(this.databaseRefused);
    const { stream } = streamKeys(ref);
    return this.historyReads.run(async () => {
      const entries: HistoryEntry[] = [];
      for (let after = afterSeq; entries.length < limit; ) {
        const count = Math.min(limit - entries.length, HISTORY_COMMAND_COUNT);
        const read = await this.command.xrangeBuffer(stream, `(0-${after}`, '+', 'COUNT', count);
        for (const [id, fields] of read) entries.push(historyEntryOf(id, fields));
        if (read.length < count) break;
        after = entries[entries.length - 1]!.seq;
      }
      return entries;
    });
  }

  /** See state-entries.ts (lua/step-events-3.lua). */
  latestStateEntries(subject: TenantSubject, beforeSeq: number): Promise<HistoryEntry[]> {
    return readLatestStateEntries(this.command, subject, beforeSeq, (afterSeq, limit) => this.history(subject, afterSeq, limit));
  }

  /**
   * The tenant's subjects, most recently appended first. The index is read a page at a time; an
   * entry whose subject no longer exists (its history expired, or was lost) is skipped and removed
   * from the tenant's indexes, so it no longer counts either.
   */
  async recentSubjects(tenant: string, kind: SubjectKind | undefined, limit: number): Promise<SubjectSummary[]> {
    this.assertDatabaseAccepted();
    const index = tenantIndexKeys(tenant);
    const pageSize = Math.max(limit, 100);
    const summaries: SubjectSummary[] = [];
    for (let offset = 0; summaries.length < limit; offset += pageSize) {
      const members = await this.command.zrevrange(index.recent, offset, offset + pageSize - 1);
      const wanted = members.map(parseSubjectMember).filter((s) => kind === undefined || s.kind === kind);
      const infos = await Promise.all(wanted.map((s) => this.info({ tenant, ...s })));
      const gone: string[] = [];
      wanted.forEach((s, i) => {
        const info = infos[i];
        if (!info) gone.push(subjectMember(s));
        else if (summaries.length < limit) {
          summaries.push({ kind: s.kind, id: s.id, status: info.status, seq: info.lastSeq, updatedAt: info.updatedAt });
        }
      });
      if (gone.length > 0) {
        await Promise.all([this.command.zrem(index.recent, ...gone), this.command.zrem(index.live, ...gone), this.command.hdel(index.recorded, ...gone)]);
        offset -= gone.length;
      }
      if (members.length < pageSize) break;
    }
    return summaries;
  }

  /** SPUBLISH over the command connection (the subscription path's canary goes this way). */
  async publish(channel: string, message: string): Promise<void> {
    await this.command.spublish(channel, message);
  }

  /** Resolves once the command connection is ready (at once if it is), or has ended for good. */
  untilReady(): Promise<void> {
    if (this.command.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.command.off('ready', done);
        this.command.off('end', done);
        resolve();
      };
      this.command.on('ready', done);
      this.command.on('end', done);
    });
  }

  close(): Promise<void> {
    return closeConnection(this.command);
  }
}

/** Per event, what the append scripts read of it: eventId, type, status, attempt, stepIndex, jsonHead, jsonTail. */
function pushEventArgs(args: (string | number)[], events: readonly PublishedEvent[]): void {
  for (const event of events) {
    const p = prepareEvent(event);
    args.push(p.eventId, p.type, p.status, p.attempt, p.stepIndex, p.head, p.tail);
  }
}

/** Whether the subject's terminal status event is among the events the store holds (stored now, or before: a duplicate). */
/** Whether the append stored the subject's terminal event, or answered it as a duplicate of the stored one. */
function terminalEventOf(events: readonly PublishedEvent[], outcomes: readonly AppendOutcome[]): 'stored' | 'repeated' | undefined {
  for (const [i, event] of events.entries()) {
    const outcome = outcomes[i];
    if (!outcome || !('seq' in outcome) || !isStatusEventType(event.type)) continue;
    const status = (event.data as { status?: unknown }).status;
    if (typeof status === 'string' && isTerminalStatus(status)) return outcome.duplicate ? 'repeated' : 'stored';
  }
  return undefined;
}

function parseSubjectMember(member: string): { kind: SubjectKind; id: string } {
  const colon = member.indexOf(':');
  return { kind: member.slice(0, colon) as SubjectKind, id: member.slice(colon + 1) };
}
