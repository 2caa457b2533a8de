import { IncomingMessage } from 'node:http';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

export const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/** The share of the budget one tenant may hold, so that one tenant's bodies (sent slowly, or never) cannot stop every tenant's publishing. */
const TENANT_SHARE = 0.25;

/** What a request reserved: given back once it is answered. */
export interface BodyReservation {
  tenant: string | undefined;
  bytes: number;
}

/**
 * Bytes of request bodies a publisher process reads and holds at once. A request reserves the bytes
 * its body may take (its declared length, else the most a body may be) before the body is read, and
 * gives them back once answered; one that does not fit is answered 503 at once and its body is not
 * kept. So many clients sending large bodies slowly hold at most this, not their sum; and one tenant
 * (that its token names: without auth any client may name any tenant) at most a quarter of it (at
 * least one largest body).
 */
export class BodyBudget {
  private reserved = 0;
  private readonly byTenant = new Map<string, number>();
  readonly maxBytesPerTenant: number;

  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < MAX_REQUEST_BYTES) throw new RangeError(`the body budget must be at least one largest body (${MAX_REQUEST_BYTES} bytes), not ${maxBytes}`);
    this.maxBytesPerTenant = Math.max(Math.floor(maxBytes * TENANT_SHARE), MAX_REQUEST_BYTES);
  }

  /** Reserves what the request's body may take, or throws a 503 when that does not fit now. */
  reserveFor(req: IncomingMessage, tenant: string | undefined): BodyReservation {
    const bytes = bodyBytesAtMost(req);
    const tenantHeld = tenant === undefined ? 0 : (this.byTenant.get(tenant) ?? 0);
    if (tenant !== undefined && tenantHeld + bytes > this.maxBytesPerTenant) {
      throw new HttpProblem(503, `the publisher is reading as many request bodies for this tenant as it may at once (a quarter of FANOUT_MAX_BODY_BYTES_IN_FLIGHT = ${this.maxBytes} bytes); retry`, {}, { 'Retry-After': '1' });
    }
    if (this.reserved + bytes > this.maxBytes) {
      throw new HttpProblem(503, `the publisher is reading as many request bodies as it may at once (FANOUT_MAX_BODY_BYTES_IN_FLIGHT = ${this.maxBytes} bytes); retry`, {}, { 'Retry-After': '1' });
    }
    this.reserved += bytes;
    if (tenant !== undefined) this.byTenant.set(tenant, tenantHeld + bytes);
    return { tenant, bytes };
  }

  release(reservation: BodyReservation | undefined): void {
    if (!reservation) return;
    this.reserved -= reservation.bytes;
    if (reservation.tenant === undefined) return;
    const left = (this.byTenant.get(reservation.tenant) ?? 0) - reservation.bytes;
    if (left > 0) this.byTenant.set(reservation.tenant, left);
    else this.byTenant.delete(reservation.tenant);
  }
}

/** The declared length, within the most a body may be (a longer one is refused 413 as it is read); that most when none is declared. */
function bodyBytesAtMost(req: IncomingMessage): number {
  const declared = req.headers['content-length'];
  if (declared === undefined || !/^\d{1,15}$/.test(declared)) return MAX_REQUEST_BYTES;
  return Math.min(Number(declared), MAX_REQUEST_BYTES);
}
