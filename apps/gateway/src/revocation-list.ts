import { Revocation } from '@fanout/contracts';
import { Bus, RevocationChange, RevocationStore } from '@fanout/bus';
import { HttpProblem, INVALID_TOKEN, Principal, PrincipalCheck } from '@fanout/http';
import { Logger } from '@fanout/observability';

/**
 * A replica looks at the revocations' version this often, and reloads them all when it changed, so
 * an announcement it missed heals.
 */
export const REVOCATION_RELOAD_MS = 5000;
/** How long a request waits for the first load before it is answered 503 (the store is away at start). */
const FIRST_LOAD_WAIT_MS = 2000;
const FIRST_LOAD_RETRY_MS = 100;

/** Revocation value → the latest expiry (epoch ms) among the active revocations naming it. */
type ExpiryIndex = Map<string, number>;

/**
 * This replica's copy of the active revocations: loaded at start, kept current by the bus's
 * announcements and reloaded when their version changed (looked at periodically) and after the
 * subscription path came back, so a change is known within a second and a missed one within
 * REVOCATION_RELOAD_MS; 10,000 revocations cost a replica one small read per period, not a reload of
 * them all. The `onChange` listeners
 * (the gateway ends the open streams the list now refuses) are told after each.
 */
export class RevocationList {
  private revocations = new Map<string, Revocation>();
  private byTokenId: ExpiryIndex = new Map();
  private bySubject: ExpiryIndex = new Map();
  private byTenant: ExpiryIndex = new Map();
  private loaded = false;
  /** The store's version of what was loaded last. */
  private version: string | undefined;
  private firstLoad: Promise<void>;
  private markLoaded!: () => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly changeListeners: (() => void)[] = [];
  /**
   * While a reload is in flight: the changes applied meanwhile, applied again over its answer (which
   * may have been read before them, while their announcement arrived first on the other connection).
   */
  private changesDuringReload: RevocationChange[] | undefined;

  constructor(
    private readonly bus: RevocationStore & Pick<Bus, 'onConnection'>,
    private readonly logger: Logger,
  ) {
    this.firstLoad = new Promise((resolve) => (this.markLoaded = resolve));
    bus.onRevocationChange((change) => this.apply(change));
    bus.onConnection((event) => {
      if (event === 'up') void this.reload();
    });
  }

  /** Loads now, then looks again every REVOCATION_RELOAD_MS. */
  start(): void {
    void this.reload();
    this.timer = setInterval(() => void this.reload({ unlessUnchanged: true }), REVOCATION_RELOAD_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  get size(): number {
    return this.revocations.size;
  }

  /** Whether an active revocation names the principal's token id, subject or tenant. */
  refuses(principal: Principal, now = Date.now()): boolean {
    const named = (index: ExpiryIndex, value: string | undefined) => value !== undefined && (index.get(value) ?? 0) > now;
    return named(this.byTokenId, principal.tokenId) || named(this.bySubject, principal.subject) || named(this.byTenant, principal.tenant);
  }

  /** The revocations were loaded once (from then on the list is current). */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Resolves once the revocations were loaded; throws 503 if that takes longer than FIRST_LOAD_WAIT_MS. */
  async untilLoaded(): Promise<void> {
    if (this.loaded) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HttpProblem(503, 'the revocations could not be loaded from the store yet', {}, { 'Retry-After': '1' })), FIRST_LOAD_WAIT_MS);
    });
    await Promise.race([this.firstLoad, late]).finally(() => clearTimeout(timer));
  }

  /** A change this replica made or was told of (applying one twice is harmless). */
  apply(change: RevocationChange): void {
    this.changesDuringReload?.push(change);
    this.applyOne(change);
    this.reindex();
  }

  private applyOne(change: RevocationChange): void {
    if (change.kind === 'added') this.revocations.set(change.revocation.id, change.revocation);
    else this.revocations.delete(change.id);
  }

  /** `unlessUnchanged`: only when the store's version is not the one loaded last. */
  private async reload(options: { unlessUnchanged?: boolean } = {}): Promise<void> {
    if (this.changesDuringReload) return;
    const changes: RevocationChange[] = [];
    this.changesDuringReload = changes;
    try {
      // Read before the revocations: a change between the two reads makes the next look reload again.
      const version = await this.bus.revocationsVersion();
      if (options.unlessUnchanged && this.loaded && version === this.version) return;
      const active = await this.bus.activeRevocations();
      this.version = version;
      this.revocations = new Map(active.map((revocation) => [revocation.id, revocation]));
      for (const change of changes) this.applyOne(change);
      this.reindex();
      if (!this.loaded) {
        this.loaded = true;
        this.markLoaded();
      }
    } catch (error) {
      if (this.loaded) {
        this.logger.warn({ err: (error as Error).message }, 'reloading the revocations failed; keeping the last ones known');
        return;
      }
      // The store is not connected yet (at start): requests wait for this load, so try again soon.
      this.logger.debug({ err: (error as Error).message }, 'loading the revocations failed; trying again');
      setTimeout(() => void this.reload(), FIRST_LOAD_RETRY_MS).unref();
    } finally {
      this.changesDuringReload = undefined;
    }
  }

  private reindex(): void {
    const now = Date.now();
    const byTokenId: ExpiryIndex = new Map();
    const bySubject: ExpiryIndex = new Map();
    const byTenant: ExpiryIndex = new Map();
    for (const [id, revocation] of this.revocations) {
      const expiresAt = Date.parse(revocation.expiresAt);
      if (expiresAt <= now) {
        this.revocations.delete(id);
        continue;
      }
      const note = (index: ExpiryIndex, value: string | undefined) => {
        if (value !== undefined) index.set(value, Math.max(index.get(value) ?? 0, expiresAt));
      };
      note(byTokenId, revocation.jti);
      note(bySubject, revocation.sub);
      note(byTenant, revocation.tenant);
    }
    this.byTokenId = byTokenId;
    this.bySubject = bySubject;
    this.byTenant = byTenant;
    // Nothing active refuses nothing: no open stream to visit.
    if (this.revocations.size > 0) for (const listener of this.changeListeners) listener();
  }
}

/** A 401 for a principal an active revocation names (once the revocations are loaded), for createAuthenticator. */
export function refuseRevoked(revocations: RevocationList): PrincipalCheck {
  const refuse = (principal: Principal): void => {
    if (revocations.refuses(principal)) throw revokedProblem();
  };
  // Only at start does it wait: no extra turn per request once the revocations are loaded.
  return (principal) => (revocations.isLoaded ? refuse(principal) : revocations.untilLoaded().then(() => refuse(principal)));
}

export function revokedProblem(): HttpProblem {
  return new HttpProblem(401, 'the token was revoked', {}, INVALID_TOKEN);
}
