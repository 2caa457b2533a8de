/**
 * `?types=` sits below the seam: the feeds hand every seq to the session, which writes only the
 * matching events. For any events of several subjects, delivered in any runs (live or replayed), any
 * filter, and a connection cut after any frame, a multi-subject stream stays exact: what was received
 * plus what a resume from the last cursor received would send (every event after each subject's
 * position that matches) is every matching event once, in seq order per subject; and a single-subject
 * stream's last id does the same.
 */
import fc from 'fast-check';
import { EVENT_TYPE_NAMES } from '@fanout/contracts';
import { dataJsonOf, parseEventId, splitFrames, storedFrame, StreamRef } from '@fanout/bus';
import { SseConnection } from '@fanout/sse';
import { MultiStream } from '../src/multi-stream';
import { decodeCursor } from '../src/multi-cursor';
import { SingleStream } from '../src/single-stream';
import { StreamServices } from '../src/stream-context';
import { SubjectFeed } from '../src/subject-feed';
import { Principal } from '@fanout/http';

const EPOCH = 'abcdef01';
const SUBJECTS = ['a', 'b', 'c'].map((id) => ({ tenant: 'acme', kind: 'job' as const, id }));
const PRINCIPAL: Principal = { tenant: 'acme', fromToken: false };

interface Written {
  /** Each write, as the client reads it: the frames with an id, in order. */
  frames: { id: string; subject: string; seq: number; type: string }[];
}

/** A connection that takes everything at once and records the frames with an id. */
function recordingConnection(written: Written): SseConnection {
  const conn = {
    isOpen: true,
    isClosed: false,
    highWaterMark: 16 * 1024,
    unsentBytes: 0,
    needsDrain: false,
    lastWriteAt: 0,
    onClose: () => undefined,
    onUncorked: () => undefined,
    onDrain: () => undefined,
    start: () => undefined,
    drained: () => Promise.resolve(),
    end: () => undefined,
    destroy: () => undefined,
    write(chunk: Buffer) {
      for (const frame of splitFrames(chunk)) {
        const text = frame.toString('utf8');
        if (!text.startsWith('id: ')) continue;
        const data = JSON.parse(dataJsonOf(frame)) as { subject: string; seq: number; type: string };
        written.frames.push({ id: text.slice('id: '.length, text.indexOf('\n')), subject: data.subject, seq: data.seq, type: data.type });
      }
      return true;
    },
  };
  return conn as unknown as SseConnection;
}

const services = {
  scheduler: { add: () => undefined, delete: () => undefined },
  metrics: { connections: { inc: () => undefined, dec: () => undefined }, disconnects: { inc: () => undefined }, heartbeats: { inc: () => undefined }, countDelivered: () => undefined },
  settings: { retryMs: 1000, retryJitterMs: 0, heartbeatMs: 60_000, idleTimeoutMs: 60_000, clientBufferBytes: 1 << 20, conflateThresholdBytes: 1 << 19 },
  logger: { warn: () => undefined, info: () => undefined },
  bus: { info: () => Promise.resolve(null) },
  history: { read: () => Promise.reject(new Error('not read here')), forget: () => undefined },
  subscriptions: { join: () => Promise.resolve(0), leave: () => undefined, latestMark: () => 0 },
} as unknown as StreamServices;

function frameOf(subject: string, seq: number, type: string): Buffer {
  return Buffer.from(storedFrame(EPOCH, seq, type, JSON.stringify({ subject, seq, type })));
}

const scenarioArb = fc.record({
  /** Per subject, the types of its events, seq 1, 2, 3, … */
  events: fc.tuple(...SUBJECTS.map(() => fc.array(fc.constantFrom(...EVENT_TYPE_NAMES), { minLength: 1, maxLength: 12 }))),
  types: fc.subarray([...EVENT_TYPE_NAMES], { minLength: 1 }),
  /** Which subject's next run is delivered, and how long it is. */
  runs: fc.array(fc.record({ subject: fc.nat({ max: SUBJECTS.length - 1 }), length: fc.integer({ min: 1, max: 4 }), replayed: fc.boolean() }), { maxLength: 40 }),
  cutAt: fc.nat(),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Delivers every event of every subject in the scenario's runs (then the rest, in order) to `deliver`. */
function deliverAll(scenario: Scenario, subjects: number[], deliver: (subject: number, frames: Buffer, firstSeq: number, lastSeq: number, replayed: boolean) => void): void {
  const next = subjects.map(() => 1);
  const runs = [...scenario.runs, ...subjects.map((subject) => ({ subject, length: Number.MAX_SAFE_INTEGER, replayed: false }))];
  for (const run of runs) {
    const subject = run.subject % subjects.length;
    const types = scenario.events[subjects[subject]!]!;
    const first = next[subject]!;
    const last = Math.min(types.length, first + run.length - 1);
    if (first > last) continue;
    const frames = Buffer.concat(types.slice(first - 1, last).map((type, i) => frameOf(SUBJECTS[subjects[subject]!]!.id, first + i, type)));
    deliver(subject, frames, first, last, run.replayed);
    next[subject] = last + 1;
  }
}

/** Every matching event of the subjects, as `subject:seq`. */
function matchingEvents(scenario: Scenario, subjects: number[]): string[] {
  return subjects.flatMap((s) => scenario.events[s]!.flatMap((type, i) => (scenario.types.includes(type) ? [`${SUBJECTS[s]!.id}:${i + 1}`] : [])));
}

function expectExact(scenario: Scenario, subjects: number[], received: Written['frames'], positions: number[]): void {
  for (const frame of received) expect(scenario.types).toContain(frame.type);
  const resumed = subjects.flatMap((s, i) =>
    scenario.events[s]!.flatMap((type, index) => (index + 1 > positions[i]! && scenario.types.includes(type) ? [`${SUBJECTS[s]!.id}:${index + 1}`] : [])),
  );
  const all = [...received.map((f) => `${f.subject}:${f.seq}`), ...resumed];
  expect([...all].sort()).toEqual([...matchingEvents(scenario, subjects)].sort());
  for (const s of subjects) {
    const seqs = received.filter((f) => f.subject === SUBJECTS[s]!.id).map((f) => f.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }
}

test('a filtered multi-subject stream cut after any frame resumes from its last cursor exactly', () => {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      const subjects = SUBJECTS.map((_, i) => i);
      const written: Written = { frames: [] };
      const entries = SUBJECTS.map((subject) => ({ subject, epoch: EPOCH, afterSeq: 0, done: false }));
      const stream = new MultiStream(services, entries, recordingConnection(written), PRINCIPAL, { types: new Set(scenario.types), conflate: false });
      const feeds = [...(stream as unknown as { feeds: Map<SubjectFeed, number> }).feeds.keys()];
      deliverAll(scenario, subjects, (subject, frames, first, last, replayed) => stream.deliver(feeds[subject]!, frames, first, last, replayed));

      const cut = written.frames.length === 0 ? 0 : scenario.cutAt % (written.frames.length + 1);
      const received = written.frames.slice(0, cut);
      const positions = cut === 0 ? subjects.map(() => 0) : decodeCursor(received[cut - 1]!.id, SUBJECTS.length)!.map((p) => p.seq);
      expectExact(scenario, subjects, received, positions);
    }),
    { numRuns: Number(process.env.SEAM_PROPERTY_RUNS ?? 300) },
  );
});

test('a filtered single-subject stream cut after any frame resumes from its last id exactly', () => {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      const written: Written = { frames: [] };
      const ref: StreamRef = SUBJECTS[0]!;
      const stream = new SingleStream(services, ref, recordingConnection(written), 0, EPOCH, PRINCIPAL, undefined, { types: new Set(scenario.types), conflate: false });
      deliverAll(scenario, [0], (_, frames, first, last, replayed) => stream.deliver(undefined as unknown as SubjectFeed, frames, first, last, replayed));

      const cut = written.frames.length === 0 ? 0 : scenario.cutAt % (written.frames.length + 1);
      const received = written.frames.slice(0, cut);
      const position = cut === 0 ? 0 : parseEventId(received[cut - 1]!.id)!.seq;
      expectExact(scenario, [0], received, [position]);
    }),
    { numRuns: Number(process.env.SEAM_PROPERTY_RUNS ?? 300) },
  );
});
