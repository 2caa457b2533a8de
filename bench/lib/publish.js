'use strict';
/**
 * The publishing side of the load generator: events, and POST /api/v1/events over keep-alive
 * connections (node:http with a bounded agent), paced or as fast as answers come back.
 */
const http = require('node:http');
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

function createClient(baseUrl, { connections = 8 } = {}) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const answers = { count: 0, byStatus: {} };

  /** POST a JSON body; resolves {status, text, ms}. Rejects after `timeoutMs`. */
  function post(pathname, body, timeoutMs = 30000) {
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
  async function paced(count, intervalMs, body, { maxInFlight = 64, timeoutMs = 120000 } = {}) {
    const times = [];
    const failures = [];
    let inFlight = 0;
    const startAt = Date.now() + 5;
    const deadline = startAt + count * intervalMs + timeoutMs;
    const pending = [];
    for (let i = 0; i < count; i++) {
      const due = startAt + i * intervalMs;
      let wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      while (inFlight >= maxInFlight && Date.now() < deadline) await sleep(1);
      if (Date.now() > deadline) throw new Error(`paced publishing did not finish in time (${i} of ${count} sent)`);
      inFlight++;
      pending.push(
        post('/api/v1/events', body(i)).then(
          (a) => {
            inFlight--;
            times.push(a.ms);
            if (a.status !== 202) failures.push(`${a.status} ${a.text.slice(0, 200)}`);
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

  return { post, publishOk, publishAll, paced, answers, close: () => agent.destroy() };
}

module.exports = { createClient, jobStatus, jobProgress, packRunStatus, packRunLog, eventId };
