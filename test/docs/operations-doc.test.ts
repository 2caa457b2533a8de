/**
 * docs/operations.md and the files it points at (deploy/prometheus/fanout-rules.yml, the Grafana
 * dashboard charts/fanout/dashboards/fanout.json): the rules parse, the guide lists every alert of the
 * file, every fanout metric named in the guide, the rules or the dashboard is one the processes
 * export, and every metric they export has an alert or a panel and is named in the guide. (promtool
 * and a real Prometheus check the rules and queries: test/prometheus.)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
const rulesText = readFileSync(join(ROOT, 'deploy', 'prometheus', 'fanout-rules.yml'), 'utf8');
const dashboardText = readFileSync(join(ROOT, 'charts', 'fanout', 'dashboards', 'fanout.json'), 'utf8');

/** Metric names registered in the source (`name: 'fanout_…'`). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !['node_modules', 'dist', 'test'].includes(entry.name)) walk(path);
      else if (entry.name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/name: '(fanout_[a-z_]+)'/g)) names.add(m[1]!);
    }
  };
  walk(join(ROOT, 'libs'));
  walk(join(ROOT, 'apps'));
  return names;
}

test('the alert rules parse, the guide lists each, every fanout metric the guide, the rules and the dashboard name is exported, and every exported one has an alert or a panel', () => {
  const rules = parse(rulesText) as { groups: { name: string; rules: { alert: string; expr: string; labels?: Record<string, string> }[] }[] };
  const all = rules.groups.flatMap((g) => g.rules);
  expect(all.length).toBeGreaterThanOrEqual(8);
  for (const rule of all) {
    expect({ alert: rule.alert, expr: typeof rule.expr, severity: rule.labels?.severity }).toEqual({ alert: rule.alert, expr: 'string', severity: expect.stringMatching(/^(warning|critical)$/) });
    expect(doc).toContain(`| \`${rule.alert}\` |`);
  }
  expect(doc).toContain('deploy/prometheus/fanout-rules.yml');
  expect(doc).toContain('charts/fanout/dashboards/fanout.json');
  const exported = exportedMetrics();
  expect(exported.has('fanout_gateway_connections')).toBe(true);
  const namesIn = (text: string) => [...new Set([...text.matchAll(/\b(fanout_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')))];
  const named = namesIn(doc);
  for (const [where, text] of [['docs/operations.md', doc], ['fanout-rules.yml', rulesText], ['fanout.json', dashboardText]]) {
    expect({ where, unknown: namesIn(text!).filter((name) => !exported.has(name)) }).toEqual({ where, unknown: [] });
  }
  // Every metric the processes export has an alert or a panel, and the guide names it.
  expect(exported.size).toBeGreaterThanOrEqual(14);
  for (const name of exported) {
    expect({ name, inGuide: named.includes(name), inRulesOrDashboard: `${rulesText}${dashboardText}`.includes(name) }).toEqual({ name, inGuide: true, inRulesOrDashboard: true });
  }
});
