import { expect, test, type Page } from '@playwright/test';
import OpenAI from 'openai';
import { erc20Abi, parseEventLogs, type Hex } from 'viem';
import { startFakeUpstream, type FakeUpstream } from '../test/fake-upstream';
import { startTestChain, type DeployedStablecoin, type TestChain } from '../test/helpers/chain';
import { startAppInstance, type AppInstance } from './app-instance';
import { E2E_ADMIN_EMAIL, E2E_ADMIN_TOKEN } from './constants';
import { offline, seriousViolations, signIn } from './helpers';
import { injectWallet } from './injected-wallet';

// Issue #16, the seller's whole journey on a local chain, from the browser: sign in, link a wallet,
// list an OpenAI pool; a buyer's real calls (the official `openai` client) are served with the
// pool's key and earn the seller their rate; an admin runs payouts from the admin page; the seller
// sees the payout confirmed with its transaction, and the USDC is on chain in the seller's wallet.
//
// The spec runs its own app instance (the build Playwright's web server made) with no platform
// OpenAI key: the fake upstream answers only the seller's key, so every call that succeeds was
// served by the pool. The weekly payout tick is pushed out of the test's reach
// (HOLD_SWEEP_INTERVAL_MS), so the admin's run is the one that pays.

const port = Number(process.env.E2E_PORT ?? 3100) + 1;
test.use({ baseURL: `http://127.0.0.1:${port}` });

const SELLER_KEY = 'sk-e2e-seller-pool-key-7Kq2';
const CALLS = 3;
// What the fake upstream reports per call; the message below counts more prompt tokens than this,
// and max_tokens covers the completion, so the buyer's and the pool's holds cover the whole cost.
const USAGE = { prompt_tokens: 100, completion_tokens: 10_000 };

// Expected amounts from gpt-4o-mini's list prices ($0.15 input / $0.60 output per 1M tokens),
// worked out by hand, not by the app's pricing code:
//   per call: 100 × $0.15/1M = $0.000015, 10,000 × $0.60/1M = $0.006 → list cost $0.006015
//   the seller's 60%: $0.003609 per call (exact to the micro-dollar, so no rounding)
//   three calls: pool drawn $0.018045, earnings $0.010827 = 10,827 USDC atomic units (6 decimals)
const DRAWN_USD = '$0.018045';
const EARNED_USD = '$0.010827';
const EARNED_ATOMIC = 10_827n;

let chain: TestChain;
let usdc: DeployedStablecoin;
let fake: FakeUpstream;
let app: AppInstance;

test.beforeAll(async () => {
  test.setTimeout(240_000);
  chain = await startTestChain();
  usdc = await chain.deployStablecoin({ name: 'USD Coin', symbol: 'USDC', version: '2' });
  // The payout hot wallet (Hardhat's fourth account) holds the USDC it pays with.
  await usdc.mint(chain.accounts[3].address, 1_000_000_000n);
  fake = await startFakeUpstream({ requireApiKey: SELLER_KEY, usage: USAGE });
  app = await startAppInstance({
    port,
    label: 'seller',
    env: {
      OPENAI_BASE_URL: `${fake.url}/v1`,
      // No platform key: only the pool can serve OpenAI models.
      OPENAI_API_KEY: undefined,
      SELLER_KEY_SECRET: '5e11e7'.padEnd(64, 'a'),
      SELLER_PAYOUT_NETWORK: 'dev',
      DEV_CHAIN_RPC_URL: chain.rpcUrl,
      DEV_CHAIN_USDC: usdc.address,
      SELLER_PAYOUT_PRIVATE_KEY: chain.privateKeys[3]!,
      SELLER_HOLDING_DAYS: '0',
      SELLER_PAYOUT_MIN_USD: '0.01',
      HOLD_SWEEP_INTERVAL_MS: '3600000',
      ADMIN_EMAILS: E2E_ADMIN_EMAIL,
      ADMIN_TOKEN: E2E_ADMIN_TOKEN,
    },
  });
});

test.afterAll(async () => {
  await app?.stop();
  await fake?.close();
  await chain?.stop();
});

async function expectNoSidewaysScroll(page: Page) {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
}

test('a seller links a wallet, lists an OpenAI pool, earns from real buyer calls, and is paid in USDC on chain after an admin run', async ({ page, context, browser, request }) => {
  test.setTimeout(180_000);
  test.info().annotations.push({ type: 'database', description: app.database });
  await offline(context);
  const seller = await injectWallet(page, chain, chain.accounts[2]);
  const sellerEmail = `seller-${Date.now()}@example.com`;

  // Sign in; the earnings card asks for a wallet and points to where it is linked.
  await signIn(page, sellerEmail, '/sell');
  const noWallet = page.getByTestId('payout-no-wallet');
  await expect(noWallet).toContainText('Link a wallet to be paid.');
  await noWallet.getByRole('link', { name: 'sign-in methods on your dashboard' }).click();
  await page.waitForURL((url) => url.pathname === '/dashboard');

  // Link the wallet with a Sign-In with Ethereum signature from the injected wallet.
  const link = page.getByTestId('wallet-link');
  await link.getByRole('button', { name: 'Connect wallet' }).click();
  await page.getByRole('dialog').getByRole('button', { name: /browser wallet|injected/i }).first().click();
  await link.getByTestId('wallet-sign').click();
  await expect(page.getByTestId('account-wallet')).toHaveText(seller.address, { timeout: 20_000 });

  // List the pool: the server verifies the key with one live call to the (fake) provider.
  await page.goto('/sell');
  await expect(page.getByTestId('payout-target')).toContainText(`${seller.address.slice(0, 6)}…${seller.address.slice(-4)}`);
  await page.getByLabel('Provider', { exact: true }).selectOption('openai');
  await page.getByLabel('OpenAI API key', { exact: true }).fill(SELLER_KEY);
  await page.getByLabel('Face value (USD)', { exact: true }).fill('5');
  await page.getByLabel('Rate', { exact: true }).fill('60');
  await page.getByTestId('pool-submit').click();
  await expect(page.getByTestId('pool-listed')).toContainText(`OpenAI key …${SELLER_KEY.slice(-4)}, verified`, { timeout: 30_000 });
  const poolRow = page.getByTestId('pool-row');
  await expect(poolRow).toHaveAttribute('data-status', 'live');
  expect(fake.requests.filter((r) => r.path.endsWith('/chat/completions'))).toHaveLength(1);

  // A buyer with credit and an API key (admin API), calling /v1 with the official client.
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}` };
  const buyer = await request.post('/api/admin/users', { headers: admin, data: { email: `buyer-${Date.now()}@example.com` } });
  expect(buyer.status()).toBe(201);
  const { id: buyerId } = (await buyer.json()) as { id: string };
  expect((await request.post(`/api/admin/users/${buyerId}/credit`, { headers: admin, data: { amount_usd: '5', note: 'seller e2e buyer' } })).status()).toBe(201);
  const { key } = (await (await request.post(`/api/admin/users/${buyerId}/keys`, { headers: admin, data: { name: 'seller e2e' } })).json()) as { key: string };
  const client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeout: 30_000 });
  const prompt = `Summarize this: ${'the quick brown fox jumps over the lazy dog '.repeat(20)}`;
  for (let i = 0; i < CALLS; i++) {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 16_384, messages: [{ role: 'user', content: prompt }] });
    expect(completion.choices[0]?.message.content).toBe('Hello from the fake upstream.');
  }
  const upstreamCalls = fake.requests.filter((r) => r.path.endsWith('/chat/completions'));
  expect(upstreamCalls).toHaveLength(1 + CALLS);
  for (const call of upstreamCalls) expect(call.headers.authorization).toBe(`Bearer ${SELLER_KEY}`);

  // The seller sees the pool drawn and the earnings, available at once (no holding period here).
  await page.reload();
  await expect(poolRow.locator('td').nth(1)).toHaveText(DRAWN_USD);
  await expect(page.getByTestId('earnings-available')).toContainText(EARNED_USD);
  await expect(page.getByTestId('earnings-pending')).toContainText('$0.00');
  await expect(page.getByTestId('earnings-paid')).toContainText('$0.00');
  await expect(page.getByTestId('payouts-empty')).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await expect(page.getByTestId('earnings-available')).toContainText(EARNED_USD);
  await expectNoSidewaysScroll(page);
  await page.screenshot({ path: 'e2e/.artifacts/seller-earnings-mobile.png', fullPage: true });
  await page.setViewportSize({ width: 1280, height: 720 });

  // The admin runs payouts from the admin page.
  const balanceBefore = await usdc.balanceOf(seller.address);
  const adminContext = await browser.newContext({ baseURL: `http://127.0.0.1:${port}` });
  await offline(adminContext);
  const adminPage = await adminContext.newPage();
  await signIn(adminPage, E2E_ADMIN_EMAIL, '/admin/payouts');
  await expect(adminPage.getByRole('heading', { level: 1, name: 'Seller payouts' })).toBeVisible();
  await expect(adminPage.getByText('No payouts yet')).toBeVisible();
  await adminPage.getByTestId('run-payouts').click();
  const confirm = adminPage.getByRole('dialog', { name: "Run this week's payouts now?" });
  await confirm.getByRole('button', { name: 'Send payouts' }).click();
  await expect(adminPage.getByTestId('payout-run-result')).toContainText('1 created, 1 confirmed, 0 waiting for the chain, 0 failed', { timeout: 30_000 });
  await expect(confirm).toBeHidden();
  const adminRow = adminPage.getByTestId('admin-payout-row');
  await expect(adminRow).toHaveCount(1);
  await expect(adminRow).toHaveAttribute('data-status', 'confirmed');
  await expect(adminRow).toContainText(`${EARNED_USD} to ${sellerEmail}`);
  await expect(adminRow).toContainText(seller.address);
  const txHash = (await adminRow.getByTestId('admin-payout-tx').innerText()).trim() as Hex;
  expect(txHash).toMatch(/^0x[0-9a-f]{64}$/);
  expect(await seriousViolations(adminPage)).toEqual([]);
  await adminPage.screenshot({ path: 'e2e/.artifacts/admin-payouts.png', fullPage: true });
  await adminContext.close();

  // The seller sees the payout paid, with its transaction.
  await page.reload();
  const payout = page.getByTestId('payout-row');
  await expect(payout).toHaveCount(1);
  await expect(payout).toHaveAttribute('data-status', 'confirmed');
  await expect(payout).toContainText('Paid');
  await expect(payout).toContainText(EARNED_USD);
  await expect(payout.getByTitle(txHash)).toBeVisible();
  await expect(page.getByTestId('earnings-paid')).toContainText(EARNED_USD);
  await expect(page.getByTestId('earnings-available')).toContainText('$0.00');
  expect(await seriousViolations(page)).toEqual([]);
  await page.screenshot({ path: 'e2e/.artifacts/seller-paid.png', fullPage: true });

  // On chain: that transaction moved exactly the earnings from the payout wallet to the seller's.
  expect((await usdc.balanceOf(seller.address)) - balanceBefore).toBe(EARNED_ATOMIC);
  const receipt = await chain.publicClient.getTransactionReceipt({ hash: txHash });
  expect(receipt.status).toBe('success');
  const transfers = parseEventLogs({ abi: erc20Abi, eventName: 'Transfer', logs: receipt.logs }).filter((log) => log.address.toLowerCase() === usdc.address.toLowerCase());
  expect(transfers.map((t) => ({ from: t.args.from, to: t.args.to, value: t.args.value }))).toEqual([{ from: chain.accounts[3].address, to: seller.address, value: EARNED_ATOMIC }]);
});
