import { Bus, LiveBatch, StreamRef, subjectKeyString } from '@fanout/bus';

/** A local client of a subject: told of every live batch, and when the bus path came back after a loss. */
export interface LiveClient {
  onBatch(batch: LiveBatch): void;
  onRecovered(): void;
}

interface Entry {
  ref: StreamRef;
  clients: Set<LiveClient>;
  subscribed: Promise<void>;
}

export type BatchObserver = (batch: LiveBatch) => void;

/**
 * One bus subscription per subject per replica, shared by its local clients and dropped when the
 * last one leaves (DESIGN rule 3). When the bus path comes back after a loss, `recoverAll` tells
 * every client to catch up from history (rule 4).
 */
export class SubscriptionManager {
  private readonly entries = new Map<string, Entry>();
  private joins = 0;

  constructor(
    private readonly bus: Bus,
    private readonly observeBatch: BatchObserver = () => undefined,
  ) {}

  /**
   * A counter of joins: a history read issued at `now()` ≥ a client's join ticket was issued after
   * that client began receiving live batches, so read + buffered batches leave no gap for it.
   */
  now(): number {
    return this.joins;
  }

  /** Resolves, with the client's join ticket, once live batches of the subject reach `client`. */
  async join(ref: StreamRef, client: LiveClient): Promise<number> {
    const ticket = ++this.joins;
    const key = subjectKeyString(ref);
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = { ref, clients: new Set(), subscribed: Promise.resolve() };
      created.subscribed = this.bus.subscribe(ref, (batch) => this.dispatch(created, batch));
      this.entries.set(key, created);
      entry = created;
    }
    entry.clients.add(client);
    try {
      await entry.subscribed;
    } catch (error) {
      this.leave(ref, client);
      throw error;
    }
    return ticket;
  }

  leave(ref: StreamRef, client: LiveClient): void {
    const key = subjectKeyString(ref);
    const entry = this.entries.get(key);
    if (!entry || !entry.clients.delete(client) || entry.clients.size > 0) return;
    this.entries.delete(key);
    void this.bus.unsubscribe(ref).catch(() => undefined);
  }

  get subjectCount(): number {
    return this.entries.size;
  }

  private dispatch(entry: Entry, batch: LiveBatch): void {
    for (const client of entry.clients) client.onBatch(batch);
    this.observeBatch(batch);
  }

  /** The bus path came back after a loss: every client catches up from history. */
  recoverAll(): void {
    for (const entry of this.entries.values()) {
      for (const client of entry.clients) client.onRecovered();
    }
  }
}
