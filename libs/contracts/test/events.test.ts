import {
  EVENT_TYPES,
  EventType,
  MAX_BATCH_EVENTS,
  PublishBatchSchema,
  PublishedEventSchema,
  StreamedEventSchema,
  StreamedEventSchemas,
  SubjectKind,
} from '@fanout/contracts';

const SUBJECT_OF: Record<EventType, SubjectKind> = {
  'job.status': 'job',
  'job.progress': 'job',
  'pack_run.status': 'pack-run',
  'pack_run.step': 'pack-run',
  'pack_run.log': 'pack-run',
  'run.status': 'run',
  'run.progress': 'run',
};

/** A valid example of every type, with every optional field used. */
const FULL_DATA: Record<EventType, Record<string, unknown>> = {
  'job.status': { status: 'running', attempt: 2, reason: 'picked up', runId: 'run-7', jobType: 'export' },
  'job.progress': { percent: 42.5, message: 'halfway' },
  'pack_run.status': { status: 'pending', packName: 'deploy', packVersion: '1.2.3', steps: [{ index: 0, name: 'build' }] },
  'pack_run.step': { stepIndex: 0, stepName: 'build', status: 'succeeded', exitCode: 0, durationMs: 1234.5 },
  'pack_run.log': { stepIndex: 0, lineNo: 1, stream: 'stderr', level: 'warn', message: 'careful' },
  'run.status': { status: 'completed' },
  'run.progress': { total: 10, pending: 1, running: 2, succeeded: 5, failed: 1, canceled: 1 },
};
const MINIMAL_DATA: Record<EventType, Record<string, unknown>> = {
  'job.status': { status: 'pending' },
  'job.progress': { percent: 0 },
  'pack_run.status': { status: 'running' },
  'pack_run.step': { stepIndex: 3, stepName: 's', status: 'pending' },
  'pack_run.log': { stepIndex: 3, lineNo: 1, stream: 'stdout', message: '' },
  'run.status': { status: 'pending' },
  'run.progress': { total: 0, pending: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 },
};
const TYPES = Object.keys(SUBJECT_OF) as EventType[];

function eventOf(type: EventType, data: Record<string, unknown> = FULL_DATA[type], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: '0192f7c0-aaaa-bbbb-cccc-000000000001',
    tenant: 'acme',
    subject: { kind: SUBJECT_OF[type], id: 'subject-1' },
    type,
    occurredAt: '2026-11-27T10:00:00.000Z',
    data,
    ...extra,
  };
}

const ok = (value: unknown) => PublishedEventSchema.safeParse(value).success;
const issuesOf = (value: unknown) => {
  const result = PublishedEventSchema.safeParse(value);
  if (result.success) throw new Error(`expected ${JSON.stringify(value).slice(0, 200)} to be rejected`);
  return result.error.issues;
};
const withData = (type: EventType, patch: Record<string, unknown>) => eventOf(type, { ...FULL_DATA[type], ...patch });
const without = (object: Record<string, unknown>, key: string) => {
  const copy = { ...object };
  delete copy[key];
  return copy;
};

describe('PublishedEventSchema: valid events', () => {
  it('the type table names every type with its kind', () => {
    for (const type of TYPES) expect(EVENT_TYPES[type].kind).toBe(SUBJECT_OF[type]);
    expect(Object.keys(EVENT_TYPES).sort()).toEqual([...TYPES].sort());
  });

  it.each(TYPES)('%s with every optional field', (type) => {
    const event = eventOf(type, FULL_DATA[type], { correlationId: 'corr-1' });
    expect(PublishedEventSchema.parse(event)).toEqual(event);
  });

  it.each(TYPES)('%s with only the required fields', (type) => {
    expect(ok(eventOf(type, MINIMAL_DATA[type]))).toBe(true);
  });

  it('job.status attempt has no default at parse time (the store fills in the current one)', () => {
    const parsed = PublishedEventSchema.parse(eventOf('job.status', { status: 'pending' }));
    expect(parsed.data).toEqual({ status: 'pending' });
  });

  it('occurredAt may carry an offset', () => {
    expect(ok(eventOf('run.status', undefined, { occurredAt: '2026-11-27T12:00:00+02:00' }))).toBe(true);
    expect(ok(eventOf('run.status', undefined, { occurredAt: '2026-11-27T10:00:00Z' }))).toBe(true);
  });
});

describe('PublishedEventSchema: rejections', () => {
  it.each(TYPES)('%s: unknown fields in data are rejected', (type) => {
    expect(issuesOf(withData(type, { extra: 1 }))[0]!.path).toEqual(['data']);
  });

  it('unknown fields in the envelope, subject and steps are rejected', () => {
    expect(ok(eventOf('run.status', undefined, { priority: 1 }))).toBe(false);
    expect(ok(eventOf('run.status', undefined, { subject: { kind: 'run', id: 'r', tenant: 'x' } }))).toBe(false);
    expect(ok(withData('pack_run.status', { steps: [{ index: 0, name: 'a', extra: true }] }))).toBe(false);
  });

  it.each(['eventId', 'tenant', 'subject', 'type', 'occurredAt', 'data'])('a missing %s is rejected', (key) => {
    expect(ok(without(eventOf('run.status'), key))).toBe(false);
  });

  it.each(TYPES.flatMap((type) => (['job', 'pack-run', 'run'] as const).filter((k) => k !== SUBJECT_OF[type]).map((kind) => [type, kind] as const)))(
    '%s on a %s subject is rejected',
    (type, kind) => {
      const issues = issuesOf(eventOf(type, undefined, { subject: { kind, id: 'x' } }));
      expect(issues).toEqual([expect.objectContaining({ path: ['subject', 'kind'], message: expect.stringContaining(SUBJECT_OF[type]) })]);
    },
  );

  it('an unknown type or kind is rejected', () => {
    expect(ok(eventOf('run.status', undefined, { type: 'run.deleted' }))).toBe(false);
    expect(ok(eventOf('run.status', undefined, { subject: { kind: 'runs', id: 'x' } }))).toBe(false);
  });

  it('eventId and correlationId are 1-128 characters', () => {
    expect(ok(eventOf('run.status', undefined, { eventId: 'e'.repeat(128) }))).toBe(true);
    expect(ok(eventOf('run.status', undefined, { eventId: 'e'.repeat(129) }))).toBe(false);
    expect(ok(eventOf('run.status', undefined, { eventId: '' }))).toBe(false);
    expect(ok(eventOf('run.status', undefined, { correlationId: 'c'.repeat(128) }))).toBe(true);
    expect(ok(eventOf('run.status', undefined, { correlationId: 'c'.repeat(129) }))).toBe(false);
    expect(ok(eventOf('run.status', undefined, { correlationId: '' }))).toBe(false);
  });

  it('subject ids match ^[A-Za-z0-9._:-]{1,128}$', () => {
    for (const id of ['a', 'job-42', 'A.b_c:d-e', 'x'.repeat(128)]) {
      expect(ok(eventOf('run.status', undefined, { subject: { kind: 'run', id } }))).toBe(true);
    }
    for (const id of ['', 'x'.repeat(129), 'a b', 'a/b', 'a{b}', 'é', 'a\nb']) {
      expect(ok(eventOf('run.status', undefined, { subject: { kind: 'run', id } }))).toBe(false);
    }
  });

  it('tenants are bounded and cannot hold the key separator', () => {
    expect(ok(eventOf('run.status', undefined, { tenant: 't'.repeat(128) }))).toBe(true);
    for (const tenant of ['', 't'.repeat(129), 'a:b', 'a{b}', 'a b']) {
      expect(ok(eventOf('run.status', undefined, { tenant }))).toBe(false);
    }
  });

  it('occurredAt must be an ISO 8601 date-time', () => {
    for (const occurredAt of ['yesterday', '2026-11-27', '2026-11-27 10:00:00', 1764237600000]) {
      expect(ok(eventOf('run.status', undefined, { occurredAt }))).toBe(false);
    }
  });

  it('statuses belong to their kind', () => {
    expect(ok(withData('job.status', { status: 'completed' }))).toBe(false);
    expect(ok(withData('run.status', { status: 'succeeded' }))).toBe(false);
    expect(ok(withData('pack_run.status', { status: 'timed_out' }))).toBe(false);
    expect(ok(withData('pack_run.step', { status: 'canceled' }))).toBe(false);
    expect(ok(withData('job.status', { status: 'timed_out' }))).toBe(true);
    expect(ok(withData('pack_run.step', { status: 'skipped' }))).toBe(true);
  });

  it('names and reasons are at most 256 characters', () => {
    const at = 'n'.repeat(256);
    const over = 'n'.repeat(257);
    const fields: [EventType, string][] = [
      ['job.status', 'reason'],
      ['job.status', 'runId'],
      ['job.status', 'jobType'],
      ['pack_run.status', 'packName'],
      ['pack_run.status', 'packVersion'],
      ['pack_run.step', 'stepName'],
    ];
    for (const [type, field] of fields) {
      expect(ok(withData(type, { [field]: at }))).toBe(true);
      expect(ok(withData(type, { [field]: over }))).toBe(false);
    }
    expect(ok(withData('pack_run.status', { steps: [{ index: 0, name: at }] }))).toBe(true);
    expect(ok(withData('pack_run.status', { steps: [{ index: 0, name: over }] }))).toBe(false);
    expect(ok(withData('pack_run.step', { stepName: '' }))).toBe(false);
    expect(ok(withData('pack_run.status', { steps: [{ index: 0, name: '' }] }))).toBe(false);
  });

  it.each([['pack_run.log'], ['job.progress']] as [EventType][])('%s message is at most 8 KiB of UTF-8 (bytes, not characters)', (type) => {
    const message = (text: string) => withData(type, { message: text });
    expect(ok(message('a'.repeat(8192)))).toBe(true);
    expect(ok(message('a'.repeat(8193)))).toBe(false);
    // '€' is 3 bytes: 2730 of them are 8190 bytes, 2731 are 8193 bytes (fewer than 8192 characters).
    expect(ok(message('€'.repeat(2730)))).toBe(true);
    expect(ok(message('€'.repeat(2731)))).toBe(false);
    // An emoji is 4 bytes (2 UTF-16 units): 2048 of them are exactly 8192 bytes.
    expect(ok(message('😀'.repeat(2048)))).toBe(true);
    expect(ok(message('😀'.repeat(2048) + 'a'))).toBe(false);
    expect(ok(message(42 as unknown as string))).toBe(false);
  });

  it('percent is a number from 0 to 100', () => {
    for (const percent of [0, 0.5, 50, 99.99, 100]) expect(ok(withData('job.progress', { percent }))).toBe(true);
    for (const percent of [-0.01, 100.01, 1000, '50', null, Number.NaN]) expect(ok(withData('job.progress', { percent }))).toBe(false);
    expect(ok(eventOf('job.progress', {}))).toBe(false);
  });

  it('attempt is an integer ≥ 1', () => {
    for (const attempt of [1, 2, 1000]) expect(ok(withData('job.status', { attempt }))).toBe(true);
    for (const attempt of [0, -1, 1.5, '2']) expect(ok(withData('job.status', { attempt }))).toBe(false);
  });

  it('log fields: stepIndex int ≥ 0, lineNo int ≥ 1, stream stdout|stderr, level debug|info|warn|error', () => {
    expect(ok(withData('pack_run.log', { stepIndex: 0, lineNo: 1 }))).toBe(true);
    expect(ok(withData('pack_run.log', { stepIndex: -1 }))).toBe(false);
    expect(ok(withData('pack_run.log', { stepIndex: 0.5 }))).toBe(false);
    expect(ok(withData('pack_run.log', { lineNo: 0 }))).toBe(false);
    expect(ok(withData('pack_run.log', { lineNo: 1.5 }))).toBe(false);
    expect(ok(withData('pack_run.log', { stream: 'stdin' }))).toBe(false);
    for (const level of ['debug', 'info', 'warn', 'error']) expect(ok(withData('pack_run.log', { level }))).toBe(true);
    for (const level of ['trace', 'fatal', 'WARN']) expect(ok(withData('pack_run.log', { level }))).toBe(false);
  });

  it('step fields: stepIndex int ≥ 0, exitCode int, durationMs ≥ 0', () => {
    expect(ok(withData('pack_run.step', { exitCode: -1 }))).toBe(true);
    expect(ok(withData('pack_run.step', { exitCode: 1.5 }))).toBe(false);
    expect(ok(withData('pack_run.step', { durationMs: -1 }))).toBe(false);
    expect(ok(withData('pack_run.step', { stepIndex: -1 }))).toBe(false);
  });

  it('run.progress counts are non-negative integers, all required', () => {
    expect(ok(withData('run.progress', { failed: -1 }))).toBe(false);
    expect(ok(withData('run.progress', { running: 1.5 }))).toBe(false);
    expect(ok(eventOf('run.progress', without(FULL_DATA['run.progress'], 'canceled')))).toBe(false);
  });

  it('steps has at most 1000 entries', () => {
    const steps = (n: number) => Array.from({ length: n }, (_, index) => ({ index, name: `step-${index}` }));
    expect(ok(withData('pack_run.status', { steps: steps(1000) }))).toBe(true);
    expect(ok(withData('pack_run.status', { steps: steps(1001) }))).toBe(false);
    expect(ok(withData('pack_run.status', { steps: [{ index: -1, name: 'a' }] }))).toBe(false);
  });
});

describe('PublishBatchSchema', () => {
  it(`holds 1 to ${MAX_BATCH_EVENTS} events`, () => {
    const events = (n: number) => Array.from({ length: n }, () => eventOf('run.status'));
    expect(MAX_BATCH_EVENTS).toBe(500);
    expect(PublishBatchSchema.safeParse({ events: events(1) }).success).toBe(true);
    expect(PublishBatchSchema.safeParse({ events: events(500) }).success).toBe(true);
    expect(PublishBatchSchema.safeParse({ events: events(501) }).success).toBe(false);
    expect(PublishBatchSchema.safeParse({ events: [] }).success).toBe(false);
  });

  it('rejects unknown fields and non-arrays', () => {
    expect(PublishBatchSchema.safeParse({ events: [eventOf('run.status')], dryRun: true }).success).toBe(false);
    expect(PublishBatchSchema.safeParse({ events: eventOf('run.status') }).success).toBe(false);
    expect(PublishBatchSchema.safeParse(eventOf('run.status')).success).toBe(false);
  });
});

describe('StreamedEventSchemas', () => {
  const streamed = (type: EventType, data: Record<string, unknown> = FULL_DATA[type]) => ({
    ...eventOf(type, data),
    seq: 1,
    publishedAt: '2026-11-27T10:00:00.123Z',
  });

  it.each(TYPES)('%s: the published event plus seq and publishedAt', (type) => {
    expect(StreamedEventSchemas[type].safeParse(streamed(type)).success).toBe(true);
    expect(StreamedEventSchema.safeParse(streamed(type)).success).toBe(true);
    expect(StreamedEventSchemas[type].safeParse(without(streamed(type), 'seq')).success).toBe(false);
    expect(StreamedEventSchemas[type].safeParse(without(streamed(type), 'publishedAt')).success).toBe(false);
    expect(StreamedEventSchemas[type].safeParse({ ...streamed(type), seq: 0 }).success).toBe(false);
    expect(StreamedEventSchemas[type].safeParse({ ...streamed(type), extra: 1 }).success).toBe(false);
  });

  it('a streamed job.status always carries its attempt', () => {
    expect(StreamedEventSchemas['job.status'].safeParse(streamed('job.status', { status: 'pending' })).success).toBe(false);
    expect(StreamedEventSchemas['job.status'].safeParse(streamed('job.status', { status: 'pending', attempt: 1 })).success).toBe(true);
  });
});
