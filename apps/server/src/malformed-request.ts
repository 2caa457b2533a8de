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
      return { status: 408, title: 'Request Timeout', detail: 'the request did not arrive whole in time (headers within 10 s, the whole request within 30 s)' };
    default:
      return { status: 400, title: 'Bad Request', detail: 'the request is not valid HTTP/1.x' };
  }
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
