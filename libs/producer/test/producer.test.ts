/**
 * @fanout/producer against real processes: a publisher and a gateway on a real redis-server
 * (appendonly, so it can be restarted with its data). What is stored is read back through the
 * gateway's history route.
 */
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { packRunPlan } from '../../../test/support/resuming-client';
import { Stack, TestEvent, jobEvents, startStack } from '../../../test/support/stack';
import { sleep, waitFor } from '../../../test/support/wait';
import { Producer, ProducerClosedError, ProducerConflictError, ProducerEvent, ProducerOptions, StoredResult, ValidationError, createProducer } from '../src';

let redis: RedisServer;
let stack: Stack;

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  stack = await startStack({ gateways: 1, redis });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

/** What the producer sent: requests, and whether one subject ever had two requests in flight. */
interface Wire {
  requests: number;
  events: number;
  overlaps: string[];
  maxInFlight: number;
}

/** A fetch that records each request's subjects while it is in flight. */
function watchedFetch(): { fetch: typeof fetch; wire: Wire } {
  const wire: Wire = { requests: 0, events: 0, overlaps: [], maxInFlight: 0 };
  const inFlight = new Map<string, number>();
  let open = 0;
  const wrapped: typeof fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body)) as TestEvent | { events: TestEvent[] };
    const events = 'events' in body ? body.events : [body];
    const keys = [...new Set(events.map((e) => `${e.subject.kind}:${e.subject.id}`))];
    wire.requests += 1;
    wire.events += events.length;
    for (const key of keys) {
      if (inFlight.get(key)) wire.overlaps.push(key);
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
    }
    open += 1;
    wire.maxInFlight = Math.max(wire.maxInFlight, open);
    try {
      const response = await fetch(input, init);
      await response.clone().arrayBuffer(); // the answer is read before the request counts as done
      return response;
    } finally {
      open -= 1;
      for (const key of keys) inFlight.set(key, inFlight.get(key)! - 1);
    }
  };
  return { fetch: wrapped, wire };
}

function producerFor(options: Partial<ProducerOptions> = {}): Producer {
  return createProducer({ url: stack.publisher.url, tenant: stack.tenant, ...options });
}

/** Every stored event of a subject, through the gateway's history route. */
async function history(kind: 'job' | 'pack-run' | 'run', id: string): Promise<{ eventId: string; seq: number; type: string; data: Record<string, unknown> }[]> {
  const events: { eventId: string; seq: number; type: string; data: Record<string, unknown> }[] = [];
  let after = 0;
  for (;;) {
    const answer = await stack.history(kind, id, { after, limit: 1000 });
    if (answer.status !== 200) throw new Error(`history ${kind} ${id}: ${answer.status} ${answer.text}`);
    events.push(...(answer.json.events as typeof events));
    if (answer.json.next === null) return events;
    after = answer.json.next as number;
  }
}

/** Publishes without waiting for each answer (a producer's hot loop); resolves with each publish's outcome in order. */
function publishAll(producer: Producer, events: TestEvent[]): Promise<PromiseSettledResult<StoredResult>[]> {
  return Promise.allSettled(events.map((e) => producer.publish(e as ProducerEvent)));
}

/** Interleaves the subjects' events at random, each subject's own order kept. */
function interleave(plans: { events: TestEvent[] }[]): TestEvent[] {
  const cursors = plans.map((p) => ({ events: p.events, next: 0 }));
  const out: TestEvent[] = [];
  for (;;) {
    const open = cursors.filter((c) => c.next < c.events.length);
    if (open.length === 0) return out;
    const pick = open[Math.floor(Math.random() * open.length)]!;
    out.push(pick.events[pick.next++]!);
  }
}

test('order per subject under concurrency: 40 subjects, publish calls interleaved, each subject stored in publish order, never two requests for one subject in flight', async () => {
  const plans = Array.from({ length: 40 }, () => packRunPlan(stack.tenant, 120, { terminal: false }));
  const { fetch: watched, wire } = watchedFetch();
  const producer = producerFor({ maxBatch: 50, lingerMs: 2, maxInFlight: 8, fetch: watched });
  const order = interleave(plans);
  const outcomes = await publishAll(producer, order);
  await producer.close();

  expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
  const seqOf = new Map(order.map((e, i) => [e.eventId, (outcomes[i] as PromiseFulfilledResult<StoredResult>).value.seq]));
  for (const plan of plans) {
    expect(plan.events.map((e) => seqOf.get(e.eventId))).toEqual(plan.events.map((_, i) => i + 1));
    const stored = await history('pack-run', plan.id);
    expect(stored.map((e) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
  }
  expect(wire.overlaps).toEqual([]);
  expect(wire.maxInFlight).toBeGreaterThan(1); // different subjects did go in parallel
  console.log(`ordering: ${order.length} events of ${plans.length} subjects in ${wire.requests} requests (${wire.events} events sent, retries included), up to ${wire.maxInFlight} in flight`);
});

test('typed errors: a bad event rejects at once with ValidationError; a 409 rejects only the event that broke the state machine, with current and requested, and its subject\'s other events and other subjects are stored', async () => {
  const { fetch: watched, wire } = watchedFetch();
  const producer = producerFor({ lingerMs: 50, fetch: watched });
  const a = jobEvents(stack.tenant);
  const b = jobEvents(stack.tenant);
  await producer.publish(a.status('pending') as ProducerEvent);

  const requestsBefore = wire.requests;
  const invalid = a.progress(150);
  const error = await producer.publish(invalid as ProducerEvent).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toMatchObject({ status: 400, eventId: invalid.eventId, errors: [expect.objectContaining({ path: 'data.percent' })] });
  expect(String((error as Error).message)).toMatch(/^400 Bad Request/);
  expect(wire.requests).toBe(requestsBefore); // nothing was sent

  // One request (the linger gathers them): job a's events are stored all or none by the publisher,
  // so its good events come back "not stored" and the producer sends them again without the bad one.
  const batch = [a.status('scheduled'), a.status('succeeded'), a.progress(10), b.status('pending'), b.progress(5)];
  const outcomes = await publishAll(producer, batch);
  await producer.close();
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
  const conflict = (outcomes[1] as PromiseRejectedResult).reason as ProducerConflictError;
  expect(conflict).toBeInstanceOf(ProducerConflictError);
  expect(conflict).toMatchObject({ status: 409, eventId: batch[1]!.eventId, current: 'scheduled', requested: 'succeeded' });
  expect(conflict.message).toContain('409 Conflict');
  expect((await history('job', a.id)).map((e) => [e.seq, e.eventId])).toEqual([
    [1, expect.any(String)],
    [2, batch[0]!.eventId],
    [3, batch[2]!.eventId],
  ]);
  expect((await history('job', b.id)).map((e) => e.eventId)).toEqual([batch[3]!.eventId, batch[4]!.eventId]);
  expect(wire.requests).toBe(requestsBefore + 2); // the batch, then job a's two good events again
});

test('close() delivers everything queued, however long the linger; publish after close rejects', async () => {
  const plan = packRunPlan(stack.tenant, 30, { terminal: false });
  const producer = producerFor({ lingerMs: 60_000 });
  let settled = 0;
  const outcomes = plan.events.map((e) => producer.publish(e as ProducerEvent).finally(() => (settled += 1)));
  await sleep(100);
  expect(settled).toBe(0); // still lingering
  await producer.close();
  expect(settled).toBe(plan.events.length);
  expect((await Promise.all(outcomes)).map((r) => r.seq)).toEqual(plan.events.map((_, i) => i + 1));
  expect((await history('pack-run', plan.id)).map((e) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
  await expect(producer.publish(plan.events[0] as ProducerEvent)).rejects.toBeInstanceOf(ProducerClosedError);
});

test('a full queue applies backpressure: with the publisher stopped (SIGSTOP) at most maxQueued events are held, the rest of the publish calls wait; after SIGCONT every event is stored once, in order', async () => {
  const MAX_QUEUED = 20;
  const plan = packRunPlan(stack.tenant, 200, { terminal: false });
  const { fetch: watched, wire } = watchedFetch();
  const producer = producerFor({ maxBatch: 10, lingerMs: 1, maxQueued: MAX_QUEUED, fetch: watched });
  await producer.publish(plan.events[0] as ProducerEvent);

  process.kill(stack.publisher.pid, 'SIGSTOP');
  let resumed = false;
  try {
    let settled = 0;
    const outcomes = Promise.allSettled(plan.events.slice(1).map((e) => producer.publish(e as ProducerEvent).finally(() => (settled += 1))));
    let roomGiven = false;
    const room = producer.whenRoom().then(() => (roomGiven = true));
    await sleep(1500);
    expect(settled).toBe(0);
    expect(producer.queued).toBe(MAX_QUEUED);
    expect(producer.waiting).toBe(plan.events.length - 1 - MAX_QUEUED);
    expect(roomGiven).toBe(false);
    expect(wire.events).toBeLessThanOrEqual(1 + MAX_QUEUED); // only admitted events were ever sent
    process.kill(stack.publisher.pid, 'SIGCONT');
    resumed = true;
    const results = await outcomes;
    await room;
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(results.map((r) => (r as PromiseFulfilledResult<StoredResult>).value.seq)).toEqual(plan.events.slice(1).map((_, i) => i + 2));
  } finally {
    if (!resumed) process.kill(stack.publisher.pid, 'SIGCONT');
  }
  await producer.close();
  expect((await history('pack-run', plan.id)).map((e) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
});

test('retry through a Redis restart: the producer keeps publishing while Redis is stopped for 2 s and started again; every subject holds exactly the published events, once each, in publish order', async () => {
  const plans = Array.from({ length: 4 }, () => packRunPlan(stack.tenant, 400, { terminal: false }));
  let retries = 0;
  const reasons = new Set<string>();
  const producer = producerFor({
    maxBatch: 20,
    lingerMs: 2,
    maxQueued: 200,
    retry: { initialDelayMs: 20, maxDelayMs: 500 },
    onRetry: (reason) => {
      retries += 1;
      reasons.add(reason.split(':')[0]!);
    },
  });
  let stored = 0;
  let outage: Promise<void> | undefined;
  const order = interleave(plans);
  const outcomes: Promise<StoredResult>[] = [];
  for (const [i, event] of order.entries()) {
    await producer.whenRoom();
    outcomes.push(
      producer.publish(event as ProducerEvent).then((r) => {
        stored += 1;
        if (stored === 200 && !outage) {
          outage = (async () => {
            await redis.kill('SIGTERM'); // a clean stop: Redis writes its append-only file
            await sleep(2000);
            await redis.start();
          })();
        }
        return r;
      }),
    );
    if (i % 10 === 9) await sleep(5); // a steady producer, so the outage falls in the middle
  }
  const results = await Promise.allSettled(outcomes);
  await producer.close();
  await outage;
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(retries).toBeGreaterThan(0);

  const seqOf = new Map(order.map((e, i) => [e.eventId, (results[i] as PromiseFulfilledResult<StoredResult>).value.seq]));
  for (const plan of plans) {
    expect(plan.events.map((e) => seqOf.get(e.eventId))).toEqual(plan.events.map((_, i) => i + 1));
    const storedEvents = await history('pack-run', plan.id);
    expect(storedEvents.map((e) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
    expect(storedEvents.map((e) => e.seq)).toEqual(plan.events.map((_, i) => i + 1));
  }
  const duplicates = results.filter((r) => (r as PromiseFulfilledResult<StoredResult>).value.duplicate).length;
  console.log(`Redis restart: ${retries} retries (${[...reasons].join(', ')}), ${duplicates} events answered as duplicates of a cut-off attempt, none stored twice`);
}, 120_000);

test('answers lost on the way back (the request reached the publisher, the connection failed before the answer): the same eventIds are sent again, answered as duplicates, and nothing is stored twice', async () => {
  const plans = Array.from({ length: 6 }, () => packRunPlan(stack.tenant, 150, { terminal: false }));
  let requests = 0;
  let lost = 0;
  // Every third request is delivered, then its answer dropped as a reset connection would.
  const losing: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const text = await response.text();
    if (++requests % 3 === 0) {
      lost += 1;
      throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
    }
    return new Response(text, { status: response.status, headers: response.headers });
  };
  let retries = 0;
  const producer = producerFor({ maxBatch: 25, lingerMs: 1, fetch: losing, retry: { initialDelayMs: 5, maxDelayMs: 50 }, onRetry: () => (retries += 1) });
  const order = interleave(plans);
  const outcomes = await publishAll(producer, order);
  await producer.close();
  expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
  expect(lost).toBeGreaterThan(0);
  expect(retries).toBe(lost);
  const results = new Map(order.map((e, i) => [e.eventId, (outcomes[i] as PromiseFulfilledResult<StoredResult>).value]));
  expect([...results.values()].some((r) => r.duplicate)).toBe(true);
  for (const plan of plans) {
    expect(plan.events.map((e) => results.get(e.eventId)!.seq)).toEqual(plan.events.map((_, i) => i + 1));
    expect((await history('pack-run', plan.id)).map((e) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
  }
});

test('measurement (not an assertion): a producer fed one event per publish call reaches batch throughput', async () => {
  const SUBJECTS = 20;
  const PER_SUBJECT = 500;
  const make = () => Array.from({ length: SUBJECTS }, () => packRunPlan(stack.tenant, PER_SUBJECT, { terminal: false }));
  await waitFor('the publisher ready after the restart', async () => (await fetch(`${stack.publisher.url}/readyz`)).status === 200);

  // Batches of 500 posted by hand, one request at a time per subject, the subjects in parallel.
  const batched = make();
  let started = performance.now();
  await Promise.all(
    batched.map(async (plan) => {
      for (let i = 0; i < plan.events.length; i += 500) await stack.publishOk(plan.events.slice(i, i + 500));
    }),
  );
  const batchRate = (SUBJECTS * PER_SUBJECT) / ((performance.now() - started) / 1000);

  // The same events, one publish(event) call each.
  const single = make();
  const producer = producerFor({ maxQueued: SUBJECTS * PER_SUBJECT, maxInFlight: SUBJECTS }); // as many requests at once as the hand-made batches
  started = performance.now();
  const outcomes = await publishAll(producer, interleave(single));
  await producer.close();
  const producerRate = (SUBJECTS * PER_SUBJECT) / ((performance.now() - started) / 1000);
  expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
  console.log(`throughput: hand-made batches of 500 ${Math.round(batchRate)} events/s; producer, one event per publish call ${Math.round(producerRate)} events/s (${(producerRate / batchRate).toFixed(2)}×)`);
});
