/**
 * Chromium's own EventSource reads a gzip stream (it asks with Accept-Encoding): every event, the
 * heartbeats and `end`, across a reconnect that resumes with Last-Event-ID, identical to what an
 * uncompressed client reads. Debian's chromium driven by playwright-core; the page is served by a
 * loopback server that proxies /api to the gateway untouched (same origin, and the X-Tenant the
 * browser cannot send), and records what each stream request asked and got. Timeouts are hang guards.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { expectContiguous } from '../support/frames';
import { jobEvents, Stack, startStack } from '../support/stack';
import { waitFor } from '../support/wait';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>fanout gzip</title>
<script>
  const seen = (window.seen = { frames: [], errors: 0 });
  const source = new EventSource('/api/v1/stream/jobs/' + new URLSearchParams(location.search).get('job'));
  for (const name of ['job.status', 'job.progress', 'heartbeat', 'end']) {
    source.addEventListener(name, (e) => {
      seen.frames.push({ event: name, id: e.lastEventId, data: e.data });
      if (name === 'end') source.close();
    });
  }
  source.onerror = () => seen.errors++;
</script>
`;

interface Seen {
  frames: { event: string; id: string; data: string }[];
  errors: number;
}

interface ProxiedStream {
  asked: IncomingHttpHeaders;
  answered: IncomingHttpHeaders;
  cut(): void;
}

let stack: Stack | undefined;
let site: Server | undefined;
let context: BrowserContext | undefined;
let userDataDir: string | undefined;
const streams: ProxiedStream[] = [];

afterAll(async () => {
  await context?.close().catch(() => undefined);
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  site?.closeAllConnections();
  await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  await stack?.stop();
}, 60_000);

async function startSite(gatewayPort: number, tenant: string): Promise<string> {
  site = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url.startsWith('/api/')) {
      const upstream = request({ host: '127.0.0.1', port: gatewayPort, path: url, headers: { ...req.headers, 'x-tenant': tenant }, agent: false }, (answer) => {
        if (url.startsWith('/api/v1/stream')) streams.push({ asked: req.headers, answered: answer.headers, cut: () => res.destroy() });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
      return;
    }
    if (url.startsWith('/page.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => site!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
}

const seenBy = (page: Page): Promise<Seen> => page.evaluate(() => (window as unknown as { seen: Seen }).seen);

async function until(page: Page, what: string, check: (seen: Seen) => boolean): Promise<Seen> {
  let last: Seen | undefined;
  try {
    await waitFor(what, async () => check((last = await seenBy(page))), 15_000, 25);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the page saw ${JSON.stringify(last).slice(0, 1500)}`, { cause: error });
  }
  return last!;
}

const domain = (seen: Seen) => seen.frames.filter((f) => f.event !== 'heartbeat' && f.event !== 'end');

test("Chromium's EventSource reads a gzip stream, resumes it after a cut and sees the same frames as an uncompressed client", async () => {
  expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs it (apt-get install -y chromium)
  stack = await startStack({ gateways: 1, env: { FANOUT_RETRY_MS: 300, FANOUT_HEARTBEAT_MS: 400 } });
  const origin = await startSite(stack.gateways[0]!.port, stack.tenant);
  userDataDir = mkdtempSync(join(tmpdir(), 'fanout-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });

  const job = jobEvents(stack.tenant);
  await stack.publishOk([job.status('pending'), job.status('scheduled')]);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${origin}/page.html?job=${job.id}`);
  await until(page, 'the replay', (seen) => domain(seen).length === 2);
  await stack.publishOk([job.status('leased'), job.progress(10), job.progress(20, 'twenty')]);
  await until(page, 'five events and a heartbeat', (seen) => domain(seen).length === 5 && seen.frames.some((f) => f.event === 'heartbeat'));

  streams[0]!.cut();
  await stack.publishOk([job.status('running'), job.progress(90)]);
  await until(page, 'the reconnect to resume', () => streams.length === 2);
  await stack.publishOk([job.status('succeeded')]);
  const seen = await until(page, 'the end', (s) => s.frames.at(-1)?.event === 'end');

  expect(streams.map((s) => s.answered['content-encoding'])).toEqual(['gzip', 'gzip']);
  expect(streams[0]!.asked['accept-encoding']).toMatch(/\bgzip\b/);
  expect(streams[1]!.asked['last-event-id']).toBe(domain(seen)[4]!.id);
  expect(seen.errors).toBeGreaterThanOrEqual(1);
  expect(seen.frames.at(-1)).toEqual({ event: 'end', id: domain(seen)[7]!.id, data: '{"reason":"completed"}' });
  expectContiguous(domain(seen).map((f) => JSON.parse(f.data).seq as number), 1, 8, 'the page');

  const plain = await stack.open('job', job.id);
  await plain.ended;
  expect(plain.headers['content-encoding']).toBeUndefined();
  expect(domain(seen)).toEqual(plain.events().map((f) => ({ event: f.event, id: f.id, data: f.data })));
});
