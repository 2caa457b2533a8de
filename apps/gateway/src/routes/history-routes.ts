import { Router } from 'express';
import { z } from 'zod';
import { HistoryQuerySchema, SubjectsQuerySchema } from '@fanout/contracts';
import { Bus, dataJsonOf } from '@fanout/bus';
import { Authenticator, HttpProblem } from '@fanout/http';
import { STORE_FAILED } from '../store-errors';
import { subjectFromPath, unknownSubject } from '../subject-params';

function parseQuery<T>(schema: z.ZodType<T>, query: unknown): T {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new HttpProblem(400, 'invalid query parameters', { errors });
}

/** History as JSON, and the tenant's recent subjects. */
export function historyRoutes(bus: Bus, authenticate: Authenticator): Router {
  const router = Router({ caseSensitive: true });

  router.get('/api/v1/subjects', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const { kind, limit } = parseQuery(SubjectsQuerySchema, req.query);
    const subjects = await bus.recentSubjects(principal.tenant, kind, limit).catch(STORE_FAILED.listingSubjects);
    res.json({ subjects: subjects.map(({ kind: k, id, status, seq, updatedAt }) => ({ subject: { kind: k, id }, status, seq, updatedAt })) });
  });

  router.get('/api/v1/:segment/:id/events', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const subject = subjectFromPath(req.params.segment, req.params.id, principal.tenant);
    const { after, limit } = parseQuery(HistoryQuerySchema, req.query);
    const info = await bus.info(subject).catch(STORE_FAILED.readingSubject);
    if (!info) throw unknownSubject(subject);
    const entries = await bus.history(subject, after, limit).catch(STORE_FAILED.readingHistory);
    const last = entries[entries.length - 1];
    const next = last && last.seq < info.lastSeq ? last.seq : null;
    res.type('application/json').send(`{"events":[${entries.map((e) => dataJsonOf(e.frame)).join(',')}],"next":${next}}`);
  });

  return router;
}
