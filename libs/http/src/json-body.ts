import express, { RequestHandler, Response } from 'express';
import { HttpProblem, sendProblem } from './problem';
import { utf8TextOf, withUtf8Spelled } from './json-text';

type JsonOptions = NonNullable<Parameters<typeof express.json>[0]>;

/**
 * The most body bytes read (and dropped) for a request refused as too large. Up to this, a body
 * over the limit is read whole and then answered 413, as body-parser does and HTTP clients expect
 * (many read no answer before they have written their body); past it, the request is refused at
 * once, without reading on.
 */
export const MAX_DISCARDED_BODY_BYTES = 64 * 1024 * 1024;

/**
 * express.json within `limit` bytes of body (as body-parser counts them: decoded too, when a
 * Content-Encoding is undone). body-parser reads an oversized body to its end before it answers; a
 * client that never ends its body would keep it reading for ever. Here a body declared over
 * MAX_DISCARDED_BODY_BYTES, or one that passes it as it arrives, is answered 413 at once.
 * A body whose bytes are not text in its charset is a 400 (utf8TextOf); `options.verify` gets it
 * as UTF-8.
 */
export function jsonBodyWithin(limit: number, options: Omit<JsonOptions, 'limit'> = {}): RequestHandler {
  const { verify } = options;
  const parse = express.json({
    ...options,
    limit,
    verify: (req, res, body, charset) => {
      const utf8 = utf8TextOf(body, charset);
      verify?.(req, res, utf8, 'utf-8');
    },
  });
  return (req, res, next) => {
    if (Number(req.headers['content-length']) > MAX_DISCARDED_BODY_BYTES) return refuseOversized(res, limit);
    const contentType = req.headers['content-type'];
    if (contentType !== undefined) req.headers['content-type'] = withUtf8Spelled(contentType);
    // body-parser has its reader on the request once `parse` returns, so counting takes no chunk from it.
    parse(req, res, next);
    let received = 0;
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received <= MAX_DISCARDED_BODY_BYTES) return;
      req.off('data', count);
      refuseOversized(res, limit);
    };
    req.on('data', count);
  };
}

function refuseOversized(res: Response, limit: number): void {
  if (res.headersSent) return void res.req.socket.destroy();
  // Not `Connection: close`: Node would close the socket the moment the answer is written, and a
  // close while data still arrives resets the connection, which can reach the client before the 413.
  // The server closes a connection whose body still comes a while after its answer.
  sendProblem(res, new HttpProblem(413, `the request body is over the limit of ${limit} bytes`));
}
