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
      // A `url` field is a request target, however a caller logged it.
      serializers: { url: (url: unknown) => (typeof url === 'string' || url instanceof URL ? redactUrl(String(url)) : url) },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/**
 * A query parameter whose name (as decoded) says it carries a credential. `access_token` is the one
 * auth reads; the others are blanked too, because a client that misspells it still sent a token.
 */
const CREDENTIAL_NAME = /token|jwt|auth|secret|password/i;
/** A JWT's header is JSON, so its base64url starts with `eyJ` (`{"`); a value like that is blanked wherever it is. */
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/;

/**
 * A request target fit for a log line. Each query parameter is judged by its name and value as the
 * auth code decodes them (URLSearchParams: percent-escapes and `+` decoded, split on `&` only, so a
 * `#` belongs to the value): `?access%5Ftoken=`, `?%61ccess_token=` and every repeat of a
 * parameter are blanked like `?access_token=`.
 */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return redactPath(url);
  return `${redactPath(url.slice(0, queryAt))}?${url.slice(queryAt + 1).split('&').map(redactParameter).join('&')}`;
}

/**
 * No route takes a token in the path, but a client may put one there (`/stream/jobs/<jwt>`, or a
 * `;access_token=` matrix parameter): a segment that holds a JWT, as sent or percent-decoded, or a
 * credential-named `;name=value`, is blanked.
 */
function redactPath(path: string): string {
  if (!path.includes('eyJ') && !path.includes('%') && !path.includes(';')) return path;
  return path
    .split('/')
    .map((segment) => (JWT_SHAPED.test(segment) || JWT_SHAPED.test(decoded(segment)) || CREDENTIAL_MATRIX.test(decoded(segment)) ? '[redacted]' : segment))
    .join('/');
}

const CREDENTIAL_MATRIX = /;[^;=]*(token|jwt|auth|secret|password)[^;=]*=/i;

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function redactParameter(raw: string): string {
  // One `name=value` piece parses as the whole query would parse it (a leading `?` included).
  const [name, value] = new URLSearchParams(raw).entries().next().value ?? ['', ''];
  if (JWT_SHAPED.test(name)) return '[redacted]';
  if (!CREDENTIAL_NAME.test(name) && !JWT_SHAPED.test(value)) return raw;
  const equals = raw.indexOf('=');
  return equals < 0 ? raw : `${raw.slice(0, equals)}=[redacted]`;
}
