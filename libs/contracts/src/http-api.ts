import * as z from 'zod';
import { MAX_BATCH_EVENTS, PublishedEventSchema, StreamedEventSchema } from './events';
import { SUBJECT_KINDS, SubjectSchema } from './subject';

/** The most events one history page or subjects listing holds. */
export const MAX_PAGE_SIZE = 1000;

/** `GET /api/v1/{jobs|pack-runs|runs}/{id}/events` */
export const HistoryQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0).describe('return the events after this seq (0: from the first retained)'),
  before: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe('page backwards instead: the last `limit` retained events before this seq (any seq past the last event reads from the end); not with `after`'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100).describe('at most this many events'),
});
export const HistoryPageSchema = z.strictObject({
  events: z.array(StreamedEventSchema).describe('the events after `after` (or the last ones before `before`), in seq order, exactly as streamed'),
  next: z
    .number()
    .int()
    .min(1)
    .nullable()
    .describe(
      'after: the seq to pass as `after` for the next page, null when these reach the last event; before: the seq to pass as `before` for the page before (the first event\'s seq), null when these reach the first retained event',
    ),
});

/** `GET /api/v1/pack-runs/{id}/log` */
export const LogQuerySchema = z.object({
  step: z.coerce.number().int().min(0).optional().describe('only the lines of this step (its stepIndex)'),
  stream: z.enum(['stdout', 'stderr']).optional().describe('only the lines of this stream'),
  ansi: z.enum(['keep', 'strip']).default('keep').describe('keep the lines\' ANSI escape sequences (colours), or strip them'),
  download: z.enum(['0', '1']).default('0').describe('1: answer with Content-Disposition: attachment; filename="pack-run-<id>.log"'),
});

/** `GET /api/v1/subjects` */
export const SubjectsQuerySchema = z.object({
  kind: z.enum(SUBJECT_KINDS).optional().describe('only subjects of this kind'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50).describe('at most this many subjects'),
});
export const SubjectSummarySchema = z.strictObject({
  subject: SubjectSchema,
  status: z.string().describe("the subject's current status"),
  seq: z.number().int().min(1).describe("the subject's last seq: that of its latest event of any type"),
  updatedAt: z.iso.datetime().describe('when its latest event was stored'),
});
export const SubjectsListSchema = z.strictObject({
  subjects: z.array(SubjectSummarySchema).describe('most recently updated first'),
});

/** `POST /api/v1/events`: one event, or a batch. */
export const PublishRequestSchema = z.union([
  PublishedEventSchema,
  z.strictObject({ events: z.array(PublishedEventSchema).min(1).max(MAX_BATCH_EVENTS) }),
]);
export const StoredResultSchema = z.strictObject({
  eventId: z.string(),
  seq: z.number().int().min(1),
  duplicate: z.boolean().describe('true when this eventId was already stored for the subject: seq is the original one'),
});
export const RefusedResultSchema = z.strictObject({
  eventId: z.string(),
  error: z.string().describe('why this event was not stored'),
});
export const PublishAcceptedSchema = z.strictObject({ results: z.array(StoredResultSchema).describe('one per event, in order') });

/** RFC 9457 problem details, as every error answer carries them. */
export const ProblemSchema = z.looseObject({
  type: z.string().optional(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional().describe('validation errors, with dotted paths'),
});
/** The 409 of a publish: which events were stored and which were refused. */
export const PublishOverQuotaSchema = ProblemSchema.extend({
  results: z.array(z.union([StoredResultSchema, RefusedResultSchema])).describe('per event, in order: stored or refused (the subjects over the quota are refused whole)'),
});

export const PublishConflictSchema = ProblemSchema.extend({
  current: z.string().describe("the subject's (or step's) current status, or none"),
  requested: z.string(),
  results: z.array(z.union([StoredResultSchema, RefusedResultSchema])).describe('per event, in order: stored or refused'),
});

/** Query parameters of every stream route. */
/** The most events `?tail=` starts back from the end of a subject's history. */
export const MAX_STREAM_TAIL = 10_000;

export const StreamQuerySchema = z.object({
  lastEventId: z.string().optional().describe('the resume position when the Last-Event-ID header cannot be set (the header wins)'),
  tail: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_STREAM_TAIL)
    .optional()
    .describe(
      "without a resume position: start at the subject's last `tail` events (a pack run's latest status event and each step's latest step event are sent first, in seq order, with their own ids, when they are older than the tail); a resume position wins over it",
    ),
  types: z
    .string()
    .optional()
    .describe(
      'subject streams only: comma-separated event types (e.g. job.status,pack_run.step); only events of these types are sent. Ids and resume stay exact: a resumed filtered stream neither repeats nor misses a matching event, and the seqs it skips are not a gap. A subject whose terminal event is filtered out still ends the stream `completed`; resuming it once nothing retained after the position matches answers 204',
    ),
  conflate: z
    .literal('progress')
    .optional()
    .describe(
      'subject streams only: when the client falls behind (its unsent bytes pass FANOUT_CONFLATE_THRESHOLD_BYTES), job.progress and run.progress events not yet written are replaced by the latest one per subject, after a `conflated` frame saying what was skipped; status, step and log events are never dropped',
    ),
  access_token: z.string().optional().describe('the JWT, for EventSource, which cannot set headers'),
});
