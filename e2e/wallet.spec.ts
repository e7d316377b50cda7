import { expect, test } from '@playwright/test';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

// Wallet sign-in with an injected EIP-1193 wallet: the page's provider forwards personal_sign to a
// viem local account (Hardhat's first well-known development key) in the test process.
const TEST_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const account = privateKeyToAccount(TEST_KEY);

test('wallet sign-in with an injected wallet creates an account with the welcome credit', async ({ page, context }) => {
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
    (route) => route.abort(),
  );
  const signed: string[] = [];
  await page.exposeFunction('__tollgateTestSign', async (data: Hex) => {
    const signature = await account.signMessage({ message: { raw: data } });
    signed.push(Buffer.from(data.slice(2), 'hex').toString('utf8'));
    return signature;
  });
  await page.addInitScript((address: string) => {
    const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
    // Like a wallet meeting this site for the first time: no accounts until the user connects.
    let authorized = false;
    const provider = {
      isMetaMask: false,
      request: async ({ method, params }: { method: string; params?: unknown[] }) => {
        switch (method) {
          case 'eth_requestAccounts':
            authorized = true;
            return [address];
          case 'eth_accounts':
            return authorized ? [address] : [];
          case 'eth_chainId':
            return '0x1';
          case 'net_version':
            return '1';
          case 'wallet_requestPermissions':
          case 'wallet_getPermissions':
            return [{ parentCapability: 'eth_accounts' }];
          case 'wallet_revokePermissions':
            return null;
          case 'personal_sign':
            return (window as unknown as { __tollgateTestSign: (data: string) => Promise<string> }).__tollgateTestSign(params![0] as string);
          default:
            throw Object.assign(new Error(`The test wallet does not support ${method}`), { code: 4200 });
        }
      },
      on: (event: string, listener: (...args: unknown[]) => void) => {
        if (!listeners.has(event)) listeners.set(event, new Set());
        listeners.get(event)!.add(listener);
      },
      removeListener: (event: string, listener: (...args: unknown[]) => void) => listeners.get(event)?.delete(listener),
    };
    Object.defineProperty(window, 'ethereum', { value: provider, configurable: true });
  }, account.address);

  await page.goto('/signin');
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  await page.getByRole('dialog').getByRole('button', { name: /browser wallet/i }).first().click();
  await expect(page.getByTestId('wallet-signin')).toContainText(`${account.address.slice(0, 4)}…${account.address.slice(-4)}`);
  await page.getByTestId('wallet-sign').click();
  await page.waitForURL('**/dashboard');

  // The signed message is Sign-In with Ethereum for this site, with a nonce, and nothing else.
  expect(signed).toHaveLength(1);
  expect(signed[0]).toContain(`${new URL(page.url()).host} wants you to sign in with your Ethereum account:\n${account.address}`);
  expect(signed[0]).toMatch(/Nonce: [A-Za-z0-9]{8,}/);

  // The welcome credit is for the playground only: apart from the balance, which API keys spend.
  await expect(page.getByTestId('balance')).toHaveText('$0.00');
  await expect(page.getByTestId('welcome-credit')).toContainText('Welcome credit: $10.00 left');
  await expect(page.getByTestId('welcome-credit')).toContainText('playground only');
  await expect(page.getByTestId('account-wallet')).toHaveText(account.address);
  await expect(page.getByTestId('user-menu')).toContainText(`${account.address.slice(0, 6)}…${account.address.slice(-4)}`);

  // The key form offers the linked wallet as the source of a key's daily budget. This instance has
  // no wallet-budget token configured: the server refuses, and the form says why, beside the option.
  await page.goto('/keys');
  await page.getByRole('button', { name: 'Create key', exact: true }).first().click();
  const form = page.getByTestId('key-form');
  await form.getByTestId('key-name').fill('wallet-backed');
  await form.getByTestId('key-wallet-backed').check();
  await expect(form.getByTestId('key-daily-budget')).toBeDisabled();
  await form.getByTestId('key-submit').click();
  await expect(form.getByRole('alert').first()).toContainText('Wallet-backed budgets are not enabled on this instance');
});
