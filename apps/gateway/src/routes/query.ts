import { z } from 'zod';
import { HttpProblem } from '@fanout/http';

/** A number in a query is decimal digits, as `?tail=` on the streams: not all that Number() takes (`0x10`, `1e2`, `+5`, or ` `, which it reads as 0). */
const DECIMAL_DIGITS = /^\d+$/;

function isNumberField(field: z.ZodType): boolean {
  let inner: z.ZodType = field;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault) inner = inner.unwrap() as z.ZodType;
  return inner instanceof z.ZodNumber;
}

/**
 * A route's query parsed by its schema, or a 400 problem with every error. An empty parameter
 * (`?limit=`) counts as none, as on the stream routes; one of the schema's given more than once is an
 * error of its own (others, such as a repeated `access_token`, are not the schema's to judge).
 */
export function parseQuery<S extends z.ZodObject>(schema: S, query: Record<string, unknown>): z.infer<S> {
  const given: Record<string, unknown> = {};
  const errors: { path: string; message: string }[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (!Object.hasOwn(schema.shape, name) || value === '') continue;
    if (Array.isArray(value)) errors.push({ path: name, message: 'given more than once: give it once' });
    else if (isNumberField(schema.shape[name] as z.ZodType) && !(typeof value === 'string' && DECIMAL_DIGITS.test(value))) {
      errors.push({ path: name, message: 'expected a whole number in decimal digits' });
    } else given[name] = value;
  }
  const parsed = schema.safeParse(given);
  if (parsed.success && errors.length === 0) return parsed.data;
  for (const issue of parsed.error?.issues ?? []) errors.push({ path: issue.path.join('.'), message: issue.message });
  throw new HttpProblem(400, 'invalid query parameters', { errors });
}
