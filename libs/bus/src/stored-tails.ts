/** Subjects (and activity streams) whose last stored seq a process remembers: those it appended to most recently. */
export const MAX_REMEMBERED_TAILS = 32_768;

/**
 * The last seq this process saw stored for each subject it appended to lately (and for each tenant's
 * activity stream it recorded to), with its epoch, as the scripts' `known` arguments. Should Redis lose the last events it stored and answered
 * (a restart from an older snapshot, a replica promoted before it had them), the next append of the
 * subject from this process tells the script, which numbers new events after what was lost rather
 * than give clients' seqs to other events (append-events.lua, lostTail). Bounded: the least recently
 * appended subjects are forgotten first.
 */
export class StoredTails {
  private readonly tails = new Map<string, string>();

  constructor(private readonly maxSubjects = MAX_REMEMBERED_TAILS) {}

  /** `key`: the subject's meta key. '' (none known), or `<epoch>:<seq>`. */
  knownOf(key: string): string {
    return this.tails.get(key) ?? '';
  }

  /**
   * The subject as an append left it. Within an epoch the highest seq seen is kept: an append that
   * stored nothing (a duplicate, a 409) on a store that lost events answers the lower seq it holds.
   */
  remember(key: string, epoch: string, lastSeq: number): void {
    const known = this.tails.get(key);
    const seen = known?.startsWith(`${epoch}:`) ? Number(known.slice(epoch.length + 1)) : 0;
    // Deleted first, so the Map's order is the order of the latest appends.
    this.tails.delete(key);
    this.tails.set(key, `${epoch}:${Math.max(seen, lastSeq)}`);
    if (this.tails.size > this.maxSubjects) this.tails.delete(this.tails.keys().next().value!);
  }

  get size(): number {
    return this.tails.size;
  }
}
