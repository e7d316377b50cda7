import { expect, test, type Page } from '@playwright/test';
import { formatCents } from '../components/marketing/format';
import { SEED_PACKS } from '../lib/catalog/seed-data';
import { SPEND_STOPS, compareCosts, nearestStop, verdict } from '../lib/pricing/savings';

// The public pages a visitor meets before signing in: the home page's calculator and waitlist,
// and the pack shop. Expected figures are computed from the seeded catalog, not copied by hand.

const generalPacks = SEED_PACKS.filter((p) => !p.scopeModelId && !p.scopeProviderId).map((p) => ({ id: p.id, name: p.name, price: p.price, faceValue: p.faceValue, validityDays: p.validityDays }));
// The suite's server runs on the defaults: MARKUP_PERCENT=10, DEPOSIT_FEE_PERCENT=10.
const charges = { markupBps: 1000n, depositFeeBps: 1000n };
const cents = (value: bigint) => formatCents(value * 10_000n);

function expected(index: number) {
  const spend = SPEND_STOPS[index]!;
  const quote = compareCosts(spend, generalPacks, charges);
  const result = verdict(quote);
  const difference = cents(result.differenceCents);
  const verdictText =
    result.kind === 'dearer' ? `Tollgate costs ${difference} more a month` : result.kind === 'cheaper' ? `You save ${difference} a month` : 'The same as buying direct';
  return { spend: formatCents(spend, { whole: true }), direct: cents(result.directCents), cost: cents(result.totalCents), difference, kind: result.kind, verdict: verdictText, pack: quote.pack };
}

async function expectCalculatorAt(page: Page, index: number) {
  const want = expected(index);
  const calculator = page.getByTestId('savings-calculator');
  await expect(calculator.getByTestId('calc-spend')).toHaveText(want.spend);
  await expect(calculator.getByRole('slider')).toHaveAttribute('aria-valuetext', `${want.spend} a month`);
  await expect(calculator.getByTestId('calc-direct')).toContainText(want.direct);
  await expect(calculator.getByTestId('calc-with-tollgate')).toContainText(want.cost);
  await expect(calculator.getByTestId('calc-verdict')).toContainText(want.verdict);
  if (want.pack) await expect(calculator.getByTestId('calc-pack')).toContainText(want.pack.name);
  return want;
}

test('the cost calculator compares Tollgate, markup and deposit fee included, with buying direct, and follows the slider', async ({ page }) => {
  await page.goto('/');
  const slider = page.getByRole('slider', { name: "Your monthly API spend at the providers' list prices" });
  await expect(slider).toBeVisible();

  // The default position: $2,000 a month at list is $2,200 of usage here, best paid with $1,000
  // packs; with the deposit fee that is $2,104.35, which the page must call dearer, not a saving.
  const initial = await expectCalculatorAt(page, nearestStop(2_000_000_000n));
  expect(initial.pack?.id).toBe('pk_credit_1000');
  expect(initial.direct).toBe('$2,000.00');
  expect(initial.cost).toBe('$2,104.35');
  expect(initial.kind).toBe('dearer');
  const calculator = page.getByTestId('savings-calculator');
  await expect(calculator.getByTestId('calc-verdict')).toHaveText('Tollgate costs $104.35 more a month (5.22% more)');
  await expect(calculator.getByTestId('calc-pack')).toContainText('$1,150.00 of credit for $1,000.00: 15% more credit');
  await expect(calculator).not.toContainText('You save');

  await slider.focus();
  await page.keyboard.press('Home');
  // $200 at list is $220 of usage: exactly the $200 pack's $220 of credit.
  const low = await expectCalculatorAt(page, 0);
  expect(low.spend).toBe('$200');
  expect(low.pack?.id).toBe('pk_credit_200');
  expect(low.cost).toBe('$220.00');

  // Four steps right: $400, $440 of usage, still under the $1,000 pack's $1,150 of credit.
  for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
  const mid = await expectCalculatorAt(page, 4);
  expect(mid.spend).toBe('$400');
  expect(mid.pack?.id).toBe('pk_credit_200');

  await page.keyboard.press('End');
  const high = await expectCalculatorAt(page, SPEND_STOPS.length - 1);
  expect(high.spend).toBe('$50,000');
  expect(high.cost).toBe('$52,608.70');
  expect(high.difference).toBe('$2,608.70');
});

test('the waitlist takes an email once, says so on a repeat, and explains an invalid address', async ({ page }) => {
  await page.goto('/');
  const form = page.getByTestId('waitlist-form');
  const email = `e2e-${Date.now()}@Example.com`;

  await form.getByLabel('Work email').fill('not-an-email');
  await form.getByRole('button', { name: 'Join the waitlist' }).click();
  await expect(form.getByText('Enter a valid email address')).toBeVisible();
  await expect(form.getByLabel('Work email')).toHaveAttribute('aria-invalid', 'true');

  await form.getByLabel('Work email').fill(email);
  await form.getByLabel(/Company/).fill('Analytical Engines');
  await form.getByLabel(/What will you build/).fill('Cheaper batch summaries');
  await form.getByRole('button', { name: 'Join the waitlist' }).click();
  await expect(form.getByTestId('waitlist-status')).toContainText("You're on the list");
  await expect(form.getByLabel('Work email')).toHaveValue('');

  await form.getByLabel('Work email').fill(email.toUpperCase());
  await form.getByRole('button', { name: 'Join the waitlist' }).click();
  await expect(form.getByTestId('waitlist-status')).toContainText('already on the list');
});

test('the home page shows the fan-out, live and unavailable providers, and the quickstart in three languages', async ({ page }) => {
  await page.goto('/');
  const providers = page.getByTestId('provider-list');
  await expect(providers.getByRole('listitem')).toHaveCount(5);
  await expect(providers.getByRole('listitem').filter({ hasText: 'Tollgate local' })).toContainText('live');
  await expect(providers.getByRole('listitem').filter({ hasText: 'OpenAI' })).toContainText('OPENAI_API_KEY is not set');
  await expect(page.getByRole('img', { name: /One key, fanned out/ })).toBeVisible();

  const origin = new URL(page.url()).origin;
  await page.getByRole('tab', { name: 'Python' }).click();
  await expect(page.getByTestId('quickstart-python')).toContainText(`base_url="${origin}/v1"`);
  await page.getByRole('tab', { name: 'Python' }).press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Node.js' })).toBeFocused();
  await expect(page.getByTestId('quickstart-node')).toContainText(`baseURL: '${origin}/v1'`);

  await page.getByText('How am I billed?').click();
  await expect(page.getByText('releases the rest')).toBeVisible();
  await page.screenshot({ path: 'e2e/.artifacts/home-full.png', fullPage: true });
});

test('a signed-out visitor sees the pack shop with a sign-in prompt', async ({ page }) => {
  await page.goto('/packs');
  await expect(page.getByRole('heading', { level: 1, name: 'Credit packs' })).toBeVisible();
  const list = page.getByTestId('pack-list');
  await expect(list.getByRole('listitem')).toHaveCount(SEED_PACKS.length);
  const sonnet = page.getByTestId('pack-pk_claude_sonnet_100');
  await expect(sonnet).toContainText('$100.00');
  await expect(sonnet).toContainText('$125.00 of credit');
  await expect(sonnet).toContainText('Claude Sonnet 4.5 only');
  await expect(sonnet).toContainText('90 days');
  await expect(page.getByTestId('signin-prompt').getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', '/signin?callbackUrl=%2Fpacks');
  await expect(sonnet.getByRole('link', { name: 'Sign in to buy' })).toBeVisible();
  await page.screenshot({ path: 'e2e/.artifacts/packs-signed-out.png', fullPage: true });
});

test('on a phone the home page, the shop and the prices fit the screen: no sideways scrolling', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/', '/packs', '/pricing']) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  }
  // The price table is wider than a phone: it scrolls inside its own box, which a keyboard can reach.
  const box = page.getByRole('region', { name: /Chat models with their provider/ });
  await expect(box).toHaveAttribute('tabindex', '0');
  expect(await box.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
  await page.goto('/');
  // The wide SVG gives way to a stacked flow and the provider list.
  await expect(page.getByRole('img', { name: /One key, fanned out/ })).toBeHidden();
  await expect(page.getByTestId('provider-list')).toBeVisible();
  await page.screenshot({ path: 'e2e/.artifacts/home-mobile.png', fullPage: true });
});
