/**
 * A connection to a Sentinel-managed master (redis-connections.ts) against real redis-server
 * processes and sentinels: ioredis ends such a connection for good when it is dropped while it asks
 * the sentinels for the master (its connector's lookup then fails "Connection is closed." and its
 * status becomes `end`); fanout's connects it again. One closed on purpose stays closed.
 */
import Redis from 'ioredis';
import { SentinelSetup, startSentinelSetup } from '../../../test/support/redis-sentinel';
import { sleep, waitFor } from '../../../test/support/wait';
import { RedisTarget, createCommandConnection, createSubscriberConnection } from '../src/redis-connections';
import { silentLogger } from '../src/logger';

jest.setTimeout(60_000);

let setup: SentinelSetup;
const opened: Redis[] = [];

beforeAll(async () => {
  setup = await startSentinelSetup({ replicas: 1, sentinels: 1 });
}, 60_000);

afterAll(async () => {
  for (const connection of opened) connection.disconnect();
  await setup?.stop();
});

function target(): RedisTarget {
  const sentinels = setup.sentinelList.split(',').map((address) => ({ host: address.split(':')[0]!, port: Number(address.split(':')[1]) }));
  return { kind: 'sentinel', sentinel: { sentinels, masterName: setup.masterName, tls: false } };
}

const base = { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: (attempt: number) => Math.min(50 * attempt, 1000) };

const connections = [
  ['the command connection', () => createCommandConnection(target(), base) as Redis],
  ['the subscription path', () => createSubscriberConnection(target(), base, silentLogger) as Redis],
] as const;

describe.each(connections)('%s', (_name, create) => {
  test('dropped again while it asks the sentinels for the master, it connects again', async () => {
    const connection = create();
    opened.push(connection);
    connection.on('error', () => undefined);
    await waitFor('ready', () => connection.status === 'ready', 20_000);
    // The second drop lands while the reconnection looks the master up.
    connection.once('connecting', () => connection.disconnect(true));
    connection.disconnect(true);
    await sleep(1000);
    await waitFor('ready again', () => connection.status === 'ready', 20_000);
    expect(await connection.ping()).toBe('PONG');
  });

  test('closed on purpose, it stays closed', async () => {
    const connection = create();
    opened.push(connection);
    connection.on('error', () => undefined);
    await waitFor('ready', () => connection.status === 'ready', 20_000);
    await connection.quit();
    await sleep(1000);
    expect(connection.status).toBe('end');
    const other = create();
    opened.push(other);
    other.on('error', () => undefined);
    await waitFor('ready', () => other.status === 'ready', 20_000);
    other.disconnect();
    await sleep(1000);
    expect(other.status).toBe('end');
  });
});
