import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { createTestDatabase, type TestDatabase } from './db';
import { createAccountApi } from '../../lib/account/account-api';
import { createAdminApi } from '../../lib/admin/admin-api';
import type { Db } from '../../lib/db/client';
import type { PayPerRequest } from '../../lib/gateway/context';
import { createGateway } from '../../lib/gateway/gateway';
import { createPackAdminApi } from '../../lib/packs/pack-admin';
import { createPacksApi, type PacksApi } from '../../lib/packs/packs-api';
import { createApiKeyOp, type NewKeyInput } from '../../lib/keys/keys';
import { createNodeServer } from '../../lib/server/node-server';
import { createFundedUser } from './fixtures';

/** Provider keys the tests hand the gateway; none of them may ever appear in a response. */
export const PROVIDER_SECRETS = {
  OPENAI_API_KEY: 'sk-test-openai-0123456789secret',
  ANTHROPIC_API_KEY: 'sk-ant-test-0123456789secret',
  GEMINI_API_KEY: 'gm-test-0123456789secret',
  DEEPSEEK_API_KEY: 'ds-test-0123456789secret',
};
export const ADMIN_TOKEN = 'admin-test-token-0123456789';

export function upstreamEnv(fakeUrl: string, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    ...PROVIDER_SECRETS,
    OPENAI_BASE_URL: `${fakeUrl}/v1`,
    ANTHROPIC_BASE_URL: fakeUrl,
    GEMINI_BASE_URL: `${fakeUrl}/v1beta/openai/`,
    DEEPSEEK_BASE_URL: `${fakeUrl}/v1`,
    LOCAL_MODEL_TOKEN_DELAY_MS: '0',
    CATALOG_CACHE_MS: '0',
    UPSTREAM_TIMEOUT_MS: '3000',
    ADMIN_TOKEN,
    // Session cookies in a test are signed with the secret the test file set for the process.
    ...(process.env.NEXTAUTH_SECRET ? { NEXTAUTH_SECRET: process.env.NEXTAUTH_SECRET } : {}),
    ...overrides,
  };
}

/** The real gateway behind the lean Node server on a random port, plus the admin API. */
export async function startTestGateway({ db, env, payPerRequest }: { db: Db; env: NodeJS.ProcessEnv; payPerRequest?: PayPerRequest }) {
  const gateway = createGateway({ db, env, payPerRequest });
  const admin = createAdminApi({ db, catalog: gateway.ctx.catalog, env });
  const account = createAccountApi({ db, catalog: gateway.ctx.catalog, env });
  const packs = createPacksApi({ db });
  const packAdmin = createPackAdminApi({ db, catalog: gateway.ctx.catalog, env });
  const server = createNodeServer(async (request) => {
    const { pathname } = new URL(request.url);
    const accountRoute = routeAccount(account, request, pathname) ?? routePacks(packs, request, pathname) ?? routePackAdmin(packAdmin, request, pathname);
    if (accountRoute) return accountRoute;
    const adminRoute =
      /^\/api\/admin\/users\/([^/]+)\/(credit|keys)$/.exec(pathname) ??
      /^\/api\/admin\/providers\/([^/]+)$/.exec(pathname) ??
      /^\/api\/admin\/(users|redemption-codes)$/.exec(pathname);
    if (!adminRoute) return gateway.handle(request);
    const id = adminRoute[1];
    if (pathname === '/api/admin/users') return admin.createUser(request);
    if (pathname === '/api/admin/redemption-codes') return admin.createRedemptionCodes(request);
    if (pathname.startsWith('/api/admin/providers/')) return admin.patchProvider(request, { id: id! });
    return adminRoute[2] === 'credit' ? admin.creditUser(request, { id: id! }) : admin.createKey(request, { id: id! });
    // /v1 and /health as the app's server serves them: straight to the gateway, without a Web Request.
  }, gateway.handleApi);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    gateway,
    client: (apiKey: string) => new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 }),
    close: async () => {
      await gateway.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** The account API's routes, as app/api/keys/** and app/api/usage/** map them in Next. */
function routeAccount(account: ReturnType<typeof createAccountApi>, request: Request, pathname: string): Promise<Response> | null {
  const keyId = /^\/api\/keys\/([^/]+)$/.exec(pathname)?.[1];
  if (pathname === '/api/keys') return request.method === 'POST' ? account.createKey(request) : account.listKeys(request);
  if (keyId) return request.method === 'DELETE' ? account.revokeKey(request, { id: keyId }) : account.updateKey(request, { id: keyId });
  if (pathname === '/api/usage') return account.listUsage(request);
  if (pathname === '/api/usage/daily') return account.dailyUsage(request);
  if (pathname === '/api/usage/export') return account.exportUsage(request);
  if (pathname === '/api/credits/redeem') return account.redeem(request);
  return null;
}

/** The pack shop's routes, as app/api/packs/** and app/api/lots map them in Next. */
function routePacks(packs: PacksApi, request: Request, pathname: string): Promise<Response> | null {
  const purchase = /^\/api\/packs\/([^/]+)\/purchase$/.exec(pathname)?.[1];
  if (purchase) return packs.purchase(request, { id: purchase });
  if (pathname === '/api/packs') return packs.list(request);
  if (pathname === '/api/lots') return packs.lots(request);
  return null;
}

function routePackAdmin(packAdmin: ReturnType<typeof createPackAdminApi>, request: Request, pathname: string): Promise<Response> | null {
  const id = /^\/api\/admin\/packs\/([^/]+)$/.exec(pathname)?.[1];
  if (id) return packAdmin.update(request, { id });
  if (pathname === '/api/admin/packs') return request.method === 'POST' ? packAdmin.create(request) : packAdmin.list(request);
  return null;
}

/**
 * A user with `balance` micro-USD in the wallet and an inference key. The key's rate limit is
 * generous unless a test asks otherwise: the bucket has tests of its own (rate-limit.test.ts).
 */
export async function createCustomer(db: Db, balance: bigint, key: Partial<Omit<NewKeyInput, 'userId'>> = {}) {
  const { user, wallet } = await createFundedUser(db, balance);
  const created = createApiKeyOp(db, { userId: user.id, name: 'test key', rateLimitBurst: 10_000, rateLimitPerSec: 1_000, ...key });
  await created.op;
  return { user, wallet, keyId: created.id, secret: created.secret };
}

export type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

/**
 * Waits until nothing of an account is held, for at most `timeoutMs`, and fails saying so. A busy
 * key's calls draw on grants, which post their calls a few milliseconds after answering and give
 * back what they did not spend once idle (docs/grants.md): a test that reads the books right after
 * a burst of calls waits for that first.
 */
export async function untilNothingHeld(db: Db, accountId: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const pending = await db.hold.count({ where: { debitAccountId: accountId, status: 'PENDING' } });
    if (pending === 0) return;
    if (performance.now() > deadline) throw new Error(`${pending} holds of ${accountId} still pending after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The usual harness of a gateway test file: its own database, a fake upstream, and the gateway in
 * front of them, started before the file's tests and stopped after. Read it inside tests.
 */
export function gatewayHarness(overrides: Record<string, string> = {}) {
  const harness = {} as { t: TestDatabase; fake: FakeUpstream; gw: TestGateway };
  beforeAll(async () => {
    harness.t = await createTestDatabase();
    harness.fake = await startFakeUpstream();
    harness.gw = await startTestGateway({ db: harness.t.db, env: upstreamEnv(harness.fake.url, overrides) });
  });
  afterAll(async () => {
    await harness.gw?.close();
    await harness.fake?.close();
    await harness.t?.close();
  });
  return harness;
}
