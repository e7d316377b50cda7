import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import OpenAI from 'openai';
import { E2E_ADMIN_TOKEN } from './constants';

// Issue #5's journey, as a new user takes it, on the embedded default (SQLite, built-in model,
// no SMTP: the sign-in link is read from the development mailbox). Nothing leaves this machine.

async function offline(context: BrowserContext) {
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
    (route) => route.abort(),
  );
}

async function signInByEmail(page: Page, email: string) {
  await page.goto('/');
  await page.getByTestId('sign-in-link').click();
  await page.getByTestId('email-input').fill(email);
  await page.getByTestId('email-submit').click();
  await expect(page.getByTestId('check-email')).toBeVisible();
  await page.getByTestId('open-mailbox').click();
  const mail = page.locator(`[data-testid="mail"][data-to="${email}"]`).first();
  await expect(mail).toContainText('Sign in to Tollgate');
  await mail.getByTestId('mail-link').click();
  await page.waitForURL('**/dashboard');
}

test('a new user: magic link → welcome credit (playground only) → funds → pack → key → API call → dashboard → playground → revoke → 401', async ({ page, context, baseURL }) => {
  test.setTimeout(120_000);
  await offline(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const email = `journey-${Date.now()}@example.com`;

  // Sign in by magic link; the account is new, so the welcome credit is there: for the
  // playground only, apart from the balance that API keys spend.
  await signInByEmail(page, email);
  await expect(page.getByTestId('balance')).toHaveText('$0.00');
  const welcome = page.getByTestId('welcome-credit');
  await expect(welcome).toContainText('Welcome credit: $10.00 left');
  await expect(welcome).toContainText('playground only');
  await expect(welcome).toContainText(/expires \w{3} \d{1,2}, \d{4}/);
  await expect(page.getByTestId('pack-credit')).toHaveCount(0);
  await expect(page.getByTestId('user-menu')).toContainText(email);

  // Money an API key can spend comes from elsewhere: here an operator's credit.
  const { user } = (await (await page.request.get('/api/account')).json()) as { user: { id: string } };
  const credit = await page.request.post(`/api/admin/users/${user.id}/credit`, { headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}` }, data: { amount_usd: '10', note: 'journey' } });
  expect(credit.status()).toBe(201);
  await page.reload();
  await expect(page.getByTestId('balance')).toHaveText('$10.00');

  // Buy the built-in model's pack from the balance.
  await page.goto('/packs');
  await page.getByTestId('pack-pk_local_2').getByRole('button', { name: /Buy/ }).click();
  await expect(page.getByTestId('purchase-summary')).toContainText('$5.00');
  await page.getByRole('button', { name: 'Pay $2.00' }).click();
  await expect(page.getByTestId('purchase-success')).toContainText('Local sampler');

  // Create a key with both daily limits and copy its secret.
  await page.goto('/keys');
  await page.getByTestId('create-key').click();
  await page.getByTestId('key-name').fill('journey');
  await page.getByTestId('key-daily-requests').fill('100');
  await page.getByTestId('key-daily-budget').fill('1');
  await page.getByTestId('key-submit').click();
  const secretText = page.getByTestId('new-key-secret');
  await expect(secretText).toHaveText(/^tg_[0-9A-Za-z]{40,}$/);
  const secret = (await secretText.textContent())!;
  await page.getByTestId('copy-secret').click();
  await expect(page.getByTestId('copy-secret')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await page.getByTestId('secret-done').click();
  const row = page.getByTestId('key-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('journey');
  await expect(row).not.toContainText(secret);

  // The official OpenAI client with that key.
  const client = new OpenAI({ apiKey: secret, baseURL: `${baseURL}/v1`, maxRetries: 0 });
  const completion = await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Hello from the journey' }] });
  expect(completion.choices[0]?.message.content).toBeTruthy();

  // The dashboard shows the call: the key's counters, the chart, the recent requests.
  await page.goto('/dashboard');
  const limits = page.getByTestId('key-limits');
  await expect(limits.getByTestId('requests-used')).toHaveText('1 of 100');
  await expect(limits.getByTestId('budget-used')).toContainText('of $1.00');
  await expect(limits.getByTestId('budget-used')).not.toHaveText(/^\$0\.00 of/);
  await expect(page.getByTestId('chart-ready')).toHaveAttribute('data-models', /tollgate-local/);
  await page.getByTestId('range-24h').click();
  await expect(page.getByTestId('chart-ready')).toHaveAttribute('data-models', /tollgate-local/);
  await expect(page.getByTestId('request-row')).toHaveCount(1);
  await expect(page.getByTestId('request-row')).toContainText('journey');
  await expect(page.getByTestId('export-csv')).toHaveAttribute('href', /\/api\/usage\/export\?from=/);
  await page.screenshot({ path: 'e2e/.artifacts/dashboard.png', fullPage: true });

  // The keys list counts the call too (screenshot for the README).
  await page.goto('/keys');
  await expect(page.getByTestId('key-row').getByTestId('key-requests-today')).toHaveText('1 / 100');
  await page.screenshot({ path: 'e2e/.artifacts/keys.png', fullPage: true });

  // Stream a reply in the playground, where the welcome credit shows beside the balance.
  await page.goto('/playground');
  await expect(page.getByTestId('playground-balance').getByTestId('welcome-credit')).toContainText('playground only');
  await page.getByTestId('playground-input').fill('Stream me a short reply');
  await page.getByTestId('playground-send').click();
  const turn = page.getByTestId('assistant-turn').last();
  await expect(turn).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  await expect(turn.getByTestId('assistant-text')).not.toBeEmpty();
  await expect(turn.getByTestId('assistant-cost')).toBeVisible();

  // Revoke the key (with confirmation); its next call is a 401.
  await page.goto('/keys');
  const journeyKey = page.getByTestId('key-row').filter({ hasText: 'journey' });
  await journeyKey.getByTestId('revoke-key').click();
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await expect(journeyKey).toHaveAttribute('data-status', 'revoked');
  const refused = await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Still there?' }] }).catch((error: unknown) => error as { status: number; code: string });
  expect(refused).toMatchObject({ status: 401, code: 'api_key_revoked' });

  // Sign out ends the session: the account pages send you to sign in.
  await page.getByTestId('user-menu').click();
  await page.getByTestId('sign-out').click();
  await expect(page.getByTestId('sign-in-link')).toBeVisible();
  await page.goto('/keys');
  await page.waitForURL(/\/signin\?callbackUrl=%2Fkeys/);
});
