import { Request, Response, Router } from 'express';
import { HistoryQuerySchema, SubjectsQuerySchema, TenantSubject } from '@fanout/contracts';
import { Bus, HistoryEntry, SubjectInfo, dataJsonBytesOf } from '@fanout/bus';
import { Authenticator, HttpProblem } from '@fanout/http';
import { Logger } from '@fanout/observability';
import { ANSWER_ROOM_WAIT_MS, AnswerBudget } from '../answer-budget';
import { STORE_FAILED } from '../store-errors';
import { subjectFromPath, unknownSubject } from '../subject-params';
import { cutShort } from './cut-short';
import { parseQuery } from './query';
import { untilTaken, untilWritable } from './until-writable';

/**
 * Entries read from the store at a time for a JSON history page, and written before the next read:
 * a request holds at most this many events (each at most 64 KiB), whatever its `limit`, and its
 * process holds at most its answer budget for all of them.
 */
const HISTORY_READ_CHUNK = 100;

/** The entries of a page: `count` events after `afterSeq` (fewer at the end of the history), read a chunk at a time. */
interface PageRange {
  afterSeq: number;
  count: number;
  /** Entries from this seq on are not part of the page (a page before `before`). */
  endSeq?: number;
}

/** The subject's retained seqs when the request arrived, answered as headers (as the log route does). */
function setRetainedSeqs(res: Response, info: SubjectInfo): void {
  res.setHeader('Fanout-First-Seq', String(info.firstSeq));
  res.setHeader('Fanout-Last-Seq', String(info.lastSeq));
}

const PAGE_OPENING = Buffer.from('{"events":[');
const COMMA = Buffer.from(',');

/** The JSON of `entries` after `opening`, comma-separated, in one Buffer: the frames' own bytes, never a string of them. */
function pagePart(opening: Buffer, entries: readonly HistoryEntry[]): Buffer {
  const parts: Buffer[] = [opening];
  for (const entry of entries) {
    if (parts.length > 1) parts.push(COMMA);
    parts.push(dataJsonBytesOf(entry.frame));
  }
  return Buffer.concat(parts);
}

/**
 * Writes `{"events":[…],"next":…}` for `range` as the connection drains, a chunk of
 * HISTORY_READ_CHUNK entries at a time, holding none of a chunk once it is written. `nextOf` gets
 * the seqs of the page's first and last events. The first chunk is read before anything is
 * written, so a store that fails at once, or a budget with no room, is still a 503.
 */
async function writePage(
  page: { bus: Bus; budget: AnswerBudget; logger: Logger },
  subject: TenantSubject,
  range: PageRange,
  info: SubjectInfo,
  req: Request,
  res: Response,
  nextOf: (firstSeq: number | undefined, lastSeq: number | undefined) => number | null,
): Promise<void> {
  const { bus, logger } = page;
  const share = page.budget.shareFor(res, subject.tenant);
  const readChunk = async (afterSeq: number, remaining: number): Promise<HistoryEntry[]> => {
    const entries = await bus.history(subject, afterSeq, Math.min(remaining, HISTORY_READ_CHUNK));
    return range.endSeq === undefined ? entries : entries.filter((e) => e.seq < range.endSeq!);
  };
  try {
    if (range.count > 0 && !(await share.forRead(Math.min(range.count, HISTORY_READ_CHUNK), ANSWER_ROOM_WAIT_MS))) return;
    let chunk = range.count > 0 ? await readChunk(range.afterSeq, range.count).catch(STORE_FAILED.readingHistory) : [];
    res.status(200).type('application/json');
    setRetainedSeqs(res, info);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let firstSeq: number | undefined;
    let lastSeq: number | undefined;
    let remaining = range.count;
    let opening = PAGE_OPENING;
    try {
      for (;;) {
        const asked = Math.min(remaining, HISTORY_READ_CHUNK);
        remaining -= chunk.length;
        // A short chunk is the end of the history (or of the page before `before`).
        const ended = remaining <= 0 || chunk.length < asked;
        if (chunk.length > 0) {
          firstSeq ??= chunk[0]!.seq;
          lastSeq = chunk[chunk.length - 1]!.seq;
          const part = pagePart(opening, chunk);
          // Until the client takes it, the part is what this answer holds.
          share.keep(part.length);
          res.write(part);
          opening = COMMA;
        } else {
          share.keep(0);
        }
        chunk = [];
        if (ended) break;
        if (!(await untilWritable(res))) return;
        if (!(await share.forRead(Math.min(remaining, HISTORY_READ_CHUNK)))) return;
        chunk = await readChunk(lastSeq!, remaining);
      }
      res.end(`${firstSeq === undefined ? '{"events":[' : ''}],"next":${nextOf(firstSeq, lastSeq)}}`);
      await untilTaken(res);
    } catch (error) {
      cutShort(res, logger, error, subject.id, 'a history page');
    }
  } finally {
    share.release();
  }
}

/** History as JSON, and the tenant's recent subjects. */
export function historyRoutes(bus: Bus, budget: AnswerBudget, authenticate: Authenticator, logger: Logger): Router {
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
    if (before !== undefined && req.query['after'] !== undefined && req.query['after'] !== '') {
      throw new HttpProblem(400, 'invalid query parameters', { errors: [{ path: 'before', message: 'give after or before, not both' }] });
    }
    const info = await bus.info(subject).catch(STORE_FAILED.readingSubject);
    if (!info) throw unknownSubject(subject);
    if (before === undefined) {
      await writePage({ bus, budget, logger }, subject, { afterSeq: after, count: limit }, info, req, res, (_firstSeq, lastSeq) => (lastSeq !== undefined && lastSeq < info.lastSeq ? lastSeq : null));
    } else {
      // The page before `before` is the history after (before − 1 − limit): the seqs from − 1 … end − 1.
      // Seqs are gapless but for a hole where a store lost some, which makes the page shorter (even
      // empty): `next` is `from` all the same, so paging on reaches every event before it.
      const end = Math.min(before, info.lastSeq + 1);
      const from = Math.max(end - limit, info.firstSeq);
      await writePage({ bus, budget, logger }, subject, { afterSeq: from - 1, count: Math.max(end - from, 0), endSeq: end }, info, req, res, () =>
        from > info.firstSeq ? from : null,
      );
    }
  });

  return router;
}
