import { StreamOptions } from './types';

/**
 * The status the gateway answers to the stream `url` now, read from one fetch whose body is
 * dropped unread (a 200 opens a stream: it is aborted at once); undefined when nothing answers. A
 * browser's EventSource that gives up does not expose the status, which decides what comes next:
 * end (204), stop with an error (400, 404), renew the token (401, 403) or back off (429, 5xx).
 * Aborting `abort` gives up asking.
 */
export async function refusalStatus(
  url: string,
  options: Pick<StreamOptions, 'tenant' | 'withCredentials'>,
  abort: AbortController,
): Promise<number | undefined> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (options.tenant !== undefined) headers['X-Tenant'] = options.tenant;
  try {
    const response = await globalThis.fetch(url, {
      headers,
      cache: 'no-store',
      credentials: options.withCredentials ? 'include' : 'same-origin',
      signal: abort.signal,
    });
    // 0: an opaque answer, which tells nothing.
    return response.status || undefined;
  } catch {
    return undefined;
  } finally {
    abort.abort();
  }
}
