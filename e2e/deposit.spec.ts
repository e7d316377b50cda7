import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { createDb } from '../lib/db/client';
import { applyMigrations } from '../lib/db/migrate';
import { seed } from '../lib/db/seed';
import { startTestChain, type DeployedStablecoin, type TestChain } from '../test/helpers/chain';
import { injectWallet } from './injected-wallet';

// A buyer funds their balance with USDC on a local chain from the browser. The spec runs its own
// app instance (the build Playwright's web server made) configured for a hardhat node it starts,
// and injects an EIP-1193 wallet that signs with Hardhat's second development key in the test
// process and forwards everything else to the node. With NEXT_PUBLIC_DEV_CHAIN_RPC_URL set at build
// time the page pays with one click through wagmi; without it the local chain is not in the
// wallet configuration, and the buyer pastes the hash of a transfer sent from the same wallet.

const port = Number(process.env.E2E_PORT ?? 3100) + 1;
const baseURL = `http://127.0.0.1:${port}`;

let chain: TestChain;
let usdc: DeployedStablecoin;
let app: ChildProcess;
let dir: string;

test.beforeAll(async () => {
  test.setTimeout(240_000);
  chain = await startTestChain();
  usdc = await chain.deployStablecoin({ name: 'USD Coin', symbol: 'USDC', version: '2' });
  dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-deposit-'));
  const config = { provider: 'sqlite' as const, url: `file:${join(dir, 'deposit.db')}`, file: join(dir, 'deposit.db') };
  await applyMigrations(config);
  const db = createDb(config);
  await seed(db);
  await db.$disconnect();
  app = spawn('node_modules/.bin/next', ['start', '-p', String(port), '-H', '127.0.0.1'], {
    stdio: 'ignore',
    env: {
      ...process.env,
      DATABASE_URL: config.url,
      DEV_CHAIN_RPC_URL: chain.rpcUrl,
      DEV_CHAIN_USDC: usdc.address,
      TREASURY_ADDRESS: chain.accounts[9].address,
      CONFIRMATIONS_DEV: '2',
      DEPOSIT_WORKER_INTERVAL_MS: '500',
      NEXT_TELEMETRY_DISABLED: '1',
    },
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const up = await fetch(`${baseURL}/health`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error('the deposit app did not start');
    await new Promise((r) => setTimeout(r, 500));
  }
});

test.afterAll(async () => {
  app?.kill('SIGTERM');
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a buyer deposits USDC from an injected wallet and sees it credited after the confirmations', async ({ page, context }) => {
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
    (route) => route.abort(),
  );
  const account = await injectWallet(page, chain, chain.accounts[1]);
  await usdc.mint(account.address, 100_000_000n);

  // Sign in with the wallet (new account with the welcome credit).
  await page.goto(`${baseURL}/signin`);
  const sign = page.getByTestId('wallet-sign');
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  await page.getByRole('dialog').getByRole('button', { name: /browser wallet|injected/i }).first().click();
  await sign.click();
  await page.waitForURL('**/dashboard');
  const before = await page.getByTestId('balance').innerText();

  // The fee math shows before anything is paid.
  await page.goto(`${baseURL}/deposit`);
  const form = page.getByTestId('deposit-form');
  await form.getByLabel('Network').selectOption({ label: 'Local development chain' });
  await form.getByLabel('Credit you want (USD)').fill('20');
  await expect(page.getByTestId('fee-math')).toContainText('Deposit fee (10%)');
  await expect(page.getByTestId('fee-math')).toContainText('$2.00');
  await expect(page.getByTestId('gross')).toHaveText('22 USDC');
  await form.getByRole('button', { name: 'Continue to payment' }).click();
  const active = page.getByTestId('active-deposit');
  await expect(active.getByTestId('deposit-status')).toHaveText('Awaiting payment');
  await expect(active).toContainText(chain.accounts[9].address);

  const walletSupported = (await active.getByText('Paying from a connected wallet is not set up').count()) === 0;
  test.info().annotations.push({ type: 'payment', description: walletSupported ? 'one click from the connected wallet' : 'pasted transaction hash' });
  if (walletSupported) {
    // The local chain is in the wallet configuration: one click sends the transfer, the hash attaches by itself.
    // wagmi reconnects the wallet authorized at sign-in on this new page; connect by hand only if it does not.
    const pay = page.getByTestId('pay-with-wallet');
    if (!(await pay.waitFor({ timeout: 5_000 }).then(() => true, () => false))) {
      await active.getByRole('button', { name: 'Connect a wallet to pay' }).click();
      await page.getByRole('dialog').getByRole('button', { name: /browser wallet|injected/i }).first().click();
    }
    await page.getByTestId('pay-with-wallet').click();
  } else {
    const hash = await usdc.transfer(account, chain.accounts[9].address, 22_000_000n);
    await active.getByLabel('Or paste the transaction hash').fill(hash);
    await active.getByRole('button', { name: 'Attach transaction' }).click();
  }

  // One block so far, two needed: the page shows the progress, then the credit.
  await expect(active.getByTestId('deposit-status')).toHaveText('Verifying on chain');
  await expect(active.getByTestId('confirmations')).toHaveText('1 / 2');
  expect(await usdc.balanceOf(chain.accounts[9].address)).toBe(22_000_000n);
  await chain.mine(1);
  await expect(active.getByTestId('deposit-status')).toHaveText('Credited', { timeout: 20_000 });
  await expect(active).toContainText('$20.00 was added to your balance.');
  await expect(page.getByTestId('deposit-history')).toContainText('Credited');
  await page.screenshot({ path: 'e2e/.artifacts/deposit.png', fullPage: true });

  await page.goto(`${baseURL}/dashboard`);
  const after = await page.getByTestId('balance').innerText();
  expect(Number(after.replace(/[$,]/g, '')) - Number(before.replace(/[$,]/g, ''))).toBeCloseTo(20, 6);
});
