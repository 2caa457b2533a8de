'use strict';
/**
 * Turns a results object into rows (scenario, metric, fanout, baseline, nchan, target, result),
 * prints them as a table, and writes docs/benchmarks.md. Targets are those of issue 5, unchanged,
 * and issue 14's against Nchan (W1, B1's whole-system CPU and p99).
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
const us = (n) => (n === undefined || Number.isNaN(n) ? '–' : `${fmtNum(n, 0)} µs`);
const bytes = (n) => (n === undefined || Number.isNaN(n) ? '–' : n >= 1048576 ? `${(n / 1048576).toFixed(2)} MiB` : n >= 10240 ? `${(n / 1024).toFixed(1)} KiB` : `${n.toFixed(0)} B`);

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
  if (phase.reordered) parts.push(`${phase.reordered} reordered (not lost)`);
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

const COLUMNS = ['', 'metric', 'fanout', 'baseline', 'nchan', 'target', 'result'];

/** Rows for the table: [scenario, metric, fanout, baseline, nchan, target, result]. */
function rowsFor(results) {
  const rows = [];
  const push = (id, metric, fanout, baseline, target = '', result = '', nchan = '') => rows.push([id, metric, fanout, baseline, nchan, target, result]);
  const nchanRan = !results.machine || !results.machine.nchanSkipped;
  for (const [id, r] of Object.entries(results.scenarios)) {
    if (r.error) {
      push(id, 'error', r.error.split('\n')[0].slice(0, 160), '', '', 'failed');
      continue;
    }
    if (id === 'B7') {
      b7Rows(r, (metric, value, baselineValue = '', target = '', result = '') => push(id, metric, value, baselineValue, target, result));
      continue;
    }
    const f = r.phases.fanout;
    const b = r.phases.baseline;
    const n = r.phases.nchan;
    const nchanCell = (text) => (n ? text : nchanRan && (id === 'B1' || id === 'B2') ? 'not run' : '');
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
        nchanCell(fmtNum(n?.deliveriesPerServerCpuSecond)),
      );
      if (id !== 'B3') {
        const systemTarget = { B1: 1.5 }[id];
        push(
          id,
          'deliveries / whole-system CPU-s',
          fmtNum(f?.deliveriesPerSystemCpuSecond),
          fmtNum(b?.deliveriesPerSystemCpuSecond),
          n ? (systemTarget ? `≥ ${systemTarget}× Nchan` : '') : '',
          n ? (systemTarget ? `${times(r.nchanSystemRatio)} ${check(r.nchanSystemRatio, 'min', systemTarget).text}` : `${times(r.nchanSystemRatio)} of Nchan (no target)`) : '',
          nchanCell(fmtNum(n?.deliveriesPerSystemCpuSecond)),
        );
        if (n) push(id, 'fanout ÷ Nchan: per server CPU-s / per whole-system CPU-s', `${times(r.nchanServerRatio)} / ${times(r.nchanSystemRatio)}`, '', '', '', '');
      }
      push(
        id,
        'latency p50 / p99',
        f ? `${ms(f.latencyMs.p50)} / ${ms(f.latencyMs.p99)}` : '–',
        b ? `${ms(b.latencyMs.p50)} / ${ms(b.latencyMs.p99)}` : '–',
        `p99 ≤ ${p99Target} ms`,
        check(f?.latencyMs.p99, 'max', p99Target, ' ms').text,
        nchanCell(n ? `${ms(n.latencyMs.p50)} / ${ms(n.latencyMs.p99)}` : '–'),
      );
      if (id === 'B1' && n) push(id, 'latency p99 against Nchan', ms(f?.latencyMs.p99), '', "p99 ≤ Nchan's", `${times(r.nchanP99Ratio)} ${check(f?.latencyMs.p99, 'max', n.latencyMs.p99, ' ms').text}`, ms(n.latencyMs.p99));
      if (f?.gatewayLag) push(id, "gateways' own lag (publishedAt → written) p50 / p99 ≤", `${ms(f.gatewayLag.p50AtMostMs)} / ${ms(f.gatewayLag.p99AtMostMs)}`, '');
      push(id, 'lost', lossText(f), lossText(b), '0', check(lossOf(f), 'max', 0).text, nchanCell(lossText(n)));
      push(id, 'deliveries', fmtNum(f?.deliveries), fmtNum(b?.deliveries), '', '', nchanCell(fmtNum(n?.deliveries)));
      push(id, 'CPU server / redis / publisher / loadgen', cpuText(f), cpuText(b), id === 'B3' ? 'Redis CPU reported' : '', id === 'B3' ? (f?.redisCpuSeconds !== undefined ? 'met' : 'not measured') : '', nchanCell(cpuText(n)));
      push(id, 'busiest server / loadgen process, of a core', shareText(f), shareText(b), '', '', nchanCell(shareText(n)));
      const g = r.phases['fanout-gzip'];
      if (g) {
        const gzipTargets = id === 'B2';
        push(id, 'gzip: bytes on the wire, gzip / uncompressed', `${bytes(g.bytesReceived)} / ${bytes(f?.bytesReceived)}`, '', gzipTargets ? '≤ 0.3× uncompressed' : '', gzipTargets ? `${times(r.gzipBytesRatio)} ${check(r.gzipBytesRatio, 'max', 0.3).text}` : `${times(r.gzipBytesRatio)} (no target)`);
        push(id, 'gzip: deliveries / server CPU-s', fmtNum(g.deliveriesPerServerCpuSecond), '', gzipTargets ? '≥ 0.8× uncompressed' : '', gzipTargets ? `${times(r.gzipCpuRatio)} ${check(r.gzipCpuRatio, 'min', 0.8).text}` : `${times(r.gzipCpuRatio)} (no target)`);
        push(id, 'gzip: latency p50 / p99, lost', `${ms(g.latencyMs.p50)} / ${ms(g.latencyMs.p99)}, ${lossText(g)}`, '', '0 lost', check(lossOf(g), 'max', 0).text);
        push(id, 'gzip: CPU server / redis / publisher / loadgen', cpuText(g), '');
      }
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
    } else if (id === 'W1') {
      const fp = f?.paced;
      const np = n?.paced;
      const bp = b?.paced;
      const fb = f?.burst;
      const nb = n?.burst;
      const bb = b?.burst;
      const nc = (text) => (n ? text : nchanRan ? 'not run' : 'skipped');
      push(
        id,
        'paced: CPU per event, write side (publisher + Redis | nginx + Redis)',
        us(fp?.systemMicrosPerEvent),
        us(bp?.systemMicrosPerEvent),
        '≤ 1.0× Nchan',
        n ? `${times(r.pacedCpuRatio)} ${check(r.pacedCpuRatio, 'max', 1.0).text}` : 'not measured',
        nc(us(np?.systemMicrosPerEvent)),
      );
      push(id, 'paced: of which publisher | nginx / Redis', fp ? `${us(fp.serverMicrosPerEvent)} / ${us(fp.redisMicrosPerEvent)}` : '–', '', '', '', nc(np ? `${us(np.serverMicrosPerEvent)} / ${us(np.redisMicrosPerEvent)}` : '–'));
      push(id, 'paced: answer p50 / p99', fp ? `${ms(fp.answerMs.p50)} / ${ms(fp.answerMs.p99)}` : '–', bp ? `${ms(bp.answerMs.p50)} / ${ms(bp.answerMs.p99)}` : '–', '', '', nc(np ? `${ms(np.answerMs.p50)} / ${ms(np.answerMs.p99)}` : '–'));
      push(id, 'paced: CPU per event / the bare baseline\'s (no store)', times(r.pacedCpuOfBaseline), '1.00×', '', '', nc(times(r.nchanPacedCpuOfBaseline)));
      const burstText = (x) => (x ? `${fmtNum(x.eventsPerSecond)} ev/s${x.failed ? `, ${x.failed} failed` : ''}` : '–');
      push(id, 'burst: events/s', burstText(fb), burstText(bb), '≥ 1.0× Nchan', n ? `${times(r.burstRatio)} ${check(r.burstRatio, 'min', 1.0).text}` : 'not measured', nc(burstText(nb)));
      const burstCpu = (x) => (x ? `${us(x.systemMicrosPerEvent)} (${us(x.serverMicrosPerEvent)} without Redis); ${(100 * x.systemShareOfCore).toFixed(0)} % / ${(100 * x.loadgenShareOfCore).toFixed(0)} %` : '–');
      push(id, 'burst: events/s / the bare baseline\'s', times(r.burstOfBaseline), '1.00×', '', '', nc(times(r.nchanBurstOfBaseline)));
      push(id, 'burst: CPU per event; write side / load generator, of a core', burstCpu(fb), burstCpu(bb), '', '', nc(burstCpu(nb)));
      push(id, 'burst: answer p50 / p99', fb ? `${ms(fb.answerMs.p50)} / ${ms(fb.answerMs.p99)}` : '–', bb ? `${ms(bb.answerMs.p50)} / ${ms(bb.answerMs.p99)}` : '–', '', '', nc(nb ? `${ms(nb.answerMs.p50)} / ${ms(nb.answerMs.p99)}` : '–'));
    } else if (id === 'M1') {
      const nc = (text) => (n ? text : nchanRan ? 'not run' : 'skipped');
      push(id, "Redis memory of the subject's keys", f ? bytes(f.subjectBytes) : '–', '', '', n ? `${times(r.ratio)} of Nchan (no target)` : '', nc(n ? bytes(n.subjectBytes) : '–'));
      push(id, 'per retained event', f ? bytes(f.bytesPerRetainedEvent) : '–', '', '', '', nc(n ? bytes(n.bytesPerRetainedEvent) : '–'));
      push(id, 'events retained / keys of the subject', f ? `${fmtNum(f.retained)} / ${f.subjectKeys}` : '–', '', '', '', nc(n ? `${fmtNum(n.retained)} / ${n.subjectKeys}` : '–'));
      push(id, 'all keys of the Redis: MEMORY USAGE sum / used_memory growth', f ? `${bytes(f.allKeysBytes)} / ${bytes(f.usedMemoryGrowth)}` : '–', '', '', '', nc(n ? `${bytes(n.allKeysBytes)} / ${bytes(n.usedMemoryGrowth)}` : '–'));
    } else if (id === 'B6') {
      for (const [name, m] of Object.entries(f.modes)) {
        const isTarget = /^batch\d+$/.test(name);
        push(
          id,
          m.answerMs ? `${name}: events/s, answer p50 / p99` : `${name}: events/s (fed ${sec(m.fedForSeconds, 1)}, then flushed)`,
          `${fmtNum(m.eventsPerSecond)} ev/s${m.answerMs ? `, ${ms(m.answerMs.p50)} / ${ms(m.answerMs.p99)}` : ''}${m.failed ? `, ${m.failed} failed` : ''}`,
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

/**
 * B7's rows, per layout (the replica of FANOUT_WORKERS processes; one process). Issue 18's targets
 * are for the replica at 100,000 connections: ≤ 8 KiB RSS per idle connection, one event to all in
 * under 1 s, heartbeats under 5 % of one core; nothing lost in either. The bare node:http baseline's
 * layout, when it ran, is shown in the baseline column of each, with the per-connection ratios.
 */
function b7Rows(r, push) {
  const baseline = Object.values(r.phases).find((x) => x.system === 'baseline');
  for (const [name, x] of Object.entries(r.phases)) {
    if (x.system === 'baseline') continue;
    if (x.subjects) {
      const label = `${name} (${fmtNum(x.connections)} conns over ${fmtNum(x.subjects)} jobs, ${x.workers} processes, ${fmtNum(x.rate)} events/s)`;
      push(`${label}: (subject, process) subscriptions; deliveries`, `${fmtNum(x.subscriptions)}; ${fmtNum(x.deliveries)}`);
      push(`${label}: CPU gateway / redis / publisher`, `${[x.gatewayCpuSeconds, x.redisCpuSeconds, x.publisherCpuSeconds].map((v) => v.toFixed(2)).join(' / ')} s in ${sec(x.windowSeconds, 1)} (sent in ${sec(x.sendSeconds, 1)})`);
      push(`${label}: latency p50 / p99 (sampled)`, `${ms(x.latencyMs.p50)} / ${ms(x.latencyMs.p99)}${x.finished ? '' : `, unfinished: ${x.unfinishedReason}`}`);
      push(`${label}: lost`, `${x.lost + (x.seqGaps || 0) + (x.closedUnexpectedly || 0)}`, '', '0', check(x.lost + (x.seqGaps || 0) + (x.closedUnexpectedly || 0), 'max', 0).text);
      continue;
    }
    const targets = name === 'replica';
    const t = (text) => (targets ? text : '');
    const label = `${name} (${fmtNum(x.connections)} conns, ${x.workers} process${x.workers > 1 ? 'es' : ''})`;
    const b = baseline;
    const of = (fn) => (b ? fn(b) : '');
    const ratio = (value, base) => (b ? `${(value / base).toFixed(2)}× baseline` : '');
    push(`${label}: KiB RSS per idle connection, all processes (after a full GC)`, `${fmtNum(x.kibPerConnection, 2)} (${fmtNum(x.kibPerConnectionAfterGc, 2)})`, of((y) => `${fmtNum(y.kibPerConnection, 2)} (${fmtNum(y.kibPerConnectionAfterGc, 2)})`), t('≤ 8 KiB'), t(check(x.kibPerConnection, 'max', 8, ' KiB').text));
    if (b) push(`${label}: KiB RSS per idle connection against the baseline's`, '', '', '', ratio(x.kibPerConnection, b.kibPerConnection));
    push(`${label}: RSS before → after`, `${fmtNum(x.rssBeforeKiB / 1024, 1)} → ${fmtNum(x.rssAfterKiB / 1024, 1)} MiB`, of((y) => `${fmtNum(y.rssBeforeKiB / 1024, 1)} → ${fmtNum(y.rssAfterKiB / 1024, 1)} MiB`));
    push(`${label}: connected in, connections / s`, `${sec(x.openSeconds, 1)}, ${fmtNum(x.openPerSecond)} / s`, of((y) => `${sec(y.openSeconds, 1)}, ${fmtNum(y.openPerSecond)} / s`));
    if (x.workers > 1) push(`${label}: connections per worker, min / max`, `${fmtNum(x.connectionsPerWorker.min)} / ${fmtNum(x.connectionsPerWorker.max)}`);
    const idle = (i) => `${(i.cpuSecondsPerRound * 1000).toFixed(0)} ms; ${(100 * i.shareOfCoreAtDefault).toFixed(2)} % (${i.heartbeatsPerConnection.toFixed(2)} heartbeats per connection in ${sec(i.seconds, 1)})`;
    push(
      `${label}: idle CPU per heartbeat round (every ${x.idle.heartbeatMs} ms); share of one core at the default 15 s`,
      idle(x.idle),
      of((y) => idle(y.idle)),
      t('< 5 % of one core'),
      t(check(100 * x.idle.shareOfCoreAtDefault, 'max', 5, ' %').text),
    );
    const perConnRound = (y) => (y.idle.cpuSecondsPerRound / y.connections) * 1e6;
    push(`${label}: idle CPU per connection per heartbeat round`, `${perConnRound(x).toFixed(1)} µs`, of((y) => `${perConnRound(y).toFixed(1)} µs`), '', ratio(perConnRound(x), b && perConnRound(b)));
    const f = x.fanout;
    const fanned = (g) =>
      `${ms(g.allReceivedMs)} (first ${ms(g.firstReceivedMs)}; sampled p50 / p99 ${ms(g.latencyMs.p50)} / ${ms(g.latencyMs.p99)}; ${g.cpuSeconds.toFixed(2)} CPU-s)${g.finished ? '' : `, unfinished: ${g.unfinishedReason}`}`;
    push(`${label}: one event to every connection, the last received after`, fanned(f), of((y) => fanned(y.fanout)), t('< 1 s'), t(check(f.finished ? f.allReceivedMs : Infinity, 'max', 1000, ' ms').text));
    const perDelivery = (y) => (y.fanout.cpuSeconds / y.connections) * 1e6;
    push(`${label}: one event to every connection, CPU per delivery`, `${perDelivery(x).toFixed(1)} µs`, of((y) => `${perDelivery(y).toFixed(1)} µs`), '', ratio(perDelivery(x), b && perDelivery(b)));
    const burst = (y) => `${sec(y.burst.allReceivedSeconds)}; ${ms(y.burst.latencyMs.p50)} / ${ms(y.burst.latencyMs.p99)}${y.burst.finished ? '' : `, unfinished: ${y.burst.unfinishedReason}`}`;
    push(`${label}: log burst, ${fmtNum(x.burst.events)} events × ${fmtNum(x.burst.clients)} clients: all received after; sampled p50 / p99`, burst(x), of(burst));
    const lostOf = (y) => y.fanout.lost + y.burst.lost + (y.seqGaps || 0) + (y.closedUnexpectedly || 0);
    const lostText = (y) => `${y.fanout.lost} / ${y.burst.lost} / ${y.seqGaps} / ${y.closedUnexpectedly}`;
    push(`${label}: lost (one event / burst / seq gaps / dropped conns)`, lostText(x), of(lostText), '0', check(lostOf(x), 'max', 0).text);
  }
}

function markdownTable(rows) {
  const header = COLUMNS;
  const escape = (cell) => String(cell).replace(/\|/g, '\\|');
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`)].join('\n');
}

function textTable(rows) {
  const header = COLUMNS;
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
    `- node ${m.node}, ${m.redis}${m.nchan ? `, ${m.nchan}` : m.nchanSkipped ? '; Nchan not measured in this run' : ''}`,
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

Produced by \`npm run bench${results.argv.length ? ` -- ${results.argv.join(' ')}` : ''}\` (bench/run.js): ${results.quick ? '**quick mode (~10× smaller parameters): for smoke-testing, not figures to quote**' : 'full parameters of issues 5 and 14'}.
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
- **gzip** (B1, B2): fanout once more, fresh, with every client sending \`Accept-Encoding: gzip\`
  (\`FANOUT_COMPRESSION\` at its default, \`gzip\`); the clients inflate each stream (zlib in the C
  sink, a streaming gunzip in the Node processes) and count frames in what it inflates to. **bytes on
  the wire**: the response bodies' bytes the clients read in the window, gzip against the
  uncompressed fanout phase of the same run; **deliveries / server CPU-s** likewise.
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
- **B7**: one gateway replica of \`FANOUT_WORKERS\` processes (and one process alone), the load
  generator's sinks each binding to loopback source addresses of its own (bench/README.md). **KiB RSS
  per idle connection**: the RSS of the primary and every worker summed, after the connections and a
  settle, minus the same after a warm-up batch was opened, closed and a full GC run, per connection.
  **idle CPU per heartbeat round**: all the replica's CPU over the idle window divided by the
  heartbeat rounds in it (an upper bound of what the heartbeats cost), and that per 15 s as a share of
  one core. **the last received after**: from just before the POST of the one event to the latest
  receipt time over every connection. **connections per worker**: each worker's open descriptors
  after minus before. **baseline** (its own layout, shown in the baseline column of every layout's
  rows): \`bench/baseline-server.js\` alone holding the one-process layout's connection count, writing
  the same heartbeat frames at the same interval from one timer, measured the same way; its ratios are
  per connection (RSS, idle CPU per round, CPU per delivery of the one event).
- **B5**: \`INFO stats\` \`total_net_output_bytes\` of Redis over the herd, against the stored frames after
  the clients' position (one copy of the history); it includes the gateways' canary traffic${
    results.scenarios.B5 && results.scenarios.B5.phases ? ` (${fmtNum(results.scenarios.B5.phases.fanout.redisIdleBytesPerSecond)} B/s when idle)` : ''
  }.
- **B6**: one publisher process; \`batch100\` sends each request's 100 events for one subject (one Lua
  call), \`-mixed\` spreads a request's events over many subjects (one Lua call per subject).
  \`producer-single\` is \`@fanout/producer\` (\`createProducer\`, its defaults but \`maxInFlight\` set to
  B6's connections) fed one event per \`publish()\` call, round-robin over the same pack runs, as
  fast as \`whenRoom()\` lets it; events/s is every event stored over the feeding time plus the final
  \`flush()\`. The producer's own CPU (its schema check, batching) is in the loadgen column.
- **nchan** is the peer: Debian's \`nginx\` with \`libnginx-mod-nchan\`${results.machine.nchan ? ` (${results.machine.nchan})` : ''}, in the foreground
  with its own prefix, \`worker_processes 1\` (plus the master, whose CPU counts too), \`access_log off\`,
  \`keepalive_requests 1000000\` (nginx's default of 1,000 would close the publishers' keep-alive
  connections), \`client_body_buffer_size 128k\` (bodies stay in memory),
  storing in Redis: \`upstream { nchan_redis_server redis://127.0.0.1:<port>; }\`,
  \`nchan_redis_pass\`, \`nchan_redis_storage_mode distributed\` (every message goes through Redis, as
  fanout's do), \`nchan_message_buffer_length 1000\` and \`nchan_message_timeout 24h\` (fanout keeps
  \`FANOUT_HISTORY_MAXLEN\` events, 10,000 by default and 1,000 in M1, for 24 h after a terminal event).
  One channel per subject (\`<tenant>.<kind>.<id>\`); publishing is \`POST /pub/<channel>\` with
  \`nchan_publisher\`, subscribing \`GET /sub/<channel>\` with \`nchan_subscriber eventsource\` and
  \`nchan_subscriber_first_message oldest\` (a new subscriber gets the buffered messages first, as a
  fanout stream replays its subject's history). Nchan has no batch API: it gets **one event per POST**
  everywhere, where fanout gets B2's batches of 100 (B1 and W1 are one event per POST for both). Its
  POST body is the same event JSON plus \`seq\` (numbered by the load generator per channel, in the
  order it sends the requests) and \`publishedAt\` (when it sends the request); nginx and nchan do not
  validate it. Its POSTs go through a lean keep-alive HTTP client of the load generator (raw
  sockets, one request in flight per connection), as do both systems' in W1; fanout's B1–B6 POSTs
  use \`node:http\`. Under \`--pin\`, nginx runs on CPU 0 like the gateways, Redis on CPU 1 like fanout's.
- **counting Nchan's events**: its EventSource stream is not chunked; it starts with a \`: hi\`
  comment frame, then each message is \`id: <time>:<tag>\` and \`data: <the published body>\`. The
  sink and the Node workers count its domain frames as everyone's, by \`\\nid: \` (the comment has
  none), so deliveries and loss are counted the same way. The sampled connections read latency and
  order from the body's own \`seq\` and \`publishedAt\`: Nchan's latency is from the moment the load
  generator sends the POST (fanout's from the publisher's append, after it read and validated the
  request: a little in fanout's favour), and since concurrent POSTs may reach nginx out of order,
  a seq arriving after a higher one counts as *reordered* (shown, not lost); a gap is a seq
  never received.
- **whole-system CPU**: fanout's gateway + publisher + Redis; Nchan's nginx (master and worker) +
  Redis; the baseline's one process. **server CPU**: the gateway; nginx (which also takes the POSTs);
  the baseline.
- **W1**: no subscribers. The write side runs on CPU 0 under \`--pin\` (fanout's publisher and Redis;
  nginx and Redis; the bare node:http baseline alone, which stores nothing: the floor of a Node
  server's cost per request here), the load on CPU 1. Both first take a short warm-up burst. *paced*: CPU of the write
  side over the window, divided by the events; *burst*: events answered 202 (fanout) or 201/202
  (Nchan) per second; the share of a core of the write side and of the load generator tells which
  one bounded the burst.
- **M1**: a fresh Redis per system, ${results.params && results.params.M1 ? fmtNum(results.params.M1.events) : 'N'} \`pack_run.log\` events (~200 B) to one
  pack run (fanout: batches of 500 with \`FANOUT_HISTORY_MAXLEN=1000\`; Nchan: one POST each with
  \`nchan_message_buffer_length 1000\`), then \`SCAN\` and \`MEMORY USAGE <key> SAMPLES 0\` of every key:
  the subject's keys (fanout: \`fo:{tenant:kind:id}:m|s|ids|steps\`; Nchan: \`{channel:/<id>}\`, its
  \`:messages\` list and one hash per retained message), per retained event (divided by \`XLEN\` or
  \`LLEN\`), and every key of the Redis (fanout's tenant indexes and activity stream too).

Absolute numbers on shared machines drift; compare the ratios to the baseline and to Nchan of the same run.
${profiles.length ? `\n## Profiles (\`--profile\`)\n\n${profiles.map(([name, top]) => `### ${name}\n\n\`\`\`\n${top}\n\`\`\``).join('\n\n')}\n` : ''}
${notes}`;
}

module.exports = { rowsFor, textTable, markdownTable, renderDocs, fmtNum };
