import { request as httpRequest } from 'node:http';
import { expect, test } from '@playwright/test';
import OpenAI from 'openai';
import { E2E_ADMIN_TOKEN } from './constants';

// The app as a user first meets it: the home page on the embedded default, and the gateway
// answering the official OpenAI client through Next's route handlers.

test('home page shows the catalog with the built-in model live', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('One API key');
  const models = page.getByTestId('model-list');
  await expect(models).toContainText('tollgate-local');
  await expect(models.getByText('live').first()).toBeVisible();
  await expect(page.getByTestId('quickstart-curl')).toContainText(`${new URL(page.url()).origin}/v1/chat/completions`);
  await page.screenshot({ path: 'e2e/.artifacts/home.png', fullPage: true });
});

test('pricing lists every model with its status, the provider list price beside ours, and discloses the markup and deposit fee', async ({ page }) => {
  await page.goto('/pricing');
  const table = page.getByTestId('pricing-table');
  await expect(table.getByRole('row')).toHaveCount(10);
  await expect(table.getByRole('columnheader', { name: 'Provider list input / 1M' })).toBeAttached();
  await expect(table.getByRole('columnheader', { name: 'Tollgate input / 1M' })).toBeAttached();
  await expect(table.getByRole('columnheader', { name: 'Markup' })).toBeAttached();
  // The built-in model: list $0.10 / $0.40, ours $0.11 / $0.44, a 10% markup (the defaults).
  const local = table.getByRole('row', { name: /tollgate-local/ });
  await expect(local).toContainText('live');
  await expect(local.getByRole('cell')).toContainText(['live', '8,192', '$0.10', '$0.11', '$0.40', '$0.44', '10%']);
  const charges = page.getByTestId('pricing-charges');
  await expect(charges.getByTestId('charges-markup')).toContainText('A 10% markup on every call');
  await expect(charges.getByTestId('charges-deposit-fee')).toContainText('A 10% fee on deposits');
  await expect(charges.getByTestId('charges-deposit-fee')).toContainText('$100.00 of credit costs $110.00');
  await expect(charges.getByTestId('charges-packs')).toContainText('Credit 1000 gives $1,150.00 of credit for $1,000.00: 15% more credit');
  await expect(table.getByRole('row', { name: /gpt-4o-mini/ })).toContainText('OPENAI_API_KEY is not set');
  await page.screenshot({ path: 'e2e/.artifacts/pricing.png', fullPage: true });
});

test('the app server serves the official OpenAI client on /v1 (straight to the gateway) beside the Next pages, streaming and not', async ({ request, baseURL }) => {
  const health = await request.get('/health');
  expect(await health.json()).toMatchObject({ status: 'ok', database: { status: 'ok' } });

  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}` };
  const user = await request.post('/api/admin/users', { headers: admin, data: { email: `e2e-${Date.now()}@example.com` } });
  expect(user.status()).toBe(201);
  const { id } = (await user.json()) as { id: string };
  expect((await request.post(`/api/admin/users/${id}/credit`, { headers: admin, data: { amount_usd: '5', note: 'e2e' } })).status()).toBe(201);
  const keyResponse = await request.post(`/api/admin/users/${id}/keys`, { headers: admin, data: { name: 'e2e' } });
  const { key } = (await keyResponse.json()) as { key: string };

  const client = new OpenAI({ apiKey: key, baseURL: `${baseURL}/v1`, maxRetries: 0 });
  const completion = await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Hello from the browser suite' }] });
  expect(completion.choices[0]?.message.content).toBeTruthy();
  expect((completion as unknown as { billing: { charged_usd: number } }).billing.charged_usd).toBeGreaterThan(0);

  const stream = await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'Stream please' }], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let cost = 0;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) cost = (chunk.usage as unknown as { cost: number }).cost;
  }
  expect(text.length).toBeGreaterThan(10);
  expect(cost).toBeGreaterThan(0);

  const info = await request.get('/v1/key', { headers: { authorization: `Bearer ${key}` } });
  expect(await info.json()).toMatchObject({ object: 'key', usage_today: { requests: 2 } });
});

/** A POST that asks `Expect: 100-continue` before sending its body: whether the server said continue, and its final status. */
function postExpectingContinue(url: string, headers: Record<string, string>, declared: number): Promise<{ continued: boolean; status: number }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const request = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'content-length': String(declared), expect: '100-continue' } });
    request.on('continue', () => {
      continued = true;
      request.end('{}'.padEnd(declared, ' '));
    });
    request.on('response', (response) => {
      response.resume();
      resolve({ continued, status: response.statusCode ?? 0 });
      request.destroy();
    });
    request.on('error', reject);
    request.flushHeaders();
  });
}

test('the app server answers Expect: 100-continue: /v1 refuses a body declared over 1 MB unsent, pages are told to continue', async ({ request, baseURL }) => {
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}` };
  const user = await request.post('/api/admin/users', { headers: admin, data: { email: `e2e-expect-${Date.now()}@example.com` } });
  const { id } = (await user.json()) as { id: string };
  const { key } = (await (await request.post(`/api/admin/users/${id}/keys`, { headers: admin, data: { name: 'e2e' } })).json()) as { key: string };

  expect(await postExpectingContinue(`${baseURL}/v1/chat/completions`, { authorization: `Bearer ${key}` }, 5 * 1_048_576)).toEqual({ continued: false, status: 413 });
  expect(await postExpectingContinue(`${baseURL}/v1/chat/completions`, { authorization: `Bearer ${key}` }, 2)).toEqual({ continued: true, status: 400 });
  // A page's route: Node's own behaviour, continue (the waitlist then refuses the empty object).
  expect((await postExpectingContinue(`${baseURL}/api/waitlist`, {}, 2)).continued).toBe(true);
});

test('the status page lists every payment rail and provider with its state', async ({ page }) => {
  await page.goto('/status');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Status');
  // On the embedded default nothing external is configured: the built-in model is live, the rest say why not.
  for (const name of ['Deposits on Base (USDC)', 'Wallet-backed key budgets', 'x402 pay-per-request', 'Tollgate local', 'OpenAI']) await expect(page.getByText(name, { exact: true }).first()).toBeVisible();
  await page.screenshot({ path: 'e2e/.artifacts/status.png', fullPage: true });
});
