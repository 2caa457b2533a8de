import Redis, { RedisOptions } from 'ioredis';
import { PublishedEvent, Revocation, SubjectKind, TenantSubject } from '@fanout/contracts';
import {
  AppendOutcome,
  BatchListener,
  Bus,
  ConnectionListener,
  HistoryEntry,
  RevocationListener,
  StreamRef,
  SubjectInfo,
  SubjectSummary,
  WatcherCount,
} from './bus';
import { ArchiveQueue } from './archive-queue';
import { silentLogger } from './logger';
import { RedisArchiveQueue } from './redis-archive-queue';
import { RedisSentinelTarget, createCommandConnection, createSubscriberConnection, redisTargetOf } from './redis-connections';
import { RedisRevocations } from './redis-revocations';
import { RedisStore, RedisStoreOptions } from './redis-store';
import { RedisSubscriptionPath } from './redis-subscription-path';
import { RedisWatchers } from './redis-watchers';
import { assertOnTheMaster } from './sentinel-guard';

export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
export const DEFAULT_AUTO_PIPELINING = true;

export interface RedisBusOptions extends RedisStoreOptions {
  /** `redis://host:port/db`, or `redis+cluster://host:port,host:port` for Redis Cluster. */
  url?: string;
  /** Redis Cluster startup nodes (`host:port`); selects Redis Cluster. */
  clusterNodes?: string[];
  /** A Sentinel-managed master; selects Redis Sentinel. */
  sentinel?: RedisSentinelTarget;
  /** Commands fail after this long rather than queue (an append with a deadline gives up at its deadline). @default {@link DEFAULT_COMMAND_TIMEOUT_MS} */
  commandTimeoutMs?: number;
  /**
   * Commands issued in one turn share one write (ioredis auto-pipelining; single Redis only).
   * Worth it for a publisher, whose appends from many requests arrive together; a gateway's reads
   * come one connection at a time, where the pipeline's bookkeeping only costs memory.
   * @default {@link DEFAULT_AUTO_PIPELINING}
   */
  autoPipelining?: boolean;
  /** Appends mark finished subjects for the archive ({@link archiveQueue}). @default false */
  archive?: boolean;
}

/** Both connections: reconnect quickly, and fail a command while Redis is away rather than queue it. */
const CONNECTION_BASE: RedisOptions = {
  lazyConnect: false,
  connectionName: 'fanout',
  retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
};

/**
 * The Redis bus: a {@link RedisStore} on the command connection (atomic appends by Lua script, a
 * Stream per subject for replay) and a {@link RedisSubscriptionPath} on the subscriber connection
 * (sharded pub/sub on a channel that shares the subject's hash tag, the canary, recovery).
 */
export class RedisBus implements Bus {
  private readonly store: RedisStore;
  private readonly subscriptions: RedisSubscriptionPath;
  /** The archive's pending set, on the command connection. */
  readonly archiveQueue: ArchiveQueue;
  private readonly revocations: RedisRevocations;
  private readonly watchers: RedisWatchers;
  /** On a Sentinel-managed master: both connections on the master, checked with every probe. */
  private readonly masterCheck?: () => Promise<void>;

  constructor(options: RedisBusOptions) {
    const logger = options.logger ?? silentLogger;
    const target = redisTargetOf(options);
    const command = createCommandConnection(target, {
      ...CONNECTION_BASE,
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      enableAutoPipelining: options.autoPipelining ?? DEFAULT_AUTO_PIPELINING,
    });
    this.archiveQueue = new RedisArchiveQueue(command);
    this.store = new RedisStore(command, { ...options, archiveQueue: options.archive ? this.archiveQueue : undefined });
    const subscriber = createSubscriberConnection(target, { ...CONNECTION_BASE, autoResubscribe: false, enableOfflineQueue: true }, logger);
    this.subscriptions = new RedisSubscriptionPath(subscriber, this.store, logger);
    this.revocations = new RedisRevocations(command, this.subscriptions, logger, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    this.watchers = new RedisWatchers(command);
    if (target.kind === 'sentinel') this.masterCheck = () => assertOnTheMaster(command as Redis, subscriber as Redis);
  }

  append(subject: TenantSubject, events: readonly PublishedEvent[], deadline?: number): Promise<AppendOutcome[]> {
    return this.store.append(subject, events, deadline);
  }

  info(ref: StreamRef): Promise<SubjectInfo | null> {
    return this.store.info(ref);
  }

  history(ref: StreamRef, afterSeq: number, limit: number): Promise<HistoryEntry[]> {
    return this.store.history(ref, afterSeq, limit);
  }

  latestStateEntries(subject: TenantSubject, beforeSeq: number): Promise<HistoryEntry[]> {
    return this.store.latestStateEntries(subject, beforeSeq);
  }

  recentSubjects(tenant: string, kind: SubjectKind | undefined, limit: number): Promise<SubjectSummary[]> {
    return this.store.recentSubjects(tenant, kind, limit);
  }

  subscribe(ref: StreamRef, listener: BatchListener): Promise<void> {
    return this.subscriptions.subscribe(ref, listener);
  }

  unsubscribe(ref: StreamRef): Promise<void> {
    return this.subscriptions.unsubscribe(ref);
  }

  subscriptionCount(): number {
    return this.subscriptions.subscriptionCount();
  }

  addRevocation(revocation: Revocation, maxActive: number): Promise<boolean> {
    return this.revocations.addRevocation(revocation, maxActive);
  }

  removeRevocation(id: string): Promise<boolean> {
    return this.revocations.removeRevocation(id);
  }

  activeRevocations(): Promise<Revocation[]> {
    return this.revocations.activeRevocations();
  }

  revocationsVersion(): Promise<string> {
    return this.revocations.revocationsVersion();
  }

  onRevocationChange(listener: RevocationListener): void {
    this.revocations.onRevocationChange(listener);
  }

  reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void> {
    return this.watchers.reportWatchers(replicaId, changed, liveForMs);
  }

  retireReplica(replicaId: string): Promise<void> {
    return this.watchers.retireReplica(replicaId);
  }

  watcherCount(subject: TenantSubject): Promise<number> {
    return this.watchers.watcherCount(subject);
  }

  onConnection(listener: ConnectionListener): void {
    this.subscriptions.onConnection(listener);
  }

  async probe(timeoutMs: number): Promise<void> {
    this.store.assertDatabaseAccepted();
    await this.masterCheck?.();
    await this.subscriptions.probe(timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.subscriptions.close(), this.store.close()]);
  }
}
