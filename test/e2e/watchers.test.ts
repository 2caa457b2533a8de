/**
 * Watcher counts (issue 17, item 2): GET /api/v1/{jobs|pack-runs|runs}/{id}/watchers answers how
 * many open streams follow the subject, summed over every replica: single and multi-subject streams
 * count, the activity stream does not; the count follows opens and closes on both replicas, a
 * replica killed with SIGKILL leaves it within 10 s, and another tenant's or an unknown subject is a
 * 404 like every read route. Real redis-server, publisher and two gateways.
 */
import { FanoutProcess } from '../support/fanout-process';
import { closeAllStreams, openStream } from '../support/sse-client';
import { jobEvents, jsonOrUndefined, Kind, ROUTE_SEGMENT, runEvents, Stack, startStack, uniqueId } from '../support/stack';
import { waitFor } from '../support/wait';

/** The limit for a killed replica's watchers to leave the count. */
const DEAD_REPLICA_GONE_WITHIN_MS = 10_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
}, 60_000);

afterEach(() => closeAllStreams());
afterAll(() => stack?.stop(), 60_000);

async function watchers(gateway: FanoutProcess, kind: Kind, id: string, tenant = stack.tenant): Promise<{ status: number; json: any }> {
  const response = await fetch(`${gateway.url}/api/v1/${ROUTE_SEGMENT[kind]}/${encodeURIComponent(id)}/watchers`, { headers: { 'X-Tenant': tenant } });
  return { status: response.status, json: jsonOrUndefined(await response.text()) };
}

/** Waits until every gateway answers `count` (counts are reported every 2 s). */
async function untilCount(kind: Kind, id: string, count: number, gateways: FanoutProcess[]): Promise<void> {
  let last: unknown;
  await waitFor(`${kind} ${id} to have ${count} watchers (last answers: ${JSON.stringify(last)})`, async () => {
    const answers = await Promise.all(gateways.map((g) => watchers(g, kind, id)));
    last = answers;
    return answers.every((a) => a.status === 200 && a.json.watchers === count);
  }, 15_000, 100);
}

test('counts follow opens and closes on both replicas, multi-subject streams included, the activity stream not', async () => {
  const [g0, g1] = stack.gateways as [FanoutProcess, FanoutProcess];
  const job = jobEvents(stack.tenant, uniqueId('job'));
  const run = runEvents(stack.tenant, uniqueId('run'));
  await stack.publishOk([job.status('pending'), run.status('pending')]);
  expect((await watchers(g0, 'job', job.id)).json).toEqual({ watchers: 0 });

  const onG0 = [await stack.open('job', job.id, { gateway: 0 }), await stack.open('job', job.id, { gateway: 0 })];
  const onG1 = await stack.open('job', job.id, { gateway: 1 });
  const many = await openStream(`${g1.url}/api/v1/stream?subjects=job:${job.id},run:${run.id}`, { headers: { 'X-Tenant': stack.tenant } });
  const activity = await openStream(`${g0.url}/api/v1/stream/subjects`, { headers: { 'X-Tenant': stack.tenant } });
  for (const stream of [...onG0, onG1, many, activity]) expect(stream.status).toBe(200);

  await untilCount('job', job.id, 4, [g0, g1]);
  await untilCount('run', run.id, 1, [g0, g1]);

  onG0[0]!.close();
  many.close();
  await untilCount('job', job.id, 2, [g0, g1]);
  await untilCount('run', run.id, 0, [g0, g1]);

  onG0[1]!.close();
  onG1.close();
  await untilCount('job', job.id, 0, [g0, g1]);
}, 60_000);

test('an unknown subject and another tenant\'s answer 404; a bad id 400', async () => {
  const g0 = stack.gateways[0]!;
  const job = jobEvents(stack.tenant, uniqueId('job'));
  await stack.publishOk([job.status('pending')]);
  expect((await watchers(g0, 'job', job.id)).status).toBe(200);
  expect((await watchers(g0, 'job', job.id, `other-${stack.tenant}`)).status).toBe(404);
  expect((await watchers(g0, 'job', uniqueId('nope'))).status).toBe(404);
  expect((await watchers(g0, 'run', job.id)).status).toBe(404);
  expect((await watchers(g0, 'job', 'bad id!')).status).toBe(400);
}, 30_000);

test('the watchers of a replica killed with SIGKILL leave the count within 10 s', async () => {
  const g0 = stack.gateways[0]!;
  const doomed = await stack.addGateway();
  const job = jobEvents(stack.tenant, uniqueId('job'));
  await stack.publishOk([job.status('pending')]);
  const kept = await stack.open('job', job.id, { gateway: 0 });
  const onDoomed = [await stack.open('job', job.id, { gateway: doomed }), await stack.open('job', job.id, { gateway: doomed })];
  for (const stream of [kept, ...onDoomed]) expect(stream.status).toBe(200);
  await untilCount('job', job.id, 3, [g0, doomed]);

  await doomed.kill();
  const killedAt = Date.now();
  await untilCount('job', job.id, 1, [g0]);
  expect(Date.now() - killedAt).toBeLessThan(DEAD_REPLICA_GONE_WITHIN_MS);
  await stack.stopProcess(doomed);
}, 60_000);
