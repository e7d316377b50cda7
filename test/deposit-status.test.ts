// /status: each payment rail and provider with its state, from the configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, type StatusItem } from '../lib/status';
import { startTestChain, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
let chain: TestChain;

beforeAll(async () => {
  t = await createTestDatabase();
  chain = await startTestChain();
}, 180_000);

afterAll(async () => {
  await chain?.stop();
  await t?.close();
});

const byId = (items: StatusItem[]) => Object.fromEntries(items.map((item) => [item.id, item]));

describe('status', () => {
  it('a fresh instance: deposits and x402 disabled safely, providers without keys need the operator', async () => {
    const items = byId(await collectStatus({ db: t.db, env: {} }));
    for (const network of ['ethereum', 'base', 'arbitrum', 'polygon', 'base-sepolia']) {
      expect(items[`deposits:${network}`]).toMatchObject({ group: 'Payments', state: 'disabled' });
    }
    expect(items['deposits:dev']).toBeUndefined();
    expect(items['wallet-budget']).toMatchObject({ state: 'disabled' });
    expect(items['x402:0']).toMatchObject({ state: 'disabled' });
    expect(items.sessions).toMatchObject({ group: 'Payments', state: 'disabled' });
    expect(items['provider:openai']).toMatchObject({ group: 'Model providers', state: 'operator_action' });
    expect(items['provider:openai']!.detail).toMatch(/OPENAI_API_KEY/);
    expect(items['provider:local']).toMatchObject({ state: 'live' });
  });

  it('live where an RPC answers, operator action without one, third party when it does not answer', async () => {
    const env = {
      TREASURY_ADDRESS: chain.accounts[9].address,
      DEV_CHAIN_RPC_URL: chain.rpcUrl,
      DEV_CHAIN_USDC: chain.accounts[8].address,
      RPC_URL_POLYGON: 'http://127.0.0.1:9/', // nothing listens on the discard port
      WALLET_BUDGET_NETWORK: 'dev',
      WALLET_BUDGET_TOKEN: 'USDC',
      OPENAI_API_KEY: 'sk-test',
    };
    // The provider probe is stubbed: this test is about the payment rails, and the default OpenAI URL is off this machine.
    const probe = async (provider: 'openai' | 'anthropic' | 'google' | 'deepseek' | 'local') => ({ provider, outcome: 'up' as const, checkedAt: new Date(), latencyMs: 1, reason: null });
    const items = byId(await collectStatus({ db: t.db, env, probeTimeoutMs: 2_000, probe }));
    expect(items['deposits:dev']).toMatchObject({ state: 'live' });
    expect(items['deposits:dev']!.detail).toMatch(/1 confirmation/);
    expect(items['deposits:ethereum']).toMatchObject({ state: 'operator_action' });
    expect(items['deposits:ethereum']!.detail).toMatch(/RPC_URL_ETHEREUM/);
    expect(items['deposits:polygon']).toMatchObject({ state: 'third_party' });
    expect(items['wallet-budget']).toMatchObject({ state: 'operator_action' });
    expect(items['wallet-budget']!.detail).toMatch(/wallet_budget_usd_rate/);
    expect(items['provider:openai']).toMatchObject({ state: 'live' });
  });

  it('pay-per-token sessions: live with the escrow, token, payee and open channels; a missing setting named, never its value', async () => {
    const key = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
    const env = {
      SESSION_ESCROW: chain.accounts[7].address,
      SESSION_TOKEN: chain.accounts[8].address,
      SESSION_CHAIN_ID: '31337',
      SESSION_RPC_URL: 'https://rpc.example.com/v2/secret-key',
      SESSION_PAYEE_PRIVATE_KEY: key,
      SESSION_SECRET: 'x'.repeat(32),
    };
    const live = byId(await collectStatus({ db: t.db, env }));
    expect(live.sessions).toMatchObject({ state: 'live' });
    expect(live.sessions!.detail).toContain(chain.accounts[7].address);
    expect(live.sessions!.detail).toContain('rpc.example.com');
    expect(live.sessions!.detail).toMatch(/0 open/);
    expect(live.sessions!.detail).not.toContain('secret-key');
    expect(JSON.stringify(live)).not.toContain(key.slice(2));
    const broken = byId(await collectStatus({ db: t.db, env: { ...env, SESSION_SECRET: 'short' } }));
    expect(broken.sessions).toMatchObject({ state: 'operator_action' });
    expect(broken.sessions!.detail).toMatch(/SESSION_SECRET/);
    expect(broken.sessions!.detail).not.toContain('short');
  });

  it('an invalid payment configuration is shown, not thrown', async () => {
    const items = byId(await collectStatus({ db: t.db, env: { TREASURY_ADDRESS: 'not-an-address' } }));
    expect(items.deposits).toMatchObject({ state: 'operator_action' });
    expect(items.deposits!.detail).toMatch(/TREASURY_ADDRESS/);
  });
});
