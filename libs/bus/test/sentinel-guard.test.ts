/**
 * The probe's check on a Sentinel-managed master (assertOnTheMaster), against real redis-server
 * processes: a master and a replica of it. The store's connection on a replica, or the
 * subscription path on another node than the store's, fails the check and drops that connection.
 */
import Redis from 'ioredis';
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait';
import { assertOnTheMaster } from '../src/sentinel-guard';

let master: RedisServer;
let replica: RedisServer;
const connections: Redis[] = [];

function connect(server: RedisServer): Redis {
  const connection = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  connection.on('error', () => undefined);
  connections.push(connection);
  return connection;
}

/** Resolves once the connection has gone away from `server` at least once (it was dropped). */
function dropped(connection: Redis): Promise<void> {
  return new Promise((resolve) => connection.once('close', () => resolve()));
}

beforeAll(async () => {
  [master, replica] = await Promise.all([startRedis(), startRedis()]);
  const replicaClient = connect(replica);
  await replicaClient.replicaof('127.0.0.1', master.port);
  await waitFor('the replica in sync', async () => /master_link_status:up/.test(await replicaClient.info('replication')));
});

afterAll(async () => {
  for (const c of connections) c.disconnect();
  await Promise.all([replica?.stop(), master?.stop()]);
});

test('both connections on the master: the check passes and drops nothing', async () => {
  const command = connect(master);
  const subscriber = connect(master);
  await Promise.all([command.ping(), subscriber.ping()]);
  await expect(assertOnTheMaster(command, subscriber)).resolves.toBeUndefined();
  expect([command.status, subscriber.status]).toEqual(['ready', 'ready']);
});

test('the store on a node that is a replica: the check fails and drops the store\'s connection', async () => {
  const command = connect(replica);
  const subscriber = connect(replica);
  await Promise.all([command.ping(), subscriber.ping()]);
  const gone = dropped(command);
  await expect(assertOnTheMaster(command, subscriber)).rejects.toThrow(/is a slave, not the master/);
  await gone;
});

test('the subscription path on another node than the store: the check fails and drops the subscription path', async () => {
  const command = connect(master);
  const subscriber = connect(replica);
  await Promise.all([command.ping(), subscriber.ping()]);
  const gone = dropped(subscriber);
  await expect(assertOnTheMaster(command, subscriber)).rejects.toThrow(new RegExp(`subscription path is on 127\\.0\\.0\\.1:${replica.port}, not on the master 127\\.0\\.0\\.1:${master.port}`));
  await gone;
  expect(command.status).toBe('ready');
});
