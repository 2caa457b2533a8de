import { TenantSubject } from '@fanout/contracts';
import { HistoryEntry } from '@fanout/bus';
import { ArchivedObjectTooLargeError, ArchivedSubject, ArchivedSubjects, MAX_REMEMBERED_MISSES, S3ArchiveStore, archiveObjectKey, encodeArchivedSubject } from '../src';
import { S3Server, startS3 } from '../../../test/support/s3-server';
import { sleep } from '../../../test/support/wait';

let s3: S3Server;
let store: S3ArchiveStore;

beforeAll(async () => {
  s3 = await startS3();
  // The AWS SDK's default credential chain, as a fanout process reads it.
  process.env.AWS_ACCESS_KEY_ID = s3.env().AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = s3.env().AWS_SECRET_ACCESS_KEY;
  store = new S3ArchiveStore({ bucket: s3.bucket, prefix: 'test/', endpoint: s3.url, region: 'us-east-1', forcePathStyle: true });
});

afterAll(async () => {
  store?.close();
  await s3?.stop();
});

let count = 0;
function archivedSubject(lines: number, tenant = 'acme'): ArchivedSubject {
  const id = `p-${(count += 1)}`;
  const entries: HistoryEntry[] = Array.from({ length: lines }, (_, i) => ({
    seq: i + 1,
    frame: Buffer.from(`id: e-${i + 1}\nevent: pack_run.log\ndata: {"seq":${i + 1},"message":"${'m'.repeat(90)}"}\n\n`),
    terminal: i === lines - 1,
  }));
  return { tenant, kind: 'pack-run', id, info: { epoch: 'e', firstSeq: 1, lastSeq: lines, status: 'succeeded', terminal: true, updatedAt: '2026-12-04T10:00:00.000Z' }, entries };
}

async function put(subject: ArchivedSubject): Promise<{ subject: TenantSubject; bytes: number }> {
  const body = encodeArchivedSubject(subject);
  await store.put(subject, body);
  return { subject: { tenant: subject.tenant, kind: subject.kind, id: subject.id }, bytes: body.length };
}

/** The store, counting its GETs. */
const counting = () => {
  const gets: string[] = [];
  return { gets, store: { get: (s: TenantSubject, max: number) => (gets.push(s.id), store.get(s, max)) } };
};

describe('archived subjects as a gateway reads them (S3 on loopback)', () => {
  it('keys each object under its tenant, and answers null for a subject never archived', async () => {
    const { subject } = await put(archivedSubject(3, 'tenant-x'));
    expect(await s3.exists(archiveObjectKey('test/', subject))).toBe(true);
    expect(archiveObjectKey('test/', subject)).toBe(`test/tenant-x/pack-run/${subject.id}`);
    const reader = new ArchivedSubjects(store, { cacheBytes: 1_000_000, maxObjectBytes: 1_000_000 });
    expect(await reader.load({ ...subject, tenant: 'tenant-y' })).toBeNull();
    expect((await reader.load(subject))!.entries).toHaveLength(3);
  });

  it('loads a subject once for reads at the same time and after, and keeps at most cacheBytes', async () => {
    const a = await put(archivedSubject(50));
    const b = await put(archivedSubject(50));
    const c = await put(archivedSubject(50));
    const { gets, store: countingStore } = counting();
    const reader = new ArchivedSubjects(countingStore, { cacheBytes: a.bytes * 2 + 10, maxObjectBytes: a.bytes * 2 });

    await Promise.all([reader.load(a.subject), reader.load(a.subject), reader.load(a.subject)]);
    await reader.load(a.subject);
    expect(gets).toEqual([a.subject.id]);

    await reader.load(b.subject);
    await reader.load(a.subject);
    await reader.load(c.subject);
    expect(reader.heldBytes).toBeLessThanOrEqual(a.bytes * 2 + 10);
    // b was the least recently used: it went, a stayed.
    await reader.load(a.subject);
    await reader.load(b.subject);
    expect(gets).toEqual([a.subject.id, b.subject.id, c.subject.id, b.subject.id]);
  });

  it('refuses an object over maxObjectBytes unread, without another GET for cacheTtlMs, and one that holds another subject', async () => {
    const big = await put(archivedSubject(200));
    const { gets, store: countingStore } = counting();
    const reader = new ArchivedSubjects(countingStore, { cacheBytes: big.bytes, maxObjectBytes: big.bytes - 1, cacheTtlMs: 300 });
    for (let i = 0; i < 5; i += 1) await expect(reader.load(big.subject)).rejects.toThrow(ArchivedObjectTooLargeError);
    expect(gets).toHaveLength(1);
    expect(reader.heldBytes).toBe(0);
    await sleep(400);
    await expect(reader.load(big.subject)).rejects.toThrow(ArchivedObjectTooLargeError);
    expect(gets).toHaveLength(2);

    const other = archivedSubject(2);
    const impostor = { tenant: 'acme', kind: 'pack-run' as const, id: 'impostor' };
    await store.put(impostor, encodeArchivedSubject(other));
    await expect(new ArchivedSubjects(store, { cacheBytes: 1_000_000, maxObjectBytes: 1_000_000 }).load(impostor)).rejects.toThrow(/another subject/);
  });

  it('reads an object again once it was kept cacheTtlMs, or when told to forget it (its id used again)', async () => {
    const first = archivedSubject(5);
    const { subject } = await put(first);
    const { gets, store: countingStore } = counting();
    const reader = new ArchivedSubjects(countingStore, { cacheBytes: 1_000_000, maxObjectBytes: 1_000_000, cacheTtlMs: 300 });
    expect((await reader.load(subject))!.info.lastSeq).toBe(5);

    // The same id archived again, with another history.
    await store.put(subject, encodeArchivedSubject({ ...archivedSubject(7), ...subject }));
    expect((await reader.load(subject))!.info.lastSeq).toBe(5);
    await sleep(400);
    expect((await reader.load(subject))!.info.lastSeq).toBe(7);
    expect(gets).toHaveLength(2);

    reader.forget(subject);
    expect(reader.heldBytes).toBe(0);
    await reader.load(subject);
    expect(gets).toHaveLength(3);
  });

  it('answers a subject found unarchived without another GET for missTtlMs, or until the store holds it; remembers a bounded number of them', async () => {
    const { gets, store: countingStore } = counting();
    const reader = new ArchivedSubjects(countingStore, { cacheBytes: 1_000_000, maxObjectBytes: 1_000_000, missTtlMs: 300 });
    const unknown = { tenant: 'acme', kind: 'job' as const, id: 'never-archived' };
    for (let i = 0; i < 5; i += 1) expect(await reader.load(unknown)).toBeNull();
    expect(gets).toEqual(['never-archived']);

    // Archived meanwhile: believed absent until the miss is stale, then read.
    const later = archivedSubject(2);
    await store.put(unknown, encodeArchivedSubject({ ...later, ...unknown }));
    expect(await reader.load(unknown)).toBeNull();
    await sleep(400);
    expect((await reader.load(unknown))!.entries).toHaveLength(2);
    expect(gets).toHaveLength(2);

    // The store holding a subject (forget) drops its miss at once.
    const other = { tenant: 'acme', kind: 'job' as const, id: 'started-since' };
    expect(await reader.load(other)).toBeNull();
    reader.forget(other);
    await reader.load(other);
    expect(gets.filter((id) => id === other.id)).toHaveLength(2);

    // Bounded: a flood of unknown ids keeps at most MAX_REMEMBERED_MISSES.
    const flood = new ArchivedSubjects({ get: async () => null }, { cacheBytes: 1_000, maxObjectBytes: 1_000 });
    for (let i = 0; i < MAX_REMEMBERED_MISSES + 50; i += 1) await flood.load({ tenant: 'acme', kind: 'job', id: `flood-${i}` });
    expect(flood.rememberedMisses).toBe(MAX_REMEMBERED_MISSES);
  });
});
