'use strict';
/**
 * A load-generator process: holds many SSE connections over raw TCP sockets (no HTTP client
 * library on the hot path) and counts what arrives.
 *
 * Every connection counts its bytes, its frames (occurrences of "\n\n") and its domain frames
 * (occurrences of "\nid: ") with Buffer.indexOf, carrying the last bytes of a read over to the next
 * so a separator split across two reads still counts once. Only sampled connections decode the
 * stream (chunked transfer encoding too, for the baseline), parse each frame's JSON, record the
 * latency from `publishedAt` to receipt and check that `seq` is contiguous per subject. A stream
 * opened with `reorder` (Nchan's: its `seq` is numbered by the load generator as it sends the
 * requests, which may reach nginx in another order) counts a seq that arrives after a higher one as
 * reordered, not as a gap and a duplicate: a gap is then a seq below the highest received that has
 * not arrived (yet).
 *
 * Driven by the parent over IPC: {type, id, ...} in, {type: 'reply', id, ...} out.
 */
const net = require('node:net');
const { StringDecoder } = require('node:string_decoder');
const zlib = require('node:zlib');

const ID_PATTERN = Buffer.from('\nid: ');
const FRAME_END = Buffer.from('\n\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_LATENCIES = 2_000_000;
const MAX_HEADER_BYTES = 64 * 1024;
const READ_BUFFER = Buffer.alloc(256 * 1024);

/** @type {Conn[]} */
let conns = [];
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;
let latencyDropped = 0;
/** Whether sampled connections record latencies now (off while a herd replays old events). */
let recording = true;

function pushLatency(ms) {
  if (latencyCount >= MAX_LATENCIES) {
    latencyDropped++;
    return;
  }
  if (latencyCount === latencies.length) {
    const grown = new Float64Array(Math.min(MAX_LATENCIES, latencies.length * 2));
    grown.set(latencies);
    latencies = grown;
  }
  latencies[latencyCount++] = ms;
}

/**
 * Occurrences of `pattern` in `buf`, plus those that start in the previous reads' last bytes
 * (`tail`, `tailLen` of them, oldest first) and end in `buf`.
 */
function countWithCarry(buf, pattern, tail, tailLen) {
  let n = 0;
  let at = buf.indexOf(pattern);
  while (at !== -1) {
    n++;
    at = buf.indexOf(pattern, at + pattern.length);
  }
  // A match taking the last k bytes before this read and the first (pattern.length - k) of it.
  for (let k = 1; k < pattern.length && k <= tailLen; k++) {
    const rest = pattern.length - k;
    if (rest > buf.length) continue; // spans three reads: see the tiny-read case in Conn.count
    let ok = true;
    for (let j = 0; j < k && ok; j++) ok = tail[tailLen - k + j] === pattern[j];
    for (let j = 0; j < rest && ok; j++) ok = buf[j] === pattern[k + j];
    if (ok) n++;
  }
  return n;
}

const TAIL = ID_PATTERN.length - 1;

class Conn {
  constructor(spec, index) {
    this.index = index;
    this.key = spec.key;
    this.host = spec.host;
    this.port = spec.port;
    this.path = spec.path;
    this.headers = spec.headers || {};
    this.sample = !!spec.sample;
    this.target = spec.target ?? 0;
    this.startSeq = spec.startSeq ?? 0;
    this.reorder = !!spec.reorder;
    this.status = 0;
    this.ids = 0;
    this.frames = 0;
    this.bytes = 0;
    this.headerBuf = null;
    this.headerDone = false;
    this.chunked = false;
    /** A gzip answer's streaming gunzip: frames are counted in what it gives out; `bytes` stays what came over the wire. */
    this.gunzip = null;
    // The last bytes read so far (a "\n" stands for the end of the response head).
    this.tail = Buffer.alloc(TAIL);
    this.tail[0] = 0x0a;
    this.tailLen = 1;
    this.closed = false;
    this.closedByUs = false;
    this.error = null;
    this.connectedAt = 0;
    this.headersAt = 0;
    this.doneAt = 0;
    // sampled connections only
    this.decoder = null;
    this.pending = '';
    this.lastSeq = new Map();
    this.seqGaps = 0;
    this.seqDups = 0;
    /** reorder streams: subject -> {next: the lowest seq not received, ahead: the seqs received above it} */
    this.order = null;
    this.reordered = 0;
    this.controlEvents = {};
    this.lastId = null;
    this.chunkState = null;
    this.socket = null;
  }

  open(onSettled) {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        onSettled();
      }
    };
    this.settle = settle;
    // onread: the socket reads into one buffer shared by every connection of this process and calls
    // back synchronously, so no Buffer is allocated per read and no stream machinery runs.
    const socket = net.connect({ host: this.host, port: this.port, onread: { buffer: READ_BUFFER, callback: (nread, buf) => this.onData(buf.subarray(0, nread)) } });
    this.socket = socket;
    socket.on('connect', () => {
      this.connectedAt = Date.now();
      let head = `GET ${this.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nAccept: text/event-stream\r\n`;
      for (const [name, value] of Object.entries(this.headers)) head += `${name}: ${value}\r\n`;
      socket.write(`${head}\r\n`);
    });
    socket.on('error', (error) => {
      this.error = error.code || error.message;
    });
    socket.on('close', () => {
      if (this.gunzip) this.gunzip.end();
      this.closed = true;
      this.closedAt = Date.now();
      settle();
    });
  }

  onData(buf) {
    const now = Date.now();
    if (!this.headerDone) {
      this.headerBuf = this.headerBuf ? Buffer.concat([this.headerBuf, buf]) : Buffer.from(buf);
      const end = this.headerBuf.indexOf(HEADER_END);
      if (end < 0) {
        if (this.headerBuf.length > MAX_HEADER_BYTES) this.socket.destroy();
        return;
      }
      const head = this.headerBuf.toString('latin1', 0, end);
      this.status = Number(head.slice(9, 12));
      this.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      if (/\r\ncontent-encoding:\s*gzip/i.test(head)) {
        this.gunzip = zlib.createGunzip();
        this.gunzip.on('data', (decoded) => this.onDecoded(decoded, Date.now()));
        this.gunzip.on('error', (error) => {
          if (!this.closedByUs) this.error = `gunzip: ${error.message}`;
        });
      }
      this.headersAt = now;
      this.headerDone = true;
      buf = this.headerBuf.subarray(end + HEADER_END.length);
      this.headerBuf = null;
      if (this.status !== 200) {
        this.socket.destroy();
        this.settle();
        return;
      }
      this.settle();
      if (buf.length === 0) return;
    }
    this.bytes += buf.length;
    // The read buffer is shared by every connection: the gunzip gets a copy.
    if (this.gunzip) this.gunzip.write(Buffer.from(buf));
    else this.onDecoded(buf, now);
  }

  onDecoded(buf, now) {
    if (this.sample) this.parse(buf, now);
    else this.count(buf);
    if (this.target > 0 && this.doneAt === 0 && this.ids >= this.target) this.doneAt = now;
  }

  /** Every other connection: count separators with Buffer.indexOf, carrying the last bytes over. */
  count(buf) {
    if (buf.length < TAIL) {
      // A tiny read: count over (tail + read), keeping the matches that end in the new bytes.
      const joined = Buffer.concat([this.tail.subarray(0, this.tailLen), buf]);
      for (const [pattern, field] of [[ID_PATTERN, 'ids'], [FRAME_END, 'frames']]) {
        let at = joined.indexOf(pattern);
        while (at !== -1) {
          if (at + pattern.length > this.tailLen) this[field]++;
          at = joined.indexOf(pattern, at + pattern.length);
        }
      }
      joined.copy(this.tail, 0, Math.max(0, joined.length - TAIL));
      this.tailLen = Math.min(TAIL, joined.length);
      return;
    }
    this.ids += countWithCarry(buf, ID_PATTERN, this.tail, this.tailLen);
    this.frames += countWithCarry(buf, FRAME_END, this.tail, this.tailLen);
    buf.copy(this.tail, 0, buf.length - TAIL);
    this.tailLen = TAIL;
  }

  /** Sampled connections: decode (de-chunk), split frames, parse JSON, check seq, record latency. */
  parse(buf, now) {
    if (!this.decoder) this.decoder = new StringDecoder('utf8');
    let text = '';
    if (this.chunked) {
      for (const piece of this.dechunk(buf)) text += this.decoder.write(piece);
    } else text = this.decoder.write(buf);
    this.pending += text;
    let from = 0;
    for (;;) {
      const end = this.pending.indexOf('\n\n', from);
      if (end < 0) break;
      this.onFrame(this.pending.slice(from, end), now);
      from = end + 2;
    }
    this.pending = this.pending.slice(from);
  }

  *dechunk(buf) {
    const s = this.chunkState || (this.chunkState = { mode: 'size', size: 0, sizeText: '', crlf: 0 });
    let i = 0;
    while (i < buf.length) {
      if (s.mode === 'size') {
        const c = buf[i++];
        if (c === 0x0a) {
          s.size = parseInt(s.sizeText, 16);
          s.sizeText = '';
          s.mode = s.size > 0 ? 'data' : 'trailer';
        } else if (c !== 0x0d) s.sizeText += String.fromCharCode(c);
      } else if (s.mode === 'data') {
        const take = Math.min(s.size, buf.length - i);
        yield buf.subarray(i, i + take);
        i += take;
        s.size -= take;
        if (s.size === 0) {
          s.mode = 'crlf';
          s.crlf = 2;
        }
      } else if (s.mode === 'crlf') {
        i++;
        if (--s.crlf === 0) s.mode = 'size';
      } else {
        i = buf.length; // last chunk / trailers: nothing more to read
      }
    }
  }

  onFrame(frame, now) {
    if (frame.length === 0) return;
    this.frames++;
    let id = null;
    let event = null;
    let data = null;
    let at = 0;
    while (at <= frame.length) {
      let nl = frame.indexOf('\n', at);
      if (nl < 0) nl = frame.length;
      const line = frame.slice(at, nl);
      if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
      at = nl + 1;
    }
    if (id === null) {
      if (event) this.controlEvents[event] = (this.controlEvents[event] || 0) + 1;
      return;
    }
    this.ids++;
    this.lastId = id;
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.seqGaps++;
      return;
    }
    const subject = parsed.subject ? `${parsed.subject.kind}:${parsed.subject.id}` : '';
    if (this.reorder) this.checkUnordered(subject, parsed.seq);
    else this.checkOrdered(subject, parsed.seq);
    if (recording && parsed.publishedAt) pushLatency(now - Date.parse(parsed.publishedAt));
  }

  checkOrdered(subject, seq) {
    const last = this.lastSeq.has(subject) ? this.lastSeq.get(subject) : this.startSeq;
    if (seq === last + 1) this.lastSeq.set(subject, seq);
    else if (seq <= last) this.seqDups++;
    else {
      this.seqGaps++;
      this.lastSeq.set(subject, seq);
    }
  }

  /**
   * Every seq once, in any order: early ones wait in `ahead` until the ones before them arrive. A seq
   * that arrives after a higher one counts as reordered.
   */
  checkUnordered(subject, seq) {
    if (!this.order) this.order = new Map();
    let state = this.order.get(subject);
    if (!state) this.order.set(subject, (state = { next: this.startSeq + 1, ahead: new Set(), max: this.startSeq }));
    if (!Number.isInteger(seq)) {
      this.seqGaps++;
      return;
    }
    if (seq < state.next || state.ahead.has(seq)) {
      this.seqDups++;
      return;
    }
    if (seq < state.max) this.reordered++;
    else state.max = seq;
    if (seq === state.next) {
      state.next++;
      while (state.ahead.delete(state.next)) state.next++;
    } else state.ahead.add(seq);
  }

  /** Sampled gaps: counted as they happen on ordered streams; on reorder streams, the seqs still missing below the highest received. */
  gaps() {
    if (!this.order) return this.seqGaps;
    let holes = this.seqGaps;
    for (const { next, ahead } of this.order.values()) {
      if (ahead.size === 0) continue;
      let max = 0;
      for (const seq of ahead) if (seq > max) max = seq;
      holes += max - next + 1 - ahead.size;
    }
    return holes;
  }

  close() {
    this.closedByUs = true;
    if (this.socket) this.socket.destroy();
  }
}

/** Opens `specs` with at most `concurrency` connections waiting for their response headers at once. */
function openAll(specs, concurrency) {
  return new Promise((resolve) => {
    const created = specs.map((spec, i) => new Conn(spec, conns.length + i));
    conns.push(...created);
    if (created.length === 0) {
      resolve(created);
      return;
    }
    let next = 0;
    let settled = 0;
    const limit = concurrency > 0 ? concurrency : created.length;
    const launch = () => {
      while (next < created.length && next - settled < limit) {
        const conn = created[next++];
        conn.open(() => {
          settled++;
          if (settled === created.length) resolve(created);
          else launch();
        });
      }
    };
    launch();
  });
}

function stats(detail) {
  const out = {
    conns: conns.length,
    ids: 0,
    frames: 0,
    bytes: 0,
    ok: 0,
    ready: 0,
    reached: 0,
    closed: 0,
    closedUnexpectedly: 0,
    statuses: {},
    errors: {},
    loss: 0,
    extra: 0,
    maxDoneAt: 0,
    minDoneAt: 0,
    maxHeadersAt: 0,
    seqGaps: 0,
    seqDups: 0,
    reordered: 0,
    sampled: 0,
    controlEvents: {},
    lastId: null,
  };
  for (const c of conns) {
    out.ids += c.ids;
    out.frames += c.frames;
    out.bytes += c.bytes;
    if (c.status) out.statuses[c.status] = (out.statuses[c.status] || 0) + 1;
    if (c.error) out.errors[c.error] = (out.errors[c.error] || 0) + 1;
    if (c.status === 200) out.ok++;
    if (c.status === 200 && c.frames >= 1 && c.ids >= c.target) out.ready++;
    if (c.ids >= c.target) out.reached++;
    if (c.closed) out.closed++;
    if (c.closed && !c.closedByUs) out.closedUnexpectedly++;
    if (c.ids < c.target) out.loss += c.target - c.ids;
    if (c.target > 0 && c.ids > c.target) out.extra += c.ids - c.target;
    if (c.doneAt > out.maxDoneAt) out.maxDoneAt = c.doneAt;
    if (c.doneAt && (!out.minDoneAt || c.doneAt < out.minDoneAt)) out.minDoneAt = c.doneAt;
    if (c.headersAt > out.maxHeadersAt) out.maxHeadersAt = c.headersAt;
    if (c.sample) {
      out.sampled++;
      out.seqGaps += c.gaps();
      out.seqDups += c.seqDups;
      out.reordered += c.reordered;
      for (const [k, v] of Object.entries(c.controlEvents)) out.controlEvents[k] = (out.controlEvents[k] || 0) + v;
      if (c.lastId && !out.lastId) out.lastId = c.lastId;
    }
  }
  if (detail) out.idsPerConn = conns.map((c) => c.ids);
  return out;
}

const handlers = {
  async open(msg) {
    const created = await openAll(msg.conns, msg.concurrency || 0);
    return { opened: created.length };
  },
  expect(msg) {
    for (const c of conns) {
      c.target = msg.all;
      c.doneAt = c.ids >= c.target ? Date.now() : 0;
    }
    return {};
  },
  stats(msg) {
    return stats(!!msg.detail);
  },
  resetLatency(msg) {
    latencyCount = 0;
    latencyDropped = 0;
    recording = msg.record !== false;
    return {};
  },
  latencies() {
    // Sent as a plain array: at most a few hundred thousand numbers.
    return { latencies: Array.from(latencies.subarray(0, latencyCount)), dropped: latencyDropped };
  },
  async close() {
    const open = conns.filter((c) => !c.closed);
    for (const c of open) c.close();
    const deadline = Date.now() + 5000;
    while (open.some((c) => !c.closed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    conns = [];
    return { closed: open.length };
  },
  exit() {
    setImmediate(() => process.exit(0));
    return {};
  },
};

process.on('message', async (msg) => {
  const handler = handlers[msg.type];
  let reply;
  try {
    reply = handler ? await handler(msg) : { error: `unknown command ${msg.type}` };
  } catch (error) {
    reply = { error: error.stack || String(error) };
  }
  if (process.connected) process.send({ type: 'reply', id: msg.id, ...reply });
});

// The parent is gone: do not linger.
process.on('disconnect', () => process.exit(0));
