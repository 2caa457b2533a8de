/**
 * Fault tests of issue 3 that move clients around: a reconnect storm across two replicas, the loss
 * of a replica (kill -9) and a SIGTERM drain with 500 clients. Real redis-server, real processes,
 * loopback only. Every client proves what it got: seq 1..N of its subject, contiguous, no duplicate,
 * and exactly the published eventIds in order. Timeouts are hang guards only.
 */
import { FanoutProcess } from '../support/fanout-process';
import { closeAllStreams, within } from '../support/sse-client';
import { ResumingClient, expectContiguous, packRunPlan, publishPaced, seededRandom } from '../support/resuming-client';
import { PublishResult, Stack, TestEvent, startStack } from '../support/stack';
import { sleep, waitFor } from '../support/wait';

jest.setTimeout(180_000);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

interface Subject {
  id: string;
  events: TestEvent[];
}

function subjects(count: number, eventsEach: number): Subject[] {
  return Array.from({ length: count }, () => packRunPlan(stack.tenant, eventsEach));
}

/** Every client has exactly its subject's events: seq 1..N in order, no gap, no duplicate, the published eventIds. */
function expectComplete(clients: ResumingClient[], bySubject: Map<string, Subject>): void {
  for (const c of clients) {
    const subject = bySubject.get(c.id)!;
    expectContiguous(c.seqs(), 1, subject.events.length, `${c.name} (${JSON.stringify(c.connections)})`);
    const ids = c.eventIds();
    const wrong = ids.findIndex((id, i) => id !== subject.events[i]!.eventId);
    if (wrong >= 0) throw new Error(`${c.name}: event ${wrong + 1} has eventId ${ids[wrong]}, published ${subject.events[wrong]!.eventId}`);
  }
}

/** Publishes each subject's events after the first one (already stored), all subjects at once, paced. */
async function publishRest(list: Subject[], options: { batchSize: number; pauseMs: number; onBatch?: (results: PublishResult[]) => void }): Promise<void> {
  await Promise.all(list.map((s) => publishPaced(stack, s.events.slice(1), options)));
}

async function expectNothingHeld(gateways: FanoutProcess[]): Promise<void> {
  for (const g of gateways) {
    await waitFor(
      `${g.url}: no stream and no bus subscription left`,
      async () => (await g.metric('fanout_gateway_connections')) === 0 && (await g.metric('fanout_gateway_subscriptions')) === 0,
      15_000,
      100,
    );
  }
}

test('reconnect storm: 200 clients on two replicas each drop and resume with Last-Event-ID ≥ 5 times at random moments while 20,000 events go to 20 subjects; every client ends with seq 1..N, contiguous, no duplicate', async () => {
  const SUBJECTS = 20;
  const EVENTS_EACH = 1000;
  const CLIENTS_PER_SUBJECT = 10;
  /** The last events of a subject, the terminal one included, wait until its clients made all their drops. */
  const TAIL = 25;
  const seed = Date.now() % 1_000_000;
  const rand = seededRandom(seed);
  const list = subjects(SUBJECTS, EVENTS_EACH);
  const bySubject = new Map(list.map((s) => [s.id, s]));
  await Promise.all(list.map((s) => stack.publishOk(s.events[0]!)));

  const [g0, g1] = stack.gateways as [FanoutProcess, FanoutProcess];
  const crossings = { same: 0, other: 0 };
  const clients: ResumingClient[] = [];
  const runs: Promise<void>[] = [];
  const dropsDone = new Map<string, Promise<void>[]>(list.map((s) => [s.id, []]));
  list.forEach((subject, si) => {
    for (let k = 0; k < CLIENTS_PER_SUBJECT; k++) {
      const c = new ResumingClient(stack, 'pack-run', subject.id, `client ${si}.${k} (seed ${seed})`);
      clients.push(c);
      // 5 to 7 drops, each after a random number of events (so at random moments of the publishing and of replays).
      const drops = 5 + Math.floor(rand() * 3);
      const thresholds = new Set<number>();
      while (thresholds.size < drops) thresholds.add(1 + Math.floor(rand() * (EVENTS_EACH - TAIL - 1)));
      const plan = [...thresholds].sort((a, b) => a - b);
      const startDelay = Math.floor(rand() * 2000);
      const delays = plan.map(() => Math.floor(rand() * 200));
      const switches = plan.map(() => rand() < 0.6);
      let gateway = k % 2 === 0 ? g0 : g1;
      let markDropsDone!: () => void;
      dropsDone.get(subject.id)!.push(new Promise<void>((resolve) => (markDropsDone = resolve)));
      runs.push(
        (async () => {
          await sleep(startDelay);
          for (let drop = 0; ; drop++) {
            const status = await c.connect(gateway);
            if (status !== 200) throw new Error(`${c.name}: answered ${status}`);
            const threshold = plan[drop];
            if (threshold === undefined) {
              markDropsDone();
              await c.waitForTotal(EVENTS_EACH, 120_000);
              const reason = await c.waitForServerEnd(15_000);
              if (reason !== 'completed') throw new Error(`${c.name}: ended with ${reason ?? 'a cut'}, not completed`);
              // Resuming after the end: nothing more to send.
              const after = await c.connect(gateway === g0 ? g1 : g0);
              if (after !== 204) throw new Error(`${c.name}: resuming after the terminal event answered ${after}, not 204`);
              return;
            }
            await c.waitForTotal(threshold, 120_000);
            c.drop();
            await sleep(delays[drop]!);
            if (switches[drop]) {
              crossings.other += 1;
              gateway = gateway === g0 ? g1 : g0;
            } else crossings.same += 1;
          }
        })().finally(() => markDropsDone()), // a failed client must not hold the tail back
      );
    }
  });

  const started = Date.now();
  try {
    await Promise.all(
      list.map(async (s) => {
        await publishPaced(stack, s.events.slice(1, EVENTS_EACH - TAIL), { batchSize: 25, pauseMs: 150 });
        await Promise.all(dropsDone.get(s.id)!);
        await stack.publishOk(s.events.slice(EVENTS_EACH - TAIL));
      }),
    );
    const publishedIn = Date.now() - started;
    await within('every client to finish', Promise.all(runs), 150_000);

    expectComplete(clients, bySubject);
    for (const c of clients) {
      const endings = c.connections.map((x) => x.ending);
      const dropped = endings.filter((e) => e === 'dropped by the test').length;
      expect({ client: c.name, dropped: dropped >= 5, last: endings.slice(dropped) }).toEqual({
        client: c.name,
        dropped: true,
        last: ['end completed', 'status 204'],
      });
    }
    // Both kinds of resume happened: on the same replica and across replicas.
    expect(crossings.same).toBeGreaterThan(0);
    expect(crossings.other).toBeGreaterThan(0);
    await expectNothingHeld([g0, g1]);
    console.log(
      `reconnect storm (seed ${seed}): ${clients.length} clients, ${clients.reduce((n, c) => n + c.connections.length, 0)} connections, ` +
        `${crossings.other} resumes across replicas, ${crossings.same} on the same one; published in ${publishedIn} ms, done in ${Date.now() - started} ms`,
    );
  } finally {
    clients.forEach((c) => c.close());
  }
});

test('replica loss: kill -9 one gateway while publishing; its clients resume on the other with Last-Event-ID and lose nothing', async () => {
  const EVENTS_EACH = 600;
  const list = subjects(4, EVENTS_EACH);
  const bySubject = new Map(list.map((s) => [s.id, s]));
  await Promise.all(list.map((s) => stack.publishOk(s.events[0]!)));
  const victim = await stack.addGateway();
  const survivor = stack.gateways[0]!;
  const victims: ResumingClient[] = [];
  const witnesses: ResumingClient[] = [];
  try {
    for (const [si, s] of list.entries()) {
      for (let k = 0; k < 10; k++) victims.push(new ResumingClient(stack, 'pack-run', s.id, `victim client ${si}.${k}`));
      witnesses.push(new ResumingClient(stack, 'pack-run', s.id, `witness client ${si} on the survivor`));
    }
    await Promise.all(victims.map((c) => c.connect(victim).then((status) => expect(status).toBe(200))));
    await Promise.all(witnesses.map((c) => c.connect(survivor).then((status) => expect(status).toBe(200))));

    let batches = 0;
    let killed: Promise<void> | undefined;
    let countsAtKill: number[] = [];
    const publishing = publishRest(list, {
      batchSize: 10,
      pauseMs: 40,
      onBatch: () => {
        batches += 1;
        // About a third of the way through: the gateway dies with no warning.
        if (batches === Math.floor((list.length * EVENTS_EACH) / 10 / 3) && !killed) {
          countsAtKill = victims.map((c) => c.count);
          killed = victim.kill();
        }
      },
    });
    const resumed = victims.map(async (c) => {
      const reason = await c.waitForServerEnd(60_000);
      if (reason !== undefined) throw new Error(`${c.name}: expected the connection to be cut, got end ${reason}`);
      await sleep(Math.floor(Math.random() * 300));
      const status = await c.connect(survivor);
      if (status !== 200) throw new Error(`${c.name}: resuming answered ${status}`);
      await c.waitForTotal(bySubject.get(c.id)!.events.length, 60_000);
      expect(await c.waitForServerEnd(15_000)).toBe('completed');
    });
    await publishing;
    await within('the victim clients to resume and finish', Promise.all(resumed), 90_000);
    await within('the witnesses to finish', Promise.all(witnesses.map(async (c) => {
      await c.waitForTotal(EVENTS_EACH, 60_000);
      expect(await c.waitForServerEnd(15_000)).toBe('completed');
    })), 90_000);
    await killed;

    expect(victim.exited).toBe(true);
    expect(victim.exitCode).toBeNull(); // ended by SIGKILL
    // It died mid-stream: every client had some events and none had all of them.
    expect(countsAtKill.every((n) => n > 0 && n < EVENTS_EACH)).toBe(true);
    expectComplete([...victims, ...witnesses], bySubject);
    for (const c of victims) expect(c.connections.map((x) => [x.port, x.status, x.ending])).toEqual([
      [victim.port, 200, 'cut by the server'],
      [survivor.port, 200, 'end completed'],
    ]);
    for (const c of witnesses) expect(c.connections).toHaveLength(1);
    await expectNothingHeld([survivor]);
  } finally {
    [...victims, ...witnesses].forEach((c) => c.close());
    await stack.stopProcess(victim);
  }
});

test('SIGTERM with 500 clients: all get end {"reason":"shutdown"}, the process exits 0 within FANOUT_SHUTDOWN_GRACE_MS, and they resume on the other replica losing nothing', async () => {
  const GRACE_MS = 5000;
  const EVENTS_EACH = 400;
  const list = subjects(10, EVENTS_EACH);
  const bySubject = new Map(list.map((s) => [s.id, s]));
  await Promise.all(list.map((s) => stack.publishOk(s.events[0]!)));
  const draining = await stack.addGateway({ FANOUT_SHUTDOWN_GRACE_MS: GRACE_MS });
  const survivor = stack.gateways[1]!;
  const clients: ResumingClient[] = [];
  try {
    for (const [si, s] of list.entries()) {
      for (let k = 0; k < 50; k++) clients.push(new ResumingClient(stack, 'pack-run', s.id, `client ${si}.${k}`));
    }
    for (let i = 0; i < clients.length; i += 50) {
      await Promise.all(clients.slice(i, i + 50).map((c) => c.connect(draining).then((status) => expect(status).toBe(200))));
    }
    await Promise.all(clients.map((c) => c.waitForTotal(1, 15_000)));
    expect(await draining.metric('fanout_gateway_connections')).toBe(500);

    let batches = 0;
    let stopping: Promise<{ code: number | null; elapsedMs: number }> | undefined;
    let countsAtSignal: number[] = [];
    const publishing = publishRest(list, {
      batchSize: 10,
      pauseMs: 50,
      onBatch: () => {
        batches += 1;
        if (batches === Math.floor((list.length * EVENTS_EACH) / 10 / 3) && !stopping) {
          countsAtSignal = clients.map((c) => c.count);
          const sentAt = Date.now();
          stopping = draining.stop('SIGTERM').then((code) => ({ code, elapsedMs: Date.now() - sentAt }));
        }
      },
    });
    const resumed = clients.map(async (c) => {
      const reason = await c.waitForServerEnd(60_000);
      if (reason !== 'shutdown') throw new Error(`${c.name}: expected end {"reason":"shutdown"}, got ${reason ?? 'a cut'}`);
      const status = await c.connect(survivor);
      if (status !== 200) throw new Error(`${c.name}: resuming answered ${status}`);
      await c.waitForTotal(bySubject.get(c.id)!.events.length, 60_000);
      expect(await c.waitForServerEnd(15_000)).toBe('completed');
    });
    await publishing;
    await within('the clients to resume and finish', Promise.all(resumed), 120_000);
    const stopped = await stopping!;

    expect(stopped.code).toBe(0);
    expect(stopped.elapsedMs).toBeLessThan(GRACE_MS);
    console.log(`SIGTERM with 500 clients: exited 0 after ${stopped.elapsedMs} ms (grace ${GRACE_MS} ms)`);
    expect(countsAtSignal.every((n) => n > 0 && n < EVENTS_EACH)).toBe(true);
    expectComplete(clients, bySubject);
    for (const c of clients) expect(c.connections.map((x) => [x.port, x.ending])).toEqual([
      [draining.port, 'end shutdown'],
      [survivor.port, 'end completed'],
    ]);
    await expectNothingHeld([survivor]);
  } finally {
    clients.forEach((c) => c.close());
    await stack.stopProcess(draining);
  }
});
