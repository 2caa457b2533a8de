'use strict';
/**
 * The publishing side of the load generator: events, and POST /api/v1/events over keep-alive
 * connections (node:http with a bounded agent), paced or as fast as answers come back.
 */
const http = require('node:http');
const net = require('node:net');
const { randomBytes } = require('node:crypto');
const { sleep } = require('./procs');

const RUN = randomBytes(4).toString('hex');
let counter = 0;

function eventId() {
  return `${RUN}-${++counter}`;
}

function jobStatus(tenant, id, status) {
  return { eventId: eventId(), tenant, subject: { kind: 'job', id }, type: 'job.status', occurredAt: new Date().toISOString(), data: { status } };
}

function jobProgress(tenant, id, percent) {
  return { eventId: eventId(), tenant, subject: { kind: 'job', id }, type: 'job.progress', occurredAt: new Date().toISOString(), data: { percent } };
}

function packRunStatus(tenant, id, status) {
  return { eventId: eventId(), tenant, subject: { kind: 'pack-run', id }, type: 'pack_run.status', occurredAt: new Date().toISOString(), data: { status } };
}

/** A pack_run.log event whose published JSON is about `bytes` long. */
function packRunLog(tenant, id, lineNo, bytes = 200) {
  const event = {
    eventId: eventId(),
    tenant,
    subject: { kind: 'pack-run', id },
    type: 'pack_run.log',
    occurredAt: new Date().toISOString(),
    data: { stepIndex: 0, lineNo, stream: 'stdout', message: '' },
  };
  const pad = Math.max(1, bytes - JSON.stringify(event).length);
  event.data.message = `line ${lineNo} `.padEnd(pad, 'x').slice(0, pad);
  return event;
}

/**
 * A lean HTTP/1.1 client for POSTs: `connections` raw keep-alive sockets, one request in flight on
 * each (no pipelining), requests written as one prebuilt string, answers read by Content-Length (or
 * chunked). It costs the load generator a fraction of node:http's CPU per request, so a burst of
 * single-event POSTs (W1, Nchan's publishing) measures the server, not the generator.
 * `post(path, body)` resolves {status, text, ms}, like createClient's.
 */
function createLeanPoster(baseUrl, { connections = 8 } = {}) {
  const TIMEOUT_MS = 30000;
  const url = new URL(baseUrl);
  const host = `${url.hostname}:${url.port}`;
  const idle = [];
  const queue = [];
  const all = new Set();
  let open = 0;
  let closed = false;

  function connect() {
    const socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    socket.pendingData = [];
    socket.current = null;
    open++;
    all.add(socket);
    socket.on('data', (chunk) => onData(socket, chunk));
    const fail = (error) => {
      if (socket.gone) return;
      socket.gone = true;
      open--;
      all.delete(socket);
      const at = idle.indexOf(socket);
      if (at >= 0) idle.splice(at, 1);
      const job = socket.current;
      socket.current = null;
      if (job) clearTimeout(job.timer);
      if (job) job.reject(error || new Error(`POST ${job.path}: connection closed before the answer`));
      pump();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(null));
    return socket;
  }

  function onData(socket, chunk) {
    const job = socket.current;
    if (!job) return;
    job.buf = job.buf ? Buffer.concat([job.buf, chunk]) : chunk;
    if (job.bodyAt === undefined) {
      const end = job.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = job.buf.toString('latin1', 0, end);
      job.status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      job.length = length ? Number(length[1]) : -1;
      job.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      job.keepAlive = !/\r\nconnection:\s*close/i.test(head);
      job.bodyAt = end + 4;
    }
    let text;
    if (job.length >= 0) {
      if (job.buf.length - job.bodyAt < job.length) return;
      text = job.buf.toString('utf8', job.bodyAt, job.bodyAt + job.length);
    } else if (job.chunked) {
      if (job.buf.indexOf('\r\n0\r\n\r\n', job.bodyAt - 2) < 0) return;
      text = dechunk(job.buf.subarray(job.bodyAt));
    } else return; // read until close: not used by the servers measured
    socket.current = null;
    clearTimeout(job.timer);
    job.resolve({ status: job.status, text, ms: Number(process.hrtime.bigint() - job.started) / 1e6 });
    if (job.keepAlive && !closed) idle.push(socket);
    else socket.destroy();
    pump();
  }

  function dechunk(buf) {
    const parts = [];
    let at = 0;
    for (;;) {
      const nl = buf.indexOf('\r\n', at);
      const size = parseInt(buf.toString('latin1', at, nl), 16);
      if (!size) break;
      parts.push(buf.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    return Buffer.concat(parts).toString('utf8');
  }

  function pump() {
    while (queue.length && !closed) {
      let socket = idle.pop();
      if (!socket) {
        if (open >= connections) return;
        socket = connect();
      }
      const job = queue.shift();
      socket.current = job;
      job.started = process.hrtime.bigint();
      job.timer = setTimeout(() => socket.destroy(new Error(`POST ${job.path}: no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      socket.write(job.request);
    }
  }

  function post(pathname, body) {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const request = `POST ${pathname} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
    return new Promise((resolve, reject) => {
      if (closed) return reject(new Error('client closed'));
      queue.push({ path: pathname, request, resolve, reject });
      pump();
    });
  }

  function close() {
    closed = true;
    for (const socket of all) socket.destroy();
    for (const job of queue.splice(0)) job.reject(new Error('client closed'));
  }

  return { post, close };
}

/**
 * Calls `send(i)` for i = 0..count-1 every `intervalMs` (at most `maxInFlight` unanswered), then
 * waits for every answer; `send` resolves {ok, status, text, ms}. Throws if any failed.
 */
async function sendPaced(count, intervalMs, send, { maxInFlight = 64, timeoutMs = 120000 } = {}) {
  const times = [];
  const failures = [];
  let inFlight = 0;
  const startAt = Date.now() + 5;
  const deadline = startAt + count * intervalMs + timeoutMs;
  const pending = [];
  for (let i = 0; i < count; i++) {
    const wait = startAt + i * intervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    while (inFlight >= maxInFlight && Date.now() < deadline) await sleep(1);
    if (Date.now() > deadline) throw new Error(`paced publishing did not finish in time (${i} of ${count} sent)`);
    inFlight++;
    pending.push(
      Promise.resolve()
        .then(() => send(i))
        .then(
          (a) => {
            inFlight--;
            times.push(a.ms);
            if (!a.ok) failures.push(`${a.status} ${a.text.slice(0, 200)}`);
          },
          (error) => {
            inFlight--;
            failures.push(error.message);
          },
        ),
    );
  }
  await Promise.all(pending);
  if (failures.length) throw new Error(`${failures.length} publishes failed, first: ${failures[0]}`);
  return { times, sentIn: Date.now() - startAt };
}

/** Sends each event with `send`, `inFlight` at a time, in order of sending; resolves with the answers' times. */
async function eachInFlight(events, inFlight, send) {
  const times = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, events.length) }, async () => {
      while (next < events.length) times.push((await send(events[next++])).ms);
    }),
  );
  return times;
}

/**
 * POSTs to fanout (or the baseline) over keep-alive connections: node:http with a bounded agent, or
 * the lean client above with `lean: true`.
 */
function createClient(baseUrl, { connections = 8, lean = false } = {}) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const answers = { count: 0, byStatus: {} };
  const leanPoster = lean ? createLeanPoster(baseUrl, { connections }) : null;

  /** POST a JSON body; resolves {status, text, ms}. Rejects after `timeoutMs`. */
  function post(pathname, body, timeoutMs = 30000) {
    if (leanPoster) {
      return leanPoster.post(pathname, body).then((answer) => {
        answers.count++;
        answers.byStatus[answer.status] = (answers.byStatus[answer.status] || 0) + 1;
        return answer;
      });
    }
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: pathname,
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const ms = Number(process.hrtime.bigint() - started) / 1e6;
            answers.count++;
            answers.byStatus[res.statusCode] = (answers.byStatus[res.statusCode] || 0) + 1;
            resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), ms });
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`POST ${pathname}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async function publishOk(events) {
    const body = Array.isArray(events) ? { events } : events;
    const answer = await post('/api/v1/events', body);
    if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.text.slice(0, 500)}`);
    return answer;
  }

  /** Publishes `events` in batches of at most 500, `inFlight` requests at a time. */
  async function publishAll(events, { batch = 500, inFlight = 4 } = {}) {
    const batches = [];
    for (let i = 0; i < events.length; i += batch) batches.push(events.slice(i, i + batch));
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(inFlight, batches.length) }, async () => {
        while (next < batches.length) await publishOk(batches[next++]);
      }),
    );
  }

  /**
   * Sends `count` requests, request i at `startAt + i * intervalMs` (catching up without bursts
   * beyond `maxInFlight` outstanding answers). `body(i)` builds each one. Resolves with answer times.
   */
  const paced = (count, intervalMs, body, options) =>
    sendPaced(count, intervalMs, (i) => post('/api/v1/events', body(i)).then((a) => ({ ...a, ok: a.status === 202 })), options);

  /** One event per POST, `inFlight` at a time, in order of sending; resolves with answer times. */
  const publishMany = (events, { inFlight = 4 } = {}) => eachInFlight(events, inFlight, publishOk);

  /** One event in one POST: {status, ms, ok}. */
  async function publishOne(event) {
    const answer = await post('/api/v1/events', event);
    return { ...answer, ok: answer.status === 202 };
  }

  const close = () => {
    agent.destroy();
    if (leanPoster) leanPoster.close();
  };
  return { kind: 'fanout', post, publishOk, publishAll, publishMany, publishOne, paced, answers, close };
}

/**
 * The same interface for Nchan: every event is its own `POST /pub/<tenant>.<kind>.<id>` (nchan has no
 * batch API), its body the event's JSON with what fanout's publisher adds to a frame: `seq` (numbered
 * here, per channel, in the order the requests are sent) and `publishedAt` (the time the request is
 * sent). The subscribers read their latency and order from these. A batch given to publishOk or
 * publishAll is sent as one POST per event, `inFlight` at a time. Nchan answers 201 (the channel
 * has subscribers) or 202 (it has none); both count as stored. Its POSTs go through the lean client
 * (20,000 of them in B2, where fanout sends 200): the load generator's cost, not the server's.
 */
function createNchanClient(baseUrl, { connections = 8, lean = true } = {}) {
  const base = createClient(baseUrl, { connections, lean });
  const seqs = new Map();
  const channelPath = (event) => `/pub/${encodeURIComponent(`${event.tenant}.${event.subject.kind}.${event.subject.id}`)}`;

  /** The body as sent: numbered and stamped now, so call it just before sending. */
  function stamp(event) {
    const channel = channelPath(event);
    const seq = (seqs.get(channel) || 0) + 1;
    seqs.set(channel, seq);
    return { path: channel, body: JSON.stringify({ ...event, seq, publishedAt: new Date().toISOString() }) };
  }

  async function publishOne(event) {
    const { path, body } = stamp(event);
    const answer = await base.post(path, body);
    return { ...answer, ok: answer.status === 201 || answer.status === 202 };
  }

  async function publishSingle(event) {
    const answer = await publishOne(event);
    if (!answer.ok) throw new Error(`nchan publish answered ${answer.status}: ${answer.text.slice(0, 500)}`);
    return answer;
  }

  const publishMany = (events, { inFlight = 4 } = {}) => eachInFlight(events, inFlight, publishSingle);

  /** A batch is sent one event per POST, in order, one at a time (so its events stay in order). */
  async function publishOk(events) {
    const list = Array.isArray(events) ? events : events.events ? events.events : [events];
    let last;
    for (const event of list) last = await publishSingle(event);
    return last;
  }

  async function publishAll(events, { inFlight = 4 } = {}) {
    await publishMany(events, { inFlight });
  }

  /** As createClient's paced: `body(i)` must give one event. */
  const paced = (count, intervalMs, body, options) =>
    sendPaced(
      count,
      intervalMs,
      (i) => {
        const event = body(i);
        if (Array.isArray(event) || event.events) throw new Error('nchan takes one event per request');
        return publishOne(event);
      },
      options,
    );

  return { kind: 'nchan', post: base.post, publishOk, publishAll, publishMany, publishOne, paced, answers: base.answers, close: base.close };
}

module.exports = { createClient, createNchanClient, createLeanPoster, jobStatus, jobProgress, packRunStatus, packRunLog, eventId };
