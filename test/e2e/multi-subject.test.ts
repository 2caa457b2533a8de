/**
 * Many subjects on one connection (`GET /api/v1/stream?subjects=…`) and the tenant activity stream
 * (`GET /api/v1/stream/subjects`), end to end: real redis-server, publishers and two gateway replicas
 * spawned through the CLI, raw SSE clients over node:http. Timeouts are hang guards only.
 */
import { randomUUID } from 'node:crypto';
import { FanoutProcess, startFanout } from '../support/fanout-process';
import { closeAllStreams, openStream, SseFrame, SseStream, within } from '../support/sse-client';
import { jobEvents, packRunEvents, runEvents, chunk, Stack, startStack, TestEvent, uniqueId } from '../support/stack';
import { dataOf, decodeCursor, encodeCursor, expectContiguous, expectFramesValid, subjectKeyOf } from '../support/frames';
import { waitFor } from '../support/wait';
import { activitySentinelEvent, sentinelEvent, untilDelivered, untilSentinels } from '../support/sentinel';

type Json = Record<string, any>;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { FANOUT_RETRY_MS: 1000 } });
}, 60_000);

afterEach(() => closeAllStreams());

afterAll(async () => {
  closeAllStreams();
  await stack?.stop();
}, 60_000);

const keyOf = (b: { kind: string; id: string }): string => `${b.kind}:${b.id}`;

function multiUrl(subjects: string[], gateway = 0, query: Record<string, string> = {}): string {
  const qs = new URLSearchParams(query).toString();
  return `${stack.gateways[gateway]!.url}/api/v1/stream?subjects=${subjects.join(',')}${qs ? `&${qs}` : ''}`;
}

function openMulti(subjects: string[], options: { gateway?: number; lastEventId?: string; tenant?: string; query?: Record<string, string> } = {}): Promise<SseStream> {
  return openStream(multiUrl(subjects, options.gateway, options.query), {
    headers: { 'X-Tenant': options.tenant ?? stack.tenant },
    ...(options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId }),
  });
}

/** Each subject's seqs, in the order the stream delivered them. */
function seqsBySubject(frames: SseFrame[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const f of frames) {
    if (f.id === undefined) continue;
    const key = subjectKeyOf(f);
    out.set(key, [...(out.get(key) ?? []), dataOf(f).seq as number]);
  }
  return out;
}

/** Each subject's event data, in the order the stream delivered them. */
function eventsBySubject(frames: SseFrame[], subjects: string[]): Map<string, Json[]> {
  return new Map(subjects.map((key) => [key, frames.filter((f) => f.id !== undefined && subjectKeyOf(f) === key).map(dataOf)]));
}

/** Every frame's cursor holds, per subject in `subjects=` order, the last seq delivered up to it. */
function expectCursorsTrackPositions(frames: SseFrame[], subjects: string[], start: number[] = subjects.map(() => 0)): void {
  const positions = [...start];
  for (const f of frames) {
    if (f.id === undefined) continue;
    positions[subjects.indexOf(subjectKeyOf(f))] = dataOf(f).seq as number;
    expect(decodeCursor(f.id).map((p) => p.seq)).toEqual(positions);
  }
}

async function problem(s: SseStream, status: number): Promise<Json> {
  const body = await s.body();
  expect({ status: s.status, contentType: s.headers['content-type'] }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json\b/),
  });
  const json = JSON.parse(body) as Json;
  expect(json).toMatchObject({ title: expect.any(String), status, detail: expect.any(String) });
  return json;
}

describe('multi-subject stream', () => {
  test('3 subjects on one stream interleave in publish order, each subject with contiguous seqs; every id is a cursor of all positions', async () => {
    const t = stack.tenant;
    const job = jobEvents(t);
    const pr = packRunEvents(t);
    const run = runEvents(t);
    await stack.publishOk([job.status('pending'), pr.status('pending', { steps: [{ index: 0, name: 'build' }] }), run.status('pending')]);
    const subjects = [keyOf(job), keyOf(pr), keyOf(run)];
    const s = await openMulti(subjects);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream\b/);
    await s.waitForEvents(3);

    // One event per request, round robin, each awaited on the stream: the order on the wire is known.
    const counts = { total: 3, pending: 2, running: 1, succeeded: 0, failed: 0, canceled: 0 };
    const live: TestEvent[] = [
      job.status('scheduled'),
      pr.status('running'),
      run.status('running'),
      job.progress(10),
      pr.step(0, 'build', 'running'),
      run.progress(counts),
      job.status('leased'),
      pr.log(0, 1, 'stdout', 'hello'),
      run.progress({ ...counts, pending: 1, running: 2 }),
    ];
    for (const [i, event] of live.entries()) {
      await stack.publishOk(event);
      await s.waitForEvents(3 + i + 1);
    }
    // One batch across all three subjects.
    await stack.publishOk([job.status('running'), pr.log(0, 2, 'stderr', 'warn'), run.progress({ ...counts, running: 3, pending: 0 }), job.progress(50)]);
    await s.waitForEvents(16);
    const withoutSentinels = await untilSentinels(s, (e) => stack.publishOk(e), [job, pr, run].map((b) => sentinelEvent(t, b)));

    const events = withoutSentinels(s.events());
    expect(events).toHaveLength(16);
    expectFramesValid(s.frames);
    expect(events.slice(3, 12).map(subjectKeyOf)).toEqual(live.map((e) => keyOf(e.subject)));
    const bySubject = seqsBySubject(events);
    expectContiguous(bySubject.get(subjects[0]!)!, 1, 6, 'job');
    expectContiguous(bySubject.get(subjects[1]!)!, 1, 5, 'pack-run');
    expectContiguous(bySubject.get(subjects[2]!)!, 1, 5, 'run');
    expectCursorsTrackPositions(events, subjects);
    // The cursor's epoch prefix is the subject's own epoch (as in its single-subject ids).
    const single = await stack.open('job', job.id);
    const [first] = await single.waitForEvents(1);
    expect(decodeCursor(events.at(-1)!.id!)[0]!.epochPrefix).toBe(first!.id!.slice(0, 6));
    expect(s.frames.filter((f) => f.id === undefined && f.event !== 'retry' && f.event !== 'heartbeat')).toEqual([]);
  });

  test('one Last-Event-ID restores all three positions, on the other replica too: no gap, no duplicate, then live', async () => {
    const t = stack.tenant;
    const job = jobEvents(t);
    const pr = packRunEvents(t);
    const run = runEvents(t);
    const subjects = [keyOf(job), keyOf(pr), keyOf(run)];
    await stack.publishOk([job.status('pending'), pr.status('pending'), run.status('pending'), job.status('scheduled'), run.status('running')]);
    const first = await openMulti(subjects, { gateway: 0 });
    await first.waitForEvents(5);
    await stack.publishOk([pr.status('running'), job.progress(5), pr.log(0, 1, 'stdout', 'a')]);
    await first.waitForEvents(8);
    const seen = first.events();
    first.close();

    // Resume from a frame in the middle (the subjects sit at different positions), on each replica:
    // each subject continues right after its own position (replay order across subjects is free).
    const middle = seen[4]!.id!;
    const middlePositions = decodeCursor(middle).map((p) => p.seq);
    const expectedAfterMiddle = new Map(
      subjects.map((key, i) => [key, seen.map(dataOf).filter((e) => keyOf(e.subject) === key && e.seq > middlePositions[i]!)]),
    );
    const agains: SseStream[] = [];
    for (const gateway of [0, 1]) {
      const again = await openMulti(subjects, { gateway, lastEventId: middle });
      expect(again.status).toBe(200);
      await again.waitForEvents(3);
      agains.push(again);
    }

    // Events published while the client is away, then resume on the other replica with the last id.
    const away = [job.status('leased'), pr.log(0, 2, 'stdout', 'b'), run.progress({ total: 1, pending: 0, running: 1, succeeded: 0, failed: 0, canceled: 0 }), job.status('running')];
    await stack.publishOk(away);
    // The two replays from the middle, still open, get them live: once they are in, so is anything
    // the replays would have sent after their three events. Each subject: its replay, then its part of `away`.
    const withoutAway = await untilDelivered(agains, away);
    for (const again of agains) {
      expect(eventsBySubject(withoutAway(again.events()), subjects)).toEqual(expectedAfterMiddle);
      expect(eventsBySubject(again.events(), subjects)).toEqual(
        new Map(subjects.map((key) => [key, [...expectedAfterMiddle.get(key)!, ...away.filter((e) => keyOf(e.subject) === key).map((e) => expect.objectContaining({ eventId: e.eventId }))]])),
      );
      again.close();
    }
    const resumed = await openMulti(subjects, { gateway: 1, lastEventId: seen.at(-1)!.id! });
    expect(resumed.status).toBe(200);
    await resumed.waitForEvents(4);
    // …and the seam to live: more events after the replay.
    await stack.publishOk([pr.log(0, 3, 'stdout', 'c'), job.progress(90), run.status('completed')]);
    await resumed.waitForEvents(7);
    // Sentinels on the two open subjects (seq 7 of the job, 6 of the pack run; the run ended with its
    // terminal event, seq 4, and the stream dropped it): anything more would be in before them.
    await untilSentinels(resumed, (e) => stack.publishOk(e), [sentinelEvent(t, job), sentinelEvent(t, pr)]);
    expectFramesValid(resumed.frames);
    const all = [...seen, ...resumed.events()];
    const bySubject = seqsBySubject(all);
    expectContiguous(bySubject.get(subjects[0]!)!, 1, 7, 'job across the resume');
    expectContiguous(bySubject.get(subjects[1]!)!, 1, 6, 'pack-run across the resume');
    expectContiguous(bySubject.get(subjects[2]!)!, 1, 4, 'run across the resume');
    expectCursorsTrackPositions(resumed.events(), subjects, decodeCursor(seen.at(-1)!.id!).map((p) => p.seq));
    expect(resumed.named('gap')).toEqual([]);
    // The run completed; the other two are still open, so the stream is too.
    expect(resumed.isEnded).toBe(false);

    // ?lastEventId= works as the header does (for clients that cannot set headers).
    const byQuery = await openMulti(subjects, { gateway: 0, query: { lastEventId: seen.at(-1)!.id! } });
    await byQuery.waitForEvents(9);
    expect(eventsBySubject(byQuery.events(), subjects)).toEqual(eventsBySubject(resumed.events(), subjects));

    // A position from another epoch of one subject (its history was lost and started again):
    // gap {history_lost} for that subject and its whole retained history; the others resume as usual.
    const positions = decodeCursor(seen.at(-1)!.id!);
    positions[1] = { ...positions[1]!, epochPrefix: positions[1]!.epochPrefix === '000000' ? '000001' : '000000' };
    const lost = await openMulti(subjects, { gateway: 1, lastEventId: encodeCursor(positions) });
    // The sentinels end the job's and the pack run's history, the terminal event the run's: once the
    // last seq of each is in, the whole replay is.
    const lastSeqs = [7, 6, 4];
    await lost.waitForFrames((frames) => {
      const bySubject = seqsBySubject(frames);
      return subjects.every((key, i) => bySubject.get(key)?.at(-1) === lastSeqs[i]);
    });
    expect(lost.named('gap').map(dataOf)).toEqual([{ reason: 'history_lost', firstAvailableSeq: 1, subject: { kind: 'pack-run', id: pr.id } }]);
    const lostBySubject = seqsBySubject(lost.frames);
    expect(lostBySubject.get(subjects[0]!)).toEqual([4, 5, 6, 7]);
    expect(lostBySubject.get(subjects[1]!)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(lostBySubject.get(subjects[2]!)).toEqual([3, 4]);
  });

  test('100 subjects on one stream: replay and live for each; the cursor stays within the documented 668 characters', async () => {
    const t = stack.tenant;
    const jobs = Array.from({ length: 100 }, () => jobEvents(t));
    const subjects = jobs.map(keyOf);
    await stack.publishOk(jobs.map((j) => j.status('pending')));
    const s = await openMulti(subjects, { gateway: 1 });
    expect(s.status).toBe(200);
    await s.waitForEvents(100);
    await stack.publishOk(jobs.map((j) => j.status('scheduled')));
    await s.waitForEvents(200);
    // A sentinel per subject (its seq 3): anything more would be in before it.
    const withoutSentinels = await untilSentinels(s, (e) => stack.publishOk(e), jobs.map((j) => sentinelEvent(t, j)));
    const bySubject = seqsBySubject(withoutSentinels(s.events()));
    expect(bySubject.size).toBe(100);
    for (const key of subjects) expect(bySubject.get(key)).toEqual([1, 2]);
    expectCursorsTrackPositions(s.events(), subjects);
    expect(Math.max(...s.events().map((f) => f.id!.length))).toBeLessThanOrEqual(668);
    const lastCursor = decodeCursor(s.events().at(-1)!.id!);
    s.close();

    // Every subject past seq 127 (two-byte varints): after the sentinels, 100 × 127 progress events
    // (seqs 4…130), then resume at seq 128 each.
    const progress = jobs.flatMap((j) => Array.from({ length: 127 }, (_, i) => j.progress(i % 100)));
    for (const batch of chunk(progress, 500)) await stack.publishOk(batch);
    const at128 = encodeCursor(lastCursor.map((p) => ({ epochPrefix: p.epochPrefix, seq: 128 })));
    const resumed = await openMulti(subjects, { gateway: 0, lastEventId: at128 });
    expect(resumed.status).toBe(200);
    await resumed.waitForEvents(200);
    const withoutMoreSentinels = await untilSentinels(resumed, (e) => stack.publishOk(e), jobs.map((j) => sentinelEvent(t, j)));
    const resumedBySubject = seqsBySubject(withoutMoreSentinels(resumed.events()));
    for (const key of subjects) expect(resumedBySubject.get(key)).toEqual([129, 130]);
    const lengths = resumed.events().map((f) => f.id!.length);
    // 1 version byte + 100 × (3 epoch bytes + 2 varint bytes) = 501 bytes = 668 base64url characters.
    expect(new Set(lengths)).toEqual(new Set([668]));

    // More than 100 entries is a 400.
    const tooMany = [...subjects, keyOf(jobEvents(t))];
    await problem(await openMulti(tooMany), 400);
  });

  test('a subject that ends is dropped; the stream ends completed when all have; resuming after that answers 204', async () => {
    const t = stack.tenant;
    const a = jobEvents(t);
    const b = jobEvents(t);
    const c = runEvents(t);
    const subjects = [keyOf(a), keyOf(b), keyOf(c)];
    await stack.publishOk([a.status('pending'), b.status('pending'), c.status('pending')]);
    const gateway = stack.gateways[1]!;
    await waitFor('no subscriptions left on gateway 1', async () => (await gateway.metric('fanout_gateway_subscriptions')) === 0);
    const s = await openMulti(subjects, { gateway: 1 });
    await s.waitForEvents(3);
    expect(await gateway.metric('fanout_gateway_subscriptions')).toBe(3);

    await stack.publishOk(a.status('canceled', { reason: 'user' }));
    await s.waitForEvents(4);
    // A is dropped: the replica lets go of its subscription; the stream stays open for the others.
    await waitFor('the ended subject to be unsubscribed', async () => (await gateway.metric('fanout_gateway_subscriptions')) === 2);
    expect(s.isEnded).toBe(false);
    const idAfterA = s.events().at(-1)!.id!;

    await stack.publishOk([b.status('scheduled'), c.status('running')]);
    await s.waitForEvents(6);
    await stack.publishOk(b.status('canceled'));
    await s.waitForEvents(7);
    // C alone is open: its sentinel (seq 3) reaches the stream only if the stream did not end with B.
    await untilSentinels(s, (e) => stack.publishOk(e), [sentinelEvent(t, c)]);
    expect(s.isEnded).toBe(false);
    const idBeforeC = s.events().at(-1)!.id!;
    await stack.publishOk(c.status('completed'));
    const end = await s.waitForFrame('end');
    await within('the response to end cleanly', s.ended, 10_000);
    expect(dataOf(end)).toEqual({ reason: 'completed' });
    expect(end.id).toBeUndefined();
    const last = s.events().at(-1)!.id!;
    expect(decodeCursor(last).map((p) => p.seq)).toEqual([2, 3, 4]);
    expectFramesValid(s.frames);

    for (const g of [0, 1]) {
      const again = await openMulti(subjects, { gateway: g, lastEventId: last });
      expect(again.status).toBe(204);
      expect(await again.body()).toBe('');
    }
    // A client that still misses C's terminal event gets only that, then end completed.
    const behind = await openMulti(subjects, { gateway: 0, lastEventId: idBeforeC });
    expect(behind.status).toBe(200);
    await behind.waitForFrame('end');
    expect(behind.eventData().map((e) => [keyOf(e.subject), e.seq])).toEqual([[keyOf(c), 4]]);
    // One further behind: B's and C's rest, in their own order, A not at all.
    const further = await openMulti(subjects, { gateway: 1, lastEventId: idAfterA });
    await further.waitForFrame('end');
    const rest = seqsBySubject(further.events());
    expect([...rest.keys()].sort()).toEqual([keyOf(b), keyOf(c)].sort());
    expect(rest.get(keyOf(b))).toEqual([2, 3]);
    expect(rest.get(keyOf(c))).toEqual([2, 3, 4]);
    await waitFor('gateway 1 to hold no subscription', async () => (await gateway.metric('fanout_gateway_subscriptions')) === 0);
  });

  test('400 for a missing, malformed or too long subject list and a malformed cursor; 404 for an unknown or foreign subject', async () => {
    const t = stack.tenant;
    const job = jobEvents(t);
    await stack.publishOk([job.status('pending'), job.status('scheduled')]);
    const ok = keyOf(job);
    const gw = stack.gateways[0]!.url;
    const raw = (query: string, headers: Record<string, string> = {}) =>
      openStream(`${gw}/api/v1/stream${query}`, { headers: { 'X-Tenant': t, ...headers } });

    for (const query of ['', '?subjects=', '?subjects=job', '?subjects=task:a', '?subjects=job:', '?subjects=job:a%20b', `?subjects=${ok},nope`, `?subjects=:${job.id}`, `?subjects=${ok},,${ok}`]) {
      const json = await problem(await raw(query), 400);
      expect(json.detail).toEqual(expect.any(String));
    }
    const hundredOne = Array.from({ length: 101 }, (_, i) => `job:x${i}`).join(',');
    expect((await problem(await raw(`?subjects=${hundredOne}`), 400)).detail).toMatch(/100/);

    const s = await openMulti([ok, ok]);
    const [frame] = await s.waitForEvents(1);
    const cursor = frame!.id!;
    s.close();
    expect(decodeCursor(cursor)).toHaveLength(1); // repeated entries count once
    const two = encodeCursor([...decodeCursor(cursor), ...decodeCursor(cursor)]);
    const ahead = encodeCursor(decodeCursor(cursor).map((p) => ({ ...p, seq: 3 })));
    for (const lastEventId of ['not a cursor!', 'AQ', two, `${decodeCursor(cursor)[0]!.epochPrefix}ab-0000000001`, ahead]) {
      await problem(await openMulti([ok], { lastEventId }), 400);
    }
    await problem(await openMulti([ok], { query: { lastEventId: two } }), 400);

    // Unknown, or another tenant's: the whole request is a 404 that looks the same.
    const unknown = `job:${uniqueId('missing')}`;
    const unknownAnswer = await openMulti([ok, unknown]);
    const unknownJson = await problem(unknownAnswer, 404);
    const other = `other-${randomUUID().slice(0, 8)}`;
    const foreign = await problem(await openMulti([ok], { tenant: other }), 404);
    expect(Object.keys(foreign).sort()).toEqual(Object.keys(unknownJson).sort());
    expect(foreign.title).toBe(unknownJson.title);
    // The detail names the subject that was asked for and nothing about who owns it.
    expect(foreign.detail.replace(job.id, 'X')).toBe(unknownJson.detail.replace(unknown.slice(4), 'X'));
  });

  describe('trimmed history (a publisher with FANOUT_HISTORY_MAXLEN=3)', () => {
    let trimming: FanoutProcess;
    beforeAll(async () => {
      trimming = await startFanout('publisher', { FANOUT_AUTH: 'none', REDIS_URL: stack.redis.url, FANOUT_HISTORY_MAXLEN: 3, FANOUT_SHUTDOWN_GRACE_MS: 1000 });
    }, 30_000);
    afterAll(async () => {
      await trimming?.stop().catch(() => trimming.kill());
    }, 30_000);

    const publishTrimmed = async (events: TestEvent[]) => {
      const response = await fetch(`${trimming.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      expect(response.status).toBe(202);
    };

    test('gap {subject, reason: history_trimmed, firstAvailableSeq} for the trimmed subject only, on resume and with no position', async () => {
      const t = stack.tenant;
      const pr = packRunEvents(t);
      const job = jobEvents(t);
      const subjects = [keyOf(pr), keyOf(job)];
      await publishTrimmed([pr.status('running'), pr.log(0, 1, 'stdout', 'l1')]);
      await stack.publishOk([job.status('pending')]);
      const first = await openMulti(subjects);
      await first.waitForEvents(3);
      const position = first.events().at(-1)!.id!;
      first.close();

      await publishTrimmed([2, 3, 4, 5, 6].map((n) => pr.log(0, n, 'stdout', `l${n}`))); // seqs 3..7; 5..7 retained
      const resumed = await openMulti(subjects, { gateway: 1, lastEventId: position });
      await resumed.waitForEvents(3);
      // Sentinels (the pack run's seq 8, the job's 2): anything more of the replay would be in before them.
      const withoutSentinels = await untilSentinels(resumed, publishTrimmed, [sentinelEvent(t, pr), sentinelEvent(t, job)]);
      const frames = withoutSentinels(resumed.frames).filter((f) => f.event !== 'retry' && f.event !== 'heartbeat');
      expectFramesValid(resumed.frames);
      expect(frames[0]!.event).toBe('gap');
      expect(frames[0]!.id).toBeUndefined();
      expect(dataOf(frames[0]!)).toEqual({ reason: 'history_trimmed', firstAvailableSeq: 5, subject: { kind: 'pack-run', id: pr.id } });
      expect(frames.slice(1).map((f) => [subjectKeyOf(f), dataOf(f).seq])).toEqual([5, 6, 7].map((n) => [keyOf(pr), n]));
      expect(resumed.named('gap')).toHaveLength(1);
      // The cursor moved past the gap: resuming from it needs no gap again.
      const after = frames.at(-1)!.id!;
      expect(decodeCursor(after).map((p) => p.seq)).toEqual([7, 1]);
      resumed.close();
      await publishTrimmed([pr.log(0, 7, 'stdout', 'l7')]); // seq 9; 7…9 retained
      const again = await openMulti(subjects, { lastEventId: after });
      await again.waitForEvents(1);
      // The second sentinels end the job's history (at seq 3) and the pack run's (at 10, retained 8…10).
      const lastSentinels = [sentinelEvent(t, pr), sentinelEvent(t, job)];
      const withoutLastSentinels = await untilSentinels(again, publishTrimmed, lastSentinels);
      expect(again.named('gap')).toEqual([]);
      expect(withoutLastSentinels(withoutSentinels(again.events())).map((f) => dataOf(f).seq)).toEqual([9]);
      expect(again.eventData().map((e) => [keyOf(e.subject), e.seq])).toEqual(
        expect.arrayContaining([[keyOf(pr), 8], [keyOf(job), 2], [keyOf(pr), 10], [keyOf(job), 3]]),
      );

      // No position at all: gap first for the trimmed one, the other replays from 1.
      const fresh = await openMulti([keyOf(job), keyOf(pr)], { gateway: 1 });
      // The last sentinels end both histories: once they are in, the whole replay is.
      await untilDelivered(fresh, lastSentinels);
      const gaps = fresh.named('gap').map(dataOf);
      expect(gaps).toEqual([{ reason: 'history_trimmed', firstAvailableSeq: 8, subject: { kind: 'pack-run', id: pr.id } }]);
      const gapIndex = fresh.frames.findIndex((f) => f.event === 'gap');
      const firstPr = fresh.frames.findIndex((f) => f.id !== undefined && subjectKeyOf(f) === keyOf(pr));
      expect(gapIndex).toBeLessThan(firstPr);
      const bySubject = seqsBySubject(fresh.frames);
      expect(bySubject.get(keyOf(pr))).toEqual([8, 9, 10]);
      expect(bySubject.get(keyOf(job))).toEqual([1, 2, 3]);
    });
  });
});

describe('tenant activity: GET /api/v1/stream/subjects', () => {
  test('every status change once (not steps, logs, progress or duplicates), live and replayed, only for its tenant; resumes with Last-Event-ID on either replica', async () => {
    const t = `act-${randomUUID().slice(0, 8)}`;
    const bystander = `act-${randomUUID().slice(0, 8)}`;
    const activity = (gateway: number, tenant = t, lastEventId?: string) =>
      openStream(`${stack.gateways[gateway]!.url}/api/v1/stream/subjects`, {
        headers: { 'X-Tenant': tenant },
        ...(lastEventId === undefined ? {} : { lastEventId }),
      });
    const job = jobEvents(t);
    const pr = packRunEvents(t);
    const run = runEvents(t);
    const counts = { total: 2, pending: 1, running: 1, succeeded: 0, failed: 0, canceled: 0 };
    const scheduled = job.status('scheduled');
    // Before anyone watches: replayed later.
    await stack.publishOk([job.status('pending'), job.progress(1), scheduled, pr.status('pending', { steps: [{ index: 0, name: 'build' }] })]);
    const other = await activity(1, bystander);
    const s = await activity(0);
    expect(s.status).toBe(200);
    await s.waitForEvents(3);
    // Live: status changes mixed with steps, logs and progress, and duplicates of stored events.
    await stack.publishOk([pr.status('running'), pr.step(0, 'build', 'running'), pr.log(0, 1, 'stdout', 'x'), pr.step(0, 'build', 'succeeded')]);
    await stack.publishOk([run.status('pending'), run.progress(counts), run.status('running'), scheduled]);
    const duplicate = await stack.publish(scheduled);
    expect(duplicate.json.results[0]).toMatchObject({ duplicate: true });
    // One subject per request: the order of changes across subjects is then the order of requests.
    await stack.publishOk([job.status('leased'), job.progress(50)]);
    await stack.publishOk(pr.status('succeeded'));
    await stack.publishOk(run.status('completed'));
    await stack.publishOk(job.status('running'));

    const expected = [
      [keyOf(job), 'pending', 1],
      [keyOf(job), 'scheduled', 3],
      [keyOf(pr), 'pending', 1],
      [keyOf(pr), 'running', 2],
      [keyOf(run), 'pending', 1],
      [keyOf(run), 'running', 3],
      [keyOf(job), 'leased', 4],
      [keyOf(pr), 'succeeded', 6],
      [keyOf(run), 'completed', 4],
      [keyOf(job), 'running', 6],
    ];
    await s.waitForEvents(expected.length);
    // A first status of a subject of its own in each tenant, published after all of the above: any
    // update more (or, for the bystander, any update at all) would be in before it.
    const untilActivitySentinels = async (streams: SseStream[]) => {
      const forT = await untilSentinels(streams, (e) => stack.publishOk(e), [activitySentinelEvent(t)]);
      const forBystander = await untilSentinels(other, (e) => stack.publishOk(e), [activitySentinelEvent(bystander)]);
      return (frames: SseFrame[]) => forBystander(forT(frames));
    };
    const withoutSentinels = await untilActivitySentinels([s]);
    expectFramesValid(s.frames);
    expect(s.frames.filter((f) => f.id !== undefined).every((f) => f.event === 'subject.updated')).toBe(true);
    const updates = withoutSentinels(s.events()).map(dataOf);
    expect(updates.map((u) => [keyOf(u.subject), u.status, u.seq])).toEqual(expected);
    for (const u of updates) expect(Object.keys(u).sort()).toEqual(['seq', 'status', 'subject', 'updatedAt']);
    const ids = withoutSentinels(s.events()).map((f) => f.id!);
    expect(ids.every((id) => /^[0-9a-f]{8}-\d{10}$/.test(id))).toBe(true);
    expect(ids.map((id) => Number(id.slice(9)))).toEqual(expected.map((_, i) => i + 1));
    expect(withoutSentinels(other.events())).toEqual([]);

    // Resume on the other replica from the 4th change: exactly the rest, then live.
    const resumed = await activity(1, t, ids[3]);
    await resumed.waitForEvents(expected.length - 4);
    await stack.publishOk(job.status('succeeded'));
    const withoutMoreSentinels = await untilActivitySentinels([resumed, s]);
    const withoutAnySentinel = (frames: SseFrame[]) => withoutMoreSentinels(withoutSentinels(frames));
    expect(withoutAnySentinel(resumed.events()).map((f) => dataOf(f)).map((u) => [keyOf(u.subject), u.status, u.seq])).toEqual([
      ...expected.slice(4),
      [keyOf(job), 'succeeded', 7],
    ]);
    expect(withoutAnySentinel(s.events())).toHaveLength(expected.length + 1);
    // The activity never completes: a terminal subject is just one more update.
    expect(s.named('end')).toEqual([]);
    expect(withoutAnySentinel(other.events())).toEqual([]);
  });
});
