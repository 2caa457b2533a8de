/**
 * Property: any valid event survives publish → stored frame → a standard SSE parser
 * (eventsource-parser, through the raw client) unchanged: the streamed data is exactly the
 * published event, defaults applied (a job's `attempt`), plus `seq` and `publishedAt`.
 * Strings are drawn from all of Unicode, with SSE's own syntax mixed in.
 */
import fc from 'fast-check';
import { StreamedEventSchemas } from '@fanout/contracts';
import { Kind, Stack, TestEvent, startStack, uniqueId } from '../support/stack';
import { closeAllStreams } from '../support/sse-client';

/** Text that would break a frame if it were written raw: line breaks, field names, quotes, NUL. */
const SSE_SYNTAX = ['\n\nevent: end\ndata: {}\r', '\r\n', '\r', 'data: x\n\n', 'id: 1', 'retry: 0', ':comment', '"}', '\\', '\u0000', '\u2028\u2029', '😀🏳️‍🌈'];

const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom(...SSE_SYNTAX),
    fc.tuple(fc.string({ unit: 'binary', maxLength: maxLength / 4 }), fc.constantFrom(...SSE_SYNTAX)).map(([a, b]) => a + b),
  );
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** zod counts UTF-16 units; astral characters take two, so bounds are drawn with room to spare. */
const name = text(100).filter((s) => s.length >= 1 && s.length <= 256);
const message = fc.oneof(text(200), fc.string({ unit: 'binary', minLength: 500, maxLength: 2000 }));

/** Drops undefined fields, as JSON does. */
function compact<T extends Record<string, unknown>>(data: T): T {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as T;
}

interface Draft {
  kind: Kind;
  events: { type: string; data: Record<string, unknown>; correlationId?: string }[];
}

const jobDraft: fc.Arbitrary<Draft> = fc
  .tuple(
    fc.record({
      status: fc.constantFrom('pending', 'scheduled'),
      attempt: optional(fc.integer({ min: 1, max: 9 })),
      reason: optional(name),
      runId: optional(name),
      jobType: optional(name),
    }),
    fc.array(fc.record({ percent: fc.double({ min: 0, max: 100, noNaN: true }), message: optional(message) }), { maxLength: 4 }),
  )
  .map(([status, progress]) => ({
    kind: 'job',
    events: [{ type: 'job.status', data: compact(status) }, ...progress.map((p) => ({ type: 'job.progress', data: compact(p) }))],
  }));

const packRunDraft: fc.Arbitrary<Draft> = fc
  .tuple(
    fc.record({
      status: fc.constantFrom('pending', 'running'),
      packName: optional(name),
      packVersion: optional(name),
      steps: optional(fc.array(fc.record({ index: fc.nat(20), name }), { maxLength: 4 })),
    }),
    fc.array(
      fc.record({
        stepIndex: fc.nat(3),
        lineNo: fc.integer({ min: 1, max: 1_000_000 }),
        stream: fc.constantFrom('stdout', 'stderr'),
        level: optional(fc.constantFrom('debug', 'info', 'warn', 'error')),
        message,
      }),
      { maxLength: 6 },
    ),
  )
  .map(([status, logs]) => ({
    kind: 'pack-run',
    events: [{ type: 'pack_run.status', data: compact(status) }, ...logs.map((l) => ({ type: 'pack_run.log', data: compact(l) }))],
  }));

const count = fc.nat(1_000_000);
const runDraft: fc.Arbitrary<Draft> = fc
  .tuple(
    fc.constantFrom('pending', 'running'),
    fc.array(fc.record({ total: count, pending: count, running: count, succeeded: count, failed: count, canceled: count }), { maxLength: 3 }),
  )
  .map(([status, progress]) => ({
    kind: 'run',
    events: [{ type: 'run.status', data: { status } }, ...progress.map((p) => ({ type: 'run.progress', data: p }))],
  }));

const drafts = fc.tuple(fc.oneof(jobDraft, packRunDraft, runDraft), fc.array(optional(text(60).filter((s) => s.length >= 1 && s.length <= 128)), { maxLength: 8 }));

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
});

afterEach(() => closeAllStreams());

afterAll(async () => {
  await stack?.stop();
});

test('any valid event reaches a standard SSE parser exactly as published, plus seq and publishedAt', async () => {
  await fc.assert(
    fc.asyncProperty(drafts, async ([draft, correlationIds]) => {
      const id = uniqueId(draft.kind);
      const published: TestEvent[] = draft.events.map((e, i) => ({
        eventId: `${id}-${i}`,
        tenant: stack.tenant,
        subject: { kind: draft.kind, id },
        type: e.type,
        occurredAt: '2026-11-27T10:00:00.000Z',
        ...(correlationIds[i] !== undefined ? { correlationId: correlationIds[i] } : {}),
        data: e.data,
      }));
      const answer = await stack.publish(published);
      expect(answer.status).toBe(202);

      const stream = await stack.open(draft.kind, id);
      await stream.waitForEvents(published.length);
      const frames = stream.events();
      stream.close();

      expect(frames).toHaveLength(published.length);
      frames.forEach((frame, i) => {
        const event = published[i]!;
        const defaults = event.type === 'job.status' ? { attempt: (event.data['attempt'] as number | undefined) ?? 1 } : {};
        const streamed = JSON.parse(frame.data);
        expect(frame.event).toBe(event.type);
        expect(streamed).toEqual({ ...event, data: { ...event.data, ...defaults }, seq: i + 1, publishedAt: expect.any(String) });
        expect(StreamedEventSchemas[event.type as keyof typeof StreamedEventSchemas].safeParse(streamed).success).toBe(true);
      });
    }),
    { numRuns: 60 },
  );
});
