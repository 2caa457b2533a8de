/**
 * deploy/prometheus/fanout-rules.yml with Debian's promtool: `promtool check rules` accepts it, and
 * `promtool test rules fanout-rules.test.yml` passes, where every alert has a case in which it fires
 * and one in which it stays quiet on healthy series.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { prometheusBinary } from '../support/prometheus';

type Json = Record<string, any>;
const DIR = resolve(__dirname, '..', '..', 'deploy', 'prometheus');
const rules = parse(readFileSync(join(DIR, 'fanout-rules.yml'), 'utf8')) as Json;
const tests = parse(readFileSync(join(DIR, 'fanout-rules.test.yml'), 'utf8')) as Json;
const alerts: string[] = (rules.groups as Json[]).flatMap((g) => (g.rules as Json[]).map((r) => r.alert as string));

function promtool(args: string[]): string {
  const result = spawnSync(prometheusBinary('promtool'), args, { cwd: DIR, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`promtool ${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}

test('promtool check rules accepts the rules file', () => {
  expect(promtool(['check', 'rules', 'fanout-rules.yml'])).toContain(`SUCCESS: ${alerts.length} rules found`);
  expect(alerts.length).toBeGreaterThanOrEqual(10);
  for (const rule of (rules.groups as Json[]).flatMap((g) => g.rules as Json[])) {
    expect({ alert: rule.alert, severity: rule.labels?.severity, summary: typeof rule.annotations?.summary }).toEqual({
      alert: rule.alert,
      severity: expect.stringMatching(/^(warning|critical)$/),
      summary: 'string',
    });
  }
});

test('every alert has a case where it fires and one where it stays quiet', () => {
  const cases = (tests.tests as Json[]).flatMap((t) =>
    (t.alert_rule_test as Json[]).map((c) => ({
      alert: c.alertname as string,
      firing: (c.exp_alerts as Json[]).map((a) => JSON.stringify(a.exp_labels)),
      series: (t.input_series as Json[]).map((s) => s.series as string),
    })),
  );
  const missing: string[] = [];
  for (const alert of alerts) {
    const mine = cases.filter((c) => c.alert === alert);
    if (!mine.some((c) => c.firing.length > 0)) missing.push(`${alert}: no case where it fires`);
    // Quiet: a case expecting no alert, or a case with a series (another pod or target) that does not fire.
    const quiet = mine.some((c) => c.firing.length === 0 || c.series.some((s) => /(pod|instance)="([^"]+)"/.test(s) && !c.firing.some((f) => f.includes(/(pod|instance)="([^"]+)"/.exec(s)![2]!))));
    if (!quiet) missing.push(`${alert}: no case where it stays quiet`);
  }
  expect(missing).toEqual([]);
});

test('promtool test rules passes', () => {
  expect(promtool(['test', 'rules', 'fanout-rules.test.yml'])).toContain('SUCCESS');
});

test("docker-compose's Prometheus gives every fanout target a pod label of its own, since the rules sum by pod", () => {
  const config = parse(readFileSync(join(DIR, '..', 'prometheus.yml'), 'utf8')) as Json;
  const targets = (config.scrape_configs as Json[]).flatMap((job) => (job.static_configs as Json[]).flatMap((group) => (group.targets as string[]).map((target) => ({ target, pod: group.labels?.pod }))));
  expect(targets.length).toBeGreaterThanOrEqual(3);
  for (const { target, pod } of targets) expect({ target, pod: typeof pod }).toEqual({ target, pod: 'string' });
  expect(new Set(targets.map((t) => t.pod)).size).toBe(targets.length);
  expect((rules.groups as Json[]).flatMap((g) => g.rules as Json[]).some((r) => /by \(pod\)/.test(r.expr))).toBe(true);
});
