import { randomUUID } from 'node:crypto';
import { RequestHandler, Router } from 'express';
import { Revocation, RevocationRequestSchema } from '@fanout/contracts';
import { RevocationStore } from '@fanout/bus';
import { Authenticator, HttpProblem, jsonBodyWithin } from '@fanout/http';
import { RevocationList } from '../revocation-list';
import { STORE_FAILED } from '../store-errors';

const PATH = '/api/v1/admin/revocations';
/** A revocation request is a few claims and a date. */
const BODY_LIMIT_BYTES = 4096;

/**
 * Live revocation (scope `admin`): POST stores one until it expires and every replica ends the
 * streams it names; GET lists the active ones; DELETE lifts one.
 */
export function revocationRoutes(store: RevocationStore, revocations: RevocationList, authenticate: Authenticator, maxActive: number): Router {
  const router = Router({ caseSensitive: true });

  /** Auth and the content type before the body is read: a refused request's body is never parsed. */
  const adminSendingJson: RequestHandler = async (req, _res, next) => {
    await authenticate(req, 'admin');
    if (!req.is(['application/json', '+json'])) throw new HttpProblem(415, 'the body must be JSON (Content-Type: application/json)');
    next();
  };

  router.post(PATH, adminSendingJson, jsonBodyWithin(BODY_LIMIT_BYTES, { type: () => true, strict: false }), async (req, res) => {
    const parsed = RevocationRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
      throw new HttpProblem(400, 'invalid revocation', { errors });
    }
    const { jti, sub, tenant, expiresAt } = parsed.data;
    const revocation: Revocation = {
      id: randomUUID(),
      ...(jti !== undefined ? { jti } : {}),
      ...(sub !== undefined ? { sub } : {}),
      ...(tenant !== undefined ? { tenant } : {}),
      expiresAt: new Date(expiresAt).toISOString(),
      createdAt: new Date().toISOString(),
    };
    const stored = await store.addRevocation(revocation, maxActive).catch(STORE_FAILED.changingRevocations);
    if (!stored) throw new HttpProblem(409, `${maxActive} revocations are active already (FANOUT_MAX_REVOCATIONS): lift one or wait for one to expire`);
    // This replica acts at once; the others when the announcement reaches them.
    revocations.apply({ kind: 'added', revocation });
    res.status(201).location(`${PATH}/${revocation.id}`).json(revocation);
  });

  router.get(PATH, async (req, res) => {
    await authenticate(req, 'admin');
    res.json({ revocations: await store.activeRevocations().catch(STORE_FAILED.readingRevocations) });
  });

  router.delete(`${PATH}/:id`, async (req, res) => {
    await authenticate(req, 'admin');
    const { id } = req.params;
    const removed = await store.removeRevocation(id).catch(STORE_FAILED.changingRevocations);
    if (!removed) throw new HttpProblem(404, `no active revocation with id ${JSON.stringify(id.slice(0, 140))}`);
    revocations.apply({ kind: 'removed', id });
    res.status(204).end();
  });

  return router;
}
