import type { Db } from '../db/client';
import { forbidden, unauthorized } from '../http/errors';
import { bearerToken } from '../gateway/auth';
import { hashApiKey } from '../keys/secret';
import { assertSameOrigin } from '../auth/origin';
import { getSessionUser } from '../auth/session';

/** Who is calling the account API: a signed-in browser session or a management key. */
export type Principal = { userId: string; via: 'management_key'; keyId: string } | { userId: string; via: 'session'; keyId: null };

/**
 * The account API's one authentication step: a management key when the request carries a bearer
 * token; otherwise the web app's session (added with sign-in).
 */
export async function authenticateAccountRequest(db: Db, request: Request): Promise<Principal> {
  if (bearerToken(request)) return authenticateManagementKey(db, request);
  // Session path (sign-in): the cookie's user, re-read per request, so suspension applies at once.
  const user = await getSessionUser(request, { db });
  if (!user) throw unauthorized('missing_api_key', "Sign in, or send a management key as 'Authorization: Bearer tg_…'.");
  if (request.method !== 'GET' && request.method !== 'HEAD') assertSameOrigin(request);
  return { userId: user.id, via: 'session', keyId: null };
}

/**
 * A management key authenticates scripts and agents for the account API (as OpenRouter's
 * provisioning keys do); it cannot call /v1, and an inference key cannot call this API.
 */
export async function authenticateManagementKey(db: Db, request: Request): Promise<Principal> {
  const token = bearerToken(request);
  if (!token) throw unauthorized('missing_api_key', "Send a management key as 'Authorization: Bearer tg_…'.");
  const key = await db.apiKey.findUnique({
    where: { hash: hashApiKey(token) },
    select: { id: true, kind: true, userId: true, revokedAt: true, expiresAt: true, user: { select: { suspended: true } } },
  });
  if (!key) throw unauthorized('invalid_api_key', 'Incorrect API key provided.');
  if (key.revokedAt) throw unauthorized('api_key_revoked', 'This API key has been revoked.');
  if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) throw unauthorized('api_key_expired', 'This API key has expired.');
  if (key.kind !== 'MANAGEMENT') throw forbidden('inference_key', 'This is an inference key; the account API needs a management key.');
  if (key.user.suspended) throw forbidden('account_suspended', 'This account is suspended.');
  return { userId: key.userId, via: 'management_key', keyId: key.id };
}
