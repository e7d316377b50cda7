import type { NextAuthOptions } from 'next-auth';
import CredentialsProvider from 'next-auth/providers/credentials';
import EmailProvider from 'next-auth/providers/email';
import GithubProvider from 'next-auth/providers/github';
import GoogleProvider from 'next-auth/providers/google';
import type { Db } from '../db/client';
import { getDb } from '../db/client';
import { logger } from '../logger';
import { createAuthAdapter } from './adapter';
import { deliverMail, linkMail } from './mail';
import { resolveAuthSecret } from './secret';
import { expectedSiweDomain, SiweError, verifySiwe } from './siwe';
import { createAuthUser, promoteIfAdmin, SESSION_USER_SELECT } from './users';
import type { Env } from './env';

export const EMAIL_LINK_MAX_AGE_SECONDS = 60 * 60;
export const SESSION_MAX_AGE_SECONDS = 30 * 24 * 60 * 60;

/** Which optional sign-in methods this instance offers (the sign-in page shows only these). */
export function oauthProviders(env: Env = process.env) {
  return {
    github: !!(env.GITHUB_ID?.trim() && env.GITHUB_SECRET?.trim()),
    google: !!(env.GOOGLE_ID?.trim() && env.GOOGLE_SECRET?.trim()),
  };
}

/**
 * next-auth v4 with JWT sessions. Every session read re-reads the user row, so suspending a user
 * ends their sessions at their next request; ADMIN_EMAILS promotes at sign-in.
 */
export function buildAuthOptions({ db, env = process.env }: { db: Db; env?: Env }): NextAuthOptions {
  // No NEXTAUTH_URL needed: next-auth then takes the origin from the request (x-forwarded-* as set by Next).
  if (!env.NEXTAUTH_URL) process.env.AUTH_TRUST_HOST ??= 'true';
  const oauth = oauthProviders(env);
  const providers: NextAuthOptions['providers'] = [
    EmailProvider({
      // Unused: sendVerificationRequest below decides between SMTP_URL and the development mailbox.
      server: env.SMTP_URL?.trim() || 'smtp://localhost:25',
      from: env.EMAIL_FROM?.trim() || 'Tollgate <no-reply@localhost>',
      maxAge: EMAIL_LINK_MAX_AGE_SECONDS,
      async sendVerificationRequest({ identifier, url, expires }) {
        const mail = linkMail({ to: identifier, subject: 'Sign in to Tollgate', intro: 'Click the button to sign in to Tollgate.', action: 'Sign in', url, expires });
        await deliverMail({ db, env, mail });
      },
    }),
    CredentialsProvider({
      id: 'siwe',
      name: 'Ethereum wallet',
      credentials: { message: { label: 'Message', type: 'text' }, signature: { label: 'Signature', type: 'text' } },
      async authorize(credentials, req) {
        if (!credentials?.message || !credentials.signature) return null;
        try {
          const address = await verifySiwe({ db, message: credentials.message, signature: credentials.signature, domain: expectedSiweDomain(req.headers ?? {}, env) });
          const user = (await db.user.findUnique({ where: { walletAddress: address } })) ?? (await createAuthUser({ db, env, walletAddress: address }));
          if (user.suspended) return null;
          return { id: user.id, email: user.email, name: user.name };
        } catch (error) {
          if (error instanceof SiweError) {
            logger.info('wallet sign-in refused', { reason: error.code });
            return null;
          }
          throw error;
        }
      },
    }),
  ];
  if (oauth.github) providers.push(GithubProvider({ clientId: env.GITHUB_ID!, clientSecret: env.GITHUB_SECRET! }));
  if (oauth.google) providers.push(GoogleProvider({ clientId: env.GOOGLE_ID!, clientSecret: env.GOOGLE_SECRET! }));

  return {
    secret: resolveAuthSecret(env),
    adapter: createAuthAdapter({ db, env }),
    session: { strategy: 'jwt', maxAge: SESSION_MAX_AGE_SECONDS },
    providers,
    pages: { signIn: '/signin', verifyRequest: '/signin/check-email', error: '/signin' },
    logger: {
      error: (code, metadata) => logger.error(`next-auth: ${code}`, { detail: metadata instanceof Error ? metadata : JSON.stringify(metadata)?.slice(0, 500) }),
      warn: (code) => logger.warn(`next-auth: ${code}`),
      debug: () => {},
    },
    callbacks: {
      async signIn({ user }) {
        // On an email link request for a new address, `user` is a placeholder whose id is the email.
        const row = await db.user.findFirst({ where: { OR: [{ id: user.id }, ...(user.email ? [{ email: user.email.toLowerCase() }] : [])] }, select: { id: true, email: true, suspended: true } });
        if (!row) return true;
        if (row.suspended) {
          logger.info('sign-in refused: account suspended', { user_id: row.id });
          return false;
        }
        await promoteIfAdmin({ db, userId: row.id, email: row.email, env });
        return true;
      },
      async jwt({ token, user }) {
        const id = user?.id ?? token.sub;
        if (!id) throw new Error('session without a user');
        const row = await db.user.findUnique({ where: { id }, select: SESSION_USER_SELECT });
        // Throwing here makes next-auth clear the session cookie.
        if (!row || row.suspended) throw new Error('account unavailable');
        return { sub: row.id, name: row.name, email: row.email, role: row.role, walletAddress: row.walletAddress };
      },
      async session({ session, token }) {
        session.user = { id: token.sub!, name: token.name ?? null, email: token.email ?? null, image: null, role: token.role ?? 'USER', walletAddress: token.walletAddress ?? null };
        return session;
      },
    },
  };
}

const globalForAuth = globalThis as unknown as { tollgateAuthOptions?: NextAuthOptions };

/** The process-wide options over the process-wide database client. */
export function getAuthOptions(): NextAuthOptions {
  globalForAuth.tollgateAuthOptions ??= buildAuthOptions({ db: getDb() });
  return globalForAuth.tollgateAuthOptions;
}
