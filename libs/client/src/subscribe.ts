import { Connection, eventSourceOf, StreamRoute } from './connection';
import { FRAME_NAMES, parseFrame } from './frames';
import { normalizeSubjects, streamUrl, subjectKey } from './subjects';
import { SharedFrame, SubscriptionState } from './subscription-state';
import { browserTabSharing, shareAcrossTabs } from './tab-sharing';
import { SubscribeOptions } from './types';

const DEFAULT_SHARED_HISTORY = 10_000;

/**
 * Subscribes to one or more subjects of a fanout gateway over a standard EventSource. Every event
 * is validated against the contract and delivered once, in seq order per subject; gaps are
 * reported (the server's `gap` frames, and any skipped seq the client sees itself); the stream
 * resumes after every drop and closes on `end {completed}`. In a browser page the tabs of one
 * origin that subscribe to the same subjects share one connection. Returns the unsubscribe function.
 */
export function subscribe(options: SubscribeOptions): () => void {
  const subjects = normalizeSubjects(options.subjects);
  const EventSourceImpl = eventSourceOf(options, 'subscribe');
  const route: StreamRoute<SharedFrame> = {
    frameNames: FRAME_NAMES,
    url: (query) => streamUrl(options.baseUrl, subjects, query),
    parse: (name, data, lastEventId) => parseFrame(name, data, lastEventId, subjects),
  };
  const state = new SubscriptionState(subjects, options, options.sharedHistoryLimit ?? DEFAULT_SHARED_HISTORY);
  state.setState('connecting');
  const lead = () => {
    const connection = new Connection(route, state, options, EventSourceImpl);
    connection.start();
    return connection;
  };

  const sharing = options.shareAcrossTabs === false ? undefined : browserTabSharing();
  if (!sharing) {
    const connection = lead();
    options.onRole?.('leader');
    return () => {
      connection.close();
      state.close();
    };
  }
  const key = JSON.stringify([options.baseUrl, options.tenant ?? null, subjects.map(subjectKey)]);
  return shareAcrossTabs(key, state, sharing, lead, options.onRole);
}
