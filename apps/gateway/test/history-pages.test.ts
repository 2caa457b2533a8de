/**
 * HistoryPages with pages too large to cache: a subject whose full page was over a quarter of the
 * cache is read from the client's position, about what the client has room for; the subjects it
 * remembers so are bounded (MAX_LARGE_PAGE_SUBJECTS, the longest remembered out first). The store is
 * a stand-in that records the reads: this is the class's own logic.
 */
import { Bus, HistoryEntry, StreamRef, subjectKeyString } from '@fanout/bus';
import { HistoryPages } from '../src/history-pages';

const PAGE = 10;
const CACHE_BYTES = 4000;
/** Over a quarter of the cache per page of PAGE entries: 10 × 200 = 2,000 > 1,000. */
const LARGE = 200;

class RecordingStore {
  readonly reads: { id: string; afterSeq: number; limit: number }[] = [];
  history(ref: StreamRef, afterSeq: number, limit: number): Promise<HistoryEntry[]> {
    this.reads.push({ id: subjectKeyString(ref), afterSeq, limit });
    const entries = Array.from({ length: limit }, (_, i) => ({ seq: afterSeq + i + 1, frame: Buffer.alloc(LARGE), terminal: false }));
    return Promise.resolve(entries);
  }
}

const live = { latestMark: () => 0, batchesAfter: () => [] };
const ref = (id: string): StreamRef => ({ tenant: 't', kind: 'job', id });
/** What the store records of a read of `ref(id)`. */
const key = (id: string): string => subjectKeyString(ref(id));

test('after a full page too large to cache, a subject is read from the position, sized by the room; a small room reads at least 64 KiB', async () => {
  const store = new RecordingStore();
  const pages = new HistoryPages(store as unknown as Bus, PAGE, CACHE_BYTES, live);
  await pages.read(ref('a'), 0, 0, false, 1000);
  expect(store.reads.at(-1)).toEqual({ id: key('a'), afterSeq: 0, limit: PAGE });
  const page = await pages.read(ref('a'), 3, 0, false, 1000);
  expect(store.reads.at(-1)).toEqual({ id: key('a'), afterSeq: 3, limit: PAGE });
  expect(page.entries.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);

  const big = new HistoryPages(store as unknown as Bus, 1000, 400_000, live);
  await big.read(ref('b'), 0, 0, false, 1000); // 1,000 × 200 B: over a quarter of 400,000
  await big.read(ref('b'), 7, 0, false, 1000);
  expect(store.reads.at(-1)).toEqual({ id: key('b'), afterSeq: 7, limit: Math.ceil((64 * 1024) / LARGE) });
  await big.read(ref('b'), 7, 0, false, 100_000);
  expect(store.reads.at(-1)).toEqual({ id: key('b'), afterSeq: 7, limit: 500 });
});

test('it remembers at most 10,000 such subjects: the one remembered longest is read by aligned pages again', async () => {
  const store = new RecordingStore();
  const pages = new HistoryPages(store as unknown as Bus, PAGE, CACHE_BYTES, live);
  for (let i = 0; i <= 10_000; i++) await pages.read(ref(`s${i}`), 0, 0, false, 64 * 1024);
  // From the position (7), not from the aligned page (0).
  await pages.read(ref('s1'), 7, 0, false, 64 * 1024);
  expect(store.reads.at(-1)).toEqual({ id: key('s1'), afterSeq: 7, limit: PAGE });
  await pages.read(ref('s0'), 7, 0, false, 64 * 1024);
  expect(store.reads.at(-1)).toEqual({ id: key('s0'), afterSeq: 0, limit: PAGE });
});
