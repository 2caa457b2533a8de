import { Router } from 'express';
import { Bus } from '@fanout/bus';
import { Authenticator } from '@fanout/http';
import { STORE_FAILED } from '../store-errors';
import { subjectFromPath, unknownSubject } from '../subject-params';

/** `GET /api/v1/{jobs|pack-runs|runs}/{id}/watchers`: open streams following the subject, over every live replica. */
export function watchersRoute(bus: Pick<Bus, 'info' | 'watcherCount'>, authenticate: Authenticator): Router {
  const router = Router({ caseSensitive: true });
  router.get('/api/v1/:segment/:id/watchers', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const subject = subjectFromPath(req.params.segment, req.params.id, principal.tenant);
    const info = await bus.info(subject).catch(STORE_FAILED.readingSubject);
    if (!info) throw unknownSubject(subject);
    res.json({ watchers: await bus.watcherCount(subject).catch(STORE_FAILED.readingWatchers) });
  });
  return router;
}
