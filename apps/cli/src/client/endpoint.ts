import { TENANT_PATTERN } from '@fanout/contracts';

/** Where a client command talks to, and as whom: from flags first, then the environment. */
export interface Endpoint {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8081`. */
  url: string;
  token?: string;
  /** Sent as `X-Tenant` (FANOUT_AUTH=none) and put on published events. */
  tenant: string;
}

export const DEFAULT_PUBLISHER_URL = 'http://127.0.0.1:8081';
export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:8080';
const DEFAULT_TENANT = 'default';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** The `tenant` claim of a JWT, read without verifying it (the server verifies; this only picks a default). */
export function tenantOfToken(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { tenant?: unknown };
    return typeof claims.tenant === 'string' ? claims.tenant : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `role` picks the default URL: the publisher (`FANOUT_PUBLISHER_URL`) for emit and run-pack, a gateway
 * (`FANOUT_GATEWAY_URL`) for tail; `FANOUT_URL` serves both (e.g. `fanout dev`, one port).
 */
export function resolveEndpoint(
  role: 'publisher' | 'gateway',
  flags: { url?: string; token?: string; tenant?: string },
  env: NodeJS.ProcessEnv,
): Endpoint {
  const specific = role === 'publisher' ? env['FANOUT_PUBLISHER_URL'] : env['FANOUT_GATEWAY_URL'];
  const raw = flags.url || specific || env['FANOUT_URL'] || (role === 'publisher' ? DEFAULT_PUBLISHER_URL : DEFAULT_GATEWAY_URL);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url: not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url: must be http(s), not ${url.protocol}`);
  const token = flags.token || env['FANOUT_TOKEN'] || undefined;
  const tenant = flags.tenant || env['FANOUT_TENANT'] || (token && tenantOfToken(token)) || DEFAULT_TENANT;
  if (!TENANT_PATTERN.test(tenant)) throw new UsageError(`--tenant (or FANOUT_TENANT): ${JSON.stringify(tenant)} is not a tenant id (it must match ${TENANT_PATTERN.source})`);
  return { url: url.toString().replace(/\/+$/, ''), token, tenant };
}

/** Authorization (with a token) and X-Tenant (read by servers with FANOUT_AUTH=none). */
export function authHeaders(endpoint: Endpoint): Record<string, string> {
  const headers: Record<string, string> = { 'X-Tenant': endpoint.tenant };
  if (endpoint.token) headers['Authorization'] = `Bearer ${endpoint.token}`;
  return headers;
}
