import { ClientError, ConnectionState, StreamOptions } from './types';

/** A throwing callback of the application must not break the stream: report it, asynchronously. */
export function safely(callback: () => void): void {
  try {
    callback();
  } catch (error) {
    const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
    if (report) report(error);
    else
      setTimeout(() => {
        throw error;
      });
  }
}

/** What every subscription's state has: the connection state (ended is final) and error reports. */
export abstract class StreamState {
  private current: ConnectionState | undefined;
  protected closed = false;

  constructor(private readonly callbacks: Pick<StreamOptions, 'onState' | 'onError'>) {}

  get state(): ConnectionState {
    return this.current ?? 'connecting';
  }

  /** The id of the last event applied: a resume continues after it. */
  abstract get lastEventId(): string | undefined;

  /** Nothing more can come (a refusal is then the end, not a failure). */
  abstract allEnded(): boolean;

  /** Moves to `state`; false when that changed nothing (already there, ended, or closed). */
  setState(state: ConnectionState): boolean {
    if (this.closed || this.current === 'ended' || this.current === state) return false;
    this.current = state;
    safely(() => this.callbacks.onState(state));
    return true;
  }

  /** Reports `error`; false when closed. */
  error(error: ClientError): boolean {
    if (this.closed) return false;
    const { onError } = this.callbacks;
    if (onError) safely(() => onError(error));
    return true;
  }

  /** No callback after this (the application unsubscribed). */
  close(): void {
    this.closed = true;
  }
}
