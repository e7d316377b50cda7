import { expect, test } from '@playwright/test';

// The production build as an outsider meets it (issue #11): what `npm run app` serves, through the
// same server (scripts/server.ts) and Next's real routing, not the handlers alone.

test('the development mailbox opens for the operator on this machine and for no one through a proxy', async ({ page, request }) => {
  // The browser here is on 127.0.0.1: the machine's operator.
  await page.goto('/dev/mailbox');
  await expect(page.getByRole('heading', { name: 'Development mailbox' })).toBeVisible();

  // A reverse proxy on this machine reports the real client: the page does not exist for it.
  expect((await request.get('/dev/mailbox', { headers: { 'x-forwarded-for': '203.0.113.5' } })).status()).toBe(404);
  // The server's own peer header is overwritten from the socket: claiming to be elsewhere changes
  // nothing for this loopback client (so claiming to be loopback cannot help a remote one)...
  expect((await request.get('/dev/mailbox', { headers: { 'x-tollgate-peer': '203.0.113.5' } })).status()).toBe(200);
  // ...and a proxy's report of the real client still closes it.
  expect((await request.get('/dev/mailbox', { headers: { 'x-tollgate-peer': '127.0.0.1', 'x-forwarded-for': '203.0.113.5' } })).status()).toBe(404);
  // A page whose DNS name was rebound to this machine still names itself in Host.
  expect((await request.get('/dev/mailbox', { headers: { host: 'evil.example' } })).status()).toBe(404);
  expect((await request.get('/dev/mailbox', { headers: { 'x-real-ip': '203.0.113.5' } })).status()).toBe(404);
});

test('pages refuse to be framed and carry a content security policy', async ({ request }) => {
  for (const path of ['/', '/keys', '/signin']) {
    const response = await request.get(path);
    const csp = response.headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).toContain("object-src 'none'");
    expect(csp, path).toMatch(/script-src 'self'/);
    expect(response.headers()['x-frame-options'], path).toBe('DENY');
    expect(response.headers()['x-content-type-options'], path).toBe('nosniff');
  }
});

test('pages still work under that policy: the sign-in form runs its script and reaches the check-email step', async ({ page }) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to (load|execute|connect)/i.test(message.text())) violations.push(message.text());
  });
  await page.goto('/signin');
  await page.getByTestId('email-input').fill(`csp-${Date.now()}@example.com`);
  await page.getByTestId('email-submit').click();
  await expect(page.getByTestId('check-email')).toBeVisible();
  expect(violations).toEqual([]);
});

test('/v1 answers unknown URLs and wrong methods in the OpenAI error shape, never HTML', async ({ request }) => {
  const unknown = await request.post('/v1/assistants', { data: {} });
  expect(unknown.status()).toBe(404);
  expect(unknown.headers()['content-type']).toContain('application/json');
  expect(await unknown.json()).toMatchObject({ error: { code: 'unknown_url', type: 'invalid_request_error' } });

  const wrong = await request.get('/v1/chat/completions');
  expect(wrong.status()).toBe(405);
  expect(wrong.headers()['allow']).toBe('POST');
  expect(await wrong.json()).toMatchObject({ error: { code: 'method_not_allowed' } });

  const basic = await request.post('/v1/chat/completions', { headers: { authorization: 'Basic dXNlcjpwYXNz' }, data: { model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }] } });
  expect(basic.status()).toBe(401);
  expect(await basic.json()).toMatchObject({ error: { code: 'invalid_authorization_header' } });

  const apiUnknown = await request.get('/api/nothing-here');
  expect(apiUnknown.status()).toBe(404);
  expect(await apiUnknown.json()).toMatchObject({ error: { code: 'unknown_url' } });
});

test('a cross-site write with the signed-in cookie is refused before it runs', async ({ page, request }) => {
  // Sign in as a fresh user through the development mailbox, as the journey does.
  const email = `csrf-${Date.now()}@example.com`;
  await page.goto('/signin');
  await page.getByTestId('email-input').fill(email);
  await page.getByTestId('email-submit').click();
  await expect(page.getByTestId('check-email')).toBeVisible();
  await page.goto('/dev/mailbox');
  await page.locator(`[data-testid="mail"][data-to="${email}"]`).first().getByTestId('mail-link').click();
  await page.waitForURL('**/dashboard');
  const cookies = await page.context().cookies();
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');

  const foreign = await request.post('/api/playground/chat', {
    headers: { cookie, origin: 'https://evil.example' },
    data: { model: 'tollgate-local', messages: [{ role: 'user', content: 'bill the victim' }] },
  });
  expect(foreign.status()).toBe(403);
  expect(await foreign.json()).toMatchObject({ error: { code: 'cross_origin' } });
  const keys = await request.post('/api/keys', { headers: { cookie, origin: 'https://evil.example' }, data: { name: 'stolen' } });
  expect(keys.status()).toBe(403);
  // The victim's own page, same cookie: accepted.
  const own = await request.get('/api/keys', { headers: { cookie } });
  expect(own.status()).toBe(200);
  expect(((await own.json()) as { data: unknown[] }).data).toHaveLength(0);
});
