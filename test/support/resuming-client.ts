import { readFileSync } from 'node:fs';
import { FanoutProcess } from './fanout-process';
import { SseStream, within } from './sse-client';
import { Kind, PublishResult, Stack, TestEvent, chunk, packRunEvents } from './stack';
import { sleep } from './wait';

/**
 * An SSE subscriber that survives its connections: it remembers every domain event it got, in order,
 * across connections, and resumes with `Last-Event-ID` like an EventSource would. Fault tests use it
 * to prove that a client lost nothing and got nothing twice.
 */
export class ResumingClient {
  /** seq of every domain event received on connections already closed, in arrival order. */
  private readonly closedSeqs: number[] = [];
  private readonly closedEventIds: string[] = [];
  /** The id of the last domain event received (the next connection's Last-Event-ID). */
  lastId: string | undefined;
  current: SseStream | undefined;
  /** One entry per connection: the gateway port, the answer, and how it ended. */
  readonly connections: { port: number; status: number; ending?: string }[] = [];

  constructor(
    private readonly stack: Stack,
    readonly kind: Kind,
    readonly id: string,
    readonly name: string,
  ) {}

  /** Opens a stream on `gateway`, resuming after the last event received. Resolves with its status (200, or 204 when there is nothing left). */
  async connect(gateway: FanoutProcess, timeoutMs = 15_000): Promise<number> {
    if (this.current) throw new Error(`${this.name}: already connected`);
    const s = await this.stack.open(this.kind, this.id, { gateway, lastEventId: this.lastId, timeoutMs });
    this.connections.push({ port: gateway.port, status: s.status });
    if (s.status !== 200) {
      const body = await s.body().catch(() => '');
      this.connections.at(-1)!.ending = `status ${s.status}${body ? `: ${body.slice(0, 200)}` : ''}`;
      return s.status;
    }
    this.current = s;
    return 200;
  }

  /** Events received so far on the open connection plus every closed one. */
  get count(): number {
    return this.closedSeqs.length + (this.current?.events().length ?? 0);
  }

  /** Waits until `total` events were received in all (the open connection must deliver the rest). */
  async waitForTotal(total: number, timeoutMs: number): Promise<void> {
    const s = this.requireCurrent();
    const needed = total - this.closedSeqs.length;
    if (needed > 0) await s.waitForEvents(needed, timeoutMs);
  }

  /** Closes the open connection (as a network drop would) and keeps what it delivered. */
  drop(ending = 'dropped by the test'): void {
    const s = this.requireCurrent();
    s.close();
    this.settle(ending);
  }

  /**
   * Records the end of the open connection once the server ended it: resolves with the `end` reason
   * (undefined when the connection was cut without one).
   */
  async waitForServerEnd(timeoutMs: number): Promise<string | undefined> {
    const s = this.requireCurrent();
    await within(`${this.name}: the server to end the stream`, s.ended.catch(() => undefined), timeoutMs);
    const end = s.named('end')[0];
    const reason = end ? (JSON.parse(end.data) as { reason: string }).reason : undefined;
    this.settle(reason ? `end ${reason}` : 'cut by the server');
    return reason;
  }

  /** Forgets the open connection after it ended, keeping its events. */
  settle(ending: string): void {
    const s = this.current;
    if (!s) return;
    this.current = undefined;
    this.connections.at(-1)!.ending = ending;
    for (const frame of s.events()) {
      const data = JSON.parse(frame.data) as { seq: number; eventId: string };
      this.closedSeqs.push(data.seq);
      this.closedEventIds.push(data.eventId);
      this.lastId = frame.id;
    }
  }

  /** seq of every event received so far, in arrival order, across connections. */
  seqs(): number[] {
    const open = this.current?.eventData<{ seq: number }>().map((e) => e.seq) ?? [];
    return [...this.closedSeqs, ...open];
  }

  eventIds(): string[] {
    const open = this.current?.eventData<{ eventId: string }>().map((e) => e.eventId) ?? [];
    return [...this.closedEventIds, ...open];
  }

  close(): void {
    if (this.current) this.drop('closed at the end of the test');
  }

  private requireCurrent(): SseStream {
    if (!this.current) throw new Error(`${this.name}: not connected`);
    return this.current;
  }
}

/** Re-exported for the tests that already import it from here. */
export { expectContiguous } from './frames';

/**
 * A pack run of exactly `total` events (total ≥ 6): pending, running, step 0 running, log lines,
 * step 0 succeeded and, unless `terminal` is false, succeeded (the last event is then terminal).
 */
export function packRunPlan(tenant: string, total: number, options: { terminal?: boolean; message?: (lineNo: number) => string } = {}): { id: string; events: TestEvent[] } {
  const pr = packRunEvents(tenant);
  const terminal = options.terminal ?? true;
  const message = options.message ?? ((lineNo: number) => `line ${lineNo} of ${pr.id}`);
  const head = [pr.status('pending', { steps: [{ index: 0, name: 'build' }] }), pr.status('running'), pr.step(0, 'build', 'running')];
  const tail = terminal ? [pr.step(0, 'build', 'succeeded', { exitCode: 0 }), pr.status('succeeded')] : [];
  const logs = Array.from({ length: total - head.length - tail.length }, (_, i) => pr.log(0, i + 1, i % 4 === 0 ? 'stderr' : 'stdout', message(i + 1)));
  return { id: pr.id, events: [...head, ...logs, ...tail] };
}

export interface RetryLog {
  /** 503 answers received (each followed by a retry with the same eventIds). */
  unavailable: number;
  /** Requests that failed without an answer (each retried). */
  networkErrors: number;
}

/**
 * POSTs the events (one batch) until the publisher answers 202, retrying a 503 or a failed request
 * with the very same body (same eventIds), as the contract says a producer may. Any other answer throws.
 */
export async function publishRetrying(stack: Stack, events: TestEvent[], log: RetryLog, deadline: number): Promise<PublishResult[]> {
  for (;;) {
    let answer;
    try {
      answer = await stack.publish(events.length === 1 ? events[0] : events);
    } catch {
      log.networkErrors += 1;
      if (Date.now() > deadline) throw new Error('publishing: no 202 before the hang guard');
      await sleep(100);
      continue;
    }
    if (answer.status === 202) return answer.json.results;
    if (answer.status !== 503) throw new Error(`publish answered ${answer.status}: ${answer.text.slice(0, 500)}`);
    if (!/^application\/problem\+json\b/.test(answer.headers.get('content-type') ?? '')) throw new Error(`a 503 that is not problem+json: ${answer.text.slice(0, 300)}`);
    log.unavailable += 1;
    if (Date.now() > deadline) throw new Error(`publishing: still 503 at the hang guard: ${answer.text.slice(0, 300)}`);
    await sleep(100);
  }
}

/** Publishes a subject's events in order, `batchSize` per request, pausing `pauseMs` between requests; retries 503s. */
export async function publishPaced(
  stack: Stack,
  events: TestEvent[],
  options: { batchSize: number; pauseMs: number; log?: RetryLog; deadline?: number; onBatch?: (results: PublishResult[]) => void },
): Promise<PublishResult[]> {
  const log = options.log ?? { unavailable: 0, networkErrors: 0 };
  const deadline = options.deadline ?? Date.now() + 120_000;
  const all: PublishResult[] = [];
  for (const batch of chunk(events, options.batchSize)) {
    const results = await publishRetrying(stack, batch, log, deadline);
    all.push(...results);
    options.onBatch?.(results);
    if (options.pauseMs > 0) await sleep(options.pauseMs);
  }
  return all;
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** A deterministic pseudo-random generator (mulberry32), so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
