'use strict';
/**
 * The two systems under test, started fresh for each scenario phase:
 * - fanout: redis-server + one publisher + N gateway replicas, as real processes;
 * - baseline: bench/baseline-server.js, one process taking publishes and streams.
 * Both expose the same surface to the load generator: where to publish, where to subscribe, and the
 * PIDs whose CPU is "the server's".
 */
const path = require('node:path');
const { startRedis, startFanout, startBaseline, cpuSeconds } = require('./procs');

/**
 * @param {object} options {gateways, publisher (default true), gatewayEnv, profileDir, pin}
 */
async function startFanoutSystem(options = {}) {
  const { gateways = 1, publisher = true, gatewayEnv = {}, profileDir, pin } = options;
  const started = [];
  const cpus = pin ? { server: 0, other: 1 } : {};
  try {
    const redis = await startRedis({ cpus: cpus.other });
    started.push(redis);
    const base = { REDIS_URL: redis.url };
    const jobs = [];
    let pub = null;
    if (publisher) jobs.push(startFanout('publisher', 'publisher', base, { profileDir, cpus: cpus.other }).then((p) => (pub = p)));
    const gws = [];
    for (let i = 0; i < gateways; i++) {
      jobs.push(startFanout('gateway', `gateway-${i}`, { ...base, ...gatewayEnv }, { profileDir, cpus: cpus.server }).then((g) => (gws[i] = g)));
    }
    const outcomes = await Promise.allSettled(jobs);
    for (const p of [pub, ...gws]) if (p) started.push(p);
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    return {
      kind: 'fanout',
      redis,
      publisher: pub,
      gateways: gws,
      publishUrl: pub ? pub.url : null,
      streamTargets: gws.map((g) => ({ host: '127.0.0.1', port: g.port })),
      /** The processes whose CPU counts as "the server's". */
      serverPids: Object.fromEntries(gws.map((g) => [g.name, g.pid])),
      otherPids: { redis: redis.pid, ...(pub ? { publisher: pub.pid } : {}) },
      initialIds: 1,
      async stop() {
        await Promise.all([...gws, pub].filter(Boolean).map((p) => p.stop()));
        await redis.stop();
      },
    };
  } catch (error) {
    await Promise.all(started.map((p) => p.stop().catch(() => {})));
    throw error;
  }
}

async function startBaselineSystem(options = {}) {
  const baseline = await startBaseline({ profileDir: options.profileDir, cpus: options.pin ? 0 : undefined });
  return {
    kind: 'baseline',
    baseline,
    publishUrl: baseline.url,
    streamTargets: [{ host: '127.0.0.1', port: baseline.port }],
    serverPids: { baseline: baseline.pid },
    otherPids: {},
    // The baseline keeps no history: a subscriber sees only what is published after it connects.
    initialIds: 0,
    async stop() {
      await baseline.stop();
    },
  };
}

function sumCpu(cpu, names) {
  return names.reduce((sum, name) => sum + (cpu[name] || 0), 0);
}

module.exports = { startFanoutSystem, startBaselineSystem, sumCpu, cpuSeconds, path };
