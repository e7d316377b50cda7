import { randomBytes } from 'node:crypto';
import { getDb, type Db } from '../db/client';
import { conflict, HttpError, parseOrThrow } from '../http/errors';
import { createGuards } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { logger } from '../logger';
import { consumeVerificationToken, hashVerificationToken } from './adapter';
import { linkEmailSchema, siweLinkSchema } from './link-schemas';
import { deliverMail, linkMail } from './mail';
import { EMAIL_LINK_MAX_AGE_SECONDS } from './options';
import { expectedSiweDomain, issueSiweNonce, SiweError, verifySiwe } from './siwe';
import { authId } from './users';
import type { Env } from './env';

const LINK_PREFIX = 'link:';

function siweErrorToHttp(error: unknown): never {
  if (error instanceof SiweError) throw new HttpError({ status: 400, type: 'invalid_request_error', code: error.code, message: error.message });
  throw error;
}

/** Sign-in helpers beside next-auth's own routes: SIWE nonces and linking a wallet or an email to the signed-in user. */
export function createAuthApi({ db, env = process.env }: { db: Db; env?: Env }) {
  const guard = createGuards({ db, env });

  // GET /api/auth/siwe/nonce
  const nonce = guard.public(async () => {
    const issued = await issueSiweNonce({ db });
    return json({ nonce: issued.nonce, expires_at: issued.expiresAt.toISOString() }, { headers: { 'cache-control': 'no-store' } });
  });

  // POST /api/auth/siwe/link {message, signature} — adds a wallet to the signed-in user.
  const linkWallet = guard.session(async ({ request, user }) => {
    const input = parseOrThrow(siweLinkSchema, await readJsonBody(request));
    const address = await verifySiwe({ db, message: input.message, signature: input.signature, domain: expectedSiweDomain(request.headers, env) }).catch(siweErrorToHttp);
    const owner = await db.user.findUnique({ where: { walletAddress: address }, select: { id: true } });
    if (owner && owner.id !== user.id) throw conflict('wallet_in_use', 'This wallet already belongs to another account.');
    await db.user.update({ where: { id: user.id }, data: { walletAddress: address }, select: { id: true } });
    logger.info('wallet linked', { user_id: user.id });
    return json({ wallet_address: address });
  });

  // POST /api/auth/link-email {email} — mails a confirmation link; the address is added when it is clicked.
  const requestEmailLink = guard.session(async ({ request, user }) => {
    const { email } = parseOrThrow(linkEmailSchema, await readJsonBody(request));
    const owner = await db.user.findUnique({ where: { email }, select: { id: true } });
    if (owner && owner.id !== user.id) throw conflict('email_in_use', 'This email address already belongs to another account.');
    if (owner) return json({ email, status: 'already_linked' });
    const token = randomBytes(32).toString('hex');
    const expires = new Date(Date.now() + EMAIL_LINK_MAX_AGE_SECONDS * 1000);
    await db.verificationToken.create({ data: { id: authId('vt'), identifier: `${LINK_PREFIX}${user.id}:${email}`, tokenHash: hashVerificationToken(token), expiresAt: expires }, select: { id: true } });
    const origin = env.NEXTAUTH_URL?.trim() ? new URL(env.NEXTAUTH_URL).origin : new URL(request.url).origin;
    const url = `${origin}/api/auth/link-email/confirm?token=${token}`;
    await deliverMail({ db, env, mail: linkMail({ to: email, subject: 'Confirm your email for Tollgate', intro: 'Confirm this address to add it to your Tollgate account.', action: 'Confirm email', url, expires }) });
    return json({ email, status: 'sent' }, { status: 202 });
  });

  // GET /api/auth/link-email/confirm?token=… — from the mail; redirects to the dashboard.
  const confirmEmailLink = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const back = (query: string) => new Response(null, { status: 303, headers: { location: `/dashboard?${query}` } });
    const token = url.searchParams.get('token') ?? '';
    const row = token ? await db.verificationToken.findUnique({ where: { tokenHash: hashVerificationToken(token) } }) : null;
    if (!row || !row.identifier.startsWith(LINK_PREFIX)) return back('link_error=invalid');
    const consumed = await consumeVerificationToken({ db, identifier: row.identifier, token });
    if (!consumed) return back('link_error=expired');
    const rest = row.identifier.slice(LINK_PREFIX.length);
    const userId = rest.slice(0, rest.indexOf(':'));
    const email = rest.slice(rest.indexOf(':') + 1);
    const taken = await db.user.findUnique({ where: { email }, select: { id: true } });
    if (taken && taken.id !== userId) return back('link_error=email_in_use');
    await db.user.update({ where: { id: userId }, data: { email, emailVerifiedAt: new Date() }, select: { id: true } });
    logger.info('email linked', { user_id: userId });
    return back('linked=email');
  };

  return { nonce, linkWallet, requestEmailLink, confirmEmailLink };
}

export type AuthApi = ReturnType<typeof createAuthApi>;

const globalForAuthApi = globalThis as unknown as { tollgateAuthApi?: AuthApi };

export function getAuthApi(): AuthApi {
  globalForAuthApi.tollgateAuthApi ??= createAuthApi({ db: getDb() });
  return globalForAuthApi.tollgateAuthApi;
}
