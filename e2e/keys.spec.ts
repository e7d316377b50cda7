import { expect, test, type Page } from '@playwright/test';
import { E2E_ADMIN_TOKEN } from './constants';
import { seriousViolations, signIn } from './helpers';

// Issue #17, /keys: plain-words form errors with focus on the first, a usage snippet beside a new
// secret, the "limit reached" state, the Playground key explained, revoked keys collapsed; at a
// laptop's and a phone's size, with axe finding nothing serious. Real server, nothing faked.

async function expectNoSidewaysScroll(page: Page) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
}

/** The visible one of a key's two renderings: its table row on a laptop, its card on a phone. */
const keyItem = (page: Page, phone: boolean, name: string) => page.getByTestId(phone ? 'key-card' : 'key-row').filter({ hasText: name });

for (const size of [
  { label: 'laptop', width: 1440, height: 900 },
  { label: 'phone', width: 390, height: 844 },
] as const) {
  test.describe(`at ${size.width}×${size.height}`, () => {
    test.use({ viewport: { width: size.width, height: size.height } });
    const phone = size.label === 'phone';

    test('a new key: plain-words errors, then its secret with a snippet; at its quota it says so; the Playground key is explained; revoked keys fold away', async ({ page, context, baseURL }) => {
      await context.grantPermissions(['clipboard-read', 'clipboard-write']);
      await signIn(page, `keys-${size.label}-${Date.now()}@example.com`, '/keys');
      await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();

      // Refused in words, not zod's; each bad field marked, focus on the first.
      await page.getByTestId('create-key').click();
      const form = page.getByTestId('key-form');
      await page.getByTestId('key-daily-budget').fill('0');
      await page.getByTestId('key-burst').fill('');
      await page.getByTestId('key-submit').click();
      await expect(form).toContainText('Give the key a name, like the app or agent that will use it.');
      await expect(form).toContainText('A budget of $0 would stop every call');
      await expect(form).toContainText('Enter a whole number of requests from 1 to 10,000.');
      await expect(form).not.toContainText(/Too small|expected/);
      await expect(page.getByTestId('key-name')).toBeFocused();
      await expect(page.getByTestId('key-name')).toHaveAttribute('aria-invalid', 'true');
      await expect(page.getByTestId('key-daily-budget')).toHaveAttribute('aria-invalid', 'true');
      // The red ring, not the grey one.
      expect(await page.getByTestId('key-daily-budget').evaluate((el) => el.className)).toMatch(/\bring-red-500\b/);
      // Fixing the first moves focus to the next one still wrong.
      await page.getByTestId('key-name').fill('snippet');
      await page.getByTestId('key-submit').click();
      await expect(page.getByTestId('key-daily-budget')).toBeFocused();
      await page.getByTestId('key-daily-budget').fill('');
      await page.getByTestId('key-burst').fill('10');
      await page.getByTestId('key-daily-requests').fill('1');
      await page.getByTestId('key-submit').click();

      // The secret, with a curl call against this server and the two environment lines.
      const secret = (await page.getByTestId('new-key-secret').textContent())!;
      expect(secret).toMatch(/^tg_[0-9A-Za-z]{40,}$/);
      await expect(page.getByTestId('snippet-curl')).toContainText(`curl ${baseURL}/v1/chat/completions`);
      await expect(page.getByTestId('snippet-curl')).toContainText(`Authorization: Bearer ${secret}`);
      await expect(page.getByTestId('snippet-env')).toHaveText(`export OPENAI_BASE_URL=${baseURL}/v1\nexport OPENAI_API_KEY=${secret}`);
      // A copied snippet is announced to screen readers, as the key itself is.
      await page.getByTestId('copy-snippet-env').click();
      await expect(page.getByText('Environment variables (shell) copied to the clipboard')).toBeAttached();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`export OPENAI_BASE_URL=${baseURL}/v1\nexport OPENAI_API_KEY=${secret}`);
      expect(await seriousViolations(page)).toEqual([]);
      await page.getByTestId('secret-done').click();

      // One call uses the quota of 1: the key says which limit stops it, and until when.
      // (The wallet of a new account is empty, the welcome credit pays the playground only: an
      // operator credits it first.)
      const { user } = (await (await page.request.get('/api/account')).json()) as { user: { id: string } };
      const credit = await page.request.post(`/api/admin/users/${user.id}/credit`, { headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}` }, data: { amount_usd: '1', note: 'e2e keys' } });
      expect(credit.status()).toBe(201);
      const call = await page.request.post('/v1/chat/completions', { headers: { authorization: `Bearer ${secret}` }, data: { model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }] } });
      expect(call.status()).toBe(200);

      // The playground makes its own key on first use.
      const chat = await page.request.post('/api/playground/chat', { headers: { origin: baseURL! }, data: { model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }] } });
      expect(chat.status()).toBe(200);
      await chat.body();

      await page.reload();
      const limited = keyItem(page, phone, 'snippet');
      await expect(limited.getByTestId('limit-reached')).toHaveText('Daily request limit reached (1 of 1): calls are refused until 00:00 UTC, when it resets, or raise the limit.');
      await expect(limited.getByTestId('limit-badge')).toHaveText('request limit reached');
      const playgroundKey = keyItem(page, phone, 'Playground');
      await expect(playgroundKey.getByTestId('playground-key-note')).toContainText('Made for you by the playground, which chats with this key');
      await expect(playgroundKey.getByRole('link', { name: 'playground' })).toHaveAttribute('href', '/playground');
      await expect(page.getByTestId('revoked-keys')).toHaveCount(0);
      await expectNoSidewaysScroll(page);
      expect(await seriousViolations(page)).toEqual([]);

      // Revoked, the key leaves the list for a folded section.
      await limited.getByRole('button', { name: 'Revoke snippet' }).click();
      await page.getByRole('button', { name: 'Revoke key' }).click();
      const revoked = page.getByTestId('revoked-keys');
      await expect(revoked.locator('summary')).toHaveText('Revoked keys (1)');
      await expect(revoked.getByTestId(phone ? 'key-card' : 'key-row')).toBeHidden();
      await expect(keyItem(page, phone, 'Playground')).toBeVisible();
      await revoked.locator('summary').click();
      const revokedKey = revoked.getByTestId(phone ? 'key-card' : 'key-row');
      await expect(revokedKey).toBeVisible();
      await expect(revokedKey).toHaveAttribute('data-status', 'revoked');
      await expect(revokedKey.getByTestId('limit-reached')).toHaveCount(0);
      await expectNoSidewaysScroll(page);
      expect(await seriousViolations(page)).toEqual([]);
    });
  });
}
