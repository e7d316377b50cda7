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
    const items = byId(await collectStatus({ db: t.db, env, probeTimeoutMs: 2_000 }));
    expect(items['deposits:dev']).toMatchObject({ state: 'live' });
    expect(items['deposits:dev']!.detail).toMatch(/1 confirmation/);
    expect(items['deposits:ethereum']).toMatchObject({ state: 'operator_action' });
    expect(items['deposits:ethereum']!.detail).toMatch(/RPC_URL_ETHEREUM/);
    expect(items['deposits:polygon']).toMatchObject({ state: 'third_party' });
    expect(items['wallet-budget']).toMatchObject({ state: 'operator_action' });
    expect(items['wallet-budget']!.detail).toMatch(/wallet_budget_usd_rate/);
    expect(items['provider:openai']).toMatchObject({ state: 'live' });
  });

  it('an invalid payment configuration is shown, not thrown', async () => {
    const items = byId(await collectStatus({ db: t.db, env: { TREASURY_ADDRESS: 'not-an-address' } }));
    expect(items.deposits).toMatchObject({ state: 'operator_action' });
    expect(items.deposits!.detail).toMatch(/TREASURY_ADDRESS/);
  });
});
