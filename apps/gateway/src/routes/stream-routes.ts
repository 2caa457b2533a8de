import { Request, Response, Router } from 'express';
import { SUBJECT_ID_PATTERN, SUBJECT_KINDS, SubjectKind, TenantSubject } from '@fanout/contracts';
import { activityOf, parseEventId } from '@fanout/bus';
import { Authenticator, HttpProblem, Principal } from '@fanout/http';
import { SseConnection } from '@fanout/sse';
import { ConnectionLimits } from '../connection-limits';
import { decodeCursor } from '../multi-cursor';
import { MultiEntry, MultiStream } from '../multi-stream';
import { Gap, malformedResume, planResume, resumeText } from '../resume-position';
import { SingleStream } from '../single-stream';
import { fromStore } from '../store-errors';
import { StreamContext } from '../stream-context';
import { StreamSession } from '../stream-session';
import { subjectFromPath, unknownSubject } from '../subject-params';

export const MAX_SUBJECTS_PER_STREAM = 100;

/**
 * The stream routes: one subject, many subjects on one connection, and the tenant's activity.
 * Each answers 404/400/204/429 before streaming, then replays after the resume position and goes live.
 */
export function streamRoutes(ctx: StreamContext, authenticate: Authenticator, limits: ConnectionLimits, open: Set<StreamSession>): Router {
  const router = Router();

  /** Takes a connection slot and tracks the session until its response closes. */
  const admit = <S extends StreamSession>(principal: Principal, res: Response, create: (conn: SseConnection) => S): S => {
    const release = limits.acquire(principal.tenant);
    const session = create(new SseConnection(res));
    open.add(session);
    res.once('close', () => {
      release();
      open.delete(session);
    });
    return session;
  };
  const resumeOf = (req: Request): string | undefined => resumeText(req.get('last-event-id'), req.query['lastEventId']);

  router.get('/api/v1/stream/subjects', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const ref = activityOf(principal.tenant);
    const text = resumeOf(req);
    const position = text === undefined ? undefined : parseEventId(text);
    if (text !== undefined && !position) throw malformedResume(text);
    const info = await fromStore('reading the activity', () => ctx.bus.info(ref));
    let afterSeq = 0;
    let gap: Gap | undefined;
    if (info) {
      const plan = planResume(position, info);
      if (plan.kind === 'stream') ({ afterSeq, gap } = plan);
    } else if (position) {
      gap = { reason: 'history_lost', firstAvailableSeq: 1 };
    }
    const session = admit(principal, res, (conn) => new SingleStream(ctx, ref, conn, afterSeq, principal.expiresAt));
    await fromStore('subscribing', () => session.start(gap));
  });

  router.get('/api/v1/stream/:segment/:id', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const subject = subjectFromPath(req.params.segment, req.params.id, principal.tenant);
    const text = resumeOf(req);
    const position = text === undefined ? undefined : parseEventId(text);
    if (text !== undefined && !position) throw malformedResume(text);
    const info = await fromStore('reading the subject', () => ctx.bus.info(subject));
    if (!info) throw unknownSubject(subject);
    const plan = planResume(position, info);
    if (plan.kind === 'done') {
      res.status(204).end();
      return;
    }
    const session = admit(principal, res, (conn) => new SingleStream(ctx, subject, conn, plan.afterSeq, principal.expiresAt));
    await fromStore('subscribing', () => session.start(plan.gap));
  });

  router.get('/api/v1/stream', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const subjects = parseSubjectList(req.query['subjects'], principal.tenant);
    const text = resumeOf(req);
    const positions = text === undefined ? undefined : decodeCursor(text, subjects.length);
    if (text !== undefined && !positions) throw malformedResume(text);
    const infos = await fromStore('reading the subjects', () => Promise.all(subjects.map((s) => ctx.bus.info(s))));
    const entries: MultiEntry[] = subjects.map((subject, i) => {
      const info = infos[i];
      if (!info) throw unknownSubject(subject);
      const plan = planResume(positions?.[i], info);
      return plan.kind === 'done'
        ? { subject, epoch: info.epoch, afterSeq: info.lastSeq, done: true }
        : { subject, epoch: info.epoch, afterSeq: plan.afterSeq, done: false, gap: plan.gap };
    });
    if (entries.every((e) => e.done)) {
      res.status(204).end();
      return;
    }
    const session = admit(principal, res, (conn) => new MultiStream(ctx, entries, conn, principal.expiresAt));
    await fromStore('subscribing', () => session.start());
  });

  return router;
}

/** `job:a,pack-run:b,…`: entries split at the first colon, at most 100, duplicates ignored. */
function parseSubjectList(raw: unknown, tenant: string): TenantSubject[] {
  const text = Array.isArray(raw) ? raw.join(',') : raw;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new HttpProblem(400, 'the subjects query parameter is required: ?subjects=job:a,pack-run:b (at most 100)');
  }
  const items = text.split(',');
  if (items.length > MAX_SUBJECTS_PER_STREAM) {
    throw new HttpProblem(400, `at most ${MAX_SUBJECTS_PER_STREAM} subjects per stream, not ${items.length}`);
  }
  const seen = new Set<string>();
  const subjects: TenantSubject[] = [];
  for (const item of items) {
    const colon = item.indexOf(':');
    const kind = item.slice(0, colon);
    const id = item.slice(colon + 1);
    if (colon < 0 || !(SUBJECT_KINDS as readonly string[]).includes(kind) || !SUBJECT_ID_PATTERN.test(id)) {
      throw new HttpProblem(400, `malformed subject ${JSON.stringify(item.slice(0, 140))}: expected kind:id with kind job, pack-run or run`);
    }
    if (seen.has(item)) continue;
    seen.add(item);
    subjects.push({ tenant, kind: kind as SubjectKind, id });
  }
  return subjects;
}
