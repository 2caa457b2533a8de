import { ControlFrame, InvalidFrame } from './frames';
import { refusalStatus } from './refusal-status';
import { StreamState } from './stream-state';
import { StreamQuery } from './subjects';
import { DEFAULT_RECONNECT_DELAY_MS, EventSourceConstructor, EventSourceInitLike, EventSourceLike, StreamOptions } from './types';

const CONNECTING = 0;
const CLOSED = 2;
const MAX_RECONNECT_DELAY_MS = 30_000;
/** Statuses that will not get better by asking again (401/403 do, once, with a new token). */
const FATAL_STATUSES = new Set([400, 401, 403, 404, 405, 410]);
const MAX_AUTH_RETRIES = 2;

/** Where a kind of stream is and how its frames read (a stream of subjects, or the tenant's activity). */
export interface StreamRoute<F> {
  /** The `event:` names to listen for. */
  readonly frameNames: readonly string[];
  url(query: StreamQuery): string;
  /** One frame, validated with the contract's schemas; throws InvalidFrame. */
  parse(name: string, data: string, lastEventId: string): F | ControlFrame;
}

/** The subscription's state a connection feeds. */
export interface ConnectionTarget<F> extends StreamState {
  apply(frame: F): void;
}

export type ConnectionOptions = Pick<StreamOptions, 'token' | 'getToken' | 'tenant' | 'withCredentials' | 'reconnectDelayMs'>;

/** The EventSource to use: the one given, else the platform's. */
export function eventSourceOf(options: Pick<StreamOptions, 'EventSource'>, call: string): EventSourceConstructor {
  const EventSourceImpl = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  if (!EventSourceImpl) {
    throw new TypeError(`@fanout/client: no EventSource here; in Node pass one: ${call}({ EventSource, … }) with import { EventSource } from 'eventsource'`);
  }
  return EventSourceImpl;
}

/**
 * The one connection of a subscription: an EventSource, which reconnects by itself with
 * Last-Event-ID after a dropped connection or an `end` the client should resume after. When it
 * gives up (an answer other than 200, whose status one fetch finds out if the EventSource does not
 * tell it), or the token expired, the connection opens a new one from the last event applied
 * (`?lastEventId=`), with a fresh token and backing off while the gateway refuses. `end
 * {completed}`, or a refusal once every subject has ended (204), closes it for good.
 */
export class Connection<F> {
  private source: EventSourceLike | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private probe: AbortController | undefined;
  private closed = false;
  private failures = 0;
  private authRetries = 0;
  private token: string | undefined;
  private readonly init: EventSourceInitLike;

  constructor(
    private readonly route: StreamRoute<F>,
    private readonly state: ConnectionTarget<F>,
    private readonly options: ConnectionOptions,
    private readonly EventSourceImpl: EventSourceConstructor,
  ) {
    this.token = options.token;
    this.init = {};
    if (options.withCredentials) this.init.withCredentials = true;
    const tenant = options.tenant;
    if (tenant !== undefined) {
      this.init.fetch = (url, init: { headers?: Record<string, string> }) =>
        globalThis.fetch(url, { ...init, headers: { ...init?.headers, 'X-Tenant': tenant } });
    }
  }

  start(): void {
    this.state.setState(this.state.lastEventId === undefined && this.state.state === 'connecting' ? 'connecting' : 'reconnecting');
    this.open();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.probe?.abort();
    this.source?.close();
    this.source = undefined;
  }

  private url(): string {
    return this.route.url({ lastEventId: this.state.lastEventId, token: this.token });
  }

  private open(): void {
    if (this.closed) return;
    const source = new this.EventSourceImpl(this.url(), this.init);
    this.source = source;
    source.addEventListener('open', () => {
      if (source !== this.source) return;
      this.failures = 0;
      this.authRetries = 0;
      this.state.setState('live');
    });
    for (const name of this.route.frameNames) {
      source.addEventListener(name, (message: MessageEvent) => {
        if (source === this.source) this.onFrame(name, String(message.data), message.lastEventId);
      });
    }
    source.addEventListener('error', (event: Event & { code?: number; message?: string }) => {
      if (source === this.source) this.onError(source, event);
    });
  }

  private onFrame(name: string, data: string, lastEventId: string): void {
    let frame;
    try {
      frame = this.route.parse(name, data, lastEventId);
    } catch (error) {
      if (!(error instanceof InvalidFrame)) throw error;
      this.state.error({ kind: 'invalid_frame', message: error.message, final: false });
      return;
    }
    if (!isControl(frame)) return this.state.apply(frame);
    if (frame.type === 'heartbeat') return;
    if (frame.reason === 'completed') return this.finish();
    if (frame.reason === 'token_expired') {
      this.dropSource();
      void this.renewTokenAndReopen();
      return;
    }
    // shutdown, idle_timeout: the EventSource reconnects by itself once the response ends.
    this.state.setState('reconnecting');
  }

  private onError(source: EventSourceLike, event: { code?: number; message?: string }): void {
    if (source.readyState === CONNECTING) {
      this.state.setState('reconnecting');
      // Dropped: the EventSource reconnects by itself, with Last-Event-ID, after the gateway's
      // (jittered) retry: hint. Failing again before it opened, it would keep trying at that same
      // pace: the connection backs off with jitter instead.
      if (this.failures === 0) {
        this.failures = 1;
        return;
      }
      this.dropSource();
      this.reopenLater();
      return;
    }
    if (source.readyState !== CLOSED) return;
    this.dropSource();
    if (event.code !== undefined) return this.onRefused(event.code, event.message);
    // A browser's EventSource does not tell why it gave up: ask the same URL once for the status.
    const probe = (this.probe = new AbortController());
    void refusalStatus(this.url(), this.options, probe).then((status) => {
      this.probe = undefined;
      if (!this.closed) this.onRefused(status, event.message);
    });
  }

  /** The EventSource gave up: the gateway answered `status` (undefined: no answer at all). */
  private onRefused(status: number | undefined, detail: string | undefined): void {
    // 204: the gateway has nothing more for us; so does a refusal once every subject has ended.
    if (status === 204 || this.state.allEnded()) return this.finish();
    const message = detail ?? (status ? `the gateway answered ${status}` : 'the stream could not be opened');
    if ((status === 401 || status === 403) && this.options.getToken && this.authRetries < MAX_AUTH_RETRIES) {
      this.authRetries += 1;
      void this.renewTokenAndReopen(status);
      return;
    }
    if (status !== undefined && FATAL_STATUSES.has(status)) {
      this.state.error({ kind: 'connection', message, status, final: true });
      return this.finish();
    }
    // 429, 503 (a draining replica), 5xx, a 200 by the time we asked, or no answer: try again later.
    this.state.error({ kind: 'connection', message, ...(status === undefined ? {} : { status }), final: false });
    this.state.setState('reconnecting');
    this.reopenLater();
  }

  /** Opens a new EventSource after an exponential backoff (doubling per failure in a row, up to 30 s), taken at random in its upper half. */
  private reopenLater(): void {
    const base = this.options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, base * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures += 1;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** @param refusedWith the status the gateway refused the token with; none when it expired. */
  private async renewTokenAndReopen(refusedWith?: 401 | 403): Promise<void> {
    this.state.setState('reconnecting');
    if (!this.options.getToken) {
      this.state.error({ kind: 'token', message: 'the token expired and there is no getToken to renew it', final: true });
      return this.finish();
    }
    try {
      this.token = await this.options.getToken(refusedWith);
    } catch (error) {
      this.state.error({ kind: 'token', message: `getToken failed: ${(error as Error)?.message ?? String(error)}`, final: true });
      return this.finish();
    }
    this.open();
  }

  private dropSource(): void {
    const source = this.source;
    if (!source) return;
    source.close();
    this.source = undefined;
    // Closed from its own error event, an EventSource (the `eventsource` package) may arm its reconnect
    // timer after the handler returns; closing again once it has clears that timer, which would keep a
    // Node process alive for the retry interval after the subscription ended.
    queueMicrotask(() => source.close());
  }

  private finish(): void {
    this.close();
    this.state.setState('ended');
  }
}

function isControl<F>(frame: F | ControlFrame): frame is ControlFrame {
  const type = (frame as { type: string }).type;
  return type === 'end' || type === 'heartbeat';
}
