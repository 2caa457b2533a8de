import { PublishedEvent, TenantSubject } from '@fanout/contracts';
import { ARCHIVE_PENDING_KEY, RedisBus, archiveMember, silentLogger, subjectKeys } from '@fanout/bus';
import { Archiver, S3ArchiveStore, archiveObjectKey, decodeArchivedSubject } from '../src';
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { S3Server, startS3 } from '../../../test/support/s3-server';
import { sleep, waitFor } from '../../../test/support/wait';

let redis: RedisServer;
let s3: S3Server;
let bus: RedisBus;
let store: S3ArchiveStore;

beforeAll(async () => {
  [redis, s3] = await Promise.all([startRedis(), startS3()]);
  process.env.AWS_ACCESS_KEY_ID = s3.env().AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = s3.env().AWS_SECRET_ACCESS_KEY;
  store = new S3ArchiveStore({ bucket: s3.bucket, prefix: '', endpoint: s3.url, region: 'us-east-1', forcePathStyle: true });
  bus = new RedisBus({ url: redis.url, historyMaxLen: 100, historyTtlSeconds: 3600, archive: true });
  await waitFor('the bus to pass a probe', () => bus.probe(1000).then(() => true), 10_000);
});

afterAll(async () => {
  await bus?.close();
  store?.close();
  await Promise.all([redis?.stop(), s3?.stop()]);
});

let n = 0;
const event = (s: TenantSubject, type: string, data: object): PublishedEvent =>
  ({ eventId: `ev-${(n += 1)}`, tenant: s.tenant, subject: { kind: s.kind, id: s.id }, type, occurredAt: '2026-12-04T10:00:00.000Z', data }) as PublishedEvent;

async function finishedRun(id: string): Promise<TenantSubject> {
  const subject: TenantSubject = { tenant: 'acme', kind: 'run', id };
  await bus.append(subject, [event(subject, 'run.status', { status: 'pending' }), event(subject, 'run.status', { status: 'running' }), event(subject, 'run.status', { status: 'completed' })]);
  return subject;
}

function archiver(counts: { archived: number; failed: number }, leaseMs: number): Archiver {
  return new Archiver({
    source: bus,
    queue: bus.archiveQueue,
    store,
    logger: silentLogger,
    metrics: { archived: () => (counts.archived += 1), failed: () => (counts.failed += 1) },
    settings: { leaseMs, pollMs: 50, keepSeconds: 0, historyTtlSeconds: 3600 },
  });
}

describe('the archiver', () => {
  it('counts a write that failed and writes the subject again once its lease ran out', async () => {
    const subject = await finishedRun('run-failing-write');
    const counts = { archived: 0, failed: 0 };
    const worker = archiver(counts, 1000);
    s3.failPuts(true);
    worker.start();
    try {
      await waitFor('the failed write counted', () => counts.failed === 1);
      s3.failPuts(false);
      expect(await redis.client().exists(subjectKeys(subject).stream)).toBe(1);
      await waitFor('the subject archived on the retry', () => counts.archived === 1, 10_000);
    } finally {
      await worker.stop();
    }
    const key = archiveObjectKey('', subject);
    const archived = decodeArchivedSubject((await s3.object(key))!, key);
    expect(archived.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await redis.client().exists(subjectKeys(subject).stream)).toBe(0);
    expect(await redis.client().zscore(ARCHIVE_PENDING_KEY, archiveMember(subject))).toBeNull();
  });

  it('archives subjects whose mark was lost (repair sweep at start), and drops marks of subjects the store no longer holds', async () => {
    const subject = await finishedRun('run-mark-lost');
    await redis.client().zrem(ARCHIVE_PENDING_KEY, archiveMember(subject));
    const gone: TenantSubject = { tenant: 'acme', kind: 'job', id: 'expired-long-ago' };
    await bus.archiveQueue.markPending([gone]);
    const counts = { archived: 0, failed: 0 };
    const worker = archiver(counts, 60_000);
    worker.start();
    try {
      await waitFor('the lost mark repaired and archived', () => counts.archived === 1);
      await waitFor('the pending set empty', async () => (await bus.archiveQueue.pendingCount()) === 0);
    } finally {
      await worker.stop();
    }
    expect(counts.failed).toBe(0);
    expect(await s3.exists(archiveObjectKey('', gone))).toBe(false);
    expect(await s3.exists(archiveObjectKey('', subject))).toBe(true);
  });

  it('a write that S3 stops answering fails after the idle timeout and is counted; the archiver goes on with the next subjects', async () => {
    const stalling = new S3ArchiveStore({ bucket: s3.bucket, prefix: '', endpoint: s3.url, region: 'us-east-1', forcePathStyle: true, idleTimeoutMs: 500 });
    const subjects = [await finishedRun('run-stalled-write-1'), await finishedRun('run-stalled-write-2')];
    const counts = { archived: 0, failed: 0 };
    const worker = new Archiver({
      source: bus,
      queue: bus.archiveQueue,
      store: stalling,
      logger: silentLogger,
      metrics: { archived: () => (counts.archived += 1), failed: () => (counts.failed += 1) },
      // The lease is long: a subject is tried again only after it, so both failures are first tries.
      settings: { leaseMs: 60_000, pollMs: 50, keepSeconds: 0, historyTtlSeconds: 3600 },
    });
    s3.holdPuts(true);
    worker.start();
    try {
      await waitFor('both held writes to fail and be counted', () => counts.failed === 2, 20_000);
      expect(counts.archived).toBe(0);
      for (const subject of subjects) expect(await redis.client().zscore(ARCHIVE_PENDING_KEY, archiveMember(subject))).not.toBeNull();
    } finally {
      await worker.stop(1000);
      s3.dropHeld();
      s3.holdPuts(false);
      stalling.close();
    }
  });

  it('stops: a write that hangs is not waited for past waitMs, and nothing is claimed after', async () => {
    await finishedRun('run-hanging-write');
    const counts = { archived: 0, failed: 0 };
    const worker = archiver(counts, 60_000);
    s3.holdPuts(true);
    worker.start();
    try {
      await s3.untilPutHeld();
      const stopping = Date.now();
      await worker.stop(200);
      // A hang guard: without waitMs, stop() would wait for the held write (the SDK's 30 s idle timeout).
      expect(Date.now() - stopping).toBeLessThan(10_000);
      const later = await finishedRun('run-after-stop');
      await sleep(500);
      expect(await redis.client().zscore(ARCHIVE_PENDING_KEY, archiveMember(later))).not.toBeNull();
      expect(counts).toEqual({ archived: 0, failed: 0 });
    } finally {
      s3.dropHeld();
      s3.holdPuts(false);
    }
  });
});
