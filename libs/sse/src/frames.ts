/** Control frames carry no `id`, so they never move an EventSource's Last-Event-ID. */
export function controlFrame(event: string, data: unknown): Buffer {
  return Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/*
 * The frames below are written to many connections alike, so each is one shared Buffer (which a
 * compressed stream deflates once, see gzip-segments.ts). Callers must not modify them.
 */

let lastRetry: { ms: number; frame: Buffer } | undefined;

export function retryFrame(retryMs: number): Buffer {
  if (lastRetry?.ms !== retryMs) lastRetry = { ms: retryMs, frame: Buffer.from(`retry: ${retryMs}\n\n`) };
  return lastRetry.frame;
}

let lastHeartbeat: { at: number; frame: Buffer } | undefined;

/** Every connection swept at the same `now` gets the same Buffer. */
export function heartbeatFrame(now: Date = new Date()): Buffer {
  const at = now.getTime();
  if (lastHeartbeat?.at !== at) lastHeartbeat = { at, frame: controlFrame('heartbeat', { ts: now.toISOString() }) };
  return lastHeartbeat.frame;
}

/** `end` frames, one per reason (a handful). */
const endFrames = new Map<string, Buffer>();

export function endFrame(reason: string): Buffer {
  let frame = endFrames.get(reason);
  if (!frame) {
    frame = controlFrame('end', { reason });
    endFrames.set(reason, frame);
  }
  return frame;
}

export const SSE_HEADERS = {
  // Exactly as the contract names it; SSE is UTF-8 by definition.
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;
