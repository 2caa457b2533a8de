/**
 * RevocationList, the replica's copy of the active revocations: what it refuses (by token id, subject
 * or tenant, until each expires), and that a change it was told of while a reload was in flight
 * survives that reload's answer (read before the change, answered after its announcement). The store
 * is a stand-in whose answers the test releases: this is the list's own logic.
 */
import { Revocation } from '@fanout/contracts';
import { ConnectionListener, RevocationListener, RevocationStore } from '@fanout/bus';
import { createLogger } from '@fanout/observability';
import { RevocationList } from '../src/revocation-list';

class HeldStore implements RevocationStore {
  readonly answers: ((revocations: Revocation[]) => void)[] = [];
  listener: RevocationListener = () => undefined;
  addRevocation = async () => true;
  removeRevocation = async () => true;
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
  store.answers.shift()!([]);
  await list.untilLoaded();
  list.apply({ kind: 'added', revocation: revocation({ tenant: 'x' }) });
  expect(told).toEqual([1]);
});
