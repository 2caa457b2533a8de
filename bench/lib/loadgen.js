'use strict';
/**
 * The subscriber side of the load generator: bench/subscriber-worker.js processes (Node, driven
 * over IPC) hold the sampled connections, which parse every frame for latency and seq checks; a
 * counting sink (bench/sink.c, compiled here with the system's C compiler, driven over stdin and
 * stdout) holds all the others, which only count bytes and frames. Without a C compiler the Node
 * workers hold every connection, as before, and the run says so.
 */
const path = require('node:path');
const { existsSync, mkdirSync, statSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { spawnManaged, stopManaged, sleep } = require('./procs');

const WORKER = path.join(__dirname, '..', 'subscriber-worker.js');
const SINK_SOURCE = path.join(__dirname, '..', 'sink.c');
const SINK_BINARY = path.join(__dirname, '..', '.build', 'sink');

/** Compiles the sink when its binary is missing or older than its source; undefined (with why) when it cannot. */
function buildSink() {
  if (existsSync(SINK_BINARY) && statSync(SINK_BINARY).mtimeMs >= statSync(SINK_SOURCE).mtimeMs) return { binary: SINK_BINARY };
  mkdirSync(path.dirname(SINK_BINARY), { recursive: true });
  const result = spawnSync('cc', ['-O2', '-Wall', '-o', SINK_BINARY, SINK_SOURCE, '-lz'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return { why: result.error ? result.error.message : result.stderr.trim() };
  return { binary: SINK_BINARY };
}

/** A call(type, payload) → reply, with a timeout, over any transport. */
function caller(name, entry, send) {
  let nextId = 1;
  const waiting = new Map();
  entry.exit.then(() => {
    for (const resolve of waiting.values()) resolve({ error: `${name} exited` });
    waiting.clear();
  });
  const receive = (msg) => {
    const resolve = waiting.get(msg.id);
    if (resolve) {
      waiting.delete(msg.id);
      resolve(msg);
    }
  };
  const call = (type, payload = {}, timeoutMs = 120000) =>
    new Promise((resolve, reject) => {
      if (entry.exited) {
        reject(new Error(`${name} has exited`));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${name}: no answer to ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, (msg) => {
        clearTimeout(timer);
        if (msg.error) reject(new Error(`${name} ${type}: ${msg.error}`));
        else resolve(msg);
      });
      send(id, type, payload);
    });
  return { receive, call };
}

function startNodeWorker(i, cpus) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const name = `loadgen-${i}`;
  const entry = spawnManaged(name, process.execPath, [WORKER], { env, ipc: true, cpus });
  const { receive, call } = caller(name, entry, (id, type, payload) => entry.child.send({ type, id, ...payload }));
  entry.child.on('message', receive);
  return { name, entry, pid: entry.pid, call, sampling: true };
}

/** The sink's line protocol (see bench/sink.c); it keeps no latencies. `sources`: its loopback source addresses. */
function startSinkWorker(binary, cpus, name = 'loadgen-sink', sources = []) {
  let receive = () => {};
  const entry = spawnManaged(name, binary, sources, {
    stdin: true,
    cpus,
    onLine: (line) => {
      const space = line.indexOf(' ');
      if (space > 0) receive({ id: Number(line.slice(0, space)), ...JSON.parse(line.slice(space + 1)) });
    },
  });
  const send = (id, type, payload) => {
    const stdin = entry.child.stdin;
    switch (type) {
      case 'open': {
        const parts = [`${id} open ${payload.concurrency || 0} ${payload.conns.length}\n`];
        for (const spec of payload.conns) {
          if (spec.host !== '127.0.0.1') throw new Error(`the sink connects to 127.0.0.1 only, not ${spec.host}`);
          const request = Buffer.from(requestHead(spec), 'latin1');
          parts.push(`${spec.port} ${spec.target ?? 0} ${request.length}\n`, request);
        }
        for (const part of parts) stdin.write(part);
        return;
      }
      case 'stats':
        stdin.write(`${id} stats ${payload.detail ? 1 : 0}\n`);
        return;
      case 'expect':
        stdin.write(`${id} expect ${payload.all}\n`);
        return;
      case 'resetLatency':
        receive({ id });
        return;
      case 'latencies':
        receive({ id, latencies: [], dropped: 0 });
        return;
      default:
        stdin.write(`${id} ${type}\n`);
    }
  };
  const wired = caller(name, entry, send);
  receive = wired.receive;
  entry.child.stdin.on('error', () => {});
  return { name, entry, pid: entry.pid, call: wired.call, sampling: false };
}

/** The request a subscriber sends: what subscriber-worker.js writes too. */
function requestHead(spec) {
  let head = `GET ${spec.path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\nAccept: text/event-stream\r\n`;
  for (const [name, value] of Object.entries(spec.headers || {})) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/**
 * `count` Node workers, plus the counting sink unless `options.sink` is false or it cannot be built.
 * `options.sinkSources` (one list of loopback source addresses per sink) starts several sinks, as when
 * one process's open-file limit cannot hold every connection. `options.log` is told which.
 */
async function startWorkers(count, options = {}) {
  const workers = [];
  for (let i = 0; i < count; i++) workers.push(startNodeWorker(i, options.cpus));
  const sink = options.sink === false ? { why: '--no-sink' } : buildSink();
  if (options.sinkSources && !sink.binary) throw new Error(`several counting sinks were asked for, but the sink cannot be built: ${sink.why}`);
  const sinkSources = options.sinkSources || [[]];
  if (sink.binary) sinkSources.forEach((sources, i) => workers.push(startSinkWorker(sink.binary, options.cpus, sinkSources.length > 1 ? `loadgen-sink-${i}` : 'loadgen-sink', sources)));
  if (options.log) options.log(sink.binary ? `load generator: ${count} Node workers (sampled connections) + ${sinkSources.length > 1 ? `${sinkSources.length} C counting sinks` : 'the C counting sink'}` : `load generator: ${count} Node workers, no C sink (${sink.why})`);
  return createPool(workers);
}

const SUM_FIELDS = ['conns', 'ids', 'frames', 'bytes', 'ok', 'ready', 'reached', 'closed', 'closedUnexpectedly', 'loss', 'extra', 'seqGaps', 'seqDups', 'reordered', 'sampled'];

function mergeStats(list) {
  const out = { maxDoneAt: 0, minDoneAt: 0, maxHeadersAt: 0, statuses: {}, errors: {}, controlEvents: {}, lastId: null };
  for (const f of SUM_FIELDS) out[f] = 0;
  for (const s of list) {
    for (const f of SUM_FIELDS) out[f] += s[f] || 0;
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
    pids: () => Object.fromEntries(workers.map((w) => [w.name, w.pid])),
    /**
     * Spreads `specs` over the workers (a spec: {key, host, port, path, headers, sample, target,
     * startSeq, reorder}); every `sampleEvery`-th connection is sampled. At most `concurrency` connections
     * wait for their response head at once, shared in proportion to each worker's connections.
     * Resolves when every connection has its response headers (or failed).
     */
    async open(specs, { concurrency = 0, sampleEvery = 20 } = {}) {
      const shares = workers.map(() => []);
      const sampling = workers.filter((w) => w.sampling);
      const counting = workers.filter((w) => !w.sampling);
      let sampled = 0;
      let counted = 0;
      specs.forEach((spec, i) => {
        const sample = spec.sample ?? i % sampleEvery === 0;
        // Sampled connections go round-robin over the Node workers; the others to the sink when there is one.
        const worker = sample || counting.length === 0 ? sampling[sampled++ % sampling.length] : counting[counted++ % counting.length];
        shares[workers.indexOf(worker)].push({ ...spec, sample });
      });
      const limitOf = (share) => (concurrency > 0 ? Math.max(1, Math.round((concurrency * share.length) / specs.length)) : 0);
      await Promise.all(workers.map((w, i) => w.call('open', { conns: shares[i], concurrency: limitOf(shares[i]) }, 180000)));
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
