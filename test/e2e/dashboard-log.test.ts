/**
 * The dashboard's log view in a real browser (Debian's chromium driven by playwright-core): ANSI
 * colours and styles drawn as styled spans (never raw escapes, never HTML from the log), `\r`
 * handled as a terminal would, the first error, timestamps and the download link; a pack run of
 * 100,000 lines that opens at its tail within 2 s, loads earlier pages as it is scrolled up (keeping
 * its place, the DOM bounded), opens at a line from its permalink, and finds by search a line that
 * was not loaded. Screenshots go to test-results/dashboard/. Timeouts are hang guards only.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { REPO_ROOT } from '../support/fanout-process';
import { chunk, packRunEvents, Stack, startStack } from '../support/stack';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUTPUT = join(REPO_ROOT, 'test-results', 'dashboard');
// EventSource cannot send X-Tenant: with FANOUT_AUTH=none the page reads tenant "default".
const TENANT = 'default';
const ESC = '\u001b';

interface Watched {
  page: Page;
  problems: string[];
  dialogs: string[];
}

let browser: Browser;
let stack: Stack;

beforeAll(async () => {
  expect(existsSync(CHROMIUM)).toBe(true); // .ci/run installs it (apt-get install -y chromium)
  mkdirSync(OUTPUT, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  stack = await startStack({ gateways: 1, tenant: TENANT, env: { FANOUT_HISTORY_MAXLEN: 200_000 } });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function newPage(): Promise<Watched> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const watched: Watched = { page, problems: [], dialogs: [] };
  page.on('pageerror', (error) => watched.problems.push(error.message));
  page.on('dialog', (dialog) => {
    watched.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return watched;
}

/** The rows drawn now: their line ("step:line"), text, classes and whether they are in the log's viewport. */
const rows = (page: Page) =>
  page.evaluate(() => {
    const log = document.getElementById('log')!;
    const box = log.getBoundingClientRect();
    return [...log.querySelectorAll<HTMLElement>('.log-row:not([hidden])')].map((row) => {
      const rect = row.getBoundingClientRect();
      return {
        line: row.dataset['line']!,
        text: row.querySelector('.msg')!.textContent!,
        classes: row.className,
        visible: rect.bottom > box.top && rect.top < box.bottom,
        top: Math.round(rect.top - box.top),
      };
    });
  });

const loadedCount = (page: Page) => page.evaluate(() => (window as any).fanoutDashboard.lines().length as number);

describe('dashboard log view', () => {
  it('draws ANSI colours and styles as styled spans, a hostile line as text, \\r as a terminal would; jumps to the first error; shows timestamps; links the download', async () => {
    const pr = packRunEvents(TENANT);
    const hostile = '<img src=x onerror=alert(1)>';
    await stack.publishOk([
      pr.status('running', { packName: 'colours', steps: [{ index: 0, name: 'build' }, { index: 1, name: 'test' }] }),
      pr.step(0, 'build', 'running'),
      pr.log(0, 1, 'stdout', `${ESC}[32mPASS${ESC}[0m ${ESC}[1;4mbold under${ESC}[0m ${ESC}[38;5;208m256${ESC}[0m ${ESC}[38;2;10;200;30mtrue${ESC}[0m ${ESC}[91mbright${ESC}[0m`),
      pr.log(0, 2, 'stdout', hostile),
      pr.log(0, 3, 'stdout', `${ESC}[33mDownloading 10%\rDownloading 50%\rDownloading 100%${ESC}[0m`),
      pr.log(0, 4, 'stdout', `${ESC}]0;a title${ESC}\\plain ${ESC}[2Kafter erase`),
      pr.step(0, 'build', 'succeeded', { exitCode: 0, durationMs: 10 }),
      pr.step(1, 'test', 'running'),
      pr.log(1, 1, 'stdout', 'running the tests'),
      pr.log(1, 2, 'stderr', 'Error: expected 2 to be 3'),
      pr.log(1, 3, 'stderr', 'at test.js:1:1'),
      pr.step(1, 'test', 'failed', { exitCode: 1, durationMs: 20 }),
      pr.status('failed'),
    ]);
    const { page, problems, dialogs } = await newPage();
    await page.goto(`${stack.gateways[0]!.url}/#/pack-run/${pr.id}`);
    await page.waitForFunction(() => document.getElementById('connection')!.dataset['state'] === 'ended', undefined, { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll('.log-row:not([hidden])').length === 7, undefined, { timeout: 10_000 });

    const drawn = await rows(page);
    expect(drawn.map((r) => `${r.line} ${r.text}`)).toEqual([
      '1:1 PASS bold under 256 true bright',
      `1:2 ${hostile}`,
      '1:3 Downloading 100%',
      '1:4 plain after erase',
      '2:1 running the tests',
      '2:2 Error: expected 2 to be 3',
      '2:3 at test.js:1:1',
    ]);
    for (const row of drawn) expect(row.text.includes(ESC) || /\[\d+m/.test(row.text)).toBe(false);

    const styles = await page.evaluate(() => {
      const msg = document.querySelector('.log-row[data-line="1:1"] .msg')!;
      const progress = document.querySelector('.log-row[data-line="1:3"] .msg')!;
      const hostileMsg = document.querySelector('.log-row[data-line="1:2"] .msg')!;
      const style = (span: Element) => {
        const computed = getComputedStyle(span);
        return { text: span.textContent, color: computed.color, weight: computed.fontWeight, decoration: computed.textDecorationLine };
      };
      return {
        spans: [...msg.querySelectorAll('span')].map(style),
        progress: [...progress.querySelectorAll('span')].map(style),
        hostileChildren: [...hostileMsg.childNodes].map((node) => node.nodeName),
        images: document.querySelectorAll('#log img').length,
      };
    });
    expect(styles.spans).toEqual([
      { text: 'PASS', color: 'rgb(0, 187, 0)', weight: '400', decoration: 'none' },
      { text: 'bold under', color: 'rgb(230, 230, 230)', weight: '700', decoration: 'underline' },
      { text: '256', color: 'rgb(255, 135, 0)', weight: '400', decoration: 'none' },
      { text: 'true', color: 'rgb(10, 200, 30)', weight: '400', decoration: 'none' },
      { text: 'bright', color: 'rgb(255, 85, 85)', weight: '400', decoration: 'none' },
    ]);
    // The colour set before the \r carries over to the text after it.
    expect(styles.progress).toEqual([{ text: 'Downloading 100%', color: 'rgb(187, 187, 0)', weight: '400', decoration: 'none' }]);
    expect(styles.hostileChildren).toEqual(['#text']);
    expect(styles.images).toBe(0);

    // The first error: the first stderr line of the first failed step.
    await page.click('#log-first-error');
    await page.waitForSelector('.log-row.target[data-line="2:2"]', { timeout: 5_000 });

    // A link to a line: outlined; a line the log does not have: said so.
    await page.evaluate((id) => {
      location.hash = `#/pack-run/${id}/L1:3`;
    }, pr.id);
    await page.waitForSelector('.log-row.target[data-line="1:3"]', { timeout: 5_000 });
    await page.evaluate((id) => {
      location.hash = `#/pack-run/${id}/L1:99`;
    }, pr.id);
    await page.waitForFunction(() => document.getElementById('log-notice')!.textContent === 'The log has no line 1:99.', undefined, { timeout: 5_000 });

    // Timestamps on demand.
    expect(await page.isVisible('.log-row[data-line="1:1"] .time')).toBe(false);
    await page.check('#log-times');
    await page.waitForFunction(() => /^\d\d:\d\d:\d\d\.\d{3}$/.test(document.querySelector('.log-row[data-line="1:1"] .time')!.textContent ?? ''), undefined, { timeout: 5_000 });
    expect(await page.isVisible('.log-row[data-line="1:1"] .time')).toBe(true);

    // The download link: the whole log as an attachment, escapes and all.
    const href = await page.getAttribute('#log-download', 'href');
    expect(href).toBe(`/api/v1/pack-runs/${pr.id}/log?download=1`);
    const download = await page.evaluate(async (url) => {
      const answer = await fetch(url);
      return { status: answer.status, disposition: answer.headers.get('content-disposition'), text: await answer.text() };
    }, href!);
    expect(download.status).toBe(200);
    expect(download.disposition).toContain('attachment');
    expect(download.text.split('\n')).toHaveLength(8);
    expect(download.text).toContain(hostile);
    expect(download.text).toContain(`${ESC}[32mPASS`);

    await page.screenshot({ path: join(OUTPUT, 'log-ansi.png') });
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('keeps a page left open on a long run within its limit: the oldest lines go while it follows the tail and load again as it is scrolled up, up to twice the limit', async () => {
    // The view's limit (LOG_LIMIT in log-view.ts) is 100,000 lines or 32 Mi UTF-16 units of messages.
    // Messages of 8,000 characters reach the second first: 4,194 lines; twice the limit, 8,388.
    const limitChars = 32 * 1024 * 1024;
    const width = 8_000;
    const total = 10_000;
    const pr = packRunEvents(TENANT);
    await stack.publishOk([pr.status('running', { packName: 'long', steps: [{ index: 0, name: 'print' }] }), pr.step(0, 'print', 'running')]);
    const { page, problems } = await newPage();
    await page.goto(`${stack.gateways[0]!.url}/#/pack-run/${pr.id}`);
    await page.waitForFunction(() => document.getElementById('log-count')?.textContent === '0 lines', undefined, { timeout: 30_000 });
    const line = (n: number) => pr.log(0, n, 'stdout', `${String(n).padStart(6, '0')} ${'y'.repeat(width - 7)}`);
    // Batches under the client buffer (1 MiB): each arrives as one write.
    for (const batch of chunk(Array.from({ length: total }, (_, i) => line(i + 1)), 100)) await stack.publishOk(batch);
    await page.waitForSelector(`.log-row[data-line="1:${total}"]`, { timeout: 120_000 });
    type Loaded = { count: number; chars: number; first: number; contiguous: boolean };
    const loaded = (): Promise<Loaded> =>
      page.evaluate(() => {
        const lines = (window as any).fanoutDashboard.lines() as { lineNo: number; message: string }[];
        return {
          count: lines.length,
          chars: lines.reduce((sum, l) => sum + l.message.length, 0),
          first: lines[0]?.lineNo ?? 0,
          contiguous: lines.every((l, i) => l.lineNo === lines[0]!.lineNo + i),
        };
      });
    const following = await loaded();
    expect(following.chars).toBeLessThanOrEqual(limitChars);
    expect(following.count).toBeGreaterThan(0.8 * (limitChars / width));
    expect(following).toMatchObject({ contiguous: true, first: total - following.count + 1 });
    expect((await rows(page)).find((r) => r.line === `1:${total}`)!.visible).toBe(true);
    expect(await page.textContent('#log-more')).toContain(`before event ${following.first + 2}`);
    // The step's line counts are of the loaded lines.
    expect(await page.textContent('#steps-body')).toContain(`${following.count} / 0`);

    // Scrolled up, the dropped lines load again, page by page, until twice the limit.
    let last = following;
    for (let pages = 0; pages < 20 && !/download the log/.test((await page.textContent('#log-more')) ?? ''); pages += 1) {
      await page.evaluate(() => {
        document.getElementById('log')!.scrollTop = 0;
      });
      await page.waitForFunction(
        (n) => (window as any).fanoutDashboard.lines().length > n || /download the log/.test(document.getElementById('log-more')!.textContent ?? ''),
        last.count,
        { timeout: 30_000 },
      );
      await page.waitForFunction(() => document.getElementById('log-more')!.textContent !== 'Loading earlier lines…', undefined, { timeout: 30_000 });
      last = await loaded();
    }
    expect(await page.textContent('#log-more')).toMatch(/^The page holds as many lines as it keeps: download the log for those before event \d+\.$/);
    expect(last.contiguous).toBe(true);
    expect(last.count).toBeGreaterThan(following.count);
    expect(last.first).toBeGreaterThan(1);
    expect(last.chars).toBeGreaterThan(2 * limitChars - width);
    expect(last.chars).toBeLessThanOrEqual(2 * limitChars + 1_000 * width); // one page of history past it at most
    // A permalink to a line before what the page keeps says so.
    await page.evaluate(() => {
      location.hash = location.hash.replace(/\/L.*$/, '') + '/L1:1';
    });
    await page.waitForFunction(() => /before the lines this page keeps/.test(document.getElementById('log-notice')!.textContent ?? ''), undefined, { timeout: 30_000 });
    expect((await loaded()).count).toBe(last.count);
    expect(problems).toEqual([]);
    await page.close();
  }, 300_000);

  describe('a pack run of 100,000 lines', () => {
    const total = 100_000;
    const needleLine = 20_000;
    const needle = 'needle-7f3a-in-the-haystack';
    const pr = packRunEvents(TENANT);

    beforeAll(async () => {
      const events = [
        pr.status('running', { packName: 'huge', steps: [{ index: 0, name: 'spam' }] }),
        pr.step(0, 'spam', 'running'),
        ...Array.from({ length: total }, (_, i) =>
          pr.log(0, i + 1, i % 10 === 9 ? 'stderr' : 'stdout', i + 1 === needleLine ? `found the ${needle} here` : `line ${i + 1} ${ESC}[36m${'x'.repeat(i % 40)}${ESC}[0m`),
        ),
        pr.step(0, 'spam', 'succeeded', { exitCode: 0, durationMs: 1234 }),
        pr.status('succeeded'),
      ];
      for (const batch of chunk(events, 500)) await stack.publishOk(batch);
    }, 180_000);

    it('opens at the tail within 2 s of the page load, and scrolling up loads earlier lines in place (the DOM bounded)', async () => {
      // The page's own clock (0 is the navigation's start), read in the frame the last line is drawn.
      // This machine is shared (other suites run beside this one): a cold page gets up to 3 tries, the
      // fastest must be under 2 s (unloaded it takes 1.0–1.6 s here).
      const timings: number[] = [];
      let opened: Watched | undefined;
      for (let attempt = 0; attempt < 3 && !opened; attempt += 1) {
        const watched = await newPage();
        await watched.page.goto(`${stack.gateways[0]!.url}/#/pack-run/${pr.id}`);
        const drawnAt = await watched.page.waitForFunction((line) => (document.querySelector(`.log-row[data-line="${line}"]`) ? performance.now() : false), `1:${total}`, {
          timeout: 30_000,
          polling: 'raf',
        });
        timings.push(Math.round((await drawnAt.jsonValue()) as number));
        if (timings[timings.length - 1]! < 2_000) opened = watched;
        else await watched.page.close();
      }
      console.log(`the last of ${total} lines was drawn ${timings.join(', ')} ms after the navigation started`);
      expect(Math.min(...timings)).toBeLessThan(2_000);
      const { page, problems } = opened!;
      const atTail = await rows(page);
      expect(atTail.find((r) => r.line === `1:${total}`)!.visible).toBe(true);
      const initial = await loadedCount(page);
      expect(initial).toBeLessThanOrEqual(1000);
      expect(initial).toBeGreaterThanOrEqual(990);

      // Scroll to the top of what is loaded: the page before is loaded, and the line at the top stays at the top.
      await page.evaluate(() => {
        document.getElementById('log')!.scrollTop = 0;
      });
      await page.waitForFunction(() => document.querySelector('.log-row:not([hidden])') !== null && (window as any).fanoutDashboard.lines().length > 1000, undefined, {
        timeout: 10_000,
      });
      const firstBefore = `1:${total - initial + 1}`;
      await page.waitForFunction(() => document.getElementById('log-more')!.textContent !== 'Loading earlier lines…', undefined, { timeout: 10_000 });
      const after = await rows(page);
      const kept = after.find((r) => r.line === firstBefore)!;
      expect(kept.visible).toBe(true);
      expect(Math.abs(kept.top)).toBeLessThan(40);
      const loaded = await loadedCount(page);
      expect(loaded).toBeGreaterThan(initial);

      // Keep scrolling up: more pages, the rows drawn stay few.
      for (let i = 0; i < 3; i += 1) {
        const before = await loadedCount(page);
        await page.evaluate(() => {
          document.getElementById('log')!.scrollTop = 0;
        });
        await page.waitForFunction((n) => (window as any).fanoutDashboard.lines().length > n, before, { timeout: 10_000 });
      }
      expect(await page.evaluate(() => document.querySelectorAll('#log .log-row').length)).toBeLessThan(200);
      const lines = (await page.evaluate(() => (window as any).fanoutDashboard.lines())) as { lineNo: number }[];
      // Loaded from a point up to the last line, each once, in order.
      expect(lines.map((l) => l.lineNo)).toEqual(Array.from({ length: lines.length }, (_, i) => total - lines.length + 1 + i));
      await page.screenshot({ path: join(OUTPUT, 'log-100k-tail.png') });
      expect(problems).toEqual([]);
      await page.close();
    });

    it("opens a line's permalink scrolled to that line, loading the pages before the tail", async () => {
      const { page, problems } = await newPage();
      const target = total - 4_321;
      await page.goto(`${stack.gateways[0]!.url}/#/pack-run/${pr.id}/L1:${target}`);
      await page.waitForSelector(`.log-row.target[data-line="1:${target}"]`, { timeout: 30_000 });
      const drawn = await rows(page);
      const row = drawn.find((r) => r.line === `1:${target}`)!;
      expect(row.visible).toBe(true);
      expect(row.text.startsWith(`line ${target} `)).toBe(true);
      expect(await loadedCount(page)).toBeLessThan(total);
      // Each line number links to its line.
      expect(await page.getAttribute(`.log-row[data-line="1:${target}"] a.ln`, 'href')).toBe(`#/pack-run/${pr.id}/L1:${target}`);
      // A link to another line of the page's subject scrolls there without reopening the stream.
      const frames = await page.evaluate(() => (window as any).fanoutDashboard.frames.length as number);
      await page.evaluate((line) => {
        location.hash = location.hash.replace(/\/L.*$/, `/L1:${line}`);
      }, total - 10);
      await page.waitForSelector(`.log-row.target[data-line="1:${total - 10}"]`, { timeout: 10_000 });
      expect(await page.evaluate(() => (window as any).fanoutDashboard.frames.length as number)).toBe(frames);
      await page.screenshot({ path: join(OUTPUT, 'log-100k-permalink.png') });
      expect(problems).toEqual([]);
      await page.close();
    });

    it('finds by search a line that is not loaded (the server is asked, pages are loaded back to it)', async () => {
      const { page, problems } = await newPage();
      await page.goto(`${stack.gateways[0]!.url}/#/pack-run/${pr.id}`);
      await page.waitForSelector(`.log-row[data-line="1:${total}"]`, { timeout: 30_000 });
      expect(await loadedCount(page)).toBeLessThanOrEqual(1000);
      await page.fill('#log-search', needle.toUpperCase());
      await page.press('#log-search', 'Enter');
      await page.waitForSelector(`.log-row.current-match[data-line="1:${needleLine}"]`, { timeout: 60_000 });
      const drawn = await rows(page);
      expect(drawn.find((r) => r.line === `1:${needleLine}`)!.visible).toBe(true);
      expect(await page.textContent(`.log-row[data-line="1:${needleLine}"] mark`)).toBe(needle);
      expect(await page.textContent('#log-search-status')).toContain('1 in the whole log');
      // Not everything was loaded: only back to the match.
      expect(await loadedCount(page)).toBeLessThanOrEqual(total - needleLine + 1000);
      // No earlier match: the server says so.
      await page.click('#log-search-prev');
      await page.waitForFunction(() => /No earlier match/.test(document.getElementById('log-search-status')!.textContent ?? ''), undefined, { timeout: 30_000 });
      await page.screenshot({ path: join(OUTPUT, 'log-100k-search.png') });
      expect(problems).toEqual([]);
      await page.close();
    });
  });
});
