import * as z from 'zod';
import { SubjectSchema } from './subject';

export const END_REASONS = ['completed', 'idle_timeout', 'shutdown', 'token_expired', 'revoked'] as const;
export type EndReason = (typeof END_REASONS)[number];
export const GAP_REASONS = ['history_trimmed', 'history_lost'] as const;
export type GapReason = (typeof GAP_REASONS)[number];

export const HeartbeatFrameData = z.strictObject({ ts: z.iso.datetime() });
export const EndFrameData = z.strictObject({ reason: z.enum(END_REASONS) });
export const GapFrameData = z.strictObject({
  reason: z.enum(GAP_REASONS),
  firstAvailableSeq: z.number().int().min(1),
  subject: SubjectSchema.optional(),
});
/**
 * On a stream opened with `?conflate=progress`: the client fell behind, and the subject's progress
 * events from `firstSeq` to `lastSeq` (`skipped` of them) were not sent, superseded by the one that
 * follows this frame; every other event in that range was sent.
 */
export const ConflatedFrameData = z.strictObject({
  type: z.enum(['job.progress', 'run.progress']),
  skipped: z.number().int().min(1),
  firstSeq: z.number().int().min(1),
  lastSeq: z.number().int().min(1),
  subject: SubjectSchema.optional(),
});
export const SubjectUpdatedFrameData = z.strictObject({
  subject: SubjectSchema,
  status: z.string(),
  seq: z.number().int().min(1),
  updatedAt: z.iso.datetime(),
});
export type SubjectUpdate = z.infer<typeof SubjectUpdatedFrameData>;

/** Frames without an `id`: they never move an EventSource's Last-Event-ID. */
export const CONTROL_FRAMES = {
  heartbeat: HeartbeatFrameData,
  end: EndFrameData,
  gap: GapFrameData,
  conflated: ConflatedFrameData,
} as const;
export type ControlFrameName = keyof typeof CONTROL_FRAMES;
