'use strict';
/**
 * The systems under test, started fresh for each scenario phase:
 * - fanout: redis-server + one publisher + N gateway replicas, as real processes;
 * - baseline: bench/baseline-server.js, one process taking publishes and streams;
 * - nchan: redis-server + nginx with the nchan module (one worker), storing in Redis.
 * All expose the same surface to the load generator: where to publish (a client), where to
 * subscribe, and the PIDs whose CPU is "the server's" (serverPids) and the rest of the system's
 * (otherPids): the whole system is both.
 */
const path = require('node:path');
const { startRedis, startFanout, startBaseline, cpuSeconds } = require('./procs');
const { createClient, createNchanClient } = require('./publish');
const { startNchan, channelOf } = require('./nchan');

const SEGMENT = { job: 'jobs', 'pack-run': 'pack-runs', run: 'runs' };

function fanoutStreamPath(tenant, kind, id) {
  return `/api/v1/stream/${SEGMENT[kind]}/${encodeURIComponent(id)}`;
}

/**
 * Where each process runs under --pin. `live` (B1–B6): the servers that hold the streams (gateways,
 * baseline, nginx) on CPU 0, Redis and fanout's publisher on CPU 1 with the load generator.
 * `publish` (W1): the whole publishing side (fanout's publisher and Redis; nginx and Redis) on CPU 0,
 * the load on CPU 1.
 */
function cpusFor(pin, layout = 'live') {
  if (!pin) return {};
  return layout === 'publish' ? { server: 0, redis: 0, publisher: 0 } : { server: 0, redis: 1, publisher: 1 };
}

/**
 * @param {object} options {gateways, publisher (default true), gatewayEnv, publisherEnv, profileDir, pin, layout}
 */
async function startFanoutSystem(options = {}) {
  const { gateways = 1, publisher = true, gatewayEnv = {}, publisherEnv = {}, profileDir, pin, layout } = options;
  const started = [];
  const cpus = cpusFor(pin, layout);
  try {
    const redis = await startRedis({ cpus: cpus.redis });
    started.push(redis);
    const base = { REDIS_URL: redis.url };
    const jobs = [];
    let pub = null;
    if (publisher) jobs.push(startFanout('publisher', 'publisher', { ...base, ...publisherEnv }, { profileDir, cpus: cpus.publisher }).then((p) => (pub = p)));
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
      streamPath: fanoutStreamPath,
      createClient: (opts) => createClient(pub.url, opts),
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
  const baseline = await startBaseline({ profileDir: options.profileDir, cpus: options.pin ? 0 : undefined, env: options.env });
  return {
    kind: 'baseline',
    baseline,
    publishUrl: baseline.url,
    streamTargets: [{ host: '127.0.0.1', port: baseline.port }],
    serverPids: { baseline: baseline.pid },
    otherPids: {},
    // The baseline keeps no history: a subscriber sees only what is published after it connects.
    initialIds: 0,
    streamPath: fanoutStreamPath,
    createClient: (opts) => createClient(baseline.url, opts),
    async stop() {
      await baseline.stop();
    },
  };
}

/**
 * Nchan: redis-server + nginx (master and its one worker) with the config of bench/lib/nchan.js.
 * @param {object} options {pin, layout, bufferLength, messageTimeout}
 */
async function startNchanSystem(options = {}) {
  const cpus = cpusFor(options.pin, options.layout);
  const redis = await startRedis({ cpus: cpus.redis });
  let nginx;
  try {
    nginx = await startNchan({ redisUrl: redis.url, cpus: cpus.server, bufferLength: options.bufferLength, messageTimeout: options.messageTimeout });
  } catch (error) {
    await redis.stop();
    throw error;
  }
  return {
    kind: 'nchan',
    redis,
    nginx,
    publishUrl: nginx.url,
    streamTargets: [{ host: '127.0.0.1', port: nginx.port }],
    serverPids: { nginx: nginx.pid, 'nginx-worker': nginx.workerPid },
    otherPids: { redis: redis.pid },
    // nchan_subscriber_first_message oldest: a subscriber gets the channel's buffered messages first (the subject's first event).
    initialIds: 1,
    streamPath: (tenant, kind, id) => `/sub/${encodeURIComponent(channelOf(tenant, kind, id))}`,
    createClient: (opts) => createNchanClient(nginx.url, opts),
    /** Nchan's stream ids are `<time>:<tag>`: order and contiguity are checked on the body's own seq, as sent. */
    reorderTolerant: true,
    async stop() {
      await nginx.stop();
      await redis.stop();
    },
  };
}

function sumCpu(cpu, names) {
  return names.reduce((sum, name) => sum + (cpu[name] || 0), 0);
}

module.exports = { startFanoutSystem, startBaselineSystem, startNchanSystem, sumCpu, cpuSeconds, path, cpusFor };
