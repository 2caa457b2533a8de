import * as z from 'zod';
import { MAX_BATCH_EVENTS, PublishedEventSchema, StreamedEventSchema } from './events';
import { SUBJECT_KINDS, SubjectSchema } from './subject';

/** The most events one history page or subjects listing holds. */
export const MAX_PAGE_SIZE = 1000;

/** `GET /api/v1/{jobs|pack-runs|runs}/{id}/events` */
export const HistoryQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0).describe('return the events after this seq (0: from the first retained)'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100).describe('at most this many events'),
});
export const HistoryPageSchema = z.strictObject({
  events: z.array(StreamedEventSchema).describe('the events after `after`, in seq order, exactly as streamed'),
  next: z.number().int().min(1).nullable().describe('the seq to pass as `after` for the next page; null when these reach the last event'),
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
export const StreamQuerySchema = z.object({
  lastEventId: z.string().optional().describe('the resume position when the Last-Event-ID header cannot be set (the header wins)'),
  access_token: z.string().optional().describe('the JWT, for EventSource, which cannot set headers'),
});
