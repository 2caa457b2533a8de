import { HttpProblem } from '@fanout/http';

const RETRY_AFTER_SECONDS = '5';

/** Open streams per replica and per tenant; past a limit a new stream is answered 429. */
export class ConnectionLimits {
  private total = 0;
  private readonly perTenant = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerTenant: number,
  ) {}

  /** Takes a slot for `tenant` or throws 429; `release(tenant)` gives it back. */
  acquire(tenant: string): void {
    const tenantCount = this.perTenant.get(tenant) ?? 0;
    if (this.total >= this.maxTotal) {
      throw new HttpProblem(429, `this replica holds its maximum of ${this.maxTotal} streams`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    if (tenantCount >= this.maxPerTenant) {
      throw new HttpProblem(429, `the tenant holds its maximum of ${this.maxPerTenant} streams on this replica`, {}, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    this.total += 1;
    this.perTenant.set(tenant, tenantCount + 1);
  }

  /** Gives back one slot `acquire(tenant)` took (call once per acquire). */
  release(tenant: string): void {
    const held = this.perTenant.get(tenant);
    if (held === undefined) return;
    this.total -= 1;
    if (held === 1) this.perTenant.delete(tenant);
    else this.perTenant.set(tenant, held - 1);
  }
}
