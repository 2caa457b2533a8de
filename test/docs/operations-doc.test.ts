/**
 * docs/operations.md: its alert rules parse as a Prometheus rule file, and every fanout metric it
 * names (in the rules or in the text) is one the processes export.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');

/** Metric names registered in the source (`name: 'fanout_…'`), plus the default process metrics' prefix. */
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

test('the alert rules parse, and every fanout metric the operations guide names is exported', () => {
  const block = /```yaml\n([\s\S]*?)```/.exec(doc);
  expect(block).not.toBeNull();
  const rules = parse(block![1]!) as { groups: { name: string; rules: { alert: string; expr: string; labels?: Record<string, string> }[] }[] };
  const all = rules.groups.flatMap((g) => g.rules);
  expect(all.length).toBeGreaterThanOrEqual(8);
  for (const rule of all) {
    expect({ alert: rule.alert, expr: typeof rule.expr, severity: rule.labels?.severity }).toEqual({ alert: rule.alert, expr: 'string', severity: expect.stringMatching(/^(warning|critical)$/) });
  }
  const exported = exportedMetrics();
  expect(exported.has('fanout_gateway_connections')).toBe(true);
  const named = [...new Set([...doc.matchAll(/\b(fanout_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')))];
  expect(named.filter((name) => !exported.has(name))).toEqual([]);
  // The contract's metrics all have an alert or a panel here.
  for (const name of ['fanout_gateway_connections', 'fanout_gateway_events_delivered_total', 'fanout_gateway_replayed_events_total', 'fanout_gateway_heartbeats_total', 'fanout_gateway_disconnects_total', 'fanout_gateway_subscriptions', 'fanout_delivery_lag_seconds', 'fanout_publisher_events_total']) {
    expect(named).toContain(name);
  }
});
