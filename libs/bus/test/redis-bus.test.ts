import Redis from 'ioredis';
import { TenantSubject } from '@fanout/contracts';
import {
  AppendDeadlineError,
  LiveBatch,
  REPLICA_LIVENESS_KEY,
  REVOCATION_KEYS,
  RedisBus,
  RevocationChange,
  WATCHER_KEY_TTL_MS,
  activityFrame,
  closeEventJson,
  encodeBatchMessage,
  formatEventId,
  storedFrame,
  subjectKeys,
  subjectTag,
  activityKeys,
  activityOf,
  tenantIndexKeys,
  watcherKey,
} from '../src';
import { expandIncludes } from '../src/lua-scripts';
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait';
import { BusFactoryOptions, collector, expectStored, jobProgress, log, newSubject, status, step, unique } from './conformance';
import { expectRecordsRepaired } from './record-repair';
import { openReadyRedisBus } from './ready-redis-bus';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

const openRedisBus = (opts: BusFactoryOptions): Promise<RedisBus> => openReadyRedisBus({ url: redis.url, ...opts });

// The conformance suite runs in redis-bus-conformance.test.ts, on a Redis from test/support/redis-source.ts
// (Testcontainers in .ci/run); the tests here restart and flush their own redis-server process.

describe('RedisBus specifics', () => {
  const buses: RedisBus[] = [];
  const clients: Redis[] = [];
  const open = async (opts: Partial<BusFactoryOptions> = {}): Promise<RedisBus> => {
    const bus = await openRedisBus({ historyMaxLen: 1000, historyTtlSeconds: 3600, ...opts });
    buses.push(bus);
    return bus;
  };
  /** A plain client of our own (quit after each test), for assertions and fault injection. */
  const client = (): Redis => {
    const c = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await Promise.allSettled(clients.splice(0).map((c) => c.quit()));
  });

  test('a database Redis refuses (REDIS_URL …/99 on a 16-database server) is never ready, stores nothing, in database 0 or anywhere, and reads nothing of database 0', async () => {
    const bus = new RedisBus({ url: `${redis.url}/99`, historyMaxLen: 100, historyTtlSeconds: 60 });
    buses.push(bus);
    await waitFor('the refused SELECT to be seen', () => bus.probe(500).then(() => false, (error: Error) => /database/.test(error.message)), 10_000, 20);
    const subject = newSubject('job');
    await expect(bus.append(subject, [status(subject, 'pending')])).rejects.toThrow(/refused the database/);
    expect(await keysOf(client(), subject)).toEqual([]);
    // What database 0 holds is not answered as the URL's database (the publisher's readiness asks info).
    const inZero = newSubject('job');
    const zero = await openReadyRedisBus({ url: redis.url, historyMaxLen: 100, historyTtlSeconds: 60 });
    buses.push(zero);
    expectStored(await zero.append(inZero, [status(inZero, 'pending')]), [1]);
    await expect(bus.info(inZero)).rejects.toThrow(/refused the database/);
    await expect(bus.history(inZero, 0, 10)).rejects.toThrow(/refused the database/);
    await expect(bus.recentSubjects(inZero.tenant, undefined, 10)).rejects.toThrow(/refused the database/);
    // Nor does anything else that shares the connection: revocations, watcher counts.
    const keysBefore = (await client().keys('*')).sort();
    const now = Date.now();
    const revocation = { id: unique('revocation'), tenant: 'other-deployment', expiresAt: new Date(now + 60_000).toISOString(), createdAt: new Date(now).toISOString() };
    await expect(bus.addRevocation(revocation, 100)).rejects.toThrow();
    await expect(bus.activeRevocations()).rejects.toThrow();
    await expect(bus.reportWatchers('replica-db99', [{ subject: inZero, count: 1 }], 10_000)).rejects.toThrow();
    expect((await client().keys('*')).sort()).toEqual(keysBefore);
  });

  async function keysOf(c: Redis, subject: TenantSubject): Promise<string[]> {
    const tag = subjectTag(subject);
    return (await c.keys('*')).filter((key) => key.includes(tag)).sort();
  }

  it('the Lua writers of the stored frame write the bytes the TypeScript ones do', async () => {
    const script = expandIncludes(`#!lua flags=no-writes
--- @include "stored-frame"
return { storedFrame(ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]), activityFrame(ARGV[1], tonumber(ARGV[2]), ARGV[4]),
  storedEventFrame(ARGV[1], tonumber(ARGV[2]), string.format('%d', tonumber(ARGV[2])), ARGV[3], ARGV[6], ARGV[7], ARGV[8], ARGV[5]),
  encodeBatchMessage(tonumber(ARGV[2]), tonumber(ARGV[2]) + 1, true, { ARGV[3], ARGV[4] }),
  encodeBatchMessage(tonumber(ARGV[2]), tonumber(ARGV[2]), false, { ARGV[4] }), encodeBatchMessage(1, 1, false, {}) }`);
    const json = '{"data":{"message":"h\u00e9 \\"quoted\\"\\n"}}';
    // An event's open JSON in the three pieces the append passes (prepared-event.ts: head, attempt, tail).
    const open = ['{"eventId":"e-1","type":"job.status","data":{"status":"r\u00e9","attempt":', '12', '}'] as const;
    for (const seq of [1, 42, 9_999_999_999]) {
      const published = '2026-11-27T10:00:00.000Z';
      expect(await client().eval(script, 0, 'c0ffee00', seq, 'pack_run.log', json, published, ...open)).toEqual([
        storedFrame('c0ffee00', seq, 'pack_run.log', json),
        activityFrame('c0ffee00', seq, json),
        storedFrame('c0ffee00', seq, 'pack_run.log', `${open.join('')}${closeEventJson(seq, published)}`),
        encodeBatchMessage(seq, seq + 1, true, `pack_run.log${json}`),
        encodeBatchMessage(seq, seq, false, json),
        encodeBatchMessage(1, 1, false, ''),
      ]);
    }
  });

  it('an append Redis runs too close to its deadline stores nothing, and says by how much it was late', async () => {
    const bus = await open();
    const s = newSubject('job');
    // The script's cutoff is 500 ms before the deadline (room for the reply): Redis runs it past that.
    const refused = bus.append(s, [status(s, 'pending')], Date.now() + 300);
    await expect(refused).rejects.toBeInstanceOf(AppendDeadlineError);
    await expect(refused).rejects.toThrow(/^the append ran \d+ ms after its deadline; nothing was stored$/);
    expect(await bus.info(s)).toBeNull();
    expect(await keysOf(client(), s)).toEqual([]);
  });

  it('works with a Redis user held to the keys and channels under fo: (~fo:* &fo:*): the canary, appends, live batches, the tenant\'s records, revocations', async () => {
    const c = client();
    await c.call('ACL', 'SETUSER', 'fanout-only', 'on', '>pw', '~fo:*', '&fo:*', '+@all');
    try {
      const url = new URL(redis.url);
      url.username = 'fanout-only';
      url.password = 'pw';
      const bus = await openReadyRedisBus({ url: url.toString(), historyMaxLen: 1000, historyTtlSeconds: 3600 });
      buses.push(bus);
      const s = newSubject('job');
      const live = collector();
      await bus.subscribe(s, live.listener);
      expectStored(await bus.append(s, [status(s, 'pending'), status(s, 'scheduled')]), [1, 2]);
      await waitFor('the live batch', () => live.batches.length > 0, 5_000);
      expect(live.batches.map((b) => [b.firstSeq, b.lastSeq])).toEqual([[1, 2]]);
      expect((await bus.recentSubjects(s.tenant, undefined, 10)).map((r) => r.id)).toEqual([s.id]);
      expect((await bus.history(activityOf(s.tenant), 0, 10)).map((e) => e.seq)).toEqual([1, 2]);
      const changes: RevocationChange[] = [];
      bus.onRevocationChange((change) => changes.push(change));
      const revocation = { id: unique('rev'), jti: unique('jti'), expiresAt: new Date(Date.now() + 60_000).toISOString(), createdAt: new Date().toISOString() };
      expect(await bus.addRevocation(revocation, 100_000)).toBe(true);
      await waitFor('the revocation announced', () => changes.length === 1, 5_000);
      expect((await bus.activeRevocations()).map((r) => r.id)).toContain(revocation.id);
      expect(await bus.removeRevocation(revocation.id)).toBe(true);
      expect((await c.call('ACL', 'LOG')) as unknown[]).toEqual([]);
    } finally {
      await c.call('ACL', 'DELUSER', 'fanout-only');
    }
  });

  it('a subscription path that Redis keeps refusing (an ACL without its channels) tries again with a backoff, not in a loop, and recovers once allowed', async () => {
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_: object, message: string) => warnings.push(message) };
    const bus = await openReadyRedisBus({ url: redis.url, historyMaxLen: 1000, historyTtlSeconds: 3600, logger });
    buses.push(bus);
    const c = client();
    try {
      // Redis drops the subscriber (its channels are no longer allowed); every resubscription is refused.
      await c.call('ACL', 'SETUSER', 'default', 'resetchannels');
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const failed = warnings.filter((w) => w.startsWith('resubscribing failed')).length;
      // 100, 200, 400, 800, 1600 ms: about five in 3 s, where the reconnects came every few ms.
      expect(failed).toBeGreaterThan(0);
      expect(failed).toBeLessThanOrEqual(8);
    } finally {
      await c.call('ACL', 'SETUSER', 'default', 'allchannels');
    }
    await waitFor('the path to recover', () => bus.probe(1000).then(() => true), 15_000, 100);
  });

  it("an append whose Redis user may not publish on the subject's or the tenant's channel (its ACL) stores nothing and says why, where the script failed after storing", async () => {
    const bus = await open();
    const c = client();
    const s = newSubject('job');
    const subjectChannel = subjectKeys(s).channel;
    const activityChannel = activityKeys(activityOf(s.tenant)).channel;
    try {
      for (const [allowed, denied] of [
        [activityChannel, subjectChannel],
        [subjectChannel, activityChannel],
      ]) {
        await c.call('ACL', 'SETUSER', 'default', 'resetchannels', `&${allowed}`);
        const refused = bus.append(s, [status(s, 'pending')]);
        await expect(refused).rejects.toThrow(`the Redis user may not publish on ${denied} (its ACL lacks the channel: allow &fo:*): nothing was stored`);
        expect(await keysOf(c, s)).toEqual([]);
        expect(await c.exists(...Object.values(tenantIndexKeys(s.tenant)))).toBe(0);
      }
    } finally {
      await c.call('ACL', 'SETUSER', 'default', 'allchannels');
    }
    expectStored(await bus.append(s, [status(s, 'pending')]), [1]);
    // Its subscriber was dropped with its channels: back before the bus closes.
    await waitFor('the path to recover', () => bus.probe(1000).then(() => true), 15_000, 100);
  });

  it("after a terminal event every key of the subject expires in about historyTtlSeconds (none before, with no idle expiry)", async () => {
    const ttl = 600;
    const bus = await open({ historyTtlSeconds: ttl, subjectIdleTtlSeconds: 0 });
    const c = client();
    const s = newSubject('pack-run');
    const keys = subjectKeys(s);
    const storedKeys = [keys.meta, keys.stream, keys.ids, keys.steps].sort();
    await bus.append(s, [
      status(s, 'pending', { steps: [{ index: 0, name: 'build' }] }),
      status(s, 'running'),
      step(s, 0, 'running'),
      log(s, 0, 1),
      step(s, 0, 'succeeded'),
    ]);
    expect(await keysOf(c, s)).toEqual(storedKeys);
    for (const key of storedKeys) expect(await c.ttl(key)).toBe(-1);

    expectStored(await bus.append(s, [status(s, 'succeeded')]), [6]);
    expect(await keysOf(c, s)).toEqual(storedKeys);
    for (const key of storedKeys) {
      const left = await c.ttl(key);
      expect(left).toBeGreaterThan(ttl - 10);
      expect(left).toBeLessThanOrEqual(ttl);
    }
  });

  it('an unfinished subject\'s keys, the steps hash its first step creates too, expire idle: renewed to the idle TTL and a tenth more once a tenth has passed, with its live entry', async () => {
    const idle = 600;
    const bus = await open({ subjectIdleTtlSeconds: idle });
    const c = client();
    const s = newSubject('pack-run');
    const keys = subjectKeys(s);
    const { live } = tenantIndexKeys(s.tenant);
    const member = `pack-run:${s.id}`;
    const span = idle * 1100;
    const expectExpiringWithin = async (storedKeys: string[], min: number, max: number) => {
      for (const key of storedKeys) {
        const left = await c.pttl(key);
        expect({ key, within: left > min && left <= max }).toEqual({ key, within: true });
      }
    };
    await bus.append(s, [status(s, 'pending', { steps: [{ index: 0, name: 'build' }] }), status(s, 'running')]);
    expect(await keysOf(c, s)).toEqual([keys.meta, keys.stream, keys.ids].sort());
    await expectExpiringWithin([keys.meta, keys.stream, keys.ids], span - 10_000, span);
    expect(Number(await c.zscore(live, member))).toBe(await c.pexpiretime(keys.meta));

    // The first step's new hash gets the expiry at once (all keys are renewed with it).
    await c.pexpire(keys.meta, idle * 1000 + 5_000);
    await bus.append(s, [step(s, 0, 'running'), log(s, 0, 1)]);
    expect(await keysOf(c, s)).toEqual([keys.meta, keys.stream, keys.ids, keys.steps].sort());
    await expectExpiringWithin([keys.meta, keys.stream, keys.ids, keys.steps], span - 10_000, span);

    // Within the first tenth an append renews nothing.
    const liveBefore = await c.zscore(live, member);
    await c.pexpire(keys.meta, idle * 1000 + 5_000);
    await bus.append(s, [log(s, 0, 2)]);
    await expectExpiringWithin([keys.meta], idle * 1000, idle * 1000 + 5_000);
    expect(await c.zscore(live, member)).toBe(liveBefore);

    // Once a tenth has passed (PTTL under the idle TTL), the next append renews every key and the live entry.
    for (const key of [keys.meta, keys.stream, keys.ids, keys.steps]) await c.pexpire(key, idle * 1000 - 1);
    await bus.append(s, [log(s, 0, 3)]);
    await expectExpiringWithin([keys.meta, keys.stream, keys.ids, keys.steps], span - 10_000, span);
    expect(Number(await c.zscore(live, member))).toBe(await c.pexpiretime(keys.meta));

    // Its terminal event gives every key the history TTL instead, and the live entry with it.
    await bus.append(s, [step(s, 0, 'succeeded'), status(s, 'succeeded')]);
    await expectExpiringWithin([keys.meta, keys.stream, keys.ids, keys.steps], 3_590_000, 3_600_000);
    expect(Number(await c.zscore(live, member))).toBeGreaterThan(Date.now() + 3_590_000);
  });

  it("a tenant's keys expire with the last of its subjects: at the highest live score, or never while one has no end", async () => {
    const c = client();
    const tenantKeysOf = (tenant: string) => {
      const index = tenantIndexKeys(tenant);
      const activity = activityKeys(activityOf(tenant));
      return [index.recent, index.live, index.recorded, activity.meta, activity.stream];
    };
    const expiriesOf = async (keys: string[]) => Promise.all(keys.map((key) => c.pexpiretime(key)));

    const withIdle = await open({ subjectIdleTtlSeconds: 600, historyTtlSeconds: 3600 });
    const running = newSubject('job');
    await withIdle.append(running, [status(running, 'pending')]);
    const runningUntil = await c.pexpiretime(subjectKeys(running).meta);
    expect(await expiriesOf(tenantKeysOf(running.tenant))).toEqual(Array(5).fill(runningUntil));
    const ended = newSubject('run', running.tenant);
    await withIdle.append(ended, [status(ended, 'pending'), status(ended, 'canceled')]);
    const endedUntil = Number(await c.zscore(tenantIndexKeys(running.tenant).live, `run:${ended.id}`));
    expect(endedUntil).toBeGreaterThan(runningUntil);
    expect(await expiriesOf(tenantKeysOf(running.tenant))).toEqual(Array(5).fill(endedUntil));

    const withoutIdle = await open({ subjectIdleTtlSeconds: 0, historyTtlSeconds: 3600 });
    const forever = newSubject('job');
    const done = newSubject('job', forever.tenant);
    await withoutIdle.append(done, [status(done, 'pending'), status(done, 'canceled')]);
    expect((await expiriesOf(tenantKeysOf(forever.tenant))).every((at) => at > Date.now())).toBe(true);
    await withoutIdle.append(forever, [status(forever, 'pending')]);
    expect(await expiriesOf(tenantKeysOf(forever.tenant))).toEqual(Array(5).fill(-1));
  });

  it('stream entries hold their eventId (field i), and ids holds exactly the retained entries\' ids', async () => {
    const bus = await open({ historyMaxLen: 4 });
    const c = client();
    const s = newSubject('job');
    const events = [status(s, 'pending'), ...Array.from({ length: 9 }, (_, i) => jobProgress(s, i))];
    for (const e of events) await bus.append(s, [e]);
    const keys = subjectKeys(s);
    const entries = await c.xrange(keys.stream, '-', '+');
    expect(entries.map(([id, fields]) => [id, fields.filter((_, i) => i % 2 === 0), fields[5]])).toEqual(
      events.slice(-4).map((e, i) => [`0-${7 + i}`, ['f', 'x', 'i'], e.eventId]),
    );
    expect(await c.hgetall(keys.ids)).toEqual(Object.fromEntries(events.slice(-4).map((e, i) => [e.eventId, String(7 + i)])));
  });

  it('a subject stored before entries held their eventId sheds the ids of its trimmed events, a slice per append', async () => {
    const bus = await open({ historyMaxLen: 10 });
    const c = client();
    const s = newSubject('job');
    const keys = subjectKeys(s);
    const events = [status(s, 'pending'), ...Array.from({ length: 29 }, (_, i) => jobProgress(s, i))];
    expectStored(await bus.append(s, events), Array.from({ length: 30 }, (_, i) => i + 1));
    // As such a subject's ids would be: 1,500 more ids, of seqs no longer retained.
    const old = Array.from({ length: 1500 }, (_, i) => [`old-${i}`, String((i % 20) + 1)]).flat();
    await c.hset(keys.ids, ...old);
    let appends = 0;
    while ((await c.hlen(keys.ids)) > 10) {
      expectStored(await bus.append(s, [jobProgress(s, appends)]), [31 + appends]);
      appends += 1;
      expect(appends).toBeLessThan(40);
    }
    expect(await c.hlen(keys.ids)).toBe(10);
    expect(await c.hexists(keys.ids, 'old-0')).toBe(0);
    // The retained events' ids are untouched.
    const last = jobProgress(s, 1);
    expectStored(await bus.append(s, [last]), [31 + appends]);
    expect(await bus.append(s, [last])).toEqual([{ eventId: last.eventId, seq: 31 + appends, duplicate: true }]);
    expect(await c.hlen(keys.ids)).toBe(10);
  });

  it("a subject's keys and its channel share one hash tag holding tenant, kind and id", async () => {
    const bus = await open();
    const c = client();
    const s: TenantSubject = { tenant: 'acme', kind: 'pack-run', id: `pr:1.${Date.now()}_x-y` };
    const keys = subjectKeys(s);
    const tags = Object.values(keys).map((key) => {
      const open = key.indexOf('{');
      const close = key.indexOf('}', open + 1);
      expect(open).toBeGreaterThanOrEqual(0);
      expect(close).toBeGreaterThan(open + 1);
      return key.slice(open, close + 1);
    });
    expect(new Set(tags)).toEqual(new Set([subjectTag(s)]));
    expect(subjectTag(s)).toBe(`{acme:pack-run:${s.id}}`);
    expect(new Set(Object.values(keys)).size).toBe(5);
    // The same id in another tenant gets another tag.
    expect(subjectTag({ ...s, tenant: 'other' })).not.toBe(subjectTag(s));

    // The bus really publishes on that channel and stores under those keys.
    const listener = client();
    const messages: string[] = [];
    listener.on('smessage', (channel: string, message: string) => messages.push(`${channel}|${message}`));
    await listener.ssubscribe(keys.channel);
    await bus.append(s, [status(s, 'running'), step(s, 0, 'running')]);
    await waitFor('the raw sharded message', () => messages.length === 1, 10_000);
    expect(messages[0]!.startsWith(`${keys.channel}|1 2 0\nid: `)).toBe(true);
    expect(await keysOf(c, s)).toEqual([keys.meta, keys.stream, keys.ids, keys.steps].sort());
  });

  it("a tenant record that failed after its append is repaired by the retry or the subject's next append, and never applied twice", async () => {
    await expectRecordsRepaired(await open(), client());
  });

  it('revocations and watcher counts are bounded in Redis: the revocation keys live until the last revocation expires (their version until the last one would have), a watcher hash WATCHER_KEY_TTL_MS, a dead replica leaves the liveness set', async () => {
    const bus = await open();
    const c = client();
    const revocation = (expiresInMs: number) => ({
      id: unique('rev'),
      tenant: unique('tenant'),
      expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
      createdAt: new Date().toISOString(),
    });
    const later = revocation(120_000);
    const sooner = revocation(60_000);
    expect(await bus.addRevocation(later, 100)).toBe(true);
    expect(await bus.addRevocation(sooner, 100)).toBe(true);
    for (const key of [REVOCATION_KEYS.all, REVOCATION_KEYS.expiry, REVOCATION_KEYS.version]) {
      expect(await c.pexpiretime(key)).toBe(Date.parse(later.expiresAt));
    }
    expect(await bus.removeRevocation(later.id)).toBe(true);
    expect(await c.pexpiretime(REVOCATION_KEYS.all)).toBe(Date.parse(sooner.expiresAt));
    expect(await bus.removeRevocation(sooner.id)).toBe(true);
    expect(await c.exists(REVOCATION_KEYS.all, REVOCATION_KEYS.expiry)).toBe(0);
    // The version lives until the last revocation it changed for would have expired, lifted or not.
    expect(await c.pexpiretime(REVOCATION_KEYS.version)).toBe(Date.parse(later.expiresAt));

    const subject = newSubject('job');
    const [alive, dying] = [unique('replica'), unique('replica')];
    await bus.reportWatchers(dying, [{ subject, count: 1 }], 100);
    await bus.reportWatchers(alive, [{ subject, count: 2 }], 60_000);
    const ttl = await c.pttl(watcherKey(subject));
    expect(ttl).toBeGreaterThan(WATCHER_KEY_TTL_MS - 5000);
    expect(ttl).toBeLessThanOrEqual(WATCHER_KEY_TTL_MS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The next report of any replica drops the dead one from the liveness set; a read drops its field.
    await bus.reportWatchers(alive, [], 60_000);
    expect(await c.zscore(REPLICA_LIVENESS_KEY, dying)).toBeNull();
    expect(await bus.watcherCount(subject)).toBe(2);
    expect(await c.hkeys(watcherKey(subject))).toEqual([alive]);
    await bus.reportWatchers(alive, [{ subject, count: 0 }], 60_000);
    expect(await c.exists(watcherKey(subject))).toBe(0);
    await bus.retireReplica(alive);
    expect(await c.zscore(REPLICA_LIVENESS_KEY, alive)).toBeNull();
  });

  it('probe rejects while redis-server is down; the bus recovers after it restarts', async () => {
    const bus = await open();
    const connection: string[] = [];
    bus.onConnection((event) => connection.push(event));
    const s = newSubject('job');
    const { batches, listener } = collector();
    await bus.subscribe(s, listener);
    await bus.append(s, [status(s, 'pending')]);
    await waitFor('the first batch', () => batches.length === 1, 10_000);
    await expect(bus.probe(2000)).resolves.toBeUndefined();

    try {
      await redis.kill();
      await expect(bus.probe(1000)).rejects.toThrow();
      await expect(bus.append(s, [status(s, 'scheduled')])).rejects.toThrow();
      await waitFor('the down event', () => connection.includes('down'), 10_000);
    } finally {
      await redis.start();
    }

    await waitFor('the probe to succeed again', () => bus.probe(1000).then(() => true), 15_000);
    expect(connection).toEqual(['down', 'up']);
    expect(bus.subscriptionCount()).toBe(1);
    // The server kept no data (no persistence): the subject starts again, and the restored
    // subscription delivers it.
    expect(await bus.info(s)).toBeNull();
    expectStored(await bus.append(s, [status(s, 'scheduled')]), [1]);
    await waitFor('a batch after the restart', () => batches.length === 2, 10_000);
    expect(batches[1]).toMatchObject({ firstSeq: 1, lastSeq: 1, terminal: false });
  });

  it('history loss: after FLUSHALL the subject starts again under a new epoch at seq 1', async () => {
    const bus = await open();
    const c = client();
    const s = newSubject('job');
    const pending = status(s, 'pending');
    expectStored(await bus.append(s, [pending, status(s, 'scheduled'), status(s, 'leased')]), [1, 2, 3]);
    const before = (await bus.info(s))!;
    const { batches, listener } = collector();
    await bus.subscribe(s, listener);

    expect(await c.flushall()).toBe('OK');
    expect(await bus.info(s)).toBeNull();
    expect(await bus.history(s, 0, 10)).toEqual([]);

    // The eventIds are forgotten with the history: the old first event is stored anew.
    expectStored(await bus.append(s, [pending]), [1]);
    const after = (await bus.info(s))!;
    expect(after).toMatchObject({ lastSeq: 1, firstSeq: 1, status: 'pending', terminal: false });
    expect(after.epoch).toMatch(/^[0-9a-f]{8}$/);
    expect(after.epoch).not.toBe(before.epoch);
    const [entry] = await bus.history(s, 0, 10);
    expect(entry!.frame.toString().startsWith(`id: ${formatEventId(after.epoch, 1)}\n`)).toBe(true);
    await waitFor('the batch', () => batches.length === 1, 10_000);
    const batch: LiveBatch = batches[0]!;
    expect(batch).toMatchObject({ firstSeq: 1, lastSeq: 1 });
    expect(batch.frames.equals(entry!.frame)).toBe(true);
  });
});
