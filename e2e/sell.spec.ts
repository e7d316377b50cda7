import { join } from 'node:path';
import { expect, test, type BrowserContext, type Page, type Route } from '@playwright/test';

// /sell, issue #16: a signed-in user lists spare provider credit as a pool.
//
// The e2e server has no fake upstream (no *_BASE_URL in e2e/serve.ts) and no SELLER_KEY_SECRET
// while running with NODE_ENV=production, so the real POST /api/sell/pools can never list a pool
// here: it answers 503 "Selling is off…" (or, were a secret set, a refusal from the provider).
// The first tests use the real server for everything that needs no upstream: the redirect when
// signed out, the explainer, the empty state, the form's own checks, a server refusal shown beside
// the form, axe, a phone's width. The last test fakes /api/sell/pools in the browser (page.route,
// an in-memory pool list) to drive the list and its actions; it tests the page, not the API.

async function offline(context: BrowserContext) {
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
    (route) => route.abort(),
  );
}

async function signIn(page: Page, email: string, callbackUrl: string) {
  await page.goto(`/signin?callbackUrl=${encodeURIComponent(callbackUrl)}`);
  await page.getByTestId('email-input').fill(email);
  await page.getByTestId('email-submit').click();
  await expect(page.getByTestId('check-email')).toBeVisible();
  await page.goto('/dev/mailbox');
  await page.locator(`[data-testid="mail"][data-to="${email}"]`).first().getByTestId('mail-link').click();
  await page.waitForURL((url) => url.pathname === callbackUrl);
}

type AxeViolation = { id: string; impact?: string | null; help: string; nodes: Array<{ target: unknown[] }> };
type AxeWindow = Window & { axe: { run: (context: Document, options: object) => Promise<{ violations: AxeViolation[] }> } };

/** axe-core (already in node_modules, through eslint-plugin-jsx-a11y) on the page as it stands. */
async function seriousViolations(page: Page) {
  await page.addScriptTag({ path: join(process.cwd(), 'node_modules', 'axe-core', 'axe.min.js') });
  const violations = await page.evaluate(async () => {
    const { violations } = await (window as unknown as AxeWindow).axe.run(document, { resultTypes: ['violations'] });
    return violations.map((v) => ({ id: v.id, impact: v.impact ?? null, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function expectNoSidewaysScroll(page: Page) {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
}

test('signed out, /sell sends the visitor to sign in and back', async ({ page }) => {
  await page.goto('/sell');
  await page.waitForURL((url) => url.pathname === '/signin');
  expect(new URL(page.url()).searchParams.get('callbackUrl')).toBe('/sell');
});

test('a seller meets the explainer and an empty list; the form says in plain words what to fix, and shows the server refusing', async ({ page, context }) => {
  await offline(context);
  await signIn(page, `seller-${Date.now()}@example.com`, '/sell');

  await expect(page.getByRole('heading', { level: 1, name: 'Sell spare credit' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sell', exact: true })).toHaveAttribute('aria-current', 'page');
  const explainer = page.getByTestId('sell-explainer');
  await expect(explainer).toContainText('you receive rate × list price of what buyers use');
  await expect(explainer).toContainText('verified with one small live call, stored encrypted, and never shown again');
  await expect(page.getByTestId('sell-not-yet')).toContainText('not yet: pools are listed but do not serve calls or earn yet', { ignoreCase: true });
  await expect(page.getByText('No pools yet')).toBeVisible();

  // The key field is a password field the browser does not remember.
  const provider = page.getByLabel('Provider', { exact: true });
  const key = page.getByLabel('OpenAI API key', { exact: true });
  const face = page.getByLabel('Face value (USD)', { exact: true });
  const rate = page.getByLabel('Rate', { exact: true });
  await expect(key).toHaveAttribute('type', 'password');
  await expect(key).toHaveAttribute('autocomplete', 'off');
  await expect(rate).toHaveValue('60');

  // A face value under a dollar: marked, described, focused; the key field, filled, is not marked.
  await key.fill('sk-e2e-not-a-real-key-0000');
  await face.fill('0.5');
  await page.getByTestId('pool-submit').click();
  const faceError = page.getByText('Enter a face value of at least $1.');
  await expect(faceError).toBeVisible();
  await expect(face).toHaveAttribute('aria-invalid', 'true');
  await expect(face).toHaveClass(/ring-red-500/);
  await expect(face).not.toHaveClass(/ring-slate-300/);
  const errorId = await faceError.getAttribute('id');
  expect(errorId).toBeTruthy();
  expect((await face.getAttribute('aria-describedby'))?.split(' ')).toContain(errorId);
  await expect(face).toBeFocused();
  await expect(key).not.toHaveAttribute('aria-invalid', 'true');

  // Several mistakes: focus goes to the first of them in the form's order.
  await key.fill('');
  await rate.fill('150');
  await page.getByTestId('pool-submit').click();
  await expect(page.getByText('Paste your OpenAI API key.')).toBeVisible();
  await expect(page.getByText('Enter the share of list price you receive, from 1% to 100% (at most two decimals).')).toBeVisible();
  await expect(key).toBeFocused();
  await expect(rate).toHaveAttribute('aria-invalid', 'true');
  // The red ring is painted, not only named in a class: an invalid field's ring differs from a valid one's
  // (neither focused: the key field has focus).
  const ringOf = (field: typeof rate) => field.evaluate((el) => getComputedStyle(el).boxShadow);
  const expires = page.getByTestId('pool-expires');
  expect(await ringOf(rate)).not.toBe(await ringOf(expires));
  expect(await ringOf(face)).toBe(await ringOf(rate));

  // The label follows the provider.
  await provider.selectOption('anthropic');
  await expect(page.getByLabel('Anthropic API key', { exact: true })).toBeVisible();
  await provider.selectOption('openai');

  // Valid now: the server has the last word. Here it cannot list (see the top of the file), and its
  // message is shown beside the form, not a generic one; the key stays for another try.
  await key.fill('sk-e2e-not-a-real-key-0000');
  await face.fill('250');
  await rate.fill('60');
  await page.getByTestId('pool-submit').click();
  const refusal = page.getByTestId('pool-form-error').or(page.locator('#pool-api-key-error'));
  await expect(refusal).toBeVisible({ timeout: 20_000 });
  await expect(refusal).not.toHaveText('');
  await expect(refusal).not.toContainText('The server answered');
  await expect(face).not.toHaveAttribute('aria-invalid', 'true');
  await expect(key).toHaveValue('sk-e2e-not-a-real-key-0000');
  await expect(page.getByText('No pools yet')).toBeVisible();

  expect(await seriousViolations(page)).toEqual([]);

  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Sell spare credit' })).toBeVisible();
  await expectNoSidewaysScroll(page);
  await page.screenshot({ path: 'e2e/.artifacts/sell-empty-mobile.png', fullPage: true });
});

type FakePool = {
  id: string;
  object: 'seller_pool';
  provider: string;
  key_hint: string;
  face_value_usd: number;
  drawn_usd: number;
  remaining_usd: number;
  rate: number;
  status: string;
  status_reason: string | null;
  expires_at: string | null;
  verified_at: string;
  created_at: string;
  updated_at: string;
};

/**
 * /api/sell/pools in the browser, per the README's contract: list, create (held until `release`,
 * to see the pending state), pause, resume, revoke. Records the create bodies it received.
 */
async function fakePoolsApi(page: Page) {
  const pools: FakePool[] = [];
  const created: unknown[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const reply = (route: Route, status: number, body: unknown) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });

  await page.route('**/api/sell/pools**', async (route) => {
    const request = route.request();
    const id = /\/api\/sell\/pools\/([^/?]+)/.exec(new URL(request.url()).pathname)?.[1];
    const pool = id ? pools.find((p) => p.id === id) : undefined;
    if (!id && request.method() === 'GET') return reply(route, 200, { object: 'list', data: pools });
    if (!id && request.method() === 'POST') {
      const body = request.postDataJSON() as { provider: string; api_key: string; face_value_usd: string; rate: string; expires_at: string | null };
      created.push(body);
      await held;
      const now = new Date().toISOString();
      const face = Number(body.face_value_usd);
      const next: FakePool = {
        id: `pool_e2e${pools.length}`,
        object: 'seller_pool',
        provider: body.provider,
        key_hint: body.api_key.slice(-4),
        face_value_usd: face,
        drawn_usd: 0,
        remaining_usd: face,
        rate: Number(body.rate),
        status: 'live',
        status_reason: null,
        expires_at: body.expires_at,
        verified_at: now,
        created_at: now,
        updated_at: now,
      };
      pools.unshift(next);
      return reply(route, 201, next);
    }
    if (!pool) return reply(route, 404, { error: { message: `No pool with id '${id}'.`, type: 'invalid_request_error', code: 'pool_not_found', param: null } });
    if (request.method() === 'PATCH') {
      const { status } = request.postDataJSON() as { status: 'paused' | 'live' };
      Object.assign(pool, { status, status_reason: status === 'paused' ? 'paused by the seller' : null });
      return reply(route, 200, pool);
    }
    if (request.method() === 'DELETE') {
      Object.assign(pool, { status: 'revoked', status_reason: 'revoked by the seller' });
      return reply(route, 200, pool);
    }
    return reply(route, 200, pool);
  });
  return { created, release };
}

test('with the pools API faked in the browser: listing shows the pending check, the pool with its key hint, then pause, resume and a confirmed revoke', async ({ page, context }) => {
  await offline(context);
  await signIn(page, `seller-list-${Date.now()}@example.com`, '/sell');
  const api = await fakePoolsApi(page);
  await page.reload();
  await expect(page.getByText('No pools yet')).toBeVisible();

  await page.getByLabel('OpenAI API key', { exact: true }).fill('sk-e2e-fake-key-abcd');
  await page.getByLabel('Face value (USD)', { exact: true }).fill('250');
  await page.getByLabel('Rate', { exact: true }).fill('60');
  await page.getByTestId('pool-submit').click();
  await expect(page.getByTestId('pool-form-status')).toHaveText('Verifying your key with OpenAI…');
  await expect(page.getByTestId('pool-submit')).toHaveAttribute('aria-busy', 'true');
  await expect.poll(() => api.created).toEqual([{ provider: 'openai', api_key: 'sk-e2e-fake-key-abcd', face_value_usd: '250', rate: '0.6', expires_at: null }]);
  api.release();

  await expect(page.getByTestId('pool-listed')).toContainText('OpenAI key …abcd');
  await expect(page.getByLabel('OpenAI API key', { exact: true })).toHaveValue('');
  await expect(page.getByTestId('pool-form-status')).toHaveText('');

  const row = page.getByTestId('pool-row');
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('pool-key-hint')).toHaveText('…abcd');
  await expect(row).toContainText('OpenAI');
  await expect(row).toContainText('$250.00 of $250.00 left');
  await expect(row).toContainText('60%');
  await expect(row).toContainText('No expiry');
  await expect(row.getByRole('progressbar', { name: 'Remaining of OpenAI pool …abcd' })).toHaveAttribute('aria-valuetext', '$250.00 of $250.00 left');
  await expect(row).toHaveAttribute('data-status', 'live');

  await row.getByTestId('pause-pool').click();
  await expect(row).toHaveAttribute('data-status', 'paused');
  await expect(row.getByTestId('pool-status')).toContainText('paused by the seller');
  await row.getByTestId('resume-pool').click();
  await expect(row).toHaveAttribute('data-status', 'live');

  // Revoking asks first; cancelling changes nothing.
  await row.getByTestId('revoke-pool').click();
  const dialog = page.getByRole('dialog', { name: 'Revoke the OpenAI pool …abcd?' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(row).toHaveAttribute('data-status', 'live');
  await row.getByTestId('revoke-pool').click();
  await dialog.getByRole('button', { name: 'Revoke pool', exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(row).toHaveAttribute('data-status', 'revoked');
  await expect(row.getByTestId('pool-status')).toContainText('revoked by the seller');
  await expect(row.getByTestId('pause-pool')).toHaveCount(0);

  expect(await seriousViolations(page)).toEqual([]);

  // A phone: the table gives way to stacked cards, and nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByTestId('pools-table')).toBeHidden();
  const card = page.getByTestId('pool-card');
  await expect(card).toBeVisible();
  await expect(card.getByTestId('pool-key-hint')).toHaveText('…abcd');
  await expect(card).toContainText('$250.00 of $250.00 left');
  await expectNoSidewaysScroll(page);
  expect(await seriousViolations(page)).toEqual([]);
  await page.screenshot({ path: 'e2e/.artifacts/sell-list-mobile.png', fullPage: true });
});
