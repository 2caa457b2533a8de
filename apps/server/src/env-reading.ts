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

/** A variable of the environment parsed by `schema`, or `fallback` when unset or empty; else a ConfigError naming it. */
export function read<T>(env: NodeJS.ProcessEnv, variable: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(variable, `${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(raw)})`);
  return parsed.data;
}
