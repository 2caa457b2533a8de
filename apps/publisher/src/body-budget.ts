import { IncomingMessage } from 'node:http';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

export const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * Bytes of request bodies a publisher process reads and holds at once. A request reserves the bytes
 * its body may take (its declared length, else the most a body may be) before the body is read, and
 * gives them back once answered; one that does not fit is answered 503 at once and its body is not
 * kept. So many clients sending large bodies slowly hold at most this, not their sum.
 */
export class BodyBudget {
  private reserved = 0;

  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < MAX_REQUEST_BYTES) throw new RangeError(`the body budget must be at least one largest body (${MAX_REQUEST_BYTES} bytes), not ${maxBytes}`);
  }

  /** Reserves what the request's body may take, or throws a 503 when that does not fit now. Returns the bytes to release. */
  reserveFor(req: IncomingMessage): number {
    const bytes = bodyBytesAtMost(req);
    if (this.reserved + bytes > this.maxBytes) {
      throw new HttpProblem(503, `the publisher is reading as many request bodies as it may at once (FANOUT_MAX_BODY_BYTES_IN_FLIGHT = ${this.maxBytes} bytes); retry`, {}, { 'Retry-After': '1' });
    }
    this.reserved += bytes;
    return bytes;
  }

  release(bytes: number): void {
    this.reserved -= bytes;
  }
}

/** The declared length, within the most a body may be (a longer one is refused 413 as it is read); that most when none is declared. */
function bodyBytesAtMost(req: IncomingMessage): number {
  const declared = req.headers['content-length'];
  if (declared === undefined || !/^\d{1,15}$/.test(declared)) return MAX_REQUEST_BYTES;
  return Math.min(Number(declared), MAX_REQUEST_BYTES);
}
