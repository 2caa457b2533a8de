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
 * Connections of one process with no request in progress (FANOUT_MAX_IDLE_SOCKETS, each process's
 * own, as its open-file limit is). Each is closed within seconds anyway (server.ts), but a client
 * opening them faster than that would otherwise hold as many as it likes: the process's file
 * descriptors, and its probes with them. Well above the listen backlog (4096, server.ts): a process
 * accepts a whole backlog at once and reads the requests on its next turn, so a reconnecting herd's
 * sockets are idle together for a moment.
 */
export const DEFAULT_MAX_IDLE_SOCKETS = 10_000;

/**
 * How long a client may go on sending a body after its answer (what it sends is read and dropped,
 * so that its connection can serve the next request) before its connection is closed. Closing at
 * once would reset the connection while data still arrives, and a reset can reach the client before
 * the answer.
 */
const LINGER_MS = 5000;

function closeUnlessBodyEnds(req: IncomingMessage): void {
  setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, LINGER_MS).unref();
}

/**
 * What the connections of one server may hold besides time: answers they have not read, and idle
 * sockets in total. A connection is idle from when it is accepted until its first request, and
 * again once every answer it asked for is done (kept alive). Past `maxIdleSockets`, the one idle
 * longest is closed: a client that sends its request as it connects is never the one, and one that
 * opens sockets to hold them holds at most the limit.
 */
export class ConnectionBounds {
  private readonly unanswered = new WeakMap<Socket, number>();
  /** In the order they became idle: a Set keeps insertion order. */
  private readonly idle = new Set<Socket>();
  /** How many bytes an idle socket had read when it became idle. */
  private readonly readWhenIdle = new WeakMap<Socket, number>();
  /** Shared by every response and socket, so a connection holds no closure of its own. */
  private readonly answered: (this: ServerResponse) => void;
  private readonly forget: (this: Socket) => void;

  /** @param onIdleSocketClosed told each time the limit closes a socket */
  constructor(
    readonly maxIdleSockets: number,
    private readonly onIdleSocketClosed: () => void = () => undefined,
  ) {
    if (!Number.isInteger(maxIdleSockets) || maxIdleSockets < 1) throw new RangeError(`the idle socket limit must be an integer ≥ 1, not ${maxIdleSockets}`);
    const { idle, unanswered } = this;
    const becameIdle = (socket: Socket) => this.becameIdle(socket);
    /**
     * After an answer given before its request's body came whole (a 401 or a 404 of a POST), Node
     * reads the rest of the body to keep the connection, for as long as the client sends: a body
     * that has not ended a moment later closes the connection.
     */
    this.answered = function answered(this: ServerResponse): void {
      const socket = this.req.socket;
      const left = (unanswered.get(socket) ?? 1) - 1;
      unanswered.set(socket, left);
      if (!this.req.complete) closeUnlessBodyEnds(this.req);
      if (left === 0 && !socket.destroyed) becameIdle(socket);
    };
    this.forget = function forget(this: Socket): void {
      idle.delete(this);
    };
  }

  /** Whether an idle connection (new, or kept alive) has sent part of a request since it became idle. */
  beganRequestWhileIdle(socket: Socket): boolean {
    return this.idle.has(socket) && socket.bytesRead > (this.readWhenIdle.get(socket) ?? 0);
  }

  /** A connection just accepted: idle until its first request. */
  connected(socket: Socket): void {
    this.becameIdle(socket);
  }

  /**
   * Counts the request against its connection's unanswered ones; false (and the connection is
   * closed) when it is one too many.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const socket = req.socket;
    // A stream may be open for hours: it keeps no listener of the idle set's.
    if (this.idle.delete(socket)) socket.removeListener('close', this.forget);
    const count = (this.unanswered.get(socket) ?? 0) + 1;
    if (count > MAX_UNANSWERED_REQUESTS) {
      socket.destroy();
      return false;
    }
    this.unanswered.set(socket, count);
    res.once('close', this.answered);
    return true;
  }

  private becameIdle(socket: Socket): void {
    if (!this.idle.delete(socket)) socket.on('close', this.forget);
    this.idle.add(socket);
    this.readWhenIdle.set(socket, socket.bytesRead);
    if (this.idle.size <= this.maxIdleSockets) return;
    const longestIdle = this.idle.values().next().value as Socket;
    this.idle.delete(longestIdle);
    longestIdle.destroy();
    this.onIdleSocketClosed();
  }
}
