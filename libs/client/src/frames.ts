import {
  CONTROL_FRAMES,
  EVENT_TYPE_NAMES,
  EndReason,
  GapReason,
  StreamedEvent,
  StreamedEventSchemas,
  Subject,
} from '@fanout/contracts';
import { subjectKey } from './subjects';

/** What a stream carries once its frames are parsed and checked against the contract. */
export type StreamFrame =
  | { type: 'event'; id: string; event: StreamedEvent }
  | { type: 'gap'; subject: Subject; reason: GapReason; firstAvailableSeq: number }
  | { type: 'end'; reason: EndReason }
  | { type: 'heartbeat' };

/** The `event:` names a subscription listens for (an EventSource dispatches frames by name). */
export const FRAME_NAMES: readonly string[] = [...EVENT_TYPE_NAMES, 'gap', 'end', 'heartbeat'];

type Schema = { safeParse(value: unknown): { success: true; data: unknown } | { success: false; error: { message: string } } };
const EVENT_SCHEMAS = StreamedEventSchemas as unknown as Record<string, Schema>;
const CONTROL_SCHEMAS = CONTROL_FRAMES as unknown as Record<string, Schema>;

export class InvalidFrame extends Error {
  constructor(
    readonly frameName: string,
    readonly data: string,
    detail: string,
  ) {
    super(`invalid ${frameName} frame: ${detail}`);
  }
}

/**
 * Parses one frame of a stream of `subjects` and validates it with the contract's schemas.
 * Throws InvalidFrame for anything the contract does not allow (including an event of a subject
 * the subscription did not ask for).
 */
export function parseFrame(name: string, data: string, lastEventId: string, subjects: readonly Subject[]): StreamFrame {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new InvalidFrame(name, data, 'data is not JSON');
  }
  const eventSchema = EVENT_SCHEMAS[name];
  if (eventSchema) {
    const parsed = eventSchema.safeParse(json);
    if (!parsed.success) throw new InvalidFrame(name, data, parsed.error.message);
    const event = parsed.data as StreamedEvent;
    if (!subjects.some((s) => s.kind === event.subject.kind && s.id === event.subject.id)) {
      throw new InvalidFrame(name, data, `subject ${subjectKey(event.subject)} is not one of this subscription's`);
    }
    if (!lastEventId) throw new InvalidFrame(name, data, 'a domain event without an id');
    return { type: 'event', id: lastEventId, event };
  }
  const controlSchema = CONTROL_SCHEMAS[name];
  if (!controlSchema) throw new InvalidFrame(name, data, 'unknown frame name');
  const parsed = controlSchema.safeParse(json);
  if (!parsed.success) throw new InvalidFrame(name, data, parsed.error.message);
  if (name === 'end') return { type: 'end', reason: (parsed.data as { reason: EndReason }).reason };
  if (name === 'heartbeat') return { type: 'heartbeat' };
  const gap = parsed.data as { reason: GapReason; firstAvailableSeq: number; subject?: Subject };
  // A single-subject stream's gap names no subject: it is the one subject.
  const subject = gap.subject ?? (subjects.length === 1 ? subjects[0] : undefined);
  if (!subject || !subjects.some((s) => s.kind === subject.kind && s.id === subject.id)) {
    throw new InvalidFrame(name, data, 'a gap without one of the subscription’s subjects');
  }
  return { type: 'gap', subject: { kind: subject.kind, id: subject.id }, reason: gap.reason, firstAvailableSeq: gap.firstAvailableSeq };
}
