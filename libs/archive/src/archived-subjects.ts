import { TenantSubject } from '@fanout/contracts';
import { archiveMember } from '@fanout/bus';
import { ArchivedSubject, decodeArchivedSubject } from './archived-subject';
import { ArchiveStore, ArchivedObjectTooLargeError } from './archive-store';

export const DEFAULT_ARCHIVE_CACHE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_ARCHIVE_MAX_OBJECT_BYTES = 16 * 1024 * 1024;
/** How long a kept object is served before it is read again. */
export const DEFAULT_ARCHIVE_CACHE_TTL_MS = 60_000;
/**
 * How long "no such object" is believed: requests for unknown subjects (a 404 flood) cost one GET
 * per subject per this, not one per request.
 */
export const DEFAULT_ARCHIVE_MISS_TTL_MS = 5_000;
/** Subjects found unarchived, or too large to read, that a process remembers at most (the oldest is forgotten first). */
export const MAX_REMEMBERED_MISSES = 10_000;

export interface ArchiveReadSettings {
  /** Bytes of archived objects a process keeps (least recently used out first). @default {@link DEFAULT_ARCHIVE_CACHE_BYTES} */
  cacheBytes: number;
  /** A larger object is refused unread (at most cacheBytes). @default {@link DEFAULT_ARCHIVE_MAX_OBJECT_BYTES} */
  maxObjectBytes: number;
  /** Also how long an object over maxObjectBytes is refused without another GET. @default {@link DEFAULT_ARCHIVE_CACHE_TTL_MS} */
  cacheTtlMs?: number;
  /** @default {@link DEFAULT_ARCHIVE_MISS_TTL_MS} */
  missTtlMs?: number;
}

/** What a GET found that is not an object to keep: none (null), or one too large to read. */
interface Verdict {
  at: number;
  tooLarge: ArchivedObjectTooLargeError | null;
}

interface Cached {
  subject: ArchivedSubject;
  bytes: number;
  loadedAt: number;
}

/**
 * Archived subjects as a process reads them: loaded whole (one GET), shared by every read of the
 * subject while in flight, and kept, bounded in bytes, so a replay's pages and the clients after it
 * read memory. An archived object changes only when its id is used again (a new history, archived
 * in turn over the old one): a kept object is read again after `cacheTtlMs`, and forgotten when
 * the store is seen to hold the subject again. A subject found unarchived is answered null without
 * a GET for `missTtlMs`, and one whose object is over `maxObjectBytes` is refused without a GET for
 * `cacheTtlMs` (at most {@link MAX_REMEMBERED_MISSES} of both), or until the store holds it.
 */
export class ArchivedSubjects {
  private readonly cache = new Map<string, Cached>();
  private readonly loading = new Map<string, Promise<ArchivedSubject | null>>();
  /** Subject → when its GET found no object, or one too large, oldest first. */
  private readonly verdicts = new Map<string, Verdict>();
  private cachedBytes = 0;

  constructor(
    private readonly store: Pick<ArchiveStore, 'get'>,
    private readonly settings: ArchiveReadSettings,
  ) {}

  get heldBytes(): number {
    return this.cachedBytes;
  }

  load(subject: TenantSubject): Promise<ArchivedSubject | null> {
    const key = archiveMember(subject);
    const verdict = this.verdicts.get(key);
    if (verdict !== undefined) {
      const believedMs = verdict.tooLarge ? (this.settings.cacheTtlMs ?? DEFAULT_ARCHIVE_CACHE_TTL_MS) : (this.settings.missTtlMs ?? DEFAULT_ARCHIVE_MISS_TTL_MS);
      if (Date.now() - verdict.at <= believedMs) return verdict.tooLarge ? Promise.reject(verdict.tooLarge) : Promise.resolve(null);
      this.verdicts.delete(key);
    }
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.loadedAt > (this.settings.cacheTtlMs ?? DEFAULT_ARCHIVE_CACHE_TTL_MS)) this.drop(key, cached);
    else if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return Promise.resolve(cached.subject);
    }
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.fetch(subject, key).finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }

  /** Drops what is kept of the subject (the store holds it again: a new history of the same id). */
  forget(subject: TenantSubject): void {
    const key = archiveMember(subject);
    this.verdicts.delete(key);
    const cached = this.cache.get(key);
    if (cached) this.drop(key, cached);
  }

  /** Subjects remembered as unarchived or too large (bounded by {@link MAX_REMEMBERED_MISSES}). */
  get rememberedMisses(): number {
    return this.verdicts.size;
  }

  private async fetch(subject: TenantSubject, key: string): Promise<ArchivedSubject | null> {
    let bytes: Buffer | null;
    try {
      bytes = await this.store.get(subject, this.settings.maxObjectBytes);
    } catch (error) {
      if (error instanceof ArchivedObjectTooLargeError) this.rememberVerdict(key, error);
      throw error;
    }
    if (!bytes) {
      this.rememberVerdict(key, null);
      return null;
    }
    const archived = decodeArchivedSubject(bytes, key);
    if (archived.tenant !== subject.tenant || archived.kind !== subject.kind || archived.id !== subject.id) {
      throw new Error(`the archived object of ${key} holds another subject`);
    }
    this.remember(key, { subject: archived, bytes: bytes.length, loadedAt: Date.now() });
    return archived;
  }

  private rememberVerdict(key: string, tooLarge: ArchivedObjectTooLargeError | null): void {
    this.verdicts.delete(key);
    this.verdicts.set(key, { at: Date.now(), tooLarge });
    if (this.verdicts.size > MAX_REMEMBERED_MISSES) this.verdicts.delete(this.verdicts.keys().next().value!);
  }

  private remember(key: string, entry: Cached): void {
    this.cache.set(key, entry);
    this.cachedBytes += entry.bytes;
    for (const [oldKey, old] of this.cache) {
      if (this.cachedBytes <= this.settings.cacheBytes) break;
      this.drop(oldKey, old);
    }
  }

  private drop(key: string, cached: Cached): void {
    this.cache.delete(key);
    this.cachedBytes -= cached.bytes;
  }
}
