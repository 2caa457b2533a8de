import express, { Router } from 'express';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { AppendOutcome, Bus, beforeDeadline } from '@fanout/bus';
import { Authenticator, HttpProblem, Principal } from '@fanout/http';
import { Logger, Registry, createPublisherMetrics } from '@fanout/observability';
import { refuseDeepJson } from './json-depth';
import { parseEventsBody } from './parse-events';
import { publishResults, refusalProblem } from './refusals';
import { storeEvents } from './store-batch';
import { storeFailureDetail } from './store-failure';

export interface PublisherOptions {
  bus: Bus;
  logger: Logger;
  registry: Registry;
  authenticate: Authenticator;
}

export interface Publisher {
  router: Router;
  /** Resolves when the store answers; rejects when it does not within about a second. */
  checkStore(): Promise<void>;
}

/** The store's whole answer to a request must come within this, so that a 503 comes within the contract's 5 s. */
const STORE_BUDGET_MS = 4000;
/** A stalled store turns /readyz 503 within this. */
const STORE_CHECK_MS = 1000;

/**
 * Whether the Content-Type header names JSON (`application/json` or `…+json`). Read from the header
 * itself: `req.is()` answers null for a request without a body, which is bad JSON (400), not a 415.
 */
function declaresJson(contentType: string | undefined): boolean {
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return mediaType === 'application/json' || /^[^/\s]+\/[^/\s]+\+json$/.test(mediaType);
}

/** `POST /api/v1/events`: validate whole, then store subject by subject, and say exactly what landed. */
export function createPublisher(options: PublisherOptions): Publisher {
  const { bus, logger } = options;
  const metrics = createPublisherMetrics(options.registry);
  const router = Router({ caseSensitive: true });
  // Not strict: a body of `null` or `3` is valid JSON, refused by the event schema with its own message.
  const jsonBody = express.json({
    limit: MAX_REQUEST_BYTES,
    type: () => true,
    strict: false,
    verify: (_req, _res, body, charset) => refuseDeepJson(body, charset),
  });

  router.post(
    '/api/v1/events',
    (req, res, next) => {
      options.authenticate(req, 'events:write').then((principal) => {
        res.locals['principal'] = principal;
        next(declaresJson(req.headers['content-type']) ? undefined : new HttpProblem(415, 'the body must be JSON (Content-Type: application/json)'));
      }, next);
    },
    jsonBody,
    async (req, res) => {
      const principal = res.locals['principal'] as Principal;
      let events;
      try {
        ({ events } = parseEventsBody(req.body, principal.fromToken ? principal.tenant : undefined));
      } catch (error) {
        const body = req.body as { events?: unknown } | null | undefined;
        const count = Array.isArray(body?.events) ? body.events.length : 1;
        metrics.events.inc({ result: 'rejected' }, count);
        throw error;
      }
      const foreign = principal.fromToken ? events.find((event) => event.tenant !== principal.tenant) : undefined;
      if (foreign) throw new HttpProblem(403, `the token may publish for tenant ${principal.tenant} only, not ${foreign.tenant}`);

      let outcomes: AppendOutcome[];
      try {
        outcomes = await storeEvents(bus, events, Date.now() + STORE_BUDGET_MS);
      } catch (error) {
        logger.warn({ err: (error as Error).message, events: events.length }, 'store unavailable; answered 503');
        throw new HttpProblem(503, storeFailureDetail(error), {}, { 'Retry-After': '1' });
      }

      for (const o of outcomes) metrics.events.inc({ result: 'error' in o ? 'rejected' : o.duplicate ? 'duplicate' : 'accepted' });
      const refused = refusalProblem(events, outcomes);
      if (refused) throw refused;
      res.status(202).json({ results: publishResults(outcomes) });
    },
  );

  return {
    router,
    async checkStore() {
      await beforeDeadline(bus.info({ tenant: 'fanout-readiness', kind: 'job', id: 'readiness' }), Date.now() + STORE_CHECK_MS, 'the store check');
    },
  };
}
