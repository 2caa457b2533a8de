import { Router } from 'express';
import { Authenticator } from '@fanout/http';
import { SseConnection } from '@fanout/sse';
import { ConnectionLimits } from '../connection-limits';
import { planResume, resumeText } from '../resume-position';
import { fromStore } from '../store-errors';
import { StreamContext } from '../stream-context';
import { SubjectStream } from '../subject-stream';
import { subjectFromPath, unknownSubject } from '../subject-params';

export interface OpenStreams {
  add(stream: SubjectStream): void;
  delete(stream: SubjectStream): void;
}

/** `GET /api/v1/stream/{jobs|pack-runs|runs}/{id}`: replay after the resume position, then live. */
export function streamRoutes(ctx: StreamContext, authenticate: Authenticator, limits: ConnectionLimits, open: OpenStreams): Router {
  const router = Router();
  router.get('/api/v1/stream/:segment/:id', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const subject = subjectFromPath(req.params.segment, req.params.id, principal.tenant);
    const resume = resumeText(req.get('last-event-id'), req.query['lastEventId']);
    const info = await fromStore('reading the subject', () => ctx.bus.info(subject));
    if (!info) throw unknownSubject(subject);
    const plan = planResume(resume, info);
    if (plan.kind === 'done') {
      res.status(204).end();
      return;
    }
    const release = limits.acquire(principal.tenant);
    res.once('close', release);
    const stream = new SubjectStream(ctx, subject, new SseConnection(res), plan.afterSeq, principal.expiresAt);
    open.add(stream);
    res.once('close', () => open.delete(stream));
    await fromStore('subscribing', () => stream.start(plan.gap));
  });
  return router;
}
