import { PublishedEvent, TenantSubject } from '@fanout/contracts';
import { MemoryBus, activityOf } from '@fanout/bus';
import { ArchiveReadingBus, ArchivedSubject } from '../src';

const subject: TenantSubject = { tenant: 'acme', kind: 'pack-run', id: 'p1' };
let n = 0;
const event = (s: TenantSubject, type: string, data: object): PublishedEvent =>
  ({ eventId: `ev-${(n += 1)}`, tenant: s.tenant, subject: { kind: s.kind, id: s.id }, type, occurredAt: '2026-12-04T10:00:00.000Z', data }) as PublishedEvent;
const packRun = (s: TenantSubject): PublishedEvent[] => [
  event(s, 'pack_run.status', { status: 'pending' }),
  event(s, 'pack_run.status', { status: 'running' }),
  event(s, 'pack_run.step', { stepIndex: 0, stepName: 'a', status: 'running' }),
  ...Array.from({ length: 6 }, (_, i) => event(s, 'pack_run.log', { stepIndex: 0, lineNo: i + 1, stream: 'stdout', message: `line ${i + 1}` })),
  event(s, 'pack_run.step', { stepIndex: 0, stepName: 'a', status: 'succeeded' }),
  event(s, 'pack_run.status', { status: 'succeeded' }),
];

/** A subject as the archiver writes it: read from a store (an in-memory bus) that then forgets it. */
async function archivedFrom(s: TenantSubject): Promise<ArchivedSubject> {
  const source = new MemoryBus({ historyMaxLen: 8, historyTtlSeconds: 60 });
  await source.append(s, packRun(s));
  const info = (await source.info(s))!;
  return { ...s, info, entries: await source.history(s, 0, 100) };
}

describe('the bus the gateway reads through with the archive on', () => {
  let store: MemoryBus;
  let archived: ArchivedSubject;
  let loads: string[];
  let forgotten: string[];
  let reading: ArchiveReadingBus;

  beforeEach(async () => {
    store = new MemoryBus({ historyMaxLen: 100, historyTtlSeconds: 60 });
    archived = await archivedFrom(subject);
    loads = [];
    forgotten = [];
    reading = new ArchiveReadingBus(store, {
      load: async (s) => {
        loads.push(`${s.tenant}:${s.kind}:${s.id}`);
        return s.tenant === subject.tenant && s.kind === subject.kind && s.id === subject.id ? archived : null;
      },
      forget: (s) => forgotten.push(`${s.tenant}:${s.kind}:${s.id}`),
    });
  });

  it('answers a subject the store no longer holds from the archive: its info (trimmed: firstSeq), history pages and state before a tail', async () => {
    expect(archived.info).toMatchObject({ firstSeq: 4, lastSeq: 11, terminal: true });
    expect(await reading.info(subject)).toEqual(archived.info);
    expect((await reading.history(subject, 0, 3)).map((e) => e.seq)).toEqual([4, 5, 6]);
    expect((await reading.history(subject, 6, 100)).map((e) => e.seq)).toEqual([7, 8, 9, 10, 11]);
    expect(await reading.history(subject, 11, 100)).toEqual([]);
    expect((await reading.history(subject, 9, 1))[0]!.frame.equals(archived.entries[6]!.frame)).toBe(true);
    // Before seq 11: the latest status (running, seq 2) and step (seq 3) were trimmed; the step's end (seq 10) is retained.
    expect((await reading.latestStateEntries(subject, 11)).map((e) => e.seq)).toEqual([10]);
  });

  it('answers from the store while it holds the subject, asks the archive only about subjects the store lacks, never about the activity stream', async () => {
    await store.append(subject, packRun(subject).slice(0, 3));
    expect(await reading.info(subject)).toMatchObject({ lastSeq: 3, terminal: false });
    // The store holds the id again (a new history): what the archive had of it is not served after.
    expect(forgotten).toEqual(['acme:pack-run:p1']);
    expect((await reading.history(subject, 0, 100)).map((e) => e.seq)).toEqual([1, 2, 3]);
    // The end of a live history is empty: the store still holds the subject, so it stays the store's.
    expect(await reading.history(subject, 3, 100)).toEqual([]);
    expect(loads).toEqual([]);

    const activity = activityOf('acme');
    expect(await reading.info(activity)).toMatchObject({ lastSeq: 2 });
    expect(await reading.history(activity, 5, 10)).toEqual([]);
    const unknown = { ...subject, id: 'nope' };
    expect(await reading.info(unknown)).toBeNull();
    expect(await reading.history(unknown, 0, 10)).toEqual([]);
    expect(loads).toEqual(['acme:pack-run:nope', 'acme:pack-run:nope']);
  });

  it('logs a failed read of the archive once per failure, not once per read a remembered refusal answers', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_: object, message: string) => warnings.push(message), info: () => undefined, error: () => undefined };
    const remembered = new Error('the archived object is too large');
    let failures = 0;
    const failing = new ArchiveReadingBus(
      store,
      {
        load: (s) => Promise.reject(s.id === 'big' ? remembered : new Error(`failure ${(failures += 1)}`)),
        forget: () => undefined,
      },
      logger,
    );
    for (let i = 0; i < 3; i += 1) await expect(failing.history({ ...subject, id: 'big' }, 0, 10)).rejects.toBe(remembered);
    expect(warnings).toHaveLength(1);
    for (let i = 0; i < 2; i += 1) await expect(failing.info({ ...subject, id: 'other' })).rejects.toThrow(/failure/);
    expect(warnings).toHaveLength(3);
  });

  it('answers another tenant\'s subject of the same id as unknown', async () => {
    expect(await reading.info({ ...subject, tenant: 'other' })).toBeNull();
  });
});
