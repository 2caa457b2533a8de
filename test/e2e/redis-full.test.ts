/**
 * Issue 12, item 4: a full Redis (maxmemory with noeviction) must not half-store. With maxmemory set
 * just above what Redis uses, swept over a range of margins, a new subject's first status is either
 * answered 202 and is then in the recent-subjects index and the tenant's activity stream, or answered
 * 503 and is absent from history; once memory is freed, the retry (same eventId) indexes it. No 503
 * shows a Lua script's SHA or line. Real redis-server, publisher and gateway on loopback.
 */
import Redis from 'ioredis';
import { SseStream, closeAllStreams, openStream } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';

jest.setTimeout(120_000);

let stack: Stack;
let admin: Redis;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
  admin = stack.redis.client();
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
}, 60_000);

afterAll(async () => {
  closeAllStreams();
  await admin?.config('SET', 'maxmemory', '0').catch(() => undefined);
  await stack?.stop();
}, 60_000);

/** From 1 KiB under the current use (refused up front) to 24 KiB over it (room for the append and more), in 192-byte steps. */
const MARGINS = Array.from({ length: 134 }, (_, i) => -1024 + i * 192);

async function usedMemory(): Promise<number> {
  const info = await admin.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

async function indexedIds(): Promise<Set<string>> {
  const response = await fetch(`${stack.gateways[0]!.url}/api/v1/subjects?kind=job&limit=1000`, { headers: { 'X-Tenant': stack.tenant } });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { subjects: { subject: { id: string } }[] };
  return new Set(body.subjects.map((s) => s.subject.id));
}

function activityFor(activity: SseStream, id: string): { status: string; seq: number }[] {
  return activity
    .named('subject.updated')
    .map((f) => JSON.parse(f.data) as { subject: { id: string }; status: string; seq: number })
    .filter((u) => u.subject.id === id)
    .map(({ status, seq }) => ({ status, seq }));
}

async function expectIndexedAndInActivity(activity: SseStream, id: string, when: string): Promise<void> {
  expect({ when, id, indexed: (await indexedIds()).has(id) }).toEqual({ when, id, indexed: true });
  await activity.waitForFrames(() => activityFor(activity, id).length > 0, 5_000).catch(() => undefined);
  expect({ when, id, activity: activityFor(activity, id) }).toEqual({ when, id, activity: [{ status: 'pending', seq: 1 }] });
}

test('swept over margins just above used_memory: a new subject is 202 and indexed and in the activity stream, or 503 and not stored; the retry after memory is freed indexes it', async () => {
  const activity = await openStream(`${stack.gateways[0]!.url}/api/v1/stream/subjects`, { headers: { 'X-Tenant': stack.tenant } });
  expect(activity.status).toBe(200);
  const seen = { accepted: 0, acceptedOverTheLimit: 0, refused: 0 };
  const unavailableBefore = (await stack.publisher.metric('fanout_publisher_store_unavailable_total')) ?? 0;

  for (const margin of MARGINS) {
    const job = jobEvents(stack.tenant);
    const first = job.status('pending');
    const limit = (await usedMemory()) + margin;
    await admin.config('SET', 'maxmemory', String(limit));
    let answer;
    try {
      answer = await stack.publish(first);
      if (answer.status === 202) {
        seen.accepted++;
        // The append went over the limit: what follows it (index, activity) must have been completed anyway.
        if ((await usedMemory()) > limit) seen.acceptedOverTheLimit++;
        expect(answer.json.results).toEqual([{ eventId: first.eventId, seq: 1, duplicate: false }]);
        await expectIndexedAndInActivity(activity, job.id, `202 at margin ${margin}`);
      } else {
        seen.refused++;
        expect({ margin, status: answer.status, contentType: answer.headers.get('content-type') }).toEqual({
          margin,
          status: 503,
          contentType: expect.stringMatching(/^application\/problem\+json\b/),
        });
        expect(answer.headers.get('retry-after')).toBeTruthy();
        const detail = String((answer.json as { detail?: unknown } | undefined)?.detail);
        expect(detail).toMatch(/retry/i);
        expect(detail).not.toMatch(/[0-9a-f]{40}|user_script|script:/i);
        const history = await stack.history('job', job.id);
        if (history.status !== 404) expect({ margin, status: history.status, events: history.json.events }).toEqual({ margin, status: 200, events: [] });
      }
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }

    const retry = await stack.publish(first);
    expect({ margin, status: retry.status, results: retry.json?.results }).toEqual({
      margin,
      status: 202,
      results: [{ eventId: first.eventId, seq: 1, duplicate: answer.status === 202 }],
    });
    await expectIndexedAndInActivity(activity, job.id, `retry after margin ${margin}`);
  }

  // The sweep crossed the limit: some publishes were refused, some accepted, some of those by an append that went over it.
  console.log(`redis full: ${seen.accepted} accepted at the limit (${seen.acceptedOverTheLimit} of them went over it), ${seen.refused} refused with 503`);
  expect(seen.refused).toBeGreaterThan(0);
  expect(seen.acceptedOverTheLimit).toBeGreaterThan(0);
  // Every 503 is counted by the publisher, so an operator sees the refusals the producers retried.
  expect(await stack.publisher.metric('fanout_publisher_store_unavailable_total')).toBe(unavailableBefore + seen.refused);
});
