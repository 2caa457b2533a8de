/**
 * Issue 15, item 4 against real processes (Redis, a publisher, a gateway, an S3-compatible server on
 * loopback): a finished subject is archived, its Redis keys deleted, and every read route serves it
 * from the archive exactly as it served it from Redis; a publisher SIGKILLed in the middle of an
 * archive write is restarted and completes it, once.
 */
import { request } from 'node:http';
import { decodeArchivedSubject } from '@fanout/archive';
import { FanoutProcess, startFanout } from '../support/fanout-process';
import { S3Server, startS3 } from '../support/s3-server';
import { Kind, ROUTE_SEGMENT, Stack, TestEvent, chunk, jobEvents, packRunEvents, range, startStack, uniqueId } from '../support/stack';
import { waitFor } from '../support/wait';

jest.setTimeout(180_000);

const MAXLEN = 2000;
/** A crashed publisher's subject is claimed again after this. */
const LEASE_MS = 2000;

let s3: S3Server;
let stack: Stack;
const extraProcesses: FanoutProcess[] = [];

const archiveEnv = (): Record<string, string | number> => ({ ...s3.env(), FANOUT_ARCHIVE_KEEP_S: 0 });
const publisherEnv = { FANOUT_ARCHIVE_LEASE_MS: LEASE_MS, FANOUT_ARCHIVE_POLL_MS: 100 };

beforeAll(async () => {
  s3 = await startS3();
  stack = await startStack({ gateways: 1, env: { FANOUT_HISTORY_MAXLEN: MAXLEN, ...archiveEnv() }, publisherEnv });
});

afterAll(async () => {
  await Promise.all(extraProcesses.map((p) => p.stop().catch(() => p.kill())));
  await stack?.stop();
  await s3?.stop();
});

interface Answer {
  status: number;
  /** The headers that say what the body is (the rest, such as Date, differ between any two answers). */
  headers: Record<string, unknown>;
  body: string;
}

const DESCRIBING_HEADERS = ['content-type', 'fanout-first-seq', 'fanout-last-seq', 'content-disposition', 'retry-after'];

/** GET on the gateway as `tenant`, the whole body (a stream's too: it ends after `end`). */
function get(path: string, headers: Record<string, string> = {}, tenant = stack.tenant): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack.gateways[0]!.url}${path}`, { headers: { 'X-Tenant': tenant, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      const headers = Object.fromEntries(DESCRIBING_HEADERS.filter((h) => h in res.headers).map((h) => [h, res.headers[h]]));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} hung`)));
    req.on('error', reject);
    req.end();
  });
}

const idsOf = (streamBody: string): string[] => [...streamBody.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);

/**
 * What every read route answers for a finished subject: the stream from the start, resumed from
 * the middle and from its last event (204), `?tail=`, the JSON history forwards and backwards, a
 * multi-subject stream, the log download of a pack run, and another tenant's view (404).
 */
async function readEverything(kind: Kind, id: string, other: { kind: Kind; id: string }): Promise<Record<string, Answer>> {
  const stream = `/api/v1/stream/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}`;
  const full = await get(stream);
  expect(full.status).toBe(200);
  const ids = idsOf(full.body);
  expect(ids.length).toBeGreaterThan(10);
  const answers: Record<string, Answer> = {
    full,
    resumedMiddle: await get(stream, { 'Last-Event-ID': ids[Math.floor(ids.length / 2)]! }),
    resumedAtEnd: await get(stream, { 'Last-Event-ID': ids.at(-1)! }),
    tail: await get(`${stream}?tail=3`),
    historyForwards: await get(`/api/v1/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}/events?after=0&limit=1000`),
    historyBackwards: await get(`/api/v1/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}/events?before=${ids.length}&limit=25`),
    multi: await get(`/api/v1/stream?subjects=${kind}:${encodeURIComponent(id)},${other.kind}:${encodeURIComponent(other.id)}`),
    otherTenant: await get(stream, {}, `${stack.tenant}-other`),
  };
  if (kind === 'pack-run') {
    answers.log = await get(`/api/v1/pack-runs/${encodeURIComponent(id)}/log`);
    answers.logOfStep = await get(`/api/v1/pack-runs/${encodeURIComponent(id)}/log?step=1&download=1`);
  }
  return answers;
}

async function publishAll(events: TestEvent[]): Promise<void> {
  for (const batch of chunk(events, 500)) await stack.publishOk(batch);
}

function finishedPackRun(lines: number) {
  const p = packRunEvents(stack.tenant, uniqueId('archived'));
  const events = [
    p.status('pending', { steps: [{ index: 0, name: 'build' }, { index: 1, name: 'test' }] }),
    p.status('running'),
    p.step(0, 'build', 'running'),
    ...range(1, lines).map((n) => p.log(0, n, n % 7 === 0 ? 'stderr' : 'stdout', `build line ${n} ${'x'.repeat(n % 50)}`)),
    p.step(0, 'build', 'succeeded', { exitCode: 0 }),
    p.step(1, 'test', 'running'),
    p.log(1, 1, 'stdout', 'tests ok'),
    p.step(1, 'test', 'succeeded', { exitCode: 0 }),
    p.status('succeeded'),
  ];
  return { p, events };
}

const objectKey = (kind: Kind, id: string): string => `${stack.tenant}/${kind}/${id}`;
const subjectKey = (kind: Kind, id: string, suffix: string): string => `fo:{${stack.tenant}:${kind}:${id}}:${suffix}`;
/** Whether Redis still holds the subject's history (once archived, only its meta hash is kept). */
const storeHolds = async (kind: Kind, id: string): Promise<boolean> => (await stack.redis.client().exists(subjectKey(kind, id, 's'))) === 1;

describe('the archive of finished subjects', () => {
  it('archives a finished pack run (trimmed) and a job, deletes their Redis keys, and serves every read route from the archive as from Redis', async () => {
    // Held: each subject is read from Redis while its archive write is under way, then archived.
    s3.holdPuts(true);
    const job = jobEvents(stack.tenant, uniqueId('archived-job'));
    const jobDone = job.status('succeeded');
    await publishAll([job.status('pending'), job.status('scheduled'), job.status('leased'), job.status('running'), ...range(1, 20).map((n) => job.progress(n * 5)), jobDone]);
    const { p, events } = finishedPackRun(MAXLEN + 150);
    await publishAll(events);
    const last = events.length;

    await waitFor('an archive write under way', () => s3.untilPutHeld());
    const fromRedis = {
      pack: await readEverything('pack-run', p.id, { kind: 'job', id: job.id }),
      job: await readEverything('job', job.id, { kind: 'pack-run', id: p.id }),
    };
    expect(await storeHolds('pack-run', p.id)).toBe(true);
    // The pack run was trimmed before its end: the gap says so, from Redis as from the archive.
    expect(fromRedis.pack.full!.body).toContain(`event: gap\ndata: {"reason":"history_trimmed","firstAvailableSeq":${last - MAXLEN + 1}}`);
    expect(fromRedis.pack.full!.body.endsWith('event: end\ndata: {"reason":"completed"}\n\n')).toBe(true);
    expect(fromRedis.pack.resumedAtEnd!.status).toBe(204);
    expect(fromRedis.pack.otherTenant!.status).toBe(404);
    // ?tail=3 of the pack run: step 0's last event (older than the tail) first, then the last 3.
    expect(idsOf(fromRedis.pack.tail!.body)).toHaveLength(4);
    expect(fromRedis.pack.log!.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8', 'fanout-first-seq': String(last - MAXLEN + 1), 'fanout-last-seq': String(last) });
    expect(fromRedis.pack.log!.body).toContain('[fanout] history trimmed');
    expect(fromRedis.pack.historyBackwards!.headers).toMatchObject({ 'fanout-first-seq': String(last - MAXLEN + 1), 'fanout-last-seq': String(last) });

    s3.holdPuts(false);
    s3.releaseHeld();
    await waitFor('both subjects archived and gone from Redis', async () => !(await storeHolds('pack-run', p.id)) && !(await storeHolds('job', job.id)), 30_000);
    // A watcher count (`:w`) written by a report while a read above was open leaves with the gateway's
    // next report of 0 (every 2 s), which may come after the archive deleted the subject's keys.
    const metaKeys = [subjectKey('job', job.id, 'm'), subjectKey('pack-run', p.id, 'm')];
    const keysLeft = async () => (await stack.redis.client().keys(`fo:{${stack.tenant}:*`)).sort();
    await waitFor('no key of the subjects left in Redis but their meta', async () => (await keysLeft()).length === 2, 10_000);
    expect(await keysLeft()).toEqual(metaKeys);
    expect(await s3.exists(objectKey('pack-run', p.id))).toBe(true);

    // The kept meta is what finishes the subject: its terminal event re-sent is a duplicate of its
    // seq, and any other event a 409, so nothing starts a new history over the archived one.
    expect(await stack.publishOk(jobDone)).toEqual([{ eventId: jobDone.eventId, seq: 25, duplicate: true }]);
    for (const refusedEvent of [job.status('pending'), job.progress(50)]) {
      const refused = await stack.publish(refusedEvent);
      expect(refused.status).toBe(409);
      expect(refused.text).toContain('succeeded');
    }
    expect(await storeHolds('job', job.id)).toBe(false);

    const fromArchive = {
      pack: await readEverything('pack-run', p.id, { kind: 'job', id: job.id }),
      job: await readEverything('job', job.id, { kind: 'pack-run', id: p.id }),
    };
    expect(fromArchive).toEqual(fromRedis);

    expect(await stack.publisher.metric('fanout_archive_subjects_total', { result: 'archived' })).toBe(2);
    expect(await stack.publisher.metric('fanout_archive_pending')).toBe(0);
  });

  it('answers 503 with Retry-After while the archive cannot be read, with the reason in the gateway\'s log, and serves the subject once it can', async () => {
    const job = jobEvents(stack.tenant, uniqueId('unreadable'));
    await publishAll([job.status('pending'), job.status('canceled')]);
    await waitFor('the job archived and gone from Redis', async () => !(await storeHolds('job', job.id)), 30_000);

    s3.failGets(true);
    try {
      const stream = await get(`/api/v1/stream/jobs/${job.id}`);
      expect(stream.status).toBe(503);
      expect(stream.headers['retry-after']).toBe('1');
      expect(JSON.parse(stream.body)).toMatchObject({ status: 503, title: expect.any(String) });
      expect((await get(`/api/v1/jobs/${job.id}/events`)).status).toBe(503);
      expect(stack.gateways[0]!.logs.some((line) => line.includes('reading the archive failed') && line.includes(job.id))).toBe(true);
    } finally {
      s3.failGets(false);
    }
    const served = await get(`/api/v1/stream/jobs/${job.id}`);
    expect(served.status).toBe(200);
    expect(idsOf(served.body)).toHaveLength(2);
    expect(served.body.endsWith('event: end\ndata: {"reason":"completed"}\n\n')).toBe(true);
  });

  it('completes an archive write whose publisher was SIGKILLed half way, once restarted, without duplicates', async () => {
    s3.holdPuts(true);
    const { p, events } = finishedPackRun(1500);
    await publishAll(events);
    const key = objectKey('pack-run', p.id);
    await waitFor('the archive write of the pack run under way', async () => (await s3.untilPutHeld()) === key);
    const fromRedis = await readEverything('pack-run', p.id, { kind: 'pack-run', id: p.id });

    await stack.publisher.kill();
    s3.dropHeld();
    s3.holdPuts(false);
    expect(await storeHolds('pack-run', p.id)).toBe(true);
    expect(await s3.exists(key)).toBe(false);
    expect(await stack.redis.client().zscore('fo:archive:pending', `${stack.tenant}:pack-run:${p.id}`)).not.toBeNull();

    const restarted = await startFanout('publisher', { FANOUT_AUTH: 'none', REDIS_URL: stack.redis.url, FANOUT_HISTORY_MAXLEN: MAXLEN, ...archiveEnv(), ...publisherEnv });
    extraProcesses.push(restarted);
    await waitFor('the archive completed by the restarted publisher', async () => !(await storeHolds('pack-run', p.id)), 30_000);

    const archived = decodeArchivedSubject((await s3.object(key))!, key);
    expect(archived.entries.map((e) => e.seq)).toEqual(range(1, events.length));
    expect(archived.info).toMatchObject({ lastSeq: events.length, firstSeq: 1, status: 'succeeded', terminal: true });
    expect(s3.putsStored().get(key)).toBe(1);
    expect(await stack.redis.client().zcard('fo:archive:pending')).toBe(0);
    expect(await restarted.metric('fanout_archive_subjects_total', { result: 'archived' })).toBe(1);

    expect(await readEverything('pack-run', p.id, { kind: 'pack-run', id: p.id })).toEqual(fromRedis);
  });

  it('every process with the archive on logs JSON lines only (no plain-text warning of the AWS SDK on stderr), and no warning of a store it reached (its first pass may run before its connection is up)', () => {
    const processes = [...stack.processes(), ...extraProcesses];
    expect(processes.length).toBeGreaterThanOrEqual(3);
    for (const p of processes) {
      const plain = p.logs.filter((line) => !/^(\[stderr\] )?\{.*\}$/.test(line));
      const unreached = p.logs.filter((line) => line.includes('could not reach the store'));
      expect({ process: `${p.role} ${p.port}`, plain, unreached }).toEqual({ process: `${p.role} ${p.port}`, plain: [], unreached: [] });
    }
  });
});
