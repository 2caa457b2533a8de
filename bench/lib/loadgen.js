'use strict';
/**
 * The subscriber side of the load generator: a pool of bench/subscriber-worker.js processes, each
 * holding a share of the SSE connections, driven over IPC.
 */
const path = require('node:path');
const { spawnManaged, stopManaged, sleep } = require('./procs');

const WORKER = path.join(__dirname, '..', 'subscriber-worker.js');

async function startWorkers(count, options = {}) {
  const workers = [];
  for (let i = 0; i < count; i++) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const entry = spawnManaged(`loadgen-${i}`, process.execPath, [WORKER], { env, ipc: true, cpus: options.cpus });
    let nextId = 1;
    const waiting = new Map();
    entry.child.on('message', (msg) => {
      const resolve = waiting.get(msg.id);
      if (resolve) {
        waiting.delete(msg.id);
        resolve(msg);
      }
    });
    entry.child.once('exit', () => {
      for (const resolve of waiting.values()) resolve({ error: `loadgen-${i} exited` });
      waiting.clear();
    });
    const call = (type, payload = {}, timeoutMs = 120000) =>
      new Promise((resolve, reject) => {
        if (entry.exited) {
          reject(new Error(`loadgen-${i} has exited`));
          return;
        }
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`loadgen-${i}: no answer to ${type} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (msg) => {
          clearTimeout(timer);
          if (msg.error) reject(new Error(`loadgen-${i} ${type}: ${msg.error}`));
          else resolve(msg);
        });
        entry.child.send({ type, id, ...payload });
      });
    workers.push({ entry, pid: entry.pid, call });
  }
  return createPool(workers);
}

const SUM_FIELDS = ['conns', 'ids', 'frames', 'bytes', 'ok', 'ready', 'reached', 'closed', 'closedUnexpectedly', 'loss', 'extra', 'seqGaps', 'seqDups', 'sampled'];

function mergeStats(list) {
  const out = { maxDoneAt: 0, minDoneAt: 0, maxHeadersAt: 0, statuses: {}, errors: {}, controlEvents: {}, lastId: null };
  for (const f of SUM_FIELDS) out[f] = 0;
  for (const s of list) {
    for (const f of SUM_FIELDS) out[f] += s[f];
    out.maxDoneAt = Math.max(out.maxDoneAt, s.maxDoneAt);
    if (s.minDoneAt && (!out.minDoneAt || s.minDoneAt < out.minDoneAt)) out.minDoneAt = s.minDoneAt;
    out.maxHeadersAt = Math.max(out.maxHeadersAt, s.maxHeadersAt);
    for (const key of ['statuses', 'errors', 'controlEvents']) for (const [k, v] of Object.entries(s[key])) out[key][k] = (out[key][k] || 0) + v;
    if (!out.lastId && s.lastId) out.lastId = s.lastId;
  }
  return out;
}

function createPool(workers) {
  const pool = {
    workers,
    pids: () => Object.fromEntries(workers.map((w, i) => [`loadgen-${i}`, w.pid])),
    /**
     * Spreads `specs` round-robin over the workers (a spec: {key, host, port, path, headers, sample,
     * target, startSeq}); every `sampleEvery`-th connection is sampled. Resolves when every connection
     * has its response headers (or failed).
     */
    async open(specs, { concurrency = 0, sampleEvery = 20 } = {}) {
      const shares = workers.map(() => []);
      specs.forEach((spec, i) => {
        shares[i % workers.length].push({ ...spec, sample: spec.sample ?? i % sampleEvery === 0 });
      });
      const perWorker = concurrency > 0 ? Math.max(1, Math.ceil(concurrency / workers.length)) : 0;
      await Promise.all(workers.map((w, i) => w.call('open', { conns: shares[i], concurrency: perWorker }, 180000)));
    },
    async stats(detail = false) {
      const list = await Promise.all(workers.map((w) => w.call('stats', { detail })));
      return mergeStats(list);
    },
    async expect(all) {
      await Promise.all(workers.map((w) => w.call('expect', { all })));
    },
    async resetLatency(record = true) {
      await Promise.all(workers.map((w) => w.call('resetLatency', { record })));
    },
    async latencies() {
      const list = await Promise.all(workers.map((w) => w.call('latencies')));
      let dropped = 0;
      let total = 0;
      for (const l of list) {
        dropped += l.dropped;
        total += l.latencies.length;
      }
      const all = new Float64Array(total);
      let at = 0;
      for (const l of list) {
        all.set(l.latencies, at);
        at += l.latencies.length;
      }
      all.sort();
      return { sorted: all, dropped };
    },
    async closeAll() {
      await Promise.all(workers.map((w) => w.call('close', {}, 30000)));
    },
    /**
     * Polls until `done(stats)` or `timeoutMs`; resolves with the last stats and whether it finished.
     * Also stops early when nothing has arrived for `stallMs`.
     */
    async waitFor(done, { timeoutMs = 60000, intervalMs = 100, stallMs = 15000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      let last = await pool.stats();
      let lastIds = last.ids;
      let lastProgressAt = Date.now();
      while (!done(last)) {
        if (Date.now() > deadline) return { stats: last, finished: false, reason: `timeout after ${timeoutMs} ms` };
        if (Date.now() - lastProgressAt > stallMs) return { stats: last, finished: false, reason: `nothing arrived for ${stallMs} ms` };
        await sleep(intervalMs);
        last = await pool.stats();
        if (last.ids !== lastIds) {
          lastIds = last.ids;
          lastProgressAt = Date.now();
        }
      }
      return { stats: last, finished: true };
    },
    async stop() {
      await Promise.all(
        workers.map(async (w) => {
          try {
            await w.call('exit', {}, 2000);
          } catch {
            /* ended below */
          }
          await stopManaged(w.entry, 2000);
        }),
      );
    },
  };
  return pool;
}

/** p-th percentile (0..100) of an ascending array. */
function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

module.exports = { startWorkers, percentile };
