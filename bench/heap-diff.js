#!/usr/bin/env node
'use strict';
/**
 * What an idle connection retains, by constructor: heap snapshots of a gateway (or, with
 * --baseline, of bench/baseline-server.js) before and after N idle connections, diffed per
 * connection. The memory counterpart of --profile, for B4.
 *
 *   node bench/heap-diff.js [--connections 2000] [--per-subject 10] [--baseline] [--top 30]
 *
 * Snapshots (written on SIGUSR2 via --heapsnapshot-signal, after V8's own full GC) go to
 * bench/results/heap/; each is tens of MB.
 */
const { closeSync, mkdirSync, openSync, readSync, readdirSync, readFileSync, renameSync, statSync } = require('node:fs');
const path = require('node:path');
const procs = require('./lib/procs');
const { startWorkers } = require('./lib/loadgen');
const { createClient, jobStatus } = require('./lib/publish');

const DIR = path.join(__dirname, 'results', 'heap');

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

/** Self size and count per (node type, name) of a .heapsnapshot. */
function aggregate(file) {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'));
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map();
  let total = 0;
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    let name = strings[nodes[i + nameAt]];
    if (type.endsWith('string')) name = '(string)';
    else if (type === 'code') name = '(code)';
    else if (type === 'number') name = '(heap number)';
    const key = `${type} ${name.slice(0, 60)}`;
    const entry = out.get(key) || { size: 0, count: 0 };
    entry.size += nodes[i + sizeAt];
    entry.count++;
    total += nodes[i + sizeAt];
    out.set(key, entry);
  }
  return { out, total };
}

function endsWithBrace(file, size) {
  const fd = openSync(file, 'r');
  try {
    const tail = Buffer.alloc(Math.min(16, size));
    readSync(fd, tail, 0, tail.length, size - tail.length);
    return tail.toString('latin1').trimEnd().endsWith('}');
  } finally {
    closeSync(fd);
  }
}

async function snapshot(pid, label) {
  const known = new Set(readdirSync(DIR));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await procs.sleep(200);
    const fresh = readdirSync(DIR).filter((f) => f.endsWith('.heapsnapshot') && !known.has(f));
    if (fresh.length) {
      // The file appears when writing starts: wait until it ends with the JSON's closing brace and
      // its size has stopped changing.
      const file = path.join(DIR, fresh[0]);
      let size = -1;
      for (let j = 0; j < 600; j++) {
        const now = statSync(file).size;
        if (now === size && now > 0 && endsWithBrace(file, now)) break;
        size = now;
        await procs.sleep(500);
      }
      const target = path.join(DIR, `${label}.heapsnapshot`);
      renameSync(path.join(DIR, fresh[0]), target);
      return target;
    }
  }
  throw new Error('no heap snapshot was written within 120 s');
}

async function main() {
  const connections = option('--connections', 2000);
  const perSubject = option('--per-subject', 10);
  const top = option('--top', 30);
  const baseline = process.argv.includes('--baseline');
  mkdirSync(DIR, { recursive: true });
  const snapArgs = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${DIR}`];
  let server;
  let publishUrl;
  let redis;
  if (baseline) {
    const port = await procs.freePort();
    const entry = procs.spawnManaged('baseline', process.execPath, [...snapArgs, path.join(__dirname, 'baseline-server.js')], { env: { ...process.env, PORT: String(port) } });
    await procs.waitHttp200(`http://127.0.0.1:${port}/healthz`, entry);
    server = { entry, port };
    publishUrl = `http://127.0.0.1:${port}`;
  } else {
    redis = await procs.startRedis();
    const start = async (role, extra) => {
      const port = await procs.freePort();
      const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, FANOUT_AUTH: 'none', LOG_LEVEL: 'warn', FANOUT_SHUTDOWN_GRACE_MS: '500', FANOUT_MAX_CONNECTIONS_PER_TENANT: String(connections * 2) };
      const entry = procs.spawnManaged(role, process.execPath, [...extra, procs.CLI_PATH, role], { env });
      await procs.waitHttp200(`http://127.0.0.1:${port}/readyz`, entry);
      return { entry, port };
    };
    const publisher = await start('publisher', []);
    server = await start('gateway', snapArgs);
    publishUrl = `http://127.0.0.1:${publisher.port}`;
  }
  const pool = await startWorkers(2);
  const label = baseline ? 'baseline' : 'gateway';
  try {
    const client = createClient(publishUrl);
    const ids = Array.from({ length: Math.max(1, Math.ceil(connections / perSubject)) }, (_, i) => `heap-${i}`);
    await client.publishAll(ids.map((id) => jobStatus('heap', id, 'pending')));
    client.close();
    const initial = baseline ? 0 : 1;
    const spec = (i) => ({ host: '127.0.0.1', port: server.port, path: `/api/v1/stream/jobs/${ids[i % ids.length]}`, headers: { 'X-Tenant': 'heap' }, target: initial, sample: false });
    const warm = Math.min(100, connections);
    await pool.open(Array.from({ length: warm }, (_, i) => spec(i)), { concurrency: 100 });
    await pool.waitFor((s) => s.ready === warm, { timeoutMs: 60000 });
    await pool.closeAll();
    await procs.sleep(1000);
    const before = await snapshot(server.entry.pid, `${label}-before`);
    await pool.open(Array.from({ length: connections }, (_, i) => spec(i)), { concurrency: 300 });
    const ready = await pool.waitFor((s) => s.ready === connections, { timeoutMs: 180000 });
    if (!ready.finished) throw new Error(`${ready.stats.ready} of ${connections} connections ready (${ready.reason})`);
    await procs.sleep(1500);
    const after = await snapshot(server.entry.pid, `${label}-after`);
    const a = aggregate(before);
    const b = aggregate(after);
    console.log(`${label}: retained JS heap per idle connection ${((b.total - a.total) / connections / 1024).toFixed(2)} KiB (${connections} connections, ${perSubject} per subject)`);
    const rows = [];
    for (const [key, e] of b.out) {
      const p = a.out.get(key) || { size: 0, count: 0 };
      rows.push([key, (e.size - p.size) / connections, (e.count - p.count) / connections]);
    }
    rows.sort((x, y) => y[1] - x[1]);
    for (const [key, bytes, count] of rows.slice(0, top)) console.log(`${bytes.toFixed(0).padStart(7)} B ${count.toFixed(2).padStart(7)} objects per connection  ${key}`);
  } finally {
    await pool.stop();
    if (redis) await redis.stop();
    await procs.stopAll();
  }
}

process.on('SIGINT', () => procs.stopAll().finally(() => process.exit(130)));
process.on('exit', () => procs.killAllNow());
main().catch(async (error) => {
  console.error(error.stack || error);
  await procs.stopAll();
  process.exit(1);
});
