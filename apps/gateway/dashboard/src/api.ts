// The gateway's JSON routes and the token: asked for once, kept in this tab (sessionStorage).

const TOKEN_KEY = 'fanout.token';

export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || undefined;
  } catch {
    return undefined;
  }
}

export function storeToken(token: string): void {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused: the token lives as long as the page.
  }
}

/** An answer the gateway refused, with its problem+json detail. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail || `HTTP ${status}`);
  }
}

/** GETs a route with the token (Authorization header); throws ApiError on a non-2xx answer. */
async function get(path: string): Promise<Response> {
  const token = storedToken();
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    const problem: unknown = await response.json().catch(() => undefined);
    const detail = typeof problem === 'object' && problem !== null && 'detail' in problem ? String(problem.detail) : '';
    throw new ApiError(response.status, detail);
  }
  return response;
}

/** GETs a JSON route with the token; throws ApiError on a non-2xx answer. */
export async function getJson(path: string): Promise<unknown> {
  return (await get(path)).json();
}

/** GETs a text route (the log) with the token: its body and headers; throws ApiError on a non-2xx answer. */
export async function getText(path: string): Promise<{ text: string; headers: Headers }> {
  const response = await get(path);
  return { text: await response.text(), headers: response.headers };
}
