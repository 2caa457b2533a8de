'use strict';
/**
 * The peer: Debian's nginx with libnginx-mod-nchan, storing in Redis. One nginx master in the
 * foreground (`daemon off;`) with one worker process, its own prefix and config in a temp dir,
 * started by PID like every other process of the benchmark and ended by PID on every exit path
 * (the worker's PID is tracked too, in case the master has to be killed).
 *
 * Endpoints (one nchan channel per fanout subject, `<tenant>.<kind>.<id>`):
 *   POST /pub/<channel>   nchan_publisher: one message per request, the body as it is
 *   GET  /sub/<channel>   nchan_subscriber eventsource
 *   GET  /healthz         200
 */
const { existsSync, mkdtempSync, writeFileSync, rmSync, readFileSync, readdirSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { spawnManaged, stopManaged, freePort, waitHttp200, sleep, trackPid, untrackPid } = require('./procs');

const MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx'];

/** The message buffer and timeout of every channel: comparable to fanout's history (FANOUT_HISTORY_MAXLEN, FANOUT_HISTORY_TTL_S). */
const DEFAULTS = { bufferLength: 1000, messageTimeout: '24h' };

/** {nginx, module, version} when nginx and the nchan module are installed; else {why}. */
function nchanAvailability() {
  const nginx = NGINX_CANDIDATES.find((p) => existsSync(p));
  if (!nginx) return { why: 'nginx is not installed (apt-get install -y nginx libnginx-mod-nchan)' };
  if (!existsSync(MODULE)) return { why: `${MODULE} is missing (apt-get install -y libnginx-mod-nchan)` };
  const v = spawnSync(nginx, ['-v'], { encoding: 'utf8' });
  const nginxVersion = /nginx\/(\S+)/.exec(`${v.stderr}${v.stdout}`)?.[1] ?? 'unknown';
  let nchanVersion = 'unknown';
  const dpkg = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'libnginx-mod-nchan'], { encoding: 'utf8' });
  if (dpkg.status === 0 && dpkg.stdout.trim()) nchanVersion = dpkg.stdout.trim();
  return { nginx, module: MODULE, version: `nginx ${nginxVersion}, libnginx-mod-nchan ${nchanVersion}` };
}

function channelOf(tenant, kind, id) {
  return `${tenant}.${kind}.${id}`;
}

/** The nginx.conf the benchmark runs (also printed into the docs' description). */
function nchanConfig({ dir, port, redisUrl, bufferLength = DEFAULTS.bufferLength, messageTimeout = DEFAULTS.messageTimeout }) {
  return `load_module ${MODULE};
worker_processes 1;
worker_rlimit_nofile 65536;
error_log stderr warn;
pid ${dir}/nginx.pid;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  client_body_buffer_size 128k;
  client_max_body_size 1m;
  upstream redis_store {
    nchan_redis_server ${redisUrl};
  }
  nchan_redis_storage_mode distributed;
  server {
    listen 127.0.0.1:${port};
    location = /healthz { return 200 "ok\\n"; }
    location ~ ^/pub/(.+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_redis_pass redis_store;
      nchan_message_buffer_length ${bufferLength};
      nchan_message_timeout ${messageTimeout};
    }
    location ~ ^/sub/(.+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_redis_pass redis_store;
      nchan_subscriber_first_message oldest;
    }
  }
}
`;
}

/** PIDs of the children of `pid` whose command is `comm`, from /proc. */
function childrenOf(pid, comm) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      if (Number(fields[1]) === pid && stat.slice(open + 1, close) === comm) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * nginx + nchan on a free loopback port, talking to `redisUrl`; resolves once /healthz answers and
 * a publisher request reaches Redis (GET of a channel answers 404, not 5xx).
 */
async function startNchan(options) {
  const { redisUrl, cpus, bufferLength, messageTimeout } = options;
  const available = nchanAvailability();
  if (!available.nginx) throw new Error(`Nchan is not available: ${available.why}`);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-nchan-'));
  const config = nchanConfig({ dir, port, redisUrl, bufferLength, messageTimeout });
  writeFileSync(path.join(dir, 'nginx.conf'), config);
  const entry = spawnManaged('nginx', available.nginx, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off; master_process on;'], { cpus });
  const url = `http://127.0.0.1:${port}`;
  let workers = [];
  const stop = async () => {
    await stopManaged(entry, 5000);
    // The master ends its worker on SIGTERM; if it had to be killed, the worker is ended here.
    for (const pid of workers) {
      try {
        const comm = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (comm.includes('(nginx)')) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      untrackPid(pid);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitHttp200(`${url}/healthz`, entry);
    for (let i = 0; i < 100 && workers.length === 0; i++) {
      workers = childrenOf(entry.pid, 'nginx');
      if (!workers.length) await sleep(20);
    }
    if (workers.length !== 1) throw new Error(`nginx: expected 1 worker process, found ${workers.length}`);
    for (const pid of workers) trackPid(pid, 'nginx-worker');
    // Redis connected: a publisher GET of a missing channel answers 404 (5xx while it is not).
    const deadline = Date.now() + 15000;
    let last = '';
    for (;;) {
      const response = await fetch(`${url}/pub/bench.ready.probe`, { signal: AbortSignal.timeout(2000) }).catch((error) => ({ status: 0, text: async () => String(error) }));
      last = `${response.status} ${(await response.text()).slice(0, 200)}`;
      if (response.status === 404 || response.status === 200) break;
      if (Date.now() > deadline) throw new Error(`nchan did not reach Redis in time (last answer ${last}):\n${entry.logs.slice(-20).join('\n')}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { entry, pid: entry.pid, workerPid: workers[0], port, url, dir, config, name: 'nginx', stop };
}

module.exports = { nchanAvailability, nchanConfig, startNchan, channelOf, DEFAULTS, MODULE };
