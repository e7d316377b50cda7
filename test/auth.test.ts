import { createServer, type AddressInfo } from 'node:net';
import { encode } from 'next-auth/jwt';
import type { NextAuthOptions } from 'next-auth';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAccountApi } from '../lib/account/account-api';
import { createGuards } from '../lib/http/guards';
import { json } from '../lib/http/json';
import { consumeVerificationToken, createAuthAdapter, hashVerificationToken } from '../lib/auth/adapter';
import { createAuthApi } from '../lib/auth/auth-api';
import { deliverMail, devMailboxEnabled, linkMail } from '../lib/auth/mail';
import { buildAuthOptions } from '../lib/auth/options';
import { getSessionUser } from '../lib/auth/session';
import { issueSiweNonce, SiweError, verifySiwe } from '../lib/auth/siwe';
import { createAuthUser } from '../lib/auth/users';
import { auditLedger, walletAccountId } from '../lib/ledger';
import type { TestDatabase } from './helpers/db';
import { gatewayHarness, type TestGateway } from './helpers/gateway';

const SECRET = 'auth-test-secret-0123456789abcdef';
process.env.NEXTAUTH_SECRET = SECRET;

const harness = gatewayHarness();
let t: TestDatabase;
let gw: TestGateway;
beforeAll(() => {
  ({ t, gw } = harness);
});

const DOMAIN = 'tollgate.test';
const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

async function sessionCookie(userId: string) {
  const jwt = await encode({ token: { sub: userId }, secret: SECRET, maxAge: 3600 });
  return `next-auth.session-token=${jwt}`;
}

async function signedSiwe({ domain = DOMAIN, nonce, signer = privateKeyToAccount(generatePrivateKey()), address }: { domain?: string; nonce?: string; signer?: ReturnType<typeof privateKeyToAccount>; address?: `0x${string}` } = {}) {
  const message = createSiweMessage({
    domain,
    address: address ?? signer.address,
    statement: 'Sign in to Tollgate.',
    uri: `http://${domain}`,
    version: '1',
    chainId: 1,
    nonce: nonce ?? (await issueSiweNonce({ db: t.db })).nonce,
  });
  return { message, signature: await signer.signMessage({ message }), signer };
}

function siweAuthorize(options: NextAuthOptions) {
  // next-auth merges a provider's options over its defaults at request time; the configured id is in `options`.
  const provider = options.providers.find((p) => (p as unknown as { options?: { id?: string } }).options?.id === 'siwe') as unknown as { options: { authorize: (c: Record<string, string>, req: { headers: Record<string, string> }) => Promise<{ id: string } | null> } };
  return (credentials: Record<string, string>) => provider.options.authorize(credentials, { headers: { host: DOMAIN } });
}

describe('email sign-in tokens (adapter)', () => {
  it('stores only a hash of the token; it works once; expired tokens are refused', async () => {
    const adapter = createAuthAdapter({ db: t.db });
    const identifier = `${unique()}@example.test`;
    const token = 'a'.repeat(40) + unique();
    await adapter.createVerificationToken!({ identifier, token, expires: new Date(Date.now() + 60_000) });
    const rows = await t.db.verificationToken.findMany({ where: { identifier } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).toBe(hashVerificationToken(token));
    expect(JSON.stringify(rows)).not.toContain(token);

    expect(await adapter.useVerificationToken!({ identifier, token: 'wrong' })).toBeNull();
    expect(await adapter.useVerificationToken!({ identifier: 'other@example.test', token })).toBeNull();
    expect(await adapter.useVerificationToken!({ identifier, token })).toMatchObject({ identifier, token });
    expect(await adapter.useVerificationToken!({ identifier, token })).toBeNull();

    const expired = `expired-${unique()}`;
    await adapter.createVerificationToken!({ identifier, token: expired, expires: new Date(Date.now() - 1) });
    expect(await adapter.useVerificationToken!({ identifier, token: expired })).toBeNull();
    expect(await t.db.verificationToken.count({ where: { identifier } })).toBe(0);
  });

  it('a token used by ten requests at once signs in exactly one', async () => {
    const adapter = createAuthAdapter({ db: t.db });
    const identifier = `${unique()}@example.test`;
    const token = `race-${unique()}`;
    await adapter.createVerificationToken!({ identifier, token, expires: new Date(Date.now() + 60_000) });
    const results = await Promise.all(Array.from({ length: 10 }, () => consumeVerificationToken({ db: t.db, identifier, token })));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe('Sign-In with Ethereum', () => {
  it('verifies a signed message and spends its nonce: a replay is refused', async () => {
    const signed = await signedSiwe();
    expect(await verifySiwe({ db: t.db, ...signed, domain: DOMAIN })).toBe(signed.signer.address);
    await expect(verifySiwe({ db: t.db, ...signed, domain: DOMAIN })).rejects.toMatchObject({ code: 'invalid_nonce' });
  });

  it('refuses another domain, another signer, an unknown or expired nonce, and garbage', async () => {
    const wrongDomain = await signedSiwe({ domain: 'evil.test' });
    await expect(verifySiwe({ db: t.db, ...wrongDomain, domain: DOMAIN })).rejects.toMatchObject({ code: 'domain_mismatch' });

    const victim = privateKeyToAccount(generatePrivateKey());
    const wrongSigner = await signedSiwe({ address: victim.address });
    await expect(verifySiwe({ db: t.db, ...wrongSigner, domain: DOMAIN })).rejects.toMatchObject({ code: 'invalid_signature' });
    // A failed signature does not spend the nonce, and the victim never signed in.
    expect(await t.db.user.findUnique({ where: { walletAddress: victim.address } })).toBeNull();

    const madeUp = await signedSiwe({ nonce: 'abcdefgh12345678' });
    await expect(verifySiwe({ db: t.db, ...madeUp, domain: DOMAIN })).rejects.toMatchObject({ code: 'invalid_nonce' });

    const stale = await issueSiweNonce({ db: t.db, now: new Date(Date.now() - 10 * 60_000) });
    const late = await signedSiwe({ nonce: stale.nonce });
    await expect(verifySiwe({ db: t.db, ...late, domain: DOMAIN })).rejects.toMatchObject({ code: 'invalid_nonce' });

    await expect(verifySiwe({ db: t.db, message: 'hello', signature: '0x00', domain: DOMAIN })).rejects.toBeInstanceOf(SiweError);
  });

  it('wallet sign-in creates the user once, with the welcome credit; the signature authenticates only', async () => {
    const authorize = siweAuthorize(buildAuthOptions({ db: t.db, env: { NEXTAUTH_SECRET: SECRET } }));
    const signer = privateKeyToAccount(generatePrivateKey());
    const first = await authorize(await signedSiwe({ signer }).then(({ message, signature }) => ({ message, signature })));
    expect(first).not.toBeNull();
    const again = await authorize(await signedSiwe({ signer }).then(({ message, signature }) => ({ message, signature })));
    expect(again?.id).toBe(first!.id);
    const user = await t.db.user.findUniqueOrThrow({ where: { id: first!.id } });
    expect(user.walletAddress).toBe(signer.address);
    // The welcome credit is a playground-only lot (test/welcome-farming.test.ts): the wallet starts empty.
    expect((await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(user.id) } })).balance).toBe(0n);
    expect(await t.db.packLot.count({ where: { userId: user.id, kind: 'WELCOME', playgroundOnly: true } })).toBe(1);
    expect(await authorize({ message: 'nope', signature: '0x' })).toBeNull();
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('links a wallet to a signed-in email account, and refuses a wallet another account owns', async () => {
    const api = createAuthApi({ db: t.db, env: { NEXTAUTH_SECRET: SECRET } });
    const emailUser = await createAuthUser({ db: t.db, email: `${unique()}@example.test` });
    const signed = await signedSiwe();
    const link = (body: unknown, cookie: string) =>
      api.linkWallet(new Request(`http://${DOMAIN}/api/auth/siwe/link`, { method: 'POST', headers: { host: DOMAIN, cookie, 'content-type': 'application/json' }, body: JSON.stringify(body) }));
    expect((await link({ message: signed.message, signature: signed.signature }, '')).status).toBe(401);
    const linked = await link({ message: signed.message, signature: signed.signature }, await sessionCookie(emailUser.id));
    expect(linked.status).toBe(200);
    expect((await t.db.user.findUniqueOrThrow({ where: { id: emailUser.id } })).walletAddress).toBe(signed.signer.address);

    const other = await createAuthUser({ db: t.db, email: `${unique()}@example.test` });
    const again = await signedSiwe({ signer: signed.signer });
    const refused = await link({ message: again.message, signature: again.signature }, await sessionCookie(other.id));
    expect(refused.status).toBe(409);
  });

  it('adds an email to a wallet account through a single-use mailed link', async () => {
    const api = createAuthApi({ db: t.db, env: { NEXTAUTH_SECRET: SECRET } });
    const walletUser = await createAuthUser({ db: t.db, walletAddress: privateKeyToAccount(generatePrivateKey()).address });
    const email = `${unique()}@example.test`;
    const requested = await api.requestEmailLink(
      new Request(`http://${DOMAIN}/api/auth/link-email`, { method: 'POST', headers: { host: DOMAIN, cookie: await sessionCookie(walletUser.id), 'content-type': 'application/json' }, body: JSON.stringify({ email }) }),
    );
    expect(requested.status).toBe(202);
    const mail = await t.db.devMail.findFirstOrThrow({ where: { to: email } });
    const url = /http\S+/.exec(mail.text)![0];
    const confirmed = await api.confirmEmailLink(new Request(url));
    expect(confirmed.headers.get('location')).toBe('/dashboard?linked=email');
    expect((await t.db.user.findUniqueOrThrow({ where: { id: walletUser.id } })).email).toBe(email);
    expect((await api.confirmEmailLink(new Request(url))).headers.get('location')).toContain('link_error');
  });
});

describe('sessions', () => {
  it('the account API answers a session with that user only: another user never sees or changes their keys', async () => {
    const alice = await createAuthUser({ db: t.db, email: `alice-${unique()}@example.test` });
    const bob = await createAuthUser({ db: t.db, email: `bob-${unique()}@example.test` });
    const as = (cookie: string) => async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${gw.url}${path}`, { method, headers: { cookie, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const aliceApi = as(await sessionCookie(alice.id));
    const bobApi = as(await sessionCookie(bob.id));

    const created = await aliceApi('POST', '/api/keys', { name: 'from the browser', daily_requests: 5 });
    expect(created.status).toBe(201);
    const keyId = created.json.id as string;
    expect(((await aliceApi('GET', '/api/keys')).json.data as Array<{ id: string }>).map((k) => k.id)).toContain(keyId);
    expect((await bobApi('GET', '/api/keys')).json.data).toEqual([]);
    expect((await bobApi('PATCH', `/api/keys/${keyId}`, { daily_requests: 1 })).status).toBe(404);
    expect((await bobApi('DELETE', `/api/keys/${keyId}`)).status).toBe(404);
    expect(await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).toMatchObject({ dailyRequestLimit: 5, revokedAt: null });

    // No session, a forged cookie, or a cross-site write: refused.
    expect((await as('')('GET', '/api/keys')).status).toBe(401);
    const forged = await encode({ token: { sub: alice.id }, secret: 'another-secret-entirely-000000', maxAge: 3600 });
    expect((await as(`next-auth.session-token=${forged}`)('GET', '/api/keys')).status).toBe(401);
    const crossSite = await fetch(`${gw.url}/api/keys`, { method: 'POST', headers: { cookie: await sessionCookie(alice.id), origin: 'https://evil.test', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
    expect(crossSite.status).toBe(403);

    const info = await createAccountApi({ db: t.db, catalog: gw.gateway.ctx.catalog }).account(new Request('http://x/api/account', { headers: { cookie: await sessionCookie(alice.id) } }));
    expect(await info.json()).toMatchObject({ user: { id: alice.id, email: alice.email, role: 'user', wallet_address: null }, balance_usd: 0, available_usd: 0, welcome_credit: { remaining_usd: 10, scope: 'playground' } });
  });

  it('ADMIN_EMAILS makes an admin: at creation, and at the next sign-in of an existing user', async () => {
    const adminEmail = `boss-${unique()}@example.test`;
    const env = { NEXTAUTH_SECRET: SECRET, ADMIN_EMAILS: ` someone@else.test , ${adminEmail.toUpperCase()}` };
    const created = await createAuthUser({ db: t.db, env, email: adminEmail });
    expect(created.role).toBe('ADMIN');

    const laterEmail = `later-${unique()}@example.test`;
    const existing = await createAuthUser({ db: t.db, email: laterEmail });
    expect(existing.role).toBe('USER');
    const options = buildAuthOptions({ db: t.db, env: { ...env, ADMIN_EMAILS: laterEmail } });
    expect(await options.callbacks!.signIn!({ user: { id: existing.id, email: laterEmail } } as never)).toBe(true);
    expect((await t.db.user.findUniqueOrThrow({ where: { id: existing.id } })).role).toBe('ADMIN');
    expect(await getSessionUser(new Request('http://x/', { headers: { cookie: await sessionCookie(existing.id) } }), { db: t.db })).toMatchObject({ id: existing.id, role: 'ADMIN', email: laterEmail });
  });

  it('a suspended user cannot sign in, and their existing session stops working at once', async () => {
    const user = await createAuthUser({ db: t.db, email: `sus-${unique()}@example.test` });
    const cookie = await sessionCookie(user.id);
    const request = () => new Request('http://x/', { headers: { cookie } });
    expect(await getSessionUser(request(), { db: t.db })).toMatchObject({ id: user.id, role: 'USER' });

    await t.db.user.update({ where: { id: user.id }, data: { suspended: true, suspendedReason: 'abuse' } });
    expect(await getSessionUser(request(), { db: t.db })).toBeNull();
    expect((await fetch(`${gw.url}/api/keys`, { headers: { cookie } })).status).toBe(401);

    const options = buildAuthOptions({ db: t.db, env: { NEXTAUTH_SECRET: SECRET } });
    expect(await options.callbacks!.signIn!({ user: { id: user.id, email: user.email } } as never)).toBe(false);
    // The email-link request for a suspended address is refused too (next-auth passes a placeholder user).
    expect(await options.callbacks!.signIn!({ user: { id: user.email, email: user.email } } as never)).toBe(false);
    await expect(options.callbacks!.jwt!({ token: { sub: user.id } } as never)).rejects.toThrow();

    const signer = privateKeyToAccount(generatePrivateKey());
    const walletUser = await createAuthUser({ db: t.db, walletAddress: signer.address });
    await t.db.user.update({ where: { id: walletUser.id }, data: { suspended: true } });
    const { message, signature } = await signedSiwe({ signer });
    expect(await siweAuthorize(options)({ message, signature })).toBeNull();
  });

  it('the admin API guard accepts an ADMIN session (audited as that user); ADMIN_TOKEN keeps working', async () => {
    const admin = await createAuthUser({ db: t.db, env: { ADMIN_EMAILS: 'root@example.test' }, email: 'root@example.test' });
    const plain = await createAuthUser({ db: t.db, email: `plain-${unique()}@example.test` });
    const echo = (env: Record<string, string>) => createGuards({ db: t.db, env: { NEXTAUTH_SECRET: SECRET, ...env } }).admin(async ({ actor }) => json({ actor }));
    const call = async (env: Record<string, string>, headers: Record<string, string>, method = 'GET') => {
      const response = await echo(env)(new Request('http://admin.test/api/admin/x', { method, headers: { host: 'admin.test', ...headers } }));
      return { status: response.status, body: (await response.json()) as { actor?: string } };
    };
    expect(await call({}, { cookie: await sessionCookie(admin.id) })).toEqual({ status: 200, body: { actor: `user:${admin.id} <root@example.test>` } });
    expect((await call({ ADMIN_TOKEN: 'tok-0123456789' }, { cookie: await sessionCookie(plain.id) })).status).toBe(403);
    expect((await call({}, {})).status).toBe(404);
    expect((await call({ ADMIN_TOKEN: 'tok-0123456789' }, {})).status).toBe(401);
    expect(await call({ ADMIN_TOKEN: 'tok-0123456789' }, { authorization: 'Bearer tok-0123456789' })).toEqual({ status: 200, body: { actor: 'admin-token' } });
    expect((await call({}, { cookie: await sessionCookie(admin.id), origin: 'https://evil.test' }, 'POST')).status).toBe(403);
  });

  it('mail goes through SMTP_URL when it is set, otherwise to the development mailbox', async () => {
    // A minimal SMTP server that records what it receives.
    const received: string[] = [];
    const server = createServer((socket) => {
      let data = false;
      let buffer = '';
      socket.write('220 test ESMTP\r\n');
      socket.on('data', (chunk) => {
        buffer += chunk.toString('utf8');
        let index: number;
        while (data ? (index = buffer.indexOf('\r\n.\r\n')) >= 0 : (index = buffer.indexOf('\r\n')) >= 0) {
          const line = buffer.slice(0, index);
          buffer = buffer.slice(index + (data ? 5 : 2));
          if (data) {
            received.push(line);
            data = false;
            socket.write('250 queued\r\n');
          } else if (/^(EHLO|HELO)/i.test(line)) socket.write('250 test\r\n');
          else if (/^DATA/i.test(line)) {
            data = true;
            socket.write('354 go on\r\n');
          } else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
          else socket.write('250 ok\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const smtp = `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const to = `smtp-${unique()}@example.test`;
    const mail = linkMail({ to, subject: 'Sign in to Tollgate', intro: 'Hello.', action: 'Sign in', url: 'http://tollgate.test/api/auth/callback/email?token=abc', expires: new Date(Date.now() + 3_600_000) });
    try {
      expect(devMailboxEnabled({ SMTP_URL: smtp })).toBe(false);
      await deliverMail({ db: t.db, env: { SMTP_URL: smtp, EMAIL_FROM: 'Tollgate <auth@tollgate.test>' }, mail });
      expect(received).toHaveLength(1);
      expect(received[0]).toContain(`To: ${to}`);
      expect(received[0]).toContain('From: Tollgate <auth@tollgate.test>');
      expect(await t.db.devMail.count({ where: { to } })).toBe(0);
    } finally {
      server.close();
    }
    expect(devMailboxEnabled({})).toBe(true);
    await deliverMail({ db: t.db, env: {}, mail });
    const stored = await t.db.devMail.findFirstOrThrow({ where: { to } });
    expect(stored).toMatchObject({ subject: 'Sign in to Tollgate' });
    expect(stored.text).toContain('http://tollgate.test/api/auth/callback/email?token=abc');
  });
});
