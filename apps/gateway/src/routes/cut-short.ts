import { Response } from 'express';
import { Logger } from '@fanout/observability';

/**
 * Ends an answer whose body has begun when reading the rest of it failed: the connection is destroyed,
 * so the client sees an incomplete body (no last chunk), never a false end.
 */
export function cutShort(res: Response, logger: Logger, error: unknown, subjectId: string, reading: string): void {
  logger.warn({ err: (error as Error).message, subject: subjectId }, `reading ${reading} failed half way: its answer is cut short`);
  res.destroy();
}
