/** Control frames carry no `id`, so they never move an EventSource's Last-Event-ID. */
export function controlFrame(event: string, data: unknown): Buffer {
  return Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export function retryFrame(retryMs: number): Buffer {
  return Buffer.from(`retry: ${retryMs}\n\n`);
}

export function heartbeatFrame(now: Date = new Date()): Buffer {
  return controlFrame('heartbeat', { ts: now.toISOString() });
}

export const SSE_HEADERS = {
  // Exactly as the contract names it; SSE is UTF-8 by definition.
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;
