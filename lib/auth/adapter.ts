import { createHash } from 'node:crypto';
import type { Adapter, AdapterAccount, AdapterUser, VerificationToken } from 'next-auth/adapters';
import type { Db } from '../db/client';
import { authId, createAuthUser } from './users';
import type { Env } from './env';

type UserRow = { id: string; email: string | null; emailVerifiedAt: Date | null; name: string | null };

function toAdapterUser(row: UserRow): AdapterUser {
  // next-auth types email as a string; wallet-only users have none.
  return { id: row.id, email: row.email ?? '', emailVerified: row.emailVerifiedAt, name: row.name, image: null };
}

/**
 * next-auth hashes the emailed token with the session secret before it reaches the adapter; we
 * hash that again, so the database holds nothing that can be turned into a working link.
 */
export function hashVerificationToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The minimal next-auth adapter over our own models. Sessions are JWTs, so there are no session
 * methods; users, linked OAuth identities and email tokens live in User, AuthAccount and
 * VerificationToken. New users get a wallet account and the welcome credit (capped per client
 * address: the request context of lib/auth/handler.ts says who is signing in).
 */
export function createAuthAdapter({ db, env = process.env }: { db: Db; env?: Env }): Adapter {
  return {
    async createUser(user: Omit<AdapterUser, 'id'>) {
      const row = await createAuthUser({ db, env, email: user.email || null, name: user.name ?? null, emailVerifiedAt: user.emailVerified ?? null });
      return toAdapterUser(row);
    },
    async getUser(id) {
      const row = await db.user.findUnique({ where: { id } });
      return row ? toAdapterUser(row) : null;
    },
    async getUserByEmail(email) {
      if (!email) return null;
      const row = await db.user.findUnique({ where: { email: email.toLowerCase() } });
      return row ? toAdapterUser(row) : null;
    },
    async getUserByAccount({ provider, providerAccountId }) {
      const link = await db.authAccount.findUnique({ where: { provider_providerAccountId: { provider, providerAccountId } }, select: { user: true } });
      return link ? toAdapterUser(link.user) : null;
    },
    async updateUser(user) {
      const row = await db.user.update({
        where: { id: user.id },
        data: {
          ...(user.email ? { email: user.email.toLowerCase() } : {}),
          ...(user.emailVerified !== undefined ? { emailVerifiedAt: user.emailVerified } : {}),
          ...(user.name !== undefined ? { name: user.name } : {}),
        },
      });
      return toAdapterUser(row);
    },
    async linkAccount(account: AdapterAccount) {
      await db.authAccount.create({
        data: { id: authId('aa'), userId: account.userId, provider: account.provider, providerAccountId: account.providerAccountId },
        select: { id: true },
      });
    },
    async createVerificationToken({ identifier, token, expires }) {
      await db.verificationToken.create({ data: { id: authId('vt'), identifier, tokenHash: hashVerificationToken(token), expiresAt: expires }, select: { id: true } });
      return { identifier, token, expires };
    },
    async useVerificationToken({ identifier, token }): Promise<VerificationToken | null> {
      return consumeVerificationToken({ db, identifier, token });
    },
  };
}

/**
 * Single use even under races: the token row is deleted by a conditional delete, and only the
 * request whose delete removed it gets the token back. An expired token is deleted and refused.
 */
export async function consumeVerificationToken({ db, identifier, token, now = new Date() }: { db: Db; identifier: string; token: string; now?: Date }): Promise<VerificationToken | null> {
  const tokenHash = hashVerificationToken(token);
  const row = await db.verificationToken.findUnique({ where: { tokenHash } });
  if (!row || row.identifier !== identifier) return null;
  const { count } = await db.verificationToken.deleteMany({ where: { tokenHash, identifier } });
  if (count !== 1) return null;
  if (row.expiresAt.getTime() <= now.getTime()) return null;
  return { identifier, token, expires: row.expiresAt };
}
