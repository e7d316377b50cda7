import { createHash, timingSafeEqual } from 'node:crypto';
import { getSessionUser } from '../auth/session';
import type { SessionUser } from '../auth/users';
import type { Db } from '../db/client';
import { hashApiKey } from '../keys/secret';
import { logger } from '../logger';
import { bearerTokenIfAny } from './credentials';
import { errorResponse, forbidden, notFound, unauthorized } from './errors';

/**
 * The one set of guards every route under app/api uses. Each wraps a handler with who may call
 * it, the same-origin rule for browser writes, and the one catch that turns whatever the handler
 * throws into the JSON error shape. A new route picks a guard; it cannot forget the origin check,
 * because the guard applies it before anything else runs.
 */
export type RouteParams = Record<string, string>;
export type Route = (request: Request, params?: RouteParams) => Promise<Response>;

/** Who is calling the account API: a signed-in browser session or a management key. */
export type Principal = { userId: string; via: 'management_key'; keyId: string } | { userId: string; via: 'session'; keyId: null };

type Env = Record<string, string | undefined>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const ADMIN_TOKEN_ACTOR = 'admin-token';

/**
 * Whether the request carries a key of its own: a header a cross-site page cannot make a browser
 * send without a preflight we never grant. (A browser does resend `Basic` credentials by itself,
 * so those do not count.)
 */
function hasKeyHeader(request: Request): boolean {
  return bearerTokenIfAny(request) !== null;
}

/**
 * Browser writes must come from our own pages. SameSite=Lax keeps the session cookie off most
 * cross-site writes; this refuses the rest (a `fetch` with credentials from another site, a
 * sibling subdomain). Requests with neither Origin, Referer nor Sec-Fetch-Site are not from a
 * browser acting for someone else, and pass.
 */
export function assertSameOrigin(request: Request, env: Env = process.env): void {
  if (SAFE_METHODS.has(request.method)) return;
  const site = request.headers.get('sec-fetch-site');
  if (site === 'cross-site' || site === 'same-site') throw crossOrigin();
  const origin = request.headers.get('origin') ?? refererOrigin(request.headers.get('referer'));
  if (origin === null) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw crossOrigin(); // "null" (sandboxed frames, file:) and anything unparsable
  }
  if (!ownHosts(request, env).includes(host)) throw crossOrigin();
}

const crossOrigin = () => forbidden('cross_origin', 'Cross-origin requests are not allowed here.');

function refererOrigin(referer: string | null): string | null {
  if (!referer) return null;
  try {
    return new URL(referer).origin;
  } catch {
    return 'null';
  }
}

/**
 * The hosts this app answers as: NEXTAUTH_URL's when the operator pinned it (then a Host header
 * cannot widen the set, e.g. through DNS rebinding); otherwise the Host header and the host the
 * proxy in front was asked for.
 */
function ownHosts(request: Request, env: Env): string[] {
  const configured = env.NEXTAUTH_URL?.trim();
  if (configured) {
    try {
      return [new URL(configured).host];
    } catch {
      // an invalid NEXTAUTH_URL is next-auth's to report; fall back to the request's own host
    }
  }
  return [request.headers.get('host'), request.headers.get('x-forwarded-host')?.split(',')[0]?.trim()].filter((h): h is string => !!h);
}

type Handler<A> = (args: A & { request: Request; params: RouteParams }) => Promise<Response>;

export function createGuards({ db, env = process.env }: { db: Db; env?: Env }) {
  /**
   * Runs `handler` after the origin rule, inside the one catch. `keyed`: the guard authenticates a
   * key header itself, so a request carrying one is no browser's ambient credential and the origin
   * rule does not apply to it; session-only guards always apply it.
   */
  const guarded =
    <A>(authorize: (request: Request) => Promise<A>, handler: Handler<A>, keyed = false): Route =>
    async (request, params = {}) => {
      try {
        if (!(keyed && hasKeyHeader(request))) assertSameOrigin(request, env);
        const args = await authorize(request);
        return await handler({ ...args, request, params });
      } catch (error) {
        return errorResponse(error);
      }
    };

  const sessionUser = async (request: Request) => getSessionUser(request, { db, env });

  return {
    /** Anyone; browser writes still same-origin. */
    public: (handler: Handler<object>): Route => guarded(async () => ({}), handler),

    /** A signed-in browser session only (the playground, linking a wallet or an email). */
    session: (handler: Handler<{ user: SessionUser }>, { signedOut = 'Sign in first.' }: { signedOut?: string } = {}): Route =>
      guarded(async (request) => {
        const user = await sessionUser(request);
        if (!user) throw unauthorized('not_signed_in', signedOut);
        return { user };
      }, handler),

    /** The account API: a management key when the request carries one, else the session. */
    principal: (handler: Handler<{ principal: Principal }>): Route => guarded(async (request) => ({ principal: await authenticatePrincipal(db, request, env) }), handler, true),

    /**
     * The operator: a signed-in ADMIN user's session, or `Authorization: Bearer $ADMIN_TOKEN` for
     * scripts. Without ADMIN_TOKEN and without an admin session, the admin API does not exist (404).
     * `actor` is the name audit rows and ledger transactions record.
     */
    admin: (handler: Handler<{ actor: string }>): Route =>
      guarded(async (request) => {
        const token = bearerTokenIfAny(request);
        if (!token) {
          const user = await sessionUser(request);
          if (user?.role === 'ADMIN') return { actor: user.email ? `user:${user.id} <${user.email}>` : `user:${user.id}` };
          if (user) throw forbidden('admin_only', 'This needs an administrator account.');
        }
        const configured = env.ADMIN_TOKEN?.trim();
        if (!configured) throw notFound('not_found', 'Not found.');
        if (!token || !sameSecret(token, configured)) {
          logger.warn('admin API: rejected credentials', { path: new URL(request.url).pathname });
          throw unauthorized('invalid_admin_token', 'A valid admin token is required.');
        }
        return { actor: ADMIN_TOKEN_ACTOR };
      }, handler, true),
  };
}

export type Guards = ReturnType<typeof createGuards>;

/**
 * The account API's one authentication step: a management key when the request carries a bearer
 * token; otherwise the web app's session, re-read per request so suspension applies at once.
 */
export async function authenticatePrincipal(db: Db, request: Request, env: Env = process.env): Promise<Principal> {
  if (bearerTokenIfAny(request)) return authenticateManagementKey(db, request);
  const user = await getSessionUser(request, { db, env });
  if (!user) throw unauthorized('missing_api_key', "Sign in, or send a management key as 'Authorization: Bearer tg_…'.");
  return { userId: user.id, via: 'session', keyId: null };
}

/**
 * A management key authenticates scripts and agents for the account API (as OpenRouter's
 * provisioning keys do); it cannot call /v1, and an inference key cannot call this API.
 */
export async function authenticateManagementKey(db: Db, request: Request): Promise<Principal> {
  const token = bearerTokenIfAny(request);
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

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * The origin rule alone, for a handler that brings its own authentication (next-auth's routes,
 * whose CSRF token covers its forms but not every write): a cross-site write is a 403 first.
 */
export function sameOriginWrites<C>(handler: (request: Request, context: C) => Promise<Response>, env: Env = process.env) {
  return async (request: Request, context: C): Promise<Response> => {
    try {
      assertSameOrigin(request, env);
    } catch (error) {
      return errorResponse(error);
    }
    return handler(request, context);
  };
}
