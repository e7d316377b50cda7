// Issue #11's regressions that live below the browser: each case is an attack or a bad input an
// outsider sent to a production build, and the answer it must get now.
import { encode } from 'next-auth/jwt';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createAuthUser } from '../lib/auth/users';
import { deliverMail, linkMail, mayReadDevMailbox } from '../lib/auth/mail';
import { createRedemptionBatch } from '../lib/credits/redemption';
import { PEER_HEADER, trustPeerHeader } from '../lib/http/client-address';
import { countText } from '../lib/gateway/tokens';
import { createApiKeyOp } from '../lib/keys/keys';
import { walletAccountId } from '../lib/ledger/accounts';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { ADMIN_TOKEN, createCustomer, gatewayHarness, startTestGateway, upstreamEnv, type TestGateway } from './helpers/gateway';

const SECRET = 'hardening-test-secret-0123456789ab';
process.env.NEXTAUTH_SECRET = SECRET;

const harness = gatewayHarness({ KEY_RATE_LIMIT_BURST: '7', KEY_RATE_LIMIT_PER_SEC: '0.25' });
let t: TestDatabase;
let gw: TestGateway;
let fake: FakeUpstream;
beforeAll(() => {
  ({ t, gw, fake } = harness);
});

type Json = { error: { message: string; type: string; code: string; param: string | null } } & Record<string, unknown>;

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(`${gw.url}${path}`, { method: init.method ?? 'GET', headers: init.headers, body: init.body });
  const text = await response.text();
  let json: Json | null = null;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);

describe('the development mailbox (item 2)', () => {
  const env = {}; // SMTP_URL unset: the mailbox is on
  const visit = (headers: Record<string, string>) => new Request('http://localhost:3000/dev/mailbox', { headers: { host: 'localhost:3000', ...headers } });

  it('opens only for a loopback socket with no proxy in between; a header cannot claim loopback', () => {
    trustPeerHeader();
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1' }), env)).toBe(true);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '::1' }), env)).toBe(true);
    // Next fills X-Forwarded-For with the socket's own address: still the operator.
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1', 'x-forwarded-for': '127.0.0.1' }), env)).toBe(true);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '203.0.113.9' }), env)).toBe(false);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '203.0.113.9', 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' }), env)).toBe(false);
    // A reverse proxy on the same machine: loopback socket, the real client in its headers.
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1', 'x-forwarded-for': '198.51.100.4' }), env)).toBe(false);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1', 'x-forwarded-for': '127.0.0.1, 198.51.100.4' }), env)).toBe(false);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1', forwarded: 'for=198.51.100.4' }), env)).toBe(false);
    // DNS rebinding: a page whose name now resolves to 127.0.0.1 still sends its own name as Host.
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1', host: 'evil.example:3000' }), env)).toBe(false);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1', host: '127.0.0.1:3000' }), env)).toBe(true);
    // Once the operator has declared proxies, a loopback socket may be one of them.
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1' }), { TRUSTED_PROXIES: '127.0.0.1' })).toBe(false);
    // Explicit operator choices; and with real mail the mailbox does not exist at all.
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '203.0.113.9' }), { DEV_MAILBOX: 'open' })).toBe(true);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1' }), { DEV_MAILBOX: 'off' })).toBe(false);
    expect(mayReadDevMailbox(visit({ [PEER_HEADER]: '127.0.0.1' }), { SMTP_URL: 'smtp://mail.example:25' })).toBe(false);
  });

  it('our server stamps the socket address over whatever the client sent', async () => {
    // The lean server echoes what the handler saw through an endpoint made for the test.
    const { createNodeServer } = await import('../lib/server/node-server');
    const server = createNodeServer(async (request) => Response.json({ peer: request.headers.get(PEER_HEADER) }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const seen = (await (await fetch(`http://127.0.0.1:${port}/`, { headers: { [PEER_HEADER]: '10.9.8.7' } })).json()) as { peer: string };
      expect(seen.peer).toBe('127.0.0.1');
    } finally {
      server.close();
    }
  });

  it('never writes a sign-in link to the log', async () => {
    const url = 'http://tollgate.test/api/auth/callback/email?token=f00dfacef00dface&email=victim%40example.test';
    const written: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }),
    );
    const level = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'debug';
    try {
      const mail = linkMail({ to: 'victim@example.test', subject: 'Sign in', intro: 'Hello.', action: 'Sign in', url, expires: new Date(Date.now() + 3_600_000) });
      await deliverMail({ db: t.db, env: { NODE_ENV: 'production' }, mail });
    } finally {
      process.env.LOG_LEVEL = level;
      for (const spy of spies) spy.mockRestore();
    }
    expect(written.join('')).toContain('development mailbox');
    expect(written.join('')).not.toContain('f00dfacef00dface');
    expect(await t.db.devMail.count({ where: { to: 'victim@example.test' } })).toBe(1);
  });

  it('refuses to mail links in production while their origin comes from the Host header', async () => {
    const mail = linkMail({ to: 'a@example.test', subject: 'Sign in', intro: 'Hello.', action: 'Sign in', url: 'http://evil.example/x', expires: new Date(Date.now() + 60_000) });
    await expect(deliverMail({ db: t.db, env: { NODE_ENV: 'production', SMTP_URL: 'smtp://127.0.0.1:9' }, mail })).rejects.toThrow(/NEXTAUTH_URL/);
  });
});

describe('bad input gets a 4xx in the surface’s shape (item 7)', () => {
  it('impossible dates on /api/usage and /api/usage/export are a 400 naming the parameter', async () => {
    const owner = await createCustomer(t.db, 1_000_000n);
    const management = createApiKeyOp(t.db, { userId: owner.user.id, name: 'ops', kind: 'MANAGEMENT' });
    await management.op;
    const headers = { authorization: `Bearer ${management.secret}` };
    for (const path of ['/api/usage', '/api/usage/export', '/api/usage/daily']) {
      for (const query of ['to=2026-13-45', 'from=2026-02-30', 'to=2026-13-45T00:00:00Z', 'from=yesterday']) {
        const answer = await call(`${path}?${query}`, { headers });
        expect(answer.status, `${path}?${query}`).toBe(400);
        expect(answer.json?.error).toMatchObject({ type: 'invalid_request_error', param: query.split('=')[0] });
      }
      expect((await call(`${path}?from=2024-02-29&to=2026-11-23`, { headers })).status).toBe(200);
      const unknown = await call(`${path}?colour=red`, { headers });
      expect(unknown.status).toBe(400);
      expect(unknown.json?.error).toMatchObject({ code: 'unknown_parameter', param: 'colour' });
    }
  });

  it('10,000-deep JSON is a 400, at the top and inside response_format; nothing charged', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const headers = { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' };
    const top = await call('/v1/chat/completions', { method: 'POST', headers, body: nested(10_000) });
    expect(top.status).toBe(400);
    expect(top.json?.error).toMatchObject({ code: 'json_too_deep', type: 'invalid_request_error' });
    const schema = `{"type":"object","properties":{"a":${'{"type":"array","items":'.repeat(5_000)}{"type":"string"}${'}'.repeat(5_000)}}}`;
    const inFormat = await call('/v1/chat/completions', {
      method: 'POST',
      headers,
      body: `{"model":"tollgate-local","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"deep","schema":${schema}}}}`,
    });
    expect(inFormat.status).toBe(400);
    expect(inFormat.json?.error.code).toBe('json_too_deep');
    // Deep but legal (a real schema's depth) passes the boundary.
    const fine = await call('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, metadata_probe: JSON.parse(nested(40)) }) });
    expect(fine.status).toBe(400);
    expect(fine.json?.error).toMatchObject({ code: 'unknown_parameter', param: 'metadata_probe' });
    expect((await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } })).balance).toBe(1_000_000n);
  });

  it('unknown /v1 paths are a JSON 404 and wrong methods a JSON 405 with Allow, as the OpenAI SDK reads them', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const missing = await call('/v1/nope', { headers: { authorization: `Bearer ${customer.secret}` } });
    expect(missing.status).toBe(404);
    expect(missing.json?.error).toMatchObject({ code: 'unknown_url', type: 'invalid_request_error' });
    const wrong = await call('/v1/chat/completions', { headers: { authorization: `Bearer ${customer.secret}` } });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(wrong.json?.error).toMatchObject({ code: 'method_not_allowed' });
    const client = new OpenAI({ apiKey: customer.secret, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await expect(client.embeddings.create({ model: 'x', input: 'y' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('the Next route files answer the same way for what they do not serve', async () => {
    const models = await import('../app/v1/models/route');
    const anyOther = await import('../app/v1/[[...path]]/route');
    const post = await models.POST(new Request('http://tollgate.test/v1/models', { method: 'POST' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect(await post.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
    const unknown = await anyOther.DELETE(new Request('http://tollgate.test/v1/files/abc', { method: 'DELETE' }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'unknown_url', message: expect.stringContaining('/v1/files/abc') } });
  });

  it('Authorization: Basic is a 401 saying so, even where keyless calls could pay', async () => {
    const payPerRequest = { authorize: vi.fn(async () => ({ kind: 'respond' as const, response: new Response('{}', { status: 402 }) })) };
    const keyless = await startTestGateway({ db: t.db, env: upstreamEnv('http://127.0.0.1:9'), payPerRequest });
    try {
      const response = await fetch(`${keyless.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Basic dXNlcjpwYXNz', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: { code: 'invalid_authorization_header', type: 'authentication_error' } });
      expect(payPerRequest.authorize).not.toHaveBeenCalled();
    } finally {
      await keyless.close();
    }
  });
});

describe('the hold across scripts (item 5)', () => {
  it('non-ASCII text is bounded by its UTF-8 bytes, which no provider’s tokenizer exceeds', () => {
    // o200k is unusually frugal with these scripts; Claude's and Gemini's tokenizers are not.
    for (const text of ['नमस्ते दुनिया, आप कैसे हैं? '.repeat(40), 'مرحبا بالعالم كيف حالك '.repeat(40), 'สวัสดีชาวโลก สบายดีไหม '.repeat(40), 'héllo wörld '.repeat(40)]) {
      expect(countText(text), text.slice(0, 12)).toBeGreaterThanOrEqual(Buffer.byteLength(text, 'utf8'));
    }
  });
});

describe('defence in depth (item 8)', () => {
  it('a management key cannot mint management keys; a signed-in session can', async () => {
    const owner = await createCustomer(t.db, 0n);
    const management = createApiKeyOp(t.db, { userId: owner.user.id, name: 'ops', kind: 'MANAGEMENT' });
    await management.op;
    const byKey = await call('/api/keys', { method: 'POST', headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'more', kind: 'management' }) });
    expect(byKey.status).toBe(403);
    expect(byKey.json?.error.code).toBe('management_key_from_key');
    const inference = await call('/api/keys', { method: 'POST', headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'agent' }) });
    expect(inference.status).toBe(201);
    const cookie = `next-auth.session-token=${await encode({ token: { sub: owner.user.id }, secret: SECRET, maxAge: 3600 })}`;
    const bySession = await call('/api/keys', { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ops 2', kind: 'management' }) });
    expect(bySession.status).toBe(201);
    expect(await t.db.apiKey.count({ where: { userId: owner.user.id, kind: 'MANAGEMENT' } })).toBe(2);
  });

  it('redemption attempts are throttled per user and per address, guessed codes included', async () => {
    const user = await createAuthUser({ db: t.db, email: `guesser-${Date.now()}@example.test` });
    const management = createApiKeyOp(t.db, { userId: user.id, name: 'ops', kind: 'MANAGEMENT' });
    await management.op;
    const batch = await createRedemptionBatch({ db: t.db, count: 1, amount: 1_000_000n, note: null, expiresAt: null, actor: 'test' });
    const redeem = (code: string) =>
      call('/api/credits/redeem', { method: 'POST', headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await redeem(`GUESS-${i}-XXXX`)).status);
    expect(statuses.slice(0, 10).every((s) => s === 404 || s === 400)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
    // Even the right code waits now: the throttle runs before the code is looked at.
    const right = await redeem(batch.codes[0]!);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);

    // The same address, other users: the address's bucket (30) runs out across them.
    let limited = 0;
    for (let u = 0; u < 3 && limited === 0; u++) {
      const other = await createAuthUser({ db: t.db, email: `guesser-${u}-${Date.now()}@example.test` });
      const key = createApiKeyOp(t.db, { userId: other.id, name: 'ops', kind: 'MANAGEMENT' });
      await key.op;
      for (let i = 0; i < 10; i++) {
        const answer = await call('/api/credits/redeem', { method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ code: `G-${u}-${i}` }) });
        if (answer.status === 429) limited++;
      }
    }
    // 12 + 30 − 12 = 18 more attempts fit the address: the second extra user runs into it.
    expect(limited).toBeGreaterThan(0);
  });

  it('keys made without a rate limit get the operator’s default (KEY_RATE_LIMIT_BURST / _PER_SEC)', async () => {
    const owner = await createCustomer(t.db, 0n);
    const management = createApiKeyOp(t.db, { userId: owner.user.id, name: 'ops', kind: 'MANAGEMENT' });
    await management.op;
    const created = await call('/api/keys', { method: 'POST', headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'plain' }) });
    expect(created.json).toMatchObject({ limits: { rate_limit: { burst: 7, per_second: 0.25 } } });
  });

  it('the admin API creates keys with the account API’s fields, and names an unknown field instead of dropping it', async () => {
    const owner = await createCustomer(t.db, 0n);
    const admin = (body: unknown) =>
      call(`/api/admin/users/${owner.user.id}/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await admin({ name: 'batch', rate_limit: { burst: 3, per_second: 2 }, packs_only: true, daily_requests: 9 });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'batch', limits: { daily_requests: 9, rate_limit: { burst: 3, per_second: 2 } }, packs_only: true });
    expect(await t.db.apiKey.findUniqueOrThrow({ where: { id: created.json!.id as string } })).toMatchObject({ rateLimitBurst: 3, rateLimitPerSec: 2, packsOnly: true });
    expect(await t.db.auditLog.count({ where: { action: 'key.create', targetId: created.json!.id as string } })).toBe(1);
    const typo = await admin({ name: 'x', rate_limits: { burst: 1, per_second: 1 } });
    expect(typo.status).toBe(400);
    expect(typo.json?.error).toMatchObject({ code: 'unknown_parameter', param: 'rate_limits', message: expect.stringContaining("'rate_limits'") });
  });

  it('an unknown field is refused everywhere: chat completions, nested objects, the account API', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const chat = (body: unknown) => call('/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const top = await chat({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }], temprature: 0.2 });
    expect(top.json?.error).toMatchObject({ code: 'unknown_parameter', param: 'temprature' });
    const inner = await chat({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi', colour: 'red' }] });
    expect(inner.json?.error).toMatchObject({ code: 'unknown_parameter', param: 'messages[0].colour' });
    const management = createApiKeyOp(t.db, { userId: customer.user.id, name: 'ops', kind: 'MANAGEMENT' });
    await management.op;
    // A reply appended to the conversation as the SDK returned it (annotations, audio: null) is input
    // the next turn may carry: accepted, and its output-only fields are not forwarded.
    fake.reset();
    const echoed = await chat({
      model: 'gpt-4o-mini',
      max_tokens: 5,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello', refusal: null, annotations: [], audio: null, function_call: null },
        { role: 'user', content: 'again' },
      ],
    });
    expect(echoed.status).toBe(200);
    const forwarded = fake.requests.at(-1)!.body as { messages: Array<Record<string, unknown>> };
    expect(forwarded.messages[1]).not.toHaveProperty('annotations');
    expect(forwarded.messages[1]).not.toHaveProperty('audio');
    const patch = await call(`/api/keys/${customer.keyId}`, { method: 'PATCH', headers: { authorization: `Bearer ${management.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ daily_request: 5 }) });
    expect(patch.status).toBe(400);
    expect(patch.json?.error).toMatchObject({ param: 'daily_request' });
  });
});
