import { TenantSubject } from '@fanout/contracts';
import { archiveMember } from '@fanout/bus';
import { ArchivedSubject, decodeArchivedSubject } from './archived-subject';
import { ArchiveStore } from './archive-store';

export const DEFAULT_ARCHIVE_CACHE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_ARCHIVE_MAX_OBJECT_BYTES = 16 * 1024 * 1024;

export interface ArchiveReadSettings {
  /** Bytes of archived objects a process keeps (least recently used out first). @default {@link DEFAULT_ARCHIVE_CACHE_BYTES} */
  cacheBytes: number;
  /** A larger object is refused unread (at most cacheBytes). @default {@link DEFAULT_ARCHIVE_MAX_OBJECT_BYTES} */
  maxObjectBytes: number;
}

interface Cached {
  subject: ArchivedSubject;
  bytes: number;
}

/**
 * Archived subjects as a process reads them: loaded whole (one GET), shared by every read of the
 * subject while in flight, and kept, bounded in bytes, so a replay's pages and the clients after it
 * read memory. An archived subject never changes, so what is kept never goes stale: only a subject
 * that started again in the store (which then answers before the archive is asked) replaces it, on
 * its own archiving.
 */
export class ArchivedSubjects {
  private readonly cache = new Map<string, Cached>();
  private readonly loading = new Map<string, Promise<ArchivedSubject | null>>();
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
    const cached = this.cache.get(key);
    if (cached) {
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

  private async fetch(subject: TenantSubject, key: string): Promise<ArchivedSubject | null> {
    const bytes = await this.store.get(subject, this.settings.maxObjectBytes);
    if (!bytes) return null;
    const archived = decodeArchivedSubject(bytes, key);
    if (archived.tenant !== subject.tenant || archived.kind !== subject.kind || archived.id !== subject.id) {
      throw new Error(`the archived object of ${key} holds another subject`);
    }
    this.remember(key, { subject: archived, bytes: bytes.length });
    return archived;
  }

  private remember(key: string, entry: Cached): void {
    this.cache.set(key, entry);
    this.cachedBytes += entry.bytes;
    for (const [oldKey, old] of this.cache) {
      if (this.cachedBytes <= this.settings.cacheBytes) break;
      this.cache.delete(oldKey);
      this.cachedBytes -= old.bytes;
    }
  }
}
