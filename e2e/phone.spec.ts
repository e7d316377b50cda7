import { expect, test, type Locator, type Page } from '@playwright/test';
import { offline, signIn, seriousViolations } from './helpers';

// Issue #17, phones: at 390×844 the header's destinations live behind a Menu button (a disclosure
// with a panel), and /keys shows each key as a card whose Edit and Revoke stay on screen. Real
// server, real sign-in by magic link (the development mailbox), nothing faked in the browser.

test.use({ viewport: { width: 390, height: 844 } });

const WIDTH = 390;

async function expectNoSidewaysScroll(page: Page) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
}

/** Wholly within the phone's width: nothing to scroll sideways for. */
async function expectWithinWidth(locator: Locator) {
  await expect(locator).toBeVisible();
  const box = await locator.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(WIDTH);
}

const menuButton = (page: Page) => page.getByRole('button', { name: 'Menu', exact: true });
const menuPanel = (page: Page) => page.getByRole('navigation', { name: 'Site menu' });

/** Opens the menu; retried because a click that lands before hydration does nothing. */
async function openMenu(page: Page) {
  const button = menuButton(page);
  await expect(async () => {
    if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click();
    await expect(button).toHaveAttribute('aria-expanded', 'true', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(menuPanel(page)).toBeVisible();
}

test('signed out, a phone gets a Menu button whose panel lists every public page, takes focus and gives it back on Escape', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();

  // The inline nav is not squeezed into the header on a phone; the Menu button stands in for it.
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden();
  const button = menuButton(page);
  await expect(button).toBeVisible();
  await expect(button).toHaveAttribute('aria-expanded', 'false');
  await expect(button).toHaveAttribute('aria-controls', 'site-menu');
  await expect(page.locator('#site-menu')).toBeHidden();
  await expectWithinWidth(button);
  await expectWithinWidth(page.getByTestId('sign-in-link'));
  await expectNoSidewaysScroll(page);
  expect(await seriousViolations(page)).toEqual([]);

  await openMenu(page);
  const panel = menuPanel(page);
  await expect(page.locator('#site-menu')).toBeVisible();
  await expect(panel.getByRole('link')).toHaveText(['Models & pricing', 'Quickstart', 'Status']);
  await expect(panel.getByRole('link', { name: 'Packs', exact: true })).toHaveCount(0);
  // Focus moved into the panel, onto its first link.
  await expect(panel.getByRole('link', { name: 'Models & pricing' })).toBeFocused();
  for (const link of await panel.getByRole('link').all()) await expectWithinWidth(link);
  await expectNoSidewaysScroll(page);
  expect(await seriousViolations(page)).toEqual([]);

  // Escape closes it and hands focus back to the button.
  await page.keyboard.press('Escape');
  await expect(button).toHaveAttribute('aria-expanded', 'false');
  await expect(page.locator('#site-menu')).toBeHidden();
  await expect(button).toBeFocused();

  // A link navigates and closes the menu; on the next page the menu marks where you are.
  await openMenu(page);
  await menuPanel(page).getByRole('link', { name: 'Status' }).click();
  await page.waitForURL((url) => url.pathname === '/status');
  await expect(page.locator('#site-menu')).toBeHidden();
  await expect(button).toHaveAttribute('aria-expanded', 'false');
  await openMenu(page);
  await expect(menuPanel(page).getByRole('link', { name: 'Status' })).toHaveAttribute('aria-current', 'page');
  await expect(menuPanel(page).getByRole('link', { name: 'Models & pricing' })).not.toHaveAttribute('aria-current', 'page');
  await page.screenshot({ path: 'e2e/.artifacts/menu-mobile.png', fullPage: true });
});

test('signed in on a phone: the menu adds the account pages, and /keys shows a key as a card with Edit and Revoke on screen', async ({ page, context }) => {
  test.setTimeout(90_000);
  await offline(context);
  await signIn(page, `phone-${Date.now()}@example.com`, '/keys');
  await expect(page.getByRole('heading', { level: 1, name: 'API keys' })).toBeVisible();
  // Shown only once the client has fetched the list: the page is hydrated from here on.
  await expect(page.getByText('No API keys yet')).toBeVisible();
  await expectWithinWidth(page.getByTestId('user-menu'));
  await expectNoSidewaysScroll(page);

  await openMenu(page);
  const panel = menuPanel(page);
  await expect(panel.getByRole('link')).toHaveText(['Models & pricing', 'Quickstart', 'Packs', 'Credits', 'API keys', 'Dashboard', 'Playground', 'Sell', 'Status']);
  await expect(panel.getByRole('link', { name: 'API keys' })).toHaveAttribute('aria-current', 'page');
  await expect(panel.getByRole('link', { name: 'Dashboard' })).not.toHaveAttribute('aria-current', 'page');
  await page.keyboard.press('Escape');
  await expect(menuButton(page)).toBeFocused();
  await expect(page.locator('#site-menu')).toBeHidden();

  // Create a key with both daily limits, as the journey does.
  await page.getByTestId('create-key').click();
  await page.getByTestId('key-name').fill('phone');
  await page.getByTestId('key-daily-requests').fill('100');
  await page.getByTestId('key-daily-budget').fill('1');
  await page.getByTestId('key-submit').click();
  await expect(page.getByTestId('new-key-secret')).toHaveText(/^tg_[0-9A-Za-z]{40,}$/);
  await page.getByTestId('secret-done').click();

  // One card, no table: name, masked key, limits, usage, status, and both buttons inside the width.
  const card = page.getByTestId('key-card');
  await expect(card).toHaveCount(1);
  await expect(card).toBeVisible();
  await expect(page.getByTestId('keys-table')).toBeHidden();
  await expect(card).toHaveAttribute('data-status', 'active');
  await expect(card).toContainText('phone');
  await expect(card).toContainText('active');
  await expect(card).toContainText(/tg_/);
  await expect(card.getByTestId('key-card-requests-today')).toHaveText('0 / 100');
  await expect(card.getByTestId('key-card-spent-today')).toHaveText('$0.00 / $1.00');
  await expectWithinWidth(card);
  await expectWithinWidth(card.getByTestId('key-card-edit'));
  await expectWithinWidth(card.getByTestId('key-card-revoke'));
  await expectNoSidewaysScroll(page);
  expect(await seriousViolations(page)).toEqual([]);
  await page.screenshot({ path: 'e2e/.artifacts/keys-mobile.png', fullPage: true });

  // The buttons work from the card: Edit opens the key's form; Revoke, confirmed, revokes it.
  await card.getByRole('button', { name: 'Edit limits of phone' }).click();
  const editDialog = page.getByRole('dialog', { name: 'Edit phone' });
  await expect(editDialog).toBeVisible();
  await expect(editDialog.getByTestId('key-name')).toHaveValue('phone');
  await editDialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(editDialog).toBeHidden();
  await card.getByRole('button', { name: 'Revoke phone' }).click();
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await expect(card).toHaveAttribute('data-status', 'revoked');
  await expect(card).toContainText(/revoked \w{3} \d{1,2}, \d{4}/);
  await expect(card.getByTestId('key-card-revoke')).toHaveCount(0);
  await expectNoSidewaysScroll(page);
});
