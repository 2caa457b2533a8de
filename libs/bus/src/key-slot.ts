import calculateSlot from 'cluster-key-slot';

/** Redis Cluster's hash slots: 0 to 16383. */
const SLOT_COUNT = 16384;

/**
 * Redis Cluster's hash slot of a key or shard channel, computed as ioredis routes commands. It differs
 * from Redis's only for a key holding an empty `{}` and a later `}`, which fanout's keys never hold
 * (tenants and subject ids have no braces).
 */
export function keySlot(key: string | Buffer): number {
  return calculateSlot(key);
}

let tagsBySlot: string[] | undefined;

/** A short hash tag (without braces) whose slot is `slot`: `{tag}` puts a key or channel on that slot. */
export function tagForSlot(slot: number): string {
  if (!tagsBySlot) {
    const tags = new Array<string>(SLOT_COUNT);
    let found = 0;
    for (let n = 0; found < SLOT_COUNT; n++) {
      const tag = n.toString(36);
      const s = keySlot(tag);
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    tagsBySlot = tags;
  }
  return tagsBySlot[slot]!;
}
