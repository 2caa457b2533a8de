/**
 * Issue 8 on a real Redis Cluster: three `redis-server --cluster-enabled yes` joined with
 * `redis-cli --cluster create`, one publisher and two gateways against it (REDIS_URL=redis+cluster://…).
 * Subjects on each of the three shards stream with no gap; each shard's PUBSUB SHARDNUMSUB holds only
 * its own subjects' channels; the seed's rapid-sequence and resume tests pass unchanged; and when a
 * master with a replica is killed and the replica promoted, every client of that shard gets every
 * event that was answered 202. Loopback only; timeouts are hang guards.
 */
import { keySlot, subjectKeys } from '@fanout/bus';
import { ClusterNode, RedisCluster, startRedisCluster } from '../support/redis-cluster';
import { ResumingClient, RetryLog, expectContiguous, packRunPlan, publishPaced } from '../support/resuming-client';
import { RAPID_SEQUENCE_TITLE, RESUME_CASES, RESUME_TITLE, rapidSequence, resumeOnTheOtherReplica } from '../support/seed-scenarios';
import { closeAllStreams, within } from '../support/sse-client';
import { PublishResult, Stack, TestEvent, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

jest.setTimeout(90_000);

let cluster: RedisCluster;
let stack: Stack;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, nodeTimeoutMs: 1000 });
  try {
    stack = await startStack({ redis: cluster, gateways: 2, env: { FANOUT_RETRY_MS: 1500 } });
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
  await cluster?.stop();
}, 60_000);

interface PlacedSubject {
  id: string;
  events: TestEvent[];
  channel: string;
  master: ClusterNode;
}

/** Pack runs of `total` events, `perMaster` on each of `masters` (by the slot of their hash tag). */
async function subjectsOn(masters: ClusterNode[], perMaster: number, total: number): Promise<PlacedSubject[]> {
  const placed: PlacedSubject[] = [];
  const wanted = new Map(masters.map((m) => [m.port, perMaster]));
  const ownerOf = await cluster.slotOwners();
  for (let attempt = 0; [...wanted.values()].some((n) => n > 0); attempt++) {
    if (attempt > 10_000) throw new Error('could not place subjects on every master');
    const plan = packRunPlan(stack.tenant, total);
    const channel = subjectKeys({ tenant: stack.tenant, kind: 'pack-run', id: plan.id }).channel;
    const master = ownerOf(keySlot(channel));
    const left = wanted.get(master.port) ?? 0;
    if (left === 0) continue;
    wanted.set(master.port, left - 1);
    placed.push({ ...plan, channel, master });
  }
  return placed;
}

async function runningMasters(): Promise<ClusterNode[]> {
  const ownerOf = await cluster.slotOwners();
  return [...new Set(Array.from({ length: 16384 }, (_, slot) => ownerOf(slot)))];
}

/** One ResumingClient per subject per gateway, each connected and past the first event. */
async function connect(subjects: PlacedSubject[]): Promise<ResumingClient[]> {
  const clients: ResumingClient[] = [];
  for (const s of subjects) {
    for (const [gi, g] of stack.gateways.entries()) {
      const c = new ResumingClient(stack, 'pack-run', s.id, `${s.id} on gateway ${gi} (shard ${s.master.port})`);
      expect(await c.connect(g)).toBe(200);
      clients.push(c);
    }
  }
  await Promise.all(clients.map((c) => c.waitForTotal(1, 15_000)));
  return clients;
}

/** Every client got every event of its subject, in order, with the published eventIds, and end completed. */
async function expectEverything(clients: ResumingClient[], subjects: PlacedSubject[], options: { oneConnection: boolean }): Promise<void> {
  const byId = new Map(subjects.map((s) => [s.id, s]));
  await within(
    'every client to get every event and end completed',
    Promise.all(
      clients.map(async (c) => {
        const events = byId.get(c.id)!.events;
        await c.waitForTotal(events.length, 60_000);
        const reason = await c.waitForServerEnd(15_000);
        if (reason !== 'completed') throw new Error(`${c.name}: ended with ${reason ?? 'a cut'}`);
      }),
    ),
    80_000,
  );
  for (const c of clients) {
    const events = byId.get(c.id)!.events;
    if (options.oneConnection) {
      expect({ client: c.name, connections: c.connections }).toEqual({ client: c.name, connections: [expect.objectContaining({ status: 200, ending: 'end completed' })] });
    }
    expectContiguous(c.seqs(), 1, events.length, c.name);
    const ids = c.eventIds();
    const wrong = ids.findIndex((id, i) => id !== events[i]!.eventId);
    if (wrong >= 0) throw new Error(`${c.name}: event ${wrong + 1} has eventId ${ids[wrong]}, published ${events[wrong]!.eventId}`);
  }
}

async function readyStatus(url: string): Promise<number> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1500) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

test("subjects on each of the 3 shards stream to clients on both gateways with no gap; each shard's PUBSUB SHARDNUMSUB shows only its own subjects' channels", async () => {
  const masters = await runningMasters();
  expect(masters).toHaveLength(3);
  const subjects = await subjectsOn(masters, 2, 120);
  await Promise.all(subjects.map((s) => stack.publishOk(s.events[0]!)));
  const clients = await connect(subjects);
  try {
    const channels = subjects.map((s) => s.channel);
    for (const master of masters) {
      const node = cluster.nodeClient(master.port);
      const counts = (await node.call('PUBSUB', 'SHARDNUMSUB', ...channels)) as (string | number)[];
      const view = subjects.map((s, i) => ({ subject: s.id, shard: s.master.port, subscribers: Number(counts[2 * i + 1]) }));
      // Two gateways subscribe to each subject, on the subject's own shard only.
      expect({ node: master.port, view }).toEqual({ node: master.port, view: subjects.map((s) => ({ subject: s.id, shard: s.master.port, subscribers: s.master === master ? 2 : 0 })) });
      const held = ((await node.call('PUBSUB', 'SHARDCHANNELS', `fo:{${stack.tenant}:*`)) as string[]).sort();
      expect({ node: master.port, held }).toEqual({ node: master.port, held: subjects.filter((s) => s.master === master).map((s) => s.channel).sort() });
    }

    await Promise.all(subjects.map((s) => publishPaced(stack, s.events.slice(1), { batchSize: 7, pauseMs: 5 })));
    await expectEverything(clients, subjects, { oneConnection: true });
  } finally {
    clients.forEach((c) => c.close());
  }
});

describe('the seed tests, unchanged, on the cluster', () => {
  test(RAPID_SEQUENCE_TITLE, () => rapidSequence(stack), 120_000);
  test.each(RESUME_CASES)(RESUME_TITLE, (_label, via) => resumeOnTheOtherReplica(stack, via), 60_000);
});

test("resharding: a streaming subject's slot moves to another master while it is published to (ASK, TRYAGAIN, then MOVED and the server's SUNSUBSCRIBE); every client on both gateways gets every event on its one connection", async () => {
  const masters = await runningMasters();
  const [moving, staying] = await subjectsOn([masters[0]!], 2, 300);
  const subjects = [moving!, staying!];
  await Promise.all(subjects.map((s) => stack.publishOk(s.events[0]!)));
  const clients = await connect(subjects);
  const recoveriesBefore = await Promise.all(stack.gateways.map(async (g) => (await g.metric('fanout_gateway_bus_recoveries_total')) ?? 0));
  const target = masters[1]!;
  const slot = keySlot(moving!.channel);
  try {
    let batches = 0;
    let migration: Promise<void> | undefined;
    const publishing = Promise.all(
      subjects.map((s) =>
        publishPaced(stack, s.events.slice(1), {
          batchSize: 2,
          pauseMs: 15,
          onBatch: () => {
            if (++batches === 30) migration = cluster.migrateSlot(slot, target);
          },
        }),
      ),
    );
    await waitFor('the migration to start', () => migration !== undefined, 30_000);
    await migration;
    // While events still flow: both gateways hold the subject's subscription on the new owner, none on the old.
    await waitFor('both gateways to subscribe on the new owner', async () => {
      const [, count] = (await cluster.nodeClient(target.port).call('PUBSUB', 'SHARDNUMSUB', moving!.channel)) as [string, number];
      return Number(count) === 2;
    }, 15_000, 50);
    const [, left] = (await cluster.nodeClient(masters[0]!.port).call('PUBSUB', 'SHARDNUMSUB', moving!.channel)) as [string, number];
    expect(Number(left)).toBe(0);
    await within('the producers to get 202 for every event', publishing, 60_000);
    expect((await cluster.ownerOfSlot(slot)).port).toBe(target.port);

    await expectEverything(clients, subjects, { oneConnection: true });
    for (const [gi, g] of stack.gateways.entries()) {
      expect(await g.metric('fanout_gateway_bus_recoveries_total')).toBeGreaterThan(recoveriesBefore[gi]!);
    }
  } finally {
    clients.forEach((c) => c.close());
  }
});

test('failover: a replica is added to one master, the master is killed (SIGKILL) while producers publish and the cluster promotes the replica; every client of that shard gets every event answered 202, and the gateways are ready again', async () => {
  const EVENTS_EACH = 300;
  const masters = await runningMasters();
  const victim = masters[0]!;
  const replica = await cluster.addReplica(victim);
  const [others] = [masters.filter((m) => m !== victim)];
  const subjects = [...(await subjectsOn([victim], 3, EVENTS_EACH)), ...(await subjectsOn([others![0]!], 1, EVENTS_EACH))];
  await Promise.all(subjects.map((s) => stack.publishOk(s.events[0]!)));
  // Start from a replica that holds the subjects' first events: a replica behind has nothing to be promoted with.
  await cluster.replicaCaughtUp(victim, replica);
  const clients = await connect(subjects);
  const log: RetryLog = { unavailable: 0, networkErrors: 0 };
  const cuts: { killedAt?: number; promotedAt?: number } = {};
  try {
    let batches = 0;
    let failover: Promise<void> | undefined;
    const answers = new Map<string, PublishResult[]>();
    const publishing = Promise.all(
      subjects.map(async (s) => {
        const results = await publishPaced(stack, s.events.slice(1), {
          batchSize: 5,
          pauseMs: 10,
          log,
          deadline: Date.now() + 80_000,
          onBatch: () => {
            batches += 1;
            if (batches !== 40 || failover) return;
            failover = (async () => {
              // Asynchronous replication (no WAIT here): kill a master whose replica is not behind, as
              // an event answered 202 while the replica lags may be lost by design (docs/configuration.md).
              await cluster.replicaCaughtUp(victim, replica);
              await cluster.killNode(victim);
              cuts.killedAt = Date.now();
              // The cluster's own failover: the masters mark the victim failed after cluster-node-timeout (1 s), the replica is elected.
              await waitFor(`replica ${replica.address} to be a master`, async () => /role:master/.test(String(await cluster.nodeClient(replica.port).info('replication'))), 20_000, 50);
              cuts.promotedAt = Date.now();
            })();
          },
        });
        answers.set(s.id, results);
      }),
    );
    await within('the producers to get 202 for every event', publishing, 85_000);
    await failover;
    expect(cuts.promotedAt).toBeDefined();
    for (const s of subjects) expectContiguous(answers.get(s.id)!.map((r) => r.seq!), 2, EVENTS_EACH, `seqs answered for ${s.id}`);

    // Everything answered 202 reaches every client; streams stay open through the failover.
    await expectEverything(clients, subjects, { oneConnection: true });
    for (const g of stack.gateways) {
      await waitFor(`${g.url}/readyz 200 after the failover`, async () => (await readyStatus(g.url)) === 200, 20_000, 100);
      expect(await g.metric('fanout_gateway_bus_recoveries_total')).toBeGreaterThanOrEqual(1);
    }
    expect((await cluster.ownerOfSlot(keySlot(subjects[0]!.channel))).port).toBe(replica.port);
    console.log(
      `cluster failover: master ${victim.address} killed, replica ${replica.address} promoted after ${cuts.promotedAt! - cuts.killedAt!} ms; ` +
        `${log.unavailable} answers 503 and ${log.networkErrors} failed requests, each retried with the same eventIds`,
    );
  } finally {
    clients.forEach((c) => c.close());
  }
});

test('failover of a frozen master (SIGSTOP): once its replica is promoted, publishes to its subjects are answered 202 by the new master and every gateway is ready, while the old one is still frozen; every client gets every event', async () => {
  const EVENTS_EACH = 60;
  const masters = await runningMasters();
  const victim = masters[masters.length - 1]!;
  const replica = await cluster.addReplica(victim);
  const subjects = await subjectsOn([victim], 2, EVENTS_EACH);
  await Promise.all(subjects.map((s) => stack.publishOk(s.events[0]!)));
  await cluster.replicaCaughtUp(victim, replica);
  const clients = await connect(subjects);
  const log: RetryLog = { unavailable: 0, networkErrors: 0 };
  process.kill(victim.pid, 'SIGSTOP');
  try {
    const frozenAt = Date.now();
    await waitFor(`replica ${replica.address} to be a master`, async () => /role:master/.test(String(await cluster.nodeClient(replica.port).info('replication'))), 20_000, 50);
    const promotedAt = Date.now();
    // The old master answers nothing and never will again in this test: only the new one can answer.
    const answers = await within(
      'the producers to get 202 for every event from the new master',
      Promise.all(subjects.map((s) => publishPaced(stack, s.events.slice(1), { batchSize: 5, pauseMs: 0, log, deadline: Date.now() + 30_000 }))),
      35_000,
    );
    for (const [i, s] of subjects.entries()) expectContiguous(answers[i]!.map((r) => r.seq!), 2, EVENTS_EACH, `seqs answered for ${s.id}`);
    await expectEverything(clients, subjects, { oneConnection: false });
    for (const g of stack.gateways) await waitFor(`${g.url}/readyz 200 with the old master frozen`, async () => (await readyStatus(g.url)) === 200, 20_000, 100);
    console.log(
      `frozen master ${victim.address}: replica promoted after ${promotedAt - frozenAt} ms, every event answered 202 ${Date.now() - promotedAt} ms after; ` +
        `${log.unavailable} answers 503 and ${log.networkErrors} failed requests, each retried with the same eventIds`,
    );
  } finally {
    clients.forEach((c) => c.close());
    await cluster.killNode(victim);
  }
}, 120_000);
