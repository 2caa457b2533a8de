import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/**
 * Requests one connection may have sent and not yet been answered (HTTP/1.1 pipelining). Node
 * dispatches every request of a chunk it has read, and builds each answer whole while it waits its
 * turn, so without a bound a few kilobytes of pipelined requests for history pages would hold their
 * answers' megabytes each. Browsers and the usual HTTP clients send one request at a time.
 */
export const MAX_UNANSWERED_REQUESTS = 8;

/**
 * How long an answer that is not a stream may go without the client taking any of it (or, before
 * that, without the request being answered at all) before its connection is closed: a client that
 * stopped reading must not keep an answer's bytes forever. Above the store's 5 s budget, so a slow
 * store still answers 503.
 */
export const RESPONSE_STALL_TIMEOUT_MS = 15_000;

/**
 * How long a client may go on sending a body after its answer (what it sends is read and dropped,
 * so that its connection can serve the next request) before its connection is closed. Closing at
 * once would reset the connection while data still arrives, and a reset can reach the client before
 * the answer.
 */
const LINGER_MS = 5000;

const unanswered = new WeakMap<Socket, number>();

function closeUnlessBodyEnds(req: IncomingMessage): void {
  setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, LINGER_MS).unref();
}

/**
 * Told when an answer is done. After an answer given before its request's body came whole (a 401 or
 * a 404 of a POST), Node reads the rest of the body to keep the connection, for as long as the
 * client sends: a body that has not ended a moment later closes the connection.
 */
function answered(this: ServerResponse): void {
  const socket = this.req.socket;
  unanswered.set(socket, (unanswered.get(socket) ?? 1) - 1);
  if (!this.req.complete) closeUnlessBodyEnds(this.req);
}

/**
 * Counts the request against its connection's unanswered ones; false (and the connection is closed)
 * when it is one too many.
 */
export function admitPipelined(req: IncomingMessage, res: ServerResponse): boolean {
  const socket = req.socket;
  const count = (unanswered.get(socket) ?? 0) + 1;
  if (count > MAX_UNANSWERED_REQUESTS) {
    socket.destroy();
    return false;
  }
  unanswered.set(socket, count);
  res.once('close', answered);
  return true;
}
