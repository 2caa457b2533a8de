import * as z from 'zod';
import { CONTROL_FRAMES, END_REASONS, SubjectUpdatedFrameData } from './control-frames';
import {
  EVENT_TYPES,
  EVENT_TYPE_NAMES,
  EventType,
  JobProgressEvent,
  JobStatusEvent,
  MAX_BATCH_EVENTS,
  MAX_EVENT_BYTES,
  MAX_REQUEST_BYTES,
  PackRunLogEvent,
  PackRunStatusEvent,
  PackRunStepEvent,
  PublishedEventSchema,
  RunProgressEvent,
  RunStatusEvent,
  StreamedEventSchema,
  StreamedEventSchemas,
} from './events';
import {
  HistoryPageSchema,
  HistoryQuerySchema,
  LogQuerySchema,
  ProblemSchema,
  PublishAcceptedSchema,
  PublishConflictSchema,
  PublishOverQuotaSchema,
  StreamQuerySchema,
  SubjectSummarySchema,
  SubjectsListSchema,
  SubjectsQuerySchema,
} from './http-api';
import { MAX_REVOCATION_DAYS, RevocationListSchema, RevocationRequestSchema, RevocationSchema, WatchersSchema } from './admin-api';
import { ROUTE_SEGMENT_TO_KIND, SUBJECT_ID_PATTERN, SubjectKind, SubjectSchema } from './subject';

/**
 * The machine-readable contract, generated from the zod schemas (never written by hand): an OpenAPI
 * 3.1 document for every HTTP route, and a standalone JSON Schema (2020-12) for every event type and
 * control frame. `npm run build` writes them to docs/ (scripts/generate-docs.js); the servers answer
 * the document at GET /api/v1/openapi.json.
 */

type JsonSchema = Record<string, unknown>;
type ZodSchema = z.ZodType;

export const OPENAPI_PATH = '/api/v1/openapi.json';
const DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** `job.status` → `JobStatus`, `pack_run.log` → `PackRunLog`. */
function pascal(name: string): string {
  return name
    .split(/[._-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

const PUBLISHED_BY_TYPE: Record<EventType, ZodSchema> = {
  'job.status': JobStatusEvent,
  'job.progress': JobProgressEvent,
  'pack_run.status': PackRunStatusEvent,
  'pack_run.step': PackRunStepEvent,
  'pack_run.log': PackRunLogEvent,
  'run.status': RunStatusEvent,
  'run.progress': RunProgressEvent,
};

const EVENT_DESCRIPTIONS: Record<EventType, string> = {
  'job.status': "A job's status. Job: pending → scheduled → leased → running → succeeded | failed | canceled | timed_out; scheduled ↔ throttled; leased → scheduled (lease expired); running → scheduled (retry: attempt + 1); canceled from any non-terminal status.",
  'job.progress': "A job's progress, 0–100 percent.",
  'pack_run.status': "A pack run's status: pending → running → succeeded | failed | canceled. The first event lists the steps.",
  'pack_run.step': "A step of a pack run: pending → running | skipped; running → succeeded | failed.",
  'pack_run.log': 'One line of a step\'s output; lineNo counts from 1 within the step.',
  'run.status': "A run's status: pending → running → completed | failed | canceled.",
  'run.progress': "A run's counts of jobs by status.",
};

const FRAME_DESCRIPTIONS: Record<string, string> = {
  heartbeat: 'Sent after FANOUT_HEARTBEAT_MS with nothing written. No id.',
  end: `The stream ends after this frame. reason: ${END_REASONS.join(', ')}. No id.`,
  gap: 'The resume position is older than retained history (or from another epoch): what follows starts at firstAvailableSeq. No id.',
  conflated:
    'With ?conflate=progress, when the client fell behind: the subject\'s progress events from firstSeq to lastSeq (skipped of them) were not sent, superseded by the progress event that follows; every other event in that range was sent. Names the subject on a multi-subject stream. No id.',
  'subject.updated': 'On the activity stream: a subject of the tenant changed status. It has an id (the activity stream is resumable).',
};

/** Every schema that is a component of the OpenAPI document, by component name. */
function componentSchemas(): [string, ZodSchema][] {
  return [
    ['Subject', SubjectSchema],
    ...EVENT_TYPE_NAMES.map((type): [string, ZodSchema] => [`${pascal(type)}Input`, PUBLISHED_BY_TYPE[type]]),
    ['PublishedEvent', PublishedEventSchema],
    ...EVENT_TYPE_NAMES.map((type): [string, ZodSchema] => [`${pascal(type)}Event`, StreamedEventSchemas[type]]),
    ['StreamedEvent', StreamedEventSchema],
    ...Object.entries(CONTROL_FRAMES).map(([name, schema]): [string, ZodSchema] => [`${pascal(name)}Frame`, schema]),
    ['SubjectUpdatedFrame', SubjectUpdatedFrameData],
    ['PublishAccepted', PublishAcceptedSchema],
    ['Problem', ProblemSchema],
    ['PublishConflict', PublishConflictSchema],
    ['PublishOverQuota', PublishOverQuotaSchema],
    ['HistoryPage', HistoryPageSchema],
    ['SubjectSummary', SubjectSummarySchema],
    ['SubjectsList', SubjectsListSchema],
    // Live revocation and watcher counts (issue 17)
    ['RevocationRequest', RevocationRequestSchema],
    ['Revocation', RevocationSchema],
    ['RevocationList', RevocationListSchema],
    ['Watchers', WatchersSchema],
  ];
}

function withoutDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

function componentDescription(name: string): string | undefined {
  for (const type of EVENT_TYPE_NAMES) {
    if (name === `${pascal(type)}Event`) return `A ${type} event as streamed (the data: line of its frame): the published event, defaults applied, plus seq and publishedAt. ${EVENT_DESCRIPTIONS[type]}`;
    if (name === `${pascal(type)}Input`) return `A ${type} event as published. ${EVENT_DESCRIPTIONS[type]}`;
  }
  for (const frame of Object.keys(FRAME_DESCRIPTIONS)) if (name === `${pascal(frame)}Frame`) return FRAME_DESCRIPTIONS[frame];
  return undefined;
}

function buildComponents(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of componentSchemas()) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const out: Record<string, JsonSchema> = {};
  for (const [id] of componentSchemas()) {
    const schema = withoutDialect(schemas[id]!);
    const description = componentDescription(id);
    out[id] = description && !schema['description'] ? { description, ...schema } : schema;
  }
  // Unions over `type` tell code generators which variant to pick.
  const discriminated = (suffix: string) => ({
    propertyName: 'type',
    mapping: Object.fromEntries(EVENT_TYPE_NAMES.map((type) => [type, `#/components/schemas/${pascal(type)}${suffix}`])),
  });
  out['PublishedEvent'] = { ...out['PublishedEvent'], discriminator: discriminated('Input') };
  out['StreamedEvent'] = { ...out['StreamedEvent'], discriminator: discriminated('Event') };
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problemResponse = (description: string, schema = 'Problem') => ({
  description,
  content: { 'application/problem+json': { schema: ref(schema) } },
});
const RETRY_AFTER = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' } } };
const ANSWER_UNAVAILABLE = 'the store is unavailable, or the gateway held FANOUT_MAX_ANSWER_BYTES_IN_FLIGHT of history and log answers for 5 s: retry';

/** Query parameters from a zod object schema, as the request sends them. */
function queryParameters(schema: z.ZodObject): JsonSchema[] {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(json.properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return { name, in: 'query', required: json.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: propertySchema };
  });
}

const ID_PARAMETER = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'the subject id',
  schema: { type: 'string', pattern: SUBJECT_ID_PATTERN.source },
};
const LAST_EVENT_ID_HEADER = {
  name: 'Last-Event-ID',
  in: 'header',
  required: false,
  description: 'the resume position: the id of the last event received (empty counts as none)',
  schema: { type: 'string' },
};
const TENANT_HEADER = {
  name: 'X-Tenant',
  in: 'header',
  required: false,
  description: 'the tenant when the server runs with FANOUT_AUTH=none (default "default"); ignored with JWT',
  schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
};
const AUTH_ERRORS = {
  '401': problemResponse('a token is missing, malformed, expired or badly signed (WWW-Authenticate: Bearer)'),
  '403': problemResponse('the token lacks the needed scope (or publishes for another tenant)'),
};
const READ_SECURITY = [{ bearer: [] }, { accessToken: [] }, {}];

/** A text/event-stream answer and the frames it may carry (named by the SSE `event:` field). */
function streamResponse(description: string, frames: Record<string, string>) {
  const list = Object.entries(frames)
    .map(([event, schema]) => `- \`${event}\`: ${schema}`)
    .join('\n');
  return {
    description: `${description}\n\nEvery frame has \`event:\` and one \`data:\` line of JSON; domain frames also an \`id:\` (the resume position). The first frame is \`retry: <FANOUT_RETRY_MS>\`. Frames:\n${list}`,
    headers: {
      'Cache-Control': { schema: { type: 'string', const: 'no-cache, no-transform' } },
      'X-Accel-Buffering': { schema: { type: 'string', const: 'no' } },
      'Content-Encoding': {
        description: "`gzip` when the request's Accept-Encoding takes gzip (weight above 0); absent otherwise, and always with FANOUT_COMPRESSION=off. Decompressed, the body is the same stream.",
        schema: { type: 'string', const: 'gzip' },
      },
      Vary: { description: 'includes `Accept-Encoding` while compression is on (and `Origin` with CORS)', schema: { type: 'string' } },
    },
    content: { 'text/event-stream': { schema: { type: 'string', description: 'a stream of SSE frames' } } },
    'x-sse-frames': Object.fromEntries(Object.entries(frames).map(([event, schema]) => [event, ref(schema)])),
  };
}

const CONTROL_FRAME_REFS = { heartbeat: 'HeartbeatFrame', end: 'EndFrame', gap: 'GapFrame', conflated: 'ConflatedFrame' };

function framesOfKind(kind: SubjectKind): Record<string, string> {
  const domain = EVENT_TYPE_NAMES.filter((type) => EVENT_TYPES[type].kind === kind).map((type): [string, string] => [type, `${pascal(type)}Event`]);
  return { ...Object.fromEntries(domain), ...CONTROL_FRAME_REFS };
}

const STREAM_ERRORS = {
  '204': { description: 'the subject is terminal and the client already has its last event (stops an EventSource from reconnecting)' },
  '400': problemResponse('a malformed subject id or resume position, or one ahead of the last event'),
  ...AUTH_ERRORS,
  '404': problemResponse("no such subject (another tenant's looks the same)"),
  '429': { ...problemResponse('over FANOUT_MAX_CONNECTIONS or FANOUT_MAX_CONNECTIONS_PER_TENANT'), headers: RETRY_AFTER },
  '503': { ...problemResponse('the replica is draining, or the store is unavailable: reconnect'), headers: RETRY_AFTER },
};

/** Query parameters of the subject streams that the activity stream does not take. */
const SUBJECT_STREAM_ONLY = ['types', 'conflate'];

function buildPaths(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const streamQuery = queryParameters(StreamQuerySchema);

  paths['/api/v1/events'] = {
    post: {
      operationId: 'publishEvents',
      tags: ['publisher'],
      summary: 'Publish one event or a batch',
      description: `One event, or {"events": [...]} with 1–${MAX_BATCH_EVENTS} events. The whole request is validated first (nothing is stored on any schema or size error); then it is stored subject by subject, each subject's events all or none. An event's JSON is at most ${MAX_EVENT_BYTES} bytes, the body at most ${MAX_REQUEST_BYTES}. A repeated eventId for the same subject answers its original seq with duplicate: true. With FANOUT_AUTH=none the body's tenant is required.`,
      security: [{ bearer: [] }, {}],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { oneOf: [ref('PublishedEvent'), { type: 'object', properties: { events: { type: 'array', minItems: 1, maxItems: MAX_BATCH_EVENTS, items: ref('PublishedEvent') } }, required: ['events'], additionalProperties: false }] },
          },
        },
      },
      responses: {
        '202': { description: 'every event was stored (or was a duplicate)', content: { 'application/json': { schema: ref('PublishAccepted') } } },
        '400': problemResponse('not JSON, or a schema error: `errors` lists every one with its dotted path'),
        ...AUTH_ERRORS,
        '409': problemResponse("some subject's events break its state machine; `results` says per event what was stored", 'PublishConflict'),
        '413': problemResponse(`an event over ${MAX_EVENT_BYTES} bytes, or a body over ${MAX_REQUEST_BYTES} bytes`),
        '415': problemResponse('the body is not JSON (Content-Type)'),
        '429': {
          ...problemResponse("a new subject would pass its tenant's FANOUT_TENANT_MAX_SUBJECTS: that subject's events are refused, the other subjects' stored; `results` says per event what was stored", 'PublishOverQuota'),
          headers: RETRY_AFTER,
        },
        '503': {
          ...problemResponse('the store did not answer within 5 s, or the publisher is reading as many bodies as FANOUT_MAX_BODY_BYTES_IN_FLIGHT allows: nothing stored; retry with the same eventIds'),
          headers: RETRY_AFTER,
        },
      },
    },
  };

  for (const [segment, kind] of Object.entries<SubjectKind>(ROUTE_SEGMENT_TO_KIND)) {
    paths[`/api/v1/stream/${segment}/{id}`] = {
      get: {
        operationId: `stream${pascal(kind)}`,
        tags: ['gateway'],
        summary: `Stream one ${kind}'s events (SSE)`,
        description: `Replays every retained event after the resume position (all of them without one), then goes live, with no gap and no duplicate. seq is 1, 2, 3, … per subject. Ends with \`end\` {completed} after the terminal event.`,
        security: READ_SECURITY,
        parameters: [ID_PARAMETER, LAST_EVENT_ID_HEADER, TENANT_HEADER, ...streamQuery],
        responses: { '200': streamResponse(`the ${kind}'s events`, framesOfKind(kind)), ...STREAM_ERRORS },
      },
    };
  }

  paths['/api/v1/stream'] = {
    get: {
      operationId: 'streamMany',
      tags: ['gateway'],
      summary: 'Stream many subjects on one connection (SSE)',
      description: 'The id of every domain frame is a cursor holding every subject\'s position, so one Last-Event-ID resumes them all. A subject that ends is dropped; the stream ends `completed` when all have. Gap frames carry the subject.',
      security: READ_SECURITY,
      parameters: [
        { name: 'subjects', in: 'query', required: true, description: 'comma-separated kind:id entries (at most 100), split at the first colon', schema: { type: 'string' } },
        LAST_EVENT_ID_HEADER,
        TENANT_HEADER,
        ...streamQuery,
      ],
      responses: {
        '200': streamResponse('the subjects\' events', { ...Object.fromEntries(EVENT_TYPE_NAMES.map((type) => [type, `${pascal(type)}Event`])), ...CONTROL_FRAME_REFS }),
        ...STREAM_ERRORS,
        '400': problemResponse('more than 100 entries, a malformed entry, or a malformed cursor'),
        '404': problemResponse("an unknown (or another tenant's) subject among them"),
      },
    },
  };

  paths['/api/v1/stream/subjects'] = {
    get: {
      operationId: 'streamActivity',
      tags: ['gateway'],
      summary: "Stream the tenant's activity (SSE)",
      description: 'subject.updated on every status change of any subject of the caller\'s tenant (status events only: not steps, logs or progress). Resumable like any stream; it never completes.',
      security: READ_SECURITY,
      parameters: [LAST_EVENT_ID_HEADER, TENANT_HEADER, ...streamQuery.filter((p) => !SUBJECT_STREAM_ONLY.includes(String(p['name'])))],
      responses: {
        '200': streamResponse('status changes', { 'subject.updated': 'SubjectUpdatedFrame', heartbeat: 'HeartbeatFrame', end: 'EndFrame', gap: 'GapFrame' }),
        '400': STREAM_ERRORS['400'],
        ...AUTH_ERRORS,
        '429': STREAM_ERRORS['429'],
        '503': STREAM_ERRORS['503'],
      },
    },
  };

  for (const [segment, kind] of Object.entries<SubjectKind>(ROUTE_SEGMENT_TO_KIND)) {
    paths[`/api/v1/${segment}/{id}/events`] = {
      get: {
        operationId: `history${pascal(kind)}`,
        tags: ['gateway'],
        summary: `A ${kind}'s retained events as JSON, page by page (forwards with after, backwards with before)`,
        security: READ_SECURITY,
        parameters: [ID_PARAMETER, TENANT_HEADER, ...queryParameters(HistoryQuerySchema), ...queryParameters(StreamQuerySchema).filter((p) => p['name'] === 'access_token')],
        responses: {
          '200': {
            description: 'a page of events',
            headers: {
              'Fanout-First-Seq': { description: 'the first retained seq when the request arrived (above 1: the history was trimmed)', schema: { type: 'integer' } },
              'Fanout-Last-Seq': { description: "the subject's last seq when the request arrived", schema: { type: 'integer' } },
            },
            content: { 'application/json': { schema: ref('HistoryPage') } },
          },
          '400': problemResponse('invalid query parameters or subject id'),
          ...AUTH_ERRORS,
          '404': problemResponse("no such subject (another tenant's looks the same)"),
          '503': { ...problemResponse(ANSWER_UNAVAILABLE), headers: RETRY_AFTER },
        },
      },
    };
  }

  paths['/api/v1/pack-runs/{id}/log'] = {
    get: {
      operationId: 'packRunLog',
      tags: ['gateway'],
      summary: "A pack run's retained log as plain text",
      description:
        "Every retained pack_run.log event's message followed by \\n, in seq order (a message's own \\r and \\n are written as they are), up to the last event stored when the request arrived; streamed page by page as the client reads. When the retained history starts after seq 1, the first line says so: `[fanout] history trimmed: events 1..N-1 of this pack run are no longer retained; the log below starts at seq N`. Headers Fanout-First-Seq and Fanout-Last-Seq give the seqs read.",
      security: READ_SECURITY,
      parameters: [ID_PARAMETER, TENANT_HEADER, ...queryParameters(LogQuerySchema), ...queryParameters(StreamQuerySchema).filter((p) => p['name'] === 'access_token')],
      responses: {
        '200': {
          description: 'the log',
          headers: {
            'Content-Disposition': { description: 'with download=1: attachment; filename="pack-run-<id>.log"', schema: { type: 'string' } },
            'Fanout-First-Seq': { description: 'the first retained seq (above 1: the history was trimmed)', schema: { type: 'integer' } },
            'Fanout-Last-Seq': { description: 'the last seq this answer reads up to', schema: { type: 'integer' } },
          },
          content: { 'text/plain; charset=utf-8': { schema: { type: 'string' } } },
        },
        '400': problemResponse('invalid query parameters or subject id'),
        ...AUTH_ERRORS,
        '404': problemResponse("no such pack run (another tenant's looks the same)"),
        '503': { ...problemResponse(ANSWER_UNAVAILABLE), headers: RETRY_AFTER },
      },
    },
  };

  paths['/api/v1/subjects'] = {
    get: {
      operationId: 'listSubjects',
      tags: ['gateway'],
      summary: "The tenant's recently updated subjects",
      security: READ_SECURITY,
      parameters: [TENANT_HEADER, ...queryParameters(SubjectsQuerySchema), ...queryParameters(StreamQuerySchema).filter((p) => p['name'] === 'access_token')],
      responses: {
        '200': { description: 'most recently updated first', content: { 'application/json': { schema: ref('SubjectsList') } } },
        '400': problemResponse('invalid query parameters'),
        ...AUTH_ERRORS,
        '503': problemResponse('the store is unavailable'),
      },
    },
  };

  addRevocationAndWatcherPaths(paths);

  const statusBody = (values: string[]) => ({
    'application/json': { schema: { type: 'object', properties: { status: { type: 'string', enum: values } }, required: ['status'] } },
  });
  paths['/healthz'] = {
    get: { operationId: 'health', tags: ['operations'], summary: 'Liveness: 200 while the process runs', security: [{}], responses: { '200': { description: 'alive', content: statusBody(['ok']) } } },
  };
  paths['/readyz'] = {
    get: {
      operationId: 'ready',
      tags: ['operations'],
      summary: 'Readiness',
      description: 'Gateway: 200 while a canary published through the store comes back over this replica\'s subscription path (every second); 503 within 2 s of either failing, and while draining. Publisher: 200 when the store answers.',
      security: [{}],
      responses: { '200': { description: 'ready', content: statusBody(['ready']) }, '503': problemResponse('not ready: the detail says why (draining, the canary, the store)') },
    },
  };
  paths['/metrics'] = {
    get: {
      operationId: 'metrics',
      tags: ['operations'],
      summary: 'Prometheus metrics',
      security: [{}],
      responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  };
  paths[OPENAPI_PATH] = {
    get: {
      operationId: 'openapi',
      tags: ['operations'],
      summary: 'This document',
      security: [{}],
      responses: { '200': { description: 'the OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  };
  paths['/'] = {
    get: {
      operationId: 'dashboard',
      tags: ['gateway'],
      summary: 'The dashboard (HTML)',
      security: [{}],
      responses: {
        '200': { description: 'the dashboard page', content: { 'text/html': { schema: { type: 'string' } } } },
        '503': problemResponse('the dashboard was not built (`npm run build` bundles it)'),
      },
    },
  };
  return paths;
}

/** Live revocation and watcher counts (issue 17). */
function addRevocationAndWatcherPaths(paths: Record<string, unknown>): void {
  for (const [segment, kind] of Object.entries<SubjectKind>(ROUTE_SEGMENT_TO_KIND)) {
    paths[`/api/v1/${segment}/{id}/watchers`] = {
      get: {
        operationId: `watchers${pascal(kind)}`,
        tags: ['gateway'],
        summary: `How many open streams follow the ${kind}, over every replica`,
        description:
          'Every stream that follows the subject counts once (a multi-subject stream counts once for each of its subjects; the activity stream for none), summed over every live gateway replica. Each replica reports the counts that changed every 2 s; the counts of a replica that stops reporting (killed) stop counting within 6 s.',
        security: READ_SECURITY,
        parameters: [ID_PARAMETER, TENANT_HEADER, ...queryParameters(StreamQuerySchema).filter((p) => p['name'] === 'access_token')],
        responses: {
          '200': { description: 'the count', content: { 'application/json': { schema: ref('Watchers') } } },
          '400': problemResponse('a malformed subject id'),
          ...AUTH_ERRORS,
          '404': problemResponse("no such subject (another tenant's looks the same)"),
          '503': problemResponse('the store is unavailable'),
        },
      },
    };
  }
  const adminErrors = {
    '401': problemResponse('a token is missing, malformed, expired, badly signed or revoked (WWW-Authenticate: Bearer)'),
    '403': problemResponse('the token lacks the admin scope'),
    '503': { ...problemResponse('the store is unavailable'), headers: RETRY_AFTER },
  };
  paths['/api/v1/admin/revocations'] = {
    get: {
      operationId: 'listRevocations',
      tags: ['admin'],
      summary: 'The active revocations',
      security: [{ bearer: [] }, {}],
      responses: { '200': { description: 'soonest to lapse first', content: { 'application/json': { schema: ref('RevocationList') } } }, ...adminErrors },
    },
    post: {
      operationId: 'revoke',
      tags: ['admin'],
      summary: 'Revoke a token (jti), a token subject (sub) or a whole tenant until a time',
      description: `Every replica ends each open stream the revocation names with \`end\` {"reason":"revoked"} within a second, and answers 401 to the tokens it names from then on, until expiresAt (at most ${MAX_REVOCATION_DAYS} days ahead). Revocations are kept in the store, so a replica started later refuses them too.`,
      security: [{ bearer: [] }, {}],
      requestBody: { required: true, content: { 'application/json': { schema: ref('RevocationRequest') } } },
      responses: {
        '201': { description: 'the revocation, active', headers: { Location: { description: 'its URL, for DELETE', schema: { type: 'string' } } }, content: { 'application/json': { schema: ref('Revocation') } } },
        '400': problemResponse('not JSON, not exactly one of jti, sub and tenant, or an expiresAt not in the future or too far ahead'),
        ...adminErrors,
        '409': problemResponse('FANOUT_MAX_REVOCATIONS revocations are active already'),
        '413': problemResponse('the body is over 4096 bytes'),
        '415': problemResponse('the body is not JSON (Content-Type)'),
      },
    },
  };
  paths['/api/v1/admin/revocations/{id}'] = {
    delete: {
      operationId: 'liftRevocation',
      tags: ['admin'],
      summary: 'Lift a revocation',
      security: [{ bearer: [] }, {}],
      parameters: [{ name: 'id', in: 'path', required: true, description: 'the revocation id', schema: { type: 'string' } }],
      responses: { '204': { description: 'lifted: the tokens it named are taken again' }, ...adminErrors, '404': problemResponse('no active revocation has that id') },
    },
  };
}

/** The OpenAPI 3.1 document of every HTTP route of the gateway, the publisher and `fanout dev`. */
export function buildOpenApiDocument(): JsonSchema {
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: DIALECT,
    info: {
      title: 'fanout',
      version: '1.0.0',
      summary: 'A horizontally scaled Server-Sent Events fan-out gateway',
      description:
        'The publisher (`fanout publisher`) answers POST /api/v1/events; the gateway replicas (`fanout gateway`) answer the streams, the history and the dashboard; `fanout dev` answers all of them on one port. Every error is application/problem+json. Generated from libs/contracts; do not edit by hand.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'publisher', description: 'ingest: validates, orders, stores and publishes events' },
      { name: 'gateway', description: 'SSE streams, history and the dashboard' },
      { name: 'operations', description: 'probes, metrics and this document (no token needed)' },
      { name: 'admin', description: 'live revocation (scope admin)' },
    ],
    paths: buildPaths(),
    components: {
      schemas: buildComponents(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'claims: tenant, scope (stream:read, events:write, admin), exp; jti and sub are what a revocation may name' },
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token', description: 'the same JWT, for EventSource (which cannot set headers)' },
      },
    },
  };
}

/** A standalone JSON Schema (2020-12, nothing to resolve) for every event type and control frame, by file name. */
export function buildJsonSchemas(): Record<string, JsonSchema> {
  const standalone = (file: string, title: string, description: string, schema: ZodSchema): [string, JsonSchema] => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
    const { $schema: _dialect, ...rest } = json;
    return [file, { $schema: DIALECT, $id: file, title, description, ...rest }];
  };
  const entries: [string, JsonSchema][] = [];
  for (const type of EVENT_TYPE_NAMES) {
    entries.push(standalone(`${type}.json`, `${type} (streamed)`, `The data: line of a ${type} frame. ${EVENT_DESCRIPTIONS[type]}`, StreamedEventSchemas[type]));
    entries.push(standalone(`${type}.published.json`, `${type} (published)`, `A ${type} event as POSTed to /api/v1/events. ${EVENT_DESCRIPTIONS[type]}`, PUBLISHED_BY_TYPE[type]));
  }
  entries.push(standalone('streamed-event.json', 'any streamed event', 'The data: line of any domain frame of a subject stream.', StreamedEventSchema));
  entries.push(standalone('published-event.json', 'any published event', 'One event as POSTed to /api/v1/events.', PublishedEventSchema));
  for (const [name, schema] of Object.entries(CONTROL_FRAMES)) {
    entries.push(standalone(`${name}.frame.json`, `${name} frame`, FRAME_DESCRIPTIONS[name] ?? name, schema));
  }
  entries.push(standalone('subject.updated.frame.json', 'subject.updated frame', FRAME_DESCRIPTIONS['subject.updated']!, SubjectUpdatedFrameData));
  return Object.fromEntries(entries);
}
