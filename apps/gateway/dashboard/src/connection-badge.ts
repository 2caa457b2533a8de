import { ClientError, ConnectionState, StreamOptions } from '@fanout/client';
import { element } from './dom';
import { pushRecent } from './recent-list';

/** Whose connection the badge shows: the open subject's stream, else the tenant's activity. */
export type Owner = 'activity' | 'subject';
export type Shown = ConnectionState | 'idle' | 'error';

const TEXT: Record<Shown, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  ended: 'Ended',
  error: 'Disconnected',
};
const AUTH = 'auth';
const STATES_KEPT = 1_000;

/** The visible connection state (a polite live region): live, reconnecting, ended, or why it stopped. */
export class ConnectionBadge {
  private readonly box = element('connection', HTMLDivElement);
  private readonly text = element('connection-text', HTMLSpanElement);
  private owner: Owner = 'activity';
  private readonly last = new Map<Owner, { state: Shown; detail: string }>();

  /** `history`: the last STATES_KEPT states shown, in order (the page's debug hooks). */
  constructor(private readonly history: Shown[]) {}

  show(owner: Owner, state: Shown, detail = ''): void {
    this.last.set(owner, { state, detail });
    if (owner === this.owner) this.render(state, detail);
  }

  tokenNeeded(owner: Owner): void {
    this.show(owner, 'error', AUTH);
  }

  setOwner(owner: Owner): void {
    this.owner = owner;
    const { state, detail } = this.last.get(owner) ?? { state: 'idle', detail: '' };
    this.render(state, detail);
  }

  /** A client subscription's onState and onError, shown as `owner`'s; `onRefused` hears of the error that ended it. */
  follow(owner: Owner, onRefused: (error: ClientError) => void): Pick<StreamOptions, 'onState' | 'onError'> {
    let final: ClientError | undefined;
    return {
      onState: (state) => {
        if (state !== 'ended') return this.show(owner, state);
        if (!final) return this.show(owner, 'ended', 'completed');
        this.show(owner, 'error', refusedToken(final) ? AUTH : final.status === 404 ? 'not found' : final.message);
        onRefused(final);
      },
      onError: (error) => {
        if (error.final) final = error;
        else console.warn(`fanout: ${error.message}`);
      },
    };
  }

  private render(state: Shown, detail: string): void {
    if (this.box.dataset['state'] === state && this.box.dataset['detail'] === detail) return;
    this.box.dataset['state'] = state;
    this.box.dataset['detail'] = detail;
    let text = TEXT[state];
    if (state === 'ended' && detail) text = `Ended (${detail})`;
    if (state === 'error') text = detail === AUTH ? 'Token needed' : detail ? `Disconnected: ${detail}` : text;
    this.text.textContent = text;
    pushRecent(this.history, state, STATES_KEPT);
  }
}

export const refusedToken = (error: { status?: number }): boolean => error.status === 401 || error.status === 403;
