// What the browser specs share: keeping the browser on this machine, signing in by magic link
// through the development mailbox, and axe-core (a dev dependency) on the page as it stands.
import { join } from 'node:path';
import { expect, type BrowserContext, type Page } from '@playwright/test';

/** Every request off this machine is aborted: the app must work with no network. */
export async function offline(context: BrowserContext) {
  await context.route(
    (url) => !['127.0.0.1', 'localhost'].includes(url.hostname),
    (route) => route.abort(),
  );
}

/** Signs in by email link (the development mailbox stands in for email) and lands on `callbackUrl`. */
export async function signIn(page: Page, email: string, callbackUrl: string) {
  await page.goto(`/signin?callbackUrl=${encodeURIComponent(callbackUrl)}`);
  await page.getByTestId('email-input').fill(email);
  await page.getByTestId('email-submit').click();
  await expect(page.getByTestId('check-email')).toBeVisible();
  await page.goto('/dev/mailbox');
  await page.locator(`[data-testid="mail"][data-to="${email}"]`).first().getByTestId('mail-link').click();
  await page.waitForURL((url) => url.pathname === callbackUrl);
}

type AxeViolation = { id: string; impact?: string | null; help: string; nodes: Array<{ target: unknown[] }> };
type AxeWindow = Window & { axe?: { run: (context: Document, options: object) => Promise<{ violations: AxeViolation[] }> } };

/** axe-core's serious and critical findings on the page as it stands (injected once per page). */
export async function seriousViolations(page: Page) {
  // Next streams a page's metadata after its content, so right after a client-side navigation the
  // <title> can be missing for a moment; give it that moment, then let axe judge what is there.
  await page.waitForFunction(() => document.title !== '', undefined, { timeout: 5_000 }).catch(() => undefined);
  if (!(await page.evaluate(() => Boolean((window as unknown as AxeWindow).axe)))) {
    await page.addScriptTag({ path: join(process.cwd(), 'node_modules', 'axe-core', 'axe.min.js') });
  }
  const violations = await page.evaluate(async () => {
    const { violations } = await (window as unknown as AxeWindow).axe!.run(document, { resultTypes: ['violations'] });
    return violations.map((v) => ({ id: v.id, impact: v.impact ?? null, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
