import { ActivityState } from './activity-state';
import { Connection, eventSourceOf } from './connection';
import { ACTIVITY_FRAME_NAMES, ActivityFrame, ControlFrame, parseActivityFrame } from './frames';
import { activityUrl } from './subjects';
import { ActivityOptions } from './types';

/**
 * Subscribes to the tenant's activity (`GET /api/v1/stream/subjects`): a `subject.updated` for
 * every status change of any of its subjects, validated against the contract. With the same
 * connection as subscribe(): connecting → live ⇄ reconnecting, resumed after the last id, the token
 * renewed with getToken; it ends only on a refusal that asking again will not fix (400, 401/403
 * without a new token) or when unsubscribed, since the activity never completes. One connection
 * per call (it is not shared across tabs). Returns the unsubscribe function.
 */
export function subscribeActivity(options: ActivityOptions): () => void {
  const EventSourceImpl = eventSourceOf(options, 'subscribeActivity');
  const state = new ActivityState(options);
  state.setState('connecting');
  const connection = new Connection<Exclude<ActivityFrame, ControlFrame>>(
    { frameNames: ACTIVITY_FRAME_NAMES, url: (query) => activityUrl(options.baseUrl, query), parse: parseActivityFrame },
    state,
    options,
    EventSourceImpl,
  );
  connection.start();
  return () => {
    connection.close();
    state.close();
  };
}
