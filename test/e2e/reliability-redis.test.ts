/**
 * Fault tests of issue 3 on the store and the pub/sub path: the subscription connections cut by
 * `CLIENT KILL TYPE pubsub`, Redis stopped for 2 s and started again (appendonly yes, same port,
 * same data directory), and the publisher answering 503 with nothing stored while Redis is away,
 * with retries of the same eventIds that never duplicate; and a publisher finishing a request in
 * flight on SIGTERM. Real redis-server and processes on loopback; timeouts are hang guards only.
 */
import { request as httpRequest } from 'node:http';
import { EventSource } from 'eventsource';
import Redis from 'ioredis';
import { FanoutProcess, startFanout } from '../support/fanout-process';
import { RedisServer, startRedis } from '../support/redis-server';
import { closeAllStreams, within } from '../support/sse-client';
import { ResumingClient, RetryLog, expectContiguous, packRunPlan, publishPaced, publishRetrying } from '../support/resuming-client';
import { PublishResult, Stack, TestEvent, jobEvents, startStack } from '../support/stack';
import { sleep, waitFor } from '../support/wait';

jest.setTimeout(120_000);

let redis: RedisServer;
let stack: Stack;
let admin: Redis;
/** FANOUT_RETRY_MS: the stack's gateways run with its default. */
const RETRY_MS = 2000;

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  stack = await startStack({ gateways: 2, redis });
  admin = redis.client();
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
  await redis?.stop();
}, 60_000);

interface Subject {
  id: string;
  events: TestEvent[];
}

/** Opens `perGateway` clients of each subject on each gateway (from the first event on). */
async function connectClients(list: Subject[], perGateway: number): Promise<ResumingClient[]> {
  const clients: ResumingClient[] = [];
  for (const [si, s] of list.entries()) {
    for (const gi of stack.gateways.keys()) {
      for (let k = 0; k < perGateway; k++) clients.push(new ResumingClient(stack, 'pack-run', s.id, `client ${si}.${gi}.${k}`));
    }
  }
  await Promise.all(clients.map((c, i) => c.connect(stack.gateways[Math.floor(i / perGateway) % stack.gateways.length]!)));
  for (const c of clients) expect(c.connections[0]!.status).toBe(200);
  await Promise.all(clients.map((c) => c.waitForTotal(1, 15_000)));
  return clients;
}

/** Each client got every event of its subject on its one connection: seq 1..N, the published eventIds, then end completed. */
async function expectEveryEventOnOneConnection(clients: ResumingClient[], bySubject: Map<string, Subject>): Promise<void> {
  await within(
    'every client to get every event and end completed',
    Promise.all(
      clients.map(async (c) => {
        await c.waitForTotal(bySubject.get(c.id)!.events.length, 60_000);
        const reason = await c.waitForServerEnd(15_000);
        if (reason !== 'completed') throw new Error(`${c.name}: ended with ${reason ?? 'a cut'}`);
      }),
    ),
    90_000,
  );
  for (const c of clients) {
    const events = bySubject.get(c.id)!.events;
    expect({ client: c.name, connections: c.connections }).toEqual({ client: c.name, connections: [expect.objectContaining({ status: 200, ending: 'end completed' })] });
    expectContiguous(c.seqs(), 1, events.length, c.name);
    const ids = c.eventIds();
    const wrong = ids.findIndex((id, i) => id !== events[i]!.eventId);
    if (wrong >= 0) throw new Error(`${c.name}: event ${wrong + 1} has eventId ${ids[wrong]}, published ${events[wrong]!.eventId}`);
  }
}

async function metricOf(g: FanoutProcess, name: string, labels?: Record<string, string>): Promise<number> {
  return (await g.metric(name, labels)) ?? 0;
}

interface Readiness {
  status: number;
  /** A 503's problem detail. */
  detail?: string;
}

/** /readyz's answer (status 0: none within 1.5 s). */
async function readiness(url: string): Promise<Readiness> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1500) });
    const body = (await response.json()) as { detail?: string };
    return response.status === 200 ? { status: 200 } : { status: response.status, detail: body.detail };
  } catch {
    return { status: 0 };
  }
}

async function readyStatus(url: string): Promise<number> {
  return (await readiness(url)).status;
}

/** Polls /readyz of each process every 100 ms, recording when each answer came. */
function pollReadiness(processes: FanoutProcess[]): { samples: Map<FanoutProcess, (Readiness & { at: number })[]>; stop(): Promise<void> } {
  const samples = new Map(processes.map((p) => [p, [] as (Readiness & { at: number })[]]));
  let running = true;
  const loops = processes.map(async (p) => {
    while (running) {
      const answer = await readiness(p.url);
      samples.get(p)!.push({ at: Date.now(), ...answer });
      await sleep(100);
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

test('pub/sub cut: CLIENT KILL TYPE pubsub while publishing; no client misses an event, none is disconnected, and every recovery shows in fanout_gateway_bus_recoveries_total', async () => {
  const EVENTS_EACH = 800;
  const TAIL = 5;
  const CUTS_WHILE_PUBLISHING = 3;
  const list = Array.from({ length: 4 }, () => packRunPlan(stack.tenant, EVENTS_EACH));
  const bySubject = new Map(list.map((s) => [s.id, s]));
  await Promise.all(list.map((s) => stack.publishOk(s.events[0]!)));
  const clients = await connectClients(list, 4);
  try {
    const gateways = stack.gateways;
    const recoveriesBefore = await Promise.all(gateways.map((g) => metricOf(g, 'fanout_gateway_bus_recoveries_total')));
    const replayedBefore = await Promise.all(gateways.map((g) => metricOf(g, 'fanout_gateway_replayed_events_total')));
    const kills: number[] = [];
    /** Cuts every subscription connection (the gateways' and the publisher's). */
    const cut = async (): Promise<void> => {
      kills.push(Number(await admin.client('KILL', 'TYPE', 'pubsub')));
    };
    const recovered = async (): Promise<void> => {
      for (const [gi, g] of gateways.entries()) {
        const want = recoveriesBefore[gi]! + kills.length;
        await waitFor(`${g.url} to recover from cut ${kills.length}`, async () => (await metricOf(g, 'fanout_gateway_bus_recoveries_total')) >= want, 20_000, 50);
      }
    };

    // Cuts while batches keep flowing: a later batch shows the gap, but the recovery must not wait for one.
    let cutting = Promise.resolve();
    let batches = 0;
    const perSubjectBatches = (EVENTS_EACH - 1 - TAIL) / 5;
    const cutAt = new Set(Array.from({ length: CUTS_WHILE_PUBLISHING }, (_, i) => Math.floor(((i + 1) * perSubjectBatches * list.length) / (CUTS_WHILE_PUBLISHING + 1))));
    await Promise.all(
      list.map((s) =>
        publishPaced(stack, s.events.slice(1, EVENTS_EACH - TAIL), {
          batchSize: 5,
          pauseMs: 10,
          onBatch: () => {
            batches += 1;
            if (cutAt.has(batches)) cutting = cutting.then(cut).then(recovered);
          },
        }),
      ),
    );
    await cutting;
    // The last events, the terminal one included, are published right after a cut, while the gateways are
    // still reconnecting (their first retry is 50 ms away), and nothing follows them: only the recovery's
    // catch-up from history can deliver them.
    await cut();
    await Promise.all(list.map((s) => stack.publishOk(s.events.slice(EVENTS_EACH - TAIL))));
    await recovered();

    await expectEveryEventOnOneConnection(clients, bySubject);
    // Each cut killed at least the two gateways' subscription connections, and each gateway counted each recovery.
    expect(kills).toHaveLength(CUTS_WHILE_PUBLISHING + 1);
    for (const killed of kills) expect(killed).toBeGreaterThanOrEqual(2);
    const recoveriesAfter = await Promise.all(gateways.map((g) => metricOf(g, 'fanout_gateway_bus_recoveries_total')));
    recoveriesAfter.forEach((after, gi) => expect(after - recoveriesBefore[gi]!).toBe(kills.length));
    const replayedAfter = await Promise.all(gateways.map((g) => metricOf(g, 'fanout_gateway_replayed_events_total')));
    console.log(`pub/sub cut: killed ${kills.join(', ')} connections; events read back from history per gateway: ${replayedAfter.map((a, i) => a - replayedBefore[i]!).join(', ')}`);
    // Ready again once a canary went through the restored path.
    for (const g of gateways) await waitFor(`${g.url}/readyz 200 after the cuts`, async () => (await readyStatus(g.url)) === 200, 10_000, 50);
  } finally {
    clients.forEach((c) => c.close());
  }
});

test('Redis restart (appendonly yes): stopped for 2 s and started again on the same port while clients are connected and producers retry on 503 with the same eventIds; every event answered 202 reaches every client; /readyz is 503 during the outage and 200 after', async () => {
  const EVENTS_EACH = 500;
  const list = Array.from({ length: 4 }, () => packRunPlan(stack.tenant, EVENTS_EACH));
  const bySubject = new Map(list.map((s) => [s.id, s]));
  await Promise.all(list.map((s) => stack.publishOk(s.events[0]!)));
  const clients = await connectClients(list, 3);
  const probes = [...stack.gateways, stack.publisher];
  const readiness = pollReadiness(probes);
  const log: RetryLog = { unavailable: 0, networkErrors: 0 };
  try {
    let batches = 0;
    let outage: Promise<{ down: number; up: number }> | undefined;
    const results = new Map<string, PublishResult[]>();
    const publishing = Promise.all(
      list.map(async (s) => {
        results.set(s.id, await publishPaced(stack, s.events.slice(1), {
          batchSize: 10,
          pauseMs: 20,
          log,
          deadline: Date.now() + 90_000,
          onBatch: () => {
            batches += 1;
            if (batches === 12 && !outage) {
              outage = (async () => {
                await redis.kill('SIGTERM'); // a clean stop: Redis flushes its append-only file
                const down = Date.now();
                await sleep(2000);
                const up = Date.now();
                await redis.start();
                return { down, up };
              })();
            }
          },
        }));
      }),
    );
    await within('the producers to get 202 for every event', publishing, 100_000);
    const { down, up } = await outage!;

    // Every answer was 202 at last; each event has the seq of its place (a retry of an event stored before the cut is a duplicate with its original seq).
    for (const s of list) {
      const seqs = results.get(s.id)!.map((r) => r.seq ?? -1);
      expectContiguous(seqs, 2, EVENTS_EACH, `seqs answered for ${s.id}`);
    }
    expect(log.unavailable + log.networkErrors).toBeGreaterThan(0);
    await expectEveryEventOnOneConnection(clients, bySubject);

    for (const p of stack.gateways) {
      await waitFor(`${p.url}/readyz 200 after the restart`, async () => (await readyStatus(p.url)) === 200, 20_000, 100);
    }
    await readiness.stop();
    for (const p of probes) {
      const who = `${p.role} ${p.url}`;
      const samples = readiness.samples.get(p)!;
      const during = samples.filter((x) => x.at > down && x.at <= up);
      // The contract allows 2 s to notice; from then until Redis is started again, every answer is 503.
      const noticed = samples.filter((x) => x.at > down + 2000 && x.at <= up);
      expect({ who, sawNotReadyDuringOutage: during.some((x) => x.status === 503) }).toEqual({ who, sawNotReadyDuringOutage: true });
      expect({ who, answersOnceNoticed: noticed.map((x) => x.status).filter((status) => status !== 503) }).toEqual({ who, answersOnceNoticed: [] });
      expect({ who, readyAfter: samples.at(-1)?.status }).toEqual({ who, readyAfter: 200 });
    }
    console.log(`Redis restart: ${log.unavailable} answers 503 and ${log.networkErrors} failed requests, each retried with the same eventIds`);
  } finally {
    await readiness.stop();
    clients.forEach((c) => c.close());
  }
});

test('publisher: 503 problem+json with nothing stored while Redis is down; concurrent retries of the same eventIds, before and after it is back, never store an event twice', async () => {
  const existing = jobEvents(stack.tenant);
  await stack.publishOk([existing.status('pending'), existing.status('scheduled')]);
  const fresh = jobEvents(stack.tenant);
  const batch = [fresh.status('pending'), fresh.status('scheduled'), fresh.status('leased'), fresh.status('running'), fresh.progress(10), fresh.progress(20)];
  const racer = jobEvents(stack.tenant);
  const racerBatch = [racer.status('pending'), racer.status('scheduled'), racer.progress(1)];
  let source: EventSource | undefined;
  let eventSourceGot: string[] = [];

  await redis.kill('SIGTERM');
  let restarted = false;
  try {
    // While Redis is down: 503, Retry-After, problem+json, for a new subject and for an existing one.
    for (const body of [batch, [existing.status('leased')]]) {
      const answer = await stack.publish(body);
      expect(answer.status).toBe(503);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
      expect(answer.headers.get('retry-after')).toBeTruthy();
      expect(answer.json).toMatchObject({ title: expect.any(String), status: 503, detail: expect.stringMatching(/retry/i) });
    }
    // Reads on the gateway are 503 problem+json too, and every process says it is not ready.
    const stream = await stack.open('job', existing.id, { headers: { Accept: '*/*' } });
    expect(stream.status).toBe(503);
    expect(stream.headers['content-type']).toMatch(/^application\/problem\+json\b/);
    // Except to an EventSource, which gives up for good on any status but 200: a stream of a retry
    // hint (1 to 5 times FANOUT_RETRY_MS) and why, which ends, so it comes back later.
    const eventSource = await stack.open('job', existing.id);
    expect({ status: eventSource.status, type: eventSource.headers['content-type'] }).toEqual({ status: 200, type: 'text/event-stream' });
    const retryLater = await eventSource.body();
    expect(retryLater).toMatch(/^retry: \d+\n\n: the store is unavailable \(reading the subject\)[^\n]*\n\n$/);
    const hint = Number(/^retry: (\d+)/.exec(retryLater)![1]);
    expect(hint >= RETRY_MS && hint <= 5 * RETRY_MS).toBe(true);
    // A real EventSource that opens now gets the job's events once Redis is back.
    source = new EventSource(stack.streamUrl('job', existing.id), { fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, 'X-Tenant': stack.tenant } }) });
    const received: string[] = [];
    source.addEventListener('job.status', (event) => received.push(JSON.parse(event.data).data.status));
    eventSourceGot = received;
    const history = await stack.history('job', existing.id);
    expect(history.status).toBe(503);
    for (const p of [...stack.gateways, stack.publisher]) {
      await waitFor(`${p.url}/readyz 503 while Redis is down`, async () => (await readyStatus(p.url)) === 503, 5_000, 50);
    }

    // Ten producers retry the same batch concurrently, from before Redis is back until each gets 202.
    const log: RetryLog = { unavailable: 0, networkErrors: 0 };
    const racing = Array.from({ length: 10 }, () => publishRetrying(stack, racerBatch, log, Date.now() + 60_000));
    // Redis comes back once the producers are retrying: as many 503s as there are producers.
    await waitFor('ten 503s to the racing producers while Redis is down', () => log.unavailable >= 10, 10_000, 10);
    await redis.start();
    restarted = true;
    const racerAnswers = await within('the racing producers', Promise.all(racing), 60_000);
    expect(log.unavailable).toBeGreaterThan(0);
    for (const p of [...stack.gateways, stack.publisher]) {
      await waitFor(`${p.url}/readyz 200 once Redis is back`, async () => (await readyStatus(p.url)) === 200, 20_000, 50);
    }

    // Nothing of the refused requests was stored.
    expect((await stack.history('job', fresh.id)).status).toBe(404);
    const existingHistory = await stack.history('job', existing.id);
    expect(existingHistory.json.events.map((e: { data: { status: string } }) => e.data.status)).toEqual(['pending', 'scheduled']);

    // The racers: every answer names the same seqs, exactly one stored each event, the history holds each once.
    for (const answer of racerAnswers) expect(answer.map((r) => [r.eventId, r.seq])).toEqual(racerBatch.map((e, i) => [e.eventId, i + 1]));
    for (let i = 0; i < racerBatch.length; i++) expect(racerAnswers.filter((a) => a[i]!.duplicate === false)).toHaveLength(1);
    const racerHistory = await stack.history('job', racer.id);
    expect(racerHistory.json.events.map((e: { eventId: string }) => e.eventId)).toEqual(racerBatch.map((e) => e.eventId));

    // Now that Redis is up, the refused batch is sent again by 20 producers at once: stored once.
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.publish(batch)));
    for (const answer of answers) {
      expect(answer.status).toBe(202);
      expect(answer.json.results.map((r: PublishResult) => [r.eventId, r.seq])).toEqual(batch.map((e, i) => [e.eventId, i + 1]));
    }
    for (let i = 0; i < batch.length; i++) expect(answers.filter((a) => a.json.results[i]!.duplicate === false)).toHaveLength(1);
    const freshHistory = await stack.history('job', fresh.id);
    expect(freshHistory.json.events.map((e: { eventId: string; seq: number }) => [e.eventId, e.seq])).toEqual(batch.map((e, i) => [e.eventId, i + 1]));
    const accepted = await stack.publisher.metric('fanout_publisher_events_total', { result: 'duplicate' });
    expect(accepted).toBeGreaterThanOrEqual(19 * batch.length + 9 * racerBatch.length);

    await waitFor('the EventSource opened while Redis was down to get the job', () => eventSourceGot.length >= 2, 30_000);
    expect({ statuses: eventSourceGot, closed: source?.readyState === EventSource.CLOSED }).toEqual({ statuses: ['pending', 'scheduled'], closed: false });
  } finally {
    source?.close();
    if (!restarted) await redis.start();
  }
});

test('publisher SIGTERM: a request in flight (headers read, body still arriving) is finished and answered 202, every event stored; the process exits 0', async () => {
  const publisher = await startFanout('publisher', { FANOUT_AUTH: 'none', REDIS_URL: redis.url, FANOUT_SHUTDOWN_GRACE_MS: 5000 });
  try {
    const plan = packRunPlan(stack.tenant, 300);
    const body = Buffer.from(JSON.stringify({ events: plan.events }));
    // `Expect: 100-continue`: the publisher's "100 Continue" says it has read the headers.
    let headersRead!: () => void;
    const continued = new Promise<void>((resolve) => (headersRead = resolve));
    let sendTheRest!: () => void;
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${publisher.url}/api/v1/events`, {
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), Expect: '100-continue' },
      });
      req.on('error', reject);
      req.on('continue', () => headersRead());
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.write(body.subarray(0, body.length >> 1));
      sendTheRest = () => req.end(body.subarray(body.length >> 1));
    });
    await within('the publisher to read the headers (100 Continue)', continued, 15_000);
    const stopping = publisher.stop('SIGTERM');
    // The rest arrives after the signal, once the publisher says it is draining.
    await waitFor('the publisher to log "draining"', () => publisher.logs.some((line) => line.includes('"draining"')), 15_000, 5);
    sendTheRest();
    const { status, text } = await within('the answer to the request in flight', answer, 15_000);
    expect({ status, text: text.slice(0, 300) }).toEqual({ status: 202, text: expect.any(String) });
    expect((JSON.parse(text) as { results: PublishResult[] }).results.map((r) => r.seq)).toEqual(plan.events.map((_, i) => i + 1));
    expect(await stopping).toBe(0);
    const stored = await stack.history('pack-run', plan.id, { limit: 1000 });
    expect(stored.json.events.map((e: { eventId: string }) => e.eventId)).toEqual(plan.events.map((e) => e.eventId));
  } finally {
    await publisher.kill();
  }
});

test('Redis stalled (SIGSTOP for 2.5 s, connections open but silent): every gateway stays up, /readyz turns 503 within 2 s and 200 again after, and an open stream goes on', async () => {
  const job = jobEvents(stack.tenant);
  await stack.publishOk(job.status('pending'));
  const stream = await stack.open('job', job.id);
  await stream.waitForEvents(1, 10_000);
  const polls = pollReadiness(stack.gateways);
  const stalledAt = Date.now();
  redis.signal('SIGSTOP');
  try {
    await sleep(2500);
  } finally {
    redis.signal('SIGCONT');
  }
  for (const g of stack.gateways) await waitFor(`${g.url}/readyz 200 after the stall`, async () => (await readyStatus(g.url)) === 200, 20_000, 100);
  await polls.stop();
  for (const g of stack.gateways) {
    expect(g.exited).toBe(false);
    // The stall lasts 2.5 s: a 503 seen at all came within the contract's 2 s (give or take a poll).
    const firstNotReady = polls.samples.get(g)!.find((s) => s.at >= stalledAt && s.status !== 200);
    expect(firstNotReady).toMatchObject({ status: 503, detail: "not ready: no canary came back through the store and this replica's subscription path in the last 2 s" });
  }
  await stack.publishOk(job.status('scheduled'));
  await stream.waitForEvents(2, 10_000);
  expect(stream.eventData().map((e) => e.seq)).toEqual([1, 2]);
});

test('publisher with Redis stalled (SIGSTOP, connections open but silent): 503 within the contract’s 5 s, /readyz 503 before that, and nothing of the refused request is stored when Redis resumes', async () => {
  const job = jobEvents(stack.tenant);
  const batch = [job.status('pending'), job.status('scheduled')];
  const answered: string[] = [];
  redis.signal('SIGSTOP');
  let publishing: { status: number; json: unknown; elapsedMs: number };
  let readiness: { status: number; type: string | null; body: unknown };
  try {
    const sentAt = Date.now();
    const publish = stack.publish(batch).then((a) => {
      answered.push('publish');
      return { status: a.status, json: a.json, elapsedMs: Date.now() - sentAt };
    });
    const ready = fetch(`${stack.publisher.url}/readyz`).then(async (r) => {
      answered.push('readyz');
      return { status: r.status, type: r.headers.get('content-type'), body: await r.json() };
    });
    [publishing, readiness] = await within('the publisher to answer while Redis is stalled', Promise.all([publish, ready]), 30_000);
  } finally {
    redis.signal('SIGCONT');
  }
  expect(publishing.status).toBe(503);
  expect(publishing.json).toMatchObject({ status: 503, detail: expect.stringMatching(/retry/i) });
  expect(publishing.elapsedMs).toBeLessThan(5000);
  // The store check is bounded well inside the append's budget: readiness is told first.
  expect(readiness).toEqual({
    status: 503,
    type: 'application/problem+json',
    body: { title: 'Service Unavailable', status: 503, detail: 'not ready: the store does not answer' },
  });
  expect(answered).toEqual(['readyz', 'publish']);

  // Redis now runs what waited in its sockets, the stalled append first: it must store nothing.
  await waitFor(`${stack.publisher.url}/readyz 200 after the stall`, async () => (await readyStatus(stack.publisher.url)) === 200, 20_000, 100);
  expect((await stack.history('job', job.id)).status).toBe(404);
  const retried = await stack.publish(batch);
  expect({ status: retried.status, body: retried.json }).toEqual({
    status: 202,
    body: { results: batch.map((e, i) => ({ eventId: e.eventId, seq: i + 1, duplicate: false })) },
  });
  console.log(`publisher stall: 503 after ${publishing.elapsedMs} ms`);
});

test('admin revocations with Redis stalled (SIGSTOP): a 503 changes nothing when Redis resumes, for a revocation added or lifted alike', async () => {
  const gateway = stack.gateways[0]!;
  const revocations = `${gateway.url}/api/v1/admin/revocations`;
  const headers = { 'X-Tenant': stack.tenant, 'Content-Type': 'application/json' };
  const body = (tenant: string) => JSON.stringify({ tenant, expiresAt: new Date(Date.now() + 600_000).toISOString() });
  const listed = async (): Promise<string[]> => ((await (await fetch(revocations, { headers })).json()) as { revocations: { tenant?: string }[] }).revocations.map((r) => r.tenant!);
  const stalled = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    redis.signal('SIGSTOP');
    try {
      return await within(what, call(), 30_000);
    } finally {
      redis.signal('SIGCONT');
    }
  };
  const resumed = () => waitFor(`${gateway.url}/readyz 200 after the stall`, async () => (await readyStatus(gateway.url)) === 200, 20_000, 100);

  const added = await stalled('the POST to be answered', async () => fetch(revocations, { method: 'POST', headers, body: body('stalled-add') }));
  expect(added.status).toBe(503);
  await resumed();
  expect(await listed()).not.toContain('stalled-add');

  const kept = await fetch(revocations, { method: 'POST', headers, body: body('stalled-lift') });
  expect(kept.status).toBe(201);
  const { id } = (await kept.json()) as { id: string };
  const lifted = await stalled('the DELETE to be answered', async () => fetch(`${revocations}/${id}`, { method: 'DELETE', headers }));
  expect(lifted.status).toBe(503);
  await resumed();
  expect(await listed()).toContain('stalled-lift');
  expect((await fetch(`${revocations}/${id}`, { method: 'DELETE', headers })).status).toBe(204);
});

test('SIGTERM with Redis stalled (SIGSTOP): a gateway and a publisher still exit 0 within FANOUT_SHUTDOWN_GRACE_MS, not once Redis answers their QUIT', async () => {
  const graceMs = 4000;
  const env = { FANOUT_AUTH: 'none', HOST: '127.0.0.1', REDIS_URL: redis.url, FANOUT_SHUTDOWN_GRACE_MS: String(graceMs) };
  const [gateway, publisher] = await Promise.all([startFanout('gateway', env), startFanout('publisher', env)]);
  for (const p of [gateway, publisher]) await waitFor(`${p.url}/readyz 200`, async () => (await readyStatus(p.url)) === 200, 20_000, 100);
  redis.signal('SIGSTOP');
  try {
    const stoppedAt = Date.now();
    const codes = await within('both to exit with Redis stalled', Promise.all([gateway.stop('SIGTERM'), publisher.stop('SIGTERM')]), 60_000);
    const tookMs = Date.now() - stoppedAt;
    expect(codes).toEqual([0, 0]);
    // A hang guard around the grace: before, each waited for Redis to answer QUIT, for as long as it was stalled.
    expect(tookMs).toBeLessThan(graceMs + 3000);
  } finally {
    redis.signal('SIGCONT');
  }
  await waitFor('Redis to answer again', () => admin.ping().then(() => true, () => false), 10_000, 100);
});
