import { z } from 'zod';
import { HttpProblem } from '@fanout/http';

/** A route's query parsed by its schema, or a 400 problem with every error. */
export function parseQuery<T>(schema: z.ZodType<T>, query: unknown): T {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new HttpProblem(400, 'invalid query parameters', { errors });
}
