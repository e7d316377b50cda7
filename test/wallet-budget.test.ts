// Wallet-backed key budgets: the daily budget follows the linked wallet's on-chain token balance ×
// the admin's USD rate × the daily fraction, snapshotted into the key, and the gateway enforces it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAddress } from 'viem';
import { createApiKeyOp } from '../lib/keys/keys';
import { loadPaymentsConfig, type PaymentsConfig } from '../lib/payments/networks';
import { createSettingsAdminApi, snapshotWalletBudgets, walletDailyBudget } from '../lib/payments/wallet-budget';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';
import { ADMIN_TOKEN, startTestGateway, upstreamEnv } from './helpers/gateway';

let t: TestDatabase;
let chain: TestChain;
let usdc: DeployedStablecoin;
let fake: FakeUpstream;
let gw: Awaited<ReturnType<typeof startTestGateway>>;
let config: PaymentsConfig;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  t = await createTestDatabase();
  chain = await startTestChain();
  usdc = await chain.deployStablecoin({ name: 'USD Coin', symbol: 'USDC', version: '2' });
  const env = {
    DEV_CHAIN_RPC_URL: chain.rpcUrl,
    DEV_CHAIN_USDC: usdc.address,
    TREASURY_ADDRESS: chain.accounts[9].address,
    WALLET_BUDGET_NETWORK: 'dev',
    WALLET_BUDGET_TOKEN: 'USDC',
    WALLET_BUDGET_DAILY_FRACTION: '0.1',
    WALLET_BUDGET_SNAPSHOT_MS: '600000',
  };
  // The account API reads the payment configuration of the process (lib/payments/runtime.ts).
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  config = loadPaymentsConfig(env);
  fake = await startFakeUpstream();
  gw = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url) });
}, 240_000);

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await gw?.close();
  await fake?.close();
  await chain?.stop();
  await t?.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function request(method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Json };
}

const settings = () => createSettingsAdminApi({ db: t.db, env: { ADMIN_TOKEN } });
async function setRate(value: string, token = ADMIN_TOKEN) {
  const response = await settings().put(
    new Request('http://tollgate.test/api/admin/settings/wallet_budget_usd_rate', { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ value }) }),
    { key: 'wallet_budget_usd_rate' },
  );
  return { status: response.status, json: (await response.json()) as Json };
}

const snapshot = (aheadMs = 0) => snapshotWalletBudgets({ db: t.db, config, now: new Date(Date.now() + aheadMs) });

describe('wallet-backed budgets', () => {
  it('computes balance × rate × fraction, rounded down to the micro-dollar', () => {
    expect(walletDailyBudget(1_000_000_000n, 1_000_000n, 1_000n)).toBe(100_000_000n); // 1000 tokens at $1, 10%
    expect(walletDailyBudget(1_000_000_000n, 998_500n, 1_000n)).toBe(99_850_000n);
    expect(walletDailyBudget(7n, 1_000_000n, 1_000n)).toBe(0n);
  });

  it('follows the on-chain balance, the admin rate and the snapshot interval; the gateway enforces it', async () => {
    const holder = chain.accounts[1];
    const { user } = await createFundedUser(t.db, 50_000_000n);
    await t.db.user.update({ where: { id: user.id }, data: { walletAddress: holder.address } });
    const management = createApiKeyOp(t.db, { userId: user.id, name: 'ops', kind: 'MANAGEMENT' });
    await management.op;

    // Only the user's linked wallet can back a key, and not together with a fixed budget.
    const stranger = await request('POST', '/api/keys', management.secret, { name: 'x', budget_wallet: chain.accounts[2].address });
    expect(stranger.status).toBe(400);
    expect(stranger.json.error.code).toBe('wallet_not_linked');
    const both = await request('POST', '/api/keys', management.secret, { name: 'x', budget_wallet: holder.address, daily_budget_usd: 5 });
    expect(both.status).toBe(400);
    expect(both.json.error.param).toBe('daily_budget_usd');

    const created = await request('POST', '/api/keys', management.secret, { name: 'wallet-backed', budget_wallet: holder.address.toLowerCase() });
    expect(created.status).toBe(201);
    // Until a snapshot is taken, nothing can be spent.
    expect(created.json.budget_wallet).toEqual({ address: getAddress(holder.address), balance_atomic: null, daily_budget_usd: 0, snapshot_at: null });
    expect(created.json.limits.daily_budget_usd).toBe(0);
    const secret = created.json.key as string;
    const keyId = created.json.id as string;
    const chat = () =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4000 }),
      });
    const refused = await chat();
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as Json).error.code).toBe('daily_budget_exhausted');

    // 1000 USDC on chain, no rate set yet: still zero.
    await usdc.mint(holder.address, 1_000_000_000n);
    expect(await snapshot()).toEqual({ updated: 1, failed: 0 });
    let key = await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    expect(key).toMatchObject({ budgetWalletAtomic: 1_000_000_000n, dailyBudget: 0n });
    expect(key.budgetSnapshotAt).not.toBeNull();

    // The admin sets the rate (audited); the next pass applies it: 1000 × $1 × 10% = $100 a day.
    expect((await setRate('1', 'wrong')).status).toBe(401);
    expect((await setRate('-1')).status).toBe(400);
    const set = await setRate('1');
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ key: 'wallet_budget_usd_rate', value: '1', updated_by: 'admin-token' });
    const audit = await t.db.auditLog.findFirstOrThrow({ where: { action: 'setting.update', targetId: 'wallet_budget_usd_rate' } });
    expect(JSON.parse(audit.details)).toEqual({ value: '1', previous: null });
    expect(await snapshot()).toEqual({ updated: 1, failed: 0 });
    key = await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    expect(key.dailyBudget).toBe(100_000_000n);

    const ok = await chat();
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-budget-limit-usd-day')).toBe('100');

    // The wallet spends most of its tokens: nothing changes before the interval, then the budget follows.
    await usdc.transfer(holder, chain.accounts[3].address, 999_990_000n); // 0.01 USDC left
    expect(await snapshot()).toEqual({ updated: 0, failed: 0 });
    expect((await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).dailyBudget).toBe(100_000_000n);
    expect(await snapshot(600_001)).toEqual({ updated: 1, failed: 0 });
    key = await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    expect(key).toMatchObject({ budgetWalletAtomic: 10_000n, dailyBudget: 1_000n }); // $0.001
    const tooSmall = await chat();
    expect(tooSmall.status).toBe(402);
    expect(((await tooSmall.json()) as Json).error.code).toBe('daily_budget_exhausted');

    // The key view shows the snapshot and when it was taken.
    const listed = await request('GET', '/api/keys', management.secret);
    const view = listed.json.data.find((k: Json) => k.id === keyId);
    expect(view.budget_wallet).toMatchObject({ address: getAddress(holder.address), balance_atomic: '10000', daily_budget_usd: 0.001 });
    expect(Date.parse(view.budget_wallet.snapshot_at)).toBe(key.budgetSnapshotAt!.getTime());

    // Its budget cannot be set by hand while the wallet backs it.
    const manual = await request('PATCH', `/api/keys/${keyId}`, management.secret, { daily_budget_usd: 50 });
    expect(manual.status).toBe(400);
    expect(manual.json.error.param).toBe('daily_budget_usd');

    // Unlinking gives the key a fixed budget again; snapshots leave it alone.
    const unlinked = await request('PATCH', `/api/keys/${keyId}`, management.secret, { budget_wallet: null, daily_budget_usd: 3 });
    expect(unlinked.status).toBe(200);
    expect(unlinked.json).toMatchObject({ budget_wallet: null, limits: { daily_budget_usd: 3 } });
    expect(await snapshot(10 * 600_001)).toEqual({ updated: 0, failed: 0 });
  });
});
