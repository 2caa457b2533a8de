import { z } from 'zod';
import {
  DEFAULT_ARCHIVE_CACHE_BYTES,
  DEFAULT_ARCHIVE_KEEP_SECONDS,
  DEFAULT_ARCHIVE_LEASE_MS,
  DEFAULT_ARCHIVE_MAX_OBJECT_BYTES,
  DEFAULT_ARCHIVE_POLL_MS,
  S3ArchiveSettings,
} from '@fanout/archive';
import { ConfigError, MAX_TIMER_MS, read, wholeNumber } from './env-reading';

/** The region when neither FANOUT_ARCHIVE_S3_REGION nor AWS_REGION is set (what S3-compatible servers accept). */
const DEFAULT_ARCHIVE_REGION = 'us-east-1';

/** The archive of finished subjects (object storage); credentials come from the AWS SDK's default chain. */
export interface ArchiveConfig {
  /** FANOUT_ARCHIVE_S3_BUCKET, FANOUT_ARCHIVE_S3_PREFIX, FANOUT_ARCHIVE_S3_ENDPOINT, FANOUT_ARCHIVE_S3_REGION (or AWS_REGION), FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE. */
  s3: S3ArchiveSettings;
  /** FANOUT_ARCHIVE_KEEP_S: seconds a subject's history stays in Redis once archived (its meta hash stays to its history TTL); 0 deletes it at once. @default {@link DEFAULT_ARCHIVE_KEEP_SECONDS} */
  keepSeconds: number;
  /** FANOUT_ARCHIVE_LEASE_MS: how long a publisher holds a subject it archives; a failed or crashed write is retried after it. @default {@link DEFAULT_ARCHIVE_LEASE_MS} */
  leaseMs: number;
  /** FANOUT_ARCHIVE_POLL_MS: how often a publisher looks for finished subjects. @default {@link DEFAULT_ARCHIVE_POLL_MS} */
  pollMs: number;
  /** FANOUT_ARCHIVE_CACHE_BYTES: archived objects a gateway keeps in memory. @default {@link DEFAULT_ARCHIVE_CACHE_BYTES} */
  cacheBytes: number;
  /** FANOUT_ARCHIVE_MAX_OBJECT_BYTES: the largest archived object a gateway reads (at most the cache). @default {@link DEFAULT_ARCHIVE_MAX_OBJECT_BYTES} */
  maxObjectBytes: number;
}

const ARCHIVE_SETTINGS = [
  'FANOUT_ARCHIVE_S3_PREFIX',
  'FANOUT_ARCHIVE_S3_ENDPOINT',
  'FANOUT_ARCHIVE_S3_REGION',
  'FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE',
  'FANOUT_ARCHIVE_KEEP_S',
  'FANOUT_ARCHIVE_LEASE_MS',
  'FANOUT_ARCHIVE_POLL_MS',
  'FANOUT_ARCHIVE_CACHE_BYTES',
  'FANOUT_ARCHIVE_MAX_OBJECT_BYTES',
] as const;

const positiveInt = wholeNumber(1);
const BUCKET = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)');
const PREFIX = z.string().max(512).regex(/^[^\s]*$/, 'must hold no spaces').refine((p) => !p.startsWith('/'), 'must not start with /');

/** The FANOUT_ARCHIVE_* settings, or undefined when FANOUT_ARCHIVE_S3_BUCKET is unset (and then none may be). */
export function readArchiveConfig(env: NodeJS.ProcessEnv): ArchiveConfig | undefined {
  const bucket = read<string | undefined>(env, 'FANOUT_ARCHIVE_S3_BUCKET', BUCKET, undefined);
  if (bucket === undefined) {
    const stray = ARCHIVE_SETTINGS.find((variable) => env[variable] !== undefined && env[variable] !== '');
    if (stray) throw new ConfigError(stray, 'is a setting of the archive: set FANOUT_ARCHIVE_S3_BUCKET too, which turns it on');
    return undefined;
  }
  const cacheBytes = read(env, 'FANOUT_ARCHIVE_CACHE_BYTES', positiveInt, DEFAULT_ARCHIVE_CACHE_BYTES);
  const maxObjectBytes = read(env, 'FANOUT_ARCHIVE_MAX_OBJECT_BYTES', positiveInt, Math.min(DEFAULT_ARCHIVE_MAX_OBJECT_BYTES, cacheBytes));
  if (maxObjectBytes > cacheBytes) throw new ConfigError('FANOUT_ARCHIVE_MAX_OBJECT_BYTES', `must be at most FANOUT_ARCHIVE_CACHE_BYTES (${cacheBytes}): a gateway keeps each object it reads`);
  const endpoint = read<string | undefined>(env, 'FANOUT_ARCHIVE_S3_ENDPOINT', z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }), undefined);
  const region = read(env, 'FANOUT_ARCHIVE_S3_REGION', z.string().regex(/^[a-z0-9-]+$/, 'must be a region name such as eu-west-1'), env.AWS_REGION || DEFAULT_ARCHIVE_REGION);
  const pathStyle = read(env, 'FANOUT_ARCHIVE_S3_FORCE_PATH_STYLE', z.enum(['true', 'false', '1', '0']), 'false');
  return {
    s3: { bucket, prefix: read(env, 'FANOUT_ARCHIVE_S3_PREFIX', PREFIX, ''), endpoint, region, forcePathStyle: pathStyle === 'true' || pathStyle === '1' },
    keepSeconds: read(env, 'FANOUT_ARCHIVE_KEEP_S', wholeNumber(0), DEFAULT_ARCHIVE_KEEP_SECONDS),
    leaseMs: read(env, 'FANOUT_ARCHIVE_LEASE_MS', wholeNumber(1000, MAX_TIMER_MS), DEFAULT_ARCHIVE_LEASE_MS),
    pollMs: read(env, 'FANOUT_ARCHIVE_POLL_MS', wholeNumber(10, MAX_TIMER_MS), DEFAULT_ARCHIVE_POLL_MS),
    cacheBytes,
    maxObjectBytes,
  };
}
