/**
 * FANOUT_REDIS_WAIT_REPLICAS: each append is answered only once that many replicas acknowledged it
 * (Redis WAIT, pipelined to the subject's master), so an event answered 202 survives the loss of its
 * master. Without enough acknowledgements the publisher answers 503 and a retry with the same
 * eventId is a duplicate (the event was stored on the master).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { FanoutProcess, startFanout } from '../support/fanout-process';
import { freePort } from '../support/ports';
import { RedisServer, startRedis } from '../support/redis-server';
import { makeEvent, uniqueId } from '../support/stack';
import { waitFor } from '../support/wait';

const TENANT = 'wait-test';

interface Replica {
  port: number;
  client: Redis;
  stop(): Promise<void>;
}

async function startReplica(master: RedisServer): Promise<Replica> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fanout-replica-'));
  const proc: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(master.port)],
    { stdio: 'ignore' },
  );
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, disconnectTimeout: 0, lazyConnect: true, retryStrategy: () => 100 });
  await waitFor(`replica on ${port} in sync`, async () => {
    if (client.status === 'wait') await client.connect();
    return /master_link_status:up/.test(await client.info('replication'));
  });
  return {
    port,
    client,
    async stop() {
      client.disconnect();
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function publish(publisher: FanoutProcess, event: object): Promise<{ status: number; body: any; contentType: string }> {
  const response = await fetch(`${publisher.url}/api/v1/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(event),
  });
  return { status: response.status, body: await response.json(), contentType: response.headers.get('content-type') ?? '' };
}

let master: RedisServer;
let replica: Replica | undefined;
let waiting: FanoutProcess;
let asynchronous: FanoutProcess;

beforeAll(async () => {
  master = await startRedis();
  replica = await startReplica(master);
  const env = { REDIS_URL: master.url, FANOUT_AUTH: 'none', HOST: '127.0.0.1' };
  waiting = await startFanout('publisher', { ...env, FANOUT_REDIS_WAIT_REPLICAS: 1, FANOUT_REDIS_WAIT_TIMEOUT_MS: 300 });
  asynchronous = await startFanout('publisher', env);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([waiting?.stop(), asynchronous?.stop()]);
  await replica?.stop();
  await master?.stop();
}, 60_000);

test('an append acknowledged by the replica is answered 202, and the replica has it by then', async () => {
  const id = uniqueId('job');
  const answer = await publish(waiting, makeEvent(TENANT, 'job', id, 'job.status', { status: 'pending' }));
  expect(answer.status).toBe(202);
  expect(answer.body.results[0]).toMatchObject({ seq: 1, duplicate: false });
  // Acknowledged means replicated: the replica holds the subject's meta as soon as the answer is out.
  expect(await replica!.client.hget(`fo:{${TENANT}:job:${id}}:m`, 's')).toBe('1');
});

test('with the replica gone, an append is answered 503 (problem+json), and its retry is a duplicate once a replica is back', async () => {
  const id = uniqueId('job');
  const event = makeEvent(TENANT, 'job', id, 'job.status', { status: 'pending' });
  await replica!.stop();
  replica = undefined;

  const refused = await publish(waiting, event);
  expect(refused.status).toBe(503);
  expect(refused.contentType).toMatch(/^application\/problem\+json/);
  expect(refused.body.detail).toMatch(/0 of 1 replicas acknowledged/);

  // Without the option, the same loss goes unnoticed: replication is asynchronous.
  const unguarded = await publish(asynchronous, makeEvent(TENANT, 'job', uniqueId('job'), 'job.status', { status: 'pending' }));
  expect(unguarded.status).toBe(202);

  replica = await startReplica(master);
  const retried = await publish(waiting, event);
  expect(retried.status).toBe(202);
  expect(retried.body.results[0]).toMatchObject({ eventId: event.eventId, seq: 1, duplicate: true });
});
