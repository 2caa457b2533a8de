import express, { Router } from 'express';
import { MAX_REQUEST_BYTES, PROBLEM_CONTENT_TYPE } from '@fanout/contracts';
import { AppendOutcome, AppendRefusal, Bus } from '@fanout/bus';
import { Authenticator, HttpProblem, Principal } from '@fanout/http';
import { Logger, Registry, createPublisherMetrics } from '@fanout/observability';
import { parseEventsBody } from './parse-events';
import { storeEvents } from './store-batch';

export interface PublisherOptions {
  bus: Bus;
  logger: Logger;
  registry: Registry;
  authenticate: Authenticator;
}

export interface Publisher {
  router: Router;
  /** Resolves when the store answers. */
  checkStore(): Promise<void>;
}

type Result = { eventId: string; seq: number; duplicate: boolean } | { eventId: string; error: string };

function describeRefusal(error: AppendRefusal): string {
  return error.code === 'transition'
    ? `illegal transition: current ${error.current}, requested ${error.requested} (${error.reason})`
    : error.reason;
}

/** `POST /api/v1/events`: validate whole, then store subject by subject, and say exactly what landed. */
export function createPublisher(options: PublisherOptions): Publisher {
  const { bus, logger } = options;
  const metrics = createPublisherMetrics(options.registry);
  const router = Router();
  const jsonBody = express.json({ limit: MAX_REQUEST_BYTES, type: () => true });

  router.post(
    '/api/v1/events',
    (req, res, next) => {
      options.authenticate(req, 'events:write').then((principal) => {
        res.locals['principal'] = principal;
        next(req.is('application/json') || req.is('+json') ? undefined : new HttpProblem(415, 'the body must be JSON (Content-Type: application/json)'));
      }, next);
    },
    jsonBody,
    async (req, res) => {
      const principal = res.locals['principal'] as Principal;
      let events;
      try {
        ({ events } = parseEventsBody(req.body));
      } catch (error) {
        const count = Array.isArray(req.body?.events) ? req.body.events.length : 1;
        metrics.events.inc({ result: 'rejected' }, count);
        throw error;
      }
      const foreign = principal.fromToken ? events.find((event) => event.tenant !== principal.tenant) : undefined;
      if (foreign) throw new HttpProblem(403, `the token may publish for tenant ${principal.tenant} only, not ${foreign.tenant}`);

      let outcomes: AppendOutcome[];
      try {
        outcomes = await storeEvents(bus, events);
      } catch (error) {
        logger.warn({ err: (error as Error).message, events: events.length }, 'store unavailable; answered 503');
        throw new HttpProblem(503, `the store is unavailable: ${(error as Error).message}; retry with the same eventIds`, {}, { 'Retry-After': '1' });
      }

      const results: Result[] = outcomes.map((o) => ('error' in o ? { eventId: o.eventId, error: describeRefusal(o.error) } : o));
      for (const o of outcomes) metrics.events.inc({ result: 'error' in o ? 'rejected' : o.duplicate ? 'duplicate' : 'accepted' });
      const refusedAt = outcomes.findIndex((o) => 'error' in o && o.error.code === 'transition');
      if (refusedAt < 0) {
        res.status(202).json({ results });
        return;
      }
      const refusal = (outcomes[refusedAt] as { error: AppendRefusal }).error;
      const { current, requested } = refusal;
      const event = events[refusedAt]!;
      res
        .status(409)
        .type(PROBLEM_CONTENT_TYPE)
        .send(
          JSON.stringify({
            title: 'Conflict',
            status: 409,
            detail: `${event.subject.kind} ${event.subject.id}: ${describeRefusal(refusal)}`,
            current,
            requested,
            results,
          }),
        );
    },
  );

  return {
    router,
    async checkStore() {
      await bus.info({ tenant: 'fanout-readiness', kind: 'job', id: 'readiness' });
    },
  };
}
