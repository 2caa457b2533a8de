#!/usr/bin/env node
'use strict';
/**
 * npm run bench [-- options]: scenarios B1–B6 of issue 5 against fanout (Redis + publisher +
 * gateways as real processes) and a bare node:http baseline, and B1, B2, W1 and M1 against Nchan
 * (nginx + nchan + Redis) too, driven by the same load generator.
 * Progress goes to stderr; the table to stdout; the full results to bench/results/*.json.
 */
const { spawnSync, execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const procs = require('./lib/procs');
const { startWorkers } = require('./lib/loadgen');
const { SCENARIOS, PARAMS, DESCRIPTIONS } = require('./lib/scenarios');
const { rowsFor, textTable, renderDocs } = require('./lib/report');
const { nchanAvailability } = require('./lib/nchan');

const ROOT = procs.REPO_ROOT;
const RESULTS_DIR = path.join(__dirname, 'results');
const DOCS_FILE = path.join(ROOT, 'docs', 'benchmarks.md');

const USAGE = `usage: npm run bench -- [options]

  --scenario B1,B3   run only these scenarios (default: ${Object.keys(SCENARIOS).join(',')})
  --quick            ~10x smaller parameters: to develop and smoke-test, not to quote
  --write-docs       write docs/benchmarks.md from this run (table, date, machine, targets)
  --provisional      mark the docs as measured on a busy machine (not final figures)
  --profile          run the gateways, publisher and baseline with --cpu-prof; summaries are printed
                     and profiles kept in bench/results/profiles/<run>/
  --pin              pin servers (gateways, baseline) to CPU 0 and everything else to CPU 1
  --workers N        Node subscriber processes of the load generator, for the sampled connections (default 2)
  --no-sink          no C counting sink: the Node workers hold every connection
  --no-baseline      skip the baseline phases (no ratios)
  --no-nchan         skip the Nchan phases (B1, B2, W1, M1); skipped anyway, with a warning, when
                     nginx or libnginx-mod-nchan is not installed
  --no-build         do not run tsc -b first (dist must exist)
`;

function parseArgs(argv) {
  const opts = { scenarios: Object.keys(SCENARIOS), quick: false, writeDocs: false, profile: false, pin: false, workers: 2, sink: true, baseline: true, nchan: true, build: true, provisional: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--scenario':
      case '--scenarios':
        opts.scenarios = value()
          .split(',')
          .map((s) => s.trim().toUpperCase())
          .filter(Boolean);
        for (const s of opts.scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(', ')})`);
        break;
      case '--quick':
        opts.quick = true;
        break;
      case '--write-docs':
        opts.writeDocs = true;
        break;
      case '--provisional':
        opts.provisional = true;
        break;
      case '--profile':
        opts.profile = true;
        break;
      case '--pin':
        opts.pin = true;
        break;
      case '--workers':
        opts.workers = Number(value());
        if (!Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > 64) throw new Error('--workers must be an integer from 1 to 64');
        break;
      case '--no-baseline':
        opts.baseline = false;
        break;
      case '--no-nchan':
        opts.nchan = false;
        break;
      case '--no-sink':
        opts.sink = false;
        break;
      case '--no-build':
        opts.build = false;
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${argv[i]}\n\n${USAGE}`);
    }
  }
  return opts;
}

function log(line) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function build() {
  log('building (tsc -b)');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-b'], { cwd: ROOT, stdio: 'inherit', timeout: 300000 });
  if (result.status !== 0) throw new Error(`tsc -b failed (exit ${result.status ?? result.signal}); fix the build or pass --no-build to use the existing dist/`);
}

function machine(opts) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo);
  const mem = /MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  let redis = 'redis-server not found';
  try {
    const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    redis = `redis ${/v=(\S+)/.exec(version)?.[1] ?? version.trim()}`;
  } catch {
    /* reported as missing */
  }
  let commit = 'unknown';
  let changed = [];
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    changed = execFileSync('git', ['status', '--porcelain', '--', 'apps', 'libs'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
  } catch {
    /* not a git checkout */
  }
  return {
    date: new Date().toISOString(),
    commit,
    /** Files of apps/ and libs/ that differ from the commit: the code measured is the working tree's. */
    uncommittedChanges: changed,
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel: model ? model[1].trim() : 'unknown',
    memTotalGiB: mem ? (Number(mem[1]) / 1048576).toFixed(1) : '?',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    redis,
    loadStart: os.loadavg(),
    loadEnd: null,
    nofile: procs.childNofile(),
    workers: opts.workers,
    sink: opts.sink,
    pinned: opts.pin,
    nchan: null,
  };
}

let cleaningUp = null;
function cleanup() {
  cleaningUp ??= procs.stopAll(3000);
  return cleaningUp;
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  if (opts.pin && (os.availableParallelism?.() ?? os.cpus().length) < 2) throw new Error('--pin needs at least 2 CPUs');

  process.on('SIGINT', () => {
    log('interrupted: ending every process started by the benchmark');
    cleanup().finally(() => process.exit(130));
  });
  process.on('SIGTERM', () => cleanup().finally(() => process.exit(143)));
  process.on('exit', () => procs.killAllNow());

  if (opts.build) build();
  for (const file of ['apps/cli/dist/main.js', 'libs/bus/dist/index.js']) {
    if (!existsSync(path.join(ROOT, file))) throw new Error(`${file} is missing: run npx tsc -b (or npm run build) first`);
  }
  const m = machine(opts);
  if (m.redis === 'redis-server not found') throw new Error('redis-server is not installed (apt-get install -y redis-server)');
  const mode = opts.quick ? 'quick' : 'full';
  const needFiles = opts.scenarios.includes('B4') ? PARAMS[mode].B4.connections + 1000 : 5000;
  if (!(m.nofile >= needFiles)) log(`warning: child processes may open only ${m.nofile} files; B4 needs about ${needFiles} (run as root or raise the hard limit: ulimit -Hn)`);
  if (opts.pin) execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  log(`${mode} mode, scenarios ${opts.scenarios.join(',')}; load average ${m.loadStart.map((l) => l.toFixed(2)).join(' ')} on ${m.nproc} CPUs; open-file limit ${m.nofile}`);

  if (opts.nchan) {
    const nchan = nchanAvailability();
    if (nchan.nginx) {
      m.nchan = nchan.version;
      log(`Nchan: ${nchan.version}`);
    } else {
      opts.nchan = false;
      log(`Nchan is not available (${nchan.why}): the Nchan phases are skipped`);
    }
  }
  m.nchanSkipped = !opts.nchan;

  const stamp = m.date.replace(/[:.]/g, '-');
  const profileRoot = opts.profile ? path.join(RESULTS_DIR, 'profiles', stamp) : undefined;
  const pool = await startWorkers(opts.workers, { cpus: opts.pin ? 1 : undefined, sink: opts.sink, log });
  const ctx = { pool, log, baseline: opts.baseline, nchan: opts.nchan, profileRoot, pin: opts.pin };
  const results = { argv, quick: opts.quick, provisional: opts.provisional, machine: m, params: {}, scenarios: {}, profiles: {} };
  try {
    for (const id of opts.scenarios) {
      const params = PARAMS[mode][id];
      results.params[id] = params;
      const description = DESCRIPTIONS[id](params);
      log(`${id} ${description}`);
      const before = os.loadavg()[0];
      const started = Date.now();
      try {
        results.scenarios[id] = { description, ...(await SCENARIOS[id](ctx, params)) };
      } catch (error) {
        log(`${id} failed: ${error.stack || error}`);
        results.scenarios[id] = { description, error: String(error.message || error) };
        await pool.closeAll().catch(() => {});
        for (const p of procs.runningProcesses()) if (!p.name.startsWith('loadgen-')) await procs.stopManaged(p, 3000);
      }
      results.scenarios[id].seconds = (Date.now() - started) / 1000;
      results.scenarios[id].loadAverage = { before, after: os.loadavg()[0] };
    }
  } finally {
    await pool.stop();
    await cleanup();
  }
  m.loadEnd = os.loadavg();

  if (profileRoot && existsSync(profileRoot)) {
    const { summarize, profilesIn } = require('./profile-summary');
    for (const file of profilesIn(profileRoot)) {
      const name = path.relative(profileRoot, file);
      try {
        results.profiles[name] = summarize(file, 15);
      } catch (error) {
        results.profiles[name] = `could not read: ${error.message}`;
      }
    }
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonFile = path.join(RESULTS_DIR, `bench-${stamp}${opts.quick ? '-quick' : ''}.json`);
  writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  copyFileSync(jsonFile, path.join(RESULTS_DIR, 'latest.json'));

  const rows = rowsFor(results);
  process.stdout.write(`\n${textTable(rows)}\n\n`);
  for (const [name, text] of Object.entries(results.profiles)) process.stdout.write(`profile ${name}\n${text}\n\n`);
  process.stdout.write(`load average at start ${m.loadStart.map((l) => l.toFixed(2)).join(' ')}, at end ${m.loadEnd.map((l) => l.toFixed(2)).join(' ')} (${m.nproc} CPUs)\n`);
  process.stdout.write(`results: ${path.relative(ROOT, jsonFile)}\n`);
  if (opts.writeDocs) {
    writeFileSync(DOCS_FILE, renderDocs(results, existsSync(DOCS_FILE) ? readFileSync(DOCS_FILE, 'utf8') : ''));
    process.stdout.write(`wrote ${path.relative(ROOT, DOCS_FILE)}\n`);
  }
  const failed = Object.entries(results.scenarios).filter(([, r]) => r.error);
  // Exit explicitly: a client of a process that is gone must not keep the run alive.
  process.exit(failed.length ? 1 : 0);
}

main().catch(async (error) => {
  log(`failed: ${error.stack || error}`);
  await cleanup();
  process.exit(1);
});
