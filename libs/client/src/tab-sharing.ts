import { SharedFrame, SubscriptionState } from './subscription-state';
import { ClientError, ConnectionState } from './types';

/** The parts of the Web Locks API and BroadcastChannel the sharing uses. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>;
}
export interface BroadcastChannelLike {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}
export type BroadcastChannelConstructor = new (name: string) => BroadcastChannelLike;

export interface TabSharingEnvironment {
  locks: LockManagerLike;
  BroadcastChannel: BroadcastChannelConstructor;
}

/** The browser's, when this is a page that has both (not in Node, not in a worker). */
export function browserTabSharing(): TabSharingEnvironment | undefined {
  const g = globalThis as { document?: unknown; navigator?: { locks?: LockManagerLike }; BroadcastChannel?: BroadcastChannelConstructor };
  const locks = g.navigator?.locks;
  if (g.document === undefined || !locks || typeof g.BroadcastChannel !== 'function') return undefined;
  return { locks, BroadcastChannel: g.BroadcastChannel };
}

type Message =
  /** A tab that wants to follow asks the leader for what it has. */
  | { t: 'hello'; from: string }
  /** A tab took the lock: tabs still waiting for a sync ask again. */
  | { t: 'leader'; from: string }
  /** The leader's answer to one hello: every frame it holds and the connection state. */
  | { t: 'sync'; to: string; frames: SharedFrame[]; state: ConnectionState }
  | { t: 'frame'; frame: SharedFrame }
  | { t: 'state'; state: ConnectionState }
  | { t: 'error'; error: ClientError };

type Role = 'waiting' | 'follower' | 'leader';

/**
 * One connection for all the tabs of an origin that subscribe to the same subjects. The tab that
 * holds the Web Lock named after the subscription is the leader: it opens the stream and relays
 * every frame and state change on a BroadcastChannel of the same name. The others follow: they
 * apply what the leader relays (after a sync of everything it held when they joined), so each tab
 * keeps its own seq per subject and the id of the last event. A browser releases a lock when its
 * tab closes; the next tab in the lock's queue then becomes leader and opens the stream from the
 * last event id it was relayed, so nothing is missed and nothing repeats.
 */
export function shareAcrossTabs(
  key: string,
  state: SubscriptionState,
  environment: TabSharingEnvironment,
  lead: () => { close(): void },
  onRole: ((role: 'leader' | 'follower') => void) | undefined,
): () => void {
  const name = `fanout-client:${key}`;
  const tabId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const channel = new environment.BroadcastChannel(name);
  const abort = new AbortController();
  let role: Role = 'waiting';
  let waiting: SharedFrame[] = [];
  let connection: { close(): void } | undefined;
  let release: (() => void) | undefined;
  let stopped = false;

  const post = (message: Message) => {
    if (!stopped) channel.postMessage(message);
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    abort.abort();
    connection?.close();
    release?.();
    state.close();
    channel.close();
  };

  state.observer = {
    frame: (frame) => role === 'leader' && post({ t: 'frame', frame }),
    error: (error) => role === 'leader' && post({ t: 'error', error }),
    state: (s) => {
      if (role !== 'leader') return;
      post({ t: 'state', state: s });
      // The stream is over; the lock is kept, so that no other tab opens it again: tabs that
      // join get the whole story and `ended` in their sync.
      if (s === 'ended') connection?.close();
    },
  };

  channel.onmessage = ({ data }) => {
    const message = data as Message;
    if (stopped) return;
    switch (message.t) {
      case 'hello':
        if (role === 'leader') post({ t: 'sync', to: message.from, frames: state.snapshot().frames, state: state.state });
        return;
      case 'leader':
        if (role === 'waiting') post({ t: 'hello', from: tabId });
        return;
      case 'sync':
        if (message.to !== tabId || role !== 'waiting') return;
        role = 'follower';
        onRole?.('follower');
        // Frames relayed while the sync was on its way are in it or after it: the seqs sort it out.
        for (const frame of message.frames) state.apply(frame);
        for (const frame of waiting) state.apply(frame);
        waiting = [];
        state.setState(message.state);
        if (message.state === 'ended') stop();
        return;
      case 'frame':
        if (role === 'waiting') waiting.push(message.frame);
        else if (role === 'follower') state.apply(message.frame);
        return;
      case 'state':
        if (role !== 'follower') return;
        state.setState(message.state);
        if (message.state === 'ended') stop();
        return;
      case 'error':
        if (role === 'follower') state.error(message.error);
        return;
    }
  };

  environment.locks
    .request(name, { signal: abort.signal }, () => {
      if (stopped || state.state === 'ended') return Promise.resolve();
      return new Promise<void>((resolve) => {
        release = resolve;
        // A tab that never got a sync starts from nothing: the gateway replays everything.
        waiting = [];
        role = 'leader';
        onRole?.('leader');
        post({ t: 'leader', from: tabId });
        connection = lead();
      });
    })
    .catch(() => undefined); // aborted: this tab unsubscribed while waiting for the lock
  post({ t: 'hello', from: tabId });
  return stop;
}
