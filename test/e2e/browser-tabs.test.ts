/**
 * Tabs of one origin share one connection: two tabs of a test page using @fanout/client (bundled
 * for browsers with esbuild) in Debian's chromium driven by playwright-core, served by a loopback
 * static server that also proxies /api to a gateway (same origin, and the X-Tenant the browser's
 * EventSource cannot send). Timeouts are hang guards only.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, stop as stopEsbuild } from 'esbuild';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { REPO_ROOT } from '../support/fanout-process';
import { expectContiguous } from '../support/frames';
import { jobEvents, packRunEvents, runEvents, Stack, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>fanout tab</title>
<script src="/fanout-client.js"></script>
<script>
  const subjects = new URLSearchParams(location.search).get('subjects').split(',');
  const seen = (window.fanout = { events: [], states: [], gaps: [], errors: [], roles: [] });
  FanoutClient.subscribe({
    baseUrl: '',
    subjects,
    onEvent: (event, meta) => seen.events.push({ subject: event.subject.kind + ':' + event.subject.id, seq: event.seq, type: event.type, id: meta.id }),
    onState: (state) => seen.states.push(state),
    onGap: (gap) => seen.gaps.push(gap),
    onError: (error) => seen.errors.push(error),
    onRole: (role) => seen.roles.push(role),
  });
</script>
`;

interface TabView {
  events: { subject: string; seq: number; type: string; id: string }[];
  states: string[];
  gaps: unknown[];
  errors: unknown[];
  roles: string[];
}

let stack: Stack | undefined;
let server: Server | undefined;
let context: BrowserContext | undefined;
let userDataDir: string | undefined;
/** The URL of every stream request that went through the page's origin to the gateway. */
const streamRequests: string[] = [];

afterAll(async () => {
  await context?.close().catch(() => undefined);
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stack?.stop();
  await stopEsbuild();
}, 60_000);

/** The test page, the client bundle, and /api proxied to `gatewayPort` with `X-Tenant: tenant`. */
async function startSite(bundle: string, gatewayPort: number, tenant: string): Promise<string> {
  const site = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url.startsWith('/api/')) {
      if (url.startsWith('/api/v1/stream')) streamRequests.push(url);
      const upstream = request(
        { host: '127.0.0.1', port: gatewayPort, method: req.method, path: url, headers: { ...req.headers, 'x-tenant': tenant }, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
      return;
    }
    if (url === '/fanout-client.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(bundle);
      return;
    }
    if (url.startsWith('/tab.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    res.writeHead(404).end();
  });
  server = site;
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
}

const view = (page: Page): Promise<TabView> => page.evaluate(() => (window as unknown as { fanout: TabView }).fanout);

async function until(page: Page, what: string, check: (v: TabView) => boolean, timeoutMs = 15_000): Promise<TabView> {
  let last: TabView | undefined;
  try {
    await waitFor(what, async () => check((last = await view(page))), timeoutMs, 25);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the tab saw ${JSON.stringify(last).slice(0, 1500)}`, { cause: error });
  }
  return last!;
}

const seqsOf = (v: TabView, key: string) => v.events.filter((e) => e.subject === key).map((e) => e.seq);

test('two tabs share one connection and both see every event; closing the leader hands over to the other with no gap', async () => {
  expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs it (apt-get install -y chromium)
  const [bundled, started] = await Promise.all([
    build({
      entryPoints: [join(REPO_ROOT, 'libs/client/src/index.ts')],
      alias: { '@fanout/contracts': join(REPO_ROOT, 'libs/contracts/src/index.ts') },
      bundle: true,
      format: 'iife',
      globalName: 'FanoutClient',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    }),
    startStack({ gateways: 1, env: { FANOUT_RETRY_MS: 500 } }),
  ]);
  stack = started;
  const gateway = stack.gateways[0]!;
  const origin = await startSite(bundled.outputFiles[0]!.text, gateway.port, stack.tenant);
  userDataDir = mkdtempSync(join(tmpdir(), 'fanout-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });

  const t = stack.tenant;
  const job = jobEvents(t);
  const pr = packRunEvents(t);
  const run = runEvents(t);
  const keys = [`job:${job.id}`, `pack-run:${pr.id}`, `run:${run.id}`];
  await stack.publishOk([job.status('pending'), pr.status('running'), run.status('pending')]);
  const pageUrl = `${origin}/tab.html?subjects=${keys.join(',')}`;

  const first = context.pages()[0] ?? (await context.newPage());
  await first.goto(pageUrl);
  await until(first, 'the first tab to lead and replay', (v) => v.roles[0] === 'leader' && v.events.length === 3 && v.states.at(-1) === 'live');
  await stack.publishOk([job.status('scheduled'), pr.log(0, 1, 'stdout', 'one'), run.status('running')]);
  await until(first, 'the first tab to see 6 events', (v) => v.events.length === 6);

  const second = await context.newPage();
  await second.goto(pageUrl);
  // It follows, and gets what the leader had before it joined.
  await until(second, 'the second tab to follow with the 6 events so far', (v) => v.roles[0] === 'follower' && v.events.length === 6 && v.states.at(-1) === 'live');
  await stack.publishOk([job.status('leased'), pr.log(0, 2, 'stdout', 'two'), job.progress(30)]);
  await Promise.all([until(first, '9 events', (v) => v.events.length === 9), until(second, '9 events', (v) => v.events.length === 9)]);

  // One connection reaches the gateway, of any kind.
  expect(await gateway.metric('fanout_gateway_connections')).toBe(1);
  expect(streamRequests).toHaveLength(1);
  const [a, b] = await Promise.all([view(first), view(second)]);
  expect(b.events).toEqual(a.events);
  expect(b.roles).toEqual(['follower']);
  const lastRelayedId = b.events.at(-1)!.id;

  // The leader tab closes: the follower takes the lock and resumes from the last id it was relayed.
  await first.close();
  await until(second, 'the second tab to lead', (v) => v.roles.at(-1) === 'leader' && v.states.at(-1) === 'live');
  await stack.publishOk([job.status('running'), pr.log(0, 3, 'stderr', 'three'), run.progress({ total: 1, pending: 0, running: 1, succeeded: 0, failed: 0, canceled: 0 })]);
  await until(second, '12 events', (v) => v.events.length === 12);
  await waitFor('one connection on the gateway again', async () => (await gateway.metric('fanout_gateway_connections')) === 1);
  expect(streamRequests).toHaveLength(2);
  expect(new URL(streamRequests[1]!, origin).searchParams.get('lastEventId')).toBe(lastRelayedId);

  await stack.publishOk([job.status('succeeded'), pr.status('succeeded'), run.status('completed')]);
  const final = await until(second, 'the ended state', (v) => v.states.at(-1) === 'ended');
  expect(final.roles).toEqual(['follower', 'leader']);
  expect(final.states).toEqual(['connecting', 'live', 'reconnecting', 'live', 'ended']);
  expect(final.gaps).toEqual([]);
  expect(final.errors).toEqual([]);
  expectContiguous(seqsOf(final, keys[0]!), 1, 6, 'job in the surviving tab');
  expectContiguous(seqsOf(final, keys[1]!), 1, 5, 'pack-run in the surviving tab');
  expectContiguous(seqsOf(final, keys[2]!), 1, 4, 'run in the surviving tab');
  await waitFor('no connection left on the gateway', async () => (await gateway.metric('fanout_gateway_connections')) === 0);
});
