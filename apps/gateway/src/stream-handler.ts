import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { SUBJECT_ID_PATTERN, SUBJECT_KINDS, SubjectKind, TenantSubject } from '@fanout/contracts';
import { Bus, EventPosition, SubjectInfo, activityOf, eventTypeOf, parseEventId } from '@fanout/bus';
import { Authenticator, HttpProblem, Principal, StreamHeaders, sendProblem } from '@fanout/http';
import { SSE_HEADERS, SseConnection, endFrame, retryFrame } from '@fanout/sse';
import { ConnectionLimits } from './connection-limits';
import { DeliveryOptions, parseConflate, parseTypes, refuseSubjectStreamOptions } from './delivery-options';
import { decodeCursor } from './multi-cursor';
import { MultiEntry, MultiStream } from './multi-stream';
import { Gap, StreamPlan, malformedResume, parseTail, planResume, planTail, resumeText } from './resume-position';
import { revokedProblem } from './revocation-list';
import { SingleStream } from './single-stream';
import { STORE_FAILED } from './store-errors';
import { streamEncodingFor } from './stream-compression';
import { StreamServices, jitteredRetryMs } from './stream-context';
import { StreamSession } from './stream-session';
import { subjectFromPath, unknownSubject } from './subject-params';

export const MAX_SUBJECTS_PER_STREAM = 100;
const STREAM_PREFIX = '/api/v1/stream';
/** The query of a request without one (only ever read). */
const NO_QUERY = new URLSearchParams();

export interface StreamHandlerOptions {
  /** What the routes read (subjects' info, a pack run's state before a tail) and hand each session. */
  services: StreamServices & { bus: Pick<Bus, 'info' | 'latestStateEntries' | 'history'> };
  authenticate: Authenticator;
  limits: ConnectionLimits;
  open: Set<StreamSession>;
  isDraining: () => boolean;
  /** Whether an active revocation names the principal (checked again as the stream opens: one may have come since auth). */
  isRevoked: (principal: Principal) => boolean;
  headersFor: StreamHeaders;
}

/** A connection slot taken for a stream being prepared: `held` until a session takes it. */
interface Slot {
  held: boolean;
}

/** A request for one of the stream routes, parsed from its URL. */
interface StreamRequest {
  req: IncomingMessage;
  res: ServerResponse;
  segments: string[];
  query: URLSearchParams;
}

/** Whether a request is for a stream route (GET /api/v1/stream…), which `handleStream` answers. */
export function isStreamRequest(req: IncomingMessage): boolean {
  if (req.method !== 'GET' || !req.url?.startsWith(STREAM_PREFIX)) return false;
  const next = req.url.charAt(STREAM_PREFIX.length);
  return next === '' || next === '/' || next === '?';
}

/**
 * The stream routes, served on plain node:http objects rather than through Express, so an open
 * stream holds no router state (an idle connection costs little more than Node's own objects):
 * one subject, many subjects on one connection, and the tenant's activity. Each answers
 * 404/400/204/429/503 before streaming, then replays after the resume position and goes live.
 */
export function createStreamHandler(options: StreamHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { services, authenticate, limits, open } = options;

  const released = (session: StreamSession): void => {
    limits.release(session.tenant);
    open.delete(session);
  };
  /**
   * Runs `prepare` holding a connection slot for `principal` (or throws 429 first): a refused
   * request costs the store nothing, and the reads that prepare a stream (a tail's state, a
   * filter's scan) are as bounded as the streams. The slot goes back when `prepare` ends, unless it
   * admitted a session, which then holds it until its socket is gone.
   */
  const withSlot = async (principal: Principal, prepare: (slot: Slot) => Promise<void>): Promise<void> => {
    if (options.isRevoked(principal)) throw revokedProblem();
    limits.acquire(principal.tenant);
    const slot: Slot = { held: true };
    try {
      await prepare(slot);
    } finally {
      if (slot.held) limits.release(principal.tenant);
    }
  };
  /** Gives the slot to a new session, tracked until its socket is gone. */
  const admit = <S extends StreamSession>(
    principal: Principal,
    { req, res }: StreamRequest,
    slot: Slot,
    create: (conn: SseConnection) => S,
  ): S => {
    // A revocation may have come while the stream was prepared.
    if (options.isRevoked(principal)) throw revokedProblem();
    const encoding = streamEncodingFor(services.settings.compression, req, options.headersFor(req.headers.origin));
    const session = create(new SseConnection(res, encoding.headers, encoding.gzip));
    slot.held = false;
    open.add(session);
    session.onReleased(released);
    return session;
  };
  const noContent = ({ req, res }: StreamRequest): void => {
    res.writeHead(204, { ...options.headersFor(req.headers.origin), Connection: 'close' }).end();
  };

  const streamActivity = async (request: StreamRequest, principal: Principal): Promise<void> => {
    const { req, query } = request;
    refuseSubjectStreamOptions(query);
    const ref = activityOf(principal.tenant);
    const tail = parseTail(query.get('tail'));
    const position = eventPositionOf(req, query);
    return withSlot(principal, async (slot) => {
      const info = await services.bus.info(ref).catch(STORE_FAILED.readingActivity);
      let afterSeq = 0;
      let gap: Gap | undefined;
      const epoch = info?.epoch;
      if (info) {
        const plan = position === undefined && tail !== undefined ? planTail(tail, info) : planResume(position, info);
        if (plan.kind === 'stream') ({ afterSeq, gap } = plan);
      } else if (position) {
        gap = { reason: 'history_lost', firstAvailableSeq: 1 };
      }
      const session = admit(principal, request, slot, (conn) => new SingleStream(services, ref, conn, afterSeq, epoch, principal));
      await session.start(gap).catch(STORE_FAILED.subscribing);
    });
  };

  const streamSubject = async (request: StreamRequest, principal: Principal): Promise<void> => {
    const { req, query, segments } = request;
    const subject = subjectFromPath(segments[0]!, decodeSegment(segments[1]!), principal.tenant);
    const tail = parseTail(query.get('tail'));
    const delivery = deliveryOf(query);
    const position = eventPositionOf(req, query);
    return withSlot(principal, async (slot) => {
      const info = await services.bus.info(subject).catch(STORE_FAILED.readingSubject);
      if (!info) throw unknownSubject(subject);
      // With a resume position the id wins over ?tail=.
      const plan = position === undefined && tail !== undefined ? await planTailOf(subject, info, tail, delivery) : planResume(position, info);
      if (plan.kind === 'done' || (await nothingMoreMatches(subject, info, plan.afterSeq, delivery))) return noContent(request);
      const prefix = position === undefined && tail !== undefined ? await stateBeforeTail(subject, plan) : undefined;
      const session = admit(principal, request, slot, (conn) => new SingleStream(services, subject, conn, plan.afterSeq, info.epoch, principal, prefix, delivery));
      await session.start(plan.gap).catch(STORE_FAILED.subscribing);
    });
  };

  const streamMany = async (request: StreamRequest, principal: Principal): Promise<void> => {
    const { req, query } = request;
    const subjects = parseSubjectList(query.getAll('subjects').join(','), principal.tenant);
    const tail = parseTail(query.get('tail'));
    const delivery = deliveryOf(query);
    const text = resumeOf(req, query);
    const positions = text === undefined ? undefined : decodeCursor(text, subjects.length);
    if (text !== undefined && !positions) throw malformedResume(text);
    return withSlot(principal, async (slot) => {
      const infos = await Promise.all(subjects.map((s) => services.bus.info(s))).catch(STORE_FAILED.readingSubjects);
      subjects.forEach((subject, i) => {
        if (!infos[i]) throw unknownSubject(subject);
      });
      const entries: MultiEntry[] = await Promise.all(
        subjects.map(async (subject, i) => {
          const info = infos[i]!;
          const plan = positions === undefined && tail !== undefined ? await planTailOf(subject, info, tail, delivery) : planResume(positions?.[i], info);
          return plan.kind === 'done'
            ? { subject, epoch: info.epoch, afterSeq: info.lastSeq, done: true }
            : { subject, epoch: info.epoch, afterSeq: plan.afterSeq, done: false, gap: plan.gap };
        }),
      );
      await Promise.all(
        entries.map(async (entry, i) => {
          if (!entry.done && (await nothingMoreMatches(entry.subject, infos[i]!, entry.afterSeq, delivery))) entry.done = true;
        }),
      );
      if (positions === undefined && tail !== undefined) {
        await Promise.all(entries.map(async (entry) => (entry.prefix = await stateBeforeTail(entry.subject, entry))));
      }
      if (entries.every((e) => e.done)) return noContent(request);
      const session = admit(principal, request, slot, (conn) => new MultiStream(services, entries, conn, principal, delivery));
      await session.start().catch(STORE_FAILED.subscribing);
    });
  };

  /**
   * Where a stream started at `?tail=N` begins. With `?types=` the tail is the subject's last N events
   * of those types, found by reading its retained history backwards a page at a time, once, at
   * connect (at most the whole retained history); a history holding fewer starts at its beginning,
   * as a tail longer than the history does.
   */
  const planTailOf = async (subject: TenantSubject, info: SubjectInfo, tail: number, delivery: DeliveryOptions): Promise<StreamPlan> => {
    const types = delivery.types;
    if (!types) return planTail(tail, info);
    let found = 0;
    for (let end = info.lastSeq; end >= info.firstSeq; ) {
      const after = Math.max(info.firstSeq, end - FILTER_SCAN_PAGE + 1) - 1;
      const page = await services.bus.history(subject, after, end - after).catch(STORE_FAILED.readingHistory);
      for (let i = page.length - 1; i >= 0; i--) {
        const entry = page[i]!;
        // A hole in the history leaves fewer entries up to `end`, so the page may run on past it: those were counted.
        if (entry.seq <= end && types.has(eventTypeOf(entry.frame)) && ++found === tail) return { kind: 'stream', afterSeq: entry.seq - 1 };
      }
      end = after;
    }
    return planTail(info.lastSeq, info);
  };

  /**
   * What a pack run's stream started at `?tail=` sends before the tail: its latest status event and
   * each step's latest step event that are older than the tail, in seq order, with their own ids.
   */
  const stateBeforeTail = async (subject: TenantSubject, plan: Pick<StreamPlan, 'afterSeq'>) => {
    if (subject.kind !== 'pack-run' || plan.afterSeq === 0) return undefined;
    return services.bus.latestStateEntries(subject, plan.afterSeq + 1).catch(STORE_FAILED.readingHistory);
  };

  /**
   * A filtered stream of a terminal subject with no matching event retained after `afterSeq`: the
   * client has everything it asked for, though its last id is not the terminal event's (204, so an
   * EventSource does not come back for ever). Reads at most the retained history, once, at connect.
   */
  const nothingMoreMatches = async (subject: TenantSubject, info: SubjectInfo, afterSeq: number, delivery: DeliveryOptions): Promise<boolean> => {
    const types = delivery.types;
    if (!types || !info.terminal) return false;
    for (let after = afterSeq; after < info.lastSeq; ) {
      const page = await services.bus.history(subject, after, FILTER_SCAN_PAGE).catch(STORE_FAILED.readingHistory);
      if (page.length === 0) return true;
      if (page.some((entry) => types.has(eventTypeOf(entry.frame)))) return false;
      after = page[page.length - 1]!.seq;
    }
    return true;
  };

  /**
   * A draining replica's answer to an EventSource: a stream that ends at once with `end shutdown`,
   * so it reconnects after its `retry:` (to another replica once the load balancer has taken this
   * one out). A 503 would stop a browser's EventSource for good: it reconnects only after a 200.
   */
  const endAtOnce = (request: StreamRequest): void => {
    answerEndingStream(request, Buffer.concat([retryFrame(jitteredRetryMs(services.settings)), endFrame('shutdown')]));
  };

  /**
   * An EventSource's answer when the store failed (a 503 to any other client): a stream of a
   * `retry:` hint and a comment saying why, which ends, so it comes back after the hint. The hint is
   * 1 to 5 times the usual one, so the clients of a store that is down spread out.
   */
  const retryLater = (request: StreamRequest, problem: HttpProblem): void => {
    const retryMs = services.settings.retryMs;
    const hint = jitteredRetryMs({ retryMs: 3 * retryMs, retryJitterMs: 2 * retryMs });
    answerEndingStream(request, `retry: ${hint}\n\n: ${problem.detail.replace(/[\r\n]+/g, ' ')}\n\n`);
  };

  /** A 200 stream of `body` that ends there, for an EventSource to come back from after its `retry:`. */
  const answerEndingStream = ({ req, res }: StreamRequest, body: Buffer | string): void => {
    res.writeHead(200, { ...options.headersFor(req.headers.origin), ...SSE_HEADERS, Connection: 'close' });
    res.end(body);
  };

  const route = async (request: StreamRequest): Promise<void> => {
    if (options.isDraining()) {
      if (acceptsEventStream(request.req)) return endAtOnce(request);
      throw new HttpProblem(503, 'this replica is shutting down: reconnect to another', {}, { 'Retry-After': '1' });
    }
    const { segments } = request;
    if (segments.length > 2) throw new HttpProblem(404, `no route for GET ${STREAM_PREFIX}/${segments.join('/')}`);
    const principal = await authenticate(request.req, 'stream:read');
    refuseRepeated(request.query);
    if (segments.length === 0) return streamMany(request, principal);
    if (segments.length === 1 && segments[0] === 'subjects') return streamActivity(request, principal);
    if (segments.length === 2) return streamSubject(request, principal);
    throw new HttpProblem(404, `no route for GET ${STREAM_PREFIX}/${segments.join('/')}`);
  };

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    // The request target split by hand (isStreamRequest checked its prefix): no URL object, and no
    // query object at all for the usual stream without one, held while the stream sets up.
    const target = req.url ?? '/';
    const queryAt = target.indexOf('?');
    const path = queryAt < 0 ? target : target.slice(0, queryAt);
    const query = queryAt < 0 ? NO_QUERY : new URLSearchParams(target.slice(queryAt + 1));
    const segments = path.slice(STREAM_PREFIX.length).split('/').filter(Boolean);
    const request = { req, res, segments, query };
    route(request).catch((error: Error) => {
      // A refused stream closes its connection: nothing of it is left to hold a socket.
      const headers = { ...options.headersFor(req.headers.origin), Connection: 'close' };
      // A browser's EventSource gives up for good on any status but 200: for a failure that passes, it gets a stream to come back from.
      if (error instanceof HttpProblem && error.status === 503 && acceptsEventStream(req) && !res.headersSent) return retryLater(request, error);
      if (error instanceof HttpProblem) return sendProblem(res, error, headers);
      services.logger.error({ err: error }, 'unexpected error on a stream route');
      sendProblem(res, new HttpProblem(500, 'an unexpected error occurred; it has been logged'), headers);
    });
  };

  return (req, res) => {
    if (res.socket) return serve(req, res);
    // Pipelined behind another response on its connection: served once the connection is its
    // own, so that its session is tied to the socket that carries it. Behind a stream (which
    // never gives the connection back), more than a few such requests end the connection.
    const socket = req.socket;
    const waiting = (waitingStreams.get(socket) ?? 0) + 1;
    if (waiting > MAX_PIPELINED_STREAMS) {
      socket.destroy();
      return;
    }
    waitingStreams.set(socket, waiting);
    res.once('socket', () => {
      waitingStreams.set(socket, (waitingStreams.get(socket) ?? 1) - 1);
      serve(req, res);
    });
  };
}

/** Events read per page when checking whether a filtered stream has anything left to send. */
const FILTER_SCAN_PAGE = 100;

/**
 * Stream options that take one value (`subjects` and `types` add up when repeated). `lastEventId` is
 * not judged: EventSource polyfills append it to a URL that may hold one already (the last one
 * given counts), and the header wins.
 */
const SINGLE_VALUED = ['tail', 'conflate'] as const;

/** A single-valued parameter given twice with values is a 400, as on the history routes, rather than one of them silently winning. */
function refuseRepeated(query: URLSearchParams): void {
  if (query === NO_QUERY) return;
  for (const name of SINGLE_VALUED) {
    if (query.getAll(name).filter((value) => value !== '').length > 1) {
      throw new HttpProblem(400, 'invalid query parameters', { errors: [{ path: name, message: 'given more than once: give it once' }] });
    }
  }
}

function deliveryOf(query: URLSearchParams): DeliveryOptions {
  return { types: parseTypes(query.getAll('types')), conflate: parseConflate(query.get('conflate')) };
}

/** Stream requests pipelined on one connection that may wait for it; one more ends the connection. */
const MAX_PIPELINED_STREAMS = 4;
/** Per connection: its stream requests waiting for the responses before them. */
const waitingStreams = new WeakMap<Socket, number>();

function resumeOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers['last-event-id'];
  // Given more than once, the last non-empty one: what a polyfill appends to a URL that held one is the newer.
  const given = query.getAll('lastEventId').filter((value) => value !== '');
  return resumeText(Array.isArray(header) ? header[0] : header, given[given.length - 1]);
}

/** The resume position of a single-subject (or activity) stream: none, or a valid event id (else 400). */
function eventPositionOf(req: IncomingMessage, query: URLSearchParams): EventPosition | undefined {
  const text = resumeOf(req, query);
  if (text === undefined) return undefined;
  const position = parseEventId(text);
  if (!position) throw malformedResume(text);
  return position;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, 'the subject id is not valid percent-encoding');
  }
}

/** `job:a,pack-run:b,…`: entries split at the first colon, at most 100, duplicates ignored. */
function parseSubjectList(text: string, tenant: string): TenantSubject[] {
  if (text.trim() === '') {
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

/** Whether the request is an EventSource's (it always sends `Accept: text/event-stream`). */
function acceptsEventStream(req: IncomingMessage): boolean {
  return /\btext\/event-stream\b/i.test(req.headers.accept ?? '');
}
