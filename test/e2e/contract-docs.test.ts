/**
 * The generated contract documents: docs/openapi.json and docs/schemas/*.json are what libs/contracts
 * generates (a stale file fails here), the OpenAPI document passes a standard OpenAPI parser, and real
 * frames and answers captured from a running stack validate against the generated JSON Schemas with
 * a standard validator (ajv). Timeouts are hang guards only.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { buildJsonSchemas, buildOpenApiDocument } from '@fanout/contracts';
import { REPO_ROOT } from '../support/fanout-process';
import { openStream, SseFrame } from '../support/sse-client';
import { jobEvents, packRunEvents, runEvents, Stack, startStack } from '../support/stack';

type Json = Record<string, any>;
const DOCS = join(REPO_ROOT, 'docs');
const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const format = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv;
}

describe('generated documents in docs/', () => {
  it('docs/openapi.json and docs/schemas/*.json are exactly what libs/contracts generates (run `npm run build` when this fails)', () => {
    const stale: string[] = [];
    if (readFileSync(join(DOCS, 'openapi.json'), 'utf8') !== format(buildOpenApiDocument())) stale.push('docs/openapi.json');
    const schemas = buildJsonSchemas();
    const onDisk = readdirSync(join(DOCS, 'schemas')).filter((f) => f.endsWith('.json'));
    for (const name of onDisk) if (!(name in schemas)) stale.push(`docs/schemas/${name} (no longer generated)`);
    for (const [name, schema] of Object.entries(schemas)) {
      let text: string | undefined;
      try {
        text = readFileSync(join(DOCS, 'schemas', name), 'utf8');
      } catch {
        text = undefined;
      }
      if (text !== format(schema)) stale.push(`docs/schemas/${name}`);
    }
    expect(stale).toEqual([]);
  });

  it('has a schema for every event type (streamed and published) and every control frame', () => {
    const names = Object.keys(buildJsonSchemas()).sort();
    for (const type of ['job.status', 'job.progress', 'pack_run.status', 'pack_run.step', 'pack_run.log', 'run.status', 'run.progress']) {
      expect(names).toContain(`${type}.json`);
      expect(names).toContain(`${type}.published.json`);
    }
    for (const frame of ['heartbeat', 'end', 'gap', 'subject.updated']) expect(names).toContain(`${frame}.frame.json`);
  });

  it('the OpenAPI document is valid OpenAPI 3.1 (swagger-parser) and names every route', async () => {
    const doc = readJson(join(DOCS, 'openapi.json'));
    const api = (await SwaggerParser.validate(structuredClone(doc) as never)) as Json;
    expect(api.openapi).toBe('3.1.0');
    expect(Object.keys(api.paths).sort()).toEqual(
      [
        '/',
        '/api/v1/events',
        '/api/v1/jobs/{id}/events',
        '/api/v1/openapi.json',
        '/api/v1/pack-runs/{id}/events',
        '/api/v1/pack-runs/{id}/log',
        '/api/v1/runs/{id}/events',
        '/api/v1/stream',
        '/api/v1/stream/jobs/{id}',
        '/api/v1/stream/pack-runs/{id}',
        '/api/v1/stream/runs/{id}',
        '/api/v1/stream/subjects',
        '/api/v1/subjects',
        '/healthz',
        '/metrics',
        '/readyz',
        // Live revocation and watcher counts (issue 17)
        '/api/v1/admin/revocations',
        '/api/v1/admin/revocations/{id}',
        '/api/v1/jobs/{id}/watchers',
        '/api/v1/pack-runs/{id}/watchers',
        '/api/v1/runs/{id}/watchers',
      ].sort(),
    );
    // Every component schema compiles under JSON Schema 2020-12.
    const ajv = newAjv();
    ajv.addSchema({ $id: 'https://fanout.invalid/openapi.json', components: doc.components }, 'openapi');
    for (const name of Object.keys(doc.components.schemas)) {
      expect(ajv.getSchema(`https://fanout.invalid/openapi.json#/components/schemas/${name}`)).toBeDefined();
    }
  });
});

describe('real traffic against the generated schemas', () => {
  let stack: Stack;
  const ajv = newAjv();
  const schemas = buildJsonSchemas();
  for (const schema of Object.values(schemas)) ajv.addSchema(schema);
  const openapi = readJson(join(DOCS, 'openapi.json'));
  ajv.addSchema({ $id: 'https://fanout.invalid/openapi.json', components: openapi.components });
  const component = (name: string) => `https://fanout.invalid/openapi.json#/components/schemas/${name}`;

  /** Validation errors of `value` against the schema `id` (a file name or a component URI). */
  const problems = (id: string, value: unknown): string[] => {
    const validate = ajv.getSchema(id);
    if (!validate) return [`no schema ${id}`];
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${id} ${e.instancePath} ${e.message}: ${JSON.stringify(value).slice(0, 300)}`);
  };
  /** The schema file a frame's data must match, by its event name. */
  const frameProblems = (frame: SseFrame): string[] => {
    if (frame.event === 'retry') return [];
    const data = JSON.parse(frame.data) as unknown;
    const file = frame.id !== undefined && frame.event !== 'subject.updated' ? `${frame.event}.json` : `${frame.event}.frame.json`;
    return [...problems(file, data), ...(frame.id !== undefined && frame.event !== 'subject.updated' ? problems('streamed-event.json', data) : [])];
  };

  beforeAll(async () => {
    stack = await startStack({ gateways: 1, env: { FANOUT_HEARTBEAT_MS: 300 } });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('frames of every event type and control frame, history pages, publish answers and problems validate', async () => {
    const found: string[] = [];
    const t = stack.tenant;
    const subjectsStream = await openStream(`${stack.gateways[0]!.url}/api/v1/stream/subjects`, { headers: { 'X-Tenant': t } });

    const job = jobEvents(t);
    const pack = packRunEvents(t);
    const run = runEvents(t);
    const jobEventsList = [job.status('pending'), job.status('scheduled'), job.status('leased'), job.status('running', { jobType: 'build' }), job.progress(50, 'half'), job.status('succeeded')];
    const packEventsList = [
      pack.status('running', { packName: 'p', packVersion: '1', steps: [{ index: 0, name: 'build' }] }),
      pack.step(0, 'build', 'running'),
      pack.log(0, 1, 'stdout', 'hello', 'info'),
      pack.log(0, 2, 'stderr', 'oops'),
      pack.step(0, 'build', 'succeeded', { exitCode: 0, durationMs: 12 }),
      pack.status('succeeded'),
    ];
    const runEventsList = [run.status('running'), run.progress({ total: 2, pending: 1, running: 1, succeeded: 0, failed: 0, canceled: 0 })];
    const accepted = await stack.publish([...jobEventsList, ...packEventsList, ...runEventsList]);
    expect(accepted.status).toBe(202);
    expect(problems(component('PublishAccepted'), accepted.json)).toEqual([]);
    for (const event of [...jobEventsList, ...packEventsList, ...runEventsList]) expect(problems('published-event.json', event)).toEqual([]);
    for (const event of jobEventsList) expect(problems(`${event.type}.published.json`, event)).toEqual([]);

    // Completed subjects: every domain frame, then end {completed}.
    for (const [kind, id] of [['job', job.id], ['pack-run', pack.id]] as const) {
      const stream = await stack.open(kind, id);
      await stream.ended;
      for (const frame of stream.frames) {
        expect(frameProblems(frame)).toEqual([]);
        found.push(frame.event);
      }
      const history = await stack.history(kind, id);
      expect(problems(component('HistoryPage'), history.json)).toEqual([]);
    }

    // A live subject: heartbeats; a resume position from another epoch: gap {history_lost}.
    const live = await stack.open('run', run.id, { lastEventId: '00000000-0000000001' });
    await live.waitForFrame('heartbeat', 10_000);
    live.close();
    for (const frame of live.frames) {
      expect(frameProblems(frame)).toEqual([]);
      found.push(frame.event);
    }

    // The activity stream: subject.updated.
    await subjectsStream.waitForFrames((frames) => frames.filter((f) => f.event === 'subject.updated').length >= 8);
    subjectsStream.close();
    for (const frame of subjectsStream.frames) {
      expect(frameProblems(frame)).toEqual([]);
      found.push(frame.event);
    }

    expect([...new Set(found)].sort()).toEqual(
      ['end', 'gap', 'heartbeat', 'job.progress', 'job.status', 'pack_run.log', 'pack_run.status', 'pack_run.step', 'retry', 'run.progress', 'run.status', 'subject.updated'].sort(),
    );

    // Answers: the subjects list, a 404, a 400, a 409 with per-event results.
    const subjects = await fetch(`${stack.gateways[0]!.url}/api/v1/subjects?limit=10`, { headers: { 'X-Tenant': t } });
    expect(problems(component('SubjectsList'), await subjects.json())).toEqual([]);
    const missing = await stack.history('job', 'no-such-job');
    expect(missing.status).toBe(404);
    expect(problems(component('Problem'), missing.json)).toEqual([]);
    const invalid = await stack.publish({ ...job.progress(50), data: { percent: 500 } });
    expect(invalid.status).toBe(400);
    expect(problems(component('Problem'), invalid.json)).toEqual([]);
    const conflict = await stack.publish([run.status('completed'), runEvents(t).progress({ total: 1, pending: 1, running: 0, succeeded: 0, failed: 0, canceled: 0 })]);
    expect(conflict.status).toBe(409);
    expect(problems(component('PublishConflict'), conflict.json)).toEqual([]);
  });

  it('the schemas refuse what the contract refuses', () => {
    const job = jobEvents('acme');
    expect(problems('job.status.published.json', job.status('running'))).toEqual([]);
    expect(problems('job.status.published.json', { ...job.status('running'), extra: 1 })).not.toEqual([]);
    expect(problems('job.status.published.json', job.status('dancing'))).not.toEqual([]);
    expect(problems('job.progress.published.json', job.progress(101))).not.toEqual([]);
    expect(problems('end.frame.json', { reason: 'bored' })).not.toEqual([]);
    expect(problems('pack_run.log.published.json', packRunEvents('acme').log(0, 1, 'stdout', 'x'.repeat(8193)))).not.toEqual([]);
  });
});
