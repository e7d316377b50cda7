import { expect, test } from '@playwright/test';
import { offline, signIn, seriousViolations } from './helpers';

// /credits, issue #17: a new user's balance history from the ledger (the welcome credit is its
// first entry), the totals, the 30-day chart's text summary, and redeeming a code, on the real
// server and database. Nothing leaves this machine.

test('signed out, /credits sends the visitor to sign in', async ({ page }) => {
  await page.goto('/credits');
  await page.waitForURL((url) => url.pathname === '/signin');
});

test('a new user sees the welcome credit and totals, a bad code gets a plain error with focus on the field, axe finds nothing serious', async ({ page, context }) => {
  test.setTimeout(90_000);
  await offline(context);
  await signIn(page, `credits-${Date.now()}@example.com`, '/credits');

  await expect(page.getByRole('heading', { level: 1, name: 'Credits' })).toBeVisible();
  // The e2e server's welcome credit is $10, in its own lot: pack credit, not wallet.
  await expect(page.getByTestId('total-wallet')).toHaveText('$0.00');
  await expect(page.getByTestId('total-packs')).toHaveText('$10.00');
  await expect(page.getByTestId('total-all')).toHaveText('$10.00');
  await expect(page.getByTestId('balance-chart-summary')).toContainText('your total balance');

  const welcome = page.locator('[data-testid="history-row"][data-kind="welcome"]');
  await expect(welcome).toHaveCount(1);
  await expect(welcome).toContainText('Welcome credit');
  await expect(welcome).toContainText('+$10.00');
  // The receipt opens on demand and names the ledger transaction.
  await welcome.getByText('Receipt').click();
  await expect(welcome.getByTestId('receipt-id')).toHaveText(/^txn_/);

  // Not a code at all.
  const field = page.getByTestId('redeem-code');
  await field.fill('hello');
  await page.getByTestId('redeem-submit').click();
  await expect(page.getByText('That does not look like a Tollgate code. Codes look like TG-XXXX-XXXX-XXXX.')).toBeVisible();
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await expect(field).toBeFocused();

  // Well-formed, but no such code.
  await field.fill('TG-0000-0000-0000');
  await expect(field).not.toHaveAttribute('aria-invalid', 'true');
  await page.getByTestId('redeem-submit').click();
  await expect(page.getByText('We could not find that code. Check it for typos and try again.')).toBeVisible();
  await expect(field).toBeFocused();

  expect(await seriousViolations(page)).toEqual([]);
});

test('on a 390×844 phone the history is cards and nothing scrolls sideways', async ({ page, context }) => {
  test.setTimeout(90_000);
  await offline(context);
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, `credits-phone-${Date.now()}@example.com`, '/credits');
  await expect(page.locator('[data-testid="history-card"][data-kind="welcome"]')).toBeVisible();
  await expect(page.getByTestId('history-table')).toBeHidden();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  expect(await seriousViolations(page)).toEqual([]);
});
