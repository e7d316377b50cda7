import { expect, test } from '@playwright/test';
import { seriousViolations, signIn } from './helpers';
import { localReplyText } from '../lib/providers/local';
import { E2E_ADMIN_TOKEN } from './constants';

// The playground as a new user meets it: sign in by magic link (the development mailbox stands in
// for email), then chat with the built-in model, which needs no network.

const dollars = (text: string) => Number(/\$([\d,.]+)/.exec(text)![1]!.replaceAll(',', ''));

test('a reply streams in token by token with its cost, paid from the welcome credit; Stop ends the next one early, with its cost; Clear chat empties it', async ({ page, context }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await signIn(page, `playground-${Date.now()}@example.com`, '/playground');
  await expect(page.getByRole('heading', { level: 1, name: 'Playground' })).toBeVisible();
  await expect(page.getByTestId('playground-model')).toHaveValue('tollgate-local');
  // Prices in the picker, per 1M tokens, in one money format.
  await expect(page.getByTestId('playground-model').locator('option[value="tollgate-local"]')).toHaveText(/— \$\d+\.\d{2,6} in · \$\d+\.\d{2,6} out per 1M tokens$/);
  await expect(page.getByText(/^\$\d+\.\d{2,6} in · \$\d+\.\d{2,6} out per 1M tokens$/)).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  // A new account: nothing in the balance, the welcome credit (playground only) beside it.
  await expect(page.getByTestId('playground-balance')).toContainText('$0.00');
  const welcome = page.getByTestId('playground-balance').getByTestId('welcome-credit');
  await expect(welcome).toContainText('playground only');
  const startCredit = dollars((await welcome.textContent()) ?? '');
  expect(startCredit).toBe(10);

  // Record every length the reply's text takes on screen, to see it grow token by token.
  await page.evaluate(() => {
    const lengths: number[] = [];
    (window as unknown as { replyLengths: number[] }).replyLengths = lengths;
    const transcript = document.querySelector('[data-testid="playground-transcript"]')!;
    new MutationObserver(() => {
      const text = [...transcript.querySelectorAll('[data-testid="assistant-text"]')].at(-1)?.textContent ?? '';
      if (lengths.at(-1) !== text.length) lengths.push(text.length);
    }).observe(transcript, { subtree: true, childList: true, characterData: true });
  });

  await page.getByTestId('playground-input').fill('Tell me about Tollgate');
  await page.getByTestId('playground-send').click();
  const reply = page.getByTestId('assistant-turn').last();
  await expect(reply).toHaveAttribute('data-state', 'done');
  const text = (await reply.getByTestId('assistant-text').textContent()) ?? '';
  const system = { role: 'system' as const, content: await page.getByTestId('playground-system').inputValue() };
  const first = { role: 'user' as const, content: 'Tell me about Tollgate' };
  expect(text).toBe(localReplyText([system, first]));
  const lengths = await page.evaluate(() => (window as unknown as { replyLengths: number[] }).replyLengths);
  expect(lengths.filter((n) => n > 0 && n < text.length).length).toBeGreaterThanOrEqual(5);
  expect(lengths.at(-1)).toBe(text.length);

  const cost = dollars((await reply.getByTestId('assistant-cost').textContent()) ?? '');
  expect(cost).toBeGreaterThan(0);
  await expect(reply.getByTestId('assistant-paid-from')).toHaveText('paid from welcome credit');
  expect(await seriousViolations(page)).toEqual([]);
  const creditAfter = dollars((await reply.getByTestId('assistant-welcome-credit').textContent()) ?? '');
  expect(creditAfter).toBeCloseTo(startCredit - cost, 6);
  const shown = /\$[\d,.]+/.exec((await reply.getByTestId('assistant-welcome-credit').textContent()) ?? '')![0];
  await expect(welcome).toContainText(shown);
  await expect(page.getByTestId('playground-balance')).toContainText('$0.00');
  await page.screenshot({ path: 'e2e/.artifacts/playground.png', fullPage: true });

  // A slow connection, so that there is time to press Stop mid-reply.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: 600, uploadThroughput: 100_000 });
  await page.getByTestId('playground-input').fill('And now a second question');
  await page.getByTestId('playground-send').click();
  const second = page.getByTestId('assistant-turn').last();
  await expect(second.getByTestId('assistant-text')).not.toHaveText('', { timeout: 20_000 });
  await page.getByTestId('playground-stop').click();
  await expect(second).toHaveAttribute('data-state', 'stopped');
  await expect(second).toContainText('billed only for what was produced');
  const stoppedText = (await second.getByTestId('assistant-text').textContent()) ?? '';
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.waitForTimeout(1_000);
  expect(await second.getByTestId('assistant-text').textContent()).toBe(stoppedText);
  expect(stoppedText.length).toBeGreaterThan(0);
  // Cut mid-reply: a prefix of what the model would have said in full.
  const full = localReplyText([system, first, { role: 'assistant', content: text }, { role: 'user', content: 'And now a second question' }]);
  expect(full.startsWith(stoppedText)).toBe(true);
  expect(stoppedText.length).toBeLessThan(full.length);
  await expect(page.getByTestId('playground-send')).toBeVisible();
  await expect(page.getByTestId('playground-input')).toBeEditable();
  // The stopped turn's cost too, once the gateway has settled what was produced.
  await expect(second.getByTestId('assistant-cost')).toBeVisible({ timeout: 10_000 });
  expect(dollars((await second.getByTestId('assistant-cost').textContent()) ?? '')).toBeGreaterThan(0);

  await page.getByTestId('playground-clear').click();
  await expect(page.getByTestId('assistant-turn')).toHaveCount(0);
  // The button went away with the chat: focus is in the message box, ready for the next one.
  await expect(page.getByTestId('playground-input')).toBeFocused();
  await expect(page.getByTestId('playground-transcript')).toContainText('Start a conversation');
  await expect(page.getByTestId('playground-clear')).toHaveCount(0);
});

test('a stream that goes quiet times out with a message, and the form works again', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.clock.install();
  await signIn(page, `stall-${Date.now()}@example.com`, '/playground');
  // The chat request is held forever: no headers, no bytes.
  await page.route('**/api/playground/chat', () => {});
  await page.getByTestId('playground-input').fill('Are you there?');
  await page.getByTestId('playground-send').click();
  await expect(page.getByTestId('playground-stop')).toBeVisible();
  // The gateway may wait up to its upstream timeout (120 s) before headers: a slow first answer is no stall.
  await page.clock.fastForward('02:00');
  await expect(page.getByTestId('playground-stop')).toBeVisible();
  await expect(page.getByTestId('assistant-error')).toHaveCount(0);
  await page.clock.fastForward('00:31');
  const error = page.getByTestId('assistant-error');
  await expect(error).toContainText('No reply for 150 seconds: the stream stalled, so the playground hung up.');
  await expect(page.getByTestId('playground-send')).toBeVisible();
  await page.getByTestId('playground-input').fill('Again');
  await expect(page.getByTestId('playground-send')).toBeEnabled();
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
  expect(await seriousViolations(page)).toEqual([]);
});

test('a reply that goes quiet mid-stream waits out heartbeats, then hangs up and keeps the text that arrived', async ({ page }) => {
  await page.clock.install();
  await signIn(page, `stall-mid-${Date.now()}@example.com`, '/playground');
  // A stream that sends a first token, a heartbeat comment 60 s later, then nothing; it ends
  // when the page hangs up, as a real fetch body does.
  await page.evaluate(() => {
    const realFetch = window.fetch.bind(window);
    window.fetch = async (input, init) => {
      if (!String(input instanceof Request ? input.url : input).endsWith('/api/playground/chat')) return realFetch(input, init);
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify({ choices: [{ delta: { content: 'Partial answer' } }] })}\n\n`));
          setTimeout(() => controller.enqueue(encoder.encode(': keep-alive\n\n')), 60_000);
          init?.signal?.addEventListener('abort', () => controller.error(new DOMException('The user aborted a request.', 'AbortError')));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream', 'x-request-id': 'req_e2e_stall' } });
    };
  });
  await page.getByTestId('playground-input').fill('Tell me everything');
  await page.getByTestId('playground-send').click();
  const turn = page.getByTestId('assistant-turn');
  await expect(turn.getByTestId('assistant-text')).toHaveText('Partial answer');
  // 100 s in: 40 s since the heartbeat, which counts as life though it carries no data.
  await page.clock.fastForward('01:00');
  await page.clock.fastForward('00:40');
  await expect(page.getByTestId('playground-stop')).toBeVisible();
  await expect(page.getByTestId('assistant-error')).toHaveCount(0);
  await page.clock.fastForward('00:36');
  await expect(turn.getByTestId('assistant-error')).toContainText('No reply for 75 seconds');
  // The text the user is billed for stays, with the note under it.
  await expect(turn.getByTestId('assistant-text')).toBeVisible();
  await expect(turn.getByTestId('assistant-text')).toHaveText('Partial answer');
  await expect(page.getByTestId('playground-send')).toBeVisible();
});

for (const viewport of [
  { width: 1440, height: 900 },
  { width: 390, height: 844 },
]) {
  test(`signed out at ${viewport.width}×${viewport.height}, the playground offers sign-in instead of a Send button that cannot work`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await page.goto('/playground');
    await expect(page.getByTestId('playground-balance').getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', '/signin?callbackUrl=%2Fplayground');
    const prompt = page.getByTestId('playground-signin');
    await expect(prompt).toContainText('Sign in to chat.');
    await expect(prompt.getByRole('link', { name: 'Sign in to chat' })).toHaveAttribute('href', '/signin?callbackUrl=%2Fplayground');
    await expect(page.getByTestId('playground-send')).toHaveCount(0);
    await expect(page.getByTestId('playground-input')).toHaveCount(0);
    expect(await seriousViolations(page)).toEqual([]);
  });
}

test('a signed-in user buys a pack behind a confirmation and sees the lot with its remaining credit', async ({ page }) => {
  await signIn(page, `packs-${Date.now()}@example.com`, '/packs');
  // The welcome credit pays only in the playground: the wallet starts empty; an operator credits it.
  await expect(page.getByTestId('wallet-balance')).toHaveText('$0.00');
  const { user } = (await (await page.request.get('/api/account')).json()) as { user: { id: string } };
  const credit = await page.request.post(`/api/admin/users/${user.id}/credit`, { headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}` }, data: { amount_usd: '10', note: 'e2e' } });
  expect(credit.status()).toBe(201);
  await page.reload();
  await expect(page.getByTestId('wallet-balance')).toHaveText('$10.00');

  // Too dear for the balance: the dialog says so and offers to add funds.
  await page.getByTestId('pack-pk_credit_50').getByRole('button', { name: 'Buy Credit 50' }).click();
  const dialog = page.getByRole('dialog', { name: 'Buy Credit 50?' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('alert')).toContainText('less than the price');
  await expect(dialog.getByRole('link', { name: 'Add funds' })).toHaveAttribute('href', '/deposit');
  await expect(dialog.getByRole('button', { name: 'Pay $50.00' })).toBeDisabled();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();

  await page.getByTestId('pack-pk_local_2').getByRole('button', { name: 'Buy Local sampler' }).click();
  const confirm = page.getByRole('dialog', { name: 'Buy Local sampler?' });
  const summary = confirm.getByTestId('purchase-summary');
  await expect(summary).toContainText('$2.00');
  await expect(summary).toContainText('$5.00');
  await expect(summary).toContainText('Tollgate Local (built-in) only');
  await expect(summary).toContainText('30 days');
  await expect(summary).toContainText('$8.00');
  await confirm.getByRole('button', { name: 'Pay $2.00' }).click();
  await expect(confirm).toBeHidden();
  await expect(page.getByTestId('purchase-success')).toContainText('Bought Local sampler');
  await expect(page.getByTestId('wallet-balance')).toHaveText('$8.00');

  const lots = page.getByTestId('lot-list').getByRole('listitem');
  await expect(lots).toHaveCount(2);
  await expect(lots.filter({ hasText: 'Welcome credit (playground only)' })).toContainText('$10.00 of $10.00 left');
  const lot = lots.filter({ hasText: 'Local sampler' });
  await expect(lot).toHaveCount(1);
  await expect(lot).toContainText('$5.00 of $5.00 left');
  await expect(lot.getByRole('progressbar')).toHaveAttribute('aria-valuetext', '$5.00 of $5.00 left');
  await page.screenshot({ path: 'e2e/.artifacts/packs-signed-in.png', fullPage: true });
});
