import { getToken } from 'next-auth/jwt';
import type { Db } from '../db/client';
import { getDb } from '../db/client';
import { resolveAuthSecret } from './secret';
import { SESSION_USER_SELECT, type SessionUser } from './users';
import type { Env } from './env';

export const SESSION_COOKIE = 'next-auth.session-token';
export const SECURE_SESSION_COOKIE = '__Secure-next-auth.session-token';

export function parseCookies(header: string | null): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    try {
      cookies[name] ??= decodeURIComponent(raw);
    } catch {
      cookies[name] ??= raw;
    }
  }
  return cookies;
}

/**
 * The signed-in user of a plain Web Request: decodes next-auth's session cookie (secure or not,
 * chunked or not), then re-reads the user row, so a suspended or deleted user has no session.
 */
export async function getSessionUser(request: Request, { db = getDb(), env = process.env }: { db?: Db; env?: Env } = {}): Promise<SessionUser | null> {
  const cookies = parseCookies(request.headers.get('cookie'));
  const names = Object.keys(cookies);
  const secureCookie = names.some((n) => n.startsWith(SECURE_SESSION_COOKIE));
  if (!secureCookie && !names.some((n) => n.startsWith(SESSION_COOKIE))) return null;
  let token;
  try {
    token = await getToken({
      req: { headers: Object.fromEntries(request.headers), cookies } as never,
      secret: resolveAuthSecret(env),
      secureCookie,
    });
  } catch {
    return null;
  }
  if (!token?.sub) return null;
  const user = await db.user.findUnique({ where: { id: token.sub }, select: SESSION_USER_SELECT });
  if (!user || user.suspended) return null;
  return { id: user.id, role: user.role, email: user.email, walletAddress: user.walletAddress };
}
