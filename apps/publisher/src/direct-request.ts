import { IncomingMessage } from 'node:http';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

export const PUBLISH_PATH = '/api/v1/events';

const PLAIN_JSON = /^application\/json(?:\s*;\s*charset="?utf-?8"?)?\s*$/i;

/**
 * Whether a request is the common case of `POST /api/v1/events`, which the publisher answers
 * directly on node:http: the exact path, a JSON body in UTF-8, not encoded, of a declared length
 * within the limit. Anything else (another media type or charset, `Content-Encoding`, a chunked or
 * oversized body, a trailing slash) takes the Express route, which answers every such case.
 */
export function isDirectPublishRequest(req: IncomingMessage): boolean {
  if (req.method !== 'POST' || !req.url?.startsWith(PUBLISH_PATH)) return false;
  const rest = req.url.charAt(PUBLISH_PATH.length);
  if (rest !== '' && rest !== '?') return false;
  const { headers } = req;
  if (headers['transfer-encoding'] !== undefined) return false;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const length = headers['content-length'];
  if (length === undefined || !/^\d{1,9}$/.test(length) || Number(length) > MAX_REQUEST_BYTES) return false;
  return headers['content-type'] !== undefined && PLAIN_JSON.test(headers['content-type']);
}

/** The body of a request `isDirectPublishRequest` took; undefined when the client went away first. */
export function readDeclaredBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('aborted', () => resolve(undefined));
    req.once('error', () => resolve(undefined));
  });
}

/** An empty body is not JSON: refused with its own words (body-parser would read it as `{}`). */
export function refuseEmptyBody(body: Buffer): void {
  if (body.length === 0) throw new HttpProblem(400, 'the body is empty: it must be one event or {"events": [...]}');
}

/** The body as body-parser's JSON parser reads UTF-8 (a leading BOM dropped), once refuseEmptyBody passed it. */
export function parseJsonBody(body: Buffer): unknown {
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return JSON.parse(text);
}
