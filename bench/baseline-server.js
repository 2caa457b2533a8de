'use strict';
/**
 * The baseline: a bare node:http fan-out with no store, no hop and no contract beyond the frames.
 *
 * It takes the same POST /api/v1/events bodies as the publisher (one event or {"events": [...]}),
 * numbers each event per subject, adds `seq` and `publishedAt`, builds the event's SSE frame once as
 * a Buffer and writes it to every subscriber of the subject with one `res.write` per event per
 * client. Responses use Node's defaults: keep-alive and chunked transfer encoding (so every write
 * carries chunk framing), no coalescing, no backpressure, no slow-client handling.
 *
 * Subscribers: GET /api/v1/stream/{jobs|pack-runs|runs}/<id> with X-Tenant. The ingest (reading and
 * JSON-parsing the POST) is part of this process's CPU; the gateway's equivalent work happens in the
 * publisher and Redis, which are measured separately.
 *
 * With HEARTBEAT_MS, every subscriber is also written a heartbeat frame that often (one timer, all
 * subscribers at once): the floor of what holding idle SSE connections costs a Node process.
 *
 * env: PORT (0 = any; the port is printed as `listening <port>`), HOST (127.0.0.1), RETRY_MS (2000),
 * HEARTBEAT_MS (none).
 */
const http = require('node:http');

const PORT = Number(process.env.PORT || 0);
const HOST = process.env.HOST || '127.0.0.1';
const RETRY = Buffer.from(`retry: ${Number(process.env.RETRY_MS || 2000)}\n\n`);
const SEGMENTS = { jobs: 'job', 'pack-runs': 'pack-run', runs: 'run' };
const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

/** subject key -> Set of responses */
const subscribers = new Map();
/** subject key -> last seq */
const seqs = new Map();
let connections = 0;
let delivered = 0;

function subjectKey(tenant, kind, id) {
  return `${tenant}\u0000${kind}\u0000${id}`;
}

function stream(req, res, kind, id) {
  const key = subjectKey(req.headers['x-tenant'] || 'default', kind, id);
  let set = subscribers.get(key);
  if (!set) subscribers.set(key, (set = new Set()));
  set.add(res);
  connections++;
  res.writeHead(200, SSE_HEADERS);
  res.write(RETRY);
  res.on('close', () => {
    connections--;
    set.delete(res);
    if (set.size === 0 && subscribers.get(key) === set) subscribers.delete(key);
  });
}

function publish(body, res) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    res.writeHead(400, { 'Content-Type': 'application/problem+json' }).end('{"title":"Bad Request","status":400}');
    return;
  }
  const events = Array.isArray(parsed && parsed.events) ? parsed.events : [parsed];
  const publishedAt = new Date().toISOString();
  const results = [];
  for (const event of events) {
    const key = subjectKey(event.tenant, event.subject.kind, event.subject.id);
    const seq = (seqs.get(key) || 0) + 1;
    seqs.set(key, seq);
    event.seq = seq;
    event.publishedAt = publishedAt;
    const frame = Buffer.from(`id: ${seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    const set = subscribers.get(key);
    if (set) {
      for (const client of set) client.write(frame);
      delivered += set.size;
    }
    results.push({ eventId: event.eventId, seq, duplicate: false });
  }
  res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ results }));
}

const server = http.createServer((req, res) => {
  const url = req.url || '/';
  if (req.method === 'GET' && url.startsWith('/api/v1/stream/')) {
    const [segment, rawId] = url.slice('/api/v1/stream/'.length).split('?')[0].split('/');
    const kind = SEGMENTS[segment];
    if (!kind || !rawId) {
      res.writeHead(404).end();
      return;
    }
    stream(req, res, kind, decodeURIComponent(rawId));
    return;
  }
  if (req.method === 'POST' && url === '/api/v1/events') {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => publish(Buffer.concat(chunks).toString('utf8'), res));
    return;
  }
  if (req.method === 'GET' && (url === '/healthz' || url === '/readyz')) {
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'ok', connections, delivered, memory: { rss, heapUsed, external, arrayBuffers } }));
    return;
  }
  res.writeHead(404).end();
});

const HEARTBEAT_MS = Number(process.env.HEARTBEAT_MS || 0);
if (HEARTBEAT_MS > 0) {
  setInterval(() => {
    const frame = Buffer.from(`event: heartbeat\ndata: {"ts":"${new Date().toISOString()}"}\n\n`);
    for (const set of subscribers.values()) for (const client of set) client.write(frame);
  }, HEARTBEAT_MS).unref();
}

server.listen(PORT, HOST, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

const stop = () => {
  for (const set of subscribers.values()) for (const res of set) res.destroy();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
