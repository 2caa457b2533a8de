import { IncomingMessage, ServerResponse } from 'node:http';
import { Request, Response, Router } from 'express';
import { MAX_REQUEST_BYTES } from '@fanout/contracts';
import { AppendOutcome, Bus, beforeDeadline } from '@fanout/bus';
import { ApiHeaders, Authenticator, HttpProblem, Principal, jsonBodyWithin, problemErrorHandler, utf8TextOf } from '@fanout/http';
import { Logger, Registry, createPublisherMetrics } from '@fanout/observability';
import { BodyBudget, BodyReservation, DEFAULT_MAX_BODY_BYTES_IN_FLIGHT } from './body-budget';
import { refuseDeepJson } from './json-depth';
import { parseEventsBody } from './parse-events';
import { PUBLISH_PATH, isDirectPublishRequest, parseJsonBody, readDeclaredBody, refuseEmptyBody } from './direct-request';
import { PublishResult, publishResults, refusalProblem } from './refusals';
import { storeEvents } from './store-batch';
import { storeFailureDetail } from './store-failure';

export interface PublisherOptions {
  bus: Bus;
  logger: Logger;
  registry: Registry;
  authenticate: Authenticator;
  /** The security and CORS headers of an answer given outside Express. */
  apiHeaders: ApiHeaders;
  /** Bytes of request bodies read at once, at most. @default {@link DEFAULT_MAX_BODY_BYTES_IN_FLIGHT} */
  maxBodyBytesInFlight?: number;
}

export interface Publisher {
  /** `POST /api/v1/events` as an Express route: every request, whatever its body. */
  router: Router;
  /** Whether `handleDirectly` can answer a request (the common publish: a plain JSON body of a declared length). */
  takesDirectly(req: IncomingMessage): boolean;
  /** Answers a request `takesDirectly` took, without Express: the same answers, for less CPU per event. */
  handleDirectly(req: IncomingMessage, res: ServerResponse): void;
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
  const answerError = problemErrorHandler((error) => logger.error({ err: error }, 'unexpected error'));
  const bodies = new BodyBudget(options.maxBodyBytesInFlight ?? DEFAULT_MAX_BODY_BYTES_IN_FLIGHT);

  /** A request's events, stored: the 202 answer's results, or an HttpProblem thrown. */
  async function publish(principal: Principal, body: unknown): Promise<PublishResult[]> {
    let events;
    try {
      ({ events } = parseEventsBody(body, principal.fromToken ? principal.tenant : undefined));
    } catch (error) {
      const batch = body as { events?: unknown } | null | undefined;
      metrics.events.inc({ result: 'rejected' }, Array.isArray(batch?.events) ? batch.events.length : 1);
      throw error;
    }
    const foreign = principal.fromToken ? events.find((event) => event.tenant !== principal.tenant) : undefined;
    if (foreign) throw new HttpProblem(403, `the token may publish for tenant ${principal.tenant} only, not ${foreign.tenant}`);

    let outcomes: AppendOutcome[];
    try {
      outcomes = await storeEvents(bus, events, Date.now() + STORE_BUDGET_MS);
    } catch (error) {
      metrics.storeUnavailable.inc();
      logger.warn({ err: (error as Error).message, events: events.length }, 'store unavailable; answered 503');
      throw new HttpProblem(503, storeFailureDetail(error), {}, { 'Retry-After': '1' });
    }

    for (const o of outcomes) metrics.events.inc({ result: 'error' in o ? 'rejected' : o.duplicate ? 'duplicate' : 'accepted' });
    const refused = refusalProblem(events, outcomes);
    if (refused) throw refused;
    return publishResults(outcomes);
  }

  const router = Router({ caseSensitive: true });
  // Not strict: a body of `null` or `3` is valid JSON, refused by the event schema with its own message.
  const jsonBody = jsonBodyWithin(MAX_REQUEST_BYTES, {
    type: () => true,
    strict: false,
    verify: (_req, _res, utf8Body) => {
      refuseEmptyBody(utf8Body);
      refuseDeepJson(utf8Body);
    },
  });
  router.post(
    PUBLISH_PATH,
    (req, res, next) => {
      options.authenticate(req, 'events:write').then((principal) => {
        res.locals['principal'] = principal;
        if (!declaresJson(req.headers['content-type'])) return next(new HttpProblem(415, 'the body must be JSON (Content-Type: application/json)'));
        let reserved: BodyReservation;
        try {
          reserved = bodies.reserveFor(req, principal.fromToken ? principal.tenant : undefined);
        } catch (error) {
          return next(error);
        }
        res.once('close', () => bodies.release(reserved));
        next();
      }, next);
    },
    jsonBody,
    async (req, res) => {
      res.status(202).json({ results: await publish(res.locals['principal'] as Principal, req.body) });
    },
  );

  /** The same route on node:http: the same steps as the Express chain, for the requests it can take whole. */
  async function answerDirectly(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = options.apiHeaders(req);
    let reserved: BodyReservation | undefined;
    try {
      const principal = await options.authenticate(req, 'events:write');
      reserved = bodies.reserveFor(req, principal.fromToken ? principal.tenant : undefined);
      const body = await readDeclaredBody(req);
      if (body === undefined) return;
      refuseEmptyBody(body);
      refuseDeepJson(utf8TextOf(body, 'utf-8'));
      let parsed: unknown;
      try {
        parsed = parseJsonBody(body);
      } catch (error) {
        throw new HttpProblem(400, `the body is not valid JSON: ${(error as Error).message}`);
      }
      const answer = JSON.stringify({ results: await publish(principal, parsed) });
      res.writeHead(202, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(answer) });
      res.end(answer);
    } catch (error) {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      answerError(error, req as Request, res as Response, () => undefined);
    } finally {
      bodies.release(reserved);
    }
  }

  return {
    router,
    takesDirectly: isDirectPublishRequest,
    handleDirectly(req, res) {
      void answerDirectly(req, res);
    },
    async checkStore() {
      await beforeDeadline(bus.info({ tenant: 'fanout-readiness', kind: 'job', id: 'readiness' }), Date.now() + STORE_CHECK_MS, 'the store check');
    },
  };
}
