import { eventTypeOf, splitFrames } from '@fanout/bus';

/** The frames of `frames` whose event type is one of `types`, and how many: `frames` itself when all are. */
export function keepTypes(frames: Buffer, types: ReadonlySet<string>): { frames: Buffer; count: number } {
  const all = splitFrames(frames);
  const kept = all.filter((frame) => types.has(eventTypeOf(frame)));
  if (kept.length === all.length) return { frames, count: kept.length };
  return { frames: kept.length === 1 ? kept[0]! : Buffer.concat(kept), count: kept.length };
}
