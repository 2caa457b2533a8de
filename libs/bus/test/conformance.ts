/**
 * The bus conformance suite: every `Bus` implementation must pass it identically. The legality of
 * transitions is written out by hand (test/support/contract-oracle.ts), not derived from the code under
 * test, so a wrong table in @fanout/contracts or a Lua script that disagrees with it fails here; so
 * are the refusal texts, word for word (REFUSAL_TEXT_CASES).
 */
import { randomBytes } from 'node:crypto';
import { EventType, MAX_STEPS_PER_PACK_RUN, PublishedEvent, StreamedEventSchemas, SubjectKind, TenantSubject } from '@fanout/contracts';
import { AppendOutcome, AppendRefusal, Bus, HistoryEntry, LiveBatch, RevocationChange, SubjectInfo, activityOf, formatEventId, parseEventId } from '../src';
import { sleep, waitFor } from '../../../test/support/wait';
import { CONTRACT_MACHINES } from '../../../test/support/contract-oracle';

export interface BusFactoryOptions {
  historyMaxLen: number;
  historyTtlSeconds: number;
  subjectIdleTtlSeconds?: number;
  tenantMaxSubjects?: number;
}
export type BusFactory = (opts: BusFactoryOptions) => Promise<{ bus: Bus; cleanup(): Promise<void> }>;

// The contract's state machines, restated independently of the implementation (one oracle for every test).

export const KINDS: readonly SubjectKind[] = ['job', 'pack-run', 'run'];

/** The shortest legal path of statuses from nothing to `target` (never through a retry). */
export function pathTo(kind: SubjectKind, target: string): string[] {
  const machine = CONTRACT_MACHINES[kind];
  const queue: string[][] = machine.first.map((s) => [s]);
  for (let path = queue.shift(); path; path = queue.shift()) {
    const last = path[path.length - 1]!;
    if (last === target) return path;
    for (const next of machine.next[last] ?? []) {
      if (!path.includes(next)) queue.push([...path, next]);
    }
  }
  throw new Error(`no path to ${kind} ${target}`);
}

export interface IllegalCase {
  kind: SubjectKind;
  /** null: the subject has no event yet. */
  current: string | null;
  requested: string;
}

/** Every (current, requested) status pair the contract forbids, for every kind. */
export function illegalStatusCases(): IllegalCase[] {
  const cases: IllegalCase[] = [];
  for (const kind of KINDS) {
    const machine = CONTRACT_MACHINES[kind];
    for (const current of [null, ...machine.statuses]) {
      const allowed = current === null ? machine.first : (machine.next[current] ?? []);
      for (const requested of machine.statuses) {
        if (!allowed.includes(requested)) cases.push({ kind, current, requested });
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Event builders
// ---------------------------------------------------------------------------------------------

const RUN_TOKEN = randomBytes(3).toString('hex');
let counter = 0;
export const unique = (prefix: string): string => `${prefix}-${RUN_TOKEN}-${++counter}`;

const OCCURRED_AT = '2026-11-27T10:00:00.000Z';

export function newSubject(kind: SubjectKind, tenant = unique('tenant')): TenantSubject {
  return { tenant, kind, id: unique(kind) };
}

export function event(subject: TenantSubject, type: EventType, data: object, eventId = unique('ev')): PublishedEvent {
  return { eventId, tenant: subject.tenant, subject: { kind: subject.kind, id: subject.id }, type, occurredAt: OCCURRED_AT, data } as PublishedEvent;
}

export function status(subject: TenantSubject, value: string, extra: object = {}, eventId?: string): PublishedEvent {
  return event(subject, CONTRACT_MACHINES[subject.kind].statusType, { status: value, ...extra }, eventId);
}

export const step = (subject: TenantSubject, stepIndex: number, value: string, extra: object = {}): PublishedEvent =>
  event(subject, 'pack_run.step', { stepIndex, stepName: `step-${stepIndex}`, status: value, ...extra });

export const log = (subject: TenantSubject, stepIndex: number, lineNo: number, message = `line ${lineNo}`): PublishedEvent =>
  event(subject, 'pack_run.log', { stepIndex, lineNo, stream: 'stdout', message });

export const jobProgress = (subject: TenantSubject, percent: number): PublishedEvent => event(subject, 'job.progress', { percent });

/** A non-status event of the subject's kind (for a pack run: `type`, on step 0). */
function otherEvent(subject: TenantSubject, type: EventType): PublishedEvent {
  switch (type) {
    case 'job.progress':
      return jobProgress(subject, 10);
    case 'pack_run.step':
      return step(subject, 0, 'running');
    case 'pack_run.log':
      return log(subject, 0, 1);
    case 'run.progress':
      return event(subject, 'run.progress', { total: 1, pending: 1, running: 0, succeeded: 0, failed: 0, canceled: 0 });
    default:
      throw new Error(`not a non-status type: ${type}`);
  }
}

/** What the contract calls the requested status of a refused non-status event. */
function requestedOf(type: EventType): string {
  return type === 'pack_run.step' ? 'running' : type;
}

// ---------------------------------------------------------------------------------------------
// Refusal texts
// ---------------------------------------------------------------------------------------------

export interface RefusalTextCase {
  name: string;
  kind: SubjectKind;
  /** What is stored first (one append, all of it stored). */
  before: (s: TenantSubject) => PublishedEvent[];
  /** The append answered with `errors`, one per event. */
  append: (s: TenantSubject) => PublishedEvent[];
  errors: AppendRefusal[];
}

const transition = (current: string, requested: string, reason: string): AppendRefusal => ({ code: 'transition', current, requested, reason });
const NOT_STORED: AppendRefusal = { code: 'not_stored', current: '', requested: '', reason: 'not stored: another event of this subject was refused' };
const BIG_ATTEMPT = 123456789012345;

/** Every refusal of the state machines, with the text producers get in a 409 (docs/api.md), word for word. */
export const REFUSAL_TEXT_CASES: readonly RefusalTextCase[] = [
  {
    name: 'a job starting outside its first statuses',
    kind: 'job',
    before: () => [],
    append: (s) => [status(s, 'running')],
    errors: [transition('none', 'running', 'the first status of a job must be pending or scheduled')],
  },
  {
    name: 'a pack run starting outside its first statuses',
    kind: 'pack-run',
    before: () => [],
    append: (s) => [status(s, 'succeeded')],
    errors: [transition('none', 'succeeded', 'the first status of a pack-run must be pending or running')],
  },
  {
    name: 'a run starting outside its first statuses',
    kind: 'run',
    before: () => [],
    append: (s) => [status(s, 'completed')],
    errors: [transition('none', 'completed', 'the first status of a run must be pending or running')],
  },
  {
    name: 'a job moving where its machine does not go',
    kind: 'job',
    before: (s) => [status(s, 'pending')],
    append: (s) => [status(s, 'running')],
    errors: [transition('pending', 'running', 'a job cannot move from pending to running')],
  },
  {
    name: 'a pack run moving where its machine does not go',
    kind: 'pack-run',
    before: (s) => [status(s, 'pending')],
    append: (s) => [status(s, 'succeeded')],
    errors: [transition('pending', 'succeeded', 'a pack-run cannot move from pending to succeeded')],
  },
  {
    name: 'a status after the terminal one',
    kind: 'run',
    before: (s) => [status(s, 'running'), status(s, 'completed')],
    append: (s) => [status(s, 'running')],
    errors: [transition('completed', 'running', 'the subject is terminal (completed) and accepts no further events')],
  },
  {
    name: 'another event after the terminal status',
    kind: 'job',
    before: (s) => [status(s, 'pending'), status(s, 'canceled')],
    append: (s) => [jobProgress(s, 1)],
    errors: [transition('canceled', 'job.progress', 'the subject is terminal (canceled) and accepts no further events')],
  },
  {
    name: 'a first event that is not a status',
    kind: 'job',
    before: () => [],
    append: (s) => [jobProgress(s, 1)],
    errors: [transition('none', 'job.progress', 'the first event of a subject must be its status event, not job.progress')],
  },
  {
    name: 'a first event that is a step',
    kind: 'pack-run',
    before: () => [],
    append: (s) => [step(s, 0, 'running')],
    errors: [transition('none', 'running', 'the first event of a subject must be its status event, not pack_run.step')],
  },
  {
    name: 'a retry without its attempt',
    kind: 'job',
    before: (s) => ['pending', 'scheduled', 'leased', 'running'].map((v) => status(s, v)),
    append: (s) => [status(s, 'scheduled')],
    errors: [transition('running', 'scheduled', 'a retry (running → scheduled) must carry attempt 2, not omitted')],
  },
  {
    name: 'a retry with another attempt than the next',
    kind: 'job',
    before: (s) => ['scheduled', 'leased', 'running'].map((v) => status(s, v)),
    append: (s) => [status(s, 'scheduled', { attempt: 3 })],
    errors: [transition('running', 'scheduled', 'a retry (running → scheduled) must carry attempt 2, not 3')],
  },
  {
    name: 'an attempt other than the current one',
    kind: 'job',
    before: (s) => [status(s, 'scheduled'), status(s, 'leased')],
    append: (s) => [status(s, 'running', { attempt: 2 })],
    errors: [transition('leased', 'running', 'attempt must be omitted or 1, not 2')],
  },
  {
    name: 'an attempt other than a large current one',
    kind: 'job',
    before: (s) => [status(s, 'pending', { attempt: BIG_ATTEMPT })],
    append: (s) => [status(s, 'scheduled', { attempt: 1 })],
    errors: [transition('pending', 'scheduled', `attempt must be omitted or ${BIG_ATTEMPT}, not 1`)],
  },
  {
    name: 'a step starting finished',
    kind: 'pack-run',
    before: (s) => [status(s, 'running')],
    append: (s) => [step(s, 0, 'succeeded')],
    errors: [transition('none', 'succeeded', 'the first event of step 0 must be pending or running')],
  },
  {
    name: 'a step moving where steps do not go',
    kind: 'pack-run',
    before: (s) => [status(s, 'running'), step(s, 2, 'pending')],
    append: (s) => [step(s, 2, 'succeeded')],
    errors: [transition('pending', 'succeeded', 'step 2 cannot move from pending to succeeded')],
  },
  {
    name: 'a finished step moving again',
    kind: 'pack-run',
    before: (s) => [status(s, 'running'), step(s, 1, 'running'), step(s, 1, 'succeeded')],
    append: (s) => [step(s, 1, 'running')],
    errors: [transition('succeeded', 'running', 'step 1 is finished (succeeded) and takes no more events')],
  },
  {
    name: 'a log line of a finished step',
    kind: 'pack-run',
    before: (s) => [status(s, 'running'), step(s, 3, 'pending'), step(s, 3, 'skipped')],
    append: (s) => [log(s, 3, 1)],
    errors: [transition('skipped', 'pack_run.log', 'step 3 is finished (skipped) and takes no more events')],
  },
  {
    name: 'legal events beside a refused one',
    kind: 'job',
    before: () => [],
    append: (s) => [status(s, 'pending'), status(s, 'scheduled'), status(s, 'succeeded'), jobProgress(s, 1)],
    errors: [NOT_STORED, NOT_STORED, transition('scheduled', 'succeeded', 'a job cannot move from scheduled to succeeded'), NOT_STORED],
  },
];

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

export function storedSeq(outcome: AppendOutcome | undefined): number {
  if (!outcome || !('seq' in outcome)) throw new Error(`expected a stored outcome, got ${JSON.stringify(outcome)}`);
  expect(outcome.duplicate).toBe(false);
  return outcome.seq;
}

export function expectStored(outcomes: AppendOutcome[], seqs: number[]): void {
  expect(outcomes).toEqual(seqs.map((seq) => ({ eventId: expect.any(String), seq, duplicate: false })));
}

export function expectRefused(outcome: AppendOutcome | undefined, current: string, requested: string, reason: RegExp = /\S/): void {
  expect(outcome).toEqual({
    eventId: expect.any(String),
    error: { code: 'transition', current, requested, reason: expect.stringMatching(reason) },
  });
}

export function expectNotStored(outcome: AppendOutcome | undefined): void {
  expect(outcome).toEqual({ eventId: expect.any(String), error: expect.objectContaining({ code: 'not_stored' }) });
}

/** Every event of the call refused for the tenant's quota, each with when to retry. */
export function expectOverQuota(outcomes: AppendOutcome[], retryAfterSeconds: { min: number; max: number }): void {
  for (const outcome of outcomes) {
    expect(outcome).toEqual({
      eventId: expect.any(String),
      error: { code: 'quota', current: '', requested: '', reason: expect.stringMatching(/maximum of \d+ subjects/), retryAfterSeconds: expect.any(Number) },
    });
    const { retryAfterSeconds: seconds } = (outcome as { error: { retryAfterSeconds: number } }).error;
    expect(seconds).toBeGreaterThanOrEqual(retryAfterSeconds.min);
    expect(seconds).toBeLessThanOrEqual(retryAfterSeconds.max);
  }
}

/** The tenant's activity as [kind:id, status, seq], oldest first. */
export async function activityUpdatesOf(bus: Pick<Bus, 'history'>, tenant: string): Promise<[string, string, number][]> {
  const entries = await bus.history(activityOf(tenant), 0, 10_000);
  return entries.map((e) => {
    const data = JSON.parse(parseFrames(e.frame.toString())[0]!.data) as { subject: { kind: string; id: string }; status: string; seq: number };
    return [`${data.subject.kind}:${data.subject.id}`, data.status, data.seq];
  });
}

export interface ParsedFrame {
  id: string;
  event: string;
  data: string;
}

/** Splits an SSE frame (or several) into id/event/data; data lines hold one-line JSON. */
export function parseFrames(text: string): ParsedFrame[] {
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      const fields: Record<string, string> = {};
      for (const line of frame.split('\n')) {
        const colon = line.indexOf(': ');
        expect(colon).toBeGreaterThan(0);
        const name = line.slice(0, colon);
        expect(fields[name]).toBeUndefined();
        fields[name] = line.slice(colon + 2);
      }
      expect(Object.keys(fields).sort()).toEqual(['data', 'event', 'id']);
      return { id: fields.id!, event: fields.event!, data: fields.data! };
    });
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The history entry is exactly `published` plus seq and publishedAt (and a job status's resolved attempt). */
export function expectStreamed(entry: HistoryEntry, published: PublishedEvent, seq: number, epoch: string, attempt?: number): Record<string, unknown> {
  expect(entry.seq).toBe(seq);
  const frames = parseFrames(entry.frame.toString('utf8'));
  expect(frames).toHaveLength(1);
  const frame = frames[0]!;
  expect(frame.id).toBe(formatEventId(epoch, seq));
  expect(parseEventId(frame.id)).toEqual({ epoch, seq });
  expect(frame.event).toBe(published.type);
  const json = JSON.parse(frame.data) as Record<string, unknown>;
  const data = published.type === 'job.status' ? { ...published.data, attempt } : published.data;
  expect(json).toStrictEqual({ ...published, data, seq, publishedAt: expect.stringMatching(ISO_MS) });
  expect(() => StreamedEventSchemas[published.type].parse(json)).not.toThrow();
  return json;
}

interface Snapshot {
  info: SubjectInfo | null;
  history: { seq: number; terminal: boolean; frame: string }[];
}

export async function snapshot(bus: Bus, subject: TenantSubject): Promise<Snapshot> {
  const history = await bus.history(subject, 0, 100_000);
  return { info: await bus.info(subject), history: history.map((e) => ({ seq: e.seq, terminal: e.terminal, frame: e.frame.toString() })) };
}

export function collector(): { batches: LiveBatch[]; listener: (batch: LiveBatch) => void } {
  const batches: LiveBatch[] = [];
  return { batches, listener: (batch) => batches.push(batch) };
}

/**
 * Waits until everything published before this call has been delivered: a batch on a fresh
 * sentinel subject travels the same path after every earlier one.
 */
export async function flushDeliveries(bus: Bus): Promise<void> {
  const sentinel = newSubject('job');
  const { batches, listener } = collector();
  await bus.subscribe(sentinel, listener);
  expectStored(await bus.append(sentinel, [status(sentinel, 'pending')]), [1]);
  await waitFor('the sentinel batch', () => batches.length > 0, 10_000);
  await bus.unsubscribe(sentinel);
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

export function runBusConformance(name: string, factory: BusFactory): void {
  describe(`${name}: Bus conformance`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    const open = async (opts: Partial<BusFactoryOptions> = {}): Promise<Bus> => {
      const { bus, cleanup } = await factory({ historyMaxLen: 1000, historyTtlSeconds: 3600, ...opts });
      cleanups.push(cleanup);
      return bus;
    };
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    describe('seq and statuses', () => {
      it('numbers a subject 1, 2, 3 … with no gaps, across calls and within batches', async () => {
        const bus = await open();
        const s = newSubject('job');
        expectStored(await bus.append(s, [status(s, 'pending')]), [1]);
        expectStored(await bus.append(s, [status(s, 'scheduled'), jobProgress(s, 5)]), [2, 3]);
        expectStored(await bus.append(s, [jobProgress(s, 6)]), [4]);
        const history = await bus.history(s, 0, 100);
        expect(history.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
        expect(await bus.info(s)).toEqual({
          epoch: expect.stringMatching(/^[0-9a-f]{8}$/),
          lastSeq: 4,
          firstSeq: 1,
          status: 'scheduled',
          terminal: false,
          updatedAt: expect.stringMatching(ISO_MS),
        });
      });

      it('drives a job pending → scheduled → leased → running → succeeded', async () => {
        const bus = await open();
        const s = newSubject('job');
        const path = ['pending', 'scheduled', 'leased', 'running', 'succeeded'];
        for (const [i, value] of path.entries()) {
          expectStored(await bus.append(s, [status(s, value)]), [i + 1]);
          const info = await bus.info(s);
          expect(info).toMatchObject({ status: value, lastSeq: i + 1, terminal: value === 'succeeded' });
        }
        const history = await bus.history(s, 0, 100);
        expect(history.map((e) => e.terminal)).toEqual([false, false, false, false, true]);
      });

      it.each(KINDS.flatMap((kind) => CONTRACT_MACHINES[kind].statuses.map((target) => [kind, target] as const)))(
        '%s reaches %s along a legal path',
        async (kind, target) => {
          const bus = await open();
          const s = newSubject(kind);
          const path = pathTo(kind, target);
          expectStored(await bus.append(s, path.map((value) => status(s, value))), path.map((_, i) => i + 1));
          expect(await bus.info(s)).toMatchObject({ status: target, terminal: CONTRACT_MACHINES[kind].terminal.includes(target) });
        },
      );

      it('unknown subjects have no info and no history', async () => {
        const bus = await open();
        const s = newSubject('run');
        expect(await bus.info(s)).toBeNull();
        expect(await bus.history(s, 0, 10)).toEqual([]);
      });
    });

    describe('illegal transitions are refused, naming current and requested, and store nothing', () => {
      it.each(illegalStatusCases().map((c) => [c.kind, c.current ?? 'none', c.requested, c] as const))(
        '%s: %s → %s',
        async (_kind, currentText, requested, c) => {
          const bus = await open();
          const s = newSubject(c.kind);
          if (c.current !== null) {
            const path = pathTo(c.kind, c.current);
            await bus.append(s, path.map((value) => status(s, value)));
          }
          const before = await snapshot(bus, s);
          const outcomes = await bus.append(s, [status(s, requested)]);
          expect(outcomes).toHaveLength(1);
          expectRefused(outcomes[0], currentText, requested);
          expect(await snapshot(bus, s)).toEqual(before);
          if (c.current === null) expect(before.info).toBeNull();
        },
      );

      it.each(KINDS.flatMap((kind) => CONTRACT_MACHINES[kind].others.map((type) => [kind, type] as const)))(
        '%s: a %s before any status is refused with current none',
        async (kind, type) => {
          const bus = await open();
          const s = newSubject(kind);
          const outcomes = await bus.append(s, [otherEvent(s, type)]);
          expectRefused(outcomes[0], 'none', requestedOf(type));
          expect(await bus.info(s)).toBeNull();
          expect(await bus.history(s, 0, 10)).toEqual([]);
          expect((await bus.recentSubjects(s.tenant, undefined, 10)).map((r) => r.id)).toEqual([]);
        },
      );

      it.each(
        KINDS.flatMap((kind) =>
          CONTRACT_MACHINES[kind].terminal.flatMap((terminal) => CONTRACT_MACHINES[kind].others.map((type) => [kind, terminal, type] as const)),
        ),
      )('%s: terminal %s refuses a %s', async (kind, terminal, type) => {
        const bus = await open();
        const s = newSubject(kind);
        const path = pathTo(kind, terminal);
        await bus.append(s, path.map((value) => status(s, value)));
        const before = await snapshot(bus, s);
        expect(before.info).toMatchObject({ status: terminal, terminal: true });
        expectRefused((await bus.append(s, [otherEvent(s, type)]))[0], terminal, requestedOf(type));
        expect(await snapshot(bus, s)).toEqual(before);
      });

      it.each(
        KINDS.flatMap((kind) =>
          CONTRACT_MACHINES[kind].statuses.filter((st) => !CONTRACT_MACHINES[kind].terminal.includes(st)).map((st) => [kind, st] as const),
        ),
      )('%s: canceled is reachable from %s', async (kind, from) => {
        const bus = await open();
        const s = newSubject(kind);
        const path = pathTo(kind, from);
        await bus.append(s, path.map((value) => status(s, value)));
        expectStored(await bus.append(s, [status(s, 'canceled')]), [path.length + 1]);
        expect(await bus.info(s)).toMatchObject({ status: 'canceled', terminal: true, lastSeq: path.length + 1 });
      });
    });

    describe('refusal texts', () => {
      it.each(REFUSAL_TEXT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
        const bus = await open();
        const s = newSubject(c.kind);
        const before = c.before(s);
        if (before.length > 0) expectStored(await bus.append(s, before), before.map((_, i) => i + 1));
        const events = c.append(s);
        expect(await bus.append(s, events)).toEqual(events.map((e, i) => ({ eventId: e.eventId, error: c.errors[i] })));
      });

      it(`a pack run with ${MAX_STEPS_PER_PACK_RUN} steps starts no other (its state stays bounded); its own steps go on`, async () => {
        const bus = await open();
        const s = newSubject('pack-run');
        expectStored(await bus.append(s, [status(s, 'running')]), [1]);
        for (let first = 0; first < MAX_STEPS_PER_PACK_RUN; first += 500) {
          const steps = Array.from({ length: 500 }, (_, i) => step(s, first + i, 'running'));
          expectStored(await bus.append(s, steps), steps.map((_, i) => first + i + 2));
        }
        const lastSeq = MAX_STEPS_PER_PACK_RUN + 1;
        // A new step is refused, with all of its batch; a step already started goes on.
        const events = [step(s, 0, 'succeeded'), step(s, MAX_STEPS_PER_PACK_RUN, 'pending')];
        const reason = `a pack run has at most ${MAX_STEPS_PER_PACK_RUN} steps: step ${MAX_STEPS_PER_PACK_RUN} would be one more`;
        expect(await bus.append(s, events)).toEqual([
          { eventId: events[0]!.eventId, error: NOT_STORED },
          { eventId: events[1]!.eventId, error: transition('none', 'pending', reason) },
        ]);
        expectStored(await bus.append(s, [step(s, 0, 'succeeded'), log(s, 1, 1)]), [lastSeq + 1, lastSeq + 2]);
      });

      it("a new subject over its tenant's quota", async () => {
        const bus = await open({ tenantMaxSubjects: 1, historyTtlSeconds: 600 });
        const first = newSubject('job');
        const next = newSubject('run', first.tenant);
        expectStored(await bus.append(first, [status(first, 'pending')]), [1]);
        const events = [status(next, 'pending'), status(next, 'running')];
        const reason = 'the tenant holds its maximum of 1 subjects; a new subject is accepted once one of them has ended and its history expired';
        expect(await bus.append(next, events)).toEqual(
          events.map((e) => ({ eventId: e.eventId, error: { code: 'quota', current: '', requested: '', reason, retryAfterSeconds: 600 } })),
        );
      });
    });

    describe('job attempts', () => {
      it('a large attempt stays exact, in the frames and in the state later events are checked against', async () => {
        const bus = await open();
        const s = newSubject('job');
        const big = 123456789012345;
        expectStored(await bus.append(s, [status(s, 'pending', { attempt: big }), status(s, 'scheduled')]), [1, 2]);
        expectStored(await bus.append(s, [status(s, 'leased', { attempt: big })]), [3]);
        const attempts = (await bus.history(s, 0, 10)).map((e) => JSON.parse(parseFrames(e.frame.toString())[0]!.data).data.attempt);
        expect(attempts).toEqual([big, big, big]);
      });

      it('a first status without attempt streams attempt 1; later events may omit it or must equal it', async () => {
        const bus = await open();
        const s = newSubject('job');
        const events = [status(s, 'pending'), status(s, 'scheduled', { attempt: 1 }), status(s, 'leased')];
        expectStored(await bus.append(s, events), [1, 2, 3]);
        const before = await snapshot(bus, s);
        expectRefused((await bus.append(s, [status(s, 'running', { attempt: 2 })]))[0], 'leased', 'running', /attempt .*, not 2$/);
        expect(await snapshot(bus, s)).toEqual(before);
        const epoch = before.info!.epoch;
        const history = await bus.history(s, 0, 10);
        events.forEach((e, i) => expectStreamed(history[i]!, e, i + 1, epoch, 1));
      });

      it('a retry running → scheduled must carry attempt = current + 1, and later events inherit it', async () => {
        const bus = await open();
        const s = newSubject('job');
        await bus.append(s, ['pending', 'scheduled', 'leased', 'running'].map((v) => status(s, v)));
        const before = await snapshot(bus, s);
        expectRefused((await bus.append(s, [status(s, 'scheduled')]))[0], 'running', 'scheduled', /attempt .*, not omitted$/);
        expectRefused((await bus.append(s, [status(s, 'scheduled', { attempt: 1 })]))[0], 'running', 'scheduled', /attempt .*, not 1$/);
        expectRefused((await bus.append(s, [status(s, 'scheduled', { attempt: 3 })]))[0], 'running', 'scheduled', /attempt .*, not 3$/);
        expect(await snapshot(bus, s)).toEqual(before);

        const retry = status(s, 'scheduled', { attempt: 2, reason: 'worker lost' });
        const leased = status(s, 'leased');
        expectStored(await bus.append(s, [retry, leased]), [5, 6]);
        expectRefused((await bus.append(s, [status(s, 'running', { attempt: 1 })]))[0], 'leased', 'running', /attempt .*, not 1$/);
        const running = status(s, 'running', { attempt: 2 });
        expectStored(await bus.append(s, [running]), [7]);
        // A second retry grows the attempt again.
        const retry2 = status(s, 'scheduled', { attempt: 3 });
        const throttled = status(s, 'throttled');
        expectStored(await bus.append(s, [retry2, throttled]), [8, 9]);

        const epoch = before.info!.epoch;
        const history = await bus.history(s, 4, 10);
        expectStreamed(history[0]!, retry, 5, epoch, 2);
        expectStreamed(history[1]!, leased, 6, epoch, 2);
        expectStreamed(history[2]!, running, 7, epoch, 2);
        expectStreamed(history[3]!, retry2, 8, epoch, 3);
        expectStreamed(history[4]!, throttled, 9, epoch, 3);
      });

      it('leased → scheduled (lease expired) keeps the attempt', async () => {
        const bus = await open();
        const s = newSubject('job');
        await bus.append(s, ['scheduled', 'leased'].map((v) => status(s, v)));
        expectRefused((await bus.append(s, [status(s, 'scheduled', { attempt: 2 })]))[0], 'leased', 'scheduled', /attempt .*, not 2$/);
        const expired = status(s, 'scheduled', { reason: 'lease expired' });
        expectStored(await bus.append(s, [expired]), [3]);
        const [entry] = await bus.history(s, 2, 1);
        expectStreamed(entry!, expired, 3, (await bus.info(s))!.epoch, 1);
      });

      it('a first status may carry a later attempt, which later events then imply', async () => {
        const bus = await open();
        const s = newSubject('job');
        const first = status(s, 'scheduled', { attempt: 4 });
        const leased = status(s, 'leased');
        expectStored(await bus.append(s, [first, leased]), [1, 2]);
        const history = await bus.history(s, 0, 10);
        const epoch = (await bus.info(s))!.epoch;
        expectStreamed(history[0]!, first, 1, epoch, 4);
        expectStreamed(history[1]!, leased, 2, epoch, 4);
      });
    });

    describe('pack-run steps', () => {
      async function runningPackRun(bus: Bus): Promise<TenantSubject> {
        const s = newSubject('pack-run');
        expectStored(await bus.append(s, [status(s, 'pending'), status(s, 'running')]), [1, 2]);
        return s;
      }

      it.each([['pending'], ['running']])('a step may start %s', async (first) => {
        const bus = await open();
        const s = await runningPackRun(bus);
        expectStored(await bus.append(s, [step(s, 0, first)]), [3]);
      });

      it.each([['succeeded'], ['failed'], ['skipped']])('a step may not start %s', async (first) => {
        const bus = await open();
        const s = await runningPackRun(bus);
        const before = await snapshot(bus, s);
        expectRefused((await bus.append(s, [step(s, 0, first)]))[0], 'none', first, /step 0\b/);
        expect(await snapshot(bus, s)).toEqual(before);
      });

      const legalSteps: [string, string][] = [
        ['pending', 'running'],
        ['pending', 'skipped'],
        ['running', 'succeeded'],
        ['running', 'failed'],
      ];
      it.each(legalSteps)('a step moves %s → %s', async (from, to) => {
        const bus = await open();
        const s = await runningPackRun(bus);
        expectStored(await bus.append(s, [step(s, 3, from), step(s, 3, to)]), [3, 4]);
      });

      const stepStatuses = ['pending', 'running', 'succeeded', 'failed', 'skipped'];
      const stepPaths: Record<string, string[]> = {
        pending: ['pending'],
        running: ['running'],
        succeeded: ['running', 'succeeded'],
        failed: ['running', 'failed'],
        skipped: ['pending', 'skipped'],
      };
      const illegalSteps = stepStatuses.flatMap((from) =>
        stepStatuses.filter((to) => !legalSteps.some(([a, b]) => a === from && b === to)).map((to) => [from, to] as [string, string]),
      );
      it.each(illegalSteps)('a step may not move %s → %s', async (from, to) => {
        const bus = await open();
        const s = await runningPackRun(bus);
        await bus.append(s, stepPaths[from]!.map((v) => step(s, 1, v)));
        const before = await snapshot(bus, s);
        expectRefused((await bus.append(s, [step(s, 1, to)]))[0], from, to, /step 1\b/);
        expect(await snapshot(bus, s)).toEqual(before);
      });

      it.each([['succeeded'], ['failed'], ['skipped']])('a %s step takes no more logs; other steps still do', async (finished) => {
        const bus = await open();
        const s = await runningPackRun(bus);
        expectStored(await bus.append(s, [...stepPaths[finished]!.map((v) => step(s, 2, v))]), stepPaths[finished]!.map((_, i) => i + 3));
        const before = await snapshot(bus, s);
        expectRefused((await bus.append(s, [log(s, 2, 7)]))[0], finished, 'pack_run.log');
        expect(await snapshot(bus, s)).toEqual(before);
        const next = before.info!.lastSeq + 1;
        expectStored(await bus.append(s, [step(s, 3, 'running'), log(s, 3, 1)]), [next, next + 1]);
      });

      it('logs are taken by pending and running steps, and by steps not yet announced', async () => {
        const bus = await open();
        const s = await runningPackRun(bus);
        expectStored(
          await bus.append(s, [step(s, 0, 'pending'), log(s, 0, 1), step(s, 0, 'running'), log(s, 0, 2), log(s, 5, 1), step(s, 0, 'succeeded')]),
          [3, 4, 5, 6, 7, 8],
        );
      });

      it('steps are independent of each other and survive across calls', async () => {
        const bus = await open();
        const s = await runningPackRun(bus);
        expectStored(await bus.append(s, [step(s, 0, 'running'), step(s, 1, 'pending')]), [3, 4]);
        expectStored(await bus.append(s, [step(s, 0, 'succeeded')]), [5]);
        expectRefused((await bus.append(s, [step(s, 0, 'running')]))[0], 'succeeded', 'running', /step 0\b/);
        expectRefused((await bus.append(s, [step(s, 1, 'succeeded')]))[0], 'pending', 'succeeded', /step 1\b/);
        expectStored(await bus.append(s, [step(s, 1, 'running'), step(s, 1, 'failed'), status(s, 'failed')]), [6, 7, 8]);
        expect(await bus.info(s)).toMatchObject({ status: 'failed', terminal: true, lastSeq: 8 });
      });
    });

    describe('idempotency', () => {
      it('the same eventId again answers the original seq as a duplicate; the first content wins', async () => {
        const bus = await open();
        const s = newSubject('job');
        const pending = status(s, 'pending', { jobType: 'original' });
        expectStored(await bus.append(s, [pending, jobProgress(s, 1)]), [1, 2]);
        const before = await snapshot(bus, s);

        const resent = status(s, 'scheduled', { jobType: 'changed' }, pending.eventId);
        expect(await bus.append(s, [resent])).toEqual([{ eventId: pending.eventId, seq: 1, duplicate: true }]);
        expect(await snapshot(bus, s)).toEqual(before);
        expectStreamed((await bus.history(s, 0, 1))[0]!, pending, 1, before.info!.epoch, 1);

        // A duplicate mixed with new events: only the new ones are stored.
        const fresh = status(s, 'scheduled');
        expect(await bus.append(s, [pending, fresh])).toEqual([
          { eventId: pending.eventId, seq: 1, duplicate: true },
          { eventId: fresh.eventId, seq: 3, duplicate: false },
        ]);
      });

      it('re-sending a stored terminal event is a duplicate, not a refusal', async () => {
        const bus = await open();
        const s = newSubject('run');
        const done = status(s, 'completed');
        expectStored(await bus.append(s, [status(s, 'running'), done]), [1, 2]);
        const before = await snapshot(bus, s);
        expect(await bus.append(s, [done])).toEqual([{ eventId: done.eventId, seq: 2, duplicate: true }]);
        expect(await bus.append(s, [status(s, 'running'), done]).then((o) => o[1])).toEqual({ eventId: done.eventId, seq: 2, duplicate: true });
        expect(await snapshot(bus, s)).toEqual(before);
      });

      it('a duplicate within one batch answers the seq given to its first copy', async () => {
        const bus = await open();
        const s = newSubject('job');
        const pending = status(s, 'pending');
        const again = status(s, 'scheduled', {}, pending.eventId);
        const scheduled = status(s, 'scheduled');
        expect(await bus.append(s, [pending, again, scheduled, scheduled])).toEqual([
          { eventId: pending.eventId, seq: 1, duplicate: false },
          { eventId: pending.eventId, seq: 1, duplicate: true },
          { eventId: scheduled.eventId, seq: 2, duplicate: false },
          { eventId: scheduled.eventId, seq: 2, duplicate: true },
        ]);
        expect(await bus.info(s)).toMatchObject({ lastSeq: 2, status: 'scheduled' });
        const history = await bus.history(s, 0, 10);
        expect(history).toHaveLength(2);
        expectStreamed(history[0]!, pending, 1, (await bus.info(s))!.epoch, 1);
      });

      it('a duplicate of an event that a refused batch did not store is not stored either', async () => {
        const bus = await open();
        const s = newSubject('job');
        const pending = status(s, 'pending');
        expectStored(await bus.append(s, [pending]), [1]);
        const before = await snapshot(bus, s);
        const scheduled = status(s, 'scheduled');
        const outcomes = await bus.append(s, [pending, scheduled, scheduled, status(s, 'running')]);
        expect(outcomes[0]).toEqual({ eventId: pending.eventId, seq: 1, duplicate: true });
        expectNotStored(outcomes[1]);
        expectNotStored(outcomes[2]);
        expectRefused(outcomes[3], 'scheduled', 'running');
        expect(await snapshot(bus, s)).toEqual(before);
        // Nothing of it landed, so sending the scheduled event again stores it.
        expectStored(await bus.append(s, [scheduled]), [2]);
      });

      it('idempotency is per subject: the same eventId on another subject is a new event', async () => {
        const bus = await open();
        const a = newSubject('job');
        const b = newSubject('job', a.tenant);
        const id = unique('shared');
        expectStored(await bus.append(a, [status(a, 'pending', {}, id)]), [1]);
        expectStored(await bus.append(b, [status(b, 'pending', {}, id)]), [1]);
      });

      it('an id leaves the index with its event: a retained retry is a duplicate, after the terminal event too; an older one is checked as a new event', async () => {
        const bus = await open({ historyMaxLen: 5 });
        const s = newSubject('pack-run');
        const pending = status(s, 'pending');
        const logs = Array.from({ length: 6 }, (_, i) => log(s, 0, i + 1));
        expectStored(await bus.append(s, [pending, status(s, 'running'), step(s, 0, 'running'), ...logs.slice(0, 5)]), [1, 2, 3, 4, 5, 6, 7, 8]);
        expect(await bus.info(s)).toMatchObject({ firstSeq: 4, lastSeq: 8 });
        // Retained: the original seq. No longer retained: a new event, which the state machine judges.
        expect(await bus.append(s, [logs[0]!])).toEqual([{ eventId: logs[0]!.eventId, seq: 4, duplicate: true }]);
        expectRefused((await bus.append(s, [pending]))[0], 'running', 'pending');
        expectStored(await bus.append(s, [logs[5]!]), [9]);
        expect(await bus.info(s)).toMatchObject({ firstSeq: 5, lastSeq: 9 });
        expectStored(await bus.append(s, [logs[0]!]), [10]);
        expect(await bus.append(s, [logs[0]!])).toEqual([{ eventId: logs[0]!.eventId, seq: 10, duplicate: true }]);
        expectStreamed((await bus.history(s, 9, 1))[0]!, logs[0]!, 10, (await bus.info(s))!.epoch);

        const done = status(s, 'succeeded');
        expectStored(await bus.append(s, [done]), [11]);
        const before = await snapshot(bus, s);
        expect(await bus.append(s, [logs[0]!, logs[4]!, done])).toEqual([
          { eventId: logs[0]!.eventId, seq: 10, duplicate: true },
          { eventId: logs[4]!.eventId, seq: 8, duplicate: true },
          { eventId: done.eventId, seq: 11, duplicate: true },
        ]);
        // Seq 6 (logs[2]) left the history: after the terminal event, a new event is refused.
        expectRefused((await bus.append(s, [logs[2]!]))[0], 'succeeded', 'pack_run.log');
        expect(await snapshot(bus, s)).toEqual(before);
      });

      it('a batch longer than the history keeps the ids of its retained events only', async () => {
        const bus = await open({ historyMaxLen: 3 });
        const s = newSubject('job');
        const events = [status(s, 'pending'), ...Array.from({ length: 6 }, (_, i) => jobProgress(s, i))];
        expectStored(await bus.append(s, events), [1, 2, 3, 4, 5, 6, 7]);
        expect(await bus.append(s, events.slice(4))).toEqual(events.slice(4).map((e, i) => ({ eventId: e.eventId, seq: 5 + i, duplicate: true })));
        expectStored(await bus.append(s, [events[3]!]), [8]);
        expect(await bus.info(s)).toMatchObject({ firstSeq: 6, lastSeq: 8 });
      });

      it('duplicates publish nothing', async () => {
        const bus = await open();
        const s = newSubject('job');
        const pending = status(s, 'pending');
        await bus.append(s, [pending]);
        const { batches, listener } = collector();
        await bus.subscribe(s, listener);
        expect(await bus.append(s, [pending])).toEqual([{ eventId: pending.eventId, seq: 1, duplicate: true }]);
        await flushDeliveries(bus);
        expect(batches).toEqual([]);
      });
    });

    describe('batches', () => {
      it('an illegal event refuses the whole call for its subject: the others are not_stored', async () => {
        const bus = await open();
        const s = newSubject('job');
        const outcomes = await bus.append(s, [status(s, 'pending'), status(s, 'scheduled'), status(s, 'succeeded'), status(s, 'leased'), jobProgress(s, 3)]);
        expect(outcomes).toHaveLength(5);
        expectNotStored(outcomes[0]);
        expectNotStored(outcomes[1]);
        expectRefused(outcomes[2], 'scheduled', 'succeeded');
        expectNotStored(outcomes[3]);
        expectNotStored(outcomes[4]);
        expect(await bus.info(s)).toBeNull();
        expect(await bus.history(s, 0, 10)).toEqual([]);
        expect(await bus.recentSubjects(s.tenant, undefined, 10)).toEqual([]);
      });

      it('a refused call on an existing subject changes nothing and publishes nothing', async () => {
        const bus = await open();
        const s = newSubject('pack-run');
        await bus.append(s, [status(s, 'running'), step(s, 0, 'running')]);
        const before = await snapshot(bus, s);
        const { batches, listener } = collector();
        await bus.subscribe(s, listener);
        const outcomes = await bus.append(s, [step(s, 0, 'succeeded'), log(s, 0, 1), step(s, 1, 'running'), status(s, 'pending')]);
        expectNotStored(outcomes[0]);
        // The log is judged after the step it follows in the call, which finished step 0.
        expectRefused(outcomes[1], 'succeeded', 'pack_run.log');
        expectNotStored(outcomes[2]);
        expectRefused(outcomes[3], 'running', 'pending');
        expect(await snapshot(bus, s)).toEqual(before);
        // Nor did the refused call move step 0: it is still running.
        expectStored(await bus.append(s, [log(s, 0, 1), step(s, 0, 'failed')]), [3, 4]);
        await flushDeliveries(bus);
        expect(batches.map((b) => [b.firstSeq, b.lastSeq])).toEqual([[3, 4]]);
      });

      it('events of one call are stored in the given order', async () => {
        const bus = await open();
        const s = newSubject('run');
        const events = [
          status(s, 'pending'),
          event(s, 'run.progress', { total: 3, pending: 3, running: 0, succeeded: 0, failed: 0, canceled: 0 }),
          status(s, 'running'),
          event(s, 'run.progress', { total: 3, pending: 0, running: 1, succeeded: 2, failed: 0, canceled: 0 }),
          status(s, 'completed'),
        ];
        expectStored(await bus.append(s, events), [1, 2, 3, 4, 5]);
        const history = await bus.history(s, 0, 10);
        const epoch = (await bus.info(s))!.epoch;
        const published = events.map((e, i) => expectStreamed(history[i]!, e, i + 1, epoch).publishedAt);
        expect(new Set(published).size).toBe(1);
        expect((await bus.info(s))!.updatedAt).toBe(published[0]);
      });
    });

    describe('deadline', () => {
      it('an append whose deadline has passed rejects and stores nothing, so sending it again stores it as new', async () => {
        const bus = await open();
        const s = newSubject('job');
        const { batches, listener } = collector();
        await bus.subscribe(s, listener);
        const late = [status(s, 'pending'), jobProgress(s, 1)];
        await expect(bus.append(s, late, Date.now() - 1)).rejects.toThrow(/deadline|budget/);
        expectStored(await bus.append(s, late, Date.now() + 30_000), [1, 2]);
        expect((await bus.history(s, 0, 10)).map((e) => e.seq)).toEqual([1, 2]);
        expect((await bus.recentSubjects(s.tenant, undefined, 10)).map((r) => r.id)).toEqual([s.id]);
        await flushDeliveries(bus);
        expect(batches.map((b) => [b.firstSeq, b.lastSeq])).toEqual([[1, 2]]);
      });
    });

    describe('streamed frames', () => {
      it('each history frame holds exactly the published event plus seq and publishedAt, under id epoch-seq', async () => {
        const bus = await open();
        const job = newSubject('job');
        const pack = newSubject('pack-run', job.tenant);
        const run = newSubject('run', job.tenant);
        const tricky = 'héllo "quoted" \\ back\\slash \u2713 \u{1F600} <b>&amp;</b> \t tab';
        const jobEvents = [
          { ...status(job, 'pending', { jobType: 'export', runId: 'r-1' }), correlationId: 'corr-1' },
          status(job, 'scheduled', { reason: tricky }),
          event(job, 'job.progress', { percent: 42.5, message: tricky }),
        ] as PublishedEvent[];
        const packEvents = [
          status(pack, 'running', { packName: 'deploy', packVersion: '1.2.3', steps: [{ index: 0, name: 'build' }, { index: 1, name: 'ship' }] }),
          step(pack, 0, 'running'),
          event(pack, 'pack_run.log', { stepIndex: 0, lineNo: 1, stream: 'stderr', level: 'warn', message: tricky }),
          step(pack, 0, 'succeeded', { exitCode: 0, durationMs: 12.5 }),
        ];
        const runEvents = [status(run, 'running'), event(run, 'run.progress', { total: 2, pending: 0, running: 1, succeeded: 1, failed: 0, canceled: 0 })];
        for (const [s, events] of [[job, jobEvents], [pack, packEvents], [run, runEvents]] as const) {
          expectStored(await bus.append(s, events), events.map((_, i) => i + 1));
          const info = (await bus.info(s))!;
          const history = await bus.history(s, 0, 100);
          expect(history).toHaveLength(events.length);
          events.forEach((e, i) => expectStreamed(history[i]!, e, i + 1, info.epoch, e.type === 'job.status' ? 1 : undefined));
        }
      });

      it('the epoch is stable across the appends of one subject and differs between subjects', async () => {
        const bus = await open();
        const a = newSubject('job');
        const b = newSubject('job', a.tenant);
        await bus.append(a, [status(a, 'pending')]);
        await bus.append(b, [status(b, 'pending')]);
        const epochA = (await bus.info(a))!.epoch;
        await bus.append(a, [status(a, 'scheduled')]);
        await bus.append(a, [jobProgress(a, 1), jobProgress(a, 2)]);
        expect((await bus.info(a))!.epoch).toBe(epochA);
        const ids = (await bus.history(a, 0, 10)).map((e) => parseFrames(e.frame.toString())[0]!.id);
        expect(ids).toEqual([1, 2, 3, 4].map((seq) => formatEventId(epochA, seq)));
        expect([...ids].sort()).toEqual(ids);
        expect((await bus.info(b))!.epoch).not.toBe(epochA);
      });
    });

    describe('history', () => {
      it('pages with afterSeq and limit', async () => {
        const bus = await open();
        const s = newSubject('job');
        await bus.append(s, [status(s, 'pending'), ...Array.from({ length: 9 }, (_, i) => jobProgress(s, i))]);
        const seqs = async (after: number, limit: number) => (await bus.history(s, after, limit)).map((e) => e.seq);
        expect(await seqs(0, 3)).toEqual([1, 2, 3]);
        expect(await seqs(3, 3)).toEqual([4, 5, 6]);
        expect(await seqs(6, 3)).toEqual([7, 8, 9]);
        expect(await seqs(9, 3)).toEqual([10]);
        expect(await seqs(10, 3)).toEqual([]);
        expect(await seqs(0, 1000)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await seqs(4, 0)).toEqual([]);
        const frames = (await bus.history(s, 0, 10)).map((e) => e.frame.toString());
        expect((await bus.history(s, 5, 2)).map((e) => e.frame.toString())).toEqual(frames.slice(5, 7));
      });

      it('trims to historyMaxLen: after 20 events with maxlen 5, seqs 16..20 remain', async () => {
        const bus = await open({ historyMaxLen: 5 });
        const s = newSubject('job');
        await bus.append(s, [status(s, 'pending')]);
        for (let i = 0; i < 19; i += 1) await bus.append(s, [jobProgress(s, i)]);
        expect(await bus.info(s)).toMatchObject({ firstSeq: 16, lastSeq: 20 });
        expect((await bus.history(s, 0, 100)).map((e) => e.seq)).toEqual([16, 17, 18, 19, 20]);
        expect((await bus.history(s, 3, 2)).map((e) => e.seq)).toEqual([16, 17]);
        expect((await bus.history(s, 17, 100)).map((e) => e.seq)).toEqual([18, 19, 20]);
        // Trimmed, not renumbered: the next event is 21.
        expectStored(await bus.append(s, [jobProgress(s, 99)]), [21]);
      });

      it('trims within one call too', async () => {
        const bus = await open({ historyMaxLen: 5 });
        const s = newSubject('job');
        await bus.append(s, [status(s, 'pending'), ...Array.from({ length: 11 }, (_, i) => jobProgress(s, i))]);
        expect(await bus.info(s)).toMatchObject({ firstSeq: 8, lastSeq: 12 });
        expect((await bus.history(s, 0, 100)).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
      });

      it('a terminal subject expires historyTtlSeconds after its terminal event', async () => {
        const bus = await open({ historyTtlSeconds: 1 });
        const done = newSubject('job');
        const open1 = newSubject('job', done.tenant);
        await bus.append(open1, [status(open1, 'pending')]);
        await bus.append(done, [status(done, 'pending'), status(done, 'canceled')]);
        expect(await bus.info(done)).toMatchObject({ terminal: true });
        await waitFor('the terminal subject to expire', async () => (await bus.info(done)) === null, 10_000);
        expect(await bus.history(done, 0, 10)).toEqual([]);
        expect((await bus.recentSubjects(done.tenant, undefined, 10)).map((r) => r.id)).toEqual([open1.id]);
        expect(await bus.info(open1)).toMatchObject({ lastSeq: 1 });
      });
    });

    describe('idle expiry of unfinished subjects (subjectIdleTtlSeconds)', () => {
      it('an unfinished subject expires subjectIdleTtlSeconds after its last append (a tenth more at most); one that keeps appending lives on, and the expired one leaves the recent subjects', async () => {
        const bus = await open({ subjectIdleTtlSeconds: 2 });
        const tenant = unique('tenant');
        const idle = newSubject('job', tenant);
        const pack = newSubject('pack-run', tenant);
        const busy = newSubject('job', tenant);
        const startedAt = Date.now();
        await bus.append(idle, [status(idle, 'pending')]);
        await bus.append(pack, [status(pack, 'running')]);
        await bus.append(busy, [status(busy, 'pending')]);
        let progress = 1;
        const keepBusy = async () => {
          progress += 1;
          expectStored(await bus.append(busy, [jobProgress(busy, progress)]), [progress]);
        };
        await sleep(1_000);
        // Its last append is now, a second later: it lives at least 2 s from here.
        await bus.append(idle, [jobProgress(idle, 1)]);
        await bus.append(pack, [step(pack, 0, 'running'), log(pack, 0, 1)]);
        const lastAppendAt = Date.now();
        await keepBusy();
        await sleep(Math.max(0, startedAt + 2_500 - Date.now()));
        await keepBusy();
        // Past its first append's 2.2 s, not past its last one's 2 s: still there.
        if (Date.now() < lastAppendAt + 1_900) {
          expect(await bus.info(idle)).toMatchObject({ lastSeq: 2 });
          expect(await bus.info(pack)).toMatchObject({ lastSeq: 3 });
        }
        await waitFor(
          'the idle subjects to expire',
          async () => {
            await keepBusy();
            return (await bus.info(idle)) === null && (await bus.info(pack)) === null;
          },
          10_000,
          400,
        );
        expect(Date.now() - lastAppendAt).toBeGreaterThanOrEqual(2_000);
        expect(await bus.history(idle, 0, 10)).toEqual([]);
        expect(await bus.history(pack, 0, 10)).toEqual([]);
        expect(await bus.info(busy)).toMatchObject({ status: 'pending', terminal: false });
        await keepBusy();
        expect((await bus.recentSubjects(tenant, undefined, 10)).map((r) => r.id)).toEqual([busy.id]);
        // An expired subject starts again as a new one, from seq 1 in a new epoch.
        expectStored(await bus.append(idle, [status(idle, 'pending')]), [1]);
      });

      it("a tenant whose subjects all expired keeps nothing: its activity goes with the last of them", async () => {
        const bus = await open({ subjectIdleTtlSeconds: 1, historyTtlSeconds: 2 });
        const tenant = unique('tenant');
        const idle = newSubject('job', tenant);
        const ended = newSubject('run', tenant);
        await bus.append(idle, [status(idle, 'pending')]);
        await bus.append(ended, [status(ended, 'pending'), status(ended, 'canceled')]);
        expect(await bus.info(activityOf(tenant))).toMatchObject({ lastSeq: 3 });
        await waitFor('the idle subject to expire', async () => (await bus.info(idle)) === null, 10_000);
        // The finished one lives on (2 s), and the activity with it.
        if ((await bus.info(ended)) !== null) expect(await bus.info(activityOf(tenant))).toMatchObject({ lastSeq: 3 });
        await waitFor('the finished subject to expire', async () => (await bus.info(ended)) === null, 10_000);
        await waitFor('the activity to go with it', async () => (await bus.info(activityOf(tenant))) === null, 5_000);
        expect(await bus.history(activityOf(tenant), 0, 10)).toEqual([]);
        expect(await bus.recentSubjects(tenant, undefined, 10)).toEqual([]);
      });

      it('a finished subject lives its history TTL, not the idle one', async () => {
        const bus = await open({ subjectIdleTtlSeconds: 1, historyTtlSeconds: 3600 });
        const s = newSubject('run');
        await bus.append(s, [status(s, 'pending'), status(s, 'running')]);
        await bus.append(s, [status(s, 'completed')]);
        await sleep(2_000);
        expect(await bus.info(s)).toMatchObject({ lastSeq: 3, terminal: true });
      });

      it("an unfinished subject that expired idle frees its place in its tenant's quota", async () => {
        const bus = await open({ tenantMaxSubjects: 1, subjectIdleTtlSeconds: 1, historyTtlSeconds: 600 });
        const tenant = unique('tenant');
        const first = newSubject('job', tenant);
        const next = newSubject('job', tenant);
        expectStored(await bus.append(first, [status(first, 'pending')]), [1]);
        // The retry hint is when the idle one expires (1.1 s at most), not a history TTL.
        expectOverQuota(await bus.append(next, [status(next, 'pending')]), { min: 1, max: 2 });
        await waitFor('the idle subject to expire', async () => (await bus.info(first)) === null, 10_000);
        await waitFor('the new subject to be admitted', async () => 'seq' in (await bus.append(next, [status(next, 'pending')]))[0]!, 10_000, 100);
        expect((await bus.recentSubjects(tenant, undefined, 10)).map((r) => r.id)).toEqual([next.id]);
      });
    });

    describe('latest state entries (what ?tail= sends before the tail)', () => {
      const seqsOf = (entries: HistoryEntry[]): number[] => entries.map((e) => e.seq);

      it("a pack run's latest status event and each step's latest step event, oldest first, those before beforeSeq", async () => {
        const bus = await open();
        const s = newSubject('pack-run');
        // seqs: 1 pending, 2 running, 3 step0 running, 4 log, 5 step0 succeeded, 6 step1 pending, 7 step1 running, 8 log, 9 step2 pending, 10 log
        await bus.append(s, [status(s, 'pending'), status(s, 'running'), step(s, 0, 'running'), log(s, 0, 1), step(s, 0, 'succeeded')]);
        await bus.append(s, [step(s, 1, 'pending'), step(s, 1, 'running'), log(s, 1, 1), step(s, 2, 'pending'), log(s, 2, 1)]);
        expect(seqsOf(await bus.latestStateEntries(s, 11))).toEqual([2, 5, 7, 9]);
        expect(seqsOf(await bus.latestStateEntries(s, 8))).toEqual([2, 5, 7]);
        expect(seqsOf(await bus.latestStateEntries(s, 6))).toEqual([2, 5]);
        expect(seqsOf(await bus.latestStateEntries(s, 1))).toEqual([]);
        const all = await bus.history(s, 0, 100);
        const entries = await bus.latestStateEntries(s, 11);
        expect(entries.map((e) => e.frame.toString())).toEqual([2, 5, 7, 9].map((seq) => all[seq - 1]!.frame.toString()));
        expect(entries.every((e) => !e.terminal)).toBe(true);
        await bus.append(s, [step(s, 2, 'skipped'), status(s, 'failed')]);
        expect(seqsOf(await bus.latestStateEntries(s, 12))).toEqual([5, 7, 11]);
        expect(seqsOf(await bus.latestStateEntries(s, 100))).toEqual([5, 7, 11, 12]);
      });

      it('finds a step whose latest event is thousands of entries back', async () => {
        const bus = await open({ historyMaxLen: 5000 });
        const s = newSubject('pack-run');
        await bus.append(s, [status(s, 'running'), step(s, 0, 'running'), step(s, 1, 'pending')]);
        for (let b = 0; b < 5; b += 1) await bus.append(s, Array.from({ length: 500 }, (_, i) => log(s, 0, b * 500 + i + 1)));
        await bus.append(s, [step(s, 0, 'succeeded'), ...Array.from({ length: 300 }, (_, i) => log(s, 2, i + 1))]);
        const last = (await bus.info(s))!.lastSeq;
        expect(seqsOf(await bus.latestStateEntries(s, last - 99))).toEqual([1, 3, 2504]);
      });

      it('has only what the history retains; nothing for an unknown subject, or a job without one before beforeSeq', async () => {
        const bus = await open({ historyMaxLen: 5 });
        const s = newSubject('pack-run');
        await bus.append(s, [status(s, 'running'), step(s, 0, 'running'), step(s, 1, 'running'), log(s, 1, 1), log(s, 1, 2), log(s, 1, 3), log(s, 1, 4)]);
        expect(seqsOf(await bus.latestStateEntries(s, 8))).toEqual([3]);
        expect(await bus.latestStateEntries(newSubject('pack-run'), 10)).toEqual([]);
        const j = newSubject('job');
        await bus.append(j, [status(j, 'pending'), jobProgress(j, 1), jobProgress(j, 2)]);
        expect(seqsOf(await bus.latestStateEntries(j, 3))).toEqual([1]);
        expect(seqsOf(await bus.latestStateEntries(j, 1))).toEqual([]);
      });
    });

    describe('tenants', () => {
      it('the same kind and id in two tenants are separate subjects', async () => {
        const bus = await open();
        const a = newSubject('job');
        const b: TenantSubject = { ...a, tenant: unique('other') };
        const sharedId = unique('same-event');
        const { batches, listener } = collector();
        await bus.subscribe(b, listener);
        expectStored(await bus.append(a, [status(a, 'pending', {}, sharedId), status(a, 'scheduled'), status(a, 'leased')]), [1, 2, 3]);
        expectRefused((await bus.append(b, [status(b, 'running')]))[0], 'none', 'running');
        expectStored(await bus.append(b, [status(b, 'scheduled', {}, sharedId)]), [1]);
        expect(await bus.info(a)).toMatchObject({ lastSeq: 3, status: 'leased' });
        expect(await bus.info(b)).toMatchObject({ lastSeq: 1, status: 'scheduled' });
        expect((await bus.info(a))!.epoch).not.toBe((await bus.info(b))!.epoch);
        const historyB = await bus.history(b, 0, 10);
        expect(historyB).toHaveLength(1);
        expect(JSON.parse(parseFrames(historyB[0]!.frame.toString())[0]!.data)).toMatchObject({ tenant: b.tenant, data: { status: 'scheduled' } });
        expect((await bus.recentSubjects(a.tenant, undefined, 10)).map((r) => r.id)).toEqual([a.id]);
        expect(await bus.recentSubjects(b.tenant, undefined, 10)).toEqual([
          { kind: 'job', id: a.id, status: 'scheduled', seq: 1, updatedAt: expect.stringMatching(ISO_MS) },
        ]);
        await flushDeliveries(bus);
        expect(batches.map((x) => [x.firstSeq, x.lastSeq])).toEqual([[1, 1]]);
      });
    });

    describe('live batches', () => {
      it('delivers one batch per append call holding all its frames, flagged terminal at the end', async () => {
        const bus = await open();
        const s = newSubject('job');
        const { batches, listener } = collector();
        await bus.subscribe(s, listener);
        await bus.append(s, [status(s, 'pending'), status(s, 'scheduled'), status(s, 'leased')]);
        await bus.append(s, [status(s, 'running')]);
        await bus.append(s, [jobProgress(s, 50), status(s, 'succeeded')]);
        await waitFor('three batches', () => batches.length >= 3, 10_000);
        await flushDeliveries(bus);
        expect(batches.map((b) => [b.firstSeq, b.lastSeq, b.terminal])).toEqual([
          [1, 3, false],
          [4, 4, false],
          [5, 6, true],
        ]);
        const history = await bus.history(s, 0, 100);
        const frameText = (from: number, to: number) =>
          history
            .filter((e) => e.seq >= from && e.seq <= to)
            .map((e) => e.frame.toString())
            .join('');
        for (const batch of batches) {
          expect(batch.frames.toString()).toBe(frameText(batch.firstSeq, batch.lastSeq));
          const frames = parseFrames(batch.frames.toString());
          expect(frames.map((f) => JSON.parse(f.data).seq)).toEqual(
            Array.from({ length: batch.lastSeq - batch.firstSeq + 1 }, (_, i) => batch.firstSeq + i),
          );
        }
      });

      it('unsubscribe stops delivery; subscriptionCount counts subjects', async () => {
        const bus = await open();
        const a = newSubject('job');
        const b = newSubject('run', a.tenant);
        expect(bus.subscriptionCount()).toBe(0);
        const got = { a: collector(), b: collector() };
        await bus.subscribe(a, got.a.listener);
        await bus.subscribe(b, got.b.listener);
        expect(bus.subscriptionCount()).toBe(2);
        await bus.append(a, [status(a, 'pending')]);
        await waitFor('a first batch', () => got.a.batches.length === 1, 10_000);

        await bus.unsubscribe(a);
        expect(bus.subscriptionCount()).toBe(1);
        await bus.append(a, [status(a, 'scheduled')]);
        await bus.append(b, [status(b, 'pending')]);
        await waitFor('a batch of b', () => got.b.batches.length === 1, 10_000);
        await flushDeliveries(bus);
        expect(got.a.batches).toHaveLength(1);

        // Unsubscribing what is not subscribed is harmless.
        await bus.unsubscribe(a);
        await bus.unsubscribe(newSubject('job'));
        expect(bus.subscriptionCount()).toBe(1);
        await bus.unsubscribe(b);
        expect(bus.subscriptionCount()).toBe(0);
      });

      it('one listener per subject: subscribing again replaces it', async () => {
        const bus = await open();
        const s = newSubject('pack-run');
        const first = collector();
        const second = collector();
        await bus.subscribe(s, first.listener);
        await bus.subscribe(s, second.listener);
        expect(bus.subscriptionCount()).toBe(1);
        await bus.append(s, [status(s, 'pending')]);
        await waitFor('the batch', () => second.batches.length === 1, 10_000);
        await flushDeliveries(bus);
        expect(first.batches).toEqual([]);
        expect(second.batches).toHaveLength(1);
      });

      it('a subscription made before the subject exists receives its first events', async () => {
        const bus = await open();
        const s = newSubject('run');
        const { batches, listener } = collector();
        await bus.subscribe(s, listener);
        expect(await bus.info(s)).toBeNull();
        await bus.append(s, [status(s, 'pending')]);
        await waitFor('the batch', () => batches.length === 1, 10_000);
        expect(batches[0]).toMatchObject({ firstSeq: 1, lastSeq: 1, terminal: false });
      });
    });

    describe('tenant activity', () => {
      it('each stored status change is one subject.updated, in order; duplicates, refusals and other events add none', async () => {
        const bus = await open();
        const tenant = unique('tenant');
        const job = newSubject('job', tenant);
        const pack = newSubject('pack-run', tenant);
        const pending = status(job, 'pending');
        await bus.append(job, [pending, status(job, 'scheduled'), jobProgress(job, 5)]);
        await bus.append(pack, [status(pack, 'running'), step(pack, 0, 'running'), log(pack, 0, 1)]);
        await bus.append(job, [pending]);
        await bus.append(job, [status(job, 'running')]);
        await bus.append(pack, [status(pack, 'succeeded')]);
        await bus.append(pack, [status(pack, 'succeeded')]);
        await bus.append(job, [status(job, 'leased'), jobProgress(job, 9)]);
        expect(await activityUpdatesOf(bus, tenant)).toEqual([
          [`job:${job.id}`, 'pending', 1],
          [`job:${job.id}`, 'scheduled', 2],
          [`pack-run:${pack.id}`, 'running', 1],
          [`pack-run:${pack.id}`, 'succeeded', 4],
          [`job:${job.id}`, 'leased', 4],
        ]);
      });

      it('is trimmed to historyMaxLen like a subject: it keeps no index of its own that grows', async () => {
        const bus = await open({ historyMaxLen: 4 });
        const tenant = unique('tenant');
        for (let i = 0; i < 5; i += 1) {
          const run = newSubject('run', tenant);
          await bus.append(run, [status(run, 'pending'), status(run, 'running')]);
        }
        const activity = activityOf(tenant);
        expect(await bus.info(activity)).toMatchObject({ firstSeq: 7, lastSeq: 10 });
        expect((await bus.history(activity, 0, 100)).map((e) => e.seq)).toEqual([7, 8, 9, 10]);
      });
    });

    describe('tenant quota (tenantMaxSubjects)', () => {
      it('a new subject past the maximum is refused, with when to retry, and nothing is stored; existing subjects and other tenants go on', async () => {
        const bus = await open({ tenantMaxSubjects: 2, historyTtlSeconds: 600 });
        const tenant = unique('tenant');
        const a = newSubject('job', tenant);
        const b = newSubject('run', tenant);
        const c = newSubject('pack-run', tenant);
        expectStored(await bus.append(a, [status(a, 'pending')]), [1]);
        // A new subject whose first event is refused does not count.
        expectRefused((await bus.append(b, [status(b, 'completed')]))[0], 'none', 'completed');
        expectStored(await bus.append(b, [status(b, 'pending'), status(b, 'running')]), [1, 2]);

        const refused = await bus.append(c, [status(c, 'pending'), status(c, 'running')]);
        // Every subject of the tenant is running: a place frees one history TTL after one ends, at the soonest.
        expectOverQuota(refused, { min: 600, max: 600 });
        expect(await bus.info(c)).toBeNull();
        expect(await bus.history(c, 0, 10)).toEqual([]);
        expect((await bus.recentSubjects(tenant, undefined, 10)).map((r) => r.id).sort()).toEqual([a.id, b.id].sort());

        expectStored(await bus.append(a, [status(a, 'scheduled'), jobProgress(a, 1)]), [2, 3]);
        expectStored(await bus.append(b, [status(b, 'completed')]), [3]);
        const elsewhere = newSubject('pack-run');
        expectStored(await bus.append(elsewhere, [status(elsewhere, 'pending')]), [1]);
        // b ended: still counted until its history expires, which is when the answer says to retry.
        expectOverQuota(await bus.append(c, [status(c, 'pending')]), { min: 590, max: 600 });
        expect(await activityUpdatesOf(bus, tenant)).toEqual([
          [`job:${a.id}`, 'pending', 1],
          [`run:${b.id}`, 'pending', 1],
          [`run:${b.id}`, 'running', 2],
          [`job:${a.id}`, 'scheduled', 2],
          [`run:${b.id}`, 'completed', 3],
        ]);
      });

      it('a subject that ended frees its place once its history expired', async () => {
        const bus = await open({ tenantMaxSubjects: 1, historyTtlSeconds: 1 });
        const tenant = unique('tenant');
        const first = newSubject('job', tenant);
        const next = newSubject('job', tenant);
        expectStored(await bus.append(first, [status(first, 'pending'), status(first, 'canceled')]), [1, 2]);
        expectOverQuota(await bus.append(next, [status(next, 'pending')]), { min: 1, max: 1 });
        await waitFor('the ended subject to expire', async () => (await bus.info(first)) === null, 10_000);
        await waitFor('the new subject to be admitted', async () => 'seq' in (await bus.append(next, [status(next, 'pending')]))[0]!, 10_000, 100);
        expect(await bus.info(next)).toMatchObject({ lastSeq: 1, status: 'pending' });
        expect((await bus.recentSubjects(tenant, undefined, 10)).map((r) => r.id)).toEqual([next.id]);
      });
    });

    describe('recent subjects', () => {
      it("lists the tenant's subjects most recent first, with status and seq, by kind and limit", async () => {
        const bus = await open();
        const tenant = unique('tenant');
        const job = newSubject('job', tenant);
        const run = newSubject('run', tenant);
        const pack = newSubject('pack-run', tenant);
        const job2 = newSubject('job', tenant);
        const elsewhere = newSubject('job');
        // Distinct milliseconds, so "most recent" is well defined.
        const pause = () => sleep(5);
        await bus.append(job, [status(job, 'pending')]);
        await pause();
        const runStarted = status(run, 'running');
        await bus.append(run, [runStarted]);
        await pause();
        await bus.append(pack, [status(pack, 'pending'), status(pack, 'running')]);
        await pause();
        await bus.append(job2, [status(job2, 'scheduled')]);
        await pause();
        await bus.append(elsewhere, [status(elsewhere, 'pending')]);
        await pause();
        await bus.append(job, [status(job, 'scheduled'), jobProgress(job, 5)]);
        await pause();
        // A refused call and a duplicate do not make a subject recent.
        expect((await bus.append(run, [runStarted]))[0]).toMatchObject({ duplicate: true });
        expect((await bus.append(job2, [status(job2, 'leased'), status(job2, 'pending')]))[1]).toHaveProperty('error');

        const all = await bus.recentSubjects(tenant, undefined, 10);
        expect(all).toEqual([
          { kind: 'job', id: job.id, status: 'scheduled', seq: 3, updatedAt: expect.stringMatching(ISO_MS) },
          { kind: 'job', id: job2.id, status: 'scheduled', seq: 1, updatedAt: expect.stringMatching(ISO_MS) },
          { kind: 'pack-run', id: pack.id, status: 'running', seq: 2, updatedAt: expect.stringMatching(ISO_MS) },
          { kind: 'run', id: run.id, status: 'running', seq: 1, updatedAt: expect.stringMatching(ISO_MS) },
        ]);
        expect(all[0]!.updatedAt).toBe((await bus.info(job))!.updatedAt);
        expect((await bus.recentSubjects(tenant, undefined, 2)).map((r) => r.id)).toEqual([job.id, job2.id]);
        expect((await bus.recentSubjects(tenant, 'job', 10)).map((r) => r.id)).toEqual([job.id, job2.id]);
        expect((await bus.recentSubjects(tenant, 'job', 1)).map((r) => r.id)).toEqual([job.id]);
        expect((await bus.recentSubjects(tenant, 'run', 10)).map((r) => r.id)).toEqual([run.id]);
        expect((await bus.recentSubjects(tenant, 'pack-run', 10)).map((r) => r.id)).toEqual([pack.id]);
        expect(await bus.recentSubjects(unique('nobody'), undefined, 10)).toEqual([]);
      });
    });

    describe('revocations (issue 17)', () => {
      const revocation = (expiresInMs: number, jti = unique('jti')) => ({
        id: unique('rev'),
        jti,
        expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
        createdAt: new Date().toISOString(),
      });

      it('stores a revocation until it expires, announces it and its lifting, and lifts it once', async () => {
        const bus = await open();
        const changes: RevocationChange[] = [];
        bus.onRevocationChange((change) => changes.push(change));
        const lasting = revocation(600_000);
        const brief = revocation(400);
        expect(await bus.addRevocation(lasting, 100_000)).toBe(true);
        expect(await bus.addRevocation(brief, 100_000)).toBe(true);
        await waitFor('both announcements', () => changes.length === 2, 5000);
        expect(changes).toEqual([
          { kind: 'added', revocation: lasting },
          { kind: 'added', revocation: brief },
        ]);
        const ids = async () => (await bus.activeRevocations()).map((r) => r.id);
        expect(await ids()).toEqual(expect.arrayContaining([lasting.id, brief.id]));
        await waitFor('the brief one to expire', async () => !(await ids()).includes(brief.id), 5000);
        expect(await ids()).toContain(lasting.id);

        expect(await bus.removeRevocation(lasting.id)).toBe(true);
        await waitFor('the lifting announced', () => changes.length === 3, 5000);
        expect(changes[2]).toEqual({ kind: 'removed', id: lasting.id });
        expect(await ids()).not.toContain(lasting.id);
        expect(await bus.removeRevocation(lasting.id)).toBe(false);
        expect(await bus.removeRevocation(brief.id)).toBe(false);
      });

      it('refuses one more than maxActive, storing and announcing nothing; an expired one frees its place', async () => {
        const bus = await open();
        const changes: RevocationChange[] = [];
        bus.onRevocationChange((change) => changes.push(change));
        const active = (await bus.activeRevocations()).length;
        const brief = revocation(300);
        expect(await bus.addRevocation(brief, active + 1)).toBe(true);
        const refused = revocation(600_000);
        expect(await bus.addRevocation(refused, active + 1)).toBe(false);
        expect((await bus.activeRevocations()).map((r) => r.id)).not.toContain(refused.id);
        await sleep(400);
        const admitted = revocation(600_000);
        expect(await bus.addRevocation(admitted, active + 1)).toBe(true);
        await waitFor('the announcements', () => changes.length === 2, 5000);
        expect(changes.map((c) => (c.kind === 'added' ? c.revocation.id : c.id))).toEqual([brief.id, admitted.id]);
        expect(await bus.removeRevocation(admitted.id)).toBe(true);
      });

      it('has a version that changes with every revocation added or lifted, and not with a refused one or a read, never repeating', async () => {
        const bus = await open();
        const seen = [await bus.revocationsVersion()];
        const next = async () => {
          const version = await bus.revocationsVersion();
          expect(seen).not.toContain(version);
          seen.push(version);
        };
        const lasting = revocation(600_000);
        expect(await bus.addRevocation(lasting, 100_000)).toBe(true);
        await next();
        await bus.activeRevocations();
        expect(await bus.revocationsVersion()).toBe(seen.at(-1));
        const active = (await bus.activeRevocations()).length;
        expect(await bus.addRevocation(revocation(600_000), active)).toBe(false);
        expect(await bus.revocationsVersion()).toBe(seen.at(-1));
        expect(await bus.removeRevocation(lasting.id)).toBe(true);
        await next();
        expect(await bus.removeRevocation(lasting.id)).toBe(false);
        expect(await bus.revocationsVersion()).toBe(seen.at(-1));
        const again = revocation(600_000);
        expect(await bus.addRevocation(again, 100_000)).toBe(true);
        await next();
        expect(await bus.removeRevocation(again.id)).toBe(true);
        await next();
      });
    });

    describe('watcher counts (issue 17)', () => {
      it('sums the counts of the live replicas; a replica stops counting when its time passes or it retires; a count of 0 leaves', async () => {
        const bus = await open();
        const s = newSubject('job');
        const [lasting, brief, retiring] = [unique('replica'), unique('replica'), unique('replica')];
        expect(await bus.watcherCount(s)).toBe(0);
        await bus.reportWatchers(lasting, [{ subject: s, count: 2 }], 60_000);
        await bus.reportWatchers(brief, [{ subject: s, count: 3 }], 300);
        await bus.reportWatchers(retiring, [{ subject: s, count: 4 }], 60_000);
        expect(await bus.watcherCount(s)).toBe(9);
        expect(await bus.watcherCount(newSubject('job', s.tenant))).toBe(0);
        await bus.retireReplica(retiring);
        expect(await bus.watcherCount(s)).toBe(5);
        await sleep(400);
        expect(await bus.watcherCount(s)).toBe(2);
        // A report without changes keeps the replica's counts alive.
        await bus.reportWatchers(lasting, [], 60_000);
        expect(await bus.watcherCount(s)).toBe(2);
        await bus.reportWatchers(lasting, [{ subject: s, count: 0 }], 60_000);
        expect(await bus.watcherCount(s)).toBe(0);
        await bus.retireReplica(lasting);
      });
    });

    describe('probe', () => {
      it('resolves', async () => {
        const bus = await open();
        await expect(bus.probe(2000)).resolves.toBeUndefined();
      });
    });
  });
}
