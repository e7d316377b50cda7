import { beforeAll, describe, expect, it } from 'vitest';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});

type Json = Record<string, unknown>;

function api(secret: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: (text.startsWith('{') ? JSON.parse(text) : null) as Json };
  };
  return {
    get: (path: string) => call('GET', path),
    post: (path: string, body: unknown) => call('POST', path, body),
    patch: (path: string, body: unknown) => call('PATCH', path, body),
    delete: (path: string) => call('DELETE', path),
  };
}

/** A user with credit, an inference key, and a management key for the account API. */
async function accountOwner(balance = 1_000_000n) {
  const customer = await createCustomer(t.db, balance);
  const { createApiKeyOp } = await import('../lib/keys/keys');
  const management = createApiKeyOp(t.db, { userId: customer.user.id, name: 'ops', kind: 'MANAGEMENT' });
  await management.op;
  return { ...customer, management: management.secret, managementId: management.id, api: api(management.secret) };
}

describe('keys API (management key)', () => {
  it('creates a key with both daily limits, shows the secret once, lists it masked, edits and revokes it', async () => {
    const owner = await accountOwner();
    const created = await owner.api.post('/api/keys', {
      name: 'agent',
      models: ['tollgate-local'],
      daily_requests: 100,
      daily_budget_usd: '2.5',
      rate_limit: { burst: 5, per_second: 1 },
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const secret = created.json.key as string;
    expect(secret).toMatch(/^tg_[0-9A-Za-z]{43}$/);
    expect(created.json).toMatchObject({
      name: 'agent',
      kind: 'inference',
      models: ['tollgate-local'],
      limits: { daily_requests: 100, daily_budget_usd: 2.5, rate_limit: { burst: 5, per_second: 1 } },
      display: `${secret.slice(0, 7)}…${secret.slice(-4)}`,
    });

    // The new key works on /v1; the listing never shows the secret again.
    const completion = await gw.client(secret).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    expect(completion.choices[0]?.message.content).toBeTruthy();
    const listed = await owner.api.get('/api/keys');
    expect(listed.text).not.toContain(secret);
    const row = (listed.json.data as Json[]).find((k) => k.id === created.json.id)!;
    expect(row).toMatchObject({ usage_today: { requests: 1 } });
    expect(row.last_used_at).not.toBeNull();

    const edited = await owner.api.patch(`/api/keys/${created.json.id as string}`, { daily_requests: 1, models: null });
    expect(edited.status).toBe(200);
    expect(edited.json).toMatchObject({ models: null, limits: { daily_requests: 1 } });
    const refused = await gw
      .client(secret)
      .chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
      .catch((e: unknown) => e as { status: number; code: string });
    expect(refused).toMatchObject({ status: 429, code: 'daily_request_limit_reached' });

    const revoked = await owner.api.delete(`/api/keys/${created.json.id as string}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json.revoked_at).not.toBeNull();
    const afterRevoke = await gw
      .client(secret)
      .models.list()
      .catch((e: unknown) => e as { status: number; code: string });
    expect(afterRevoke).toMatchObject({ status: 401, code: 'api_key_revoked' });
    expect((await owner.api.patch(`/api/keys/${created.json.id as string}`, { name: 'again' })).status).toBe(400);
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'x', daily_budget_usd: '-1' }, 'daily_budget_usd'],
    [{ name: 'x', daily_requests: 1.5 }, 'daily_requests'],
    [{ name: 'x', models: ['gpt-17'] }, 'models'],
    [{ name: 'x', expires_at: '2001-01-01T00:00:00Z' }, 'expires_at'],
    [{ name: 'x', rate_limit: { burst: 0, per_second: 1 } }, 'rate_limit.burst'],
  ])('refuses %j naming %s, and creates nothing', async (body, param) => {
    const owner = await accountOwner();
    const before = await t.db.apiKey.count({ where: { userId: owner.user.id } });
    const response = await owner.api.post('/api/keys', body);
    expect(response.status).toBe(400);
    expect((response.json.error as Json).param).toBe(param);
    expect(await t.db.apiKey.count({ where: { userId: owner.user.id } })).toBe(before);
  });

  it('a management key cannot call /v1, and an inference key cannot manage keys', async () => {
    const owner = await accountOwner();
    const v1 = await gw
      .client(owner.management)
      .chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e as { status: number; code: string });
    expect(v1).toMatchObject({ status: 403, code: 'management_key' });
    const manage = await api(owner.secret).get('/api/keys');
    expect(manage.status).toBe(403);
    expect(manage.json).toMatchObject({ error: { code: 'inference_key' } });
    expect((await api('tg_unknown').get('/api/keys')).status).toBe(401);
  });
});

describe('a user can never read or change another user’s keys or usage', () => {
  it('every route answers 404 or leaves the other user out', async () => {
    const alice = await accountOwner();
    const bob = await accountOwner();
    await gw.client(bob.secret).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'bob was here' }], max_tokens: 5 });

    const aliceKeys = ((await alice.api.get('/api/keys')).json.data as Json[]).map((k) => k.id);
    expect(aliceKeys).not.toContain(bob.keyId);
    expect(aliceKeys).toContain(alice.keyId);

    const patch = await alice.api.patch(`/api/keys/${bob.keyId}`, { name: 'hijacked' });
    expect(patch.status).toBe(404);
    const revoke = await alice.api.delete(`/api/keys/${bob.keyId}`);
    expect(revoke.status).toBe(404);
    const bobKey = await t.db.apiKey.findUniqueOrThrow({ where: { id: bob.keyId } });
    expect(bobKey).toMatchObject({ name: 'test key', revokedAt: null });

    for (const path of ['/api/usage', `/api/usage?key_id=${bob.keyId}`, '/api/usage/daily', `/api/usage/export?key_id=${bob.keyId}`]) {
      const response = await alice.api.get(path);
      expect(response.status).toBe(200);
      expect(response.text).not.toContain(bob.keyId);
    }
    expect(((await bob.api.get('/api/usage')).json.data as Json[]).length).toBe(1);
  });
});

describe('usage API', () => {
  it('filters, paginates, aggregates per day and model, and exports CSV', async () => {
    const owner = await accountOwner();
    const client = gw.client(owner.secret);
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 8 });
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 10 } });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });
    fake.setBehavior({ failStatus: 500 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch(() => undefined);
    fake.reset();

    const all = await owner.api.get('/api/usage');
    expect((all.json.data as Json[]).length).toBe(5);
    const failed = await owner.api.get('/api/usage?status=upstream_error');
    expect(failed.json.data).toMatchObject([{ model: 'gpt-4o-mini', status: 'upstream_error', cost_usd: 0 }]);
    const local = await owner.api.get('/api/usage?model=tollgate-local&limit=2');
    expect((local.json.data as Json[]).length).toBe(2);
    const next = await owner.api.get(`/api/usage?model=tollgate-local&limit=2&cursor=${local.json.next_cursor as string}`);
    expect((next.json.data as Json[]).length).toBe(1);
    expect(next.json.next_cursor).toBeNull();
    expect((await owner.api.get('/api/usage?limit=0')).status).toBe(400);
    expect((await owner.api.get('/api/usage?from=yesterday')).status).toBe(400);

    const today = new Date().toISOString().slice(0, 10);
    const daily = await owner.api.get(`/api/usage/daily?from=${today}&to=${today}`);
    const byModel = Object.fromEntries((daily.json.data as Json[]).map((d) => [d.model, d]));
    expect(byModel['tollgate-local']).toMatchObject({ day: today, requests: 3 });
    expect(byModel['gpt-4o-mini']).toMatchObject({ day: today, requests: 2, prompt_tokens: 10, completion_tokens: 10 });
    const records = await t.db.usageRecord.findMany({ where: { userId: owner.user.id } });
    const totalCost = records.reduce((sum, r) => sum + r.cost, 0n);
    const dailyCost = (daily.json.data as Json[]).reduce((sum, d) => sum + Math.round((d.cost_usd as number) * 1e6), 0);
    expect(BigInt(dailyCost)).toBe(totalCost);

    const csv = await owner.api.get('/api/usage/export');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('created_at,request_id,key_id,key_name,model,provider,status,stream,prompt_tokens,completion_tokens,cached_tokens,cost_usd,latency_ms,error_code');
    expect(lines).toHaveLength(6);
    // Each key by its id (what scripts join on) and then by the name its owner gave it.
    for (const line of lines.slice(1)) expect(line.split(',').slice(2, 4)).toEqual([owner.keyId, 'test key']);
  });
});
