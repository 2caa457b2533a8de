import { PublishedEvent } from '@fanout/contracts';
import { closeEventJson } from './stored-frame';

/**
 * An event split for the store: its JSON is `head + attempt + tail`, and the store closes it with
 * its seq and publishedAt (`closeEventJson`). Only `job.status` has an attempt slot: an omitted attempt is the
 * subject's current one, which only the atomic append knows.
 */
export interface PreparedEvent {
  eventId: string;
  type: string;
  status: string;
  attempt: string;
  stepIndex: string;
  head: string;
  tail: string;
}

export function prepareEvent(event: PublishedEvent): PreparedEvent {
  const { data, ...envelope } = event;
  const prefix = `${JSON.stringify(envelope).slice(0, -1)},"data":`;
  const status = 'status' in data ? data.status : '';
  const stepIndex = 'stepIndex' in data ? String(data.stepIndex) : '';
  if (event.type === 'job.status') {
    const { attempt, ...rest } = event.data as { attempt?: number };
    return {
      eventId: event.eventId,
      type: event.type,
      status,
      attempt: attempt === undefined ? '' : String(attempt),
      stepIndex,
      head: `${prefix}${JSON.stringify(rest).slice(0, -1)},"attempt":`,
      tail: '}',
    };
  }
  return { eventId: event.eventId, type: event.type, status, attempt: '', stepIndex, head: prefix + JSON.stringify(data), tail: '' };
}

/** The finished event JSON, once its seq and resolved attempt are known. */
export function finishEventJson(event: PreparedEvent, seq: number, attempt: number | undefined, publishedAt: string): string {
  const attemptText = event.type === 'job.status' ? String(attempt) : '';
  return `${event.head}${attemptText}${event.tail}${closeEventJson(seq, publishedAt)}`;
}
