import { Router } from 'express';
import { HistoryQuerySchema, SubjectsQuerySchema } from '@fanout/contracts';
import { Bus, HistoryEntry, dataJsonOf } from '@fanout/bus';
import { Authenticator, HttpProblem } from '@fanout/http';
import { STORE_FAILED } from '../store-errors';
import { subjectFromPath, unknownSubject } from '../subject-params';
import { parseQuery } from './query';


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
    const { after, before, limit } = parseQuery(HistoryQuerySchema, req.query);
    if (before !== undefined && req.query['after'] !== undefined) {
      throw new HttpProblem(400, 'invalid query parameters', { errors: [{ path: 'before', message: 'give after or before, not both' }] });
    }
    const info = await bus.info(subject).catch(STORE_FAILED.readingSubject);
    if (!info) throw unknownSubject(subject);
    let entries: HistoryEntry[];
    let next: number | null;
    if (before === undefined) {
      entries = await bus.history(subject, after, limit).catch(STORE_FAILED.readingHistory);
      const last = entries[entries.length - 1];
      next = last && last.seq < info.lastSeq ? last.seq : null;
    } else {
      // Seqs are gapless: the page before `before` is the history after (before − 1 − limit).
      const end = Math.min(before, info.lastSeq + 1);
      const from = Math.max(end - limit, info.firstSeq);
      entries = from < end ? (await bus.history(subject, from - 1, end - from).catch(STORE_FAILED.readingHistory)).filter((e) => e.seq < end) : [];
      const first = entries[0];
      next = first && first.seq > info.firstSeq ? first.seq : null;
    }
    res.type('application/json').send(`{"events":[${entries.map((e) => dataJsonOf(e.frame)).join(',')}],"next":${next}}`);
  });

  return router;
}
