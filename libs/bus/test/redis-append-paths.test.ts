/**
 * The two paths of a Redis append (redis-store.ts, `AppendPath`), side by side on one real
 * redis-server: on a single Redis an append is one script call, append-and-record-9.lua (admission,
 * append and the tenant's record), where Redis Cluster's path is append-4.lua then
 * record-subject-5.lua (and admit-subject-1.lua for a new subject under a quota). Counted with
 * MONITOR: the commands the bus sends, not those its scripts run; and, for a log event, a status change
 * and a log event at maxlen, the commands the one script runs, in order. Then what the single path records
 * must be what the Cluster path records, byte for byte (the activity's subject.updated data is built
 * in Lua there, in TypeScript here), and over maxmemory it stores nothing at all.
 * The conformance suite runs the one-script path in redis-bus.test.ts and the two-script path in
 * redis-cluster-bus.test.ts.
 */
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { PublishedEvent, TenantSubject } from '@fanout/contracts';
import { RedisBus, ReplicationTimeoutError, activityOf, dataJsonOf, subjectKeys, tenantIndexKeys } from '../src';
import { activityUpdate } from '../src/activity';
import { expandIncludes, loadLuaScripts } from '../src/lua-scripts';
import { AppendPath, RedisStore, appendPathOf } from '../src/redis-store';
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait';
import { expectStored, jobProgress, log, newSubject, status, step, unique } from './conformance';
import { expectRecordsRepaired } from './record-repair';

let redis: RedisServer;
let admin: Redis;
let monitor: Redis;
const seen: { args: string[]; source: string }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
  monitor = await redis.client().monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
});

afterAll(async () => {
  monitor?.disconnect();
  await redis?.stop();
});

const OPTIONS = { historyMaxLen: 1000, historyTtlSeconds: 3600 };
const stores: RedisStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A store on its own connection to the test's redis-server, taking the path asked for. */
async function openStore(
  path: AppendPath,
  options: { tenantMaxSubjects?: number; waitReplicas?: number; waitTimeoutMs?: number; historyMaxLen?: number } = {},
): Promise<RedisStore> {
  const store = new RedisStore(new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 0 }), { ...OPTIONS, ...options }, path);
  stores.push(store);
  await store.untilReady();
  return store;
}

let marks = 0;
/** The commands sent to Redis while `work` ran (MONITOR's top level: not the commands of the scripts they ran), between two ECHOes of ours. */
async function commandsSentBy(work: () => Promise<unknown>): Promise<string[][]> {
  const window = await monitoredDuring(work);
  return window.filter((c) => c.source !== 'lua').map((c) => [c.args[0]!.toLowerCase(), ...c.args.slice(1, 2)]);
}

/** The commands the scripts ran while `work` ran (MONITOR's source `lua`), with their first argument past the key. */
async function commandsRunBy(work: () => Promise<unknown>): Promise<string[]> {
  const window = await monitoredDuring(work);
  return window.filter((c) => c.source === 'lua').map((c) => c.args[0]!.toLowerCase() + (c.args[0]!.toLowerCase() === 'xadd' ? ` ${c.args[2]}` : ''));
}

async function monitoredDuring(work: () => Promise<unknown>): Promise<{ args: string[]; source: string }[]> {
  const mark = `mark-${++marks}`;
  await admin.echo(`${mark}-start`);
  try {
    await work();
  } finally {
    await admin.echo(`${mark}-end`);
  }
  const at = (text: string) => seen.findIndex((c) => c.args[0]?.toLowerCase() === 'echo' && c.args[1] === text);
  await waitFor('MONITOR to show the end mark', () => at(`${mark}-end`) >= 0, 5000, 5);
  const window = seen.slice(at(`${mark}-start`) + 1, at(`${mark}-end`));
  seen.splice(0);
  return window;
}

const shaOf = (name: string): string => createHash('sha1').update(loadLuaScripts().find((s) => s.name === name)!.lua).digest('hex');

describe('the append path is chosen by the connection', () => {
  it('one script on a single Redis, two on a Cluster', () => {
    expect(appendPathOf(new Redis({ lazyConnect: true }))).toBe('one-script');
    expect(appendPathOf(new Redis.Cluster([], { lazyConnect: true }))).toBe('two-scripts');
  });

  it('a RedisBus on a redis:// URL appends in one script', async () => {
    const bus = new RedisBus({ url: redis.url, ...OPTIONS });
    try {
      await waitFor('the bus to pass a probe', () => bus.probe(1000).then(() => true), 10_000, 5);
      const s = newSubject('job');
      // The first call of a script may be EVALSHA then EVAL (loading it): counted from the second.
      await bus.append(s, [status(s, 'pending')]);
      expect(await commandsSentBy(() => bus.append(s, [status(s, 'scheduled')]))).toEqual([['evalsha', shaOf('append-and-record')]]);
    } finally {
      await bus.close();
    }
  });
});

describe('round trips per append', () => {
  /** Each case on a fresh subject: what is stored first, then the append whose commands are counted. */
  const CASES: { name: string; quota?: boolean; before: (s: TenantSubject) => PublishedEvent[][]; append: (s: TenantSubject, before: PublishedEvent[][]) => PublishedEvent[] }[] = [
    { name: "a subject's first event", before: () => [], append: (s) => [status(s, 'pending')] },
    { name: 'one event of an existing subject', before: (s) => [[status(s, 'pending')]], append: (s) => [jobProgress(s, 5)] },
    { name: 'a status change (an activity update)', before: (s) => [[status(s, 'pending')]], append: (s) => [status(s, 'scheduled')] },
    { name: 'a duplicate retry', before: (s) => [[status(s, 'pending')]], append: (_s, before) => before[0]! },
    { name: 'a refused event', before: (s) => [[status(s, 'pending')]], append: (s) => [status(s, 'succeeded')] },
    { name: 'a batch', before: (s) => [[status(s, 'pending')]], append: (s) => [status(s, 'scheduled'), jobProgress(s, 1), status(s, 'leased')] },
    { name: "a new subject under its tenant's quota", quota: true, before: () => [], append: (s) => [status(s, 'pending')] },
    { name: "an existing subject under its tenant's quota", quota: true, before: (s) => [[status(s, 'pending')]], append: (s) => [jobProgress(s, 5)] },
  ];
  /** What each path sends, by case (the two-script path's counts are what every append cost before the one-script path). */
  const EXPECTED: Record<AppendPath, number[]> = {
    'one-script': [1, 1, 1, 1, 1, 1, 1, 1],
    'two-scripts': [2, 2, 2, 2, 2, 2, 4, 2],
  };

  it.each(['one-script', 'two-scripts'] as const)('%s: the script calls an append sends, each case', async (path) => {
    const plain = await openStore(path);
    const quota = await openStore(path, { tenantMaxSubjects: 10 });
    // Load the scripts first: the first call of a script is EVALSHA, then EVAL when Redis did not know it.
    for (const store of [plain, quota]) {
      const warm = newSubject('job');
      await store.append(warm, [status(warm, 'pending')]);
    }
    const counted: number[] = [];
    for (const c of CASES) {
      const store = c.quota ? quota : plain;
      const s = newSubject('job');
      const before = c.before(s);
      for (const events of before) await store.append(s, events);
      const sent = await commandsSentBy(() => store.append(s, c.append(s, before)));
      expect({ case: c.name, commands: [...new Set(sent.map(([name]) => name))] }).toEqual({ case: c.name, commands: ['evalsha'] });
      if (path === 'one-script') expect({ case: c.name, sent }).toEqual({ case: c.name, sent: [['evalsha', shaOf('append-and-record')]] });
      counted.push(sent.length);
    }
    expect(counted).toEqual(EXPECTED[path]);
  });

  it('a refusal over the quota is one script call too, and with waitReplicas the WAIT rides in the same pipeline', async () => {
    const full = await openStore('one-script', { tenantMaxSubjects: 1 });
    const tenant = unique('tenant');
    const first = newSubject('job', tenant);
    expectStored(await full.append(first, [status(first, 'pending')]), [1]);
    const next = newSubject('job', tenant);
    let refused: unknown;
    expect(await commandsSentBy(async () => (refused = await full.append(next, [status(next, 'pending')])))).toEqual([['evalsha', shaOf('append-and-record')]]);
    expect(refused).toMatchObject([{ error: { code: 'quota', retryAfterSeconds: OPTIONS.historyTtlSeconds } }]);

    // No replica to acknowledge: stored, then refused for want of the acknowledgement.
    const waiting = await openStore('one-script', { waitReplicas: 1, waitTimeoutMs: 10 });
    // A connection's first pipeline sends a script's body (EVAL): counted from the second.
    const warm = newSubject('job');
    await expect(waiting.append(warm, [status(warm, 'pending')])).rejects.toBeInstanceOf(ReplicationTimeoutError);
    const s = newSubject('job');
    let failure: unknown;
    const sent = await commandsSentBy(() => waiting.append(s, [status(s, 'pending')]).catch((error: unknown) => (failure = error)));
    expect(failure).toBeInstanceOf(ReplicationTimeoutError);
    expect(sent).toEqual([['evalsha', shaOf('append-and-record')], ['wait', '1']]);
    expect((await waiting.recentSubjects(s.tenant, undefined, 10)).map((r) => r.id)).toEqual([s.id]);
  });
});

describe('the commands the one script runs for one event', () => {
  // What each append costs Redis, one redis.call each (about 1 µs with its Lua wrapping): TIME once,
  // no XLEN to trim (the entries past maxlen are read by id) and no XTRIM (the XADD trims), meta's
  // changed fields in one HSET, one PTTL for the idle expiry (the subject's keys and its live entry
  // are renewed only once a tenth of FANOUT_SUBJECT_IDLE_TTL_S has passed), and the live index left
  // alone once the subject is recorded.
  const RECORD = ['zrangebyscore', 'hget', 'zadd', 'hset'];
  it('a log event on a running step, under maxlen', async () => {
    const store = await openStore('one-script');
    const s = newSubject('pack-run');
    await store.append(s, [status(s, 'running'), step(s, 0, 'running'), log(s, 0, 1)]);
    expect(await commandsRunBy(() => store.append(s, [log(s, 0, 2)], Date.now() + 60_000))).toEqual([
      'time', 'hmget', 'hget', 'hget', 'xadd 0-4', 'hset', 'hlen', 'xlen', 'hset', 'pttl', 'spublish', ...RECORD,
    ]);
  });

  it('a status change: its activity update too', async () => {
    const store = await openStore('one-script');
    const s = newSubject('job');
    await store.append(s, [status(s, 'pending'), jobProgress(s, 1)]);
    expect(await commandsRunBy(() => store.append(s, [status(s, 'scheduled')], Date.now() + 60_000))).toEqual([
      'time', 'hmget', 'hget', 'xadd 0-3', 'hset', 'hlen', 'xlen', 'hset', 'pttl', 'spublish',
      'zrangebyscore', 'hget', 'zadd', 'hmget', 'xadd 0-2', 'hset', 'spublish', 'hset',
      // The activity changed: the tenant's keys are set to expire with its last subject.
      'zrange', 'pexpireat', 'pexpireat', 'pexpireat', 'pexpireat', 'pexpireat',
    ]);
  });

  it('a log event at maxlen: the leaving entry read by id, its id deleted, the XADD trimming', async () => {
    const store = await openStore('one-script', { historyMaxLen: 3 });
    const s = newSubject('pack-run');
    await store.append(s, [status(s, 'running'), step(s, 0, 'running'), log(s, 0, 1)]);
    expect(await commandsRunBy(() => store.append(s, [log(s, 0, 2)], Date.now() + 60_000))).toEqual([
      'time', 'hmget', 'hget', 'hget', 'xrange', 'xadd MINID', 'hset', 'hdel', 'hlen', 'hset', 'pttl', 'spublish', ...RECORD,
    ]);
    expect((await admin.xrange(subjectKeys(s).stream, '-', '+')).map(([id]) => id)).toEqual(['0-2', '0-3', '0-4']);
    expect(await admin.hlen(subjectKeys(s).ids)).toBe(3);
  });
});

describe('the one-script path records what the two-script path records', () => {
  /** One tenant's story, the same through either path, with a record that fails and is repaired. */
  async function story(store: RedisStore, tenant: string): Promise<TenantSubject[]> {
    const job: TenantSubject = { tenant, kind: 'job', id: 'job-1' };
    const pack: TenantSubject = { tenant, kind: 'pack-run', id: 'pr.1:x_y-z' };
    const run: TenantSubject = { tenant, kind: 'run', id: 'run-1' };
    const pending = status(job, 'pending');
    await store.append(job, [pending, status(job, 'scheduled'), jobProgress(job, 5)]);
    await store.append(pack, [status(pack, 'running'), step(pack, 0, 'running'), log(pack, 0, 1)]);
    await store.append(job, [pending]);
    await store.append(job, [status(job, 'running')]);
    await store.append(job, [status(job, 'leased'), status(job, 'running'), jobProgress(job, 9)]);
    await store.append(run, [status(run, 'pending'), status(run, 'running'), status(run, 'completed')]);
    // The record of this append fails (a string where the tenant's hash of recorded subjects is),
    // and the subject's next append records it: the status before that append comes from the store.
    const { recorded } = tenantIndexKeys(tenant);
    await admin.rename(recorded, `${recorded}:saved`);
    await admin.set(recorded, 'not a hash');
    await expect(store.append(pack, [status(pack, 'succeeded')])).rejects.toThrow(/WRONGTYPE/);
    await admin.del(recorded);
    await admin.rename(`${recorded}:saved`, recorded);
    await store.append(job, [status(job, 'succeeded')]);
    await store.append(pack, [status(pack, 'succeeded')]);
    return [job, pack, run];
  }

  /** The tenant's activity data, each publishedAt of a subject's event written as `<kind:id#seq>`; and each checked against activityUpdate's bytes. */
  async function activityOfStory(store: RedisStore, subjects: TenantSubject[]): Promise<string[]> {
    const publishedAt = new Map<string, string>();
    for (const s of subjects) {
      for (const entry of await store.history(s, 0, 100)) {
        publishedAt.set(`${s.kind}:${s.id}#${entry.seq}`, (JSON.parse(dataJsonOf(entry.frame)) as { publishedAt: string }).publishedAt);
      }
    }
    const entries = await store.history(activityOf(subjects[0]!.tenant), 0, 100);
    return entries.map((entry) => {
      expect(entry.frame.toString()).toMatch(/^id: [0-9a-f]{8}-\d{10}\nevent: subject\.updated\ndata: [^\n]+\n\n$/);
      const data = dataJsonOf(entry.frame);
      const update = JSON.parse(data) as { subject: { kind: string; id: string }; status: string; seq: number; updatedAt: string };
      const label = `${update.subject.kind}:${update.subject.id}#${update.seq}`;
      const at = publishedAt.get(label);
      expect({ label, updatedAt: update.updatedAt }).toEqual({ label, updatedAt: at });
      const subject = subjects.find((s) => s.kind === update.subject.kind && s.id === update.subject.id)!;
      expect(data).toBe(activityUpdate(subject, update.status, update.seq, at!).json);
      return data.replace(at!, `<${label}>`);
    });
  }

  it('the activity frames are byte-identical, the recent subjects and the tenant indexes the same', async () => {
    const one = await openStore('one-script');
    const two = await openStore('two-scripts');
    const [oneTenant, twoTenant] = [unique('tenant'), unique('tenant')];
    const oneSubjects = await story(one, oneTenant);
    const twoSubjects = await story(two, twoTenant);
    const oneActivity = await activityOfStory(one, oneSubjects);
    expect(oneActivity).toEqual(await activityOfStory(two, twoSubjects));
    expect(oneActivity).toEqual([
      '{"subject":{"kind":"job","id":"job-1"},"status":"pending","seq":1,"updatedAt":"<job:job-1#1>"}',
      '{"subject":{"kind":"job","id":"job-1"},"status":"scheduled","seq":2,"updatedAt":"<job:job-1#2>"}',
      '{"subject":{"kind":"pack-run","id":"pr.1:x_y-z"},"status":"running","seq":1,"updatedAt":"<pack-run:pr.1:x_y-z#1>"}',
      '{"subject":{"kind":"job","id":"job-1"},"status":"leased","seq":4,"updatedAt":"<job:job-1#4>"}',
      '{"subject":{"kind":"job","id":"job-1"},"status":"running","seq":5,"updatedAt":"<job:job-1#5>"}',
      '{"subject":{"kind":"run","id":"run-1"},"status":"pending","seq":1,"updatedAt":"<run:run-1#1>"}',
      '{"subject":{"kind":"run","id":"run-1"},"status":"running","seq":2,"updatedAt":"<run:run-1#2>"}',
      '{"subject":{"kind":"run","id":"run-1"},"status":"completed","seq":3,"updatedAt":"<run:run-1#3>"}',
      '{"subject":{"kind":"job","id":"job-1"},"status":"succeeded","seq":7,"updatedAt":"<job:job-1#7>"}',
      '{"subject":{"kind":"pack-run","id":"pr.1:x_y-z"},"status":"succeeded","seq":4,"updatedAt":"<pack-run:pr.1:x_y-z#4>"}',
    ]);
    // The indexes: the same members, scores and records (epochs are each subject's own).
    const indexes = async (store: RedisStore, tenant: string) => {
      const index = tenantIndexKeys(tenant);
      const recent = await admin.zrange(index.recent, 0, -1, 'WITHSCORES');
      const live = await admin.zrange(index.live, 0, -1);
      const recorded = Object.entries(await admin.hgetall(index.recorded)).map(([member, value]) => `${member} ${value.split(' ')[1]}`);
      const summaries = (await store.recentSubjects(tenant, undefined, 10)).map(({ updatedAt: _at, ...rest }) => rest).sort((a, b) => a.kind.localeCompare(b.kind));
      return { recentMembers: recent.filter((_v, i) => i % 2 === 0).sort(), live: live.sort(), recorded: recorded.sort(), summaries };
    };
    expect(await indexes(one, oneTenant)).toEqual(await indexes(two, twoTenant));
    // Each recent score is the subject's last append's publishedAt, as Date.parse reads it.
    for (const [store, tenant, subjects] of [[one, oneTenant, oneSubjects], [two, twoTenant, twoSubjects]] as const) {
      for (const s of subjects) {
        const info = (await store.info(s))!;
        expect(Number(await admin.zscore(tenantIndexKeys(tenant).recent, `${s.kind}:${s.id}`))).toBe(Date.parse(info.updatedAt));
      }
    }
  });

  it("a record that failed is repaired by the retry or the subject's next append, and never applied twice", async () => {
    await expectRecordsRepaired(await openStore('one-script'), admin);
  });

  it('the Lua activity writer writes the bytes activityUpdate does, and reads times as Date.parse does', async () => {
    const script = expandIncludes(`#!lua flags=no-writes
--- @include "activity-update"
--- @include "iso-time"
return { activityUpdateJson(ARGV[1], ARGV[2], ARGV[3], ARGV[4]), isoTimeMs(ARGV[4]) }`);
    const subject: TenantSubject = { tenant: 't', kind: 'pack-run', id: 'pr:"quoted"\\é' };
    const statuses = ['pending', 'timed_out', 'a"b\\c/d\n\r\t\b\f\u0000\u0001\u001f\u007f é € 😀'];
    const times = ['1970-01-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z', '2000-02-29T23:59:59.999Z', '2100-03-01T00:00:00.001Z', '0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z'];
    for (let i = 0; i < 200; i += 1) times.push(new Date(Math.floor(Math.random() * 8_000_000_000_000) - 1_000_000_000_000).toISOString());
    for (const [i, at] of times.entries()) {
      const statusText = statuses[i % statuses.length]!;
      const seq = [1, 42, 9_999_999_999][i % 3]!;
      const [json, ms] = (await admin.eval(script, 0, JSON.stringify({ kind: subject.kind, id: subject.id }), statusText, seq, at)) as [string, string];
      expect({ at, json, ms }).toEqual({ at, json: activityUpdate(subject, statusText, seq, at).json, ms: String(Date.parse(at)) });
    }
  });
});

describe('over maxmemory', () => {
  it('the one script is refused before it runs: neither the subject nor its record is stored, and the retry stores both', async () => {
    const store = await openStore('one-script', { tenantMaxSubjects: 10 });
    const s = newSubject('job');
    const pending = status(s, 'pending');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      await expect(store.append(s, [pending])).rejects.toThrow(/^OOM /);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    const tenantKeys = [...Object.values(tenantIndexKeys(s.tenant)), `fo:{${s.tenant}}:activity:m`, `fo:{${s.tenant}}:activity:s`];
    const subjectKeyNames = Object.values(subjectKeys(s));
    expect(await admin.exists(...subjectKeyNames, ...tenantKeys)).toBe(0);
    expectStored(await store.append(s, [pending]), [1]);
    expect((await store.recentSubjects(s.tenant, undefined, 10)).map((r) => r.id)).toEqual([s.id]);
  });
});
