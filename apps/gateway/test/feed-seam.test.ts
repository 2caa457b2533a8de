/** The seam's decisions, case by case: what a feed does with live batches, history pages, recoveries and room. */
import { LiveBatch } from '@fanout/bus';
import {
  CatchUpStep,
  FeedAction,
  FeedState,
  MAX_HELD_BATCHES,
  MAX_STALE_READS,
  ReplayRoom,
  newFeedState,
  nextCatchUpStep,
  startReplay,
  stopFeed,
  takeLiveBatch,
  takePage,
  takeRecovery,
  takeReusedSeqs,
  takeStoreEpoch,
} from '../src/feed-seam';
import { HistoryPage } from '../src/history-pages';
import { E1, E2, E3, batch, entries, entry } from './seam-fixtures';

const MAX_HELD_BYTES = 10_000;

function feedState(fields: Partial<FeedState> = {}): FeedState {
  return { ...newFeedState(0, E1, MAX_HELD_BYTES), ...fields };
}

/** A connection whose room is the next of `rooms` on each ask (the last one repeats), every frame `frameSize` bytes. */
function roomOf(rooms: number[], frameSize = 10): ReplayRoom {
  let asked = 0;
  return { replayRoom: () => rooms[Math.min(asked++, rooms.length - 1)]!, writtenSize: () => frameSize };
}
const AMPLE_ROOM = roomOf([Number.MAX_SAFE_INTEGER]);

function page(list: HistoryPage['entries'], options: { reachedEnd?: boolean; missed?: LiveBatch[] } = {}): HistoryPage {
  return { entries: list, reachedEnd: options.reachedEnd ?? true, missed: options.missed ?? [] };
}

const deliver = (alreadySent = 0): FeedAction => ({ type: 'deliver-live', alreadySent });
const CATCH_UP: FeedAction = { type: 'catch-up' };
const COMPLETE: FeedAction = { type: 'complete' };
const FORGET: FeedAction = { type: 'forget-cached-history' };
const historyLost: FeedAction = { type: 'gap', gap: { reason: 'history_lost', firstAvailableSeq: 1 } };
const historyTrimmed = (firstAvailableSeq: number): FeedAction => ({ type: 'gap', gap: { reason: 'history_trimmed', firstAvailableSeq } });

describe('a live batch', () => {
  const full = Array.from({ length: MAX_HELD_BATCHES }, (_, i) => batch(i + 1, i + 1));
  const big = batch(1, 1);
  const cases: Array<{ name: string; state: Partial<FeedState>; batch: LiveBatch; actions: FeedAction[]; after: Partial<FeedState> }> = [
    { name: 'before the feed replays is ignored (its first read covers it)', state: { phase: 'waiting' }, batch: batch(1, 2), actions: [], after: { held: [], sentSeq: 0, mustVerifyEpoch: false } },
    {
      name: 'before the feed replays, of another epoch, has the store asked for its epoch first (the first read would skip its seqs)',
      state: { phase: 'waiting', sentSeq: 5 },
      batch: batch(1, 1, { epoch: E2 }),
      actions: [],
      after: { held: [], sentSeq: 5, mustVerifyEpoch: true },
    },
    { name: 'after the feed stopped is ignored', state: { phase: 'stopped' }, batch: batch(1, 2), actions: [], after: { held: [], sentSeq: 0 } },
    {
      name: 'while replaying is held',
      state: { phase: 'replaying' },
      batch: batch(3, 4),
      actions: [],
      after: { held: [batch(3, 4)], heldBytes: batch(3, 4).frames.length, mustReadHistory: false, readFresh: false },
    },
    {
      name: 'while replaying, past the count of held batches, drops them and history is read again',
      state: { phase: 'replaying', held: full.slice(), heldBytes: 0 },
      batch: batch(2000, 2000),
      actions: [],
      after: { held: [batch(2000, 2000)], mustReadHistory: true, readFresh: true },
    },
    {
      name: 'while replaying, past the held bytes, drops them and history is read again',
      state: { phase: 'replaying', held: [batch(1, 1)], heldBytes: MAX_HELD_BYTES - 10 },
      batch: big,
      actions: [],
      after: { held: [big], heldBytes: big.frames.length, mustReadHistory: true, readFresh: true },
    },
    { name: 'live, next in order, is delivered whole', state: { phase: 'live', sentSeq: 4 }, batch: batch(5, 7), actions: [deliver()], after: { sentSeq: 7 } },
    { name: 'live, with the terminal event, is delivered and completes', state: { phase: 'live', sentSeq: 4 }, batch: batch(5, 5, { terminal: true }), actions: [deliver(), COMPLETE], after: { sentSeq: 5 } },
    { name: 'live, overlapping what was sent, is delivered past it', state: { phase: 'live', sentSeq: 6 }, batch: batch(5, 8), actions: [deliver(2)], after: { sentSeq: 8 } },
    { name: 'live, overlapping, with the terminal event, completes', state: { phase: 'live', sentSeq: 5 }, batch: batch(5, 6, { terminal: true }), actions: [deliver(1), COMPLETE], after: { sentSeq: 6 } },
    { name: 'live, all of it sent already, is skipped', state: { phase: 'live', sentSeq: 8 }, batch: batch(5, 8), actions: [], after: { sentSeq: 8, held: [] } },
    {
      name: 'live, skipping a seq, is held and history read for what is missing',
      state: { phase: 'live', sentSeq: 4 },
      batch: batch(6, 7),
      actions: [CATCH_UP],
      after: { phase: 'replaying', sentSeq: 4, held: [batch(6, 7)], mustReadHistory: true, readFresh: true },
    },
    {
      name: 'live, of an epoch not seen yet, asks the store for its epoch (the batch may be late from one already gone)',
      state: { phase: 'live', sentSeq: 9 },
      batch: batch(3, 3, { epoch: E2 }),
      actions: [CATCH_UP],
      after: { phase: 'replaying', epoch: E1, sentSeq: 9, held: [], mustVerifyEpoch: true, mustReadHistory: true },
    },
    { name: 'live, of a past epoch, is ignored', state: { phase: 'live', epoch: E2, pastEpochs: [E1], sentSeq: 2 }, batch: batch(3, 3, { epoch: E1 }), actions: [], after: { epoch: E2, sentSeq: 2 } },
    { name: 'live, on a feed that saw no epoch yet, takes its epoch', state: { phase: 'live', epoch: undefined }, batch: batch(1, 1, { epoch: E3 }), actions: [deliver()], after: { epoch: E3, sentSeq: 1 } },
  ];
  test.each(cases)('$name', ({ state: fields, batch: taken, actions, after }) => {
    const state = feedState(fields);
    expect(takeLiveBatch(state, taken)).toEqual(actions);
    expect(state).toMatchObject(after);
  });

  test('in order, live, allocates nothing: the same answer every time', () => {
    const state = feedState({ phase: 'live', sentSeq: 0 });
    const first = takeLiveBatch(state, batch(1, 1));
    expect(takeLiveBatch(state, batch(2, 3))).toBe(first);
    expect(takeLiveBatch(state, batch(4, 4, { terminal: true }))).toBe(takeLiveBatch(feedState({ phase: 'live', sentSeq: 9 }), batch(10, 10, { terminal: true })));
  });
});

describe('a recovery of the bus path', () => {
  test.each([
    { phase: 'waiting' as const, actions: [], after: { phase: 'waiting', mustVerifyEpoch: true, mustReadHistory: false } },
    { phase: 'replaying' as const, actions: [CATCH_UP], after: { phase: 'replaying', mustVerifyEpoch: true, mustReadHistory: true } },
    { phase: 'live' as const, actions: [CATCH_UP], after: { phase: 'replaying', mustVerifyEpoch: true, mustReadHistory: true } },
    { phase: 'stopped' as const, actions: [], after: { phase: 'stopped', mustVerifyEpoch: false } },
  ])('while $phase', ({ phase, actions, after }) => {
    const state = feedState({ phase });
    expect(takeRecovery(state)).toEqual(actions);
    expect(state).toMatchObject(after);
  });

  test.each([
    { name: 'the same epoch in the store: nothing to tell', storeEpoch: E1, actions: [], after: { epoch: E1, sentSeq: 7 } },
    { name: 'a new epoch in the store: history_lost, then from seq 1', storeEpoch: E2, actions: [FORGET, historyLost], after: { epoch: E2, sentSeq: 0, pastEpochs: [E1] } },
    { name: 'no subject in the store: nothing to tell', storeEpoch: undefined, actions: [], after: { epoch: E1, sentSeq: 7 } },
  ])('verifying the epoch after it, $name', ({ storeEpoch, actions, after }) => {
    const state = feedState({ phase: 'live', sentSeq: 7 });
    takeRecovery(state);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
    expect(takeStoreEpoch(state, storeEpoch)).toEqual(actions);
    expect(state).toMatchObject(after);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: after.sentSeq, fresh: false });
  });

  test('a live batch of a new epoch, confirmed by the store, starts over: history_lost, then the new history from seq 1', () => {
    const state = feedState({ phase: 'live', sentSeq: 9 });
    takeLiveBatch(state, batch(1, 1, { epoch: E2 }));
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
    expect(takeStoreEpoch(state, E2)).toEqual([FORGET, historyLost]);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 0, fresh: false });
    expect(state).toMatchObject({ epoch: E2, pastEpochs: [E1] });
  });

  test.each([
    { name: 'live, holding reused seqs: history_lost after the epoch is read, then its history again from seq 1', phase: 'live' as const, sentSeq: 20, reusedFrom: 16, first: [CATCH_UP], then: [FORGET, historyLost], afterSeq: 0 },
    { name: 'replaying, holding reused seqs: the same, at its next step', phase: 'replaying' as const, sentSeq: 20, reusedFrom: 16, first: [], then: [FORGET, historyLost], afterSeq: 0 },
    { name: 'holding none of the reused seqs (it joined after the loss): nothing', phase: 'live' as const, sentSeq: 12, reusedFrom: 16, first: [], then: undefined, afterSeq: 12 },
  ])('seqs the store published again, $name', ({ phase, sentSeq, reusedFrom, first, then, afterSeq }) => {
    const state = feedState({ phase, sentSeq });
    expect(takeReusedSeqs(state, reusedFrom)).toEqual(first);
    if (then) {
      expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
      expect(takeStoreEpoch(state, E1)).toEqual(then);
    }
    expect(state).toMatchObject({ epoch: E1, sentSeq: afterSeq, reusedFrom: undefined, pastEpochs: undefined });
  });

  test('seqs published again while the feed waits to replay: the replay starts over from seq 1 after the epoch is read', () => {
    const state = feedState({ phase: 'waiting', sentSeq: 18 });
    expect(takeReusedSeqs(state, 16)).toEqual([]);
    startReplay(state);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
    expect(takeStoreEpoch(state, E1)).toEqual([FORGET, historyLost]);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 0, fresh: false });
  });

  test('a late live batch of an epoch already gone changes nothing once the store answers with the current one', () => {
    const state = feedState({ phase: 'live', sentSeq: 9, epoch: E3, pastEpochs: [E1] });
    takeLiveBatch(state, batch(4, 4, { epoch: E2 }));
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
    expect(takeStoreEpoch(state, E3)).toEqual([]);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 9, fresh: false });
    expect(state).toMatchObject({ epoch: E3, sentSeq: 9, pastEpochs: [E1, E2] });
    // Known to be past now: no need to ask again.
    nextCatchUpStep(state, AMPLE_ROOM);
    expect(takeLiveBatch(state, batch(5, 5, { epoch: E2 }))).toEqual([]);
    expect(state.mustVerifyEpoch).toBe(false);
  });

  test('a feed that saw no epoch yet takes none from the store', () => {
    const state = feedState({ phase: 'replaying', epoch: undefined });
    expect(takeStoreEpoch(state, E2)).toEqual([]);
    expect(state.epoch).toBeUndefined();
  });
});

describe('starting the replay', () => {
  test('reads history after the position', () => {
    const state = feedState({ sentSeq: 3 });
    expect(startReplay(state)).toEqual([CATCH_UP]);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 3, fresh: false });
  });

  test('tells the gap first and reads after it', () => {
    const state = feedState({ sentSeq: 3 });
    expect(startReplay(state, { reason: 'history_trimmed', firstAvailableSeq: 10 })).toEqual([historyTrimmed(10), CATCH_UP]);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 9, fresh: false });
  });

  test('happens once', () => {
    const state = feedState();
    startReplay(state);
    expect(startReplay(state)).toEqual([]);
  });

  test('after a recovery while waiting, verifies the epoch first', () => {
    const state = feedState();
    takeRecovery(state);
    startReplay(state);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
  });
});

describe('a history page', () => {
  const replaying = (fields: Partial<FeedState> = {}): FeedState => feedState({ phase: 'replaying', ...fields });

  test.each<{ name: string; state: Partial<FeedState>; page: HistoryPage; epoch: string | undefined; actions: FeedAction[]; after: Partial<FeedState> }>([
    { name: 'that reached the end is replayed', state: { sentSeq: 2 }, page: page(entries(3, 5)), epoch: E1, actions: [], after: { sentSeq: 2, page: entries(3, 5), mustReadHistory: false } },
    { name: 'that did not reach the end asks for the next one', state: { sentSeq: 2 }, page: page(entries(3, 5), { reachedEnd: false }), epoch: E1, actions: [], after: { page: entries(3, 5), mustReadHistory: true } },
    { name: 'empty, at the end, is taken as it is', state: { sentSeq: 2 }, page: page([]), epoch: undefined, actions: [], after: { epoch: E1, page: [], mustReadHistory: false } },
    { name: 'starting past the position tells history_trimmed', state: { sentSeq: 2 }, page: page(entries(6, 7)), epoch: E1, actions: [historyTrimmed(6)], after: { sentSeq: 5, page: entries(6, 7) } },
    {
      name: 'with a hole (seqs a store lost) ends at the hole, and the rest is read again (whose first seq then tells the gap)',
      state: { sentSeq: 2 },
      page: page([...entries(3, 5), ...entries(9, 10)]),
      epoch: E1,
      actions: [],
      after: { sentSeq: 2, page: entries(3, 5), mustReadHistory: true },
    },
    {
      name: 'of an epoch not seen yet asks the store for its epoch, and reads again (the page may be an old one, cached)',
      state: { sentSeq: 4 },
      page: page(entries(5, 6, { epoch: E2 })),
      epoch: E2,
      actions: [FORGET],
      after: { epoch: E1, sentSeq: 4, page: undefined, mustVerifyEpoch: true, mustReadHistory: true },
    },
    {
      name: 'of a past epoch is dropped and read again from the store',
      state: { sentSeq: 1, epoch: E2, pastEpochs: [E1] },
      page: page(entries(2, 3)),
      epoch: E1,
      actions: [FORGET],
      after: { epoch: E2, sentSeq: 1, page: undefined, mustReadHistory: true, staleReads: 1 },
    },
    {
      name: `of a past epoch, more than ${MAX_STALE_READS} times in a row, fails the stream`,
      state: { epoch: E2, pastEpochs: [E1], staleReads: MAX_STALE_READS },
      page: page(entries(1, 1)),
      epoch: E1,
      actions: [{ type: 'fail', reason: 'history keeps answering with an epoch this stream left behind' }],
      after: { page: undefined },
    },
    { name: 'of the epoch streamed resets the count of reads of a past epoch', state: { epoch: E2, pastEpochs: [E1], staleReads: 2 }, page: page([]), epoch: undefined, actions: [], after: { staleReads: 0 } },
    {
      name: 'from a shared read issued before the feed joined puts the batches it missed before those it held',
      state: { sentSeq: 2, held: [batch(6, 6)], heldBytes: batch(6, 6).frames.length },
      page: page(entries(3, 4), { missed: [batch(4, 5)] }),
      epoch: E1,
      actions: [],
      after: { held: [batch(4, 5), batch(6, 6)], heldBytes: batch(4, 5).frames.length + batch(6, 6).frames.length },
    },
  ])('$name', ({ state: fields, page: answered, epoch, actions, after }) => {
    const state = replaying(fields);
    expect(takePage(state, answered, epoch)).toEqual(actions);
    expect(state).toMatchObject(after);
  });

  test.each([
    { name: 'the new one: history_lost, then the new history from seq 1', storeEpoch: E2, actions: [FORGET, historyLost], after: { epoch: E2, pastEpochs: [E1], sentSeq: 0 } },
    { name: 'the one streamed (the page was an old one, cached): read again', storeEpoch: E1, actions: [], after: { epoch: E1, sentSeq: 4 } },
  ])('of an epoch not seen yet, when the store answers with $name', ({ storeEpoch, actions, after }) => {
    const state = replaying({ sentSeq: 4 });
    takePage(state, page(entries(5, 6, { epoch: E2 })), E2);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
    expect(takeStoreEpoch(state, storeEpoch)).toEqual(actions);
    expect(state).toMatchObject(after);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: after.sentSeq, fresh: false });
  });

  test('with a hole: what precedes it is replayed, then the read after it tells the gap before the rest', () => {
    const state = replaying({ sentSeq: 2 });
    takePage(state, page([...entries(3, 5), ...entries(9, 10)]), E1);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toMatchObject({ type: 'replay', from: 0, to: 3 });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'wait-for-drain' });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 5, fresh: false });
    expect(takePage(state, page(entries(9, 10)), E1)).toEqual([historyTrimmed(9)]);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toMatchObject({ type: 'replay', from: 0, to: 2 });
    expect(state.sentSeq).toBe(10);
  });

  test('is ignored once the feed stopped', () => {
    const state = replaying();
    stopFeed(state);
    expect(takePage(state, page(entries(1, 2)), E1)).toEqual([]);
    expect(state.page).toBeUndefined();
  });
});

describe('replaying a page in runs that fit the room', () => {
  function replayAll(state: FeedState, room: ReplayRoom): CatchUpStep[] {
    const steps: CatchUpStep[] = [];
    for (let step = nextCatchUpStep(state, room); step.type === 'replay'; step = nextCatchUpStep(state, room)) steps.push(step);
    return steps;
  }
  const run = (from: number, to: number, completes = false) => ({ type: 'replay', from, to, completes });

  test.each([
    { name: 'room for all of it: one run', rooms: [1000], runs: [run(0, 5)], sentSeq: 5, readAgain: false },
    { name: 'room for two frames at a time: runs of two', rooms: [25], runs: [run(0, 2), run(2, 4), run(4, 5)], sentSeq: 5, readAgain: false },
    { name: 'room for less than a frame: still a frame a run', rooms: [3], runs: [run(0, 1), run(1, 2), run(2, 3), run(3, 4), run(4, 5)], sentSeq: 5, readAgain: false },
    { name: 'room runs out: cut short, the rest read again after the drain', rooms: [25, 20, 0], runs: [run(0, 2), run(2, 4)], sentSeq: 4, readAgain: true },
    { name: 'no room at all: nothing written, all of it read again', rooms: [0], runs: [], sentSeq: 0, readAgain: true },
  ])('$name', ({ rooms, runs, sentSeq, readAgain }) => {
    const state = feedState({ phase: 'replaying' });
    takePage(state, page(entries(1, 5)), E1);
    const room = roomOf(rooms);
    expect(replayAll(state, room)).toMatchObject(runs);
    expect(state.sentSeq).toBe(sentSeq);
    // replayAll stopped at the drain: the page is done with either way.
    expect(state.page).toBeUndefined();
    expect(nextCatchUpStep(state, room)).toEqual(readAgain ? { type: 'read-history', afterSeq: sentSeq, fresh: false } : { type: 'go-live', held: [] });
  });

  test('a run ending with the terminal event completes the feed', () => {
    const state = feedState({ phase: 'replaying' });
    takePage(state, page(entries(1, 3, { terminalLast: true })), E1);
    expect(nextCatchUpStep(state, roomOf([25]))).toMatchObject(run(0, 2));
    expect(nextCatchUpStep(state, roomOf([25]))).toMatchObject(run(2, 3, true));
  });

  test('an empty page waits for the drain, then goes live', () => {
    const state = feedState({ phase: 'replaying' });
    takePage(state, page([]), undefined);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'wait-for-drain' });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toMatchObject({ type: 'go-live' });
  });
});

describe('the catch-up', () => {
  test('verifies the epoch, then reads, then goes live with what it held', () => {
    const state = feedState({ phase: 'live', sentSeq: 2 });
    takeRecovery(state);
    takeLiveBatch(state, batch(3, 4));
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'verify-epoch' });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 2, fresh: false });
    takePage(state, page(entries(3, 3)), E1);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toMatchObject({ type: 'replay', from: 0, to: 1 });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'wait-for-drain' });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'go-live', held: [batch(3, 4)] });
    expect(state).toMatchObject({ phase: 'live', held: [], heldBytes: 0 });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'done' });
  });

  test('reads again when held batches overflowed during a read, with a read issued after they were dropped', () => {
    const state = feedState({ phase: 'replaying', mustReadHistory: true, maxHeldBytes: 1 });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 0, fresh: false });
    takeLiveBatch(state, batch(1, 1));
    takePage(state, page([]), undefined);
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'wait-for-drain' });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 0, fresh: true });
  });

  test('going live skips by seq what history already gave, and reads again, afresh, for what is missing', () => {
    const state = feedState({ phase: 'replaying', sentSeq: 4 });
    const held = [batch(1, 3), batch(3, 5), batch(6, 6), batch(8, 9), batch(10, 10)];
    for (const taken of held) takeLiveBatch(state, taken);
    const step = nextCatchUpStep(state, AMPLE_ROOM);
    expect(step).toEqual({ type: 'go-live', held });
    expect(held.map((taken) => takeLiveBatch(state, taken))).toEqual([[], [deliver(2)], [deliver()], [CATCH_UP], []]);
    expect(state).toMatchObject({ phase: 'replaying', sentSeq: 6, held: [batch(8, 9), batch(10, 10)], mustReadHistory: true });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 6, fresh: true });
  });

  test('a read for the next page, or the rest of a page cut short, may be shared from before', () => {
    const state = feedState({ phase: 'replaying', mustReadHistory: true });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 0, fresh: false });
    takePage(state, page(entries(1, 2), { reachedEnd: false }), E1);
    expect(nextCatchUpStep(state, roomOf([5, 0]))).toMatchObject({ type: 'replay', from: 0, to: 1 });
    expect(nextCatchUpStep(state, roomOf([0]))).toEqual({ type: 'wait-for-drain' });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 1, fresh: false });
  });

  test('stopping drops what is held and ends it', () => {
    const state = feedState({ phase: 'replaying', held: [batch(1, 1)], heldBytes: 5 });
    expect(stopFeed(state)).toBe(true);
    expect(stopFeed(state)).toBe(false);
    expect(state).toMatchObject({ phase: 'stopped', held: [], heldBytes: 0 });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'done' });
  });
});

describe('a prefix (what ?tail= sends first: entries older than the position)', () => {
  const prefix = [entry(2), entry(5), entry(7)];
  const replayed = (step: CatchUpStep): number[] => (step.type === 'replay' ? step.entries.slice(step.from, step.to).map((e) => e.seq) : []);

  it('is replayed first, in seq order, without moving sentSeq; then history is read after the position', () => {
    const state = newFeedState(100, E1, MAX_HELD_BYTES, prefix);
    expect(startReplay(state)).toEqual([CATCH_UP]);
    const first = nextCatchUpStep(state, AMPLE_ROOM);
    expect(first).toMatchObject({ type: 'replay', completes: false });
    expect(replayed(first)).toEqual([2, 5, 7]);
    expect(state).toMatchObject({ sentSeq: 100, prefix: undefined });
    expect(nextCatchUpStep(state, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 100, fresh: false });
    expect(takePage(state, page(entries(101, 103)), E1)).toEqual([]);
    expect(replayed(nextCatchUpStep(state, AMPLE_ROOM))).toEqual([101, 102, 103]);
    expect(state.sentSeq).toBe(103);
  });

  it('keeps only entries at or before the position', () => {
    expect(newFeedState(5, E1, MAX_HELD_BYTES, prefix).prefix!.map((e) => e.seq)).toEqual([2, 5]);
    expect(newFeedState(1, E1, MAX_HELD_BYTES, prefix).prefix).toBeUndefined();
  });

  it('out of room waits for the drain and goes on where it stopped (it is not in the shared pages)', () => {
    const state = newFeedState(100, E1, MAX_HELD_BYTES, prefix);
    startReplay(state);
    const room = roomOf([10, 0, 25], 10);
    expect(replayed(nextCatchUpStep(state, room))).toEqual([2]);
    expect(nextCatchUpStep(state, room)).toEqual({ type: 'wait-for-drain' });
    expect(replayed(nextCatchUpStep(state, room))).toEqual([5, 7]);
    expect(nextCatchUpStep(state, room)).toMatchObject({ type: 'read-history', afterSeq: 100 });
  });

  it('comes after a gap due at the start, and live batches are held meanwhile', () => {
    const state = newFeedState(100, E1, MAX_HELD_BYTES, prefix);
    expect(startReplay(state, { reason: 'history_trimmed', firstAvailableSeq: 50 })).toEqual([historyTrimmed(50), CATCH_UP]);
    expect(takeLiveBatch(state, batch(101, 101))).toEqual([]);
    expect(state.held).toHaveLength(1);
    expect(replayed(nextCatchUpStep(state, AMPLE_ROOM))).toEqual([2, 5, 7]);
  });

  it('is dropped when the feed stops or the subject starts again', () => {
    const stopped = newFeedState(100, E1, MAX_HELD_BYTES, prefix);
    startReplay(stopped);
    stopFeed(stopped);
    expect(stopped.prefix).toBeUndefined();
    const restarted = newFeedState(100, E1, MAX_HELD_BYTES, prefix);
    startReplay(restarted);
    expect(takeStoreEpoch(restarted, E2)).toEqual([FORGET, historyLost]);
    expect(restarted.prefix).toBeUndefined();
    expect(nextCatchUpStep(restarted, AMPLE_ROOM)).toEqual({ type: 'read-history', afterSeq: 0, fresh: false });
  });
});
