/**
 * Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): a failover is a loss of the subscription
 * path like a Redis restart. Real processes: a master, two replicas and three sentinels
 * (redis-server), a publisher with FANOUT_REDIS_WAIT_REPLICAS=1 and two gateways, clients streaming
 * on both. Killing the master: /readyz is 503 during the failover and 200 after, and every event
 * answered 202 reaches every client once, in order. Demoting a live master (SENTINEL FAILOVER):
 * no fanout connection stays on it, and what is published after reaches every client.
 */
import { RedisBus } from '../../libs/bus/src';
import { FanoutProcess, startFanout } from '../support/fanout-process';
import { SentinelNode, SentinelSetup, startSentinelSetup } from '../support/redis-sentinel';
import { SseStream, closeAllStreams, openStream } from '../support/sse-client';
import { makeEvent, uniqueId } from '../support/stack';
import { sleep, waitFor } from '../support/wait';

jest.setTimeout(180_000);

const TENANT = 'sentinel-test';

let setup: SentinelSetup | undefined;
const processes: FanoutProcess[] = [];

afterEach(async () => {
  closeAllStreams();
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  await setup?.stop();
  setup = undefined;
});

async function startFanoutOn(s: SentinelSetup): Promise<{ publisher: FanoutProcess; gateways: FanoutProcess[] }> {
  const env = { REDIS_SENTINELS: s.sentinelList, REDIS_SENTINEL_MASTER: s.masterName, FANOUT_AUTH: 'none' };
  const [publisher, ...gateways] = await Promise.all([
    startFanout('publisher', { ...env, FANOUT_REDIS_WAIT_REPLICAS: 1 }),
    startFanout('gateway', env),
    startFanout('gateway', env),
  ]);
  processes.push(publisher!, ...gateways);
  return { publisher: publisher!, gateways };
}

/** POSTs the event until it is answered 202 (the same eventId each time: a retry is never stored twice). */
async function publishUntilStored(publisher: FanoutProcess, event: object, limitMs = 60_000): Promise<number> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      const response = await fetch(`${publisher.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { results?: { seq: number }[] };
      if (response.status === 202) return body.results![0]!.seq;
      if (response.status !== 503) throw new Error(`publish answered ${response.status}: ${JSON.stringify(body)}`);
    } catch (error) {
      if (!(error instanceof TypeError) && !(error as Error).name.includes('Timeout')) throw error;
    }
    if (Date.now() > deadline) throw new Error(`the event was not stored within ${limitMs} ms\n${publisher.tail(20)}`);
    await sleep(100);
  }
}

function logLine(packRunId: string, lineNo: number) {
  return makeEvent(TENANT, 'pack-run', packRunId, 'pack_run.log', { stepIndex: 0, lineNo, stream: 'stdout', message: `line ${lineNo}` });
}

async function openClients(gateways: FanoutProcess[], packRunId: string, perGateway: number): Promise<SseStream[]> {
  const streams: SseStream[] = [];
  for (const gateway of gateways) {
    for (let i = 0; i < perGateway; i++) {
      streams.push(await openStream(`${gateway.url}/api/v1/stream/pack-runs/${packRunId}`, { headers: { 'X-Tenant': TENANT } }));
    }
  }
  return streams;
}

/** Every client got exactly seqs 1..count, each once, in order, with the stored eventIds. */
async function expectEveryClientHas(streams: SseStream[], eventIds: string[]): Promise<void> {
  try {
    for (const stream of streams) await stream.waitForEvents(eventIds.length, 60_000);
  } catch (error) {
    const logs = processes.map((p) => `--- ${p.role} ${p.port}\n${p.tail(30)}`).join('\n');
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  }
  await sleep(500); // anything sent twice would arrive now
  for (const stream of streams) {
    const data = stream.eventData<{ seq: number; eventId: string }>();
    expect(data.map((d) => d.seq)).toEqual(eventIds.map((_, i) => i + 1));
    expect(data.map((d) => d.eventId)).toEqual(eventIds);
  }
}

interface StreamingPackRun {
  publisher: FanoutProcess;
  gateways: FanoutProcess[];
  packRunId: string;
  /** The eventIds answered 202, in seq order. */
  stored: string[];
  streams: SseStream[];
  /** Publishes log lines `from`..`to` one by one, each until stored. */
  publishLines(from: number, to: number): Promise<void>;
}

/** A sentinel setup with fanout on it, a running pack run, and `clientsPerGateway` clients of it on each gateway. */
async function startStreamingPackRun(clientsPerGateway: number): Promise<StreamingPackRun> {
  setup = await startSentinelSetup({ replicas: 2, sentinels: 3 });
  const { publisher, gateways } = await startFanoutOn(setup);
  const packRunId = uniqueId('pack-run');
  const start = makeEvent(TENANT, 'pack-run', packRunId, 'pack_run.status', { status: 'running' });
  const stored = [start.eventId];
  expect(await publishUntilStored(publisher, start)).toBe(1);
  const streams = await openClients(gateways, packRunId, clientsPerGateway);
  // Every client has its replay before a test breaks the master: a replay cut by a lost store ends
  // the stream for the client to resume (an EventSource would), which these raw clients do not do.
  for (const stream of streams) await stream.waitForEvents(1, 30_000);
  return {
    publisher,
    gateways,
    packRunId,
    stored,
    streams,
    async publishLines(from, to) {
      for (let line = from; line <= to; line++) {
        const event = logLine(packRunId, line);
        expect(await publishUntilStored(publisher, event)).toBe(stored.length + 1);
        stored.push(event.eventId);
      }
    },
  };
}

async function readyStatus(gateway: FanoutProcess): Promise<number> {
  try {
    return (await fetch(`${gateway.url}/readyz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

/** The clients connected to a data node by name (fanout names its connections `fanout…`). */
async function fanoutConnectionsOn(node: SentinelNode): Promise<string[]> {
  const list = (await node.client().client('LIST')) as string;
  return list.split('\n').filter((line) => /\bname=fanout/.test(line));
}

test('killing the master: readiness drops and comes back, and every event answered 202 reaches every client once, in order', async () => {
  const run = await startStreamingPackRun(2);
  const { gateways, stored, streams } = run;

  const readiness = new Map<FanoutProcess, Set<number>>(gateways.map((g) => [g, new Set<number>()]));
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const gateway of gateways) readiness.get(gateway)!.add(await readyStatus(gateway));
      await sleep(100);
    }
  })();

  let newMaster: SentinelNode;
  try {
    const master = await setup!.currentMaster();
    await run.publishLines(1, 20);
    await master.kill();
    await run.publishLines(21, 80);
    newMaster = await setup!.waitForNewMaster(master);
    expect(newMaster.port).not.toBe(master.port);

    await expectEveryClientHas(streams, stored);
    for (const gateway of gateways) await waitFor(`gateway ${gateway.port} ready again`, async () => (await readyStatus(gateway)) === 200, 30_000, 100);
  } finally {
    watching = false;
    await watcher;
  }
  for (const gateway of gateways) expect([...readiness.get(gateway)!]).toEqual(expect.arrayContaining([503, 200]));

  // Publishing goes on on the new master, and the stream is there.
  await run.publishLines(81, 81);
  await expectEveryClientHas(streams, stored);
  expect(Number(await newMaster.client().xlen(`fo:{${TENANT}:pack-run:${run.packRunId}}:s`))).toBe(stored.length);
});

test('a master demoted while alive (SENTINEL FAILOVER): no fanout connection stays on it, and streams go on from the new master', async () => {
  const run = await startStreamingPackRun(1);
  const { gateways, stored, streams } = run;
  await run.publishLines(1, 10);
  const old = await setup!.currentMaster();
  // The publisher's and both gateways' command and subscription connections.
  expect((await fanoutConnectionsOn(old)).length).toBeGreaterThanOrEqual(6);

  await setup!.sentinels[0]!.client().call('SENTINEL', 'FAILOVER', setup!.masterName);
  const newMaster = await setup!.waitForNewMaster(old);
  await waitFor(`the demoted node ${old.port} is a replica`, async () => ((await old.client().role()) as string[])[0] === 'slave', 30_000, 100);

  // Publishing goes on; everything comes from the new master.
  await run.publishLines(11, 30);
  await waitFor(`no fanout connection left on the demoted node ${old.port}`, async () => (await fanoutConnectionsOn(old)).length === 0, 30_000, 100);
  for (const gateway of gateways) await waitFor(`gateway ${gateway.port} ready`, async () => (await readyStatus(gateway)) === 200, 30_000, 100);
  await expectEveryClientHas(streams, stored);
  expect((await fanoutConnectionsOn(newMaster)).length).toBeGreaterThanOrEqual(6);
  // A client that connects now reads the whole history from the new master.
  const late = await openStream(`${gateways[1]!.url}/api/v1/stream/pack-runs/${run.packRunId}`, { headers: { 'X-Tenant': TENANT } });
  await expectEveryClientHas([late], stored);
});

test('Redis is reached through the sentinels the configuration names', async () => {
  setup = await startSentinelSetup({ replicas: 1, sentinels: 1 });
  const gateway = await startFanout('gateway', { REDIS_SENTINELS: setup.sentinelList, REDIS_SENTINEL_MASTER: setup.masterName, FANOUT_AUTH: 'none', LOG_LEVEL: 'info' });
  processes.push(gateway);
  expect(gateway.logs.join('\n')).toContain(`sentinel master ${setup.masterName} via ${setup.sentinelList}`);
  expect((await fanoutConnectionsOn(await setup.currentMaster())).length).toBeGreaterThanOrEqual(2);
});

test('a master that stops answering (SIGSTOP, as behind a partition): every process moves to the new master while the old one is frozen, and none goes back to it once it is demoted', async () => {
  const run = await startStreamingPackRun(1);
  const { gateways, stored, streams } = run;
  const old = await setup!.currentMaster();
  old.signal('SIGSTOP');
  const newMaster = await setup!.waitForNewMaster(old);
  // The frozen master's connections neither close nor answer: only the sentinels' +switch-master
  // moves the processes, and they must be ready on the new master before the old one is back.
  for (const gateway of gateways) await waitFor(`gateway ${gateway.port} ready on the new master`, async () => (await readyStatus(gateway)) === 200, 30_000, 100);
  await run.publishLines(1, 20);
  await expectEveryClientHas(streams, stored);
  expect((await fanoutConnectionsOn(newMaster)).length).toBeGreaterThanOrEqual(6);

  old.signal('SIGCONT');
  await waitFor(`the old master ${old.port} demoted to a replica`, async () => ((await old.client().role().catch(() => ['unknown'])) as string[])[0] === 'slave', 30_000, 100);
  await run.publishLines(21, 30);
  await expectEveryClientHas(streams, stored);
  expect(await fanoutConnectionsOn(old)).toEqual([]);
});

test('a store left on a node that is no longer the master (demoted behind the sentinels\' back) fails the probe and is dropped', async () => {
  setup = await startSentinelSetup({ replicas: 1, sentinels: 1 });
  const bus = new RedisBus({ sentinel: { sentinels: [{ host: '127.0.0.1', port: setup.sentinels[0]!.port }], masterName: setup.masterName, tls: false }, historyMaxLen: 1000, historyTtlSeconds: 3600 });
  try {
    await waitFor('the bus probe answers on the master', () => bus.probe(1000).then(() => true, () => false));
    const [master, replica] = setup.nodes as [SentinelNode, SentinelNode];
    // No sentinel sees it happen: no +switch-master, no CLIENT KILL. Only the probe's role check can.
    setup.sentinels[0]!.signal('SIGSTOP');
    await replica.client().replicaof('NO', 'ONE');
    await master.client().replicaof('127.0.0.1', replica.port);
    await expect(bus.probe(1000)).rejects.toThrow(/is a slave, not the master/);
    await waitFor('the bus has dropped its connections to the demoted node', async () => (await fanoutConnectionsOn(master)).length < 2, 10_000, 50);
  } finally {
    setup.sentinels[0]!.signal('SIGCONT');
    await bus.close();
  }
});
