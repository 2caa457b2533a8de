import { TenantSubject } from '@fanout/contracts';
import { Bus, LiveBatch, subjectKeyString } from '@fanout/bus';

/** A local client of a subject: told of every live batch, and when the bus path came back after a loss. */
export interface LiveClient {
  onBatch(batch: LiveBatch): void;
  onRecovered(): void;
}

interface Entry {
  subject: TenantSubject;
  clients: Set<LiveClient>;
  subscribed: Promise<void>;
}

export type BatchObserver = (batch: LiveBatch) => void;

/**
 * One bus subscription per subject per replica, shared by its local clients and dropped when the
 * last one leaves (DESIGN rule 3). When the bus path comes back after a loss, every client is told
 * to catch up from history (rule 4).
 */
export class SubscriptionManager {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly bus: Bus,
    private readonly observeBatch: BatchObserver = () => undefined,
  ) {
    bus.onConnection((event) => {
      if (event === 'up') this.recoverAll();
    });
  }

  /** Resolves once live batches of the subject reach `client`. */
  async join(subject: TenantSubject, client: LiveClient): Promise<void> {
    const key = subjectKeyString(subject);
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = { subject, clients: new Set(), subscribed: Promise.resolve() };
      created.subscribed = this.bus.subscribe(subject, (batch) => this.dispatch(created, batch));
      this.entries.set(key, created);
      entry = created;
    }
    entry.clients.add(client);
    try {
      await entry.subscribed;
    } catch (error) {
      this.leave(subject, client);
      throw error;
    }
  }

  leave(subject: TenantSubject, client: LiveClient): void {
    const key = subjectKeyString(subject);
    const entry = this.entries.get(key);
    if (!entry || !entry.clients.delete(client) || entry.clients.size > 0) return;
    this.entries.delete(key);
    void this.bus.unsubscribe(subject).catch(() => undefined);
  }

  get subjectCount(): number {
    return this.entries.size;
  }

  private dispatch(entry: Entry, batch: LiveBatch): void {
    for (const client of entry.clients) client.onBatch(batch);
    this.observeBatch(batch);
  }

  private recoverAll(): void {
    for (const entry of this.entries.values()) {
      for (const client of entry.clients) client.onRecovered();
    }
  }
}
