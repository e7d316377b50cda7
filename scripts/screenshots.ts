// `npm run screenshots`: the README's pictures, taken from the running app with a little real data.
//
// By default it starts the app exactly as the browser suite does (e2e/serve.ts: `next build`, a
// throwaway SQLite database, seeded, `scripts/server.ts`) on SCREENSHOTS_PORT (3199), then stops it.
// E2E_SKIP_BUILD=1 reuses the last build (NEXT_DIST_DIR picks which). Or point it at an app that is
// already running: SCREENSHOTS_URL=http://127.0.0.1:3000 (the development mailbox must be on, i.e.
// no SMTP_URL, and reachable from this machine); SCREENSHOTS_ADMIN_TOKEN, if given, credits the
// demo user's wallet so the dashboard has a balance and a pack to show.
//
// Writes docs/screenshots/*.png: each page at 1440×900 (whole page) and a few at 390×844 (phone-*).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from '@playwright/test';
import { E2E_ADMIN_TOKEN } from '../e2e/constants';
import { waitHealthy } from '../test/helpers/ports';

const OUT = join(process.cwd(), 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

/** The suite's own server (e2e/serve.ts), on its own port; resolves once it answers /health. */
async function startApp(): Promise<{ base: string; server: ChildProcess }> {
  const port = process.env.SCREENSHOTS_PORT ?? '3199';
  const server = spawn(process.execPath, ['--import', 'tsx', 'e2e/serve.ts'], { stdio: 'inherit', env: { ...process.env, E2E_PORT: port } });
  const base = `http://127.0.0.1:${port}`;
  // The suite's server builds the app first: minutes on these machines.
  await waitHealthy(base, server, () => '(e2e/serve.ts wrote its output above)', 480_000);
  return { base, server };
}

/** Every request off this machine is aborted, as in the browser suite. */
async function offline(context: BrowserContext) {
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
    (route) => route.abort(),
  );
}

/** Signs in by email link through the development mailbox, as e2e/helpers.ts does. */
async function signIn(page: Page, email: string) {
  await page.goto('/signin?callbackUrl=%2Fdashboard');
  await page.getByTestId('email-input').fill(email);
  await page.getByTestId('email-submit').click();
  await page.getByTestId('check-email').waitFor();
  await page.goto('/dev/mailbox');
  await page.locator(`[data-testid="mail"][data-to="${email}"]`).first().getByTestId('mail-link').click();
  await page.waitForURL((url) => url.pathname === '/dashboard');
}

async function ok(response: { status(): number; text(): Promise<string> }, what: string) {
  if (response.status() >= 300) throw new Error(`${what}: ${response.status()} ${await response.text()}`);
}

/** What a week-old account might have: wallet credit, a pack, two keys, a handful of calls. */
async function makeData(page: Page, base: string, adminToken: string | null) {
  const request = page.request;
  const headers = { origin: base };
  if (adminToken) {
    const { user } = (await (await request.get('/api/account')).json()) as { user: { id: string } };
    await ok(await request.post(`/api/admin/users/${user.id}/credit`, { headers: { authorization: `Bearer ${adminToken}` }, data: { amount_usd: '80', note: 'demo top-up' } }), 'credit');
    await ok(await request.post('/api/packs/pk_credit_50/purchase', { headers: { ...headers, 'idempotency-key': `demo-${Date.now()}` }, data: {} }), 'buy a pack');
  }
  const keys: string[] = [];
  for (const data of [
    { name: 'production-backend', daily_requests: 5_000, daily_budget_usd: '20' },
    { name: 'staging', daily_requests: 500 },
  ]) {
    const created = await request.post('/api/keys', { headers, data });
    await ok(created, `create key ${data.name}`);
    keys.push(((await created.json()) as { key: string }).key);
  }
  if (!adminToken) return;
  const prompts = ['Summarise our release notes in one line.', 'Write a haiku about prepaid credit.', 'What is a double-entry ledger?', 'Translate "hello" into French.', 'Name three prime numbers.'];
  for (const [i, content] of prompts.entries()) {
    const call = await request.post('/v1/chat/completions', {
      headers: { authorization: `Bearer ${keys[i % keys.length]}` },
      data: { model: 'tollgate-local', messages: [{ role: 'user', content }] },
    });
    await ok(call, 'chat completion');
  }
  const embedding = await request.post('/v1/embeddings', { headers: { authorization: `Bearer ${keys[0]}` }, data: { model: 'tollgate-embed-local', input: 'prepaid credit' } });
  if (embedding.status() >= 300) console.warn(`screenshots: embeddings call skipped (${embedding.status()})`);
}

/** Waits for the page's client data (no request in flight), then writes the PNG. */
async function shoot(page: Page, path: string, name: string, options: { fullPage?: boolean; before?: (page: Page) => Promise<void> } = {}) {
  await page.goto(path);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  await page.waitForLoadState('networkidle');
  await options.before?.(page);
  // Fonts and the charts' entry animation.
  await page.waitForTimeout(600);
  const file = join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true });
  console.log(`screenshots: ${file}`);
}

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH.`);
  mkdirSync(OUT, { recursive: true });
  const given = process.env.SCREENSHOTS_URL?.replace(/\/$/, '');
  const app = given ? null : await startApp();
  const base = given ?? app!.base;
  const adminToken = given ? (process.env.SCREENSHOTS_ADMIN_TOKEN ?? null) : E2E_ADMIN_TOKEN;
  if (given) await waitHealthy(base, null, () => '(SCREENSHOTS_URL: a server started elsewhere)', 10_000);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const desktop = await browser.newContext({ baseURL: base, viewport: DESKTOP, colorScheme: 'light' });
    await offline(desktop);
    const page = await desktop.newPage();

    // Signed out first: what a visitor sees.
    await shoot(page, '/', 'home');
    await shoot(page, '/pricing', 'pricing');
    await shoot(page, '/status', 'status');

    await signIn(page, `demo-${Date.now().toString(36)}@example.com`);
    await makeData(page, base, adminToken);

    // One streamed reply in the playground, with its cost.
    await shoot(page, '/playground', 'playground', {
      fullPage: false,
      before: async (p) => {
        await p.getByTestId('playground-input').fill('In one sentence, what does Tollgate do?');
        await p.getByTestId('playground-send').click();
        await p.getByTestId('assistant-cost').last().waitFor({ timeout: 60_000 });
      },
    });
    await shoot(page, '/dashboard', 'dashboard');
    await shoot(page, '/keys', 'keys');
    await shoot(page, '/packs', 'packs');
    await shoot(page, '/credits', 'credits');
    await shoot(page, '/deposit', 'deposit');
    await shoot(page, '/sell', 'sell');

    // The same account on a phone.
    const phone = await browser.newContext({ baseURL: base, viewport: PHONE, storageState: await desktop.storageState(), isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await offline(phone);
    const small = await phone.newPage();
    await shoot(small, '/keys', 'phone-keys');
    await shoot(small, '/dashboard', 'phone-dashboard', { fullPage: false });
    await shoot(small, '/credits', 'phone-credits', { fullPage: false });
    await shoot(small, '/keys', 'phone-menu', {
      fullPage: false,
      before: async (p) => {
        const menu = p.getByRole('button', { name: 'Menu', exact: true });
        // A tap before hydration does nothing: tap until the panel says it is open.
        for (let i = 0; i < 20 && (await menu.getAttribute('aria-expanded')) !== 'true'; i++) {
          await menu.click();
          await p.waitForTimeout(250);
        }
        await p.getByRole('navigation', { name: 'Site menu' }).waitFor();
      },
    });
  } finally {
    await browser.close();
    if (app) {
      app.server.kill('SIGTERM');
      await new Promise((r) => app.server.once('exit', r));
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
