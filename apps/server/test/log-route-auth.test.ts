/** The pack-run log route's auth (the stream routes' rules: a token in the header or `access_token`), in process. */
import request from 'supertest';
import { loadConfig } from '../src/config';
import { RunningServer, startServer } from '../src/server';
import { mintHs256, nowS } from '../../../test/support/tokens';

const SECRET = 'a-test-secret-of-enough-length';
let server: RunningServer;

beforeAll(async () => {
  const config = loadConfig('dev', { PORT: '0', LOG_LEVEL: 'silent', FANOUT_SHUTDOWN_GRACE_MS: '0', FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: SECRET });
  server = await startServer(config);
});

afterAll(async () => {
  await server?.shutdown();
});

const token = (tenant: string, scope: string) => mintHs256(SECRET, { tenant, scope, exp: nowS() + 600 });

test('401 without a token, 403 without stream:read, 404 for another tenant, 200 by header or access_token', async () => {
  const writer = await token('acme', 'events:write');
  const reader = await token('acme', 'stream:read');
  const other = await token('globex', 'stream:read');
  const id = `log-auth-${Date.now()}`;
  const event = (eventId: string, type: string, data: object) => ({ eventId, tenant: 'acme', subject: { kind: 'pack-run', id }, type, occurredAt: new Date().toISOString(), data });
  const published = await request(server.server)
    .post('/api/v1/events')
    .set('Authorization', `Bearer ${writer}`)
    .send({ events: [event('e1', 'pack_run.status', { status: 'running' }), event('e2', 'pack_run.log', { stepIndex: 0, lineNo: 1, stream: 'stdout', message: 'hello' })] });
  expect(published.status).toBe(202);
  const path = `/api/v1/pack-runs/${id}/log`;
  expect((await request(server.server).get(path)).status).toBe(401);
  expect((await request(server.server).get(path).set('Authorization', 'Bearer nonsense')).status).toBe(401);
  expect((await request(server.server).get(path).set('Authorization', `Bearer ${writer}`)).status).toBe(403);
  expect((await request(server.server).get(path).set('Authorization', `Bearer ${other}`)).status).toBe(404);
  const byHeader = await request(server.server).get(path).set('Authorization', `Bearer ${reader}`);
  expect([byHeader.status, byHeader.headers['content-type'], byHeader.text]).toEqual([200, 'text/plain; charset=utf-8', 'hello\n']);
  const byQuery = await request(server.server).get(`${path}?access_token=${reader}&download=1`);
  expect([byQuery.status, byQuery.text, byQuery.headers['content-disposition']]).toEqual([200, 'hello\n', `attachment; filename="pack-run-${id}.log"`]);
  const problem = await request(server.server).get(`${path}?stream=stdin`).set('Authorization', `Bearer ${reader}`);
  expect([problem.status, problem.headers['content-type']]).toEqual([400, expect.stringMatching(/^application\/problem\+json/)]);
});
