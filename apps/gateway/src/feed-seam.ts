import { HistoryEntry, LiveBatch } from '@fanout/bus';
import { HistoryPage } from './history-pages';
import { Gap } from './resume-position';

/**
 * The decisions of one feed's seam between replay and live (docs/architecture.md, rules 2 and 9):
 * given what the client was sent, what arrived live and what history answered, what to deliver,
 * which gap to tell, and whether history must be read (again) before going live. No I/O here:
 * `SubjectFeed` subscribes, reads and writes, and does what these functions answer.
 *
 * Each function updates the state it is given and answers what to do, so a live batch taken in
 * order allocates nothing.
 */

/**
 * `waiting`: subscribed, replay not started (live batches are ignored: the first history read is
 * issued after they were stored). `replaying`: history is read and written, live batches are held.
 */
export type FeedPhase = 'waiting' | 'replaying' | 'live' | 'stopped';

export interface FeedState {
  phase: FeedPhase;
  /** The last seq the client has, or was told by a gap that it will not get. */
  sentSeq: number;
  /** The history `sentSeq` belongs to (undefined: none yet; the first epoch seen is taken). */
  epoch: string | undefined;
  /** Epochs the subject had before the one streamed (the feed streamed them, or the store said so): frames of these are late. */
  pastEpochs: string[] | undefined;
  /** An epoch seen on frames, not yet known to be past or current: the store is asked which is current. */
  epochInQuestion: string | undefined;
  /** Live batches held while history is replayed, oldest first. */
  held: LiveBatch[];
  heldBytes: number;
  /** Held batches past this many bytes are dropped and history read again (the client buffer limit). */
  readonly maxHeldBytes: number;
  /** Something may be missing that only history has: read it (again) before going live. */
  mustReadHistory: boolean;
  /**
   * Until caught up, the end of the history is read afresh, not shared from an earlier read: held
   * batches were dropped, or a batch found missing, which an earlier read (and the replica's log of
   * live batches) may lack.
   */
  readFresh: boolean;
  /**
   * The first seq of the latest batch found out of order (0: none): the seqs before it were missing.
   * A batch from there on still out of order after a fresh read lost its history with its epoch.
   */
  missingBefore: number;
  /**
   * Ask the store for the subject's epoch before reading: the bus path came back after a loss, or
   * frames of an epoch not seen yet arrived (epochs are random: it may be a newer one or an older one).
   */
  mustVerifyEpoch: boolean;
  /** History reads in a row that answered with a past epoch. */
  staleReads: number;
  /**
   * The store gave seqs from this one on, in the epoch streamed, to other events than it had (it lost
   * its last events: takeReusedSeqs): a client that has any of them starts over at the next verify-epoch step.
   */
  reusedFrom: number | undefined;
  /** The page being written, from `pageNext` on; undefined between pages. */
  page: readonly HistoryEntry[] | undefined;
  pageNext: number;
  /**
   * Entries older than the position, sent before anything else (from `prefixNext` on): what a
   * stream started at `?tail=` sends first (a pack run's latest status and step events), with their
   * own ids. They do not move `sentSeq`: the replay after the position follows them.
   */
  prefix: readonly HistoryEntry[] | undefined;
  prefixNext: number;
}

/** Live batches held while replaying; past this many they are dropped and history read again. */
export const MAX_HELD_BATCHES = 1024;
/** Reads that still answer with a past epoch before the stream gives up (the client then resumes). */
export const MAX_STALE_READS = 3;

export type FeedAction =
  /** The live batch just taken, less its first `alreadySent` frames (the client has those). */
  | { readonly type: 'deliver-live'; readonly alreadySent: number }
  | { readonly type: 'gap'; readonly gap: Gap }
  /** The subject started again in the store: shared pages held of it are of the old epoch. */
  | { readonly type: 'forget-cached-history' }
  /** Run the catch-up steps (`nextCatchUpStep`) unless they are running already. */
  | { readonly type: 'catch-up' }
  /** The subject's terminal event was delivered: the feed is done. */
  | { readonly type: 'complete' }
  | { readonly type: 'fail'; readonly reason: string };

/** What the catch-up does next; each step's outcome is given back to the function named. */
export type CatchUpStep =
  /** Read the subject's epoch from the store, then `takeStoreEpoch`. */
  | { readonly type: 'verify-epoch' }
  /** Read the history page after `afterSeq` (`fresh`: its end from a read issued now, not one shared from before), then `takePage`. */
  | { readonly type: 'read-history'; readonly afterSeq: number; readonly fresh: boolean }
  /** Deliver `entries[from..to)` (a run that fits the connection's room); complete after it if `completes`. */
  | { readonly type: 'replay'; readonly entries: readonly HistoryEntry[]; readonly from: number; readonly to: number; readonly completes: boolean }
  /** Wait until the connection took what was written. */
  | { readonly type: 'wait-for-drain' }
  /** Caught up: give each of `held`, in order, to `takeLiveBatch` (it skips the seqs already sent). */
  | { readonly type: 'go-live'; readonly held: readonly LiveBatch[] }
  /** Nothing more to do: the feed is live or stopped. */
  | { readonly type: 'done' };

/** What replay asks of the connection: how much it may take now, and what a frame adds to it. */
export interface ReplayRoom {
  /** Bytes of replay the connection may take now (none at or below 0). */
  replayRoom(): number;
  writtenSize(frame: Buffer): number;
}

const NOTHING: readonly FeedAction[] = [];
const DELIVER_BATCH: readonly FeedAction[] = [{ type: 'deliver-live', alreadySent: 0 }];
const COMPLETE: FeedAction = { type: 'complete' };
const DELIVER_TERMINAL_BATCH: readonly FeedAction[] = [DELIVER_BATCH[0]!, COMPLETE];
const CATCH_UP: readonly FeedAction[] = [{ type: 'catch-up' }];
const FORGET_CACHED_HISTORY: readonly FeedAction[] = [{ type: 'forget-cached-history' }];
const VERIFY_EPOCH: CatchUpStep = { type: 'verify-epoch' };
const WAIT_FOR_DRAIN: CatchUpStep = { type: 'wait-for-drain' };
const DONE: CatchUpStep = { type: 'done' };

/** `prefix`: entries with seqs at or before `sentSeq`, oldest first, sent before the replay after it. */
export function newFeedState(sentSeq: number, epoch: string | undefined, maxHeldBytes: number, prefix?: readonly HistoryEntry[]): FeedState {
  const before = prefix?.filter((entry) => entry.seq <= sentSeq);
  return {
    phase: 'waiting',
    sentSeq,
    epoch,
    pastEpochs: undefined,
    epochInQuestion: undefined,
    held: [],
    heldBytes: 0,
    maxHeldBytes,
    mustReadHistory: false,
    readFresh: false,
    missingBefore: 0,
    mustVerifyEpoch: false,
    staleReads: 0,
    reusedFrom: undefined,
    page: undefined,
    pageNext: 0,
    prefix: before && before.length > 0 ? before : undefined,
    prefixNext: 0,
  };
}

/** The feed's turn to replay: the gap first if one is due, then catch up from history. */
export function startReplay(state: FeedState, gap?: Gap): readonly FeedAction[] {
  if (state.phase !== 'waiting') return NOTHING;
  const actions = beginCatchUp(state);
  return gap ? [gapAction(state, gap), ...actions] : actions;
}

export function stopFeed(state: FeedState): boolean {
  if (state.phase === 'stopped') return false;
  state.phase = 'stopped';
  dropHeld(state);
  state.page = undefined;
  state.prefix = undefined;
  return true;
}

/** A batch from the live path: held while replaying, delivered past what was sent when live. */
export function takeLiveBatch(state: FeedState, batch: LiveBatch): readonly FeedAction[] {
  if (state.phase === 'replaying') {
    hold(state, batch);
    return NOTHING;
  }
  if (state.phase === 'waiting') {
    // The first read has this batch, unless the subject started again: it would read past its seqs.
    if (isUnknownEpoch(state, batch.epoch)) questionEpoch(state, batch.epoch!);
    return NOTHING;
  }
  if (state.phase !== 'live') return NOTHING;
  const verdict = epochVerdict(state, batch.epoch);
  if (verdict === 'past') return NOTHING;
  if (verdict === 'unknown') {
    // A new epoch, or a late batch of one already gone. If the store has its epoch, the history
    // read from seq 1 has the batch.
    questionEpoch(state, batch.epoch!);
    return beginCatchUp(state);
  }
  if (batch.lastSeq <= state.sentSeq) return NOTHING;
  if (batch.firstSeq > state.sentSeq + 1) {
    // Found missing before, and a fresh read since did not have what precedes it: that went with its epoch.
    if (batch.firstSeq <= state.missingBefore) return NOTHING;
    // A batch went missing on the way, or a shared read answered from before it was stored: history has it.
    const actions = beginCatchUp(state);
    state.readFresh = true;
    state.missingBefore = batch.firstSeq;
    hold(state, batch);
    return actions;
  }
  const alreadySent = state.sentSeq + 1 - batch.firstSeq;
  state.sentSeq = batch.lastSeq;
  if (alreadySent === 0) return batch.terminal ? DELIVER_TERMINAL_BATCH : DELIVER_BATCH;
  const deliver: FeedAction = { type: 'deliver-live', alreadySent };
  return batch.terminal ? [deliver, COMPLETE] : [deliver];
}

/**
 * The bus path came back after a loss: batches published meanwhile never arrived, so history is
 * read for them; the store may also have lost the subject and started it again.
 */
export function takeRecovery(state: FeedState): readonly FeedAction[] {
  if (state.phase === 'stopped') return NOTHING;
  state.mustVerifyEpoch = true;
  if (state.phase === 'waiting') return NOTHING;
  return beginCatchUp(state);
}

/**
 * The next step of catching up. A `read-history` step counts as issued when answered here: what
 * asks for history to be read after this (a held batch overflowing, a recovery) reads it again.
 */
export function nextCatchUpStep(state: FeedState, room: ReplayRoom): CatchUpStep {
  if (state.phase !== 'replaying') return DONE;
  if (state.prefix) return nextPrefixRun(state, state.prefix, room);
  if (state.page) return nextReplayRun(state, state.page, room);
  if (state.mustVerifyEpoch) {
    state.mustVerifyEpoch = false;
    return VERIFY_EPOCH;
  }
  if (state.mustReadHistory) {
    state.mustReadHistory = false;
    return { type: 'read-history', afterSeq: state.sentSeq, fresh: state.readFresh };
  }
  const held = state.held;
  dropHeld(state);
  state.phase = 'live';
  state.readFresh = false;
  return { type: 'go-live', held };
}

/**
 * The subscription saw the store publish seqs from `firstSeq` on again, in the epoch streamed: it
 * lost its last events and gave their seqs to others (append-events.lua, lostTail, when the
 * publisher that stored them did not number the new ones). A client that has any of those seqs
 * holds other events under them: it is told history_lost and given the history again from its
 * start, after the store's epoch is read (between reads, so no page of before is taken after it).
 */
export function takeReusedSeqs(state: FeedState, firstSeq: number): readonly FeedAction[] {
  if (state.phase === 'stopped' || state.sentSeq < firstSeq) return NOTHING;
  state.reusedFrom = firstSeq;
  state.mustVerifyEpoch = true;
  return state.phase === 'live' ? beginCatchUp(state) : NOTHING;
}

/**
 * The store's epoch for the subject (undefined: it has none): another one than streamed means it
 * started again; the epoch in question, if not the store's, is a past one. The same one, when the
 * store reused seqs the client has (takeReusedSeqs), means starting again too.
 */
export function takeStoreEpoch(state: FeedState, storeEpoch: string | undefined): readonly FeedAction[] {
  const questioned = state.epochInQuestion;
  state.epochInQuestion = undefined;
  const reusedFrom = state.reusedFrom;
  state.reusedFrom = undefined;
  if (state.phase !== 'replaying' || storeEpoch === undefined || state.epoch === undefined) return NOTHING;
  if (questioned !== undefined && questioned !== storeEpoch) (state.pastEpochs ??= []).push(questioned);
  if (storeEpoch !== state.epoch) return startOver(state, storeEpoch);
  return reusedFrom !== undefined && state.sentSeq >= reusedFrom ? startOver(state, storeEpoch) : NOTHING;
}

/**
 * A history page after `sentSeq`, whose entries are of `epoch` (that of its first frame). A page of
 * an epoch not seen yet has the store asked for its current one; one of a past epoch (a shared page
 * from before the subject started again) is dropped and the store read itself.
 */
export function takePage(state: FeedState, page: HistoryPage, epoch: string | undefined): readonly FeedAction[] {
  if (state.phase !== 'replaying') return NOTHING;
  const verdict = epochVerdict(state, epoch);
  if (verdict === 'unknown') {
    // As with a live batch, a page of an epoch not seen yet may also be of a past one, still cached.
    questionEpoch(state, epoch!);
    state.mustReadHistory = true;
    return FORGET_CACHED_HISTORY;
  }
  if (verdict === 'past') {
    if (++state.staleReads > MAX_STALE_READS) return [{ type: 'fail', reason: 'history keeps answering with an epoch this stream left behind' }];
    state.mustReadHistory = true;
    return FORGET_CACHED_HISTORY;
  }
  state.staleReads = 0;
  // Batches received since a shared read issued before this feed joined come before those the feed
  // held itself (what overlaps is skipped by seq when going live).
  if (page.missed.length > 0) {
    state.held = [...page.missed, ...state.held];
    for (const batch of page.missed) state.heldBytes += batch.frames.length;
  }
  // A hole inside the page (seqs a store lost: append-events.lua, lostTail) ends the page there: the
  // rest is read again, and that read starts past the position, which tells the gap.
  const hole = holeIn(page.entries);
  if (!page.reachedEnd || hole < page.entries.length) state.mustReadHistory = true;
  state.page = hole < page.entries.length ? page.entries.slice(0, hole) : page.entries;
  state.pageNext = 0;
  const first = page.entries[0];
  return first && first.seq > state.sentSeq + 1 ? [gapAction(state, { reason: 'history_trimmed', firstAvailableSeq: first.seq })] : NOTHING;
}

/** The index of the first entry whose seq does not follow the one before it, else the length. */
function holeIn(entries: readonly HistoryEntry[]): number {
  for (let i = 1; i < entries.length; i += 1) if (entries[i]!.seq !== entries[i - 1]!.seq + 1) return i;
  return entries.length;
}

/**
 * The next run of the page that fits the connection's room (at least one frame, so the unsent bytes
 * stay within the limit plus one frame). Out of room, the rest of the page is read again (from the
 * shared pages) once the connection drained, rather than held here.
 */
function nextReplayRun(state: FeedState, entries: readonly HistoryEntry[], connection: ReplayRoom): CatchUpStep {
  const from = state.pageNext;
  let room = from < entries.length ? connection.replayRoom() : 0;
  if (room <= 0) {
    if (from < entries.length) state.mustReadHistory = true;
    state.page = undefined;
    return WAIT_FOR_DRAIN;
  }
  let to = from;
  do room -= connection.writtenSize(entries[to++]!.frame);
  while (to < entries.length && connection.writtenSize(entries[to]!.frame) <= room);
  const last = entries[to - 1]!;
  state.sentSeq = last.seq;
  state.pageNext = to;
  return { type: 'replay', entries, from, to, completes: last.terminal };
}

/**
 * The next run of the prefix that fits the connection's room (at least one frame). Out of room,
 * the prefix waits for the drain: it is not in the shared pages to be read again.
 */
function nextPrefixRun(state: FeedState, prefix: readonly HistoryEntry[], connection: ReplayRoom): CatchUpStep {
  const from = state.prefixNext;
  let room = connection.replayRoom();
  if (room <= 0) return WAIT_FOR_DRAIN;
  let to = from;
  do room -= connection.writtenSize(prefix[to++]!.frame);
  while (to < prefix.length && connection.writtenSize(prefix[to]!.frame) <= room);
  state.prefixNext = to;
  if (to === prefix.length) {
    state.prefix = undefined;
    state.prefixNext = 0;
  }
  return { type: 'replay', entries: prefix, from, to, completes: false };
}

/** Frames of the epoch streamed (the first one seen is taken), of a past one, or of one not seen yet. */
function epochVerdict(state: FeedState, epoch: string | undefined): 'same' | 'past' | 'unknown' {
  if (epoch === undefined || epoch === state.epoch) return 'same';
  if (state.epoch === undefined) {
    state.epoch = epoch;
    return 'same';
  }
  return state.pastEpochs?.includes(epoch) ? 'past' : 'unknown';
}

function isUnknownEpoch(state: FeedState, epoch: string | undefined): boolean {
  return epoch !== undefined && state.epoch !== undefined && epoch !== state.epoch && !state.pastEpochs?.includes(epoch);
}

/** Epochs are random: one not seen yet may be newer (the subject started again) or past. The store knows. */
function questionEpoch(state: FeedState, epoch: string): void {
  state.epochInQuestion = epoch;
  state.mustVerifyEpoch = true;
}

/** The subject's history was lost (and began again as `epoch`, or went on reusing seqs): say so, then stream it from its start. */
function startOver(state: FeedState, epoch: string): readonly FeedAction[] {
  if (state.epoch !== undefined && state.epoch !== epoch) (state.pastEpochs ??= []).push(state.epoch);
  state.epoch = epoch;
  state.sentSeq = 0;
  state.missingBefore = 0;
  state.prefix = undefined;
  return [FORGET_CACHED_HISTORY[0]!, { type: 'gap', gap: { reason: 'history_lost', firstAvailableSeq: 1 } }];
}

function beginCatchUp(state: FeedState): readonly FeedAction[] {
  state.phase = 'replaying';
  state.mustReadHistory = true;
  return CATCH_UP;
}

function gapAction(state: FeedState, gap: Gap): FeedAction {
  state.sentSeq = Math.max(state.sentSeq, gap.firstAvailableSeq - 1);
  return { type: 'gap', gap };
}

function hold(state: FeedState, batch: LiveBatch): void {
  if (state.held.length >= MAX_HELD_BATCHES || state.heldBytes + batch.frames.length > state.maxHeldBytes) {
    // A batch of an epoch not seen yet may be all that tells the subject started again.
    const unknown = state.held.find((held) => isUnknownEpoch(state, held.epoch));
    if (unknown) questionEpoch(state, unknown.epoch!);
    dropHeld(state);
    state.mustReadHistory = true;
    state.readFresh = true;
  }
  state.held.push(batch);
  state.heldBytes += batch.frames.length;
}

function dropHeld(state: FeedState): void {
  state.held = [];
  state.heldBytes = 0;
}
