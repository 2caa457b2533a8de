import * as z from 'zod';
import { TENANT_PATTERN } from './subject';

/** The furthest ahead a revocation may expire: past any sane token lifetime, and a bound on how long one is kept. */
export const MAX_REVOCATION_DAYS = 366;
const MAX_REVOCATION_MS = MAX_REVOCATION_DAYS * 24 * 3600 * 1000;
/** Token ids and subjects are bounded like every other string of the API. */
const MAX_CLAIM_LENGTH = 256;

const claim = (what: string) => z.string().min(1).max(MAX_CLAIM_LENGTH).describe(what);

/** `POST /api/v1/admin/revocations`: exactly one of jti, sub and tenant, and when the revocation expires. */
export const RevocationRequestSchema = z
  .strictObject({
    jti: claim("revoke the token with this `jti` claim").optional(),
    sub: claim("revoke every token with this `sub` claim, of any tenant").optional(),
    tenant: z.string().regex(TENANT_PATTERN).describe('revoke every token of this tenant').optional(),
    expiresAt: z.iso
      .datetime({ offset: true })
      .describe(`when the revocation lapses (ISO 8601, in the future, at most ${MAX_REVOCATION_DAYS} days ahead); set it at or after the revoked tokens' exp`),
  })
  .superRefine((body, ctx) => {
    const targets = [body.jti, body.sub, body.tenant].filter((value) => value !== undefined).length;
    if (targets !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of jti, sub and tenant' });
    const expiresAt = Date.parse(body.expiresAt);
    if (expiresAt <= Date.now()) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be in the future' });
    else if (expiresAt - Date.now() > MAX_REVOCATION_MS) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: `must be at most ${MAX_REVOCATION_DAYS} days ahead` });
  });
export type RevocationRequest = z.infer<typeof RevocationRequestSchema>;

export const RevocationSchema = z.strictObject({
  id: z.string().describe('names the revocation, for DELETE /api/v1/admin/revocations/{id}'),
  jti: z.string().optional(),
  sub: z.string().optional(),
  tenant: z.string().optional(),
  expiresAt: z.iso.datetime().describe('when it lapses'),
  createdAt: z.iso.datetime(),
});
export type Revocation = z.infer<typeof RevocationSchema>;

export const RevocationListSchema = z.strictObject({
  revocations: z.array(RevocationSchema).describe('the active revocations, soonest to lapse first'),
});

/** `GET /api/v1/{jobs|pack-runs|runs}/{id}/watchers` */
export const WatchersSchema = z.strictObject({
  watchers: z.number().int().min(0).describe('open streams following the subject, summed over every live replica (refreshed every few seconds)'),
});
