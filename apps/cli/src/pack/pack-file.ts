import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MAX_NAME_CHARS, MAX_PACK_STEPS } from '@fanout/contracts';

/** `30s`, `5m`, `1h`, `250ms`, or a number of seconds. */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const Duration = z
  .union([z.number().positive(), z.string().regex(DURATION, 'a duration like 30s, 5m, 1h or 250ms')])
  .transform((value) => {
    if (typeof value === 'number') return value * 1000;
    const [, amount, unit] = DURATION.exec(value)!;
    return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  });
const Env = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.union([z.string(), z.number(), z.boolean()]).transform(String));
const Name = z.string().min(1).max(MAX_NAME_CHARS);

const StepSchema = z.strictObject({
  name: Name,
  /** A shell command (may span lines), run with `shell -c`. */
  run: z.string().min(1),
  timeout: Duration.optional(),
  env: Env.optional(),
  /** Relative to the pack's working directory. */
  workingDirectory: z.string().min(1).optional(),
});

export const PackSchema = z.strictObject({
  name: Name,
  version: z.union([z.string().min(1).max(MAX_NAME_CHARS), z.number()]).transform(String).optional(),
  description: z.string().optional(),
  /** The shell for every step (default `sh`). */
  shell: z.string().min(1).default('sh'),
  /** The default timeout of each step (default 10 minutes). */
  timeout: Duration.default(600_000),
  env: Env.default({}),
  /** Relative to the pack file's folder (default: that folder). */
  workingDirectory: z.string().min(1).optional(),
  steps: z.array(StepSchema).min(1).max(MAX_PACK_STEPS),
});

export interface PackStep {
  index: number;
  name: string;
  run: string;
  timeoutMs: number;
  env: Record<string, string>;
  cwd: string;
}

export interface Pack {
  name: string;
  version?: string;
  description?: string;
  shell: string;
  steps: PackStep[];
  file: string;
}

export class PackFileError extends Error {
  override name = 'PackFileError';
}

/** Parses a pack's YAML; relative working directories are resolved against the pack file's folder. */
export function parsePack(text: string, file: string): Pack {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new PackFileError(`${file}: not valid YAML: ${(error as Error).message}`);
  }
  const parsed = PackSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(pack)'}: ${issue.message}`);
    throw new PackFileError(`${file}: not a valid pack:\n${lines.join('\n')}`);
  }
  const pack = parsed.data;
  const root = resolve(dirname(file), pack.workingDirectory ?? '.');
  return {
    name: pack.name,
    version: pack.version,
    description: pack.description,
    shell: pack.shell,
    file,
    steps: pack.steps.map((step, index) => ({
      index,
      name: step.name,
      run: step.run,
      timeoutMs: step.timeout ?? pack.timeout,
      env: { ...pack.env, ...step.env },
      cwd: resolve(root, step.workingDirectory ?? '.'),
    })),
  };
}

export async function loadPack(file: string): Promise<Pack> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PackFileError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parsePack(text, resolve(file));
}
