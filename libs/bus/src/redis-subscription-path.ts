import { randomBytes } from 'node:crypto';
import { BatchListener, Bus, ConnectionListener, StreamRef } from './bus';
import { streamKeys } from './keys';
import { BusLogger } from './logger';
import { SubscriberConnection, canaryChannelsOf, closeConnection, isCanaryChannel } from './redis-connections';
import { decodeBatchMessage } from './stored-frame';

export type ControlListener = (message: Buffer) => void;

/**
 * How long canaries may go unanswered over a subscription connection that looks up while the store
 * takes their publishes, before the connection is dropped and made again (a socket silenced by the
 * network keeps looking up until TCP gives up on it, which takes minutes).
 */
export const SILENT_PATH_RESET_MS = 5000;
/** The first and the longest wait before reconnecting after resubscribing failed. */
const RESUBSCRIBE_MIN_DELAY_MS = 100;
const RESUBSCRIBE_MAX_DELAY_MS = 5000;

/**
 * The store as the subscription path uses it: the readiness canary is published through it, and a
 * recovery waits for it, since every client catches up by reading history from it.
 */
export interface StoreLink {
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the store's connection is ready, or has ended for good. */
  untilReady(): Promise<void>;
}

/**
 * The subscription half of the Redis bus: one subscriber connection (a ClusterSubscriber on Redis
 * Cluster) with a sharded subscription (SSUBSCRIBE) per subject, each batch decoded once and handed
 * to its subject's listener, and the readiness canary. After a loss it resubscribes everything and
 * tells the connection listeners, which catch up from history (docs/architecture.md, rule 4).
 */
export class RedisSubscriptionPath implements Pick<Bus, 'subscribe' | 'unsubscribe' | 'subscriptionCount' | 'onConnection' | 'probe'> {
  private readonly listeners = new Map<string, BatchListener>();
  /** Channels of the replicas' shared state (revocations): subscribed for the path's whole life, not counted as subscriptions. */
  private readonly controlListeners = new Map<string, ControlListener>();
  private readonly connectionListeners: ConnectionListener[] = [];
  private readonly canaryId = randomBytes(6).toString('hex');
  private readonly canaryWaiters = new Map<string, () => void>();
  /** Every subscription, and the canary's, is in place on the current connection. */
  private up = false;
  /** The path was lost since it was last up: the next `ready` is a recovery. */
  private recovering = false;
  private closed = false;
  /** Resubscribing failed this many times in a row (the wait before the next try doubles). */
  private failedResubscribes = 0;
  private resubscribeTimer: NodeJS.Timeout | undefined;
  /** When the first of the canaries published but not received in a row failed (undefined: the last one came back). */
  private silentSince: number | undefined;

  constructor(
    private readonly subscriber: SubscriberConnection,
    private readonly store: StoreLink,
    private readonly logger: BusLogger,
    private readonly silentPathResetMs = SILENT_PATH_RESET_MS,
  ) {
    subscriber.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'redis subscriber connection error'));
    subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.dispatch(channel.toString(), message));
    subscriber.on('ready', () => void this.restoreSubscriptions());
    subscriber.on('close', () => this.markDown());
  }

  async subscribe(ref: StreamRef, listener: BatchListener): Promise<void> {
    const { channel } = streamKeys(ref);
    this.listeners.set(channel, listener);
    await this.subscriber.ssubscribe(channel);
  }

  async unsubscribe(ref: StreamRef): Promise<void> {
    const { channel } = streamKeys(ref);
    if (!this.listeners.delete(channel)) return;
    if (this.subscriber.status === 'ready') await this.subscriber.sunsubscribe(channel);
  }

  /** Hands every message of `channel` to `listener`, from now on and again after every reconnect. */
  subscribeControl(channel: string, listener: ControlListener): void {
    this.controlListeners.set(channel, listener);
    if (this.up) {
      this.subscriber.ssubscribe(channel).catch((error: Error) => {
        this.logger.warn({ err: error.message, channel }, 'subscribing a control channel failed; resetting the path');
        this.subscriber.disconnect(true);
      });
    }
  }

  subscriptionCount(): number {
    return this.listeners.size;
  }

  onConnection(listener: ConnectionListener): void {
    this.connectionListeners.push(listener);
  }

  /** Resolves once a canary published through the store came back over this path (on every shard). */
  async probe(timeoutMs: number): Promise<void> {
    const token = randomBytes(8).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    // One canary channel per shard (one on a single Redis): the token must come back on each.
    const channels = canaryChannelsOf(this.subscriber, this.canaryId);
    let missing = channels.length;
    const received = new Promise<void>((resolve, reject) => {
      this.canaryWaiters.set(token, () => --missing === 0 && resolve());
      timer = setTimeout(() => reject(new Error(`canary not received within ${timeoutMs} ms`)), timeoutMs);
    });
    let published = false;
    try {
      if (!this.up) throw new Error('the subscription connection is down');
      // Both at once: a store that stalls past the timeout must fail the probe, not leave the
      // timer's rejection unhandled while the publish is still waiting.
      const publishing = Promise.all(channels.map((channel) => this.store.publish(channel, token))).then(() => void (published = true));
      await Promise.all([publishing, received]);
      this.silentSince = undefined;
    } catch (error) {
      if (published && this.up) this.noteSilentPath();
      throw error;
    } finally {
      clearTimeout(timer);
      this.canaryWaiters.delete(token);
    }
  }

  /**
   * The store took the canary and the connection looks up, yet the canary did not come back. Past
   * `silentPathResetMs` of that the connection is dropped: it reconnects, and the recovery that
   * follows has every client catch up from history. A store that does not answer (frozen, down) is
   * not this: a new connection would not help it.
   */
  private noteSilentPath(): void {
    this.silentSince ??= Date.now();
    const silentForMs = Date.now() - this.silentSince;
    if (silentForMs < this.silentPathResetMs) return;
    this.silentSince = undefined;
    this.logger.warn({ silentForMs }, 'the subscription connection delivers nothing while the store answers: reconnecting it');
    this.subscriber.disconnect(true);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.resubscribeTimer);
    this.listeners.clear();
    this.controlListeners.clear();
    await closeConnection(this.subscriber);
  }

  private dispatch(channel: string, message: Buffer): void {
    if (isCanaryChannel(channel)) {
      this.canaryWaiters.get(message.toString())?.();
      return;
    }
    const control = this.controlListeners.get(channel);
    if (control) return control(message);
    const listener = this.listeners.get(channel);
    // Until a recovery is announced, a batch would show its client a gap that it could only fill from
    // a store that may not be back yet; the recovery's catch-up reads every such batch from history.
    if (!listener || this.recovering) return;
    const batch = decodeBatchMessage(message);
    if (!batch) {
      this.logger.warn({ channel }, 'dropped a malformed pub/sub message');
      return;
    }
    listener(batch);
  }

  private async restoreSubscriptions(): Promise<void> {
    try {
      await this.subscriber.ssubscribe(...canaryChannelsOf(this.subscriber, this.canaryId), ...this.controlListeners.keys(), ...this.listeners.keys());
    } catch (error) {
      if (this.closed) return;
      // A refusal that lasts (an ACL without the channels) must not become a reconnect loop: backoff.
      const retryInMs = Math.min(RESUBSCRIBE_MIN_DELAY_MS * 2 ** this.failedResubscribes, RESUBSCRIBE_MAX_DELAY_MS);
      this.failedResubscribes += 1;
      this.logger.warn({ err: (error as Error).message, retryInMs }, 'resubscribing failed; reconnecting');
      clearTimeout(this.resubscribeTimer);
      this.resubscribeTimer = setTimeout(() => {
        if (!this.closed) this.subscriber.disconnect(true);
      }, retryInMs).unref();
      return;
    }
    this.failedResubscribes = 0;
    this.up = true;
    if (!this.recovering) return;
    // Recovering means every client reads its history from the store: wait until it is back too.
    await this.store.untilReady();
    if (!this.up || !this.recovering || this.closed) return;
    this.recovering = false;
    this.logger.info({ subscriptions: this.listeners.size }, 'subscription path recovered');
    for (const listener of this.connectionListeners) listener('up');
  }

  private markDown(): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.recovering = true;
    this.logger.warn({ subscriptions: this.listeners.size }, 'subscription path down');
    for (const listener of this.connectionListeners) listener('down');
  }
}
