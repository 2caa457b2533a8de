import {
  CONFLATABLE_EVENT_TYPES,
  CONTROL_FRAMES,
  EVENT_TYPE_NAMES,
  EndReason,
  GapReason,
  StreamedEvent,
  StreamedEventSchemas,
  Subject,
  SubjectUpdate,
  SubjectUpdatedFrameData,
} from '@fanout/contracts';
import { subjectKey } from './subjects';

/** The frames every stream has besides its own: they end it or keep it alive. */
export type ControlFrame = { type: 'end'; reason: EndReason } | { type: 'heartbeat' };

/** What a stream of subjects carries once its frames are parsed and checked against the contract. */
export type StreamFrame =
  | { type: 'event'; id: string; event: StreamedEvent }
  | { type: 'gap'; subject: Subject; reason: GapReason; firstAvailableSeq: number }
  | ConflatedFrame
  | ControlFrame;

/** With `conflate: 'progress'`: the subject's progress events from firstSeq to lastSeq (`skipped` of them) were superseded and not sent. */
export type ConflatedFrame = { type: 'conflated'; subject: Subject; eventType: ConflatableType; skipped: number; firstSeq: number; lastSeq: number };
export type ConflatableType = (typeof CONFLATABLE_EVENT_TYPES)[number];

/** What the tenant's activity stream carries once parsed (its gaps are of the activity, not of a subject). */
export type ActivityFrame =
  | { type: 'update'; id: string; update: SubjectUpdate }
  | { type: 'gap'; reason: GapReason; firstAvailableSeq: number }
  | ControlFrame;

const CONTROL_FRAME_NAMES = ['gap', 'end', 'heartbeat'] as const;

/** The `event:` names a subscription listens for (an EventSource dispatches frames by name). */
export const FRAME_NAMES: readonly string[] = [...EVENT_TYPE_NAMES, ...CONTROL_FRAME_NAMES, 'conflated'];
/** The `event:` names of the activity stream. */
export const ACTIVITY_FRAME_NAMES: readonly string[] = ['subject.updated', ...CONTROL_FRAME_NAMES];

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

function validated(schema: Schema, name: string, data: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new InvalidFrame(name, data, 'data is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new InvalidFrame(name, data, parsed.error.message);
  return parsed.data;
}

type RawGap = { type: 'gap'; reason: GapReason; firstAvailableSeq: number; subject?: Subject };
type RawConflated = { type: 'conflated'; eventType: ConflatableType; skipped: number; firstSeq: number; lastSeq: number; subject?: Subject };

function parseControl(name: string, data: string): ControlFrame | RawGap | RawConflated {
  const schema = CONTROL_SCHEMAS[name];
  if (!schema) throw new InvalidFrame(name, data, 'unknown frame name');
  const parsed = validated(schema, name, data);
  if (name === 'end') return { type: 'end', reason: (parsed as { reason: EndReason }).reason };
  if (name === 'heartbeat') return { type: 'heartbeat' };
  if (name === 'conflated') {
    const { type, ...rest } = parsed as Omit<RawConflated, 'type' | 'eventType'> & { type: ConflatableType };
    return { type: 'conflated', eventType: type, ...rest };
  }
  return { type: 'gap', ...(parsed as Omit<RawGap, 'type'>) };
}

/** The one subject of a frame: the one it names, or the stream's only one; else it is not one of the subscription's. */
function subjectOfControl(name: string, data: string, named: Subject | undefined, subjects: readonly Subject[]): Subject {
  const subject = named ?? (subjects.length === 1 ? subjects[0] : undefined);
  if (!subject || !subjects.some((s) => s.kind === subject.kind && s.id === subject.id)) {
    throw new InvalidFrame(name, data, `a ${name} frame without one of the subscription’s subjects`);
  }
  return { kind: subject.kind, id: subject.id };
}

/**
 * Parses one frame of a stream of `subjects` and validates it with the contract's schemas.
 * Throws InvalidFrame for anything the contract does not allow (including an event of a subject
 * the subscription did not ask for).
 */
export function parseFrame(name: string, data: string, lastEventId: string, subjects: readonly Subject[]): StreamFrame {
  const eventSchema = EVENT_SCHEMAS[name];
  if (eventSchema) {
    const event = validated(eventSchema, name, data) as StreamedEvent;
    if (!subjects.some((s) => s.kind === event.subject.kind && s.id === event.subject.id)) {
      throw new InvalidFrame(name, data, `subject ${subjectKey(event.subject)} is not one of this subscription's`);
    }
    if (!lastEventId) throw new InvalidFrame(name, data, 'a domain event without an id');
    return { type: 'event', id: lastEventId, event };
  }
  const frame = parseControl(name, data);
  // A single-subject stream's gap and conflated frames name no subject: it is the one subject.
  if (frame.type === 'conflated') return { ...frame, subject: subjectOfControl(name, data, frame.subject, subjects) };
  if (frame.type !== 'gap') return frame;
  const subject = subjectOfControl(name, data, frame.subject, subjects);
  return { type: 'gap', subject, reason: frame.reason, firstAvailableSeq: frame.firstAvailableSeq };
}

/** Parses one frame of the activity stream and validates it with the contract's schemas; throws InvalidFrame. */
export function parseActivityFrame(name: string, data: string, lastEventId: string): ActivityFrame {
  if (name === 'subject.updated') {
    const update = validated(SubjectUpdatedFrameData, name, data) as SubjectUpdate;
    if (!lastEventId) throw new InvalidFrame(name, data, 'an update without an id');
    return { type: 'update', id: lastEventId, update };
  }
  const frame = parseControl(name, data);
  if (frame.type === 'conflated') throw new InvalidFrame(name, data, 'the activity stream is never conflated');
  if (frame.type !== 'gap') return frame;
  if (frame.subject) throw new InvalidFrame(name, data, 'a gap of the activity stream names no subject');
  return { type: 'gap', reason: frame.reason, firstAvailableSeq: frame.firstAvailableSeq };
}
