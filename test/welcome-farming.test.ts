// Issue #11, item 3: free credit farming. A key pair costs nothing, so every fresh wallet that
// signs in must not come with credit an API key can spend; the welcome credit pays only in the
// playground, and only a few new accounts a day per client address get it.
import { encode } from 'next-auth/jwt';
import type { NextAuthOptions } from 'next-auth';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { beforeAll, describe, expect, it } from 'vitest';
import { getAccountInfo } from '../lib/account/account-info';
import { buildAuthOptions } from '../lib/auth/options';
import { issueSiweNonce } from '../lib/auth/siwe';
import { welcomeLotAccountId, welcomeLotId } from '../lib/credits/welcome';
import { PEER_HEADER, trustPeerHeader } from '../lib/http/client-address';
import { json } from '../lib/http/json';
import { withRequestContext } from '../lib/http/request-context';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { playgroundKeyId, toChatCompletionBody } from '../lib/playground';
import type { TestDatabase } from './helpers/db';
import { gatewayHarness, type TestGateway } from './helpers/gateway';

const SECRET = 'welcome-farming-secret-0123456789abcdef';
process.env.NEXTAUTH_SECRET = SECRET;
// The test gateway's server stamps the socket's address; the sign-in requests below carry the
// stamped header as such a server would.
trustPeerHeader();

const harness = gatewayHarness();
let t: TestDatabase;
let gw: TestGateway;
beforeAll(() => {
  ({ t, gw } = harness);
});

const DOMAIN = 'tollgate.test';
const MODEL = 'tollgate-local';

type Authorize = (credentials: Record<string, string>, req: { headers: Record<string, string> }) => Promise<{ id: string } | null>;

/**
 * next-auth's wallet callback as the route runs it: the request context wrapper of
 * lib/auth/handler.ts around the SIWE provider's own authorize, which creates new users. (The
 * rest of next-auth's route needs Next's request scope; it only passes the credentials through.)
 */
function walletSignInRoute(env: Record<string, string> = {}) {
  const options: NextAuthOptions = buildAuthOptions({ db: t.db, env: { NEXTAUTH_SECRET: SECRET, ...env } });
  const provider = options.providers.find((p) => (p as unknown as { options?: { id?: string } }).options?.id === 'siwe') as unknown as { options: { authorize: Authorize } };
  return withRequestContext(async (request: Request) => {
    const user = await provider.options.authorize((await request.json()) as Record<string, string>, { headers: Object.fromEntries(request.headers) });
    return json({ user });
  });
}

/** A fresh key pair signs in with Sign-In with Ethereum from `peer` (the socket's address, or none). */
async function signedRequest({ peer, forwardedFor }: { peer?: string; forwardedFor?: string } = {}) {
  const signer = privateKeyToAccount(generatePrivateKey());
  const { nonce } = await issueSiweNonce({ db: t.db });
  const message = createSiweMessage({ domain: DOMAIN, address: signer.address, statement: 'Sign in to Tollgate.', uri: `http://${DOMAIN}`, version: '1', chainId: 1, nonce });
  const signature = await signer.signMessage({ message });
  const headers: Record<string, string> = { host: DOMAIN, 'content-type': 'application/json' };
  if (peer) headers[PEER_HEADER] = peer;
  if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
  return new Request(`http://${DOMAIN}/api/auth/callback/siwe`, { method: 'POST', headers, body: JSON.stringify({ message, signature }) });
}

async function userIdOf(response: Response): Promise<string> {
  const { user } = (await response.json()) as { user: { id: string } | null };
  expect(user, 'the wallet signs in either way').not.toBeNull();
  return user!.id;
}

const signIn = async (route: ReturnType<typeof walletSignInRoute>, options: Parameters<typeof signedRequest>[0] = {}) => userIdOf(await route(await signedRequest(options)));

const balanceOf = async (accountId: string) => (await t.db.ledgerAccount.findUnique({ where: { id: accountId }, select: { balance: true } }))?.balance ?? 0n;
const hasWelcomeLot = async (userId: string) => (await t.db.packLot.count({ where: { userId, kind: 'WELCOME' } })) === 1;

async function sessionApi(userId: string) {
  const cookie = `next-auth.session-token=${await encode({ token: { sub: userId }, secret: SECRET, maxAge: 3600 })}`;
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gw.url}${path}`, { method, headers: { cookie, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
}

/** The playground's own call into the gateway (what POST /api/playground/chat does once the session is checked). */
async function playgroundCall(userId: string) {
  const keyId = await playgroundKeyId(t.db, userId);
  const body = toChatCompletionBody({ model: MODEL, messages: [{ role: 'user', content: 'Hello from the playground' }] });
  const response = await gw.gateway.chatCompletionsForKey(keyId, new Request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  const text = await response.text();
  const chunks = text
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map((line) => JSON.parse(line.slice(6)) as { usage?: { cost: number }; billing?: { charged_usd: number; pack?: { id: string; remaining_usd: number } } });
  return { keyId, status: response.status, final: chunks.find((c) => c.usage) };
}

/** What a call costs at the catalog's sell prices, restated here: ceil((in × price_in + out × price_out) / 1M). */
async function expectedCost(requestId: string) {
  const usage = await t.db.usageRecord.findFirstOrThrow({ where: { requestId } });
  const offering = await t.db.modelOffering.findFirstOrThrow({ where: { modelId: usage.modelId, providerId: usage.providerId! } });
  const micro = BigInt(usage.promptTokens) * offering.sellInputPer1M + BigInt(usage.completionTokens) * offering.sellOutputPer1M;
  return { usage, cost: (micro + 999_999n) / 1_000_000n };
}

describe('free credit farming', () => {
  it('five fresh wallets yield no API-spendable credit; each one’s playground calls are paid from its welcome lot', async () => {
    const route = walletSignInRoute();
    for (let i = 0; i < 5; i++) {
      const userId = await signIn(route, { peer: `203.0.113.${10 + i}` });
      expect(await hasWelcomeLot(userId)).toBe(true);
      expect(await balanceOf(walletAccountId(userId))).toBe(0n);
      expect(await balanceOf(welcomeLotAccountId(userId))).toBe(10_000_000n);

      // A key made through the account API, named like the playground's own: the name grants nothing.
      const api = await sessionApi(userId);
      const created = await api('POST', '/api/keys', { name: 'Playground' });
      expect(created.status).toBe(201);
      const refused = await gw
        .client(created.json.key as string)
        .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'spend the welcome credit' }], max_tokens: 16 })
        .catch((error: unknown) => error as { status: number; code: string; message: string });
      expect(refused).toMatchObject({ status: 402, code: 'insufficient_credits' });
      expect((refused as { message: string }).message).toContain('welcome credit of $10.00 pays for playground calls only');
      expect(await balanceOf(walletAccountId(userId))).toBe(0n);
      expect(await balanceOf(welcomeLotAccountId(userId))).toBe(10_000_000n);

      // The playground, with that very key: paid from the welcome lot, the wallet untouched.
      const played = await playgroundCall(userId);
      expect(played.keyId).toBe(created.json.id);
      expect(played.status).toBe(200);
      const { usage, cost } = await expectedCost((await t.db.usageRecord.findFirstOrThrow({ where: { userId, status: 'SUCCESS' } })).requestId);
      expect(cost).toBeGreaterThan(0n);
      expect(usage.cost).toBe(cost);
      expect(played.final?.billing?.pack?.id).toBe(welcomeLotId(userId));
      expect(played.final?.usage?.cost).toBe(Number(cost) / 1e6);
      expect(await balanceOf(welcomeLotAccountId(userId))).toBe(10_000_000n - cost);
      expect(await balanceOf(walletAccountId(userId))).toBe(0n);

      // The account info (GET /api/account) and the lots API say what it is and where it pays.
      expect(await getAccountInfo({ db: t.db, userId })).toMatchObject({ balance_usd: 0, available_usd: 0, welcome_credit: { lot_id: welcomeLotId(userId), face_value_usd: 10, remaining_usd: Number(10_000_000n - cost) / 1e6, scope: 'playground', status: 'ACTIVE' } });
      const lots = (await api('GET', '/api/lots')).json.data as Array<Record<string, unknown>>;
      expect(lots).toEqual([expect.objectContaining({ id: welcomeLotId(userId), kind: 'welcome', pack_id: null, pack_name: 'Welcome credit (playground only)', scope: { provider: null, model: null, playground_only: true } })]);
    }
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('the 4th new account from one address in a day gets no welcome lot, even with a made-up X-Forwarded-For; another address does', async () => {
    const route = walletSignInRoute({ WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '3' });
    const granted = [];
    for (let i = 0; i < 3; i++) granted.push(await hasWelcomeLot(await signIn(route, { peer: '198.51.100.7' })));
    expect(granted).toEqual([true, true, true]);
    const fourth = await signIn(route, { peer: '198.51.100.7', forwardedFor: '192.0.2.99' });
    // The account exists and is signed in, just without the credit.
    expect(await t.db.user.findUnique({ where: { id: fourth } })).not.toBeNull();
    expect(await hasWelcomeLot(fourth)).toBe(false);
    expect(await balanceOf(walletAccountId(fourth))).toBe(0n);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `welcome:${fourth}` } })).toBe(0);
    expect(await hasWelcomeLot(await signIn(route, { peer: '198.51.100.8' }))).toBe(true);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('ten sign-ins at once from one address yield exactly the cap of welcome lots', async () => {
    const route = walletSignInRoute({ WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '3' });
    const requests = await Promise.all(Array.from({ length: 10 }, () => signedRequest({ peer: '198.51.100.20' })));
    const userIds = await Promise.all(requests.map(async (request) => userIdOf(await route(request))));
    expect(new Set(userIds).size).toBe(10);
    const lots = await t.db.packLot.count({ where: { userId: { in: userIds }, kind: 'WELCOME' } });
    expect(lots).toBe(3);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: { in: userIds.map((id) => `welcome:${id}`) } } })).toBe(3);
    expect((await t.db.welcomeGrantQuota.findMany({ where: { address: '198.51.100.20' } })).map((q) => q.count)).toEqual([3]);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('clients whose address the server cannot tell share one bucket with its own cap', async () => {
    const route = walletSignInRoute({ WELCOME_CREDIT_PER_ADDRESS_PER_DAY: '3', WELCOME_CREDIT_UNKNOWN_ADDRESS_PER_DAY: '2' });
    const unknown = [];
    // No stamped peer: a made-up X-Forwarded-For is no address either.
    for (let i = 0; i < 3; i++) unknown.push(await hasWelcomeLot(await signIn(route, { forwardedFor: `192.0.2.${i + 1}` })));
    expect(unknown).toEqual([true, true, false]);
    expect(await hasWelcomeLot(await signIn(route, { peer: '198.51.100.30' }))).toBe(true);
  });
});
