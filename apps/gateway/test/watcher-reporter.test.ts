/**
 * What a replica writes of its watcher counts (issue 17, item 2): per report, only the subjects whose
 * count changed, once each, however many streams opened and closed meanwhile (no write per connection
 * or per event); everything again after a failed or late report and every WATCHER_REWRITE_MS; and its
 * counts taken out when it stops. The store here only records the calls: this is the reporter's own logic.
 */
import { TenantSubject } from '@fanout/contracts';
import { WATCHER_REWRITE_MS, WatcherCount, WatcherStore } from '@fanout/bus';
import { createLogger } from '@fanout/observability';
import { WATCHER_LIVE_FOR_MS, WATCHER_REPORT_MS, WatcherReporter } from '../src/watcher-reporter';

interface Report {
  replicaId: string;
  changed: WatcherCount[];
  liveForMs: number;
}

class RecordingStore implements WatcherStore {
  reports: Report[] = [];
  retired: string[] = [];
  failNext = false;

  async reportWatchers(replicaId: string, changed: readonly WatcherCount[], liveForMs: number): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('store away');
    }
    this.reports.push({ replicaId, changed: [...changed], liveForMs });
  }

  async retireReplica(replicaId: string): Promise<void> {
    this.retired.push(replicaId);
  }

  async watcherCount(): Promise<number> {
    throw new Error('not used');
  }
}

const subject = (id: string): TenantSubject => ({ tenant: 't', kind: 'job', id });
const counts = (report: Report | undefined) => report?.changed.map((c) => [c.subject.id, c.count]);

let store: RecordingStore;
let reporter: WatcherReporter;

beforeEach(() => {
  jest.useFakeTimers();
  store = new RecordingStore();
  reporter = new WatcherReporter(store, createLogger({ level: 'silent', name: 'test' }));
});

afterEach(async () => {
  await reporter.stop();
  jest.useRealTimers();
});

/** Runs one report period and lets the report's promise settle. */
async function nextReport(): Promise<void> {
  await jest.advanceTimersByTimeAsync(WATCHER_REPORT_MS);
}

test('a period of opens and closes is one write per subject whose count changed, with its last count', async () => {
  reporter.start();
  await Promise.resolve();
  expect(store.reports).toHaveLength(1);
  for (let i = 1; i <= 1000; i += 1) reporter.set(subject('busy'), i);
  for (let i = 999; i >= 10; i -= 1) reporter.set(subject('busy'), i);
  reporter.set(subject('brief'), 1);
  reporter.set(subject('brief'), 0);
  await nextReport();
  expect(store.reports).toHaveLength(2);
  expect(counts(store.reports[1])).toEqual([
    ['busy', 10],
    ['brief', 0],
  ]);
  expect(store.reports[1]!.liveForMs).toBe(WATCHER_LIVE_FOR_MS);

  // Nothing changed: the report only says the replica is alive.
  await nextReport();
  expect(counts(store.reports[2])).toEqual([]);
});

test('after a failed report, the next one carries what it lost (as the counts are now) and every count', async () => {
  reporter.start();
  await Promise.resolve();
  reporter.set(subject('a'), 2);
  reporter.set(subject('b'), 1);
  await nextReport();
  reporter.set(subject('b'), 0);
  store.failNext = true;
  await nextReport();
  expect(store.reports).toHaveLength(2);
  await nextReport();
  expect(counts(store.reports[2])).toEqual(expect.arrayContaining([['a', 2], ['b', 0]]));
  expect(store.reports[2]!.changed).toHaveLength(2);
});

test('every count is written again every WATCHER_REWRITE_MS, so its key never lapses', async () => {
  reporter.start();
  await Promise.resolve();
  reporter.set(subject('steady'), 3);
  await nextReport();
  const before = store.reports.length;
  await jest.advanceTimersByTimeAsync(WATCHER_REWRITE_MS);
  const rewrites = store.reports.slice(before).filter((r) => counts(r)?.some(([id]) => id === 'steady'));
  expect(rewrites).toHaveLength(1);
});

test('stopping takes the replica out at once', async () => {
  reporter.start();
  await reporter.stop();
  expect(store.retired).toEqual([reporter.replicaId]);
});
