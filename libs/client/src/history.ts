import { StreamedEvent, Subject } from '@fanout/contracts';
import { SEGMENT_OF_KIND } from './subjects';

export interface HistoryOptions {
  /** The gateway's origin (and path prefix, if any); `''` for the page's own origin. */
  baseUrl: string;
  subject: Subject;
  /** A JWT with `stream:read` (sent as `Authorization: Bearer`). */
  token?: string;
  /** `X-Tenant` for a gateway with `FANOUT_AUTH=none`. */
  tenant?: string;
  /** Events after this seq (forwards). */
  after?: number;
  /** The last events before this seq (backwards; any seq past the subject's last reads from the end). Not with `after`. */
  before?: number;
  /** 1–1000. @default 100 (the server's) */
  limit?: number;
  fetch?: typeof globalThis.fetch;
}

export interface HistoryPage {
  /** In seq order, exactly as streamed. */
  events: StreamedEvent[];
  /** Forwards: the seq to pass as `after` next, null at the last event. Backwards: the seq to pass as `before` next, null at the first retained. */
  next: number | null;
}

/** A page failed: the gateway's status and its problem's detail. */
export class HistoryError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(`history answered ${status}: ${detail}`);
    this.name = 'HistoryError';
  }
}

/**
 * One page of a subject's retained events from `GET /api/v1/{jobs|pack-runs|runs}/{id}/events`:
 * forwards with `after`, or backwards with `before` (each page then ends just before the one after
 * it, so pages read with `before: page.next` until `next` is null give every event once, newest page first).
 */
export async function history(options: HistoryOptions): Promise<HistoryPage> {
  if (options.after !== undefined && options.before !== undefined) throw new TypeError('@fanout/client: history takes after or before, not both');
  const params = new URLSearchParams();
  if (options.after !== undefined) params.set('after', String(options.after));
  if (options.before !== undefined) params.set('before', String(options.before));
  if (options.limit !== undefined) params.set('limit', String(options.limit));
  const { kind, id } = options.subject;
  const query = params.toString();
  const url = `${options.baseUrl.replace(/\/+$/, '')}/api/v1/${SEGMENT_OF_KIND[kind]}/${encodeURIComponent(id)}/events${query ? `?${query}` : ''}`;
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.token) headers['Authorization'] = `Bearer ${options.token}`;
  if (options.tenant) headers['X-Tenant'] = options.tenant;
  const answer = await (options.fetch ?? globalThis.fetch)(url, { headers });
  const text = await answer.text();
  if (!answer.ok) {
    let detail = text.slice(0, 200);
    try {
      const parsed = (JSON.parse(text) as { detail?: unknown }).detail;
      if (typeof parsed === 'string') detail = parsed;
    } catch {
      // Not a problem document: its text is the detail.
    }
    throw new HistoryError(answer.status, detail);
  }
  return JSON.parse(text) as HistoryPage;
}
