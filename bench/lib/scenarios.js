'use strict';
/**
 * Scenarios B1–B6 of issue 5, and W1 and M1 of issue 14 (the write path against Nchan). Each phase
 * starts its system fresh, drives it with the same load generator, and measures CPU from /proc over
 * the window from the first publish until every connection has every frame it should (or a bounded
 * timeout). B1 and B2 run against Nchan too (nginx + nchan + Redis) when it is available.
 */
const { randomBytes } = require('node:crypto');
const { cpuMeter, rssKiB, sleep } = require('./procs');
const { metricValue } = require('./metrics');
const { percentile } = require('./loadgen');
const { createClient, jobStatus, jobProgress, packRunStatus, packRunLog } = require('./publish');
const { startFanoutSystem, startBaselineSystem, startNchanSystem, sumCpu } = require('./systems');

const SEGMENT = { job: 'jobs', 'pack-run': 'pack-runs', run: 'runs' };

const PARAMS = {
  full: {
    B1: { clients: 1000, rate: 100, seconds: 10, sampleEvery: 20 },
    B2: { clients: 200, events: 20000, batch: 100, inFlight: 4, nchanInFlight: 32, eventBytes: 200, sampleEvery: 20 },
    B3: { subjects: 2000, gateways: 2, rate: 2000, seconds: 10, tickMs: 10, sampleEvery: 2 },
    B4: { connections: 10000, subjects: 1000, warmup: 100, settleMs: 2000 },
    B5: { clients: 1000, behind: 1000, sampleEvery: 10 },
    // Enough requests in flight that the publisher, not the generator's round trips, is the bottleneck.
    B6: { seconds: 5, warmupSeconds: 1, connections: 32, subjects: 100, batch: 100, eventBytes: 200 },
    W1: { subjects: 100, rate: 100, seconds: 10, burstInFlight: 32, burstSeconds: 5, warmupSeconds: 1, maxBurstEvents: 500000 },
    M1: { events: 200000, historyMaxLen: 1000, eventBytes: 200, batch: 500, inFlight: 4, nchanInFlight: 32 },
    // heartbeatMs undefined: the gateway's default (FANOUT_HEARTBEAT_MS, 15 s); idleSeconds spans two rounds.
    B7: {
      layouts: [
        { name: 'replica', workers: 6, connections: 100000, sinks: 6 },
        { name: 'one process', workers: 1, connections: 19000, sinks: 2 },
        { name: 'baseline', system: 'baseline', workers: 1, connections: 19000, sinks: 2 },
      ],
      burstClients: 1000, burstEvents: 2000, batch: 100, inFlight: 4, eventBytes: 200,
      sampleEvery: 200, burstSampleEvery: 20, concurrency: 1000, warmup: 600, settleMs: 3000, idleSeconds: 31, heartbeatMs: undefined,
      // The capacity model's scaled-down check: every subject gets one event (rate × seconds = subjects).
      manySubjects: { name: 'many subjects', workers: 6, connections: 100000, sinks: 6, subjects: 10000, rate: 1000, tickMs: 10 },
    },
  },
  quick: {
    B1: { clients: 100, rate: 100, seconds: 2, sampleEvery: 10 },
    B2: { clients: 20, events: 2000, batch: 100, inFlight: 4, nchanInFlight: 32, eventBytes: 200, sampleEvery: 5 },
    B3: { subjects: 200, gateways: 2, rate: 200, seconds: 2, tickMs: 10, sampleEvery: 2 },
    B4: { connections: 1000, subjects: 100, warmup: 50, settleMs: 1000 },
    B5: { clients: 100, behind: 100, sampleEvery: 5 },
    B6: { seconds: 1, warmupSeconds: 0.3, connections: 8, subjects: 20, batch: 100, eventBytes: 200 },
    W1: { subjects: 20, rate: 100, seconds: 2, burstInFlight: 32, burstSeconds: 1, warmupSeconds: 0.3, maxBurstEvents: 100000 },
    M1: { events: 20000, historyMaxLen: 1000, eventBytes: 200, batch: 500, inFlight: 4, nchanInFlight: 32 },
    // A short heartbeat interval so an idle window of a few seconds still holds rounds to measure.
    B7: {
      layouts: [
        { name: 'replica', workers: 6, connections: 5000, sinks: 2 },
        { name: 'one process', workers: 1, connections: 2000, sinks: 1 },
        { name: 'baseline', system: 'baseline', workers: 1, connections: 2000, sinks: 1 },
      ],
      burstClients: 200, burstEvents: 500, batch: 100, inFlight: 4, eventBytes: 200,
      sampleEvery: 50, burstSampleEvery: 10, concurrency: 500, warmup: 120, settleMs: 1000, idleSeconds: 4.5, heartbeatMs: 1500,
      manySubjects: { name: 'many subjects', workers: 6, connections: 5000, sinks: 2, subjects: 500, rate: 200, tickMs: 10 },
    },
  },
};

const DESCRIPTIONS = {
  B1: (p) => `fan-out: 1 job × ${p.clients} clients, ${p.rate} events/s for ${p.seconds} s (one event per POST, paced)`,
  B2: (p) => `log burst: 1 pack run × ${p.clients} clients, ${p.events} pack_run.log events of ~${p.eventBytes} B, batches of ${p.batch}, ${p.inFlight} in flight (Nchan, which has no batch API: one POST per event, ${p.nchanInFlight} in flight)`,
  B3: (p) => `many subjects: ${p.subjects} jobs × 1 client over ${p.gateways} gateways, ${p.rate} events/s for ${p.seconds} s (${(p.rate * p.tickMs) / 1000} events of distinct subjects per POST every ${p.tickMs} ms)`,
  B4: (p) => `idle: ${p.connections} idle connections on one server over ${p.subjects} jobs (after a warm-up of ${p.warmup} connections)`,
  B5: (p) => `reconnect herd: ${p.clients} clients of one job reconnect at once, each ${p.behind} events behind`,
  B6: (p) => `publisher: ${p.connections} keep-alive connections, ${p.seconds} s per mode, pack_run.log events of ~${p.eventBytes} B over ${p.subjects} pack runs; and one @fanout/producer fed one event per publish() call (up to ${p.connections} requests in flight)`,
  W1: (p) =>
    `single-event publish, fanout (publisher + Redis) against Nchan (nginx + Redis), no subscribers: job.progress events over ${p.subjects} jobs, one event per POST; paced: ${p.rate} events/s on one keep-alive connection for ${p.seconds} s; burst: ${p.burstInFlight} requests in flight for ${p.burstSeconds} s`,
  B7: (p) =>
    `internet scale: ${p.layouts.map((l) => `${l.connections} connections on ${l.system === 'baseline' ? 'the bare node:http baseline' : `one gateway replica of ${l.workers} process${l.workers > 1 ? 'es' : ''}`} (${l.sinks} counting sink${l.sinks > 1 ? 's' : ''} over their own loopback source addresses)`).join('; then ')}: ` +
    `held idle for ${p.idleSeconds} s with heartbeats every ${p.heartbeatMs ? `${p.heartbeatMs} ms` : '15 s (the default)'}, then one event to every connection, then a log burst of ${p.burstEvents} pack_run.log events (batches of ${p.batch}) to ${p.burstClients} of them` +
    (p.manySubjects ? `; and the capacity model's check: ${p.manySubjects.connections} connections over ${p.manySubjects.subjects} jobs, ${p.manySubjects.rate} events/s of distinct jobs until each has one` : ''),
  M1: (p) => `Redis memory: ${p.events} pack_run.log events of ~${p.eventBytes} B to one subject, ${p.historyMaxLen} retained (fanout: FANOUT_HISTORY_MAXLEN=${p.historyMaxLen}; Nchan: nchan_message_buffer_length ${p.historyMaxLen})`,
};

function tenantFor(scenario) {
  return `bench-${scenario.toLowerCase()}-${randomBytes(3).toString('hex')}`;
}

function latencySummary(sorted) {
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

function sortedOf(values) {
  return Float64Array.from(values).sort();
}

function streamPath(kind, id) {
  return `/api/v1/stream/${SEGMENT[kind]}/${encodeURIComponent(id)}`;
}

/** Cumulative bucket counts of a gateway's fanout_delivery_lag_seconds histogram (publishedAt to write). */
async function lagBuckets(url) {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('fanout_delivery_lag_seconds_bucket')) continue;
    const le = /le="([^"]+)"/.exec(line)[1];
    out[le] = (out[le] || 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

/**
 * The gateways' own view of latency over the window (their histogram, summed over replicas): the
 * upper bound of the bucket holding p50 and p99, in ms. Tells the time to reach the gateway and
 * write apart from the time on the client's side.
 */
async function gatewayLag(sys, before) {
  const after = {};
  for (const g of sys.gateways) for (const [le, n] of Object.entries(await lagBuckets(g.url))) after[le] = (after[le] || 0) + n;
  const bounds = Object.keys(after).sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const count = (le) => after[le] - (before[le] || 0);
  const total = count('+Inf');
  const bound = (q) => {
    const le = bounds.find((b) => count(b) >= q * total);
    return le === '+Inf' ? Infinity : Number(le) * 1000;
  };
  return { batches: total, p50AtMostMs: bound(0.5), p99AtMostMs: bound(0.99) };
}

async function gatewayLagBefore(sys) {
  const before = {};
  for (const g of sys.gateways) for (const [le, n] of Object.entries(await lagBuckets(g.url))) before[le] = (before[le] || 0) + n;
  return before;
}

/**
 * The live fan-out measurement shared by B1–B3: create the subjects, connect every client and wait
 * until each has what it should have before the window (the status event, replayed by the gateway;
 * nothing on the baseline), then publish and wait until every client has every event.
 */
async function measureLive(ctx, sys, opts) {
  const { tenant, subjects, clientsPerSubject, sampleEvery, eventsPerSubject, publish, timeoutMs } = opts;
  const { pool, log } = ctx;
  const client = sys.createClient({ connections: 8 });
  try {
    await client.publishAll(
      subjects.map((s) => s.first),
      { batch: 500, inFlight: 2 },
    );
    const specs = [];
    subjects.forEach((s, i) => {
      for (let c = 0; c < clientsPerSubject; c++) {
        const target = sys.streamTargets[(i * clientsPerSubject + c) % sys.streamTargets.length];
        specs.push({
          host: target.host,
          port: target.port,
          path: sys.streamPath(tenant, s.kind, s.id),
          headers: { 'X-Tenant': tenant, ...sys.streamHeaders },
          target: sys.initialIds,
          startSeq: sys.initialIds ? 0 : 1,
          reorder: !!sys.reorderTolerant,
        });
      }
    });
    log(`  ${sys.kind}: connecting ${specs.length} clients`);
    await pool.open(specs, { concurrency: 200, sampleEvery });
    const ready = await pool.waitFor((s) => s.ready === specs.length, { timeoutMs: 120000 });
    if (!ready.finished) throw new Error(`${sys.kind}: only ${ready.stats.ready} of ${specs.length} clients ready (${ready.reason}); statuses ${JSON.stringify(ready.stats.statuses)} errors ${JSON.stringify(ready.stats.errors)}`);
    await pool.expect(sys.initialIds + eventsPerSubject);
    await pool.resetLatency(true);
    const lagBefore = sys.kind === 'fanout' ? await gatewayLagBefore(sys).catch(() => null) : null;
    const before = await pool.stats();
    const loadgenPids = { ...pool.pids(), main: process.pid };
    const meter = cpuMeter({ ...sys.serverPids, ...sys.otherPids, ...loadgenPids });
    log(`  ${sys.kind}: publishing`);
    const published = await publish(client);
    const done = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs, stallMs: 15000 });
    const { cpu, wallSeconds } = meter.stop();
    const after = done.stats;
    const lat = await pool.latencies();
    const lag = lagBefore ? await gatewayLag(sys, lagBefore).catch(() => undefined) : undefined;
    await pool.closeAll();
    const deliveries = after.ids - before.ids;
    const serverCpu = sumCpu(cpu, Object.keys(sys.serverPids));
    // The whole system: fanout's gateways, publisher and Redis; nginx (master and worker) and Redis; the baseline.
    const systemCpu = sumCpu(cpu, [...Object.keys(sys.serverPids), ...Object.keys(sys.otherPids)]);
    // A process near 100 % of a core is saturated: its figures then measure the machine, not the code.
    const busiest = (names) => Math.max(...names.map((name) => (cpu[name] || 0) / wallSeconds));
    const answerTimes = sortedOf(published.times || []);
    return {
      system: sys.kind,
      finished: done.finished,
      unfinishedReason: done.reason,
      connections: specs.length,
      deliveries,
      expectedDeliveries: specs.length * eventsPerSubject,
      windowSeconds: wallSeconds,
      cpu,
      serverCpuSeconds: serverCpu,
      systemCpuSeconds: systemCpu,
      redisCpuSeconds: cpu.redis,
      publisherCpuSeconds: cpu.publisher,
      loadgenCpuSeconds: sumCpu(cpu, Object.keys(loadgenPids)),
      busiestServerProcessShare: busiest(Object.keys(sys.serverPids)),
      busiestLoadgenProcessShare: busiest(Object.keys(loadgenPids)),
      deliveriesPerServerCpuSecond: deliveries / serverCpu,
      deliveriesPerSystemCpuSecond: deliveries / systemCpu,
      latencyMs: latencySummary(lat.sorted),
      latencyDropped: lat.dropped,
      gatewayLag: lag,
      lost: after.loss,
      extra: after.extra,
      seqGaps: after.seqGaps,
      seqDups: after.seqDups,
      reordered: after.reordered,
      sampledConnections: after.sampled,
      closedUnexpectedly: after.closedUnexpectedly,
      controlEvents: after.controlEvents,
      bytesReceived: after.bytes - before.bytes,
      publishAnswerMs: { p50: percentile(answerTimes, 50), p99: percentile(answerTimes, 99), requests: answerTimes.length },
    };
  } finally {
    client.close();
  }
}

/**
 * Runs `phase` against each system (the baseline unless --no-baseline, fanout, fanout again with
 * every client asking for gzip when `withGzip` (phase `fanout-gzip`), and Nchan when `withNchan` and
 * it is available), starting and stopping the system around it.
 */
async function againstSystems(ctx, scenario, startOptions, phase, { withNchan = false, withGzip = false } = {}) {
  const out = {};
  const systems = [...(ctx.baseline ? ['baseline'] : []), 'fanout', ...(withGzip ? ['fanout-gzip'] : []), ...(withNchan && ctx.nchan ? ['nchan'] : [])];
  for (const kind of systems) {
    const profileDir = ctx.profileRoot ? `${ctx.profileRoot}/${scenario}-${kind}` : undefined;
    let sys;
    if (kind === 'fanout') sys = await startFanoutSystem({ ...startOptions, profileDir, pin: ctx.pin });
    else if (kind === 'fanout-gzip') {
      sys = await startFanoutSystem({ ...startOptions, profileDir, pin: ctx.pin });
      sys.streamHeaders = { 'Accept-Encoding': 'gzip' };
      ctx.log(`  fanout: every client asks for gzip (Accept-Encoding: gzip)`);
    }
    else if (kind === 'nchan') sys = await startNchanSystem({ pin: ctx.pin });
    else sys = await startBaselineSystem({ profileDir, pin: ctx.pin });
    try {
      out[kind] = await phase(sys);
    } finally {
      await sys.stop();
    }
  }
  return out;
}

function ratio(a, b) {
  return a && b ? a / b : NaN;
}

// ---------------------------------------------------------------------------------------------

async function b1(ctx, p) {
  const phases = await againstSystems(ctx, 'B1', { gateways: 1 }, (sys) => {
    const tenant = tenantFor('B1');
    const id = `b1-${randomBytes(4).toString('hex')}`;
    const events = p.rate * p.seconds;
    return measureLive(ctx, sys, {
      tenant,
      subjects: [{ kind: 'job', id, first: jobStatus(tenant, id, 'pending') }],
      clientsPerSubject: p.clients,
      sampleEvery: p.sampleEvery,
      eventsPerSubject: events,
      timeoutMs: p.seconds * 1000 + 60000,
      publish: (client) => client.paced(events, 1000 / p.rate, (i) => jobProgress(tenant, id, i % 101)),
    });
  }, { withNchan: true, withGzip: true });
  return { phases, ratio: ratio(phases.fanout?.deliveriesPerServerCpuSecond, phases.baseline?.deliveriesPerServerCpuSecond), ...nchanRatios(phases), ...gzipRatios(phases) };
}

/** fanout with gzip against fanout uncompressed, same run: bytes on the wire and deliveries per gateway CPU-second. */
function gzipRatios(phases) {
  const f = phases.fanout;
  const g = phases['fanout-gzip'];
  if (!g) return {};
  return {
    gzipBytesRatio: ratio(g.bytesReceived, f?.bytesReceived),
    gzipCpuRatio: ratio(g.deliveriesPerServerCpuSecond, f?.deliveriesPerServerCpuSecond),
  };
}

/** fanout against Nchan: server-only and whole-system deliveries per CPU-second, and p99 latency. */
function nchanRatios(phases) {
  const f = phases.fanout;
  const n = phases.nchan;
  if (!n) return {};
  return {
    nchanServerRatio: ratio(f?.deliveriesPerServerCpuSecond, n.deliveriesPerServerCpuSecond),
    nchanSystemRatio: ratio(f?.deliveriesPerSystemCpuSecond, n.deliveriesPerSystemCpuSecond),
    nchanP99Ratio: ratio(f?.latencyMs.p99, n.latencyMs.p99),
  };
}

async function b2(ctx, p) {
  const phases = await againstSystems(ctx, 'B2', { gateways: 1 }, (sys) => {
    const tenant = tenantFor('B2');
    const id = `b2-${randomBytes(4).toString('hex')}`;
    const logs = Array.from({ length: p.events }, (_, i) => packRunLog(tenant, id, i + 1, p.eventBytes));
    return measureLive(ctx, sys, {
      tenant,
      subjects: [{ kind: 'pack-run', id, first: packRunStatus(tenant, id, 'pending') }],
      clientsPerSubject: p.clients,
      sampleEvery: p.sampleEvery,
      eventsPerSubject: p.events,
      timeoutMs: 180000,
      publish: async (client) => {
        if (sys.kind === 'nchan') {
          // No batch API: one POST per event, nchanInFlight at a time.
          const started = Date.now();
          const times = await client.publishMany(logs, { inFlight: p.nchanInFlight });
          return { times, sentIn: Date.now() - started };
        }
        const times = [];
        const started = Date.now();
        const batches = [];
        for (let i = 0; i < logs.length; i += p.batch) batches.push(logs.slice(i, i + p.batch));
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(p.inFlight, batches.length) }, async () => {
            while (next < batches.length) times.push((await client.publishOk(batches[next++])).ms);
          }),
        );
        return { times, sentIn: Date.now() - started };
      },
    });
  }, { withNchan: true, withGzip: true });
  return { phases, ratio: ratio(phases.fanout?.deliveriesPerServerCpuSecond, phases.baseline?.deliveriesPerServerCpuSecond), ...nchanRatios(phases), ...gzipRatios(phases) };
}

async function b3(ctx, p) {
  const phases = await againstSystems(ctx, 'B3', { gateways: p.gateways }, (sys) => {
    const tenant = tenantFor('B3');
    const prefix = `b3-${randomBytes(3).toString('hex')}`;
    const subjects = Array.from({ length: p.subjects }, (_, i) => {
      const id = `${prefix}-${i}`;
      return { kind: 'job', id, first: jobStatus(tenant, id, 'pending') };
    });
    const perTick = Math.max(1, Math.round((p.rate * p.tickMs) / 1000));
    const total = p.rate * p.seconds;
    const ticks = Math.ceil(total / perTick);
    const eventsPerSubject = total / p.subjects;
    if (!Number.isInteger(eventsPerSubject) || ticks * perTick !== total) throw new Error('B3 parameters must divide evenly');
    return measureLive(ctx, sys, {
      tenant,
      subjects,
      clientsPerSubject: 1,
      sampleEvery: p.sampleEvery,
      eventsPerSubject,
      timeoutMs: p.seconds * 1000 + 60000,
      publish: (client) =>
        client.paced(ticks, p.tickMs, (t) => ({
          events: Array.from({ length: perTick }, (_, k) => {
            const n = t * perTick + k;
            return jobProgress(tenant, subjects[n % p.subjects].id, Math.floor(n / p.subjects) % 101);
          }),
        })),
    });
  });
  return { phases, ratio: ratio(phases.fanout?.deliveriesPerServerCpuSecond, phases.baseline?.deliveriesPerServerCpuSecond) };
}

/** The server's JS heap in use and its memory outside the heap (bytes), as it reports them. */
async function heapOf(sys) {
  if (sys.kind === 'baseline') {
    const { memory } = await (await fetch(`${sys.baseline.url}/healthz`, { signal: AbortSignal.timeout(5000) })).json();
    return { heapUsed: memory.heapUsed, external: memory.external };
  }
  const url = sys.gateways[0].url;
  return {
    heapUsed: await metricValue(url, 'nodejs_heap_size_used_bytes'),
    external: await metricValue(url, 'nodejs_external_memory_bytes'),
  };
}

async function b4(ctx, p) {
  const { pool, log } = ctx;
  const gatewayEnv = { FANOUT_MAX_CONNECTIONS: String(p.connections * 2), FANOUT_MAX_CONNECTIONS_PER_TENANT: String(p.connections * 2) };
  const phases = await againstSystems(ctx, 'B4', { gateways: 1, gatewayEnv }, async (sys) => {
    const tenant = tenantFor('B4');
    const prefix = `b4-${randomBytes(3).toString('hex')}`;
    const ids = Array.from({ length: p.subjects }, (_, i) => `${prefix}-${i}`);
    const client = createClient(sys.publishUrl);
    try {
      await client.publishAll(
        ids.map((id) => jobStatus(tenant, id, 'pending')),
        { batch: 500, inFlight: 2 },
      );
    } finally {
      client.close();
    }
    const target = sys.streamTargets[0];
    const serverPid = Object.values(sys.serverPids)[0];
    const spec = (i) => ({ host: target.host, port: target.port, path: streamPath('job', ids[i % ids.length]), headers: { 'X-Tenant': tenant }, target: sys.initialIds, sample: false });
    // Warm-up: the first connections load and compile the stream path; they are not what we measure.
    await pool.open(Array.from({ length: p.warmup }, (_, i) => spec(i)), { concurrency: 100 });
    const warm = await pool.waitFor((s) => s.ready === p.warmup, { timeoutMs: 60000 });
    if (!warm.finished) throw new Error(`${sys.kind}: warm-up connections not ready (${warm.reason})`);
    await pool.closeAll();
    await sleep(1000);
    process.kill(serverPid, 'SIGUSR2');
    await sleep(500);
    const rssBefore = rssKiB(serverPid);
    const heapBefore = await heapOf(sys).catch(() => ({}));
    log(`  ${sys.kind}: opening ${p.connections} idle connections (RSS before ${rssBefore} KiB)`);
    // In two halves, with a settle after each: the second half's RSS growth is the marginal cost of
    // a connection, apart from one-time growth (a young generation growing to its working size).
    const half = Math.floor(p.connections / 2);
    const firstStarted = Date.now();
    await pool.open(Array.from({ length: half }, (_, i) => spec(i)), { concurrency: 400 });
    const first = await pool.waitFor((s) => s.ready === half, { timeoutMs: 300000, intervalMs: 250, stallMs: 30000 });
    const firstSeconds = (Date.now() - firstStarted) / 1000;
    if (!first.finished) throw new Error(`${sys.kind}: ${first.stats.ready} of ${half} idle connections ready (${first.reason})`);
    await sleep(p.settleMs);
    const rssMid = rssKiB(serverPid);
    const secondStarted = Date.now();
    await pool.open(Array.from({ length: p.connections - half }, (_, i) => spec(half + i)), { concurrency: 400 });
    const ready = await pool.waitFor((s) => s.ready === p.connections, { timeoutMs: 300000, intervalMs: 250, stallMs: 30000 });
    const openSeconds = firstSeconds + (Date.now() - secondStarted) / 1000;
    if (!ready.finished) throw new Error(`${sys.kind}: ${ready.stats.ready} of ${p.connections} idle connections ready (${ready.reason}); statuses ${JSON.stringify(ready.stats.statuses)} errors ${JSON.stringify(ready.stats.errors)}`);
    await sleep(p.settleMs);
    const rssAfter = rssKiB(serverPid);
    const heapAfter = await heapOf(sys).catch(() => ({}));
    // The same after a full GC (SIGUSR2, bench/gc-preload.js): what the connections really retain.
    process.kill(serverPid, 'SIGUSR2');
    await sleep(1000);
    const heapAfterGc = await heapOf(sys).catch(() => ({}));
    const rssAfterGc = rssKiB(serverPid);
    const end = await pool.stats();
    const stillOpen = end.conns - end.closed;
    await pool.closeAll();
    return {
      system: sys.kind,
      connections: p.connections,
      openSeconds,
      openPerSecond: p.connections / openSeconds,
      rssBeforeKiB: rssBefore,
      rssAfterKiB: rssAfter,
      kibPerConnection: (rssAfter - rssBefore) / p.connections,
      rssMidKiB: rssMid,
      marginalKibPerConnection: (rssAfter - rssMid) / (p.connections - half),
      // Indicative only: the heap figure includes garbage not yet collected.
      heapKibPerConnection: (heapAfter.heapUsed - heapBefore.heapUsed) / 1024 / p.connections,
      externalKibPerConnection: (heapAfter.external - heapBefore.external) / 1024 / p.connections,
      rssAfterGcKiB: rssAfterGc,
      heapRetainedKibPerConnection: (heapAfterGc.heapUsed - heapBefore.heapUsed) / 1024 / p.connections,
      stillOpen,
    };
  });
  return { phases, ratio: ratio(phases.fanout?.kibPerConnection, phases.baseline?.kibPerConnection) };
}

async function b5(ctx, p) {
  const { pool, log } = ctx;
  const { formatEventId, parseEventId, subjectKeys } = require('@fanout/bus');
  const sys = await startFanoutSystem({ gateways: 1, profileDir: ctx.profileRoot ? `${ctx.profileRoot}/B5-fanout` : undefined, pin: ctx.pin });
  try {
    const tenant = tenantFor('B5');
    const id = `b5-${randomBytes(4).toString('hex')}`;
    const client = createClient(sys.publishUrl);
    const gateway = sys.gateways[0];
    const target = sys.streamTargets[0];
    try {
      await client.publishOk(jobStatus(tenant, id, 'pending'));
      const spec = (extra) => ({ host: target.host, port: target.port, path: streamPath('job', id), headers: { 'X-Tenant': tenant }, ...extra });
      // The crowd is live at seq 1, then loses its connections.
      await pool.open(Array.from({ length: p.clients }, () => spec({ target: 1, startSeq: 0 })), { concurrency: 200, sampleEvery: p.sampleEvery });
      const live = await pool.waitFor((s) => s.ready === p.clients, { timeoutMs: 60000 });
      if (!live.finished) throw new Error(`B5: only ${live.stats.ready} of ${p.clients} clients live (${live.reason})`);
      const lastId = live.stats.lastId;
      const position = parseEventId(lastId || '');
      if (!position || position.seq !== 1) throw new Error(`B5: unexpected last id ${lastId}`);
      await pool.closeAll();
      for (let i = 0; i < 100 && (await metricValue(gateway.url, 'fanout_gateway_subscriptions')) !== 0; i++) await sleep(50);
      // While they are away, the job moves on by `behind` events.
      const events = Array.from({ length: p.behind }, (_, i) => jobProgress(tenant, id, i % 101));
      await client.publishAll(events, { batch: 100, inFlight: 1 });
      const lastEventId = formatEventId(position.epoch, 1);
      const keys = subjectKeys({ tenant, kind: 'job', id });
      await sleep(300);
      const idleBefore = await sys.redis.info('stats');
      await sleep(1000);
      const idleAfter = await sys.redis.info('stats');
      const idleBytesPerSecond = idleAfter.total_net_output_bytes - idleBefore.total_net_output_bytes;

      // The herd: every client reconnects at once with Last-Event-ID of seq 1.
      log(`  fanout: ${p.clients} clients reconnect at once, ${p.behind} events behind`);
      await pool.resetLatency(false);
      const infoBefore = await sys.redis.info('stats');
      const loadgenPids = { ...pool.pids(), main: process.pid };
      const meter = cpuMeter({ ...sys.serverPids, ...sys.otherPids, ...loadgenPids });
      const startedAt = Date.now();
      const opening = pool.open(Array.from({ length: p.clients }, () => spec({ target: p.behind, startSeq: 1, headers: { 'X-Tenant': tenant, 'Last-Event-ID': lastEventId } })), { concurrency: 0, sampleEvery: p.sampleEvery });
      await opening;
      const done = await pool.waitFor((s) => s.conns === p.clients && s.reached === s.conns, { timeoutMs: 120000, intervalMs: 20 });
      const { cpu, wallSeconds } = meter.stop();
      const infoAfter = await sys.redis.info('stats');
      const s = done.stats;
      await pool.closeAll();
      // One copy of the history the herd needed: the frames after seq 1, as stored.
      const entries = await sys.redis.client.xrangeBuffer(keys.stream, '(0-1', '+');
      let historyBytes = 0;
      for (const [, fields] of entries) for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].toString() === 'f') historyBytes += fields[i + 1].length;
      const redisBytes = infoAfter.total_net_output_bytes - infoBefore.total_net_output_bytes;
      return {
        phases: {
          fanout: {
            system: 'fanout',
            finished: done.finished,
            unfinishedReason: done.reason,
            clients: p.clients,
            behind: p.behind,
            catchUpSeconds: s.maxDoneAt ? (s.maxDoneAt - startedAt) / 1000 : NaN,
            firstCaughtUpSeconds: s.minDoneAt ? (s.minDoneAt - startedAt) / 1000 : NaN,
            allHeadersSeconds: s.maxHeadersAt ? (s.maxHeadersAt - startedAt) / 1000 : NaN,
            windowSeconds: wallSeconds,
            redisBytesOut: redisBytes,
            redisIdleBytesPerSecond: idleBytesPerSecond,
            historyBytes,
            redisBytesPerHistoryCopy: redisBytes / historyBytes,
            deliveries: s.ids,
            cpu,
            serverCpuSeconds: sumCpu(cpu, Object.keys(sys.serverPids)),
            redisCpuSeconds: cpu.redis,
            loadgenCpuSeconds: sumCpu(cpu, Object.keys(loadgenPids)),
            lost: s.loss,
            extra: s.extra,
            seqGaps: s.seqGaps,
            seqDups: s.seqDups,
            statuses: s.statuses,
            errors: s.errors,
            controlEvents: s.controlEvents,
          },
        },
      };
    } finally {
      client.close();
    }
  } finally {
    await sys.stop();
  }
}

async function b6(ctx, p) {
  const { log } = ctx;
  const sys = await startFanoutSystem({ gateways: 0, profileDir: ctx.profileRoot ? `${ctx.profileRoot}/B6-fanout` : undefined, pin: ctx.pin });
  const client = createClient(sys.publishUrl, { connections: p.connections });
  try {
    const tenant = tenantFor('B6');
    const prefix = `b6-${randomBytes(3).toString('hex')}`;
    const ids = Array.from({ length: p.subjects }, (_, i) => `${prefix}-${i}`);
    await client.publishAll(
      ids.map((id) => packRunStatus(tenant, id, 'pending')),
      { batch: 500, inFlight: 1 },
    );
    const lineNo = new Map(ids.map((id) => [id, 0]));
    let rr = 0;
    const nextLog = (id) => {
      const n = lineNo.get(id) + 1;
      lineNo.set(id, n);
      return packRunLog(tenant, id, n, p.eventBytes);
    };
    const modes = [
      { name: 'single', perRequest: 1, body: () => nextLog(ids[rr++ % ids.length]) },
      {
        name: `batch${p.batch}`,
        perRequest: p.batch,
        body: () => {
          const id = ids[rr++ % ids.length];
          return { events: Array.from({ length: p.batch }, () => nextLog(id)) };
        },
      },
      { name: `batch${p.batch}-mixed`, perRequest: p.batch, body: () => ({ events: Array.from({ length: p.batch }, () => nextLog(ids[rr++ % ids.length])) }) },
    ];
    const drive = async (mode, seconds) => {
      const times = [];
      let accepted = 0;
      let failed = 0;
      let firstFailure;
      const started = Date.now();
      const end = started + seconds * 1000;
      const maxRequests = 2_000_000;
      let requests = 0;
      let lastAnswerAt = started;
      await Promise.all(
        Array.from({ length: p.connections }, async () => {
          while (Date.now() < end && requests < maxRequests) {
            requests++;
            const answer = await client.post('/api/v1/events', mode.body());
            lastAnswerAt = Date.now();
            times.push(answer.ms);
            if (answer.status === 202) accepted += mode.perRequest;
            else {
              failed++;
              firstFailure ??= `${answer.status} ${answer.text.slice(0, 200)}`;
            }
          }
        }),
      );
      return { times, accepted, failed, firstFailure, seconds: (lastAnswerAt - started) / 1000 };
    };
    const results = {};
    for (const mode of modes) {
      await drive(mode, p.warmupSeconds);
      log(`  publisher: ${mode.name} for ${p.seconds} s`);
      const meter = cpuMeter({ ...sys.otherPids, main: process.pid });
      const r = await drive(mode, p.seconds);
      const { cpu } = meter.stop();
      const sorted = sortedOf(r.times);
      results[mode.name] = {
        eventsPerSecond: r.accepted / r.seconds,
        requestsPerSecond: r.times.length / r.seconds,
        accepted: r.accepted,
        failed: r.failed,
        firstFailure: r.firstFailure,
        answerMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] },
        publisherCpuSeconds: cpu.publisher,
        redisCpuSeconds: cpu.redis,
        loadgenCpuSeconds: cpu.main,
        publisherCpuMicrosPerEvent: (cpu.publisher / r.accepted) * 1e6,
        seconds: r.seconds,
      };
    }
    // @fanout/producer, as an orchestrator uses it: one publish() call per event, batching left to it.
    {
      const name = 'producer-single';
      const { createProducer } = require('@fanout/producer');
      const producer = createProducer({ url: sys.publishUrl, tenant, maxInFlight: p.connections });
      try {
        const feed = async (seconds) => {
          let accepted = 0;
          let failed = 0;
          let firstFailure;
          let fed = 0;
          const started = Date.now();
          const end = started + seconds * 1000;
          while (Date.now() < end && fed < 5_000_000) {
            await producer.whenRoom();
            fed++;
            producer.publish(nextLog(ids[rr++ % ids.length])).then(
              () => accepted++,
              (error) => {
                failed++;
                firstFailure ??= String(error.message || error).slice(0, 200);
              },
            );
          }
          const fedFor = (Date.now() - started) / 1000;
          await producer.flush();
          return { accepted, failed, firstFailure, fed, fedFor, seconds: (Date.now() - started) / 1000 };
        };
        await feed(p.warmupSeconds);
        log(`  publisher: ${name} for ${p.seconds} s`);
        const meter = cpuMeter({ ...sys.otherPids, main: process.pid });
        const r = await feed(p.seconds);
        const { cpu } = meter.stop();
        results[name] = {
          eventsPerSecond: r.accepted / r.seconds,
          accepted: r.accepted,
          failed: r.failed,
          firstFailure: r.firstFailure,
          // Fed for `fedFor` s, then flush() until every event was stored: `seconds` in all.
          fedForSeconds: r.fedFor,
          publisherCpuSeconds: cpu.publisher,
          redisCpuSeconds: cpu.redis,
          loadgenCpuSeconds: cpu.main,
          publisherCpuMicrosPerEvent: (cpu.publisher / r.accepted) * 1e6,
          seconds: r.seconds,
          producer: { maxInFlight: p.connections, maxBatch: 500, lingerMs: 5, maxQueued: 10000 },
        };
      } finally {
        await producer.close().catch(() => {});
      }
    }
    return { phases: { fanout: { system: 'fanout', connections: p.connections, modes: results } } };
  } finally {
    client.close();
    await sys.stop();
  }
}

/**
 * Sends `count` requests built by `make(i)`, `inFlight` at a time, until `count` or `seconds` is
 * reached; `send(body)` resolves {ok, status, text, ms}.
 */
async function driveRequests(send, make, { inFlight, seconds, count = Infinity }) {
  const times = [];
  let accepted = 0;
  let failed = 0;
  let firstFailure;
  let next = 0;
  const started = Date.now();
  const end = started + seconds * 1000;
  let lastAnswerAt = started;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < end && next < count) {
        const answer = await send(make(next++));
        lastAnswerAt = Date.now();
        times.push(answer.ms);
        if (answer.ok) accepted++;
        else {
          failed++;
          firstFailure ??= `${answer.status} ${answer.text.slice(0, 200)}`;
        }
      }
    }),
  );
  return { times, accepted, failed, firstFailure, seconds: (lastAnswerAt - started) / 1000 };
}

/** CPU of a W1/M1 phase: the server (fanout's publisher, or nginx master + worker) and Redis. */
function writeSideCpu(sys, cpu) {
  const server = sys.kind === 'fanout' ? cpu.publisher : sumCpu(cpu, Object.keys(sys.serverPids));
  const redis = cpu.redis ?? 0;
  return { server, redis, system: server + redis, loadgen: cpu.main };
}

async function w1(ctx, p) {
  const { log } = ctx;
  const phases = {};
  // The bare node:http baseline answers the same POSTs with no store: the floor of any Node server's
  // cost per request on this machine, measured in the same run.
  for (const kind of [...(ctx.baseline ? ['baseline'] : []), 'fanout', ...(ctx.nchan ? ['nchan'] : [])]) {
    // The write side (publisher + Redis, nginx + Redis, or the baseline alone) on CPU 0 under --pin, the load on CPU 1.
    const sys =
      kind === 'fanout'
        ? await startFanoutSystem({ gateways: 0, layout: 'publish', pin: ctx.pin, profileDir: ctx.profileRoot ? `${ctx.profileRoot}/W1-fanout` : undefined })
        : kind === 'baseline'
          ? await startBaselineSystem({ pin: ctx.pin })
          : await startNchanSystem({ layout: 'publish', pin: ctx.pin });
    // The lean client for both systems: single-event POSTs as cheap for the generator as they can be.
    const one = sys.createClient({ connections: 1, lean: true });
    const many = sys.createClient({ connections: p.burstInFlight, lean: true });
    try {
      const tenant = tenantFor('W1');
      const prefix = `w1-${randomBytes(3).toString('hex')}`;
      const ids = Array.from({ length: p.subjects }, (_, i) => `${prefix}-${i}`);
      await many.publishAll(
        ids.map((id) => jobStatus(tenant, id, 'pending')),
        { batch: 500, inFlight: 4 },
      );
      const event = (i) => jobProgress(tenant, ids[i % ids.length], i % 101);
      const pids = { ...sys.serverPids, ...sys.otherPids, main: process.pid };
      // Warm-up (JIT, connections, Redis scripts), not measured.
      await driveRequests(many.publishOne, event, { inFlight: p.burstInFlight, seconds: p.warmupSeconds });

      log(`  ${kind}: paced, ${p.rate} events/s for ${p.seconds} s on one connection`);
      const count = p.rate * p.seconds;
      let meter = cpuMeter(pids);
      const paced = await one.paced(count, 1000 / p.rate, event);
      let { cpu, wallSeconds } = meter.stop();
      let side = writeSideCpu(sys, cpu);
      const pacedTimes = sortedOf(paced.times);
      const pacedResult = {
        events: count,
        windowSeconds: wallSeconds,
        cpu,
        serverCpuSeconds: side.server,
        redisCpuSeconds: side.redis,
        systemCpuSeconds: side.system,
        loadgenCpuSeconds: side.loadgen,
        systemMicrosPerEvent: (side.system / count) * 1e6,
        serverMicrosPerEvent: (side.server / count) * 1e6,
        redisMicrosPerEvent: (side.redis / count) * 1e6,
        answerMs: { p50: percentile(pacedTimes, 50), p99: percentile(pacedTimes, 99), max: pacedTimes[pacedTimes.length - 1] },
      };

      log(`  ${kind}: burst, ${p.burstInFlight} requests in flight for ${p.burstSeconds} s`);
      meter = cpuMeter(pids);
      const r = await driveRequests(many.publishOne, event, { inFlight: p.burstInFlight, seconds: p.burstSeconds, count: p.maxBurstEvents });
      ({ cpu, wallSeconds } = meter.stop());
      side = writeSideCpu(sys, cpu);
      const burstTimes = sortedOf(r.times);
      const burstResult = {
        eventsPerSecond: r.accepted / r.seconds,
        accepted: r.accepted,
        failed: r.failed,
        firstFailure: r.firstFailure,
        seconds: r.seconds,
        cpu,
        serverCpuSeconds: side.server,
        redisCpuSeconds: side.redis,
        systemCpuSeconds: side.system,
        loadgenCpuSeconds: side.loadgen,
        systemMicrosPerEvent: (side.system / r.accepted) * 1e6,
        serverMicrosPerEvent: (side.server / r.accepted) * 1e6,
        // A write side near 100 % of its core is what bounds the burst; the load generator near 100 % would bound it instead.
        systemShareOfCore: side.system / wallSeconds,
        loadgenShareOfCore: side.loadgen / wallSeconds,
        answerMs: { p50: percentile(burstTimes, 50), p99: percentile(burstTimes, 99), max: burstTimes[burstTimes.length - 1] },
      };
      phases[kind] = { system: kind, paced: pacedResult, burst: burstResult };
    } finally {
      one.close();
      many.close();
      await sys.stop();
    }
  }
  const f = phases.fanout;
  const n = phases.nchan;
  const b = phases.baseline;
  return {
    phases,
    pacedCpuOfBaseline: b ? ratio(f.paced.systemMicrosPerEvent, b.paced.systemMicrosPerEvent) : undefined,
    burstOfBaseline: b ? ratio(f.burst.eventsPerSecond, b.burst.eventsPerSecond) : undefined,
    nchanPacedCpuOfBaseline: n && b ? ratio(n.paced.systemMicrosPerEvent, b.paced.systemMicrosPerEvent) : undefined,
    nchanBurstOfBaseline: n && b ? ratio(n.burst.eventsPerSecond, b.burst.eventsPerSecond) : undefined,
    pacedCpuRatio: n ? ratio(f.paced.systemMicrosPerEvent, n.paced.systemMicrosPerEvent) : undefined,
    burstRatio: n ? ratio(f.burst.eventsPerSecond, n.burst.eventsPerSecond) : undefined,
  };
}

/** Every key of a Redis (SCAN) with its MEMORY USAGE (SAMPLES 0: every element counted). */
async function redisKeyMemory(client) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const out = new Map();
  for (let i = 0; i < keys.length; i += 500) {
    const slice = keys.slice(i, i + 500);
    const pipeline = client.pipeline();
    for (const key of slice) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const answers = await pipeline.exec();
    slice.forEach((key, k) => out.set(key, Number(answers[k][1]) || 0));
  }
  return out;
}

async function m1(ctx, p) {
  const { log } = ctx;
  const phases = {};
  for (const kind of ['fanout', ...(ctx.nchan ? ['nchan'] : [])]) {
    const sys =
      kind === 'fanout'
        ? await startFanoutSystem({ gateways: 0, pin: ctx.pin, publisherEnv: { FANOUT_HISTORY_MAXLEN: String(p.historyMaxLen) } })
        : await startNchanSystem({ pin: ctx.pin, bufferLength: p.historyMaxLen });
    const client = sys.createClient({ connections: kind === 'nchan' ? p.nchanInFlight : p.inFlight });
    try {
      const tenant = tenantFor('M1');
      const id = `m1-${randomBytes(4).toString('hex')}`;
      const memoryBefore = (await sys.redis.info('memory')).used_memory;
      await client.publishOk(packRunStatus(tenant, id, 'pending'));
      log(`  ${kind}: ${p.events} events to one subject`);
      const started = Date.now();
      let lineNo = 0;
      if (kind === 'nchan') {
        const r = await driveRequests(client.publishOne, () => packRunLog(tenant, id, ++lineNo, p.eventBytes), { inFlight: p.nchanInFlight, seconds: 3600, count: p.events });
        if (r.failed) throw new Error(`M1 nchan: ${r.failed} publishes failed, first: ${r.firstFailure}`);
      } else {
        const batches = Math.ceil(p.events / p.batch);
        const r = await driveRequests(
          (body) => client.post('/api/v1/events', body).then((a) => ({ ...a, ok: a.status === 202 })),
          (b) => ({ events: Array.from({ length: Math.min(p.batch, p.events - b * p.batch) }, () => packRunLog(tenant, id, ++lineNo, p.eventBytes)) }),
          { inFlight: p.inFlight, seconds: 3600, count: batches },
        );
        if (r.failed) throw new Error(`M1 fanout: ${r.failed} publishes failed, first: ${r.firstFailure}`);
      }
      const publishSeconds = (Date.now() - started) / 1000;
      await sleep(500);
      const memory = await redisKeyMemory(sys.redis.client);
      const info = await sys.redis.info('memory');
      const marker = kind === 'nchan' ? `{channel:/${tenant}.pack-run.${id}}` : `{${tenant}:pack-run:${id}}`;
      let subjectBytes = 0;
      let subjectKeys = 0;
      let allBytes = 0;
      for (const [key, bytes] of memory) {
        allBytes += bytes;
        if (key.includes(marker)) {
          subjectBytes += bytes;
          subjectKeys++;
        }
      }
      const retained = kind === 'nchan' ? await sys.redis.client.llen(`${marker}:messages`) : await sys.redis.client.xlen(`fo:${marker}:s`);
      phases[kind] = {
        system: kind,
        events: p.events + 1,
        publishSeconds,
        retained,
        subjectKeys,
        subjectBytes,
        bytesPerRetainedEvent: subjectBytes / retained,
        allKeys: memory.size,
        allKeysBytes: allBytes,
        usedMemoryGrowth: info.used_memory - memoryBefore,
      };
    } finally {
      client.close();
      await sys.stop();
    }
  }
  return { phases, ratio: phases.nchan ? ratio(phases.fanout.subjectBytes, phases.nchan.subjectBytes) : undefined };
}

const { b7 } = require('./b7');

const SCENARIOS = { B1: b1, B2: b2, B3: b3, B4: b4, B5: b5, B6: b6, W1: w1, M1: m1, B7: b7 };

module.exports = { SCENARIOS, PARAMS, DESCRIPTIONS };
