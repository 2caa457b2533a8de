/** GET / serves the built dashboard; a gateway without one answers a problem that says how to build it. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { MemoryBus } from '@fanout/bus';
import { createAuthenticator, notFoundHandler, problemErrorHandler, streamHeadersFor } from '@fanout/http';
import { createLogger, createRegistry } from '@fanout/observability';
import { createGateway, Gateway, RevocationList } from '../src';

const gateways: Gateway[] = [];
const servers: Server[] = [];
const folder = mkdtempSync(join(tmpdir(), 'fanout-dashboard-'));

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.close()));
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(folder, { recursive: true, force: true });
});

async function serve(dashboardDir: string): Promise<string> {
  const bus = new MemoryBus({ historyMaxLen: 100, historyTtlSeconds: 60 });
  const logger = createLogger({ level: 'silent', name: 'test' });
  const gateway = createGateway({
    bus,
    logger,
    registry: createRegistry(),
    authenticate: createAuthenticator({ mode: 'none' }),
    revocations: new RevocationList(bus, logger),
    streamHeaders: streamHeadersFor([]),
    settings: {
      retryMs: 1000,
      retryJitterMs: 0,
      heartbeatMs: 15_000,
      idleTimeoutMs: 60_000,
      clientBufferBytes: 1 << 20,
      conflateThresholdBytes: 1 << 19,
      replayPageSize: 100,
      historyCacheBytes: 1 << 20,
      compression: 'gzip',
      maxConnections: 10,
      maxConnectionsPerTenant: 10,
      maxRevocations: 10,
      maxAnswerBytesInFlight: 8 << 20,
      maxUnsentBytes: 16 << 20,
    },
    dashboardDir,
  });
  gateways.push(gateway);
  const app = express().use(gateway.router).use(notFoundHandler).use(problemErrorHandler(() => undefined));
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('the built page at / and its files beside it', async () => {
  writeFileSync(join(folder, 'index.html'), '<!doctype html><title>fanout</title>');
  writeFileSync(join(folder, 'dashboard.js'), 'export {};');
  const url = await serve(folder);
  const page = await fetch(`${url}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await page.text()).toContain('<title>fanout</title>');
  expect((await fetch(`${url}/dashboard.js`)).headers.get('content-type')).toMatch(/javascript/);
});

test('no built dashboard: GET / is a 503 problem naming the build', async () => {
  const url = await serve(join(folder, 'missing'));
  for (const path of ['/', '/index.html']) {
    const answer = await fetch(`${url}${path}`);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await answer.json()).toEqual({ title: 'Service Unavailable', status: 503, detail: expect.stringContaining('npm run build') });
  }
  expect((await fetch(`${url}/dashboard.js`)).status).toBe(404);
});

test('served from memory once built: a HEAD has the headers and no body, an ETag answers 304, and a dashboard built after the start is served', async () => {
  const dir = join(folder, 'later');
  const url = await serve(dir);
  expect((await fetch(`${url}/`)).status).toBe(503);

  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dashboard.css'), 'body { margin: 0 }');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>fanout</title>');
  const css = await fetch(`${url}/dashboard.css`);
  expect({ status: css.status, type: css.headers.get('content-type'), body: await css.text() }).toEqual({ status: 200, type: 'text/css; charset=utf-8', body: 'body { margin: 0 }' });
  const etag = css.headers.get('etag')!;
  expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
  expect((await fetch(`${url}/dashboard.css`, { headers: { 'If-None-Match': `"other", W/${etag}` } })).status).toBe(304);
  const head = await fetch(`${url}/dashboard.css`, { method: 'HEAD' });
  expect({ status: head.status, length: head.headers.get('content-length'), body: await head.text() }).toEqual({ status: 200, length: '18', body: '' });
  for (const path of ['/../later/index.html', '/%2e%2e/later/index.html', '/Index.html', '/missing.js']) expect([path, (await fetch(`${url}${path}`)).status]).toEqual([path, 404]);
});
