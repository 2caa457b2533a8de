import { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE } from '@fanout/contracts';

/**
 * Answers a request the HTTP parser refused before any route ran (a server's 'clientError'): every
 * error answer is problem+json, this one too, and the connection closes.
 */
export function answerMalformedRequest(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const body = JSON.stringify({
    title: tooLarge ? 'Request Header Fields Too Large' : 'Bad Request',
    status: tooLarge ? 431 : 400,
    detail: tooLarge ? 'the request headers are over the size limit' : 'the request is not valid HTTP/1.1',
  });
  const statusLine = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${statusLine}\r\nConnection: close\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
