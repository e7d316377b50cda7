import { unauthorized } from './errors';

/**
 * The credentials a request presents: `Authorization: Bearer …` or `x-api-key` (which Anthropic-style
 * clients send). Any other Authorization scheme is refused rather than read as "no key", so a
 * malformed header gets a 401 that says so, not an anonymous path.
 */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get('authorization');
  if (header !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized('invalid_authorization_header', "The Authorization header must be 'Bearer <key>'.");
    return match[1]!;
  }
  return request.headers.get('x-api-key')?.trim() || null;
}
