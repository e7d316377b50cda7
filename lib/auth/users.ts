import type { Db } from '../db/client';
import { randomBase62 } from '../ids';
import { grantWelcomeCredit } from '../credits/welcome';
import { walletAccountId, walletCode } from '../ledger/accounts';
import { logger } from '../logger';
import type { Env } from './env';
import { prismaErrorCode } from '../http/errors';

export type SessionUser = { id: string; role: 'USER' | 'ADMIN'; email: string | null; walletAddress: string | null };

export const SESSION_USER_SELECT = { id: true, role: true, email: true, walletAddress: true, name: true, suspended: true } as const;

/** Ids of rows this module creates that lib/ids.ts has no prefix for (sign-in bookkeeping only). */
export function authId(prefix: 'vt' | 'aa' | 'mail'): string {
  return `${prefix}_${randomBase62(20)}`;
}

/** ADMIN_EMAILS, comma-separated, compared case-insensitively. */
export function adminEmails(env: Env = process.env): Set<string> {
  return new Set(
    (env.ADMIN_EMAILS ?? '')
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function isAdminEmail(email: string | null | undefined, env: Env = process.env): boolean {
  return !!email && adminEmails(env).has(email.toLowerCase());
}

/**
 * A new user with their wallet account, then the welcome credit (a playground-only lot, within
 * the daily cap of new accounts per client address: past it, the account is created without
 * it). A unique-constraint race (the same wallet or email signing in twice at once) returns the
 * row the other request created.
 *
 * `clientAddress` is the signing-in client's; by default the one in the request context that
 * the next-auth route opens (lib/auth/handler.ts).
 */
export async function createAuthUser({
  db,
  env = process.env,
  email = null,
  walletAddress = null,
  name = null,
  emailVerifiedAt = null,
  clientAddress,
}: {
  db: Db;
  env?: Env;
  email?: string | null;
  walletAddress?: string | null;
  name?: string | null;
  emailVerifiedAt?: Date | null;
  clientAddress?: string | null;
}) {
  const id = `usr_${randomBase62(20)}`;
  const normalizedEmail = email?.trim().toLowerCase() || null;
  try {
    await db.$transaction([
      db.user.create({
        data: { id, email: normalizedEmail, walletAddress, name, emailVerifiedAt, role: isAdminEmail(normalizedEmail, env) ? 'ADMIN' : 'USER' },
        select: { id: true },
      }),
      db.ledgerAccount.create({ data: { id: walletAccountId(id), code: walletCode(id), kind: 'USER_WALLET', userId: id }, select: { id: true } }),
    ]);
  } catch (error) {
    if (prismaErrorCode(error) !== 'P2002') throw error;
    const existing = await db.user.findFirst({ where: normalizedEmail ? { email: normalizedEmail } : { walletAddress } });
    if (!existing) throw error;
    return existing;
  }
  const welcome = await grantWelcomeCredit({ db, userId: id, env, ...(clientAddress !== undefined ? { clientAddress } : {}) });
  logger.info('user created', {
    user_id: id,
    via: walletAddress ? 'wallet' : 'email',
    welcome_credit_micros: welcome.granted ? welcome.amount : 0n,
    ...(welcome.granted ? {} : { welcome_credit_refused: welcome.reason }),
  });
  return db.user.findUniqueOrThrow({ where: { id } });
}

/** ADMIN_EMAILS is read at each sign-in: adding an address promotes that user the next time they sign in. */
export async function promoteIfAdmin({ db, userId, email, env = process.env }: { db: Db; userId: string; email: string | null; env?: Env }) {
  if (!isAdminEmail(email, env)) return;
  const { count } = await db.user.updateMany({ where: { id: userId, role: 'USER' }, data: { role: 'ADMIN' } });
  if (count) logger.info('user promoted to admin from ADMIN_EMAILS', { user_id: userId });
}
