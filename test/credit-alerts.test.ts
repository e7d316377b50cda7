import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encode } from 'next-auth/jwt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertVault, checkCreditAlerts } from '../lib/credits/alert-check';
import { reencryptAlertSecrets } from '../lib/credits/alert-secrets';
import { postWebhook } from '../lib/credits/alert-webhook';
import { createCreditAlertsApi } from '../lib/credits/alerts';
import type { CreditAlertTestResult, CreditAlertView } from '../lib/credits/alerts-schema';
import { createDb } from '../lib/db/client';
import type { RateLimiter } from '../lib/gateway/rate-limit';
import type { Resolver } from '../lib/http/public-address';
import { newId } from '../lib/ids';
import { Ledger, SYSTEM_ACCOUNTS, walletAccountId } from '../lib/ledger';
import { purchasePack } from '../lib/packs/packs';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';

const SESSION_SECRET = 'credit-alerts-test-secret-0123456789';
const MASTER_HEX = randomBytes(32).toString('hex');
const USD = 1_000_000n;

/** What a receiver got: the raw body as sent (a signature covers bytes, not parsed JSON). */
type Received = { path: string; headers: IncomingHttpHeaders; body: string };

/** A webhook receiver on 127.0.0.1 that answers `status` (and Location for a 3xx). */
async function startReceiver() {
  const received: Received[] = [];
  let status = 200;
  let hang = false;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      if (hang) return;
      res.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {});
      res.end('a body the sender never reads');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hooks/tollgate`,
    received,
    answer(next: number) {
      status = next;
    },
    hangUp(next: boolean) {
      hang = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const noLimit: RateLimiter = { take: async () => ({ allowed: true, remaining: 1, retryAfterSeconds: 0 }), close: async () => {} };

/** A resolver for names the test owns; anything else is not found (no network in tests). */
const fakeDns =
  (names: Record<string, string[]>): Resolver =>
  async (hostname) => {
    const found = names[hostname];
    if (!found) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

// Tests deliver to a receiver on 127.0.0.1, so they allow private addresses; the SSRF tests do not.
const ENV = { NODE_ENV: 'test', NEXTAUTH_SECRET: SESSION_SECRET, SELLER_KEY_SECRET: MASTER_HEX, WEBHOOK_ALLOW_PRIVATE: 'true' };
const STRICT_ENV = { ...ENV, WEBHOOK_ALLOW_PRIVATE: undefined };

let t: TestDatabase;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let ledger: Ledger;
beforeAll(async () => {
  t = await createTestDatabase();
  receiver = await startReceiver();
  ledger = new Ledger(t.db);
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});
beforeEach(() => {
  receiver.received.length = 0;
  receiver.answer(200);
  receiver.hangUp(false);
});

async function cookieFor(userId: string) {
  return `next-auth.session-token=${await encode({ token: { sub: userId }, secret: SESSION_SECRET, maxAge: 3600 })}`;
}

function alertsApi(env: Record<string, string | undefined> = ENV, resolver?: Resolver) {
  return createCreditAlertsApi({ db: t.db, env, rateLimiter: noLimit, ...(resolver ? { resolver } : {}), webhookTimeoutMs: 1_000 });
}

type ErrorBody = { error: { message: string; code: string; param: string | null } };

/** A call as the browser makes it: the session cookie, same-origin. */
async function call(api: ReturnType<typeof alertsApi>, method: 'GET' | 'PUT' | 'DELETE' | 'POST', cookie: string, body?: unknown, headers: Record<string, string> = {}) {
  const request = new Request(`http://localhost/api/credits/alerts${method === 'POST' ? '/test' : ''}`, {
    method,
    headers: { cookie, origin: 'http://localhost', host: 'localhost', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const handler = method === 'GET' ? api.get : method === 'PUT' ? api.put : method === 'DELETE' ? api.remove : api.test;
  const response = await handler(request);
  return { status: response.status, json: (await response.json()) as CreditAlertView & Pick<CreditAlertTestResult, 'webhook'> & ErrorBody };
}

async function user(balance: bigint, email?: string | null) {
  const created = await createFundedUser(t.db, balance);
  if (email === null) await t.db.user.update({ where: { id: created.user.id }, data: { email: null } });
  return { id: created.user.id, email: email === null ? null : created.user.email!, cookie: await cookieFor(created.user.id) };
}

/** Money leaves the wallet (spend) or arrives (top-up), as the ledger records any other movement. */
async function move(userId: string, amount: bigint) {
  await ledger.transfer({
    idempotencyKey: `test-move:${newId('req')}`,
    kind: amount > 0n ? 'admin_credit' : 'adjustment',
    entries:
      amount > 0n
        ? [
            { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -amount },
            { accountId: walletAccountId(userId), amount },
          ]
        : [
            { accountId: walletAccountId(userId), amount },
            { accountId: SYSTEM_ACCOUNTS.revenue.id, amount: -amount },
          ],
  });
}

const mailsTo = (to: string) => t.db.devMail.findMany({ where: { to }, orderBy: { createdAt: 'asc' } });
const alertRow = (userId: string) => t.db.creditAlert.findUniqueOrThrow({ where: { userId } });
const check = (env: Record<string, string | undefined> = ENV, db = t.db) => checkCreditAlerts({ db, env, webhookTimeoutMs: 1_000 });

/** The receiver's signature checked the way the README tells a receiver to, with node:crypto alone. */
function verifySignature(received: Received, secret: string) {
  const header = String(received.headers['tollgate-signature']);
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${received.body}`).digest('hex');
  return { valid: parts.v1 === expected, timestamp: Number(parts.t) };
}

describe('PUT /api/credits/alerts', () => {
  it('refuses bad input with a message on the field it names', async () => {
    const api = alertsApi();
    const alice = await user(10n * USD);
    const noEmail = await user(10n * USD, null);
    const cases: Array<[unknown, string, string, string | RegExp, number?]> = [
      [{ threshold_usd: '0', email: true, webhook_url: null }, alice.cookie, 'threshold_usd', 'more than $0'],
      [{ threshold_usd: '2000000', email: true, webhook_url: null }, alice.cookie, 'threshold_usd', 'at most $1,000,000'],
      [{ threshold_usd: 'five', email: true, webhook_url: null }, alice.cookie, 'threshold_usd', 'USD amount'],
      [{ threshold_usd: '5', email: false, webhook_url: null }, alice.cookie, 'email', 'choose email, a webhook, or both'],
      [{ threshold_usd: '5', email: true, webhook_url: null, admin: true }, alice.cookie, 'admin', "Unrecognized field 'admin'"],
      [{ threshold_usd: '5', email: true, webhook_url: null }, noEmail.cookie, 'email', 'no email address'],
      [{ threshold_usd: '5', email: false, webhook_url: 'ftp://example.com/x' }, alice.cookie, 'webhook_url', 'must start with https:// or http://'],
      [{ threshold_usd: '5', email: false, webhook_url: 'not a url' }, alice.cookie, 'webhook_url', 'must be a full URL'],
      [{ threshold_usd: '5', email: false, webhook_url: 'http://user:pw@127.0.0.1:1/x' }, alice.cookie, 'webhook_url', 'user name or password'],
      [{ threshold_usd: '5', email: true, webhook_url: null, rotate_secret: true }, alice.cookie, 'rotate_secret', 'set a webhook URL'],
    ];
    for (const [body, cookie, param, message] of cases) {
      const { status, json } = await call(api, 'PUT', cookie, body);
      expect([status, json.error.param], JSON.stringify(body)).toEqual([400, param]);
      expect(json.error.message).toMatch(message);
    }
    expect(await t.db.creditAlert.count({ where: { userId: { in: [alice.id, noEmail.id] } } })).toBe(0);
  });

  it('refuses a cross-site write and a caller without a session', async () => {
    const api = alertsApi();
    const alice = await user(10n * USD);
    const body = { threshold_usd: '5', email: true, webhook_url: null };
    expect((await call(api, 'PUT', alice.cookie, body, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await call(api, 'PUT', '', body)).status).toBe(401);
    expect(await t.db.creditAlert.count({ where: { userId: alice.id } })).toBe(0);
  });

  it('makes the signing secret once, stores it sealed, keeps it on re-save, replaces it on rotate, and audits without secrets', async () => {
    const api = alertsApi();
    const alice = await user(10n * USD);
    const first = await call(api, 'PUT', alice.cookie, { threshold_usd: '5', email: true, webhook_url: receiver.url });
    expect(first.status).toBe(200);
    const secret = first.json.webhook_secret!;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(first.json).toMatchObject({ configured: true, threshold_usd: '5.000000', email: true, webhook_url: receiver.url, webhook_secret_hint: secret.slice(-4), armed: true, balance_usd: '10.000000' });
    const row = await alertRow(alice.id);
    expect(row.webhookSecret).toMatch(/^v1:/);
    expect(row.webhookSecret).not.toContain(secret.slice(6));

    const read = await call(api, 'GET', alice.cookie);
    expect(read.json.webhook_secret).toBeUndefined();
    expect(read.json.webhook_secret_hint).toBe(secret.slice(-4));

    const again = await call(api, 'PUT', alice.cookie, { threshold_usd: '6', email: true, webhook_url: receiver.url });
    expect(again.json.webhook_secret).toBeUndefined();
    expect((await alertRow(alice.id)).webhookSecret).toBe(row.webhookSecret);

    const rotated = await call(api, 'PUT', alice.cookie, { threshold_usd: '6', email: true, webhook_url: receiver.url, rotate_secret: true });
    expect(rotated.json.webhook_secret).toMatch(/^whsec_/);
    expect(rotated.json.webhook_secret).not.toBe(secret);

    const audits = await t.db.auditLog.findMany({ where: { targetId: alice.id, action: { startsWith: 'credit_alert.' } }, orderBy: { createdAt: 'asc' } });
    expect(audits.map((a) => a.action)).toEqual(['credit_alert.create', 'credit_alert.update', 'credit_alert.update']);
    expect(audits[0]!.actor).toBe(`user:${alice.id}`);
    expect(JSON.parse(audits[0]!.details)).toEqual({ threshold_micros: '5000000', email: true, webhook_host: `127.0.0.1:${receiver.port}`, secret_issued: true });
    for (const audit of audits) expect(audit.details).not.toContain('whsec_');

    // Without a webhook, no secret is kept.
    await call(api, 'PUT', alice.cookie, { threshold_usd: '6', email: true, webhook_url: '' });
    expect(await alertRow(alice.id)).toMatchObject({ webhookUrl: null, webhookSecret: null, webhookSecretHint: null });
  });

  it("reads and changes only the caller's own alert", async () => {
    const api = alertsApi();
    const alice = await user(10n * USD);
    const bob = await user(10n * USD);
    await call(api, 'PUT', alice.cookie, { threshold_usd: '5', email: true, webhook_url: receiver.url });
    const aliceRow = await alertRow(alice.id);

    const bobReads = await call(api, 'GET', bob.cookie);
    expect(bobReads.json).toMatchObject({ configured: false, threshold_usd: null, webhook_url: null, email_address: bob.email });
    expect((await call(api, 'POST', bob.cookie)).status).toBe(404);
    expect((await call(api, 'DELETE', bob.cookie)).status).toBe(200);
    expect(await alertRow(alice.id)).toEqual(aliceRow);
    await call(api, 'PUT', bob.cookie, { threshold_usd: '1', email: true, webhook_url: null });
    expect(await alertRow(alice.id)).toEqual(aliceRow);
    expect(await alertRow(bob.id)).toMatchObject({ threshold: USD, webhookUrl: null });

    expect((await call(api, 'DELETE', alice.cookie)).json.configured).toBe(false);
    expect(await t.db.creditAlert.findUnique({ where: { userId: alice.id } })).toBeNull();
    expect(await alertRow(bob.id)).toMatchObject({ threshold: USD });
  });
});

describe('webhook URLs: server-side request forgery', () => {
  const dns = fakeDns({
    'internal.example': ['10.0.0.7'],
    'metadata.example': ['169.254.169.254'],
    'split.example': ['93.184.215.14', '192.168.1.20'],
    'v6.example': ['fd00::5'],
    'hooks.example': ['93.184.215.14'],
  });

  it('refuses private, loopback, link-local, CGNAT, unique-local, multicast and reserved targets, by literal or by name', async () => {
    const api = alertsApi(STRICT_ENV, dns);
    const alice = await user(10n * USD);
    const bad: Array<[string, RegExp]> = [
      ['http://169.254.169.254/latest/meta-data/', /'169\.254\.169\.254' is a private/],
      ['http://[::1]:8080/hook', /'::1' is a private/],
      ['http://127.0.0.1/hook', /private, loopback/],
      ['http://2130706433/hook', /'127\.0\.0\.1' is/], // the URL parser reads it as 127.0.0.1
      ['http://0x7f.1/hook', /'127\.0\.0\.1' is/],
      ['http://[::ffff:127.0.0.1]/hook', /private, loopback/],
      ['http://0.0.0.0/hook', /private, loopback/],
      ['http://10.1.2.3/hook', /private, loopback/],
      ['http://172.16.5.4/hook', /private, loopback/],
      ['http://192.168.0.10/hook', /private, loopback/],
      ['http://100.64.0.1/hook', /private, loopback/],
      ['http://[fd12::1]/hook', /private, loopback/],
      ['http://[fe80::1]/hook', /private, loopback/],
      ['http://224.0.0.1/hook', /private, loopback/],
      ['http://255.255.255.255/hook', /private, loopback/],
      ['http://internal.example/hook', /'internal\.example' resolves to a private/],
      ['http://metadata.example/hook', /'metadata\.example' resolves to a private/],
      ['http://split.example/hook', /'split\.example' resolves to a private/],
      ['http://v6.example/hook', /'v6\.example' resolves to a private/],
      ['http://nowhere.example/hook', /does not resolve/],
    ];
    for (const [url, message] of bad) {
      const { status, json } = await call(api, 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: url });
      expect([status, json.error?.code, json.error?.param], url).toEqual([400, 'invalid_webhook_url', 'webhook_url']);
      expect(json.error.message, url).toMatch(message);
    }
    // The system resolver: 'localhost' is 127.0.0.1 (or ::1) by /etc/hosts, without any network.
    const local = await call(alertsApi(STRICT_ENV), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: `http://localhost:${receiver.port}/hook` });
    expect([local.status, local.json.error.param]).toEqual([400, 'webhook_url']);
    expect(local.json.error.message).toMatch(/^'localhost' resolves to a private, loopback, link-local or reserved address; webhooks go to public addresses only\.$/);
    expect(await t.db.creditAlert.count({ where: { userId: alice.id } })).toBe(0);
    // A public name is accepted.
    expect((await call(api, 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: 'http://hooks.example/hook' })).status).toBe(200);
  });

  it('asks for https in production', async () => {
    const api = alertsApi({ ...STRICT_ENV, NODE_ENV: 'production' }, dns);
    const alice = await user(10n * USD);
    const plain = await call(api, 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: 'http://hooks.example/hook' });
    expect([plain.status, plain.json.error.param]).toEqual([400, 'webhook_url']);
    expect(plain.json.error.message).toBe('The webhook URL must start with https://.');
    expect((await call(api, 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: 'https://hooks.example/hook' })).status).toBe(200);
  });

  it('checks again at send time: a URL saved while private targets were allowed is not called once they are not', async () => {
    const alice = await user(1n * USD);
    await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: receiver.url });
    expect(await check(STRICT_ENV)).toMatchObject({ sent: 1 });
    expect(receiver.received).toHaveLength(0);
    expect((await alertRow(alice.id)).lastDeliveryError).toMatch(/^Webhook: '127\.0\.0\.1' is a private, loopback/);
  });

  it('connects to the address it checked, not to a second DNS answer', async () => {
    // 'hooks.internal' exists only in this resolver: the request can reach the receiver only
    // through the checked address, and still says the name in its Host header.
    const { delivered } = await postWebhook({
      url: `http://hooks.internal:${receiver.port}/pinned`,
      body: '{}',
      secret: 'whsec_test',
      eventId: 'evt_test',
      env: ENV,
      resolver: fakeDns({ 'hooks.internal': ['127.0.0.1'] }),
    }).then((r) => ({ delivered: r.delivered }));
    expect(delivered).toBe(true);
    expect(receiver.received.map((r) => [r.path, r.headers.host])).toEqual([['/pinned', `hooks.internal:${receiver.port}`]]);
  });

  it('does not follow redirects and gives up on a receiver that does not answer', async () => {
    receiver.answer(302);
    const redirected = await postWebhook({ url: receiver.url, body: '{}', secret: 's', eventId: 'evt_a', env: ENV });
    expect(redirected).toMatchObject({ delivered: false, status: 302 });
    expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/tollgate']);

    receiver.hangUp(true);
    const started = Date.now();
    const hung = await postWebhook({ url: receiver.url, body: '{}', secret: 's', eventId: 'evt_b', env: ENV, timeoutMs: 300 });
    expect(hung).toMatchObject({ delivered: false, status: null });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('the periodic check', () => {
  it('sends once per crossing, across two instances checking at once, by email and signed webhook', async () => {
    const alice = await user(10n * USD);
    const saved = await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: true, webhook_url: receiver.url });
    const secret = saved.json.webhook_secret!;

    // Above the threshold: nothing.
    await check();
    expect(receiver.received).toHaveLength(0);

    // Spending $6.50 leaves $3.50. Two instances (their own database connections) check at once.
    await move(alice.id, -6_500_000n);
    const other = createDb(t.config);
    try {
      const results = await Promise.all([check(ENV, t.db), check(ENV, other)]);
      expect(results.reduce((sum, r) => sum + r.sent, 0)).toBe(1);
    } finally {
      await other.$disconnect();
    }
    expect(receiver.received).toHaveLength(1);
    expect(await mailsTo(alice.email!)).toHaveLength(1);
    // Still low, already alerted: a later check is quiet.
    await check();
    expect(receiver.received).toHaveLength(1);
    expect(await mailsTo(alice.email!)).toHaveLength(1);

    const [delivery] = receiver.received;
    const { valid, timestamp } = verifySignature(delivery!, secret);
    expect(valid).toBe(true);
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(verifySignature(delivery!, 'whsec_wrong').valid).toBe(false);
    expect(delivery!.headers).toMatchObject({ 'content-type': 'application/json', 'tollgate-event': 'balance.low' });
    const event = JSON.parse(delivery!.body) as Record<string, unknown>;
    expect(event).toMatchObject({ type: 'balance.low', test: false, balance_usd: '3.500000', threshold_usd: '5.000000', user: { id: alice.id, email: alice.email } });
    expect(delivery!.headers['tollgate-delivery']).toBe(event.id);

    const [mail] = await mailsTo(alice.email!);
    expect(mail!.subject).toBe('Tollgate: your balance is $3.50');
    expect(mail!.text).toContain('at or below the $5.00 you set');
    expect(await alertRow(alice.id)).toMatchObject({ armed: false, lastAlertBalance: 3_500_000n, lastDeliveryError: null });
  });

  it('re-arms after a top-up and alerts again on the next fall', async () => {
    const alice = await user(2n * USD);
    await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: receiver.url });
    expect(await check()).toMatchObject({ sent: 1 });

    await move(alice.id, 10n * USD);
    expect(await check()).toEqual({ sent: 0, rearmed: 1 });
    expect((await alertRow(alice.id)).armed).toBe(true);

    await move(alice.id, -8n * USD);
    expect(await check()).toMatchObject({ sent: 1 });
    expect(receiver.received.map((r) => (JSON.parse(r.body) as { balance_usd: string }).balance_usd)).toEqual(['2.000000', '4.000000']);
  });

  it('judges the posted balance: calls in flight holding part of it neither fire the alert nor make it flap', async () => {
    const alice = await user(8n * USD);
    await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: receiver.url });
    const before = receiver.received.length;
    // A call holds $6 of the $8: $2 is free for the moment, the balance is still $8.
    const { holds } = await ledger.reserve({ idempotencyKey: `alert-hold:${alice.id}`, sources: [walletAccountId(alice.id)], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 6n * USD, ttlMs: 60_000 });
    expect(await check()).toEqual({ sent: 0, rearmed: 0 });
    // It settles at $4: $4 left, at or below the $5 threshold, once.
    await ledger.settle({ holds, amount: 4n * USD, idempotencyKey: `alert-settle:${alice.id}` });
    expect(await check()).toMatchObject({ sent: 1 });
    expect(await check()).toEqual({ sent: 0, rearmed: 0 });
    expect(receiver.received.length).toBe(before + 1);
  });

  it('counts live pack credit, and stops counting it once the lot expires', async () => {
    // $10 in the wallet buys a pack: $8 from the wallet for $10 of credit, so $2 + $10 = $12.
    const alice = await user(10n * USD);
    const pack = await t.db.pack.create({ data: { id: newId('pk'), name: 'Alert pack', description: 'test pack', validityDays: 30, price: 8n * USD, faceValue: 10n * USD } });
    const { lot } = await purchasePack({ db: t.db, ledger, userId: alice.id, packId: pack.id, idempotencyKey: `alert-pack:${alice.id}` });
    const saved = await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: receiver.url });
    expect(saved.json.balance_usd).toBe('12.000000');
    expect(await check()).toMatchObject({ sent: 0 });

    // An expired lot no longer counts even before the sweeper marks it: $2 is left.
    await t.db.packLot.update({ where: { id: lot.id }, data: { expiresAt: new Date(Date.now() - 1_000) } });
    expect(await check()).toMatchObject({ sent: 1 });
    expect((JSON.parse(receiver.received[0]!.body) as { balance_usd: string }).balance_usd).toBe('2.000000');
  });

  it('a failed delivery is recorded for the owner, and the alert is not resent every minute', async () => {
    const alice = await user(1n * USD);
    await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: receiver.url });
    receiver.answer(500);
    expect(await check()).toMatchObject({ sent: 1 });
    expect((await alertRow(alice.id)).lastDeliveryError).toBe('Webhook: The receiver answered HTTP 500.');
    expect((await call(alertsApi(), 'GET', alice.cookie)).json.last_delivery_error).toBe('Webhook: The receiver answered HTTP 500.');
    await check();
    expect(receiver.received).toHaveLength(1);
  });
});

describe('POST /api/credits/alerts/test', () => {
  it('sends a test on the saved channels without touching the alert', async () => {
    const alice = await user(10n * USD);
    const saved = await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: true, webhook_url: receiver.url });
    const before = await alertRow(alice.id);
    const { status, json } = await call(alertsApi(), 'POST', alice.cookie);
    expect(status).toBe(200);
    expect(json).toMatchObject({ object: 'credit_alert_test', email: 'sent', webhook: { status: 'delivered', http_status: 200 } });
    expect(receiver.received).toHaveLength(1);
    expect(verifySignature(receiver.received[0]!, saved.json.webhook_secret!).valid).toBe(true);
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ type: 'balance.low', test: true, balance_usd: '10.000000' });
    expect((await mailsTo(alice.email!)).map((m) => m.subject)).toEqual(['Tollgate: test low-balance alert']);
    expect(await alertRow(alice.id)).toEqual(before);

    receiver.answer(404);
    expect((await call(alertsApi(), 'POST', alice.cookie)).json.webhook).toEqual({ status: 'failed', http_status: 404, error: 'The receiver answered HTTP 404.' });
  });
});

describe('rotating the master key', () => {
  it('re-seals webhook secrets under the new key, and deliveries still verify with the same secret', async () => {
    const alice = await user(1n * USD);
    const saved = await call(alertsApi(), 'PUT', alice.cookie, { threshold_usd: '5', email: false, webhook_url: receiver.url });
    const before = (await alertRow(alice.id)).webhookSecret!;
    const newMaster = randomBytes(32).toString('hex');
    const rotated = { ...ENV, SELLER_KEY_SECRET: newMaster, SELLER_KEY_SECRET_PREVIOUS: MASTER_HEX };
    const result = await reencryptAlertSecrets({ db: t.db, vault: alertVault(rotated) });
    expect(result.unreadable).toEqual([]);
    expect(result.reencrypted).toBeGreaterThanOrEqual(1);
    const after = (await alertRow(alice.id)).webhookSecret!;
    expect(alertVault(rotated).keyIdOf(after)).not.toBe(alertVault(rotated).keyIdOf(before));

    // The old master key retired: the new one alone opens the secret, unchanged for the receiver.
    expect(await check({ ...ENV, SELLER_KEY_SECRET: newMaster })).toMatchObject({ sent: 1 });
    const delivery = receiver.received.find((r) => (JSON.parse(r.body) as { user: { id: string } }).user.id === alice.id);
    expect(verifySignature(delivery!, saved.json.webhook_secret!).valid).toBe(true);
  });
});
