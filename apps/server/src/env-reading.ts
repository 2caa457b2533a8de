import { z } from 'zod';

/** A configuration error names the variable; the CLI prints it as one line and exits non-zero. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** `env` as a reader sees it, and the names it has read so far. */
export function recordingReads(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; names: Set<string> } {
  const names = new Set<string>();
  const recorded = new Proxy(env, {
    get(target, name, receiver) {
      if (typeof name === 'string') names.add(name);
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
  return { env: recorded, names };
}

/**
 * A variable of the environment parsed by `schema`, or `fallback` when unset or empty; else a
 * ConfigError naming it, with the value as `show` writes it (one that may hold a secret hides it).
 */
export function read<T>(env: NodeJS.ProcessEnv, variable: string, schema: z.ZodType<T>, fallback: T, show: (raw: string) => string = JSON.stringify): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(variable, `${parsed.error.issues[0]?.message ?? 'invalid'} (got ${show(raw)})`);
  return parsed.data;
}

/** The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires at once, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A whole number in decimal digits from `min` to `max`: what `Number()` would also take ("0x10",
 * "1e3", "1.0", " ") is refused, not read as something else.
 */
export function wholeNumber(min: number, max: number = Number.MAX_SAFE_INTEGER): z.ZodType<number, string> {
  const expected = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d{1,16}$/, expected)
    .transform(Number)
    .refine((n) => n >= min && n <= max, expected);
}
