import { EventSourceConstructor, EventSourceLike } from '../src/types';

const OPEN = 1;
const CLOSED = 2;

/**
 * An EventSource driven by the test: it records every one the client opens, and the test makes it
 * open, deliver frames, drop (it then reconnects by itself, as a real one does) or give up. Giving
 * up passes no status, as a browser's does.
 */
export class FakeEventSource implements EventSourceLike {
  static opened: FakeEventSource[] = [];
  /** When set, every new one gives up at once (a browser's EventSource facing a non-200 answer). */
  static refuseAll = false;

  readyState = 0;
  closed = false;
  private readonly listeners = new Map<string, ((event: any) => void)[]>();

  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
    if (FakeEventSource.refuseAll) setTimeout(() => this.giveUp());
  }

  static reset(): void {
    FakeEventSource.opened = [];
    FakeEventSource.refuseAll = false;
  }

  static get latest(): FakeEventSource {
    const source = FakeEventSource.opened.at(-1);
    if (!source) throw new Error('no EventSource was opened');
    return source;
  }

  addEventListener(type: string, listener: (event: any) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = CLOSED;
  }

  open(): void {
    this.readyState = OPEN;
    this.emit('open', {});
  }

  frame(name: string, data: unknown, id = ''): void {
    this.emit(name, { data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId: id });
  }

  /** The connection dropped: the EventSource reconnects by itself. */
  drop(): void {
    this.readyState = 0;
    this.emit('error', {});
  }

  /** The EventSource gave up, telling no status. */
  giveUp(): void {
    this.readyState = CLOSED;
    this.emit('error', {});
  }

  private emit(type: string, event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

export const FakeEventSourceClass = FakeEventSource as unknown as EventSourceConstructor;
