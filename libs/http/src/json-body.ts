import express, { RequestHandler, Response } from 'express';
import { HttpProblem, sendProblem } from './problem';

type JsonOptions = NonNullable<Parameters<typeof express.json>[0]>;

/**
 * express.json within `limit` bytes of body as sent (before a Content-Encoding is undone, which
 * express.json bounds by `limit` too). body-parser reads an oversized body to its end before it
 * answers, to keep the connection; a client that never ends its body would keep it reading for
 * ever. Here a body declared over the limit, or one that passes it as it arrives, is answered 413
 * at once and its connection closed a moment later.
 */
export function jsonBodyWithin(limit: number, options: Omit<JsonOptions, 'limit'> = {}): RequestHandler {
  const parse = express.json({ ...options, limit });
  return (req, res, next) => {
    if (Number(req.headers['content-length']) > limit) return refuseOversized(res, limit);
    // body-parser has its reader on the request once `parse` returns, so counting takes no chunk from it.
    parse(req, res, next);
    let received = 0;
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received <= limit) return;
      req.off('data', count);
      refuseOversized(res, limit);
    };
    req.on('data', count);
  };
}

/**
 * How long a refused connection is still read (what arrives dropped) after its 413 before it is
 * closed: a close with unread data in the socket resets the connection, and a reset can reach the
 * client before it has read the 413.
 */
const LINGER_MS = 1000;

function refuseOversized(res: Response, limit: number): void {
  const socket = res.req.socket;
  if (res.headersSent) return void socket.destroy();
  // Not `Connection: close`: Node would close the socket the moment the answer is written.
  sendProblem(res, new HttpProblem(413, `the request body is over the limit of ${limit} bytes`));
  const close = (): void => void setTimeout(() => socket.destroy(), LINGER_MS).unref();
  if (res.writableFinished) close();
  else res.once('finish', close);
}
