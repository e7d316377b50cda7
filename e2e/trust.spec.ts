import { expect, test, type Page } from '@playwright/test';
import { E2E_ADMIN_EMAIL } from './constants';
import { offline, seriousViolations, signIn } from './helpers';

// Issue #17, the buyer's trust: /deposit with no network open, /status in buyers' words with live
// probe times, the dashboard, and the terms / privacy / contact pages, at desktop and phone size.
// Each page: no serious or critical axe finding and nothing to scroll sideways for. The suite's
// server has no treasury address, so deposits are closed there, as on a fresh instance.

const SIZES = [
  { name: 'desktop', width: 1440, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

// An environment variable's shape (SOME_NAME): buyers never see one.
const ENV_NAME = /\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/;

async function expectSound(page: Page) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  expect(scrollWidth, `${page.url()} scrolls sideways`).toBeLessThanOrEqual(clientWidth);
  expect(await seriousViolations(page), page.url()).toEqual([]);
}

for (const size of SIZES) {
  test.describe(`at ${size.width}×${size.height}`, () => {
    test.use({ viewport: { width: size.width, height: size.height } });

    test(`${size.name}: /status speaks to buyers, with a last-checked time per probed provider`, async ({ page, context }) => {
      await offline(context);
      await page.goto('/status');
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Status');
      const local = page.getByTestId('status-item-provider:local');
      await expect(local).toHaveAttribute('data-state', 'live');
      await expect(local.getByTestId('status-summary')).toHaveText(/^Reachable/);
      await expect(page.getByTestId('status-intro')).toContainText('reachability check');
      await expect(local.getByTestId('last-checked')).toContainText(/Last checked \d\d:\d\d:\d\d UTC, (\d+ s|1 min) ago/);
      await expect(page.getByTestId('status-item-provider:openai').getByTestId('status-summary')).toHaveText('Not set up on this instance: its models cannot be used here yet.');
      await expect(page.getByTestId('operator-detail')).toHaveCount(0);
      expect(await page.locator('main').innerText()).not.toMatch(ENV_NAME);
      await expectSound(page);
    });

    test(`${size.name}: terms, privacy and contact from the footer, the skip link focuses main, and a favicon`, async ({ page, context }) => {
      await offline(context);
      await page.goto('/');
      const icon = page.locator('head link[rel="icon"]');
      await expect(icon.first()).toHaveAttribute('href', /icon\.svg/);
      const iconResponse = await page.request.get((await icon.first().getAttribute('href'))!);
      expect(iconResponse.headers()['content-type']).toContain('image/svg+xml');

      for (const [label, path, heading] of [
        ['Terms', '/terms', 'Terms of service'],
        ['Privacy', '/privacy', 'Privacy'],
        ['Contact', '/contact', 'Contact'],
      ] as const) {
        await page.getByRole('navigation', { name: 'Footer' }).getByRole('link', { name: label, exact: true }).click();
        await page.waitForURL((url) => url.pathname === path);
        await expect(page.getByRole('heading', { level: 1 })).toHaveText(heading);
        // The title comes with the page's streamed metadata, which can land after the heading.
        await expect(page).toHaveTitle(`${heading} · Tollgate`);
        await expect(page.getByTestId(`site-text-${path.slice(1)}`)).toHaveAttribute('data-source', 'default');
        await expectSound(page);
      }

      // Keyboard, on a fresh load: the first Tab reaches the skip link; following it puts focus on <main>.
      await page.goto('/contact');
      await page.keyboard.press('Tab');
      const skip = page.getByRole('link', { name: 'Skip to content' });
      await expect(skip).toBeFocused();
      await page.keyboard.press('Enter');
      await expect(page.locator('main#main')).toBeFocused();
    });

    test(`${size.name}: signed in, /deposit shows the fee first and says plainly why deposits are closed; /dashboard is sound`, async ({ page, context }) => {
      await offline(context);
      await signIn(page, `trust-${size.name}-${Date.now()}@example.com`, '/deposit');
      const fee = page.getByTestId('deposit-fee');
      await expect(fee).toContainText('Deposit fee: 10%');
      await expect(fee).toContainText('$100.00 of credit costs $110.00');
      const closed = page.getByTestId('deposits-closed');
      await expect(closed).toContainText('Deposits are not open on this instance yet');
      // The fee is read before anything else the page says: above the explanation and the closed notice.
      const feeBox = (await fee.boundingBox())!;
      expect(feeBox.y).toBeLessThan((await page.locator('main header p').last().boundingBox())!.y);
      expect(feeBox.y).toBeLessThan((await closed.boundingBox())!.y);
      await expect(closed.getByRole('link', { name: 'See what works on this instance' })).toHaveAttribute('href', '/status');
      await expect(closed.getByTestId('operator-detail')).toHaveCount(0);
      expect(await page.locator('main').innerText()).not.toMatch(ENV_NAME);
      await expect(page.getByTestId('deposit-form')).toHaveCount(0);
      await expectSound(page);

      await page.goto('/dashboard');
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Dashboard');
      await expect(page.getByTestId('balance')).toBeVisible();
      await expect(page.getByText('No usage in this period')).toBeVisible();
      await expectSound(page);
    });
  });
}

test('an administrator also sees the operator detail: which setting opens deposits, and each status line in setting names', async ({ page, context }) => {
  await offline(context);
  await signIn(page, E2E_ADMIN_EMAIL, '/deposit');
  const closed = page.getByTestId('deposits-closed');
  await expect(closed).toContainText('Deposits are not open on this instance yet');
  await expect(closed.getByTestId('operator-detail')).toContainText('TREASURY_ADDRESS');
  await page.goto('/status');
  await expect(page.getByTestId('operator-view')).toBeVisible();
  await expect(page.getByTestId('status-item-provider:openai').getByTestId('operator-detail')).toContainText('OPENAI_API_KEY');
  await expect(page.getByTestId('status-item-provider:local').getByTestId('operator-detail')).toContainText(/Probe answered in \d+ ms/);
  expect(await seriousViolations(page)).toEqual([]);
});
