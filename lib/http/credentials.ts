import type { ApiRequest } from './api-request';
import { unauthorized } from './errors';

/**
 * The credentials a request presents: `Authorization: Bearer …` or `x-api-key` (which Anthropic-style
 * clients send). Any other Authorization scheme is refused rather than read as "no key", so a
 * malformed header gets a 401 that says so, not an anonymous path.
 */
export function bearerToken(request: ApiRequest): string | null {
  const header = request.headers.get('authorization');
  if (header !== null) {
    const match = BEARER.exec(header);
    if (!match) throw unauthorized('invalid_authorization_header', "The Authorization header must be 'Bearer <key>'.");
    return match[1]!;
  }
  return request.headers.get('x-api-key')?.trim() || null;
}

/**
 * The same, for routes a browser also calls with its session: another scheme there is not ours
 * (a browser resends `Basic` credentials on a site behind HTTP authentication), so it means "no
 * key" and the session decides.
 */
export function bearerTokenIfAny(request: ApiRequest): string | null {
  const header = request.headers.get('authorization');
  if (header !== null) return BEARER.exec(header)?.[1] ?? null;
  return request.headers.get('x-api-key')?.trim() || null;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;
