/** SubjectFeed doing what the seam decides, step by step, over the simulated store and pub/sub path. */
import { describeLog } from './seam-oracle';
import { RecordingSink, SimulatedReplica, TaskScheduler, WorldOptions } from './seam-world';
import { framesIn } from './seam-fixtures';

/** Tasks released one by one, by the start of their label, as a test says. */
class ManualTasks implements TaskScheduler {
  private readonly pending: Array<{ label: string; release: () => void }> = [];
  readonly released: string[] = [];

  schedule<T>(task: Promise<T>, label = ''): Promise<T> {
    return new Promise<void>((resolve) => this.pending.push({ label, release: resolve })).then(() => task);
  }

  async release(labelStart: string): Promise<void> {
    const index = this.pending.findIndex((task) => task.label.startsWith(labelStart));
    if (index < 0) throw new Error(`no pending task "${labelStart}…" among ${JSON.stringify(this.pending.map((task) => task.label))}`);
    const [task] = this.pending.splice(index, 1);
    this.released.push(task!.label);
    task!.release();
    await settled();
  }

  async releaseAll(): Promise<void> {
    while (this.pending.length > 0) await this.release(this.pending[0]!.label);
  }
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const WORLD: WorldOptions = { maxLen: 100, pageSize: 10, clientBufferBytes: 1 << 20, readsSeeIssueTime: true };

function setUp(options: Partial<WorldOptions> & { room?: number } = {}) {
  const tasks = new ManualTasks();
  const replica = new SimulatedReplica(tasks, { ...WORLD, ...options });
  const sink = new RecordingSink(tasks, replica.store, options.room ?? 1 << 20);
  /** Connects a client after `afterSeq` of the store's current epoch; its replay goes on as tasks are released. */
  const connect = async (afterSeq = 0): Promise<void> => {
    const feed = replica.feed(sink, afterSeq, replica.store.epoch);
    void feed.subscribe().then(() => feed.replay());
    await tasks.release('subscribed');
  };
  const seen = (): string => describeLog(sink.log);
  return { tasks, replica, sink, connect, seen };
}

test('a live batch in order is written as it came, without a copy', async () => {
  const { tasks, replica, sink, connect } = setUp();
  replica.publish(1, false, 'deliver');
  await connect();
  await tasks.releaseAll();
  const batch = replica.publish(2, false, 'deliver');
  await tasks.release('live 2-3');
  const last = sink.log.at(-1);
  expect(last).toMatchObject({ type: 'deliver', firstSeq: 2, lastSeq: 3, replayed: false });
  expect(last?.type === 'deliver' && last.frames).toBe(batch.frames);
});

test('a batch found out of order while going live sends the feed back to history, with a read of its own', async () => {
  const { tasks, replica, connect, seen } = setUp();
  replica.publish(1, false, 'deliver');
  await connect();
  // The feed's first read saw seq 1 only; 3 reaches it before 2.
  replica.publish(1, false, 'deliver');
  replica.publish(1, false, 'deliver');
  await tasks.release('live 3-3');
  await tasks.release('history read');
  await tasks.release('drain');
  await tasks.release('history read');
  await tasks.releaseAll();
  expect(seen()).toBe(['deliver 0:1 (replay)', 'deliver 0:2,0:3 (replay)'].join('\n'));
  expect(tasks.released.filter((label) => label === 'history read')).toHaveLength(2);
});

test('a replay cut short for room writes the rest after the drain, from the shared read', async () => {
  const { tasks, replica, connect, seen } = setUp({ room: 70 });
  replica.publish(3, false, 'deliver');
  await connect();
  await tasks.releaseAll();
  expect(seen()).toBe(['deliver 0:1 (replay)', 'deliver 0:2 (replay)', 'deliver 0:3 (replay)'].join('\n'));
  expect(tasks.released.filter((label) => label === 'history read')).toHaveLength(1);
});

test('the terminal event in replay completes the stream and leaves the subscription', async () => {
  const { tasks, replica, sink, connect } = setUp();
  replica.publish(1, false, 'deliver');
  replica.publish(1, true, 'deliver');
  await connect();
  await tasks.releaseAll();
  expect(sink.log.map((item) => item.type)).toEqual(['deliver', 'completed']);
  expect(replica.subscriptions.subjectCount).toBe(0);
});

test('the terminal event live completes the stream', async () => {
  const { tasks, replica, sink, connect } = setUp();
  replica.publish(1, false, 'deliver');
  await connect();
  await tasks.releaseAll();
  replica.publish(1, true, 'deliver');
  await tasks.releaseAll();
  expect(sink.log.map((item) => (item.type === 'deliver' ? `${item.type} ${item.lastSeq}${item.replayed ? ' replayed' : ''}` : item.type))).toEqual(['deliver 1 replayed', 'deliver 2', 'completed']);
  expect(replica.subscriptions.subjectCount).toBe(0);
});

test('a recovery that finds the subject started again in the store tells history_lost, then streams the new history', async () => {
  const { tasks, replica, sink, connect } = setUp();
  replica.publish(2, false, 'deliver');
  await connect();
  await tasks.releaseAll();
  replica.store.lose();
  replica.publish(1, false, 'drop');
  await tasks.release('recovery');
  await tasks.release('info');
  await tasks.releaseAll();
  const newEpoch = replica.store.epoch;
  expect(sink.log.slice(1).map((item) => (item.type === 'deliver' ? framesIn(item.frames) : item))).toEqual([
    { type: 'gap', reason: 'history_lost', firstAvailableSeq: 1, storeEpochs: 2 },
    [{ epoch: newEpoch, seq: 1 }],
  ]);
});

test('a store failure while reading history fails the stream', async () => {
  const { tasks, replica, sink, connect } = setUp();
  replica.publish(1, false, 'deliver');
  replica.store.history = () => {
    throw new Error('the store is down');
  };
  await connect();
  await tasks.releaseAll();
  expect(sink.log).toEqual([{ type: 'failed', message: 'the store is down' }]);
});
