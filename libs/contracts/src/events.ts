import * as z from 'zod';
import { SubjectKind, SubjectSchema, TenantSchema } from './subject';

export const MAX_EVENT_BYTES = 64 * 1024;
export const MAX_BATCH_EVENTS = 500;
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
export const MAX_NAME_CHARS = 256;
export const MAX_LOG_MESSAGE_BYTES = 8 * 1024;
export const MAX_PACK_STEPS = 1000;

const name = z.string().min(1).max(MAX_NAME_CHARS);
const optionalName = z.string().max(MAX_NAME_CHARS).optional();
const count = z.number().int().min(0);
/** Node's Buffer where there is one (the publisher's hot path); TextEncoder in browsers (@fanout/client). */
const utf8Bytes: (s: string) => number =
  typeof Buffer === 'function' ? (s) => Buffer.byteLength(s, 'utf8') : (s) => new TextEncoder().encode(s).byteLength;
const logMessage = z
  .string()
  .refine((s) => utf8Bytes(s) <= MAX_LOG_MESSAGE_BYTES, `must be at most ${MAX_LOG_MESSAGE_BYTES} bytes of UTF-8`)
  // For JSON Schema, which counts characters: a bound the byte limit implies, and the byte limit in words.
  .meta({ maxLength: MAX_LOG_MESSAGE_BYTES, description: `at most ${MAX_LOG_MESSAGE_BYTES} bytes of UTF-8` });

export const JOB_STATUSES = ['pending', 'scheduled', 'throttled', 'leased', 'running', 'succeeded', 'failed', 'canceled', 'timed_out'] as const;
export const PACK_RUN_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'canceled'] as const;
export const RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;
export const STEP_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'skipped'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export const JobStatusData = z.strictObject({
  status: z.enum(JOB_STATUSES),
  attempt: z.number().int().min(1).optional(),
  reason: optionalName,
  runId: z.string().min(1).max(MAX_NAME_CHARS).optional(),
  jobType: optionalName,
});
export const JobProgressData = z.strictObject({
  percent: z.number().min(0).max(100),
  // The contract bounds every `message` at 8 KiB of UTF-8 (names and reasons at 256 characters).
  message: logMessage.optional(),
});
export const PackRunStatusData = z.strictObject({
  status: z.enum(PACK_RUN_STATUSES),
  packName: optionalName,
  packVersion: optionalName,
  steps: z
    .array(z.strictObject({ index: z.number().int().min(0), name }))
    .max(MAX_PACK_STEPS)
    .optional(),
});
export const PackRunStepData = z.strictObject({
  stepIndex: z.number().int().min(0),
  stepName: name,
  status: z.enum(STEP_STATUSES),
  exitCode: z.number().int().optional(),
  durationMs: z.number().min(0).optional(),
});
export const PackRunLogData = z.strictObject({
  stepIndex: z.number().int().min(0),
  lineNo: z.number().int().min(1),
  stream: z.enum(['stdout', 'stderr']),
  level: z.enum(LOG_LEVELS).optional(),
  message: logMessage,
});
export const RunStatusData = z.strictObject({ status: z.enum(RUN_STATUSES) });
export const RunProgressData = z.strictObject({
  total: count,
  pending: count,
  running: count,
  succeeded: count,
  failed: count,
  canceled: count,
});

/** Every event type, the subject kind it belongs to, and its `data` schema. */
export const EVENT_TYPES = {
  'job.status': { kind: 'job', data: JobStatusData },
  'job.progress': { kind: 'job', data: JobProgressData },
  'pack_run.status': { kind: 'pack-run', data: PackRunStatusData },
  'pack_run.step': { kind: 'pack-run', data: PackRunStepData },
  'pack_run.log': { kind: 'pack-run', data: PackRunLogData },
  'run.status': { kind: 'run', data: RunStatusData },
  'run.progress': { kind: 'run', data: RunProgressData },
} as const satisfies Record<string, { kind: SubjectKind; data: z.ZodType }>;
export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

/** Events a stream opened with `?conflate=progress` may skip when superseded by a later one of the same subject. */
export const CONFLATABLE_EVENT_TYPES = ['job.progress', 'run.progress'] as const satisfies readonly EventType[];

/** Status events move a subject's own state machine (not a step's). */
export const STATUS_EVENT_TYPES = ['job.status', 'pack_run.status', 'run.status'] as const satisfies readonly EventType[];
export function isStatusEventType(type: string): boolean {
  return (STATUS_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * A lone UTF-16 surrogate: JSON's `\ud800` escape, which is no text. Sent to Redis it becomes
 * U+FFFD, so two such eventIds would be taken for one.
 */
const LONE_SURROGATE = /\p{Cs}/u;

const envelopeFields = {
  eventId: z
    .string()
    .min(1)
    .max(128)
    .refine((id) => !LONE_SURROGATE.test(id), 'must be well-formed Unicode: no lone surrogate (\\ud800 to \\udfff)'),
  tenant: TenantSchema.describe("the subject's tenant; with FANOUT_AUTH=jwt a published event may omit it (the token's tenant claim is taken)"),
  subject: SubjectSchema,
  occurredAt: z.iso.datetime({ offset: true }),
  correlationId: z.string().min(1).max(128).optional(),
};

/**
 * The fields every event has, with `type` one of the event types and `data` not judged: what can be
 * said of an event whose `type` names no event type (its `data` has no schema to be judged by).
 * Any other field is unknown.
 */
export const EventEnvelopeSchema = z.strictObject({ ...envelopeFields, type: z.enum(EVENT_TYPE_NAMES as [EventType, ...EventType[]]), data: z.unknown().optional() });

function envelope<T extends EventType>(type: T) {
  // Typed per event type (indexing with a type parameter would give every type's data).
  const data: (typeof EVENT_TYPES)[T]['data'] = EVENT_TYPES[type].data;
  return z.strictObject({ ...envelopeFields, type: z.literal(type), data });
}

export const JobStatusEvent = envelope('job.status');
export const JobProgressEvent = envelope('job.progress');
export const PackRunStatusEvent = envelope('pack_run.status');
export const PackRunStepEvent = envelope('pack_run.step');
export const PackRunLogEvent = envelope('pack_run.log');
export const RunStatusEvent = envelope('run.status');
export const RunProgressEvent = envelope('run.progress');

/** An event as a producer publishes it. The subject's kind must be the one its type belongs to. */
export const PublishedEventSchema = z
  .discriminatedUnion('type', [
    JobStatusEvent,
    JobProgressEvent,
    PackRunStatusEvent,
    PackRunStepEvent,
    PackRunLogEvent,
    RunStatusEvent,
    RunProgressEvent,
  ])
  .superRefine((event, ctx) => {
    const expected = EVENT_TYPES[event.type].kind;
    if (event.subject.kind !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['subject', 'kind'],
        message: `events of type ${event.type} belong to subjects of kind ${expected}, not ${event.subject.kind}`,
      });
    }
  });
export type PublishedEvent = z.infer<typeof PublishedEventSchema>;

/** What a stream's `data:` line holds: the published event, defaults applied, plus its place in the subject. */
const streamedFields = { seq: z.number().int().min(1), publishedAt: z.iso.datetime() };
export const StreamedEventSchemas = {
  'job.status': JobStatusEvent.extend({
    ...streamedFields,
    data: JobStatusData.extend({ attempt: z.number().int().min(1) }),
  }),
  'job.progress': JobProgressEvent.extend(streamedFields),
  'pack_run.status': PackRunStatusEvent.extend(streamedFields),
  'pack_run.step': PackRunStepEvent.extend(streamedFields),
  'pack_run.log': PackRunLogEvent.extend(streamedFields),
  'run.status': RunStatusEvent.extend(streamedFields),
  'run.progress': RunProgressEvent.extend(streamedFields),
} as const satisfies Record<EventType, z.ZodType>;
export const StreamedEventSchema = z.discriminatedUnion('type', Object.values(StreamedEventSchemas) as never);
export type StreamedEvent = PublishedEvent & { seq: number; publishedAt: string };

/** `POST /api/v1/events` takes one event or `{"events": [...]}`. */
export const PublishBatchSchema = z.strictObject({ events: z.array(z.unknown()).min(1).max(MAX_BATCH_EVENTS) });
