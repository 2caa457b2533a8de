import { EventEmitter } from 'node:events';
import Redis, { Cluster, RedisOptions } from 'ioredis';
import { keySlot, tagForSlot } from './key-slot';
import { BusLogger, silentLogger } from './logger';

/** How long a recovery waits for every master's connection before it asks the cluster again. */
const LINKS_READY_TIMEOUT_MS = 1000;
/** An SSUBSCRIBE or SUNSUBSCRIBE that has not been answered by then counts as a loss. */
const COMMAND_TIMEOUT_MS = 5000;

/** A master's node key (`host:port`) per slot; undefined where the cluster names no master. */
type SlotOwners = (string | undefined)[];

interface SubscribedSlot {
  node: string;
  channels: Set<string>;
}

/**
 * Sharded pub/sub over a Redis Cluster that behaves like one subscriber connection: it emits
 * `ready` when every master has a connection (and holds no subscription yet), `close` when the path
 * is lost, and `smessageBuffer` for every message, so RedisSubscriptionPath treats it exactly as it
 * treats its single-node subscriber connection: resubscribe everything on `ready`, catch up from
 * history.
 *
 * One connection per master sends the SSUBSCRIBEs of the slots it owns (the channels of one
 * SSUBSCRIBE must share a slot). The topology comes from an ioredis Cluster that sends no commands.
 *
 * Anything that can cost a message counts as a loss of the whole path: a master's connection
 * closing, a MOVED answer to an SSUBSCRIBE, a slot of a subscribed channel changing owner (seen on
 * a slots refresh, or when a node drops our subscriptions as its slots leave: Redis 7 then pushes
 * SUNSUBSCRIBE, which ioredis reports as a "Command queue state error"), or the set of masters
 * changing. A loss resets every connection, so after `ready` nothing is subscribed anywhere and
 * nothing stale lingers, just as after a single connection's reconnect.
 *
 * Why not ioredis's own `shardedSubscribers`: it resubscribes without telling when that is done
 * (so nobody knows when to catch up from history), it does not notice a server-side SUNSUBSCRIBE,
 * and a MOVED answer to SSUBSCRIBE leaves the command unanswered.
 */
export class ClusterSubscriber extends EventEmitter {
  /** `ready` while every master has a connection and no loss happened since; RedisSubscriptionPath reads it. */
  status: 'connecting' | 'ready' | 'down' | 'end' = 'connecting';
  private readonly links = new Map<string, Redis>();
  /** The slot owners the path routes SSUBSCRIBEs by. */
  private owners: SlotOwners = [];
  /** A slot of each master when the path was made ready: where the canaries go. */
  private canarySlots: number[] = [];
  private readonly subscribed = new Map<number, SubscribedSlot>();
  /** Rejects every command in flight when the path is lost (a MOVED SSUBSCRIBE is never answered). */
  private readonly pending = new Set<(error: Error) => void>();
  private recovering = false;

  constructor(
    private readonly topology: Cluster,
    private readonly linkOptions: RedisOptions,
    private readonly logger: BusLogger = silentLogger,
  ) {
    super();
    topology.on('error', (error: Error) => this.emit('error', error));
    topology.on('refresh', () => this.checkTopology());
    // The topology's first slots were fetched just before its `ready`: no need to ask again.
    topology.once('ready', () => void this.recover(true));
  }

  /** One canary channel per master, named after `id`: a probe through all of them proves every shard's path. */
  canaryChannels(prefix: string): string[] {
    return this.canarySlots.map((slot) => `${prefix}:{${tagForSlot(slot)}}`);
  }

  async ssubscribe(...channels: string[]): Promise<number> {
    if (this.status !== 'ready') throw new Error('the cluster subscription path is down');
    await Promise.all([...groupBySlot(channels)].map(([slot, group]) => this.subscribeSlot(slot, group)));
    return channels.length;
  }

  async sunsubscribe(...channels: string[]): Promise<number> {
    await Promise.all(
      [...groupBySlot(channels)].map(async ([slot, group]) => {
        const entry = this.subscribed.get(slot);
        if (!entry) return;
        for (const channel of group) entry.channels.delete(channel);
        if (entry.channels.size === 0) this.subscribed.delete(slot);
        const link = this.links.get(entry.node);
        if (link?.status === 'ready') await this.settled(link.sunsubscribe(...group)).catch(() => undefined);
      }),
    );
    return channels.length;
  }

  /** Drops the path; with `reconnect`, builds it again (RedisSubscriptionPath does this when resubscribing failed). */
  disconnect(reconnect = false): void {
    if (reconnect) {
      this.lose(undefined, 'reset requested');
      return;
    }
    this.end();
    this.topology.disconnect();
  }

  async quit(): Promise<void> {
    const links = [...this.links.values()];
    this.end();
    await Promise.allSettled([...links.map((link) => link.quit()), this.topology.quit()]);
  }

  private end(): void {
    const wasReady = this.status === 'ready';
    this.status = 'end';
    this.rejectPending(new Error('the cluster subscription path was closed'));
    this.dropLinks();
    if (wasReady) this.emit('close');
  }

  private async subscribeSlot(slot: number, channels: string[]): Promise<void> {
    const node = this.owners[slot];
    const link = node === undefined ? undefined : this.links.get(node);
    if (node === undefined || link?.status !== 'ready') {
      const reason = node === undefined ? `no master serves slot ${slot}` : `no connection to ${node}, the master of slot ${slot}`;
      this.lose(undefined, reason);
      throw new Error(reason);
    }
    await this.settled(link.ssubscribe(...channels));
    let entry = this.subscribed.get(slot);
    if (!entry) {
      entry = { node, channels: new Set() };
      this.subscribed.set(slot, entry);
    }
    for (const channel of channels) entry.channels.add(channel);
  }

  /** `command`, or a rejection when the path is lost first or it takes too long. */
  private settled<T>(command: Promise<T>): Promise<T> {
    let reject!: (error: Error) => void;
    const lost = new Promise<never>((_, r) => (reject = r));
    this.pending.add(reject);
    const timer = setTimeout(() => reject(new Error(`no answer within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
    return Promise.race([command, lost]).finally(() => {
      clearTimeout(timer);
      this.pending.delete(reject);
    });
  }

  private rejectPending(error: Error): void {
    for (const reject of this.pending) reject(error);
    this.pending.clear();
  }

  /** A loss of the path (or of a part of it): reset everything once, then build it again. */
  private lose(link: Redis | undefined, reason: string): void {
    if (this.status === 'end') return;
    if (link && [...this.links.values()].indexOf(link) < 0) return; // an old connection, already dropped
    this.rejectPending(new Error(`the cluster subscription path was lost: ${reason}`));
    if (this.status === 'ready') {
      this.status = 'down';
      this.logger.warn({ reason }, 'cluster subscription path lost');
      this.subscribed.clear();
      this.dropLinks();
      this.emit('close');
    }
    void this.recover();
  }

  /** Until the path is ready: ask the cluster for its slots, connect to every master, wait for them. */
  private async recover(slotsAreFresh = false): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    try {
      for (let attempt = 1; this.needsRecovery(); attempt++) {
        const owners = attempt === 1 && slotsAreFresh ? this.currentOwners() : await this.freshOwners();
        if (owners && this.needsRecovery()) {
          this.connectLinks(owners);
          if ((await this.linksReady()) && sameMasters(owners, this.currentOwners())) {
            if (!this.needsRecovery()) return;
            this.owners = this.currentOwners();
            this.canarySlots = firstSlotOfEachMaster(this.owners);
            this.subscribed.clear();
            this.status = 'ready';
            this.emit('ready');
            return;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
      }
    } finally {
      this.recovering = false;
    }
  }

  private needsRecovery(): boolean {
    return this.status === 'connecting' || this.status === 'down';
  }

  private currentOwners(): SlotOwners {
    return Array.from({ length: 16384 }, (_, slot) => this.topology.slots[slot]?.[0]);
  }

  private freshOwners(): Promise<SlotOwners | undefined> {
    return new Promise((resolve) => {
      if (this.topology.status !== 'ready') {
        resolve(undefined);
        return;
      }
      this.topology.refreshSlotsCache((error) => resolve(error ? undefined : this.currentOwners()));
    });
  }

  /** A connection per master of `owners`; connections to nodes that are no masters any more are dropped. */
  private connectLinks(owners: SlotOwners): void {
    const masters = new Set(owners.filter((node): node is string => node !== undefined));
    for (const [node, link] of this.links) {
      if (!masters.has(node)) {
        this.links.delete(node);
        retire(link);
      }
    }
    for (const node of masters) if (!this.links.has(node)) this.links.set(node, this.connect(node));
  }

  private connect(node: string): Redis {
    const colon = node.lastIndexOf(':');
    const link = new Redis({
      ...this.linkOptions,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      connectionName: 'fanout-ssubscriber',
      lazyConnect: false,
      autoResubscribe: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    });
    link.on('smessageBuffer', (channel: Buffer, message: Buffer) => {
      if (this.status === 'ready' && this.links.get(node) === link) this.emit('smessageBuffer', channel, message);
    });
    link.on('close', () => this.lose(link, `lost the connection to ${node}`));
    link.on('moved', () => this.lose(link, `${node} answered MOVED to SSUBSCRIBE`));
    link.on('error', (error: Error) => {
      // Redis pushes SUNSUBSCRIBE when a slot leaves the node; ioredis has no command to match it with.
      if (error.message.includes('Command queue state error')) this.lose(link, `${node} dropped subscriptions (a slot moved away)`);
      else this.emit('error', error);
    });
    return link;
  }

  /** Resolves true once every master's connection is ready, false after LINKS_READY_TIMEOUT_MS. */
  private linksReady(): Promise<boolean> {
    const links = [...this.links.values()];
    const allReady = (): boolean => this.status !== 'end' && links.every((link) => link.status === 'ready');
    if (allReady()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const link of links) link.off('ready', check);
        resolve(allReady());
      };
      const check = (): void => {
        if (allReady()) done();
      };
      const timer = setTimeout(done, LINKS_READY_TIMEOUT_MS);
      for (const link of links) link.on('ready', check);
    });
  }

  /** On every slots refresh: a subscribed slot with a new owner, or another set of masters, is a loss. */
  private checkTopology(): void {
    if (this.status !== 'ready') return;
    const owners = this.currentOwners();
    if (!sameMasters(owners, this.owners)) {
      this.lose(undefined, 'the set of masters changed');
      return;
    }
    for (const [slot, entry] of this.subscribed) {
      if (owners[slot] !== entry.node) {
        this.lose(undefined, `slot ${slot} moved from ${entry.node} to ${owners[slot] ?? 'no master'}`);
        return;
      }
    }
    // Slots nobody here subscribes to may move freely: later SSUBSCRIBEs go to their new owners.
    this.owners = owners;
  }

  private dropLinks(): void {
    for (const link of this.links.values()) retire(link);
    this.links.clear();
  }
}

/** Ends a connection whose events no longer matter (an error listener stays: ioredis may still emit one). */
function retire(link: Redis): void {
  link.removeAllListeners();
  link.on('error', () => undefined);
  link.disconnect();
}

function groupBySlot(channels: string[]): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const channel of channels) {
    const slot = keySlot(channel);
    const group = groups.get(slot);
    if (group) group.push(channel);
    else groups.set(slot, [channel]);
  }
  return groups;
}

function firstSlotOfEachMaster(owners: SlotOwners): number[] {
  const first = new Map<string, number>();
  owners.forEach((node, slot) => {
    if (node !== undefined && !first.has(node)) first.set(node, slot);
  });
  return [...first.values()];
}

function sameMasters(a: SlotOwners, b: SlotOwners): boolean {
  const masters = (owners: SlotOwners) => [...new Set(owners.filter((n) => n !== undefined))].sort().join(',');
  return masters(a) === masters(b);
}
