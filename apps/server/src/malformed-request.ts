import { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE } from '@fanout/contracts';

interface Refusal {
  status: number;
  title: string;
  detail: string;
}

/** What Node's own 'clientError' answer would be, in problem+json: 431, 408 or 400. */
function refusalOf(error: NodeJS.ErrnoException): Refusal {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, title: 'Request Header Fields Too Large', detail: 'the request headers are over the size limit' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, title: 'Request Timeout', detail: 'the request did not arrive whole in time (its headers within 10 s, its body with no pause of 15 s, all of it within 30 s)' };
    default:
      return { status: 400, title: 'Bad Request', detail: 'the request is not valid HTTP/1.x' };
  }
}

const REQUEST_TIMEOUT = Object.assign(new Error('the request did not arrive whole in time'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });

/**
 * A connection's timeout passed (server.ts sets it: the first request's, then each answer's
 * stall timeout). A request begun and not whole (headers cut short, or a body that stopped coming)
 * is answered 408, as Node answers the same request after its own headersTimeout and
 * requestTimeout; a connection that sent nothing, sits idle between requests, or stopped reading
 * an answer is closed.
 * @param requestBegun whether bytes of a request not yet dispatched arrived (before its headers ended)
 */
export function answerTimedOut(socket: Duplex, requestBegun: boolean): void {
  // null once an answer is done (a kept-alive socket), undefined before the first request.
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean; req?: { complete?: boolean } } | null })._httpMessage;
  const bodyStopped = answering != null && !answering.headersSent && answering.req?.complete === false;
  if (bodyStopped || (answering == null && requestBegun)) answerMalformedRequest(REQUEST_TIMEOUT, socket);
  else socket.destroy();
}

/**
 * Answers a request the HTTP parser refused, or that timed out, before its route answered (a
 * server's 'clientError'): every error answer is problem+json, this one too, and the connection
 * closes. Once an answer has begun on the socket, nothing more can be said on it: it is closed.
 */
export function answerMalformedRequest(error: NodeJS.ErrnoException, socket: Duplex): void {
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || socket.destroyed || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, title, detail } = refusalOf(error);
  const body = JSON.stringify({ title, status, detail });
  socket.end(`HTTP/1.1 ${status} ${title}\r\nConnection: close\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
