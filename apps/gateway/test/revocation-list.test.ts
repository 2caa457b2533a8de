/**
 * RevocationList, the replica's copy of the active revocations: what it refuses (by token id, subject
 * or tenant, until each expires), and that a change it was told of while a reload was in flight
 * survives that reload's answer (read before the change, answered after its announcement). The store
 * is a stand-in whose answers the test releases: this is the list's own logic.
 */
import { Revocation } from '@fanout/contracts';
import { ConnectionListener, RevocationListener, RevocationStore } from '@fanout/bus';
import { createLogger } from '@fanout/observability';
import { REVOCATION_RELOAD_MS, RevocationList } from '../src/revocation-list';

class HeldStore implements RevocationStore {
  readonly answers: ((revocations: Revocation[]) => void)[] = [];
  listener: RevocationListener = () => undefined;
  version = '';
  versionReads = 0;
  addRevocation = async () => true;
  removeRevocation = async () => true;
  async revocationsVersion(): Promise<string> {
    this.versionReads += 1;
    return this.version;
  }
  activeRevocations(): Promise<Revocation[]> {
    return new Promise((resolve) => this.answers.push(resolve));
  }
  onRevocationChange(listener: RevocationListener): void {
    this.listener = listener;
  }
  onConnection(_listener: ConnectionListener): void {
    // The tests drive reloads themselves.
  }
}

/** Lets the list's awaits on the store's answers run. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const inAMinute = () => new Date(Date.now() + 60_000).toISOString();
const revocation = (fields: Partial<Revocation>): Revocation => ({ id: `r-${Math.random()}`, expiresAt: inAMinute(), createdAt: new Date().toISOString(), ...fields });
const principal = (fields: { tenant?: string; tokenId?: string; subject?: string }) => ({ tenant: 'acme', fromToken: true, ...fields });

let store: HeldStore;
let list: RevocationList;

beforeEach(() => {
  store = new HeldStore();
  list = new RevocationList(store, createLogger({ level: 'silent', name: 'test' }));
});

afterEach(() => list.stop());

test('refuses what an active revocation names, by jti, sub or tenant, and nothing once it expired or was lifted', async () => {
  list.start();
  await settle();
  store.answers.shift()!([revocation({ jti: 'j1' }), revocation({ sub: 'u1' }), revocation({ tenant: 'gone' })]);
  await list.untilLoaded();
  expect(list.refuses(principal({ tokenId: 'j1' }))).toBe(true);
  expect(list.refuses(principal({ subject: 'u1', tenant: 'other' }))).toBe(true);
  expect(list.refuses(principal({ tenant: 'gone' }))).toBe(true);
  expect(list.refuses(principal({ tokenId: 'j2', subject: 'u2' }))).toBe(false);
  expect(list.refuses(principal({ tokenId: 'j1' }), Date.now() + 120_000)).toBe(false);

  const lifted = revocation({ jti: 'j3' });
  list.apply({ kind: 'added', revocation: lifted });
  expect(list.refuses(principal({ tokenId: 'j3' }))).toBe(true);
  list.apply({ kind: 'removed', id: lifted.id });
  expect(list.refuses(principal({ tokenId: 'j3' }))).toBe(false);
});

test('a change told while a reload is in flight outlives the reload\'s older answer', async () => {
  list.start();
  await settle();
  expect(store.answers).toHaveLength(1);
  const announced = revocation({ jti: 'late' });
  store.listener({ kind: 'added', revocation: announced });
  store.answers.shift()!([]);
  await list.untilLoaded();
  expect(list.refuses(principal({ tokenId: 'late' }))).toBe(true);
});

test('every change tells the listeners, which end the streams it now refuses', async () => {
  const told: number[] = [];
  list.onChange(() => told.push(list.size));
  list.start();
  await settle();
  store.answers.shift()!([]);
  await list.untilLoaded();
  list.apply({ kind: 'added', revocation: revocation({ tenant: 'x' }) });
  expect(told).toEqual([1]);
});

test('every REVOCATION_RELOAD_MS it reads the store\'s version, and reloads them all only when that changed', async () => {
  jest.useFakeTimers();
  try {
    list.start();
    await settle();
    store.answers.shift()!([]);
    await list.untilLoaded();
    expect(store.versionReads).toBe(1);

    jest.advanceTimersByTime(REVOCATION_RELOAD_MS);
    await settle();
    expect({ versionReads: store.versionReads, reloads: store.answers.length }).toEqual({ versionReads: 2, reloads: 0 });

    // A change whose announcement this replica missed.
    store.version = 'e1:1';
    jest.advanceTimersByTime(REVOCATION_RELOAD_MS);
    await settle();
    expect(store.answers).toHaveLength(1);
    store.answers.shift()!([revocation({ jti: 'missed' })]);
    await settle();
    expect(list.refuses(principal({ tokenId: 'missed' }))).toBe(true);

    jest.advanceTimersByTime(REVOCATION_RELOAD_MS);
    await settle();
    expect({ versionReads: store.versionReads, reloads: store.answers.length }).toEqual({ versionReads: 4, reloads: 0 });
  } finally {
    jest.useRealTimers();
  }
});
