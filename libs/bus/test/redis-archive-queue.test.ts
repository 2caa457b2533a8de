import Redis from 'ioredis';
import { TenantSubject } from '@fanout/contracts';
import { ARCHIVE_PENDING_KEY, RedisBus, archiveMember, subjectKeys, subjectMember, tenantIndexKeys } from '../src';
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { sleep } from '../../../test/support/wait';
import { expectStored, log, newSubject, status, step } from './conformance';
import { openReadyRedisBus } from './ready-redis-bus';

let redis: RedisServer;
let client: Redis;
const buses: RedisBus[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  await client.flushdb();
});

afterAll(async () => {
  await redis?.stop();
});

const open = async (archive: boolean): Promise<RedisBus> => {
  const bus = await openReadyRedisBus({ url: redis.url, historyMaxLen: 100, historyTtlSeconds: 3600, archive });
  buses.push(bus);
  return bus;
};

const pending = async (): Promise<string[]> => client.zrange(ARCHIVE_PENDING_KEY, 0, -1);

async function finishedPackRun(bus: RedisBus, tenant?: string): Promise<TenantSubject> {
  const subject = newSubject('pack-run', tenant);
  expectStored(await bus.append(subject, [status(subject, 'pending'), status(subject, 'running'), step(subject, 0, 'running'), log(subject, 0, 1), status(subject, 'succeeded')]), [1, 2, 3, 4, 5]);
  return subject;
}

describe('the archive queue on Redis', () => {
  it('is marked by an append that stores a terminal event, and again by its duplicate until archived, not by other appends nor without the archive', async () => {
    const bus = await open(true);
    const running = newSubject('job');
    expectStored(await bus.append(running, [status(running, 'pending'), status(running, 'scheduled')]), [1, 2]);
    expect(await pending()).toEqual([]);

    const done = newSubject('job');
    const terminal = status(done, 'canceled');
    expectStored(await bus.append(done, [status(done, 'pending'), terminal]), [1, 2]);
    expect(await pending()).toEqual([archiveMember(done)]);

    await client.del(ARCHIVE_PENDING_KEY);
    const [again] = await bus.append(done, [terminal]);
    expect(again).toMatchObject({ duplicate: true });
    expect(await pending()).toEqual([archiveMember(done)]);

    // Archived, its keys kept a while: a repeat of its terminal event does not archive it again.
    const info = (await bus.info(done))!;
    await bus.archiveQueue.finish(done, info.epoch, info.lastSeq, 30);
    expect(await pending()).toEqual([]);
    const [afterArchive] = await bus.append(done, [terminal]);
    expect(afterArchive).toMatchObject({ duplicate: true, seq: 2 });
    expect(await pending()).toEqual([]);

    await client.del(ARCHIVE_PENDING_KEY);
    const plain = await open(false);
    await finishedPackRun(plain);
    expect(await pending()).toEqual([]);
  });

  it('leases what it hands out: a claimed subject is not claimed again until its lease ran out', async () => {
    const bus = await open(true);
    const subject = await finishedPackRun(bus);
    const other = await open(true);

    expect(await bus.archiveQueue.claim(400, 10)).toEqual([subject]);
    expect(await other.archiveQueue.claim(400, 10)).toEqual([]);
    expect(await bus.archiveQueue.pendingCount()).toBe(1);
    await sleep(500);
    expect(await other.archiveQueue.claim(400, 10)).toEqual([subject]);
  });

  it('finishes a subject by deleting its history, or letting it expire within keepSeconds, only for the epoch and last seq archived', async () => {
    const bus = await open(true);
    const deleted = await finishedPackRun(bus, 'tenant-q');
    const kept = await finishedPackRun(bus, 'tenant-q');
    const info = (await bus.info(deleted))!;
    const keysOf = (s: TenantSubject) => Object.values(subjectKeys(s)).filter((k) => !k.endsWith(':c'));

    await bus.archiveQueue.finish(deleted, 'another-epoch', info.lastSeq, 0);
    expect(await client.exists(...keysOf(deleted))).toBe(4);
    await bus.archiveQueue.finish(deleted, info.epoch, info.lastSeq - 1, 0);
    expect(await client.exists(...keysOf(deleted))).toBe(4);
    await bus.archiveQueue.finish(deleted, info.epoch, info.lastSeq, 0);
    // Its meta alone is kept, until the history TTL its terminal event set: readers no longer see it.
    expect(await client.exists(...keysOf(deleted))).toBe(1);
    expect(await client.hmget(subjectKeys(deleted).meta, 'ar', 'x')).toEqual(['1', '1']);
    expect(await client.ttl(subjectKeys(deleted).meta)).toBeGreaterThan(3000);
    expect(await bus.info(deleted)).toBeNull();

    // The tenant's quota stops counting a subject when its history goes, not a history TTL later.
    const live = tenantIndexKeys(deleted.tenant).live;
    expect(Number(await client.zscore(live, subjectMember(deleted)))).toBeLessThanOrEqual(Date.now());
    expect(Number(await client.zscore(live, subjectMember(kept)))).toBeGreaterThan(Date.now() + 3000 * 1000);

    const keptInfo = (await bus.info(kept))!;
    await bus.archiveQueue.finish(kept, keptInfo.epoch, keptInfo.lastSeq, 30);
    expect(Number(await client.zscore(live, subjectMember(kept)))).toBeLessThanOrEqual(Date.now() + 30_000);
    for (const key of keysOf(kept)) {
      const ttl = await client.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      if (key === subjectKeys(kept).meta) expect(ttl).toBeGreaterThan(3000);
      else expect(ttl).toBeLessThanOrEqual(30);
    }
    expect(await client.hget(subjectKeys(kept).meta, 'ar')).toBe('1');
    expect(await pending()).toEqual([]);
  });

  it('keeps an archived subject finished once its history left Redis: its terminal event again is a duplicate, any other event a 409, and it is not recorded again', async () => {
    const bus = await open(true);
    const subject = newSubject('job', 'tenant-t');
    const terminal = status(subject, 'succeeded');
    const stored = [status(subject, 'pending'), status(subject, 'scheduled'), status(subject, 'leased'), status(subject, 'running'), terminal];
    expectStored(await bus.append(subject, stored), [1, 2, 3, 4, 5]);
    const info = (await bus.info(subject))!;
    await bus.archiveQueue.finish(subject, info.epoch, info.lastSeq, 0);
    const index = tenantIndexKeys(subject.tenant);
    await client.del(index.recent, index.recorded);

    expect(await bus.append(subject, [terminal])).toEqual([expect.objectContaining({ eventId: terminal.eventId, seq: 5, duplicate: true })]);
    // In a batch beside an event refused, the terminal event is still reported stored, as a duplicate.
    const late = status(subject, 'canceled');
    expect(await bus.append(subject, [terminal, late])).toEqual([
      { eventId: terminal.eventId, seq: 5, duplicate: true },
      { eventId: late.eventId, error: expect.objectContaining({ code: 'transition', current: 'succeeded' }) },
    ]);
    // An earlier event's id left with the history: it is refused as any event after the end.
    for (const event of [stored[0]!, status(subject, 'pending'), status(subject, 'canceled')]) {
      const [refused] = await bus.append(subject, [event]);
      expect(refused).toMatchObject({ eventId: event.eventId, error: { code: 'transition', current: 'succeeded' } });
    }
    expect(await bus.info(subject)).toBeNull();
    expect(await client.exists(subjectKeys(subject).stream, subjectKeys(subject).ids)).toBe(0);
    expect(await client.exists(index.recent, index.recorded)).toBe(0);
    expect(await pending()).toEqual([]);
  });

  it('repairs lost marks: every finished subject not archived is marked, running and archived ones are not', async () => {
    const plain = await open(false);
    const lost = await finishedPackRun(plain, 'tenant-a');
    const lostToo = await finishedPackRun(plain, 'tenant-b');
    const running = newSubject('run');
    expectStored(await plain.append(running, [status(running, 'pending')]), [1]);
    const archived = await finishedPackRun(plain);
    const archivedInfo = (await plain.info(archived))!;
    const bus = await open(true);
    await bus.archiveQueue.finish(archived, archivedInfo.epoch, archivedInfo.lastSeq, 60);
    expect(await pending()).toEqual([]);

    expect(await bus.archiveQueue.repair()).toBe(2);
    expect((await pending()).sort()).toEqual([archiveMember(lost), archiveMember(lostToo)].sort());
  });
});
