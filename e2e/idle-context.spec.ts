import { AsyncLocalStorage } from 'node:async_hooks';
import { expect, test } from '@playwright/test';
import { CLOSED_CONNECTION_LIMIT_MS, IDLE_GRACE_MS } from '../lib/server/idle-context-tracking';
import { startAppInstance, type AppInstance } from './app-instance';
import { offline, signIn } from './helpers';

// On Node 20 and 22 the server turns async context tracking off once no request has been handed to
// Next for IDLE_GRACE_MS (lib/server/idle-context-tracking.ts), and Next's next request turns it on
// again. A page served after that must still find its request: Next's (the session cookie) and
// Tollgate's own (the client's address, read when the welcome credit is granted). An app instance
// of this spec's own, whose log (LOG_LEVEL=debug) says when tracking went off: the spec waits for
// that, not for a guess at a delay. On Node 24 there is nothing to turn off, and it says so.

const port = Number(process.env.E2E_PORT ?? 3100) + 2;
test.use({ baseURL: `http://127.0.0.1:${port}` });

const TRACKING_OFF = 'async context tracking off';
/** Whether this Node tracks context with hooks (20, 22 without the flag); the server runs the same Node, from PATH. */
const HOOKED = typeof (AsyncLocalStorage.prototype as { _enable?: unknown })._enable === 'function';
let app: AppInstance;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  app = await startAppInstance({ port, label: 'idle', env: { LOG_LEVEL: 'debug' } });
});

test.afterAll(async () => {
  await app?.stop();
});

function timesOff(): number {
  return app.output().split(TRACKING_OFF).length - 1;
}

/**
 * Waits until the server has turned tracking off more times than `before`: within the grace period
 * once the browser has left, or, should a request of the page's have been cut off with its
 * connection before Next finished it, once CLOSED_CONNECTION_LIMIT_MS has passed.
 */
async function trackingOffAfter(before: number): Promise<void> {
  try {
    await expect.poll(timesOff, { timeout: CLOSED_CONNECTION_LIMIT_MS + IDLE_GRACE_MS + 15_000 }).toBeGreaterThan(before);
  } catch (error) {
    const tail = app.output().split('\n').slice(-20).join('\n');
    throw new Error(`the server did not turn async context tracking off once idle; its last lines:\n${tail}`, { cause: error });
  }
}

test('pages served after the server has turned context tracking off still see their request: sign-in, the welcome credit, a signed-in page', async ({ page, context }) => {
  // Two waits that may each last the closed-connection limit, besides the sign-in.
  test.setTimeout(2 * CLOSED_CONNECTION_LIMIT_MS + 90_000);
  await offline(context);
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await page.goto('about:blank');
  if (!HOOKED) {
    await page.waitForTimeout(IDLE_GRACE_MS + 1_000);
    expect(timesOff()).toBe(0);
  } else {
    await trackingOffAfter(0);
  }

  const email = `idle-${Date.now()}@example.com`;
  await signIn(page, email, '/credits');
  await expect(page.getByTestId('total-packs')).toHaveText('$10.00');
  // Counted after the page's last request, not before the sign-in: tracking may go off during it,
  // and the page below must come after an off that followed this one.
  const off = timesOff();
  await page.goto('about:blank');
  if (HOOKED) await trackingOffAfter(off);

  await page.goto('/credits');
  await expect(page.getByRole('heading', { level: 1, name: 'Credits' })).toBeVisible();
  await expect(page.getByTestId('total-all')).toHaveText('$10.00');
  await expect(page.locator('[data-testid="history-row"][data-kind="welcome"]')).toHaveCount(1);
});
