import { SseFrame, SseStream } from './sse-client';
import { Kind, TestEvent, makeEvent, uniqueId } from './stack';

/**
 * A sentinel: an event any open subject accepts (progress, or a log line of a step no test uses)
 * that changes no status; a test tells it from the events under test by its eventId. It takes the
 * subject's next seq like any event, so a test that goes on after it counts it.
 */
export function sentinelEvent(tenant: string, subject: { kind: Kind; id: string }): TestEvent {
  switch (subject.kind) {
    case 'job':
      return makeEvent(tenant, 'job', subject.id, 'job.progress', { percent: 0, message: 'sentinel' });
    case 'pack-run':
      return makeEvent(tenant, 'pack-run', subject.id, 'pack_run.log', { stepIndex: 999, lineNo: 1, stream: 'stdout', message: 'sentinel' });
    case 'run':
      return makeEvent(tenant, 'run', subject.id, 'run.progress', { total: 0, pending: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 });
  }
}

/**
 * A sentinel for a tenant's activity stream (which carries status changes only): the first status
 * of a subject of its own, which no test watches otherwise.
 */
export function activitySentinelEvent(tenant: string): TestEvent {
  return makeEvent(tenant, 'job', uniqueId('sentinel'), 'job.status', { status: 'pending' });
}

function matches(frame: SseFrame, sentinels: TestEvent[]): boolean {
  if (frame.id === undefined) return false;
  let data: { eventId?: string; subject?: { kind?: string; id?: string }; status?: string };
  try {
    data = JSON.parse(frame.data) as typeof data;
  } catch {
    return false;
  }
  return sentinels.some((e) =>
    data.eventId === undefined
      ? data.subject?.kind === e.subject.kind && data.subject.id === e.subject.id && e.type.endsWith('.status') // an activity update
      : data.eventId === e.eventId,
  );
}

/** `frames` without those of `events` (an activity update counts as its subject's first status event's). */
export function withoutEvents(frames: SseFrame[], events: TestEvent[]): SseFrame[] {
  return frames.filter((f) => !matches(f, events));
}

/**
 * Waits until each of `streams` has delivered every one of `events` (events already published, or
 * about to be). Returns a filter that leaves those events out of a list of frames.
 */
export async function untilDelivered(streams: SseStream | SseStream[], events: TestEvent[], timeoutMs = 15_000): Promise<(frames: SseFrame[]) => SseFrame[]> {
  const isOneOf = (f: SseFrame) => matches(f, events);
  await Promise.all([streams].flat().map((s) => s.waitForFrames((frames) => frames.filter(isOneOf).length >= events.length, timeoutMs)));
  return (frames) => withoutEvents(frames, events);
}

/**
 * Waits on a signal instead of a quiet window: publishes `sentinels` (one per subject the streams
 * watch, after everything under test) and waits until every stream has delivered every one. A
 * subject's events reach a stream in seq order, so once its sentinel is in, everything published on
 * it before has arrived, including a duplicate or an extra event that should not be there.
 * Returns a filter that leaves the sentinels out of a list of frames.
 */
export async function untilSentinels(
  streams: SseStream | SseStream[],
  publish: (events: TestEvent[]) => Promise<unknown>,
  sentinels: TestEvent[],
  timeoutMs = 15_000,
): Promise<(frames: SseFrame[]) => SseFrame[]> {
  await publish(sentinels);
  return untilDelivered(streams, sentinels, timeoutMs);
}
