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

// The low-balance alert card. The e2e server runs as production (https webhooks only, public
// addresses only, no SELLER_KEY_SECRET), so a webhook that passes every check is refused by the
// server with its 503; the email path goes all the way to the development mailbox.
test('the low-balance alert: a refused threshold focuses its field, email saves and a test lands in the mailbox, webhook refusals are in words, axe finds nothing serious', async ({ page, context }) => {
  test.setTimeout(90_000);
  await offline(context);
  const email = `alerts-${Date.now()}@example.com`;
  await signIn(page, email, '/credits');

  const card = page.getByTestId('alert-card');
  await expect(card.getByRole('heading', { name: 'Low-balance alert' })).toBeVisible();
  await expect(card).toContainText('Spendable now: $10.00');
  await expect(card).toContainText('No alert yet.');
  const emailBox = page.getByTestId('alert-email');
  await expect(emailBox).toBeChecked();
  await expect(card).toContainText(`To ${email}.`);

  const threshold = page.getByTestId('alert-threshold');
  await threshold.fill('0');
  await page.getByTestId('alert-save').click();
  await expect(card.getByText('The threshold must be more than $0.')).toBeVisible();
  await expect(threshold).toHaveAttribute('aria-invalid', 'true');
  await expect(threshold).toBeFocused();

  // Neither channel: the checkbox carries the error.
  await threshold.fill('2.50');
  await emailBox.uncheck();
  await page.getByTestId('alert-save').click();
  await expect(card.getByText('Choose email, a webhook, or both.')).toBeVisible();
  await expect(emailBox).toBeFocused();

  await emailBox.check();
  await page.getByTestId('alert-save').click();
  await expect(page.getByTestId('alert-status')).toHaveText('Alert saved.');
  await expect(card).toContainText('The alert is armed.');
  await expect(page.getByTestId('alert-save')).toHaveText('Save alert');

  await page.getByTestId('alert-test').click();
  await expect(page.getByTestId('alert-status')).toHaveText('Test email sent.');

  // The server's refusals, each on the webhook field with focus there.
  const webhook = page.getByTestId('alert-webhook');
  await webhook.fill('http://example.com/hook');
  await page.getByTestId('alert-save').click();
  await expect(card.getByText('The webhook URL must start with https://.')).toBeVisible();
  await expect(webhook).toHaveAttribute('aria-invalid', 'true');
  await expect(webhook).toBeFocused();
  await webhook.fill('https://169.254.169.254/latest/meta-data/');
  await page.getByTestId('alert-save').click();
  await expect(card.getByText("'169.254.169.254' is a private, loopback, link-local or reserved address; webhooks go to public addresses only.")).toBeVisible();
  await expect(webhook).toBeFocused();
  // A public address passes every check; without SELLER_KEY_SECRET the server cannot keep its secret.
  await webhook.fill('https://93.184.215.14/hook');
  await page.getByTestId('alert-save').click();
  await expect(page.getByTestId('alert-form-error')).toHaveText('Webhook alerts are off on this server: its operator has not set SELLER_KEY_SECRET. Email alerts work.');
  expect(await seriousViolations(page)).toEqual([]);

  await page.goto('/dev/mailbox');
  await expect(page.locator(`[data-testid="mail"][data-to="${email}"]`).filter({ hasText: 'Tollgate: test low-balance alert' })).toHaveCount(1);
});

test('on a 390×844 phone the alert card fits and saves', async ({ page, context }) => {
  test.setTimeout(90_000);
  await offline(context);
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, `alerts-phone-${Date.now()}@example.com`, '/credits');
  await page.getByTestId('alert-threshold').fill('3');
  await page.getByTestId('alert-webhook').fill('http://example.com/hook');
  await page.getByTestId('alert-save').click();
  await expect(page.getByText('The webhook URL must start with https://.')).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await page.getByTestId('alert-webhook').fill('');
  await page.getByTestId('alert-save').click();
  await expect(page.getByTestId('alert-status')).toHaveText('Alert saved.');
  await page.getByTestId('alert-card').scrollIntoViewIfNeeded();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  expect(await seriousViolations(page)).toEqual([]);
});
