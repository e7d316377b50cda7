import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { expect, test, type Browser, type Locator, type Page } from '@playwright/test';
import { E2E_ADMIN_EMAIL, E2E_ADMIN_TOKEN } from './constants';
import { offline, seriousViolations, signIn } from './helpers';

// Issue #17: every page of the app, at desktop (1440×900) and phone (390×844) size, as the person
// it is for would meet it: a visitor for the public pages, a signed-in buyer with a key and one
// call behind them for the account pages, an administrator for /admin. On each: the page's own
// heading, its primary action visible, inside the viewport and usable, nothing to scroll sideways
// for, and no serious or critical axe-core finding. One sign-in per person, shared by every page
// and both sizes, keeps the sweep fast. Real server and database; nothing leaves this machine.

const SIZES = [
  { name: 'desktop', width: 1440, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

type Who = 'visitor' | 'buyer' | 'admin';

type PageCase = {
  path: string;
  who: Who;
  heading: string | RegExp;
  /** What the page is for: a button, link or field a person uses first. */
  primary: (page: Page) => Locator;
};

// Every app/**/page.tsx appears here (test below checks the list against the file system).
const PAGES: PageCase[] = [
  { path: '/', who: 'visitor', heading: /One API key in front of every model/, primary: (p) => p.getByRole('link', { name: 'Try the playground' }) },
  { path: '/pricing', who: 'visitor', heading: 'Models & pricing', primary: (p) => p.getByRole('region', { name: /Chat models with their provider/ }) },
  { path: '/packs', who: 'visitor', heading: 'Credit packs', primary: (p) => p.getByRole('link', { name: 'Sign in to buy' }).first() },
  { path: '/packs', who: 'buyer', heading: 'Credit packs', primary: (p) => p.getByRole('button', { name: /^Buy / }).first() },
  { path: '/signin', who: 'visitor', heading: /Sign in/, primary: (p) => p.getByTestId('email-submit') },
  { path: '/signin/check-email?email=someone%40example.com', who: 'visitor', heading: 'Check your email', primary: (p) => p.getByTestId('open-mailbox') },
  { path: '/dev/mailbox', who: 'visitor', heading: 'Development mailbox', primary: (p) => p.getByTestId('mail-link').first() },
  { path: '/playground', who: 'visitor', heading: 'Playground', primary: (p) => p.getByRole('link', { name: 'Sign in to chat' }) },
  { path: '/playground', who: 'buyer', heading: 'Playground', primary: (p) => p.getByTestId('playground-input') },
  { path: '/status', who: 'visitor', heading: 'Status', primary: (p) => p.getByTestId('status-item-provider:local') },
  { path: '/terms', who: 'visitor', heading: 'Terms of service', primary: (p) => p.getByTestId('site-text-terms') },
  { path: '/privacy', who: 'visitor', heading: 'Privacy', primary: (p) => p.getByTestId('site-text-privacy') },
  { path: '/contact', who: 'visitor', heading: 'Contact', primary: (p) => p.getByTestId('site-text-contact') },
  { path: '/keys', who: 'buyer', heading: 'API keys', primary: (p) => p.getByTestId('create-key') },
  { path: '/dashboard', who: 'buyer', heading: 'Dashboard', primary: (p) => p.getByRole('link', { name: 'Add funds' }) },
  { path: '/deposit', who: 'buyer', heading: /^Add funds/, primary: (p) => p.getByRole('link', { name: 'See what works on this instance' }) },
  { path: '/credits', who: 'buyer', heading: 'Credits', primary: (p) => p.getByTestId('redeem-submit') },
  { path: '/sell', who: 'buyer', heading: 'Sell spare credit', primary: (p) => p.getByTestId('pool-submit') },
  { path: '/admin/deposits', who: 'admin', heading: 'Deposit review', primary: (p) => p.getByRole('combobox', { name: 'Show' }) },
  // The suite's server has no payouts configured: the page says so where its action would be.
  { path: '/admin/payouts', who: 'admin', heading: 'Seller payouts', primary: (p) => p.getByTestId('payouts-disabled') },
];

/** Every route a page.tsx under app/ serves ((groups) and dynamic segments do not occur today). */
function appPages(dir = join(process.cwd(), 'app')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return appPages(full);
    if (entry.name !== 'page.tsx') return [];
    const route = relative(join(process.cwd(), 'app'), dir).split(sep).filter(Boolean).join('/');
    return [`/${route}`];
  });
}

test('the sweep lists every page of the app', () => {
  const swept = new Set(PAGES.map((p) => p.path.split('?')[0]));
  expect(appPages().sort()).toEqual([...swept].sort());
});

type Size = (typeof SIZES)[number];
type People = Map<Who, Page>;

/** Signs `email` in (through the development mailbox) and returns the session's cookies. */
async function signedInState(browser: Browser, email: string, prepare?: (page: Page) => Promise<void>) {
  const context = await browser.newContext();
  await offline(context);
  const page = await context.newPage();
  await signIn(page, email, '/dashboard');
  await prepare?.(page);
  const state = await context.storageState();
  await context.close();
  return state;
}

/** A buyer with history: an operator's credit, a key with limits, and one call to the built-in model. */
async function giveHistory(page: Page) {
  const origin = new URL(page.url()).origin;
  const { user } = (await (await page.request.get('/api/account')).json()) as { user: { id: string } };
  const credit = await page.request.post(`/api/admin/users/${user.id}/credit`, { headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}` }, data: { amount_usd: '5', note: 'e2e pages' } });
  expect(credit.status()).toBe(201);
  const created = await page.request.post('/api/keys', { headers: { origin }, data: { name: 'production-backend', daily_requests: 1000, daily_budget_usd: '2' } });
  expect(created.status()).toBe(201);
  const { key } = (await created.json()) as { key: string };
  const call = await page.request.post('/v1/chat/completions', { headers: { authorization: `Bearer ${key}` }, data: { model: 'tollgate-local', messages: [{ role: 'user', content: 'Say hello' }] } });
  expect(call.status()).toBe(200);
}

/**
 * Scrolled to, the element is on screen and usable: a control (button, link, field) lies wholly
 * inside the viewport and is enabled; content taller than a screen (a table, a text) lies inside
 * the viewport's width and shows on screen.
 */
async function expectUsable(target: Locator, size: { width: number; height: number }) {
  await expect(target).toBeVisible();
  await target.scrollIntoViewIfNeeded();
  const box = await target.boundingBox();
  expect(box, 'primary action has a box').not.toBeNull();
  const { x, y, width, height } = box!;
  expect(x, 'starts inside the viewport').toBeGreaterThanOrEqual(0);
  expect(x + width, 'ends inside the viewport').toBeLessThanOrEqual(size.width);
  const tag = await target.evaluate((el) => el.tagName.toLowerCase());
  if (['button', 'input', 'select', 'textarea', 'a'].includes(tag)) {
    expect(y).toBeGreaterThanOrEqual(0);
    expect(y + height).toBeLessThanOrEqual(size.height);
    await expect(target).toBeEnabled();
    if (tag === 'input' || tag === 'textarea') await expect(target).toBeEditable();
  } else {
    expect(y).toBeLessThan(size.height);
    expect(y + height).toBeGreaterThan(0);
  }
}

/** Loads the page as `who` at `size` and checks it; every message names the page and the size. */
async function checkPage(page: Page, item: PageCase, size: Size) {
  const at = `${item.path} at ${size.width}×${size.height}`;
  const response = await page.goto(item.path);
  expect(response?.status(), `${at} loads`).toBeLessThan(400);
  expect(new URL(page.url()).pathname, `${at} is not redirected`).toBe(item.path.split('?')[0]);
  await expect(page.getByRole('heading', { level: 1 }), at).toHaveText(item.heading);
  // Client components fetch their data after hydration: measure and audit the page once it has.
  await page.waitForLoadState('networkidle');
  await test.step(`${at}: primary action`, () => expectUsable(item.primary(page), size));
  const overflow = await page.evaluate(() => ({ scrollWidth: document.scrollingElement!.scrollWidth, innerWidth: window.innerWidth }));
  expect(overflow.scrollWidth, `${at} scrolls sideways`).toBeLessThanOrEqual(overflow.innerWidth);
  expect(await seriousViolations(page), `${at}: axe serious/critical`).toEqual([]);
}

// One browser context per person and size, made once: the buyer and the admin sign in once each and
// their cookies are reused at both sizes. Each test checks its page at both sizes side by side (two
// tabs at once), which halves the sweep's time on two cores.
const people = new Map<Size, People>();

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  const buyer = await signedInState(browser, `pages-${Date.now()}@example.com`, giveHistory);
  const admin = await signedInState(browser, E2E_ADMIN_EMAIL);
  for (const size of SIZES) {
    const viewport = { width: size.width, height: size.height };
    const byWho: People = new Map();
    for (const [who, storageState] of [['visitor', undefined], ['buyer', buyer], ['admin', admin]] as const) {
      const context = await browser.newContext({ viewport, storageState });
      await offline(context);
      byWho.set(who, await context.newPage());
    }
    people.set(size, byWho);
  }
});

test.afterAll(async () => {
  for (const byWho of people.values()) for (const page of byWho.values()) await page.context().close();
  people.clear();
});

for (const item of PAGES) {
  test(`${item.path} as ${item.who}, at ${SIZES.map((s) => `${s.width}×${s.height}`).join(' and ')}`, async () => {
    await Promise.all(SIZES.map((size) => checkPage(people.get(size)!.get(item.who)!, item, size)));
  });
}

// The two forms a buyer fills by hand: a refused submit puts focus on the first field to fix, so a
// phone's keyboard, or a screen reader, lands on the message.
test('at both sizes, a bad submit on /credits and /sell moves focus to the first invalid field', async () => {
  await Promise.all(
    SIZES.map(async (size) => {
      const page = people.get(size)!.get('buyer')!;
      await page.goto('/credits');
      await page.waitForLoadState('networkidle');
      const code = page.getByTestId('redeem-code');
      await code.fill('hello');
      await page.getByTestId('redeem-submit').click();
      await expect(code).toHaveAttribute('aria-invalid', 'true');
      await expect(code, `/credits at ${size.width}px`).toBeFocused();

      await page.goto('/sell');
      await page.waitForLoadState('networkidle');
      const key = page.getByLabel('OpenAI API key', { exact: true });
      const face = page.getByLabel('Face value (USD)', { exact: true });
      await face.fill('0.5');
      await page.getByTestId('pool-submit').click();
      // Both are wrong (no key, under $1): focus goes to the first in the form's order.
      await expect(face).toHaveAttribute('aria-invalid', 'true');
      await expect(key).toHaveAttribute('aria-invalid', 'true');
      await expect(key, `/sell at ${size.width}px`).toBeFocused();
    }),
  );
});
