'use strict';
/**
 * Turns a results object into rows (scenario, metric, fanout, baseline, target, result), prints them
 * as a table, and writes docs/benchmarks.md. Targets are those of issue 5, unchanged.
 */

function fmtNum(n, digits = 0) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(digits);
}

const ms = (n) => (n === undefined || Number.isNaN(n) ? '–' : `${n.toFixed(0)} ms`);
const sec = (n, d = 2) => (n === undefined || Number.isNaN(n) ? '–' : `${n.toFixed(d)} s`);
const times = (n) => (n === undefined || Number.isNaN(n) ? '–' : `${n.toFixed(2)}×`);

/** A target check: kind 'min' (value ≥ limit) or 'max' (value ≤ limit). */
function check(value, kind, limit, unit = '') {
  if (value === undefined || value === null || Number.isNaN(value)) return { status: 'not measured', text: 'not measured' };
  const met = kind === 'min' ? value >= limit : value <= limit;
  if (met) return { status: 'met', text: 'met' };
  if (limit === 0) return { status: 'missed', text: `missed: ${fmtNum(value)}${unit}` };
  const by = kind === 'min' ? (limit - value) / limit : (value - limit) / limit;
  if (by > 1) return { status: 'missed', text: `missed: ${(value / limit).toFixed(1)}× the limit` };
  return { status: 'missed', text: `missed by ${(by * 100).toFixed(0)} %` };
}

function lossOf(phase) {
  if (!phase) return NaN;
  return phase.lost + (phase.seqGaps || 0) + (phase.closedUnexpectedly || 0);
}

function lossText(phase) {
  if (!phase) return '–';
  const parts = [`${phase.lost}`];
  if (phase.seqGaps) parts.push(`${phase.seqGaps} seq gaps`);
  if (phase.seqDups) parts.push(`${phase.seqDups} dups`);
  if (phase.extra) parts.push(`${phase.extra} extra`);
  if (phase.closedUnexpectedly) parts.push(`${phase.closedUnexpectedly} dropped conns`);
  if (phase.finished === false) parts.push(`unfinished: ${phase.unfinishedReason}`);
  return parts.join(', ');
}

function cpuText(phase) {
  if (!phase) return '–';
  const parts = [phase.serverCpuSeconds, phase.redisCpuSeconds, phase.publisherCpuSeconds, phase.loadgenCpuSeconds].map((v) => (v === undefined ? '–' : v.toFixed(2)));
  return `${parts.join(' / ')} s in ${sec(phase.windowSeconds, 1)}`;
}

function shareText(phase) {
  if (!phase || phase.busiestServerProcessShare === undefined) return '–';
  return `${(100 * phase.busiestServerProcessShare).toFixed(0)} % / ${(100 * phase.busiestLoadgenProcessShare).toFixed(0)} %`;
}

/** Rows for the table: [scenario, metric, fanout, baseline, target, result]. */
function rowsFor(results) {
  const rows = [];
  const push = (id, metric, fanout, baseline, target = '', result = '') => rows.push([id, metric, fanout, baseline, target, result]);
  for (const [id, r] of Object.entries(results.scenarios)) {
    if (r.error) {
      push(id, 'error', r.error.split('\n')[0].slice(0, 160), '', '', 'failed');
      continue;
    }
    const f = r.phases.fanout;
    const b = r.phases.baseline;
    if (id === 'B1' || id === 'B2' || id === 'B3') {
      const ratioTarget = { B1: 1.1, B2: 6 }[id];
      const p99Target = { B1: 50, B2: 250, B3: 50 }[id];
      push(
        id,
        'deliveries / server CPU-s',
        fmtNum(f?.deliveriesPerServerCpuSecond),
        fmtNum(b?.deliveriesPerServerCpuSecond),
        ratioTarget ? `≥ ${ratioTarget}× baseline` : '',
        ratioTarget ? `${times(r.ratio)} ${check(r.ratio, 'min', ratioTarget).text}` : `${times(r.ratio)} (no target)`,
      );
      push(id, 'latency p50 / p99', f ? `${ms(f.latencyMs.p50)} / ${ms(f.latencyMs.p99)}` : '–', b ? `${ms(b.latencyMs.p50)} / ${ms(b.latencyMs.p99)}` : '–', `p99 ≤ ${p99Target} ms`, check(f?.latencyMs.p99, 'max', p99Target, ' ms').text);
      if (f?.gatewayLag) push(id, "gateways' own lag (publishedAt → written) p50 / p99 ≤", `${ms(f.gatewayLag.p50AtMostMs)} / ${ms(f.gatewayLag.p99AtMostMs)}`, '');
      push(id, 'lost', lossText(f), lossText(b), '0', check(lossOf(f), 'max', 0).text);
      push(id, 'deliveries', fmtNum(f?.deliveries), fmtNum(b?.deliveries));
      push(id, 'CPU server / redis / publisher / loadgen', cpuText(f), cpuText(b), id === 'B3' ? 'Redis CPU reported' : '', id === 'B3' ? (f?.redisCpuSeconds !== undefined ? 'met' : 'not measured') : '');
      push(id, 'busiest server / loadgen process, of a core', shareText(f), shareText(b));
    } else if (id === 'B4') {
      push(id, 'KiB per idle connection', fmtNum(f?.kibPerConnection, 1), fmtNum(b?.kibPerConnection, 1), '≤ 1.0× baseline', `${times(r.ratio)} ${check(r.ratio, 'max', 1.0).text}`);
      push(id, 'of which the second half, per connection (marginal)', fmtNum(f?.marginalKibPerConnection, 1), fmtNum(b?.marginalKibPerConnection, 1));
      push(id, 'RSS before → after', f ? `${fmtNum(f.rssBeforeKiB / 1024, 1)} → ${fmtNum(f.rssAfterKiB / 1024, 1)} MiB` : '–', b ? `${fmtNum(b.rssBeforeKiB / 1024, 1)} → ${fmtNum(b.rssAfterKiB / 1024, 1)} MiB` : '–');
      push(id, 'JS heap KiB per connection: in use / retained after a full GC', f ? `${fmtNum(f.heapKibPerConnection, 1)} / ${fmtNum(f.heapRetainedKibPerConnection, 1)}` : '–', b ? `${fmtNum(b.heapKibPerConnection, 1)} / ${fmtNum(b.heapRetainedKibPerConnection, 1)}` : '–');
      push(id, 'connections opened / s', fmtNum(f?.openPerSecond), fmtNum(b?.openPerSecond));
    } else if (id === 'B5') {
      push(id, 'all caught up after', sec(f?.catchUpSeconds), '', '≤ 5 s', check(f?.catchUpSeconds, 'max', 5, ' s').text);
      push(id, 'bytes read from Redis / one history copy', f ? `${fmtNum(f.redisBytesOut)} B / ${fmtNum(f.historyBytes)} B = ${times(f.redisBytesPerHistoryCopy)}` : '–', '', '≤ 2×', check(f?.redisBytesPerHistoryCopy, 'max', 2).text);
      push(id, 'lost', lossText(f), '', '0', check(lossOf(f), 'max', 0).text);
      push(id, 'CPU gateway / redis / loadgen', f ? `${[f.serverCpuSeconds, f.redisCpuSeconds, f.loadgenCpuSeconds].map((v) => v.toFixed(2)).join(' / ')} s` : '–', '');
      push(id, 'first client caught up / all response heads', f ? `${sec(f.firstCaughtUpSeconds)} / ${sec(f.allHeadersSeconds)}` : '–', '');
    } else if (id === 'B6') {
      for (const [name, m] of Object.entries(f.modes)) {
        const isTarget = /^batch\d+$/.test(name);
        push(
          id,
          `${name}: events/s, answer p50 / p99`,
          `${fmtNum(m.eventsPerSecond)} ev/s, ${ms(m.answerMs.p50)} / ${ms(m.answerMs.p99)}${m.failed ? `, ${m.failed} failed` : ''}`,
          '',
          isTarget ? '≥ 20k events/s' : '',
          isTarget ? check(m.eventsPerSecond, 'min', 20000).text : '',
        );
        push(id, `${name}: CPU publisher / redis / loadgen`, `${[m.publisherCpuSeconds, m.redisCpuSeconds, m.loadgenCpuSeconds].map((v) => v.toFixed(2)).join(' / ')} s in ${sec(m.seconds, 1)}; publisher ${fmtNum(m.publisherCpuMicrosPerEvent, 1)} µs/event (one busy core: ${fmtNum(1e6 / m.publisherCpuMicrosPerEvent)} ev/s)`, '');
      }
    }
  }
  return rows;
}

function markdownTable(rows) {
  const header = ['', 'metric', 'fanout', 'baseline', 'target', 'result'];
  const escape = (cell) => String(cell).replace(/\|/g, '\\|');
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`)].join('\n');
}

function textTable(rows) {
  const header = ['', 'metric', 'fanout', 'baseline', 'target', 'result'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.min(80, Math.max(...all.map((r) => String(r[i]).length))));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function machineText(m) {
  return [
    `- date: ${m.date}`,
    m.commit === undefined ? '- code: not recorded' : `- code: commit ${m.commit}${m.uncommittedChanges && m.uncommittedChanges.length ? ` plus uncommitted changes to ${m.uncommittedChanges.length} files of apps/ and libs/ (${m.uncommittedChanges.slice(0, 8).join(', ')}${m.uncommittedChanges.length > 8 ? ', …' : ''})` : ''}`,
    `- machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memTotalGiB} GiB memory, ${m.kernel}`,
    `- node ${m.node}, ${m.redis}`,
    `- load average at start: ${m.loadStart.map((l) => l.toFixed(2)).join(' ')}; at end: ${m.loadEnd ? m.loadEnd.map((l) => l.toFixed(2)).join(' ') : '–'}`,
    `- open-file limit of the processes: ${m.nofile}; load generator: ${m.sink === false ? `${m.workers} Node subscriber processes (no C sink)` : `the C counting sink (bench/sink.c) and ${m.workers} Node subscriber processes for the sampled connections`}${m.pinned ? '; servers pinned to CPU 0, everything else to CPU 1' : '; no CPU pinning'}`,
  ].join('\n');
}

/** What follows this line in docs/benchmarks.md is written by hand and kept when the docs are regenerated. */
const NOTES_MARKER = '<!-- Notes below this line are written by hand; bench --write-docs keeps them. -->';

function renderDocs(results, previous = '') {
  const at = previous.indexOf(NOTES_MARKER);
  const notes = at >= 0 ? previous.slice(at) : `${NOTES_MARKER}\n\n## Notes\n\nWhere a target is missed: by how much, and what profiling (\`--profile\`) showed the cost to be.\n`;
  const rows = rowsFor(results);
  const scenarioLines = Object.entries(results.scenarios).map(([id, r]) => `- **${id}** ${r.description || ''}`);
  const perScenarioLoad = Object.entries(results.scenarios)
    .filter(([, r]) => r.loadAverage)
    .map(([id, r]) => `${id} ${r.loadAverage.before.toFixed(2)} → ${r.loadAverage.after.toFixed(2)}`)
    .join('; ');
  const profiles = Object.entries(results.profiles || {});
  return `# Benchmarks

Produced by \`npm run bench${results.argv.length ? ` -- ${results.argv.join(' ')}` : ''}\` (bench/run.js): ${results.quick ? '**quick mode (~10× smaller parameters): for smoke-testing, not figures to quote**' : 'full parameters of issue 5'}.
${results.provisional ? '\n**Provisional:** measured on a shared machine while other work was running; not final figures.\n' : ''}
${machineText(results.machine)}
- 1-minute load average before → after each scenario: ${perScenarioLoad || '–'}

${markdownTable(rows)}

## What is measured

${scenarioLines.join('\n')}

- **fanout** is the real thing as separate processes: \`redis-server\`, one \`fanout publisher\`, and
  \`fanout gateway\` replicas (\`FANOUT_AUTH=none\`, \`LOG_LEVEL=warn\`), each started fresh per scenario.
- **baseline** is \`bench/baseline-server.js\`: a bare \`node:http\` server that takes the same
  \`POST /api/v1/events\` bodies from the same load generator, builds each event's frame once as a
  Buffer and writes it to every subscriber of the subject with one \`res.write\` per event per
  client (Node's defaults: keep-alive, chunked transfer encoding). It has no store, no history and
  no hop; reading and parsing the POST is part of its CPU.
- **deliveries / server CPU-s**: domain frames received by all clients in the window, divided by the
  user+system CPU (from \`/proc/<pid>/stat\`) of the gateway processes (fanout) or the baseline process,
  over the window from the first publish until every client has every event. Redis, the publisher and
  the load generator (the C counting sink, the Node subscriber processes and the driving process)
  are reported separately. The sink holds every connection that only counts frames; the Node
  processes hold the sampled ones (bench/README.md says why).
- **latency**: \`publishedAt\` (set by the publisher just before its Lua append; by the baseline when
  the POST arrives) to receipt by the client, on a sample of the connections, which also check that
  \`seq\` is contiguous. **lost** counts, on every connection, frames expected but not received, plus
  sampled seq gaps and connections that closed before the end.
- **gateways' own lag**: the gateways' \`fanout_delivery_lag_seconds\` histogram over the window (the
  upper bound of the bucket holding p50 / p99): publishedAt to the end of the gateway's write loop,
  which tells the time up to the gateway's writes apart from the time on the clients' side.
- **B4**: RSS of the server process after the idle connections (and a 2 s settle) minus before, per
  connection; the connections open in two halves with a settle after each, and the second half's
  growth per connection is shown too: the marginal cost, without one-time growth such as a young
  generation reaching its working size during the first half; both servers first took and closed a
  warm-up batch of connections. The JS heap figures
  are the servers' own (\`process.memoryUsage()\` / the \`nodejs_heap_size_used_bytes\` metric), once as
  found and once after a full GC: both servers run with \`--expose-gc --require bench/gc-preload.js\`,
  which runs \`gc()\` on SIGUSR2 and changes nothing else. \`node bench/heap-diff.js\` shows what the
  retained bytes are, by constructor.
- **B5**: \`INFO stats\` \`total_net_output_bytes\` of Redis over the herd, against the stored frames after
  the clients' position (one copy of the history); it includes the gateways' canary traffic${
    results.scenarios.B5 && results.scenarios.B5.phases ? ` (${fmtNum(results.scenarios.B5.phases.fanout.redisIdleBytesPerSecond)} B/s when idle)` : ''
  }.
- **B6**: one publisher process; \`batch100\` sends each request's 100 events for one subject (one Lua
  call), \`-mixed\` spreads a request's events over many subjects (one Lua call per subject).

Absolute numbers on shared machines drift; compare the ratios to the baseline of the same run.
${profiles.length ? `\n## Profiles (\`--profile\`)\n\n${profiles.map(([name, top]) => `### ${name}\n\n\`\`\`\n${top}\n\`\`\``).join('\n\n')}\n` : ''}
${notes}`;
}

module.exports = { rowsFor, textTable, markdownTable, renderDocs, fmtNum };
