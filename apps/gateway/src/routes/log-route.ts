import { Router } from 'express';
import { LogQuerySchema, stripAnsi } from '@fanout/contracts';
import { Bus, HistoryEntry, dataJsonOf } from '@fanout/bus';
import { Authenticator } from '@fanout/http';
import { Logger } from '@fanout/observability';
import { ANSWER_ROOM_WAIT_MS, AnswerBudget } from '../answer-budget';
import { STORE_FAILED } from '../store-errors';
import { subjectFromPath, unknownSubject } from '../subject-params';
import { cutShort } from './cut-short';
import { parseQuery } from './query';
import { untilTaken, untilWritable } from './until-writable';

/**
 * Entries read per page. A request holds a page's text while the client reads it: a log line is
 * at most 8 KiB, though its frame (JSON escapes) may be 48 KiB.
 */
export const LOG_PAGE_SIZE = 100;

const LOG_EVENT_LINE = Buffer.from('\nevent: pack_run.log\n');

export interface LogLineFilter {
  step?: number;
  stream?: 'stdout' | 'stderr';
  ansi: 'keep' | 'strip';
}

/**
 * The text of the log events among `entries`: each event's message then `\n`, as the step printed
 * it (a `\r` and any `\n` inside a message are kept as they are), ANSI escapes stripped on request.
 */
export function logText(entries: readonly HistoryEntry[], filter: LogLineFilter): string {
  let text = '';
  for (const entry of entries) {
    if (entry.frame.indexOf(LOG_EVENT_LINE) < 0) continue;
    const event = JSON.parse(dataJsonOf(entry.frame)) as { data: { stepIndex: number; stream: string; message: string } };
    const { stepIndex, stream, message } = event.data;
    if (filter.step !== undefined && stepIndex !== filter.step) continue;
    if (filter.stream !== undefined && stream !== filter.stream) continue;
    text += `${filter.ansi === 'strip' ? stripAnsi(message) : message}\n`;
  }
  return text;
}

/**
 * The first line of a log whose retained history starts after seq 1, or the line where it lost
 * events while it was read: everything up to `lastSeq` (the answer's end), when none of it is left.
 */
export function trimmedNote(firstSeq: number, fromSeq = 1, lastSeq = Infinity): string {
  if (firstSeq > lastSeq) return `[fanout] history trimmed: events ${fromSeq}..${lastSeq} of this pack run are no longer retained; that is the end of this log\n`;
  return `[fanout] history trimmed: events ${fromSeq}..${firstSeq - 1} of this pack run are no longer retained; the log below starts at seq ${firstSeq}\n`;
}

/**
 * `GET /api/v1/pack-runs/{id}/log`: the pack run's retained log as text/plain, read from its
 * history a page at a time and written as the connection drains (never the whole log in hand), up
 * to the last event stored when the request arrived. What it reads and what its client has not taken
 * yet count against the process's answer budget.
 */
export function logRoute(bus: Bus, budget: AnswerBudget, authenticate: Authenticator, logger: Logger): Router {
  const router = Router({ caseSensitive: true });

  router.get('/api/v1/pack-runs/:id/log', async (req, res) => {
    const principal = await authenticate(req, 'stream:read');
    const subject = subjectFromPath('pack-runs', req.params.id, principal.tenant);
    const query = parseQuery(LogQuerySchema, req.query);
    const info = await bus.info(subject).catch(STORE_FAILED.readingSubject);
    if (!info) throw unknownSubject(subject);
    const filter: LogLineFilter = { step: query.step, stream: query.stream, ansi: query.ansi };

    res.status(200);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Fanout-First-Seq', String(info.firstSeq));
    res.setHeader('Fanout-Last-Seq', String(info.lastSeq));
    if (query.download === '1') res.setHeader('Content-Disposition', `attachment; filename="pack-run-${subject.id}.log"`);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const share = budget.shareFor(res, subject.tenant);
    try {
      // The first page is read before anything is written, so a store that fails at once, or a budget with no room, is still a 503.
      if (!(await share.forRead(LOG_PAGE_SIZE, ANSWER_ROOM_WAIT_MS))) return;
      let page = await bus.history(subject, info.firstSeq - 1, LOG_PAGE_SIZE).catch(STORE_FAILED.readingHistory);
      let text = info.firstSeq > 1 ? trimmedNote(info.firstSeq) : '';
      let afterSeq = info.firstSeq - 1;
      try {
        // Bounded: every page moves afterSeq forward, up to the last seq when the request arrived.
        while (page.length > 0) {
          const firstSeq = page[0]!.seq;
          if (firstSeq > afterSeq + 1) text += trimmedNote(firstSeq, afterSeq + 1, info.lastSeq);
          afterSeq = page[page.length - 1]!.seq;
          const pastTheEnd = afterSeq > info.lastSeq;
          text += logText(pastTheEnd ? page.filter((entry) => entry.seq <= info.lastSeq) : page, filter);
          // What is written is all this answer holds while the client reads it.
          page = [];
          // As bytes: a string would be kept whole beside its UTF-8 copy until the socket took it.
          const part = Buffer.from(text, 'utf8');
          text = '';
          share.keep(part.length);
          if (part.length > 0) res.write(part);
          if (afterSeq >= info.lastSeq || pastTheEnd) break;
          if (!(await untilWritable(res))) return;
          if (!(await share.forRead(LOG_PAGE_SIZE))) return;
          page = await bus.history(subject, afterSeq, LOG_PAGE_SIZE);
        }
        res.end(text);
        await untilTaken(res);
      } catch (error) {
        cutShort(res, logger, error, subject.id, 'a pack run log');
      }
    } finally {
      share.release();
    }
  });

  return router;
}
