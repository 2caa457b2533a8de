import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';

export const nowS = (): number => Math.floor(Date.now() / 1000);

export interface Hs256Claims {
  tenant: string;
  scope: string;
  /** Epoch seconds. */
  exp: number;
  /** Epoch seconds; omitted when undefined. */
  iat?: number;
  /** The token id and subject (what a revocation may name); omitted when undefined. */
  jti?: string;
  sub?: string;
}

export function mintHs256(secret: string, claims: Hs256Claims): Promise<string> {
  const { exp, iat, ...rest } = claims;
  const jwt = new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp);
  if (iat !== undefined) jwt.setIssuedAt(iat);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** Signs claims given as JSON text, for claims jose will not write (an `exp` of 1e400 parses as Infinity). */
export function signHs256ClaimsText(secret: string, claimsJson: string): string {
  const part = (text: string) => Buffer.from(text).toString('base64url');
  const signingInput = `${part(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${part(claimsJson)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** The token and the parts of it that must never be logged on their own: its claims and its signature. */
export function secretPartsOf(token: string): string[] {
  const [, claims, signature] = token.split('.');
  return [token, ...[claims, signature].filter((part): part is string => part !== undefined && part.length > 10)];
}
