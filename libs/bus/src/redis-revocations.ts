import { Revocation, RevocationSchema } from '@fanout/contracts';
import { RevocationChange, RevocationListener, RevocationStore } from './bus';
import { REVOCATION_KEYS } from './keys';
import { BusLogger } from './logger';
import { CommandConnection } from './redis-connections';
import { STORE_CUTOFF_MARGIN_MS } from './redis-store';
import { RedisSubscriptionPath } from './redis-subscription-path';
import { newEpoch } from './stored-frame';

type RevocationScripts = CommandConnection & {
  fanoutAddRevocation(
    all: string,
    expiry: string,
    version: string,
    id: string,
    json: string,
    expiresAtMs: number,
    maxActive: number,
    channel: string,
    announcement: string,
    versionEpochCandidate: string,
    storeBy: number,
  ): Promise<0 | 1>;
  fanoutRemoveRevocation(all: string, expiry: string, version: string, id: string, channel: string, announcement: string, versionEpochCandidate: string, storeBy: number): Promise<0 | 1>;
};

/**
 * Revocations in Redis: a hash, an expiry index and a version on one slot, changed by
 * lua/add-revocation-3.lua and lua/remove-revocation-3.lua, which announce each change on a sharded
 * channel of that slot (so it works alike on one Redis, Sentinel and Cluster).
 */
export class RedisRevocations implements RevocationStore {
  private readonly command: RevocationScripts;
  private readonly listeners: RevocationListener[] = [];

  /**
   * The scripts are defined on `command` by RedisStore. A change Redis gets to only after the
   * command's timeout (a stalled Redis) changes nothing: its caller was answered 503 by then.
   */
  constructor(
    command: CommandConnection,
    subscriptions: Pick<RedisSubscriptionPath, 'subscribeControl'>,
    private readonly logger: BusLogger,
    private readonly commandTimeoutMs: number,
  ) {
    this.command = command as RevocationScripts;
    subscriptions.subscribeControl(REVOCATION_KEYS.channel, (message) => this.announced(message));
  }

  async addRevocation(revocation: Revocation, maxActive: number): Promise<boolean> {
    const change: RevocationChange = { kind: 'added', revocation };
    const { all, expiry, version, channel } = REVOCATION_KEYS;
    const stored = await this.command.fanoutAddRevocation(
      all,
      expiry,
      version,
      revocation.id,
      JSON.stringify(revocation),
      Date.parse(revocation.expiresAt),
      maxActive,
      channel,
      JSON.stringify(change),
      newEpoch(),
      this.storeBy(),
    );
    return stored === 1;
  }

  async removeRevocation(id: string): Promise<boolean> {
    const change: RevocationChange = { kind: 'removed', id };
    const { all, expiry, version, channel } = REVOCATION_KEYS;
    return (await this.command.fanoutRemoveRevocation(all, expiry, version, id, channel, JSON.stringify(change), newEpoch(), this.storeBy())) === 1;
  }

  private storeBy(): number {
    return Date.now() + this.commandTimeoutMs - STORE_CUTOFF_MARGIN_MS;
  }

  async revocationsVersion(): Promise<string> {
    return (await this.command.get(REVOCATION_KEYS.version)) ?? '';
  }

  async activeRevocations(): Promise<Revocation[]> {
    const stored = await this.command.hgetall(REVOCATION_KEYS.all);
    const now = Date.now();
    return Object.values(stored)
      .flatMap((json) => {
        const parsed = RevocationSchema.safeParse(parseJson(json));
        return parsed.success ? [parsed.data] : [];
      })
      .filter((revocation) => Date.parse(revocation.expiresAt) > now)
      .sort((a, b) => Date.parse(a.expiresAt) - Date.parse(b.expiresAt));
  }

  onRevocationChange(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  private announced(message: Buffer): void {
    const change = parseChange(message.toString());
    if (!change) {
      this.logger.warn({ channel: REVOCATION_KEYS.channel }, 'dropped a malformed revocation announcement');
      return;
    }
    for (const listener of this.listeners) listener(change);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseChange(text: string): RevocationChange | undefined {
  const value = parseJson(text) as { kind?: unknown; id?: unknown; revocation?: unknown } | undefined;
  if (value?.kind === 'removed' && typeof value.id === 'string') return { kind: 'removed', id: value.id };
  if (value?.kind !== 'added') return undefined;
  const parsed = RevocationSchema.safeParse(value.revocation);
  return parsed.success ? { kind: 'added', revocation: parsed.data } : undefined;
}
