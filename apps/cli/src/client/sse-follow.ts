import { createParser } from 'eventsource-parser';
import { Problem } from '@fanout/contracts';
import { Endpoint, authHeaders } from './endpoint';
import { describeProblem } from './publish';

export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

export type FollowState =
  | { state: 'connecting'; url: string; lastEventId?: string }
  | { state: 'live'; url: string }
  | { state: 'reconnecting'; reason: string; delayMs: number }
  | { state: 'ended'; reason: string };

/** The gateway's own default `retry:`. */
const DEFAULT_FOLLOW_RETRY_MS = 2000;

export interface FollowOptions {
  endpoint: Endpoint;
  /** e.g. `/api/v1/stream/jobs/job-42` */
  path: string;
  lastEventId?: string;
  onFrame(frame: SseFrame): void;
  onState?(state: FollowState): void;
  signal?: AbortSignal;
  /** The reconnect delay until the server's `retry:` says otherwise. @default {@link DEFAULT_FOLLOW_RETRY_MS} */
  retryMs?: number;
}

/** How following ended: the subject completed (an `end` {completed} frame, or 204 on resume), or the caller aborted. */
export type FollowOutcome = 'completed' | 'aborted';

/** A refusal that reconnecting cannot fix (400, 401, 403, 404, …). */
export class StreamRefused extends Error {
  override name = 'StreamRefused';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BACKOFF_MS = 15_000;

/**
 * The wait before reconnecting after `failures` failures in a row: the server's `retry:` hint after
 * the first (each connection's hint is jittered by the gateway), then doubling up to 15 s, taken at
 * random in its upper half, so that many followers of a replica that went away do not come back in step.
 */
export function reconnectDelayMs(retryMs: number, failures: number, random: () => number = Math.random): number {
  if (failures <= 1) return retryMs;
  return Math.min(MAX_BACKOFF_MS, retryMs * 2 ** (failures - 1)) * (0.5 + random() / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows one SSE stream like an EventSource would, but to the end: it resumes with `Last-Event-ID`
 * after every drop (network error, a stream cut without `end`, `end` {shutdown | idle_timeout}),
 * waits the server's `retry:` hint (backing off with jitter after repeated failures, and `Retry-After` on 429/503),
 * and stops on `end` {completed} or a 204.
 */
export async function followStream(options: FollowOptions): Promise<FollowOutcome> {
  const { endpoint, signal } = options;
  const url = `${endpoint.url}${options.path}`;
  let lastEventId = options.lastEventId;
  let retryMs = options.retryMs ?? DEFAULT_FOLLOW_RETRY_MS;
  let failures = 0;

  while (!signal?.aborted) {
    options.onState?.({ state: 'connecting', url, lastEventId });
    let endReason: string | undefined;
    let dropReason: string;
    let waitMs: number | undefined;
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream', ...authHeaders(endpoint) };
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      const response = await fetch(url, { headers, signal });
      if (response.status === 204) {
        options.onState?.({ state: 'ended', reason: 'completed' });
        return 'completed';
      }
      if (response.status !== 200) {
        const text = await response.text();
        let problem: Problem | undefined;
        try {
          problem = JSON.parse(text) as Problem;
        } catch {
          problem = undefined;
        }
        const message = describeProblem(response.status, problem, text);
        if (response.status !== 429 && response.status < 500) throw new StreamRefused(response.status, message);
        const retryAfter = Number(response.headers.get('retry-after'));
        waitMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
        dropReason = message;
      } else {
        options.onState?.({ state: 'live', url });
        failures = 0;
        const parser = createParser({
          onEvent(message) {
            const frame: SseFrame = { event: message.event ?? 'message', data: message.data };
            if (message.id !== undefined) {
              frame.id = message.id;
              lastEventId = message.id;
            }
            if (frame.event === 'end') {
              try {
                endReason = (JSON.parse(frame.data) as { reason?: string }).reason ?? 'unknown';
              } catch {
                endReason = 'unknown';
              }
            }
            options.onFrame(frame);
          },
          onRetry(interval) {
            retryMs = interval;
          },
        });
        const decoder = new TextDecoder();
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
          if (endReason === 'completed') {
            await reader.cancel().catch(() => undefined);
            break;
          }
        }
        if (endReason === 'completed') {
          options.onState?.({ state: 'ended', reason: 'completed' });
          return 'completed';
        }
        dropReason = endReason ? `the server ended the stream (${endReason})` : 'the stream was cut';
        // `shutdown` means: this replica drains, reconnect (to another) now.
        if (endReason === 'shutdown') waitMs = 0;
      }
    } catch (error) {
      if (error instanceof StreamRefused) throw error;
      if (signal?.aborted) break;
      dropReason = `connection failed: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`;
    }
    failures += 1;
    const delayMs = waitMs ?? reconnectDelayMs(retryMs, failures);
    options.onState?.({ state: 'reconnecting', reason: dropReason, delayMs });
    await sleep(delayMs, signal);
  }
  return 'aborted';
}
