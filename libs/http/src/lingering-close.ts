import { IncomingMessage } from 'node:http';

/**
 * How long a client may go on sending a body after its answer (what it sends is read and dropped,
 * so its connection can serve the next request), before its connection is closed. Closing at once
 * would reset the connection while data still arrives, and a reset can reach the client before the
 * answer.
 */
export const LINGER_MS = 5000;

/** Closes the request's connection if its body is still arriving LINGER_MS from now. */
export function closeUnlessBodyEnds(req: IncomingMessage): void {
  setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, LINGER_MS).unref();
}
