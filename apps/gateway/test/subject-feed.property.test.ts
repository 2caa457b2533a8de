/**
 * SubjectFeed over the real HistoryPages and SubscriptionManager, with every read, drain and live
 * delivery in an order fast-check picks: for any interleaving of history pages and live batches
 * (dropped, duplicated, reordered), page sizes, rooms, trims and losses of the store, each client
 * gets every seq once and in order, or a gap that accounts for what is missing, its replay stays
 * within its room, its stream ends after the terminal event, and no feed reads in a loop.
 * SEAM_PROPERTY_RUNS=<n> runs more cases.
 */
import fc from 'fast-check';
import { EventPosition } from '@fanout/bus';
import { planResume } from '../src/resume-position';
import { StreamOutcome, StreamStart, checkStream, describeLog } from './seam-oracle';
import { LiveFate, RecordingSink, SimulatedReplica, SimulatedStore } from './seam-world';

type PublishOp = { type: 'publish'; size: number; fate: LiveFate; terminal?: boolean };
type Op = PublishOp | { type: 'lose'; recover: boolean } | { type: 'recover' } | { type: 'connect'; client: number };

interface ClientPlan {
  /** No position, a seq of the current epoch, or a position in an epoch the store lost (none if it lost none yet). */
  resume: 'none' | number | 'old-epoch';
  room: number;
  connectAt: number;
}

interface Client {
  sink: RecordingSink;
  start: StreamStart;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('publish' as const), size: fc.integer({ min: 1, max: 3 }), fate: fc.constantFrom<LiveFate>('deliver', 'deliver', 'deliver', 'drop', 'duplicate') }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('lose' as const), recover: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ type: 'recover' as const }) },
);

const scenarioArb = fc.record({
  world: fc.record({
    maxLen: fc.integer({ min: 2, max: 30 }),
    pageSize: fc.integer({ min: 1, max: 5 }),
    clientBufferBytes: fc.integer({ min: 60, max: 1500 }),
    readsSeeIssueTime: fc.boolean(),
  }),
  before: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }),
  clients: fc.array(
    fc.record<ClientPlan>({ resume: fc.oneof(fc.constant('none' as const), fc.nat({ max: 15 }), fc.constant('old-epoch' as const)), room: fc.integer({ min: 1, max: 250 }), connectAt: fc.nat({ max: 20 }) }),
    { minLength: 1, maxLength: 3 },
  ),
  ops: fc.array(opArb, { maxLength: 20 }),
  terminal: fc.boolean(),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function connect(replica: SimulatedReplica, scheduler: fc.Scheduler, plan: ClientPlan): Client | undefined {
  const { store } = replica;
  const info = store.info();
  if (!info) return undefined;
  let position: EventPosition | undefined;
  if (typeof plan.resume === 'number') position = { epoch: info.epoch, seq: Math.min(plan.resume, info.lastSeq) };
  else if (plan.resume === 'old-epoch' && store.epochs.length > 1) {
    const old = store.epochs[store.epochs.length - 2]!;
    position = { epoch: old, seq: store.lastSeq.get(old) ?? 0 };
  }
  const resume = planResume(position, info);
  if (resume.kind === 'done') return undefined;
  const sink = new RecordingSink(scheduler, store, plan.room);
  const feed = replica.feed(sink, resume.afterSeq, info.epoch);
  void feed.subscribe().then(() => feed.replay(resume.gap));
  return { sink, start: { epoch: position?.epoch ?? info.epoch, afterSeq: position?.seq ?? 0 } };
}

/** The scenario's operations in order, with each client's connection at its place and the last publish terminal if asked. */
function timeline(scenario: Scenario): Op[] {
  const ops = [...scenario.ops];
  const lastPublish = ops.map((op) => op.type).lastIndexOf('publish');
  if (scenario.terminal && lastPublish >= 0) ops[lastPublish] = { ...(ops[lastPublish] as PublishOp), terminal: true };
  scenario.clients.forEach((client, index) => ops.splice(Math.min(client.connectAt, ops.length), 0, { type: 'connect', client: index }));
  return ops;
}

async function run(scheduler: fc.Scheduler, scenario: Scenario): Promise<void> {
  const replica = new SimulatedReplica(scheduler, scenario.world);
  const terminalBefore = scenario.terminal && !scenario.ops.some((op) => op.type === 'publish');
  scenario.before.forEach((size, i) => replica.publish(size, terminalBefore && i === scenario.before.length - 1, 'deliver'));
  const clients: Client[] = [];
  scheduler.scheduleSequence(
    timeline(scenario).map((op) => ({
      label: JSON.stringify(op),
      builder: async () => {
        if (op.type === 'publish') replica.publish(op.size, op.terminal === true, op.fate);
        else if (op.type === 'lose') {
          replica.store.lose();
          if (op.recover) void scheduler.schedule(Promise.resolve(), 'recovery after the loss').then(() => replica.recover());
        } else if (op.type === 'recover') replica.recover();
        else {
          const client = connect(replica, scheduler, scenario.clients[op.client]!);
          if (client) clients.push(client);
        }
      },
    })),
  );
  await scheduler.waitIdle();

  // Each operation costs a feed a few reads at most (about 3 seen); a feed reading in a loop costs hundreds.
  const readBound = 10 * (scenario.ops.length + scenario.before.length + 1) * Math.max(1, clients.length);
  if (replica.feedReads > readBound) throw new Error(`feeds read ${replica.feedReads} times (at most ${readBound} expected): a feed reads in a loop`);
  for (const client of clients) checkCaughtUp(client, checkStream(client.sink.log, client.start, replica.store), replica.store);
}

/** Once nothing is left to happen, a stream that did not complete has all of the store's current epoch. */
function checkCaughtUp(client: Client, outcome: StreamOutcome, store: SimulatedStore): void {
  const lastSeq = store.lastSeq.get(store.epoch);
  if (outcome.completed || lastSeq === undefined) return;
  const caughtUp = !store.terminalSeq.has(store.epoch) && outcome.epoch === store.epoch && outcome.lastSeq === lastSeq;
  if (!caughtUp) throw new Error(`the stream stopped at ${outcome.epoch}-${outcome.lastSeq}; the store is at ${store.epoch}-${lastSeq}\n${describeLog(client.sink.log)}`);
}

test('every seq once and in order, or a gap for what is missing; the stream ends after the terminal event', async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), scenarioArb, async (scheduler, scenario) => run(scheduler, scenario)),
    { numRuns: Number(process.env.SEAM_PROPERTY_RUNS ?? 500) },
  );
});
