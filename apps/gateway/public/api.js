// Talking to the gateway: the token (asked for once, kept in this tab), JSON reads, stream URLs.

const TOKEN_KEY = 'fanout.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage refused: the token lives as long as the page */
  }
}

export const SEGMENT = { job: 'jobs', 'pack-run': 'pack-runs', run: 'runs' };

/** An answer the gateway refused, with its problem+json detail. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

/** GET a JSON route with the token (Authorization header); throws ApiError on a non-2xx answer. */
export async function getJson(path) {
  const token = getToken();
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    let detail = '';
    try {
      detail = (await response.json()).detail || '';
    } catch {
      /* not problem+json */
    }
    throw new ApiError(response.status, detail);
  }
  return response.json();
}

/** A stream URL with the token as ?access_token= (EventSource cannot set headers) and an optional resume position. */
export function streamUrl(path, lastEventId) {
  const url = new URL(path, location.href);
  const token = getToken();
  if (token) url.searchParams.set('access_token', token);
  if (lastEventId) url.searchParams.set('lastEventId', lastEventId);
  return url.pathname + url.search;
}

export const historyPath = (kind, id, after, limit) =>
  `/api/v1/${SEGMENT[kind]}/${encodeURIComponent(id)}/events?after=${after}&limit=${limit}`;
export const subjectStreamPath = (kind, id) => `/api/v1/stream/${SEGMENT[kind]}/${encodeURIComponent(id)}`;
