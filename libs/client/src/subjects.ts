import { ROUTE_SEGMENT_TO_KIND, SUBJECT_ID_PATTERN, SUBJECT_KINDS, Subject, SubjectKind } from '@fanout/contracts';

/** A subject as `{kind, id}` or as the `kind:id` text of `?subjects=` (checked when subscribing). */
export type SubjectRef = Subject | string;

/** The most subjects one stream carries (the gateway answers 400 past it). */
export const MAX_SUBJECTS = 100;

export const subjectKey = (subject: Subject): string => `${subject.kind}:${subject.id}`;

export const SEGMENT_OF_KIND = Object.fromEntries(Object.entries(ROUTE_SEGMENT_TO_KIND).map(([segment, kind]) => [kind, segment])) as Record<
  SubjectKind,
  string
>;

function parseRef(ref: SubjectRef): Subject {
  let kind: string;
  let id: string;
  if (typeof ref === 'string') {
    const colon = ref.indexOf(':');
    kind = colon < 0 ? '' : ref.slice(0, colon);
    id = ref.slice(colon + 1);
  } else {
    ({ kind, id } = ref);
  }
  if (!(SUBJECT_KINDS as readonly string[]).includes(kind) || !SUBJECT_ID_PATTERN.test(id)) {
    throw new TypeError(`@fanout/client: ${JSON.stringify(ref)} is not a subject: expected kind:id with kind job, pack-run or run`);
  }
  return { kind: kind as SubjectKind, id };
}

/**
 * The subjects of a subscription in canonical order (sorted, each once), so that the same set
 * always makes the same URL, the same cursor layout and the same key for sharing across tabs.
 */
export function normalizeSubjects(refs: readonly SubjectRef[]): Subject[] {
  const byKey = new Map<string, Subject>();
  for (const ref of refs) {
    const subject = parseRef(ref);
    byKey.set(subjectKey(subject), subject);
  }
  if (byKey.size === 0) throw new TypeError('@fanout/client: subscribe needs at least one subject');
  if (byKey.size > MAX_SUBJECTS) throw new TypeError(`@fanout/client: at most ${MAX_SUBJECTS} subjects per subscription, not ${byKey.size}`);
  return [...byKey.keys()].sort().map((key) => byKey.get(key)!);
}

export interface StreamQuery {
  lastEventId?: string;
  token?: string;
  /** Start at the last `tail` events when there is no resume position (the server lets a resume position win). */
  tail?: number;
  /** `?types=`: only these event types. */
  types?: readonly string[];
  /** `?conflate=`. */
  conflate?: 'progress';
}

/** A stream URL's query: a resume position and a token, as `?lastEventId=` and `?access_token=` after `params`. */
function withQuery(url: string, params: readonly string[], query: StreamQuery): string {
  const all = [...params];
  if (query.lastEventId) all.push(`lastEventId=${encodeURIComponent(query.lastEventId)}`);
  if (query.tail !== undefined) all.push(`tail=${query.tail}`);
  if (query.types !== undefined) all.push(`types=${query.types.map(encodeURIComponent).join(',')}`);
  if (query.conflate !== undefined) all.push(`conflate=${query.conflate}`);
  if (query.token) all.push(`access_token=${encodeURIComponent(query.token)}`);
  return all.length ? `${url}?${all.join('&')}` : url;
}

/**
 * The stream URL: the single-subject route for one subject, the multi-subject route for several.
 * A resume position and a token travel in the query (a browser's EventSource cannot set headers on
 * its first request; its own reconnects add Last-Event-ID, which wins over the query).
 */
export function streamUrl(baseUrl: string, subjects: readonly Subject[], query: StreamQuery): string {
  const base = baseUrl.replace(/\/+$/, '');
  const only = subjects.length === 1 ? subjects[0] : undefined;
  if (only) return withQuery(`${base}/api/v1/stream/${SEGMENT_OF_KIND[only.kind]}/${encodeURIComponent(only.id)}`, [], query);
  return withQuery(`${base}/api/v1/stream`, [`subjects=${subjects.map(subjectKey).join(',')}`], query);
}

/** The URL of the tenant's activity stream (`subject.updated` on every status change). */
export function activityUrl(baseUrl: string, query: StreamQuery): string {
  return withQuery(`${baseUrl.replace(/\/+$/, '')}/api/v1/stream/subjects`, [], query);
}
