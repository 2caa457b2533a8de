/**
 * RedisBus on a real 3-master Redis Cluster: the conformance suite unchanged, then what is particular
 * to a cluster: keys and channel of a subject on one slot (as Redis itself computes it), one canary
 * per master, and a subscribed subject's slot migrated to another master while it is published to
 * (ASK, then MOVED, and the server-side SUNSUBSCRIBE) with nothing lost.
 */
import { TenantSubject } from '@fanout/contracts';
import { ARCHIVE_PENDING_KEY, LiveBatch, RedisBus, activityKeys, archiveMember, describeRedisTarget, activityOf, keySlot, parseClusterNodes, parseClusterUrl, redisTargetOf, subjectKeys, tenantIndexKeys } from '../src';
import { RedisCluster, startRedisCluster } from '../../../test/support/redis-cluster';
import { sleep, waitFor } from '../../../test/support/wait';
import { BusFactoryOptions, collector, expectStored, jobProgress, newSubject, runBusConformance, status } from './conformance';
import { expectRecordsRepaired } from './record-repair';

jest.setTimeout(60_000);

let cluster: RedisCluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

async function openClusterBus(opts: BusFactoryOptions, how: 'url' | 'nodes' = 'url'): Promise<RedisBus> {
  const bus = new RedisBus(how === 'url' ? { url: cluster.url, ...opts } : { clusterNodes: cluster.nodeList.split(','), ...opts });
  try {
    await waitFor('the cluster bus to pass a probe', () => bus.probe(1000).then(() => true), 15_000, 5);
  } catch (error) {
    await bus.close();
    throw error;
  }
  return bus;
}

runBusConformance('RedisBus on Redis Cluster', async (opts) => {
  const bus = await openClusterBus(opts);
  return { bus, cleanup: () => bus.close() };
});

describe('cluster targets', () => {
  it('parses redis+cluster:// URLs and node lists', () => {
    expect(parseClusterUrl('redis+cluster://a:1,b:2')).toEqual({ nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], tls: false });
    expect(parseClusterUrl('rediss+cluster://user:p%40ss@a:1/')).toEqual({ nodes: [{ host: 'a', port: 1 }], username: 'user', password: 'p@ss', tls: true });
    expect(parseClusterUrl('redis+cluster://:secret@[::1]:7000,h:7001')).toEqual({
      nodes: [{ host: '::1', port: 7000 }, { host: 'h', port: 7001 }],
      password: 'secret',
      tls: false,
    });
    expect(parseClusterNodes(' a:1 , b:2 ')).toEqual([{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
    expect(() => parseClusterNodes('a')).toThrow(/host:port/);
    expect(() => parseClusterUrl('redis+cluster://a:99999')).toThrow(/host:port/);
    expect(redisTargetOf({ url: 'redis://h:1/0' })).toEqual({ kind: 'single', url: 'redis://h:1/0' });
    expect(redisTargetOf({ clusterNodes: ['h:1'] }).kind).toBe('cluster');
    // What a log line shows: never a password.
    expect(describeRedisTarget(redisTargetOf({ url: 'redis://:s3cret@h:1/0' }))).toBe('redis://[redacted]@h:1/0');
    expect(describeRedisTarget(redisTargetOf({ url: 'redis+cluster://u:s3cret@a:1,b:2' }))).toBe('cluster a:1,b:2');
  });
});

describe('RedisBus on Redis Cluster specifics', () => {
  const buses: RedisBus[] = [];
  const open = async (opts: Partial<BusFactoryOptions> = {}, how: 'url' | 'nodes' = 'url'): Promise<RedisBus> => {
    const bus = await openClusterBus({ historyMaxLen: 1000, historyTtlSeconds: 3600, ...opts }, how);
    buses.push(bus);
    return bus;
  };
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
  });

  it("every key and the channel of a subject hash to one slot, the one Redis computes", async () => {
    const admin = cluster.client();
    const subject: TenantSubject = { tenant: 'acme', kind: 'pack-run', id: 'pr:1.x' };
    const keys = subjectKeys(subject);
    const slots = new Set<number>();
    for (const key of [keys.meta, keys.stream, keys.ids, keys.steps, keys.channel]) {
      const redisSlot = Number(await admin.cluster('KEYSLOT', key));
      expect(keySlot(key)).toBe(redisSlot);
      slots.add(redisSlot);
    }
    expect(slots.size).toBe(1);
    const activity = activityKeys(activityOf('acme'));
    const index = tenantIndexKeys('acme');
    const activitySlots = new Set([activity.meta, activity.stream, activity.channel, index.recent, index.live, index.recorded].map(keySlot));
    expect(activitySlots.size).toBe(1);
    for (const odd of ['plain', '{}x', 'a{b', '{x}{y}', 'ünï{cødé}']) expect(keySlot(odd)).toBe(Number(await admin.cluster('KEYSLOT', odd)));
  });

  it("a tenant record (on the tenant's slot, apart from the subject's) that failed after its append is repaired by the retry or the subject's next append, and never applied twice", async () => {
    await expectRecordsRepaired(await open(), cluster.clusterClient());
  });

  it('is reachable by REDIS_CLUSTER_NODES as well, and its probe goes through a canary on each of the 3 masters', async () => {
    const bus = await open({}, 'nodes');
    const channels = new Set<string>();
    for (const node of cluster.nodes.filter((n) => n.running)) {
      const c = cluster.nodeClient(node.port);
      const own = (await c.call('PUBSUB', 'SHARDCHANNELS', 'fo:canary:*')) as string[];
      for (const channel of own) {
        expect((await cluster.ownerOfSlot(keySlot(channel))).port).toBe(node.port);
        channels.add(channel);
      }
    }
    // 3 masters: 3 canaries of this bus (other buses of this file are closed).
    expect(channels.size).toBe(3);
    await bus.probe(1000);
  });

  it('a subscribed subject whose slot migrates to another master while it is published to loses nothing: down, up, then live again', async () => {
    const publisher = await open();
    const gateway = await open();
    const changes: string[] = [];
    gateway.onConnection((event) => changes.push(event));

    const subject = newSubject('job');
    const { channel } = subjectKeys(subject);
    const slot = keySlot(channel);
    expectStored(await publisher.append(subject, [status(subject, 'pending'), status(subject, 'scheduled'), status(subject, 'leased'), status(subject, 'running')]), [1, 2, 3, 4]);
    const live = collector();
    await gateway.subscribe(subject, live.listener);

    let published = 4;
    let publishing = true;
    const producer = (async () => {
      while (publishing) {
        const outcomes = await publisher.append(subject, [jobProgress(subject, published % 100)]).catch(() => undefined);
        if (outcomes && 'seq' in outcomes[0]!) published = outcomes[0].seq;
        await sleep(5);
      }
    })();
    await waitFor('live batches before the move', () => live.batches.length >= 5, 10_000);

    const source = await cluster.ownerOfSlot(slot);
    const target = cluster.nodes.find((n) => n.running && n !== source)!;
    await cluster.migrateSlot(slot, target);
    expect((await cluster.ownerOfSlot(slot)).port).toBe(target.port);

    await waitFor('the gateway bus to report down then up', () => changes.join(',') === 'down,up', 15_000);
    const before = published;
    await waitFor('live batches from the new owner', () => live.batches.some((b) => b.firstSeq > before + 2), 15_000);
    publishing = false;
    await producer;

    // What was not heard live is in history: live ∪ history after it = 1..published.
    const heard = new Set<number>();
    for (const b of live.batches as LiveBatch[]) for (let s = b.firstSeq; s <= b.lastSeq; s++) heard.add(s);
    const history = await gateway.history(subject, 0, 10_000);
    expect(history.map((e) => e.seq)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(Math.max(...heard)).toBe(published);
    // The subscription now lives on the new owner only.
    const onTarget = (await cluster.nodeClient(target.port).call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    const onSource = (await cluster.nodeClient(source.port).call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    expect(Number(onTarget[1])).toBe(1);
    expect(Number(onSource[1])).toBe(0);
    await gateway.probe(1000);
  });
});

describe('the archive queue on Redis Cluster', () => {
  it('marks finished subjects of any slot, repairs lost marks from every master, and finishes each on its own slot', async () => {
    const bus = await openClusterBus({ historyMaxLen: 100, historyTtlSeconds: 3600 });
    const archiving = new RedisBus({ url: cluster.url, historyMaxLen: 100, historyTtlSeconds: 3600, archive: true });
    const client = cluster.clusterClient();
    // Other tests of this file leave finished subjects in the cluster: only this tenant's are counted.
    const tenant = `archive-${Date.now()}`;
    const pendingOfTenant = async () => (await client.zrange(ARCHIVE_PENDING_KEY, 0, -1)).filter((m) => m.startsWith(`${tenant}:`)).sort();
    try {
      await waitFor('the archiving bus to pass a probe', () => archiving.probe(1000).then(() => true), 15_000, 5);
      const terminals = new Map<TenantSubject, ReturnType<typeof status>>();
      const finish = async (on: RedisBus, subject: TenantSubject) => {
        terminals.set(subject, status(subject, 'canceled'));
        expectStored(await on.append(subject, [status(subject, 'pending'), terminals.get(subject)!]), [1, 2]);
      };
      const marked = newSubject('job', tenant);
      await finish(archiving, marked);
      // Finished without a mark (as if their publisher died after the append), on several masters.
      const lost = Array.from({ length: 12 }, () => newSubject('run', tenant));
      for (const subject of lost) await finish(bus, subject);
      const ownerOf = await cluster.slotOwners();
      expect(new Set(lost.map((s) => ownerOf(keySlot(subjectKeys(s).meta)).port)).size).toBeGreaterThan(1);

      expect(await pendingOfTenant()).toEqual([archiveMember(marked)]);
      expect(await archiving.archiveQueue.repair()).toBeGreaterThanOrEqual(lost.length + 1);
      expect(await pendingOfTenant()).toEqual([marked, ...lost].map(archiveMember).sort());

      const claimed = (await archiving.archiveQueue.claim(60_000, 100_000)).filter((s) => s.tenant === tenant);
      expect(claimed).toHaveLength(lost.length + 1);
      for (const subject of claimed) {
        const info = (await archiving.info(subject))!;
        await archiving.archiveQueue.finish(subject, info.epoch, info.lastSeq, 0);
        expect(await archiving.info(subject)).toBeNull();
      }
      // Archived and gone from Redis, a subject stays finished (append-4.lua's path): no new history.
      const [again] = claimed;
      const terminal = [...terminals].find(([s]) => s.id === again!.id)![1];
      expect(await archiving.append(again!, [terminal])).toEqual([{ eventId: terminal.eventId, seq: 2, duplicate: true }]);
      const [duplicate, refused] = await archiving.append(again!, [terminal, status(again!, 'pending')]);
      expect(duplicate).toEqual({ eventId: terminal.eventId, seq: 2, duplicate: true });
      expect(refused).toMatchObject({ error: { code: 'transition', current: 'canceled' } });
      expect(await archiving.info(again!)).toBeNull();
      expect(await pendingOfTenant()).toEqual([]);
    } finally {
      await Promise.all([bus.close(), archiving.close()]);
    }
  });
});
