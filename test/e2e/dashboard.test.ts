/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): served by two gateway
 * replicas behind a loopback proxy, it watches `fanout run-pack` of an example pack, survives the
 * death of the replica it is connected to, and ends with every step succeeded and every log line
 * once, in order — the same frames `fanout tail --json` prints. A second test holds 100,000 log
 * lines (opened at the tail, every earlier page loaded by scrolling up); a third checks that the page is the build's bundle and asks nothing of another origin.
 * Screenshots go to test-results/dashboard/. Timeouts are hang guards only.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { SignJWT } from 'jose';
import { Browser, chromium, Page } from 'playwright-core';
import { BalancingProxy, startBalancingProxy } from '../support/balancing-proxy';
import { killAllCli, runCli, startCli } from '../support/cli';
import { FanoutProcess, REPO_ROOT, startFanout } from '../support/fanout-process';
import { chunk, packRunEvents, Stack, startStack, uniqueId } from '../support/stack';
import { waitFor } from '../support/wait';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUTPUT = join(REPO_ROOT, 'test-results', 'dashboard');
// EventSource cannot send X-Tenant: with FANOUT_AUTH=none the page reads tenant "default".
const TENANT = 'default';

type Json = Record<string, any>;
interface PageFrame {
  id: string;
  event: string;
  seq: number;
}
interface PageLine {
  step: number;
  lineNo: number;
  stream: string;
  message: string;
}

let browser: Browser;

beforeAll(async () => {
  expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs it (apt-get install -y chromium)
  mkdirSync(OUTPUT, { recursive: true });
  // playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it on close.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}, 60_000);

afterAll(async () => {
  killAllCli();
  await browser?.close();
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  (page as Page & { problems?: string[] }).problems = problems;
  return page;
}

const pageState = (page: Page) =>
  page.evaluate(() => {
    const d = (window as unknown as { fanoutDashboard: { connectionStates: string[]; frames: PageFrame[]; lines(): PageLine[] } }).fanoutDashboard;
    return {
      connection: document.getElementById('connection')!.dataset['state'],
      connectionText: document.getElementById('connection-text')!.textContent,
      states: d.connectionStates,
      frames: d.frames,
      lines: d.lines(),
      status: document.getElementById('subject-status')!.textContent,
      steps: [...document.querySelectorAll('#steps-body tr')].map((tr) => `${(tr as HTMLElement).dataset['step']} ${(tr as HTMLElement).dataset['status']}`),
    };
  });

async function allEvents(stack: Stack, id: string, gateway = 0): Promise<Json[]> {
  const events: Json[] = [];
  let after = 0;
  for (;;) {
    const page = await stack.history('pack-run', id, { after, limit: 1000, tenant: TENANT, gateway });
    events.push(...page.json.events);
    if (page.json.next === null) return events;
    after = page.json.next;
  }
}

describe('dashboard', () => {
  let stack: Stack;
  let proxy: BalancingProxy;

  beforeAll(async () => {
    stack = await startStack({ gateways: 2, tenant: TENANT, env: { FANOUT_RETRY_MS: 500 } });
    proxy = await startBalancingProxy(stack.gateways.map((g) => g.port));
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await stack?.stop();
  });

  it('follows a pack run live through the death of its replica: every step succeeded, every line once and in order, the frames tail --json prints', async () => {
    const id = uniqueId('pack');
    const env = { FANOUT_PUBLISHER_URL: stack.publisher.url, FANOUT_GATEWAY_URL: proxy.url, FANOUT_TENANT: TENANT, FANOUT_URL: '', FANOUT_TOKEN: '' };
    const runner = startCli(['run-pack', join(REPO_ROOT, 'examples', 'packs', 'streaming-logs.yaml'), '--id', id, '--quiet'], { env });
    await runner.waitForLine(/\[1\/3\] fetch running/);

    const page = await newPage();
    await page.goto(`${proxy.url}/#/pack-run/${id}`);
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 15_000 });
    await page.waitForFunction(() => (window as any).fanoutDashboard.lines().length >= 20, undefined, { timeout: 20_000 });

    // Kill (SIGKILL) the replica that holds the page's pack-run stream.
    let victim: FanoutProcess | undefined;
    await waitFor('a gateway holding the pack-run stream', async () => {
      for (const g of stack.gateways) if (((await g.metric('fanout_gateway_connections', { kind: 'pack-run' })) ?? 0) > 0) victim = g;
      return victim;
    });
    const linesBefore = (await pageState(page)).lines.length;
    await victim!.kill();
    await stack.stopProcess(victim!);
    proxy.setTargets(stack.gateways.filter((g) => g !== victim).map((g) => g.port));
    await page.waitForFunction(() => (window as any).fanoutDashboard.connectionStates.includes('reconnecting'), undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 15_000 });

    expect(await runner.exited).toBe(0);
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'ended', undefined, { timeout: 20_000 });
    await page.screenshot({ path: join(OUTPUT, 'pack-run.png'), fullPage: true });

    const seen = await pageState(page);
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
    expect(seen.states.slice(seen.states.indexOf('reconnecting'))).toEqual(expect.arrayContaining(['reconnecting', 'live', 'ended']));
    expect(seen.connectionText).toBe('Ended (completed)');
    expect(linesBefore).toBeLessThan(seen.lines.length);
    expect(seen.status).toBe('succeeded');
    expect(seen.steps).toEqual(['0 succeeded', '1 succeeded', '2 succeeded']);

    // Every event exactly once, in order: seq 1..N, and the log lines as stored.
    const events = await allEvents(stack, id, stack.gateways.findIndex((g) => g !== victim));
    expect(seen.frames.map((f) => f.seq)).toEqual(events.map((e) => e.seq));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const storedLines = events.filter((e) => e.type === 'pack_run.log').map((e) => ({ step: e.data.stepIndex, lineNo: e.data.lineNo, stream: e.data.stream, message: e.data.message }));
    expect(storedLines.length).toBe(40 + 5 + 120 + 4 + 31);
    expect(seen.lines).toEqual(storedLines);

    // `fanout tail --json` prints exactly the frames the page received.
    const tail = await runCli(['tail', 'pack-run', id, '--json'], { env });
    expect(tail.code).toBe(0);
    const tailFrames = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Json)
      .filter((f) => f.id !== undefined)
      .map((f) => ({ id: f.id, event: f.event, seq: f.data.seq }));
    expect(tailFrames).toEqual(seen.frames);
    await page.close();
  });

  it("shows a running pack run whose first events were trimmed honestly: its status from the tenant's activity, a step whose events are gone as unknown (not pending), each updated by the events that follow", async () => {
    const small = await startStack({ gateways: 1, tenant: TENANT, env: { FANOUT_HISTORY_MAXLEN: 50 } });
    try {
      const pr = packRunEvents(TENANT);
      const steps = [
        { index: 0, name: 'build' },
        { index: 1, name: 'test' },
        { index: 2, name: 'deploy' },
      ];
      const events = [
        pr.status('running', { packName: 'trimmed', steps }),
        pr.step(0, 'build', 'running'),
        ...Array.from({ length: 20 }, (_, i) => pr.log(0, i + 1, 'stdout', `build ${i + 1}`)),
        pr.step(0, 'build', 'succeeded', { exitCode: 0 }),
        pr.step(1, 'test', 'running'),
        ...Array.from({ length: 400 }, (_, i) => pr.log(1, i + 1, 'stdout', `test ${i + 1}`)),
      ];
      for (const batch of chunk(events, 100)) await small.publishOk(batch);
      const retained = await small.history('pack-run', pr.id, { after: 0, limit: 1, tenant: TENANT });
      expect(retained.json.events[0].seq).toBeGreaterThan(24); // every status and step event is gone

      const page = await newPage();
      await page.goto(`${small.gateways[0]!.url}/#/pack-run/${pr.id}`);
      await page.waitForFunction(() => (window as any).fanoutDashboard.lines().some((l: PageLine) => l.message === 'test 400'), undefined, { timeout: 30_000 });
      await page.waitForFunction(() => document.querySelector('#steps-body tr[data-step="1"]')?.getAttribute('data-status') === 'unknown', undefined, { timeout: 10_000 });
      await page.waitForFunction(() => document.getElementById('subject-status')!.textContent === 'running', undefined, { timeout: 10_000 });
      expect((await pageState(page)).steps).toEqual(['1 unknown']);
      expect(await page.getAttribute('#steps-body tr[data-step="1"] .badge', 'title')).toBe('The history no longer holds its step events');
      // Nothing earlier is retained, and the page says so (not "the whole log", nor "load as you scroll up").
      await page.waitForFunction(() => /^Events before \d+ are no longer retained: the log starts there\.$/.test(document.getElementById('log-more')!.textContent ?? ''), undefined, { timeout: 10_000 });

      await small.publishOk([pr.step(1, 'test', 'succeeded', { exitCode: 0 }), pr.step(2, 'deploy', 'running'), pr.log(2, 1, 'stdout', 'deploying')]);
      await page.waitForFunction(() => document.querySelector('#steps-body tr[data-step="2"]')?.getAttribute('data-status') === 'running', undefined, { timeout: 10_000 });
      expect((await pageState(page)).steps).toEqual(['1 succeeded', '2 running']);
      await small.publishOk([pr.step(2, 'deploy', 'succeeded', { exitCode: 0 }), pr.status('succeeded')]);
      await page.waitForFunction(() => document.getElementById('subject-status')!.textContent === 'succeeded', undefined, { timeout: 10_000 });
      await page.screenshot({ path: join(OUTPUT, 'pack-run-trimmed.png') });
      expect((page as Page & { problems?: string[] }).problems).toEqual([]);
      await page.close();
    } finally {
      await small.stop();
    }
  });

  it('says so in the page when the subject does not exist (the gateway answered 404), not only in the connection badge', async () => {
    const page = await newPage();
    const id = uniqueId('nope');
    await page.goto(`${proxy.url}/#/job/${id}`);
    await page.waitForSelector('#notice:not([hidden])', { timeout: 30_000 });
    expect(await page.textContent('#notice')).toBe(`There is no job ${id} for this tenant: it has no event yet, or its history has expired. Reload the page once it has events.`);
    expect(await page.getAttribute('#connection', 'data-detail')).toBe('not found');
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
    await page.close();
  });

  it('keeps 100,000 log lines responsive: virtualised rows, filters and scrolling stay fast', async () => {
    // A stack of its own whose history holds every line.
    const big = await startStack({ gateways: 1, tenant: TENANT, env: { FANOUT_HISTORY_MAXLEN: 200_000 } });
    try {
      const pr = packRunEvents(TENANT);
      const total = 100_000;
      const events = [
        pr.status('running', { packName: 'huge', steps: [{ index: 0, name: 'spam' }] }),
        pr.step(0, 'spam', 'running'),
        ...Array.from({ length: total }, (_, i) => pr.log(0, i + 1, i % 10 === 9 ? 'stderr' : 'stdout', `line ${i + 1} ${'x'.repeat(i % 40)}`)),
        pr.step(0, 'spam', 'succeeded', { exitCode: 0, durationMs: 1234 }),
        pr.status('succeeded'),
      ];
      for (const batch of chunk(events, 500)) await big.publishOk(batch);

      const page = await newPage();
      const started = Date.now();
      await page.goto(`${big.gateways[0]!.url}/#/pack-run/${pr.id}`);
      // The page opens at the tail (?tail=1000); scrolling up loads the earlier pages until every line is loaded.
      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'ended' && (window as any).fanoutDashboard.lines().length > 0, undefined, {
        timeout: 30_000,
      });
      await page.waitForFunction(
        (n) => {
          document.getElementById('log')!.scrollTop = 0;
          return (window as any).fanoutDashboard.lines().length >= n;
        },
        total,
        { timeout: 120_000, polling: 100 },
      );
      const loadMs = Date.now() - started;

      const measure = await page.evaluate(async () => {
        const log = document.getElementById('log')!;
        const frame = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        const rows = () => log.querySelectorAll('.log-row:not([hidden])').length;
        const timings: number[] = [];
        const atTail = log.querySelector('.log-row:not([hidden]):last-of-type') !== null;
        for (const fraction of [0.5, 0.1, 0.9, 0]) {
          const t0 = performance.now();
          log.scrollTop = log.scrollHeight * fraction;
          await frame();
          timings.push(performance.now() - t0);
        }
        const middle = [...log.querySelectorAll('.log-row:not([hidden]) .msg')].map((m) => m.textContent).filter((t) => t && t.startsWith('line 1 ')).length;
        const t1 = performance.now();
        (document.querySelector('input[name="log-stream"][value="stderr"]') as HTMLInputElement).click();
        await frame();
        const filterMs = performance.now() - t1;
        const count = document.getElementById('log-count')!.textContent;
        return { timings, rows: rows(), atTail, middle, filterMs, count, text: document.getElementById('log-count')!.textContent };
      });
      await page.screenshot({ path: join(OUTPUT, 'pack-run-100k.png') });
      expect((page as Page & { problems?: string[] }).problems).toEqual([]);
      // Only the rows in view (plus a little overscan) are in the DOM.
      expect(measure.rows).toBeLessThan(200);
      expect(measure.middle).toBe(1); // scrolled back to the top: line 1 is drawn
      expect(measure.count).toBe(`${total / 10} of ${total} lines`);
      // Generous bounds on a shared 2-core machine: a scroll or a filter takes a frame or two, not seconds.
      for (const ms of measure.timings) expect(ms).toBeLessThan(1000);
      expect(measure.filterMs).toBeLessThan(2000);
      expect(loadMs).toBeLessThan(120_000);
      await page.close();
    } finally {
      await big.stop();
    }
  });
});

describe('dashboard with FANOUT_AUTH=jwt', () => {
  const secret = 'dashboard-test-secret-0123456789abcdef';
  const sign = (scope: string) =>
    new SignJWT({ tenant: 'acme', scope }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret));

  /** A `dev` with FANOUT_AUTH=jwt, a job of tenant acme already `scheduled` in it, and the CLI's environment to publish more. */
  async function devWithAJob(): Promise<{ dev: FanoutProcess; id: string; env: Record<string, string> }> {
    const dev = await startFanout('dev', { FANOUT_AUTH: 'jwt', FANOUT_JWT_SECRET: secret, REDIS_URL: undefined });
    try {
      const id = uniqueId('job');
      const env = { FANOUT_URL: dev.url, FANOUT_TOKEN: await sign('events:write'), FANOUT_TENANT: '', FANOUT_PUBLISHER_URL: '', FANOUT_GATEWAY_URL: '' };
      expect((await runCli(['emit', 'job.status', id, 'status=scheduled'], { env })).code).toBe(0);
      return { dev, id, env };
    } catch (error) {
      await dev.stop();
      throw error;
    }
  }

  it('asks for a token once, keeps it in the tab (sessionStorage) and streams with ?access_token=', async () => {
    const { dev, id, env } = await devWithAJob();
    try {
      const page = await newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.goto(`${dev.url}/#/job/${id}`);
      await page.waitForSelector('#token-panel:not([hidden])', { timeout: 10_000 });
      await page.fill('#token-input', await sign('stream:read'));
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 10_000 });
      expect(await page.isHidden('#token-panel')).toBe(true);
      expect(requests.some((url) => url.includes(`/api/v1/stream/jobs/${id}?access_token=`))).toBe(true);

      expect((await runCli(['emit', 'job.status', id, 'status=leased'], { env })).code).toBe(0);
      expect((await runCli(['emit', 'job.progress', id, 'percent=30', 'message=warming up'], { env })).code).toBe(0);
      await page.waitForFunction(() => document.getElementById('job-progress-text')!.textContent === '30% — warming up', undefined, { timeout: 10_000 });
      expect(await page.textContent('#subject-status')).toBe('leased');
      expect(await page.$$eval('#job-timeline li .badge', (badges) => badges.map((b) => b.textContent))).toEqual(['scheduled', 'leased']);

      // The tab keeps the token: a reload asks for nothing.
      await page.reload();
      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 10_000 });
      expect(await page.isHidden('#token-panel')).toBe(true);
      expect((page as Page & { problems?: string[] }).problems).toEqual([]);
      await page.close();
    } finally {
      await dev.stop();
    }
  });

  it('a subject opened from a link before any token: the panel asks (not "refused"), says when a token lacks stream:read, and the subject streams once a good token comes, even after its stream gave up on two refused ones', async () => {
    const { dev, id, env } = await devWithAJob();
    try {
      const page = await newPage();
      const reason = () => page.textContent('#token-reason');
      const give = async (token: string) => {
        await page.fill('#token-input', token);
        await page.keyboard.press('Enter');
      };
      await page.goto(`${dev.url}/#/job/${id}`);
      await page.waitForSelector('#token-panel:not([hidden])', { timeout: 10_000 });
      expect(await reason()).toMatch(/^Paste a JWT with the stream:read scope/);

      await give(await sign('events:write'));
      await page.waitForFunction(() => /lacks the stream:read scope/.test(document.getElementById('token-reason')!.textContent ?? '') && !document.getElementById('token-panel')!.hidden, undefined, { timeout: 10_000 });
      await give('not-a-jwt');
      // The subject's stream was refused twice in a row: the client gave it up.
      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'error', undefined, { timeout: 10_000 });
      await page.waitForSelector('#token-panel:not([hidden])', { timeout: 10_000 });

      await give(await sign('stream:read'));
      await page.waitForFunction(() => document.getElementById('subject-status')!.textContent === 'scheduled', undefined, { timeout: 10_000 });
      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 10_000 });
      expect((await runCli(['emit', 'job.status', id, 'status=leased'], { env })).code).toBe(0);
      await page.waitForFunction(() => document.getElementById('subject-status')!.textContent === 'leased', undefined, { timeout: 10_000 });
      expect(await page.isHidden('#token-panel')).toBe(true);
      expect((page as Page & { problems?: string[] }).problems).toEqual([]);
      await page.close();
    } finally {
      await dev.stop();
    }
  });

  it('asks once when several reads are refused together: a read refused after the token was given uses it', async () => {
    const { dev, id } = await devWithAJob();
    try {
      const page = await newPage();
      // The subject's stream is held until the token is given, so its 401 comes after it (as on a busy machine).
      let releaseStream!: () => void;
      const streamHeld = new Promise<void>((resolve) => (releaseStream = resolve));
      let streamRequests = 0;
      await page.route(
        (url) => url.pathname === `/api/v1/stream/jobs/${id}`,
        async (route) => {
          if (++streamRequests === 1) await streamHeld;
          await route.continue();
        },
      );
      let panelShown = 0;
      await page.exposeFunction('tokenPanelShown', () => (panelShown += 1));
      await page.goto(`${dev.url}/#/job/${id}`);
      await page.evaluate(() => {
        const panel = document.getElementById('token-panel')!;
        new MutationObserver(() => {
          if (!panel.hidden) void (window as unknown as { tokenPanelShown: () => void }).tokenPanelShown();
        }).observe(panel, { attributes: true, attributeFilter: ['hidden'] });
        if (!panel.hidden) void (window as unknown as { tokenPanelShown: () => void }).tokenPanelShown();
      });
      await page.waitForSelector('#token-panel:not([hidden])', { timeout: 10_000 });
      await page.fill('#token-input', await sign('stream:read'));
      await page.keyboard.press('Enter');
      await page.waitForSelector('#token-panel[hidden]', { state: 'attached', timeout: 10_000 });
      releaseStream();

      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 10_000 });
      await page.waitForFunction(() => document.getElementById('subject-status')!.textContent === 'scheduled', undefined, { timeout: 10_000 });
      expect(await page.isHidden('#token-panel')).toBe(true);
      expect(streamRequests).toBeGreaterThanOrEqual(2);
      expect(panelShown).toBe(1);
      expect((page as Page & { problems?: string[] }).problems).toEqual([]);
      await page.close();
    } finally {
      await dev.stop();
    }
  }, 60_000);
});

describe('dashboard assets', () => {
  it("is the build's esbuild bundle under a CSP without inline scripts, and loads nothing from another origin (no CDN: it works offline)", async () => {
    const dev = await startFanout('dev', { REDIS_URL: undefined });
    try {
      const page = await newPage();
      const requested: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      // Anything asked of another origin fails, as it would offline.
      await page.route('**/*', (route) => (new URL(route.request().url()).origin === dev.url ? route.continue() : route.abort('internetdisconnected')));
      const answer = await page.goto(`${dev.url}/`);
      await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'live', undefined, { timeout: 10_000 });

      const csp = answer!.headers()['content-security-policy'] ?? '';
      const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? /default-src ([^;]*)/.exec(csp)?.[1];
      expect(scriptSrc?.trim()).toBe("'self'");
      expect(await page.evaluate(() => [...document.scripts].map((s) => ({ src: s.src, type: s.type, inline: s.textContent !== '' })))).toEqual([
        { src: `${dev.url}/dashboard.js`, type: 'module', inline: false },
      ]);
      const network = requested.filter((url) => !url.startsWith('data:'));
      expect(network.filter((url) => new URL(url).origin !== dev.url)).toEqual([]);
      // The page, its stylesheet and one script (which imports nothing more); the rest is the API.
      const assets = [...new Set(network.map((url) => new URL(url).pathname).filter((path) => !path.startsWith('/api/')))].sort();
      expect(assets).toEqual(['/', '/dashboard.css', '/dashboard.js']);

      // The script served is the bundle scripts/build-dashboard.js wrote from the dashboard's sources and @fanout/client's.
      const served = await (await fetch(`${dev.url}/dashboard.js`)).text();
      expect(served === readFileSync(join(REPO_ROOT, 'apps/gateway/dist/public/dashboard.js'), 'utf8')).toBe(true);
      expect(served.endsWith('//# sourceMappingURL=dashboard.js.map\n')).toBe(true);
      const map = (await (await fetch(`${dev.url}/dashboard.js.map`)).json()) as { sources: string[] };
      const sources = map.sources.map((source) => relative(REPO_ROOT, resolve(REPO_ROOT, 'apps/gateway/dist/public', source)));
      expect(sources).toEqual(expect.arrayContaining(['apps/gateway/dashboard/src/main.ts', 'libs/client/src/subscribe.ts', 'libs/client/src/subscribe-activity.ts']));
      expect((page as Page & { problems?: string[] }).problems).toEqual([]);
      await page.close();
    } finally {
      await dev.stop();
    }
  });
});
