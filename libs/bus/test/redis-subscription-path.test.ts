import Redis, { RedisOptions } from 'ioredis';
import { ConnectionListener, LiveBatch, encodeBatchMessage, silentLogger } from '../src';
import { streamKeys } from '../src/keys';
import { RedisSubscriptionPath, StoreLink } from '../src/redis-subscription-path';
import { RedisServer, startRedis } from '../../../test/support/redis-server';
import { waitFor } from '../../../test/support/wait';
import { newSubject } from './conformance';

let redis: RedisServer;
const connections: Redis[] = [];
const paths: RedisSubscriptionPath[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  for (const path of paths.splice(0)) await path.close();
  await Promise.allSettled(connections.splice(0).map((c) => c.quit()));
});

afterAll(async () => {
  await redis?.stop();
});

function connect(options: RedisOptions = {}): Redis {
  const connection = new Redis({ host: '127.0.0.1', port: redis.port, retryStrategy: () => 50, ...options });
  connections.push(connection);
  return connection;
}

/** A store whose readiness the test decides: `hold()` makes the next `untilReady` wait for `release()`. */
function controlledStore(command: Redis): StoreLink & { hold(): void; release(): void } {
  let gate: Promise<void> = Promise.resolve();
  let open = (): void => undefined;
  return {
    publish: async (channel, message) => {
      await command.spublish(channel, message);
    },
    untilReady: () => gate,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => open(),
  };
}

/** A path on `subscriber` with one job subscribed, once a probe went round: its channel, and what its listeners got. */
async function subscribedPath(subscriber: Redis, store: StoreLink, silentPathResetMs?: number) {
  const path = new RedisSubscriptionPath(subscriber, store, silentLogger, silentPathResetMs);
  paths.push(path);
  const subject = newSubject('job');
  const batches: LiveBatch[] = [];
  const events: Parameters<ConnectionListener>[0][] = [];
  path.onConnection((event) => events.push(event));
  await path.subscribe(subject, (batch) => batches.push(batch));
  await waitFor('the path to pass a probe', () => path.probe(1000).then(() => true), 10_000, 5);
  return { path, channel: streamKeys(subject).channel, batches, events };
}

test('after a loss, no live batch reaches a listener until the recovery is announced (the store is back for its catch-up)', async () => {
  const command = connect();
  const store = controlledStore(command);
  const { path, channel, batches, events } = await subscribedPath(connect({ autoResubscribe: false }), store);

  await command.spublish(channel, encodeBatchMessage(1, 1, false, 'one'));
  await waitFor('the first batch', () => batches.length === 1, 10_000);

  store.hold();
  await command.client('KILL', 'TYPE', 'pubsub');
  await waitFor('the path to go down', () => events.includes('down'), 10_000);
  // Resubscribed (the canary's probe goes round again), but the store has not said it is ready.
  await waitFor('the path to resubscribe', () => path.probe(1000).then(() => true), 10_000, 20);
  await command.spublish(channel, encodeBatchMessage(3, 3, false, 'three'));
  // A probe published after the batch comes back after it on the same connection.
  await path.probe(1000);
  expect(batches.map((b) => b.firstSeq)).toEqual([1]);
  expect(events).toEqual(['down']);

  store.release();
  await waitFor('the recovery', () => events.length === 2, 10_000);
  expect(events).toEqual(['down', 'up']);
  await command.spublish(channel, encodeBatchMessage(4, 4, false, 'four'));
  await waitFor('a batch after the recovery', () => batches.length === 2, 10_000);
  expect(batches.map((b) => b.firstSeq)).toEqual([1, 4]);
});

test('a subscription connection that delivers nothing while the store takes the canaries is made again, and recovers; a store that does not answer is no reason to', async () => {
  const command = connect();
  const subscriber = connect({ autoResubscribe: false });
  const { path, channel, batches, events } = await subscribedPath(subscriber, controlledStore(command), 500);

  // The socket stays open but nothing it receives is read: a path silenced by the network.
  const silenced = subscriber.stream;
  silenced.pause();
  try {
    await command.spublish(channel, encodeBatchMessage(1, 1, false, 'one'));
    await waitFor('the path to be made again, and to recover', async () => {
      await path.probe(200).catch(() => undefined);
      return events.length === 2;
    }, 20_000, 50);
  } finally {
    // Read again, should it still be the connection (closing it waits for the reply to QUIT).
    silenced.resume();
  }
  expect(events).toEqual(['down', 'up']);
  expect(subscriber.stream).not.toBe(silenced);
  await command.spublish(channel, encodeBatchMessage(2, 2, false, 'two'));
  await waitFor('a batch over the new connection', () => batches.some((b) => b.firstSeq === 2), 10_000);

  // Canaries the store stops taking (it is stalled, or down) leave the connection alone.
  let stalled = false;
  const stalling: StoreLink = {
    publish: async (to, message) => (stalled ? new Promise(() => undefined) : void (await command.spublish(to, message))),
    untilReady: async () => undefined,
  };
  const { path: stalledPath, events: stalledEvents } = await subscribedPath(connect({ autoResubscribe: false }), stalling, 200);
  stalled = true;
  const until = Date.now() + 1500;
  while (Date.now() < until) await stalledPath.probe(100).catch(() => undefined);
  expect(stalledEvents).toEqual([]);
});
