import { HistoryEntry } from '@fanout/bus';

/** The last run of each history page joined: clients replaying the same run of a shared page get the same Buffer. */
const lastJoined = new WeakMap<readonly HistoryEntry[], { from: number; to: number; frames: Buffer }>();

/**
 * The frames of `entries[from, to)` as one Buffer. Pages are shared by the clients that replay them
 * (HistoryPages), so one Buffer, written to all of them, is also compressed once for all of them.
 */
export function joinedFrames(entries: readonly HistoryEntry[], from: number, to: number): Buffer {
  if (to - from === 1) return entries[from]!.frame;
  const last = lastJoined.get(entries);
  if (last?.from === from && last.to === to) return last.frames;
  const frames = Buffer.concat(entries.slice(from, to).map((entry) => entry.frame));
  lastJoined.set(entries, { from, to, frames });
  return frames;
}
