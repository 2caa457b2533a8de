/**
 * Debian's Prometheus scrapes a real gateway (two workers) and a real publisher over a real
 * redis-server, archiving to a real S3-compatible server (so the archive's metrics exist), with
 * deploy/prometheus/fanout-rules.yml loaded, while events flow to live and replaying clients. Then
 * every query of the Grafana dashboard (charts/fanout/dashboards/fanout.json)
 * evaluates without error through the HTTP API and returns series, every alert rule is evaluated by
 * Prometheus with health "ok", the series each alert expression selects exist, and no alert is pending
 * or firing on this healthy system. Node's default metrics are scraped under their standard names.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { PrometheusServer, startPrometheus } from '../support/prometheus';
import { S3Server, startS3 } from '../support/s3-server';
import { closeAllStreams } from '../support/sse-client';
import { Stack, jobEvents, startStack } from '../support/stack';
import { sleep, waitFor } from '../support/wait';

jest.setTimeout(120_000);

type Json = Record<string, any>;
const ROOT = resolve(__dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'prometheus', 'fanout-rules.yml');
const dashboard = JSON.parse(readFileSync(join(ROOT, 'charts', 'fanout', 'dashboards', 'fanout.json'), 'utf8')) as Json;
const rules = (parse(readFileSync(RULES, 'utf8')) as Json).groups.flatMap((g: Json) => g.rules) as Json[];

/** The dashboard's variables as Grafana would fill them (the rate window: several 1 s scrapes). */
const grafanaVariables = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*fanout.*');

const panelQueries: { panel: string; expr: string }[] = (dashboard.panels as Json[])
  .filter((p) => p.type !== 'row')
  .flatMap((p) => (p.targets as Json[]).map((t) => ({ panel: p.title as string, expr: grafanaVariables(t.expr as string) })));

let s3: S3Server;
let stack: Stack;
let prometheus: PrometheusServer;
const started = Date.now();

beforeAll(async () => {
  s3 = await startS3();
  stack = await startStack({ gateways: 1, env: s3.env(), gatewayEnv: { FANOUT_WORKERS: 2 } });
  prometheus = await startPrometheus({
    jobs: [
      { job: 'fanout-gateway', targets: [`127.0.0.1:${stack.gateways[0]!.port}`] },
      { job: 'fanout-publisher', targets: [`127.0.0.1:${stack.publisher.port}`] },
    ],
    ruleFiles: [RULES],
    intervalSeconds: 1,
  });

  // Prometheus applies its targets some seconds after it is ready: traffic starts once both are scraped.
  await waitFor('Prometheus to scrape both processes', async () => (await prometheus.query('up == 1')).result.length === 2, 30_000, 250);

  // Traffic: a live client, events for a few seconds, a client replaying the history, a retried event.
  const job = jobEvents(stack.tenant);
  const first = [job.status('pending', { jobType: 'build' }), job.status('scheduled'), job.status('leased'), job.status('running')];
  await stack.publishOk(first);
  const live = await stack.open('job', job.id);
  for (let i = 1; i <= 8; i++) {
    await stack.publishOk([job.progress(i * 10, `step ${i}`)]);
    await sleep(500);
  }
  await live.waitForEvents(12, 20_000);
  const replay = await stack.open('job', job.id);
  await replay.waitForEvents(12, 20_000);
  await stack.publishOk([first[0]!]); // a retry: counted as a duplicate
  // Several scrapes after the traffic, so every rate window holds it.
  await waitFor('Prometheus to have scraped the traffic', async () => (await prometheus.query('sum(rate(fanout_gateway_replayed_events_total[1m])) > 0')).result.length > 0, 30_000, 250).catch(async (error: Error) => {
    const targets = await prometheus.api<{ activeTargets: Json[] }>('targets');
    const replayed = await prometheus.query('fanout_gateway_replayed_events_total[1m]');
    throw new Error(`${error.message}\ntargets: ${JSON.stringify(targets.activeTargets.map((t) => [t.labels.job, t.health, t.lastError]))}\nreplayed: ${JSON.stringify(replayed.result)}\n${prometheus.log()}`);
  });
}, 120_000);

afterAll(async () => {
  closeAllStreams();
  await prometheus?.stop();
  await stack?.stop();
  await s3?.stop();
}, 60_000);

test('both processes are scraped and up', async () => {
  const targets = await prometheus.api<{ activeTargets: Json[] }>('targets');
  expect(targets.activeTargets.map((t) => [t.labels.job, t.health]).sort()).toEqual([
    ['fanout-gateway', 'up'],
    ['fanout-publisher', 'up'],
  ]);
});

test("Node's default metrics keep their standard names; fanout's own carry fanout_", async () => {
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
    for (const job of ['fanout-gateway', 'fanout-publisher']) {
      const series = (await prometheus.query(`${name}{job="${job}"}`)).result.length;
      expect({ name, job, found: series > 0 }).toEqual({ name, job, found: true });
    }
  }
  expect((await prometheus.query('count({__name__=~"fanout_process_.*"})')).result).toEqual([]);
  const names = await prometheus.api<string[]>('label/__name__/values');
  expect(names.filter((n) => /^fanout_/.test(n) && !/^fanout_(gateway|publisher|delivery|workers|archive)/.test(n))).toEqual([]);
});

test('every dashboard panel query evaluates without error and returns series', async () => {
  expect(panelQueries.length).toBeGreaterThanOrEqual(15);
  const problems: string[] = [];
  for (const { panel, expr } of panelQueries) {
    try {
      const { result } = await prometheus.query(expr);
      if (!Array.isArray(result) || result.length === 0) problems.push(`${panel}: ${expr} returned no series`);
    } catch (error) {
      problems.push(`${panel}: ${(error as Error).message}`);
    }
  }
  expect(problems).toEqual([]);
});

test('the dashboard covers connections, deliveries, lag quantiles, replays, slow consumers, bus recoveries, conflation, publisher results, Redis errors and the archive', () => {
  const all = panelQueries.map((q) => q.expr).join('\n');
  for (const needle of [
    'fanout_gateway_connections',
    'rate(fanout_gateway_events_delivered_total',
    'histogram_quantile(0.5,',
    'histogram_quantile(0.99,',
    'fanout_gateway_replayed_events_total',
    'reason="slow_consumer"',
    'fanout_gateway_bus_recoveries_total',
    'fanout_publisher_events_total',
    'reason="store_error"',
    'fanout_gateway_conflated_events_total',
    'fanout_archive_pending',
    'fanout_archive_subjects_total{result="archived"}',
    'fanout_archive_subjects_total{result="failed"}',
  ]) {
    expect(all).toContain(needle);
  }
});

test('Prometheus evaluates every alert rule without error; each expression runs and the series it selects exist', async () => {
  const loaded = await waitFor(
    'every rule to be evaluated after the traffic',
    async () => {
      const data = await prometheus.api<{ groups: Json[] }>('rules');
      const all = data.groups.flatMap((g) => g.rules as Json[]);
      return all.length === rules.length && all.every((r) => Date.parse(r.lastEvaluation) > started) ? all : undefined;
    },
    30_000,
    250,
  );
  expect(loaded.map((r) => [r.name, r.health, r.lastError ?? ''])).toEqual(rules.map((r) => [r.alert, 'ok', '']));
  const problems: string[] = [];
  for (const rule of rules) {
    try {
      await prometheus.query(rule.expr);
    } catch (error) {
      problems.push(`${rule.alert}: ${(error as Error).message}`);
    }
    for (const selector of new Set<string>((rule.expr as string).match(/\b(?:fanout_[a-z_]+|up)(?:\{[^}]*\})?/g) ?? [])) {
      const { result } = await prometheus.query(`count(${selector})`);
      if (result.length === 0) problems.push(`${rule.alert}: no series for ${selector}`);
    }
  }
  expect(problems).toEqual([]);
});

test('no alert is pending or firing on the healthy system', async () => {
  const { alerts } = await prometheus.api<{ alerts: Json[] }>('alerts');
  expect(alerts.map((a) => `${a.labels.alertname} ${a.state}`)).toEqual([]);
});
