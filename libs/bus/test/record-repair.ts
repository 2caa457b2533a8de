/**
 * What a RedisBus promises when the second step of an append fails (the tenant's record: recent
 * subjects, live subjects, activity, on the tenant's slot, which in Redis Cluster is apart from the
 * subject's): the append is stored, and its retry or the subject's next append records it, once.
 * The record is made to fail by putting a string where the tenant keeps its hash of recorded
 * subjects (the script's first read of it fails, before it writes anything).
 */
import Redis, { Cluster } from 'ioredis';
import { Bus, tenantIndexKeys } from '../src';
import { activityUpdatesOf, expectStored, jobProgress, newSubject, status, unique } from './conformance';

export async function expectRecordsRepaired(bus: Pick<Bus, 'append' | 'history' | 'recentSubjects'>, admin: Redis | Cluster): Promise<void> {
  const tenant = unique('tenant');
  const { recorded } = tenantIndexKeys(tenant);
  const saved = `${recorded}:saved`;
  const breakRecords = async () => {
    if (await admin.exists(recorded)) await admin.rename(recorded, saved);
    await admin.set(recorded, 'not a hash');
  };
  const mendRecords = async () => {
    await admin.del(recorded);
    if (await admin.exists(saved)) await admin.rename(saved, recorded);
  };
  const recentIds = async () => (await bus.recentSubjects(tenant, undefined, 10)).map((r) => r.id);

  // The retry of a request whose record failed records it.
  const retried = newSubject('job', tenant);
  const pending = status(retried, 'pending');
  await breakRecords();
  await expect(bus.append(retried, [pending])).rejects.toThrow(/WRONGTYPE/);
  expect((await bus.history(retried, 0, 10)).map((e) => e.seq)).toEqual([1]);
  expect(await recentIds()).toEqual([]);
  expect(await activityUpdatesOf(bus, tenant)).toEqual([]);
  await mendRecords();
  expect(await bus.append(retried, [pending])).toEqual([{ eventId: pending.eventId, seq: 1, duplicate: true }]);
  expect(await recentIds()).toEqual([retried.id]);
  const once = [[`job:${retried.id}`, 'pending', 1]];
  expect(await activityUpdatesOf(bus, tenant)).toEqual(once);
  // Retried again, and appended to: never recorded twice.
  await bus.append(retried, [pending]);
  expectStored(await bus.append(retried, [jobProgress(retried, 5)]), [2]);
  expect(await activityUpdatesOf(bus, tenant)).toEqual(once);

  // Never retried: the subject's next append records what the failed one stored, then its own.
  const next = newSubject('pack-run', tenant);
  expectStored(await bus.append(next, [status(next, 'pending')]), [1]);
  await breakRecords();
  await expect(bus.append(next, [status(next, 'running')])).rejects.toThrow(/WRONGTYPE/);
  await mendRecords();
  expectStored(await bus.append(next, [status(next, 'succeeded')]), [3]);
  expect(await activityUpdatesOf(bus, tenant)).toEqual([
    ...once,
    [`pack-run:${next.id}`, 'pending', 1],
    [`pack-run:${next.id}`, 'running', 2],
    [`pack-run:${next.id}`, 'succeeded', 3],
  ]);
  expect(await recentIds()).toEqual([next.id, retried.id]);
}
