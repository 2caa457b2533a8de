import pino, { Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks in every log line: tokens never reach a log. */
const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'access_token',
  'query.access_token',
  'req.query.access_token',
  'token',
];

export function createLogger(options: { level: string; name: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

const TOKEN_IN_QUERY = /([?&]access_token=)[^&#]*/gi;

/** A request URL fit for a log line: the `access_token` query parameter's value is removed. */
export function redactUrl(url: string): string {
  return url.replace(TOKEN_IN_QUERY, '$1[redacted]');
}
