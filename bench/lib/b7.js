'use strict';
/**
 * B7 (issue 18): 100,000 connections on one gateway replica. The open-file limit (20,000 per
 * process) cannot be raised, so the replica runs FANOUT_WORKERS processes and the load generator
 * several counting sinks, each over its own loopback source addresses (one address has ~28k
 * ephemeral ports to a server port). Per layout (the replica; one gateway process at 19,000):
 * connect every client, hold them idle with heartbeats, publish one event to every connection,
 * then a log burst to some of them. Measured: RSS per connection summed over the replica's
 * processes above their empty baseline, idle CPU per heartbeat round, connect rate, the time until
 * the last client has the one event, the burst's delivery, and loss. A layout with `system:
 * 'baseline'` runs bench/baseline-server.js instead (a bare node:http process writing the same
 * heartbeats): the floor of those figures for any Node server on this machine, in the same run.
 */
const { randomBytes } = require('node:crypto');
const { metricValue } = require('./metrics');
const { cpuMeter, rssKiB, childPids, openFiles, sleep } = require('./procs');
const { startWorkers, percentile } = require('./loadgen');
const { createClient, jobStatus, jobProgress, packRunStatus, packRunLog } = require('./publish');
const { startFanoutSystem, startBaselineSystem } = require('./systems');

const DEFAULT_HEARTBEAT_MS = 15000;
const SAMPLING_WORKERS = 2;

/** Loopback source addresses for sink `i`: two each, from 127.0.0.2 on. */
function sourcesOf(i) {
  return [`127.0.0.${2 + 2 * i}`, `127.0.0.${3 + 2 * i}`];
}

function latencyOf(sorted) {
  return { samples: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : NaN };
}

/** The replica's processes: the primary (when FANOUT_WORKERS > 1) and its workers. */
function replicaPids(gateway) {
  const workers = childPids(gateway.pid);
  return { all: [gateway.pid, ...workers], workers: workers.length ? workers : [gateway.pid] };
}

const sumRss = (pids) => pids.reduce((sum, pid) => sum + rssKiB(pid), 0);

function fullGc(pids) {
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
}

async function measureLayout(ctx, p, layout) {
  const { log } = ctx;
  const heartbeatMs = p.heartbeatMs || DEFAULT_HEARTBEAT_MS;
  const gatewayEnv = {
    FANOUT_WORKERS: String(layout.workers),
    FANOUT_MAX_CONNECTIONS: String(layout.connections * 2),
    FANOUT_MAX_CONNECTIONS_PER_TENANT: String(layout.connections * 2),
    ...(p.heartbeatMs ? { FANOUT_HEARTBEAT_MS: String(p.heartbeatMs) } : {}),
  };
  const pool = await startWorkers(SAMPLING_WORKERS, { sinkSources: Array.from({ length: layout.sinks }, (_, i) => sourcesOf(i)), log });
  let sys;
  try {
    const baseline = layout.system === 'baseline';
    sys = baseline
      ? await startBaselineSystem({ pin: ctx.pin, env: { HEARTBEAT_MS: String(heartbeatMs) } })
      : await startFanoutSystem({ gateways: 1, gatewayEnv, pin: ctx.pin });
    const pids = baseline ? { all: [sys.baseline.pid], workers: [sys.baseline.pid] } : replicaPids(sys.gateways[0]);
    if (pids.workers.length !== layout.workers) throw new Error(`the replica runs ${pids.workers.length} worker processes, not ${layout.workers}`);
    const tenant = `bench-b7-${randomBytes(3).toString('hex')}`;
    const jobId = `b7-${randomBytes(4).toString('hex')}`;
    const runId = `b7-${randomBytes(4).toString('hex')}`;
    const client = createClient(sys.publishUrl);
    try {
      await client.publishOk([jobStatus(tenant, jobId, 'pending'), packRunStatus(tenant, runId, 'pending')]);
      const target = sys.streamTargets[0];
      const headers = { 'X-Tenant': tenant };
      // fanout replays each subject's first event to a new client; the baseline keeps no history.
      const first = { target: sys.initialIds, startSeq: sys.initialIds ? 0 : 1 };
      const jobSpec = (i) => ({ host: target.host, port: target.port, path: sys.streamPath(tenant, 'job', jobId), headers, ...first, sample: i % p.sampleEvery === 0 });
      const runSpec = (i) => ({ host: target.host, port: target.port, path: sys.streamPath(tenant, 'pack-run', runId), headers, ...first, sample: i % p.burstSampleEvery === 0 });

      // Warm-up: every worker loads and compiles the stream path; then back to empty for the baseline.
      await pool.open(Array.from({ length: p.warmup }, (_, i) => ({ ...jobSpec(i), sample: false })), { concurrency: 100 });
      const warm = await pool.waitFor((s) => s.ready === p.warmup, { timeoutMs: 60000 });
      if (!warm.finished) throw new Error(`B7 ${layout.name}: warm-up connections not ready (${warm.reason})`);
      await pool.closeAll();
      await sleep(p.settleMs);
      fullGc(pids.workers);
      await sleep(1000);
      const rssBefore = sumRss(pids.all);
      const filesBefore = pids.workers.map(openFiles);

      const burstClients = Math.min(p.burstClients, layout.connections);
      const specs = [...Array.from({ length: layout.connections - burstClients }, (_, i) => jobSpec(i)), ...Array.from({ length: burstClients }, (_, i) => runSpec(i))];
      log(`  B7 ${layout.name}: connecting ${specs.length} clients to ${layout.workers} gateway process(es) (RSS before ${(rssBefore / 1024).toFixed(1)} MiB)`);
      const openStarted = Date.now();
      await pool.open(specs, { concurrency: p.concurrency });
      const ready = await pool.waitFor((s) => s.ready === specs.length, { timeoutMs: 300000, intervalMs: 500, stallMs: 30000 });
      const openSeconds = (Date.now() - openStarted) / 1000;
      if (!ready.finished) throw new Error(`B7 ${layout.name}: ${ready.stats.ready} of ${specs.length} clients ready (${ready.reason}); statuses ${JSON.stringify(ready.stats.statuses)} errors ${JSON.stringify(ready.stats.errors)}`);
      await sleep(p.settleMs);
      const rssAfter = sumRss(pids.all);
      const perWorker = pids.workers.map((pid, i) => openFiles(pid) - filesBefore[i]);
      fullGc(pids.workers);
      await sleep(1000);
      const rssAfterGc = sumRss(pids.all);

      log(`  B7 ${layout.name}: idle for ${p.idleSeconds} s (heartbeats every ${heartbeatMs} ms)`);
      const idleBefore = await pool.stats();
      const idleMeter = cpuMeter(Object.fromEntries(pids.all.map((pid) => [String(pid), pid])));
      await sleep(p.idleSeconds * 1000);
      const idle = idleMeter.stop();
      const idleAfter = await pool.stats();
      const idleCpu = Object.values(idle.cpu).reduce((a, b) => a + b, 0);
      const rounds = (idle.wallSeconds * 1000) / heartbeatMs;

      log(`  B7 ${layout.name}: one event to every connection`);
      await pool.expect(sys.initialIds + 1);
      await pool.resetLatency(true);
      const fanoutMeter = cpuMeter(Object.fromEntries(pids.all.map((pid) => [String(pid), pid])));
      const publishedAt = Date.now();
      await client.publishOk([jobProgress(tenant, jobId, 50), packRunLog(tenant, runId, 1, p.eventBytes)]);
      const fanned = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 60000, intervalMs: 50, stallMs: 15000 });
      const fanoutCpu = fanoutMeter.stop();
      const fanoutLatency = await pool.latencies();

      log(`  B7 ${layout.name}: a log burst of ${p.burstEvents} events to ${burstClients} clients`);
      await pool.resetLatency(true);
      const burstBefore = await pool.stats();
      const expectedBurst = burstClients * p.burstEvents;
      const logs = Array.from({ length: p.burstEvents }, (_, i) => packRunLog(tenant, runId, i + 2, p.eventBytes));
      const batches = [];
      for (let i = 0; i < logs.length; i += p.batch) batches.push(logs.slice(i, i + p.batch));
      const burstStarted = Date.now();
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(p.inFlight, batches.length) }, async () => {
        while (next < batches.length) await client.publishOk(batches[next++]);
      }));
      const burst = await pool.waitFor((s) => s.ids - burstBefore.ids >= expectedBurst, { timeoutMs: 120000, intervalMs: 100, stallMs: 15000 });
      const burstSeconds = (Date.now() - burstStarted) / 1000;
      const burstLatency = await pool.latencies();
      const end = burst.stats;
      await pool.closeAll();
      return {
        layout: layout.name,
        system: sys.kind,
        workers: layout.workers,
        sinks: layout.sinks,
        connections: specs.length,
        openSeconds,
        openPerSecond: specs.length / openSeconds,
        errors: ready.stats.errors,
        rssBeforeKiB: rssBefore,
        rssAfterKiB: rssAfter,
        rssAfterGcKiB: rssAfterGc,
        kibPerConnection: (rssAfter - rssBefore) / specs.length,
        kibPerConnectionAfterGc: (rssAfterGc - rssBefore) / specs.length,
        connectionsPerWorker: { min: Math.min(...perWorker), max: Math.max(...perWorker) },
        idle: {
          heartbeatMs,
          seconds: idle.wallSeconds,
          cpuSeconds: idleCpu,
          shareOfCore: idleCpu / idle.wallSeconds,
          cpuSecondsPerRound: idleCpu / rounds,
          // The share of a core at the default interval: a round's CPU every 15 s.
          shareOfCoreAtDefault: idleCpu / rounds / (DEFAULT_HEARTBEAT_MS / 1000),
          heartbeatsPerConnection: (idleAfter.frames - idleBefore.frames) / specs.length,
          roundsInWindow: rounds,
        },
        fanout: {
          finished: fanned.finished,
          unfinishedReason: fanned.reason,
          allReceivedMs: fanned.stats.maxDoneAt - publishedAt,
          firstReceivedMs: fanned.stats.minDoneAt - publishedAt,
          latencyMs: latencyOf(fanoutLatency.sorted),
          lost: fanned.stats.loss,
          cpuSeconds: Object.values(fanoutCpu.cpu).reduce((a, b) => a + b, 0),
        },
        burst: {
          clients: burstClients,
          events: p.burstEvents,
          finished: burst.finished,
          unfinishedReason: burst.reason,
          allReceivedSeconds: burstSeconds,
          deliveries: end.ids - burstBefore.ids,
          lost: Math.max(0, expectedBurst - (end.ids - burstBefore.ids)),
          latencyMs: latencyOf(burstLatency.sorted),
        },
        seqGaps: end.seqGaps,
        seqDups: end.seqDups,
        closedUnexpectedly: end.closedUnexpectedly,
      };
    } finally {
      client.close();
    }
  } finally {
    if (sys) await sys.stop();
    await pool.stop();
  }
}

/**
 * The capacity model's scaled-down check (docs/operations.md): `connections` clients over `subjects`
 * jobs, `rate` events/s of distinct subjects (one POST every `tickMs`) for `seconds`, each subject
 * getting one event. Measures the replica's CPU over the window and how many (subject, process)
 * subscriptions the events had to reach.
 */
async function measureManySubjects(ctx, layout) {
  const { log } = ctx;
  const gatewayEnv = { FANOUT_WORKERS: String(layout.workers), FANOUT_MAX_CONNECTIONS: String(layout.connections * 2), FANOUT_MAX_CONNECTIONS_PER_TENANT: String(layout.connections * 2) };
  const pool = await startWorkers(SAMPLING_WORKERS, { sinkSources: Array.from({ length: layout.sinks }, (_, i) => sourcesOf(i)), log });
  let sys;
  try {
    sys = await startFanoutSystem({ gateways: 1, gatewayEnv, pin: ctx.pin });
    const gateway = sys.gateways[0];
    const pids = replicaPids(gateway);
    const tenant = `bench-b7-${randomBytes(3).toString('hex')}`;
    const prefix = `b7m-${randomBytes(3).toString('hex')}`;
    const ids = Array.from({ length: layout.subjects }, (_, i) => `${prefix}-${i}`);
    const client = createClient(sys.publishUrl, { connections: 8 });
    try {
      await client.publishAll(ids.map((id) => jobStatus(tenant, id, 'pending')), { batch: 500, inFlight: 2 });
      const target = sys.streamTargets[0];
      const specs = Array.from({ length: layout.connections }, (_, i) => ({ host: target.host, port: target.port, path: sys.streamPath(tenant, 'job', ids[i % ids.length]), headers: { 'X-Tenant': tenant }, target: 1, startSeq: 0, sample: i % 200 === 0 }));
      log(`  B7 ${layout.name}: connecting ${specs.length} clients over ${ids.length} jobs`);
      await pool.open(specs, { concurrency: 1000 });
      const ready = await pool.waitFor((s) => s.ready === specs.length, { timeoutMs: 300000, intervalMs: 500, stallMs: 30000 });
      if (!ready.finished) throw new Error(`B7 ${layout.name}: ${ready.stats.ready} of ${specs.length} clients ready (${ready.reason}); errors ${JSON.stringify(ready.stats.errors)}`);
      await sleep(2000);
      const subscriptions = (await metricValue(gateway.url, 'fanout_gateway_subscriptions')) ?? 0;
      await pool.expect(sys.initialIds + 1);
      await pool.resetLatency(true);
      const before = await pool.stats();
      log(`  B7 ${layout.name}: ${layout.rate} events/s for ${layout.subjects / layout.rate} s`);
      const meter = cpuMeter({ ...Object.fromEntries(pids.all.map((pid) => [`gateway-${pid}`, pid])), redis: sys.redis.pid, publisher: sys.publisher.pid });
      const perTick = Math.round((layout.rate * layout.tickMs) / 1000);
      const started = Date.now();
      const posts = [];
      for (let at = 0, tick = 0; at < ids.length; at += perTick, tick++) {
        const wait = started + tick * layout.tickMs - Date.now();
        if (wait > 0) await sleep(wait);
        posts.push(client.publishOk(ids.slice(at, at + perTick).map((id) => jobProgress(tenant, id, 50))));
      }
      await Promise.all(posts);
      const done = await pool.waitFor((s) => s.reached === s.conns, { timeoutMs: 120000, intervalMs: 200, stallMs: 15000 });
      const { cpu, wallSeconds } = meter.stop();
      const lat = await pool.latencies();
      const gatewayCpu = Object.entries(cpu).filter(([name]) => name.startsWith('gateway-')).reduce((sum, [, v]) => sum + v, 0);
      await pool.closeAll();
      return {
        layout: layout.name,
        system: sys.kind,
        workers: layout.workers,
        connections: specs.length,
        subjects: ids.length,
        rate: layout.rate,
        sendSeconds: (Date.now() - started) / 1000,
        windowSeconds: wallSeconds,
        subscriptions,
        deliveries: done.stats.ids - before.ids,
        gatewayCpuSeconds: gatewayCpu,
        redisCpuSeconds: cpu.redis,
        publisherCpuSeconds: cpu.publisher,
        finished: done.finished,
        unfinishedReason: done.reason,
        lost: done.stats.loss,
        seqGaps: done.stats.seqGaps,
        closedUnexpectedly: done.stats.closedUnexpectedly,
        latencyMs: latencyOf(lat.sorted),
      };
    } finally {
      client.close();
    }
  } finally {
    if (sys) await sys.stop();
    await pool.stop();
  }
}

async function b7(ctx, p) {
  const phases = {};
  for (const layout of p.layouts) phases[layout.name] = await measureLayout(ctx, p, layout);
  if (p.manySubjects) phases[p.manySubjects.name] = await measureManySubjects(ctx, p.manySubjects);
  return { phases };
}

module.exports = { b7 };
