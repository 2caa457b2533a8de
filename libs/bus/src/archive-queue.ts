import { TenantSubject } from '@fanout/contracts';

/**
 * Finished subjects whose history must go to the archive, and the step that ends a subject's life in
 * the store once it is there. Claims carry a lease, so archivers in several processes never work one
 * subject at once, and a crashed one's subjects are claimed again when its lease runs out.
 */
export interface ArchiveQueue {
  /** Marks subjects pending; one already pending (or under a lease) keeps its time. */
  markPending(subjects: readonly TenantSubject[]): Promise<void>;
  /** Takes at most `limit` due subjects, each for `leaseMs`. */
  claim(leaseMs: number, limit: number): Promise<TenantSubject[]>;
  /**
   * The subject's history up to `lastSeq` of `epoch` is archived: its history goes (at once with
   * keepSeconds 0, else within keepSeconds), its meta stays marked archived until it expires (so
   * the finished subject is not started again), and it leaves the pending set.
   */
  finish(subject: TenantSubject, epoch: string, lastSeq: number, keepSeconds: number): Promise<void>;
  /** Leaves the pending set without archiving (the subject is gone from the store, or not finished). */
  drop(subject: TenantSubject): Promise<void>;
  pendingCount(): Promise<number>;
  /**
   * Walks every subject of the store and marks pending each finished one not yet archived: what
   * repairs a mark lost between an append and its write (a publisher that died in between).
   * Resolves with how many it marked.
   */
  repair(): Promise<number>;
}
