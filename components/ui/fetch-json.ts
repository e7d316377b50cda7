/** An API error with the server's `{ error: { message, code, param } }` fields and the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * fetch for the app's own JSON APIs (same origin, cookies sent): parses the body, and turns a non-2xx
 * answer into an ApiError carrying the server's message, so UIs can show it as is.
 */
export async function fetchJson<T>(input: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(input, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers } });
  } catch {
    throw new ApiError(0, 'Could not reach the server. Check your connection and try again.');
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = (body as { error?: { message?: string; code?: string; param?: string | null } } | null)?.error;
    throw new ApiError(response.status, error?.message ?? `The server answered ${response.status}.`, error?.code ?? null, error?.param ?? null);
  }
  return body as T;
}

/** For data that only a signed-in visitor has: null when the server answers 401 (signed out). */
export async function fetchIfSignedIn<T>(input: string, init: RequestInit = {}): Promise<T | null> {
  try {
    return await fetchJson<T>(input, init);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}
