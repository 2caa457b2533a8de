import { FRAME_NAMES, InvalidFrame, parseFrame } from './frames';
import { streamUrl } from './subjects';
import { SubscriptionState } from './subscription-state';
import { EventSourceConstructor, EventSourceInitLike, EventSourceLike, SubscribeOptions } from './types';

const CONNECTING = 0;
const CLOSED = 2;
const MAX_RECONNECT_DELAY_MS = 30_000;
/** Statuses that will not get better by asking again (401/403 do, once, with a new token). */
const FATAL_STATUSES = new Set([400, 401, 403, 404, 405, 410]);
const MAX_AUTH_RETRIES = 2;

/**
 * The one connection of a subscription: an EventSource, which reconnects by itself with
 * Last-Event-ID after a dropped connection or an `end` the client should resume after. When it
 * gives up (an answer other than 200), or the token expired, the connection opens a new one from
 * the last event applied (`?lastEventId=`), with a fresh token and backing off while the gateway
 * refuses. `end {completed}`, or a refusal once every subject has ended (204), closes it for good.
 */
export class Connection {
  private source: EventSourceLike | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private failures = 0;
  private authRetries = 0;
  private token: string | undefined;
  private readonly init: EventSourceInitLike;

  constructor(
    private readonly state: SubscriptionState,
    private readonly options: SubscribeOptions,
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
    this.source?.close();
    this.source = undefined;
  }

  private open(): void {
    if (this.closed) return;
    const url = streamUrl(this.options.baseUrl, this.state.subjects, { lastEventId: this.state.lastEventId, token: this.token });
    const source = new this.EventSourceImpl(url, this.init);
    this.source = source;
    source.addEventListener('open', () => {
      if (source !== this.source) return;
      this.failures = 0;
      this.authRetries = 0;
      this.state.setState('live');
    });
    for (const name of FRAME_NAMES) {
      source.addEventListener(name, (message: { data: string; lastEventId: string }) => {
        if (source === this.source) this.onFrame(name, message.data, message.lastEventId);
      });
    }
    source.addEventListener('error', (event: { code?: number; message?: string }) => {
      if (source === this.source) this.onError(source, event);
    });
  }

  private onFrame(name: string, data: string, lastEventId: string): void {
    let frame;
    try {
      frame = parseFrame(name, data, lastEventId, this.state.subjects);
    } catch (error) {
      if (!(error instanceof InvalidFrame)) throw error;
      this.state.error({ kind: 'invalid_frame', message: error.message });
      return;
    }
    switch (frame.type) {
      case 'event':
      case 'gap':
        this.state.apply(frame);
        return;
      case 'heartbeat':
        return;
      case 'end':
        if (frame.reason === 'completed') return this.finish();
        if (frame.reason === 'token_expired') {
          this.dropSource();
          void this.renewTokenAndReopen();
          return;
        }
        // shutdown, idle_timeout: the EventSource reconnects by itself once the response ends.
        this.state.setState('reconnecting');
    }
  }

  private onError(source: EventSourceLike, event: { code?: number; message?: string }): void {
    if (source.readyState === CONNECTING) {
      // Dropped: the EventSource reconnects by itself, with Last-Event-ID.
      this.state.setState('reconnecting');
      return;
    }
    if (source.readyState !== CLOSED) return;
    this.dropSource();
    const status = event.code;
    // 204: the gateway has nothing more for us; so does a refusal once every subject has ended.
    if (status === 204 || this.state.allEnded()) return this.finish();
    const message = event.message ?? (status ? `the gateway answered ${status}` : 'the stream could not be opened');
    if ((status === 401 || status === 403) && this.options.getToken && this.authRetries < MAX_AUTH_RETRIES) {
      this.authRetries += 1;
      void this.renewTokenAndReopen();
      return;
    }
    if (status !== undefined && FATAL_STATUSES.has(status)) {
      this.state.error({ kind: 'connection', message, status });
      return this.finish();
    }
    // 429, 503 (a draining replica), 5xx, or a status the EventSource does not tell (browsers): try again later.
    this.state.error({ kind: 'connection', message, ...(status === undefined ? {} : { status }) });
    this.state.setState('reconnecting');
    const base = this.options.reconnectDelayMs ?? 1_000;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, base * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures += 1;
    this.retryTimer = setTimeout(() => {
      // Without a status, an expired token looks like any refusal: renew it before asking again.
      if (status === undefined && this.options.getToken) void this.renewTokenAndReopen();
      else this.open();
    }, delay);
  }

  private async renewTokenAndReopen(): Promise<void> {
    this.state.setState('reconnecting');
    if (!this.options.getToken) {
      this.state.error({ kind: 'token', message: 'the token expired and there is no getToken to renew it' });
      return this.finish();
    }
    try {
      this.token = await this.options.getToken();
    } catch (error) {
      this.state.error({ kind: 'token', message: `getToken failed: ${(error as Error)?.message ?? String(error)}` });
      return this.finish();
    }
    this.open();
  }

  private dropSource(): void {
    this.source?.close();
    this.source = undefined;
  }

  private finish(): void {
    this.close();
    this.state.setState('ended');
  }
}
