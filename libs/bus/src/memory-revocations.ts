import { Revocation } from '@fanout/contracts';
import { RevocationChange, RevocationListener, RevocationStore } from './bus';

/** Revocations of one process (`fanout dev` without Redis): kept until each expires, announced on a later turn as pub/sub would. */
export class MemoryRevocations implements RevocationStore {
  private readonly active = new Map<string, Revocation>();
  private readonly listeners: RevocationListener[] = [];
  private changes = 0;

  async addRevocation(revocation: Revocation, maxActive: number): Promise<boolean> {
    this.prune();
    if (this.active.size >= maxActive) return false;
    this.active.set(revocation.id, revocation);
    this.changes += 1;
    this.announce({ kind: 'added', revocation });
    return true;
  }

  async removeRevocation(id: string): Promise<boolean> {
    this.prune();
    if (!this.active.delete(id)) return false;
    this.changes += 1;
    this.announce({ kind: 'removed', id });
    return true;
  }

  async activeRevocations(): Promise<Revocation[]> {
    this.prune();
    return [...this.active.values()];
  }

  async revocationsVersion(): Promise<string> {
    return this.changes === 0 ? '' : String(this.changes);
  }

  onRevocationChange(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, revocation] of this.active) if (Date.parse(revocation.expiresAt) <= now) this.active.delete(id);
  }

  private announce(change: RevocationChange): void {
    setImmediate(() => {
      for (const listener of this.listeners) listener(change);
    });
  }
}
