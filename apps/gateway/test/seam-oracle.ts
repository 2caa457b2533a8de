/**
 * What a client must see of one subject: every seq once and in order within an epoch, or a gap that
 * accounts for what is missing (history_trimmed: those seqs were trimmed away; history_lost: the
 * epoch was lost, and the next frames are of a later one); nothing after the terminal event but
 * `completed`; replay written only within the connection's room (plus one frame).
 */
import { framesIn, frame } from './seam-fixtures';
import { LogItem, SimulatedStore } from './seam-world';

export interface StreamStart {
  /** The epoch of the client's position (the store's, for a client without one). */
  epoch: string;
  afterSeq: number;
}

export interface StreamOutcome {
  /** The epoch of the last frame the client got, or of its position. */
  epoch: string | undefined;
  /** The last seq the client has, or was told it will not get. */
  lastSeq: number;
  completed: boolean;
}

export function checkStream(log: readonly LogItem[], start: StreamStart, store: SimulatedStore): StreamOutcome {
  let epoch: string | undefined = start.epoch;
  /** The epoch of the client before a history_lost, while the next one is not known. */
  let lostEpoch: string | undefined;
  let lastSeq = start.afterSeq;
  /** A history_trimmed not yet checked, for want of an epoch: the highest seq it says is gone. */
  let trimmedUpTo: number | undefined;
  let terminalDelivered = false;
  let completed = false;

  log.forEach((item, index) => {
    const fail = (why: string): never => {
      throw new Error(`log[${index}] ${JSON.stringify({ ...item, frames: undefined })}: ${why}\n${describeLog(log)}`);
    };
    const checkTrimmed = (of: string): void => {
      if (trimmedUpTo !== undefined && (store.trimmedThrough.get(of) ?? 0) < trimmedUpTo) fail(`history_trimmed, but ${of} kept seq ${trimmedUpTo}`);
      trimmedUpTo = undefined;
    };
    if (completed) fail('written after completed');
    if (item.type === 'failed') return fail(`the stream failed: ${item.message}`);
    if (item.type === 'past-room') return fail(`a replay run of ${item.bytes} bytes written with ${item.room} bytes of room`);
    if (item.type === 'completed') {
      if (!terminalDelivered) fail('completed without the terminal event');
      completed = true;
      return;
    }
    if (terminalDelivered) fail('written after the terminal event');
    if (item.type === 'gap') {
      if (item.reason === 'history_lost') {
        if (epoch !== undefined) {
          if (store.epochs.indexOf(epoch) >= item.storeEpochs - 1) fail(`history_lost while the store still had epoch ${epoch}`);
          lostEpoch = epoch;
        }
        epoch = undefined;
        trimmedUpTo = undefined;
      } else {
        if (item.firstAvailableSeq <= lastSeq + 1) fail(`history_trimmed skips nothing (the client is at ${lastSeq})`);
        trimmedUpTo = item.firstAvailableSeq - 1;
        if (epoch !== undefined) checkTrimmed(epoch);
      }
      lastSeq = item.firstAvailableSeq - 1;
      return;
    }
    const ids = framesIn(item.frames);
    if (item.firstSeq !== lastSeq + 1) fail(`expected seq ${lastSeq + 1} first`);
    if (ids.length !== item.lastSeq - item.firstSeq + 1) fail(`${ids.length} frames for seqs ${item.firstSeq}..${item.lastSeq}`);
    const frameEpoch = ids[0]!.epoch;
    if (epoch === undefined) {
      if (store.epochs.indexOf(frameEpoch) <= store.epochs.indexOf(lostEpoch ?? start.epoch)) fail(`after history_lost, frames of epoch ${frameEpoch}, not a later one`);
      epoch = frameEpoch;
      if (trimmedUpTo !== undefined) checkTrimmed(epoch);
    }
    ids.forEach((id, i) => {
      if (id.epoch !== epoch || id.seq !== item.firstSeq + i) fail(`frame ${i} is ${id.epoch}-${id.seq}, expected ${epoch}-${item.firstSeq + i}`);
      if ((store.lastSeq.get(id.epoch) ?? 0) < id.seq) fail(`frame ${id.epoch}-${id.seq} was never published`);
    });
    if (!Buffer.concat(ids.map((id) => frame(id.epoch, id.seq))).equals(item.frames)) fail('the frames are not those stored');
    const terminalSeq = store.terminalSeq.get(epoch);
    if (terminalSeq !== undefined && terminalSeq >= item.firstSeq && terminalSeq <= item.lastSeq) {
      if (terminalSeq !== item.lastSeq) fail('frames after the terminal event');
      terminalDelivered = true;
    }
    lastSeq = item.lastSeq;
  });
  return { epoch, lastSeq, completed };
}

export function describeLog(log: readonly LogItem[]): string {
  return log
    .map((item) => {
      if (item.type === 'deliver') return `deliver ${framesIn(item.frames).map((id) => `${id.epoch.slice(-1)}:${id.seq}`).join(',')}${item.replayed ? ' (replay)' : ''}`;
      if (item.type === 'gap') return `gap ${item.reason} ${item.firstAvailableSeq}`;
      if (item.type === 'past-room') return `past the room: ${item.bytes} bytes, ${item.room} of room`;
      return item.type;
    })
    .join('\n');
}
