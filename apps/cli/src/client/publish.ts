import { randomUUID } from 'node:crypto';
import { MAX_BATCH_EVENTS, Problem } from '@fanout/contracts';
import { Endpoint, authHeaders } from './endpoint';

export interface OutgoingEvent {
  eventId: string;
  tenant: string;
  subject: { kind: string; id: string };
  type: string;
  occurredAt: string;
  correlationId?: string;
  data: Record<string, unknown>;
}

export type PublishResult = { eventId: string; seq: number; duplicate: boolean } | { eventId: string; error: string };

/** A publish the server refused (4xx/5xx), or one that never got an answer. */
export class PublishError extends Error {
  override name = 'PublishError';
  constructor(
    /** The HTTP status, or 0 when there was no answer. */
    readonly status: number,
    readonly problem: Problem | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** One line per problem: `409 Conflict: job j1: illegal transition …`, then each validation error. */
export function describeProblem(status: number, problem: Problem | undefined, body: string): string {
  if (!problem) return `${status}: ${body.slice(0, 500) || '(empty answer)'}`;
  const lines = [`${status} ${problem.title}: ${problem.detail}`];
  for (const error of problem.errors ?? []) lines.push(`  ${error.path || '(body)'}: ${error.message}`);
  return lines.join('\n');
}

/** Fills in what a producer may leave out: a fresh eventId, occurredAt now, the endpoint's tenant. */
export function completeEvent(raw: Record<string, unknown>, tenant: string): Record<string, unknown> {
  return {
    eventId: randomUUID(),
    occurredAt: new Date().toISOString(),
    tenant,
    ...raw,
  };
}

/** No retry. */
const DEFAULT_POST_RETRY_FOR_MS = 0;

export interface PostOptions {
  /** Keep retrying 503 answers and failed connections (same body, same eventIds: always safe) for this long. @default {@link DEFAULT_POST_RETRY_FOR_MS} */
  retryForMs?: number;
  /** Called before each retry (to say so on the terminal). */
  onRetry?: (reason: string) => void;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST /api/v1/events with up to 500 events; resolves with the per-event results of a 202. */
export async function postEvents(endpoint: Endpoint, events: readonly unknown[], options: PostOptions = {}): Promise<PublishResult[]> {
  if (events.length === 0) return [];
  if (events.length > MAX_BATCH_EVENTS) throw new Error(`at most ${MAX_BATCH_EVENTS} events per request, not ${events.length}`);
  const body = JSON.stringify(events.length === 1 ? events[0] : { events });
  const deadline = Date.now() + (options.retryForMs ?? DEFAULT_POST_RETRY_FOR_MS);
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(`${endpoint.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders(endpoint) },
        body,
        signal: options.signal,
      });
    } catch (error) {
      const reason = `no answer from ${endpoint.url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`;
      if (Date.now() < deadline && !options.signal?.aborted) {
        options.onRetry?.(reason);
        await sleep(Math.min(2000, 100 * 2 ** attempt));
        continue;
      }
      throw new PublishError(0, undefined, reason);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (response.status === 202) {
      const results = (json as { results?: PublishResult[] } | undefined)?.results;
      if (!Array.isArray(results)) throw new PublishError(202, undefined, `202 without results: ${text.slice(0, 200)}`);
      return results;
    }
    const problem = json && typeof json === 'object' && 'title' in json ? (json as Problem) : undefined;
    if (response.status === 503 && Date.now() < deadline) {
      options.onRetry?.(describeProblem(503, problem, text));
      await sleep(Math.min(2000, 100 * 2 ** attempt));
      continue;
    }
    throw new PublishError(response.status, problem, describeProblem(response.status, problem, text));
  }
}
