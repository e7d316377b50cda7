import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyCache, type KeyContext } from '../lib/gateway/auth';
import { keyChangeCount, noteKeysChanged } from '../lib/keys/key-changes';
import { walletAccountId } from '../lib/ledger';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

// The key cache of paid calls (lib/gateway/auth.ts): what it may serve stale, for how long, and
// what it never can. "Another instance" is simulated by writing the key row straight to the
// database, which is all another instance's change is to this one.
const TTL_MS = 600;
const harness = gatewayHarness({ KEY_CACHE_MS: String(TTL_MS) });
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const chat = (secret: string, model = 'gpt-4o-mini', extra: Record<string, string> = {}) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...extra },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
  });

const errorCode = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the key cache of paid calls', () => {
  it('serves a change made on another instance only after its TTL', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    // Before the first call, so before its lookup was cached.
    const started = performance.now();
    expect((await chat(customer.secret)).status).toBe(200);
    await t.db.apiKey.update({ where: { id: customer.keyId }, data: { allowedModels: JSON.stringify(['gpt-4o']) } });
    const cached = await chat(customer.secret);
    // Only meaningful if it really was answered within the TTL of the first lookup (a loaded machine may not).
    if (performance.now() - started < TTL_MS) expect(cached.status).toBe(200);
    await sleep(TTL_MS + 50);
    const fresh = await chat(customer.secret);
    expect(fresh.status).toBe(403);
    expect(await errorCode(fresh)).toBe('model_not_allowed');
  });

  it('never serves a key revoked on another instance: the reservation refuses it on its next call', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    expect((await chat(customer.secret)).status).toBe(200);
    const before = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } });
    const upstreamCalls = fake.requests.length;
    await t.db.apiKey.update({ where: { id: customer.keyId }, data: { revokedAt: new Date() } });
    const refused = await chat(customer.secret);
    expect(refused.status).toBe(401);
    expect(await errorCode(refused)).toBe('api_key_revoked');
    // Nothing held, charged or sent upstream for it.
    expect(await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } })).toMatchObject({ balance: before.balance, available: before.available });
    expect(fake.requests.length).toBe(upstreamCalls);
    expect(await t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(1);
  });

  it('answers a key revoked on another instance with 401 where it would refuse or replay before reserving: no stored answer, no balance', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const idempotent = { 'idempotency-key': `cache-${customer.keyId}` };
    expect((await chat(customer.secret, 'gpt-4o-mini', idempotent)).status).toBe(200);
    const broke = await createCustomer(t.db, 1n);
    const refused = await chat(broke.secret);
    expect(refused.status).toBe(402);
    expect(await errorCode(refused)).toBe('insufficient_credits');

    await t.db.apiKey.updateMany({ where: { id: { in: [customer.keyId, broke.keyId] } }, data: { revokedAt: new Date() } });
    const replay = await chat(customer.secret, 'gpt-4o-mini', idempotent);
    expect(replay.status).toBe(401);
    expect(await errorCode(replay)).toBe('api_key_revoked');
    const stillBroke = await chat(broke.secret);
    expect(stillBroke.status).toBe(401);
    expect(await errorCode(stillBroke)).toBe('api_key_revoked');
  });

  it('applies a daily limit lowered on another instance at once, explained and reported from the key row', async () => {
    const customer = await createCustomer(t.db, 1_000_000n, { dailyRequestLimit: 100 });
    expect((await chat(customer.secret)).status).toBe(200);
    await t.db.apiKey.update({ where: { id: customer.keyId }, data: { dailyRequestLimit: 1 } });
    const refused = await chat(customer.secret);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-limit-requests-day')).toBe('1');
    expect(refused.headers.get('x-ratelimit-remaining-requests-day')).toBe('0');
    expect(await errorCode(refused)).toBe('daily_request_limit_reached');
  });

  it('forgets what it read before a key changed through this instance', () => {
    const cache = new KeyCache(60_000);
    const key = { keyId: 'key_1' } as KeyContext;
    cache.set('hash', key, keyChangeCount());
    expect(cache.get('hash')).toBe(key);
    noteKeysChanged();
    expect(cache.get('hash')).toBeNull();
    const fresh = { keyId: 'key_1' } as KeyContext;
    cache.set('hash', fresh, keyChangeCount());
    expect(cache.get('hash')).toBe(fresh);
  });
});
