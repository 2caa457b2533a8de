import { Connection, eventSourceOf, StreamRoute } from './connection';
import { FRAME_NAMES, parseFrame } from './frames';
import { normalizeSubjects, streamUrl, subjectKey } from './subjects';
import { SharedFrame, SubscriptionState } from './subscription-state';
import { browserTabSharing, shareAcrossTabs } from './tab-sharing';
import { EVENT_TYPE_NAMES, MAX_STREAM_TAIL, Subject } from '@fanout/contracts';
import { DEFAULT_SHARED_HISTORY_LIMIT, SubscribeOptions } from './types';

/**
 * Subscribes to one or more subjects of a fanout gateway over a standard EventSource. Every event
 * is validated against the contract and delivered once, in seq order per subject; gaps are
 * reported (the server's `gap` frames, and any skipped seq the client sees itself); the stream
 * resumes after every drop and closes on `end {completed}`. In a browser page the tabs of one
 * origin that subscribe to the same subjects share one connection. Returns the unsubscribe function.
 */
export function subscribe(options: SubscribeOptions): () => void {
  const subjects = normalizeSubjects(options.subjects);
  checkDeliveryOptions(options);
  const EventSourceImpl = eventSourceOf(options, 'subscribe');
  const route: StreamRoute<SharedFrame> = {
    frameNames: FRAME_NAMES,
    url: (query) => streamUrl(options.baseUrl, subjects, { ...query, tail: options.tail, types: options.types, conflate: options.conflate }),
    parse: (name, data, lastEventId) => parseFrame(name, data, lastEventId, subjects),
  };
  const state = new SubscriptionState(subjects, options, options.sharedHistoryLimit ?? DEFAULT_SHARED_HISTORY_LIMIT);
  state.setState('connecting');
  const lead = () => {
    const connection = new Connection(route, state, options, EventSourceImpl);
    connection.start();
    return connection;
  };

  const key = sharingKey(options, subjects);
  const sharing = options.shareAcrossTabs === false || key === undefined ? undefined : browserTabSharing();
  if (!sharing) {
    const connection = lead();
    options.onRole?.('leader');
    return () => {
      connection.close();
      state.close();
    };
  }
  return shareAcrossTabs(key!, state, sharing, lead, options.onRole);
}

/** `tail`, `types` and `conflate` as the gateway takes them: a TypeError here, not a 400 that ends the subscription. */
function checkDeliveryOptions({ tail, types, conflate }: Pick<SubscribeOptions, 'tail' | 'types' | 'conflate'>): void {
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 1 && tail <= MAX_STREAM_TAIL)) {
    throw new TypeError(`@fanout/client: tail must be a whole number from 1 to ${MAX_STREAM_TAIL}, not ${String(tail)}`);
  }
  const unknown = types?.find((type) => !(EVENT_TYPE_NAMES as readonly string[]).includes(type));
  if (unknown !== undefined) throw new TypeError(`@fanout/client: ${JSON.stringify(unknown)} is not an event type; types takes ${EVENT_TYPE_NAMES.join(', ')}`);
  if (conflate !== undefined && conflate !== 'progress') throw new TypeError(`@fanout/client: conflate takes 'progress' only, not ${JSON.stringify(conflate)}`);
}

/**
 * What tabs must have in common to share a connection: the gateway, the tenant and the subjects.
 * The tenant is `options.tenant`, else the `tenant` claim of `options.token` (read, not verified:
 * it only keeps tenants apart; the gateway checks the token). Undefined, so nothing is shared, when
 * the tenant cannot be known yet (a token without a readable tenant, or only `getToken`).
 */
export function sharingKey(options: Pick<SubscribeOptions, 'baseUrl' | 'tenant' | 'token' | 'getToken'>, subjects: readonly Subject[]): string | undefined {
  let tenant: string | null = options.tenant ?? null;
  if (tenant === null && options.token !== undefined) {
    const claimed = tenantClaimOf(options.token);
    if (claimed === undefined) return undefined;
    tenant = claimed;
  } else if (tenant === null && options.getToken) {
    return undefined;
  }
  return JSON.stringify([options.baseUrl, tenant, subjects.map(subjectKey)]);
}

function tenantClaimOf(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { tenant?: unknown };
    return typeof claims.tenant === 'string' ? claims.tenant : undefined;
  } catch {
    return undefined;
  }
}
