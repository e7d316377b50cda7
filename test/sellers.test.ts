import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'next-auth/jwt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKeyOp } from '../lib/keys/keys';
import type { RateLimiter } from '../lib/gateway/rate-limit';
import { MemoryRateLimiter } from '../lib/gateway/rate-limit';
import { reencryptPools } from '../lib/sellers/rotate';
import { createSellersApi, type SellersApi } from '../lib/sellers/sellers-api';
import { createVault, masterKeyId, parseMasterKey, vaultFromEnv, VaultError, type Vault } from '../lib/sellers/vault';
import { verifySellerKey } from '../lib/sellers/verify-key';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, testProvider, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';
import { upstreamEnv } from './helpers/gateway';

// Every log line, info included, is captured below and searched for seller keys.
process.env.LOG_LEVEL = 'debug';
// Session cookies below are signed with this; upstreamEnv passes it on.
const AUTH_SECRET = 'sellers-test-secret-0123456789abcdef';
process.env.NEXTAUTH_SECRET = AUTH_SECRET;

// Not shaped like any key the logger's redaction knows (sk-…, Bearer …): a leak would show as is.
const SELLER_KEY = 'seller-openai-key-7Hq2Zx9Lm4Wp';
const OTHER_KEYS = ['wrong-key-from-a-seller-1234'];
const MASTER = randomBytes(32);
const MASTER_HEX = MASTER.toString('hex');

let t: TestDatabase;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;
let api: SellersApi;
let vault: Vault;
const bodies: string[] = [];
const logs: string[] = [];

/** Lets every call through: the throttle has a test of its own, with a real limiter. */
const noLimit: RateLimiter = { take: async () => ({ allowed: true, remaining: 1, retryAfterSeconds: 0 }), close: async () => {} };

beforeAll(async () => {
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    });
  }
  t = await createTestDatabase();
  fake = await startFakeUpstream({ requireApiKey: SELLER_KEY });
  env = upstreamEnv(fake.url, { SELLER_KEY_SECRET: MASTER_HEX });
  vault = createVault({ current: MASTER });
  api = createSellersApi({ db: t.db, env, rateLimiter: noLimit });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await fake?.close();
  await t?.close();
});

type Json = Record<string, unknown>;

/** A user with a management key, and the seller API as that user sees it over HTTP. */
async function seller(sellers: SellersApi = api) {
  const { user } = await createFundedUser(t.db, 0n);
  const key = createApiKeyOp(t.db, { userId: user.id, name: 'ops', kind: 'MANAGEMENT' });
  await key.op;
  const call = async (method: string, path: string, body?: unknown) => {
    const request = new Request(`http://tollgate.test${path}`, {
      method,
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const id = /^\/api\/sell\/pools\/([^/]+)$/.exec(path)?.[1];
    const route =
      path === '/api/sell/pools'
        ? method === 'POST'
          ? sellers.createPool
          : sellers.listPools
        : method === 'GET'
          ? sellers.getPool
          : method === 'PATCH'
            ? sellers.updatePool
            : sellers.revokePool;
    const response = await route(request, id ? { id } : {});
    const text = await response.text();
    bodies.push(text);
    return { status: response.status, text, json: JSON.parse(text) as Json };
  };
  return {
    user,
    get: (path: string) => call('GET', path),
    post: (body: unknown) => call('POST', '/api/sell/pools', body),
    patch: (id: string, body: unknown) => call('PATCH', `/api/sell/pools/${id}`, body),
    delete: (id: string) => call('DELETE', `/api/sell/pools/${id}`),
  };
}

const listing = (over: Json = {}) => ({ provider: 'openai', api_key: SELLER_KEY, face_value_usd: '250.5', rate: '0.6', ...over });
const poolRow = (id: string) => t.db.sellerPool.findUniqueOrThrow({ where: { id } });
const errorOf = (r: { json: Json }) => r.json.error as Json;

describe('listing a pool', () => {
  it('verifies the key live, seals it, shows only its hint; lists, pauses, resumes (re-verified) and revokes (key wiped)', async () => {
    const alice = await seller();
    const expires = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const callsBefore = fake.requestCount;
    const created = await alice.post(listing({ expires_at: expires }));
    expect(created.status).toBe(201);
    expect(fake.requestCount).toBe(callsBefore + 1);
    expect(fake.requests.at(-1)).toMatchObject({ path: '/v1/chat/completions', body: { model: 'gpt-4o-mini', max_tokens: 1 } });
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${SELLER_KEY}`);
    const id = created.json.id as string;
    expect(id).toMatch(/^pool_/);
    expect(created.json).toEqual({
      id,
      object: 'seller_pool',
      provider: 'openai',
      key_hint: SELLER_KEY.slice(-4),
      face_value_usd: 250.5,
      drawn_usd: 0,
      remaining_usd: 250.5,
      rate: 0.6,
      status: 'live',
      status_reason: null,
      expires_at: new Date(expires).toISOString(),
      verified_at: expect.any(String),
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(created.text).not.toContain(SELLER_KEY);

    const row = await poolRow(id);
    expect(row).toMatchObject({ userId: alice.user.id, providerId: 'openai', faceValue: 250_500_000n, drawn: 0n, rateBps: 6000, status: 'LIVE', keyHint: SELLER_KEY.slice(-4) });
    expect(row.encryptedKey).toMatch(new RegExp(`^v1:${masterKeyId(MASTER)}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$`));
    expect(vault.decryptSecret({ blob: row.encryptedKey!, poolId: id })).toBe(SELLER_KEY);
    expect(await t.db.auditLog.count({ where: { targetId: id, action: 'seller_pool.create' } })).toBe(1);

    const listed = await alice.get('/api/sell/pools');
    expect((listed.json.data as Json[]).map((p) => p.id)).toEqual([id]);
    expect((await alice.get(`/api/sell/pools/${id}`)).json).toMatchObject({ id, status: 'live' });

    const paused = await alice.patch(id, { status: 'paused', reason: 'holiday' });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ status: 'paused', status_reason: 'holiday' });
    expect((await poolRow(id)).status).toBe('PAUSED');

    const beforeResume = fake.requestCount;
    const resumed = await alice.patch(id, { status: 'live' });
    expect(resumed.status).toBe(200);
    expect(resumed.json).toMatchObject({ status: 'live', status_reason: null });
    expect(fake.requestCount).toBe(beforeResume + 1);

    const revoked = await alice.delete(id);
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ status: 'revoked', status_reason: 'revoked by the seller' });
    expect(await poolRow(id)).toMatchObject({ status: 'REVOKED', encryptedKey: null });
    expect((await alice.delete(id)).status).toBe(200);
    const again = await alice.patch(id, { status: 'live' });
    expect(again.status).toBe(409);
    expect(errorOf(again).code).toBe('pool_revoked');
  });

  it.each([
    ['anthropic', '/v1/messages/count_tokens', 'x-api-key'],
    ['google', '/v1beta/openai/chat/completions', 'authorization'],
    ['deepseek', '/v1/chat/completions', 'authorization'],
  ])('verifies a %s key with its own adapter (%s)', async (provider, path, header) => {
    const bob = await seller();
    const created = await bob.post(listing({ provider }));
    expect(created.status).toBe(201);
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe(path);
    expect(sent.headers[header]).toBe(header === 'authorization' ? `Bearer ${SELLER_KEY}` : SELLER_KEY);
    expect(created.json).toMatchObject({ provider, status: 'live' });
  });

  it('refuses a key the provider rejects, names the problem, echoes no key and stores nothing', async () => {
    const carol = await seller();
    const wrong = OTHER_KEYS[0]!;
    const refused = await carol.post(listing({ api_key: wrong }));
    expect(refused.status).toBe(400);
    expect(errorOf(refused)).toMatchObject({ code: 'seller_key_invalid', param: 'api_key' });
    expect(errorOf(refused).message).toMatch(/refused this key \(401\)/);
    // The fake upstream echoes the presented key in its 401, as real providers do.
    expect(refused.text).not.toContain(wrong);
    expect(await t.db.sellerPool.count({ where: { userId: carol.user.id } })).toBe(0);
    expect(await t.db.auditLog.count({ where: { actor: { startsWith: `user:${carol.user.id}` } } })).toBe(0);
  });

  it.each([
    [402, 400, 'seller_key_no_quota'],
    [429, 400, 'seller_key_no_quota'],
    [403, 400, 'seller_key_invalid'],
    [404, 400, 'seller_key_rejected'],
    [500, 502, 'seller_key_unverified'],
  ])('an upstream %i at verification is a %i %s, nothing stored', async (upstream, status, code) => {
    const dave = await seller();
    fake.setBehavior({ failStatus: upstream });
    try {
      const refused = await dave.post(listing());
      expect(refused.status).toBe(status);
      expect(errorOf(refused).code).toBe(code);
    } finally {
      fake.setBehavior({ failStatus: undefined });
    }
    expect(await t.db.sellerPool.count({ where: { userId: dave.user.id } })).toBe(0);
  });

  it('an unreachable or silent provider is a bounded 502, nothing stored', async () => {
    const closed = await startFakeUpstream();
    await closed.close();
    const gone = await seller(createSellersApi({ db: t.db, env: upstreamEnv(closed.url, { SELLER_KEY_SECRET: MASTER_HEX }), rateLimiter: noLimit }));
    const refused = await gone.post(listing());
    expect(refused.status).toBe(502);
    expect(errorOf(refused)).toMatchObject({ code: 'seller_key_unverified' });
    expect(errorOf(refused).message).toMatch(/could not be reached/);

    fake.setBehavior({ latencyMs: 5_000 });
    try {
      const started = Date.now();
      const slow = await verifySellerKey({ provider: 'openai', apiKey: SELLER_KEY, env, timeoutMs: 300 });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(slow).toMatchObject({ ok: false, reason: 'unreachable', message: expect.stringMatching(/did not answer within 300 ms/) });
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
    expect(await t.db.sellerPool.count({ where: { userId: gone.user.id } })).toBe(0);
  });

  it('resuming re-verifies: a key the provider now refuses keeps the pool paused', async () => {
    const erin = await seller();
    const id = (await erin.post(listing())).json.id as string;
    await erin.patch(id, { status: 'paused' });
    fake.setBehavior({ requireApiKey: 'the-seller-rotated-their-key' });
    try {
      const refused = await erin.patch(id, { status: 'live' });
      expect(refused.status).toBe(400);
      expect(errorOf(refused).code).toBe('seller_key_invalid');
    } finally {
      fake.setBehavior({ requireApiKey: SELLER_KEY });
    }
    expect(await poolRow(id)).toMatchObject({ status: 'PAUSED', statusReason: 'paused by the seller' });
  });

  it('refuses unknown fields and bad values naming the field, before any upstream call', async () => {
    const frank = await seller();
    const calls = fake.requestCount;
    const cases: Array<[Json, string, string?]> = [
      [listing({ extra: 1 }), 'extra', 'unknown_parameter'],
      [listing({ provider: 'local' }), 'provider'],
      [listing({ rate: '0' }), 'rate'],
      [listing({ rate: '1.5' }), 'rate'],
      [listing({ rate: '0.12345' }), 'rate'],
      [listing({ face_value_usd: '0.5' }), 'face_value_usd'],
      [listing({ face_value_usd: '-3' }), 'face_value_usd'],
      [listing({ api_key: 'has a space in it' }), 'api_key'],
      [listing({ expires_at: '2001-01-01T00:00:00Z' }), 'expires_at'],
    ];
    for (const [body, param, code] of cases) {
      const refused = await frank.post(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(refused).param).toBe(param);
      if (code) expect(errorOf(refused).code).toBe(code);
    }
    expect(fake.requestCount).toBe(calls);
    expect(await t.db.sellerPool.count({ where: { userId: frank.user.id } })).toBe(0);

    const id = (await frank.post(listing())).json.id as string;
    const patches: Array<[Json, string | null]> = [
      [{ status: 'paused', colour: 'red' }, 'colour'],
      [{ status: 'exhausted' }, 'status'],
      [{ status: 'live', reason: 'why' }, 'reason'],
      [{}, 'status'],
    ];
    for (const [body, param] of patches) {
      const refused = await frank.patch(id, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(refused).param).toBe(param);
    }
    expect((await poolRow(id)).status).toBe('LIVE');
  });

  it('another user gets 404 for a pool that is not theirs, exactly as for one that does not exist, and changes nothing', async () => {
    const owner = await seller();
    const intruder = await seller();
    const id = (await owner.post(listing())).json.id as string;
    const missing = 'pool_doesnotexist0000000';
    for (const [theirs, none] of [
      [await intruder.get(`/api/sell/pools/${id}`), await intruder.get(`/api/sell/pools/${missing}`)],
      [await intruder.patch(id, { status: 'paused' }), await intruder.patch(missing, { status: 'paused' })],
      [await intruder.delete(id), await intruder.delete(missing)],
    ]) {
      expect(theirs!.status).toBe(404);
      expect(errorOf(theirs!).code).toBe('pool_not_found');
      expect(theirs!.text.replace(id, 'X')).toBe(none!.text.replace(missing, 'X'));
    }
    expect((await intruder.get('/api/sell/pools')).json.data).toEqual([]);
    expect(await poolRow(id)).toMatchObject({ status: 'LIVE', encryptedKey: expect.stringMatching(/^v1:/) });
  });

  it('a signed-in browser session lists pools too; a cross-site write is refused before the provider is called', async () => {
    const { user } = await createFundedUser(t.db, 0n);
    const cookie = `next-auth.session-token=${await encode({ token: { sub: user.id }, secret: AUTH_SECRET, maxAge: 3600 })}`;
    const post = (headers: Record<string, string>) =>
      api.createPool(new Request('http://tollgate.test/api/sell/pools', { method: 'POST', headers: { cookie, host: 'tollgate.test', 'content-type': 'application/json', ...headers }, body: JSON.stringify(listing()) }));
    const calls = fake.requestCount;
    const crossSite = await post({ origin: 'https://evil.test' });
    expect(crossSite.status).toBe(403);
    expect(((await crossSite.json()) as { error: Json }).error.code).toBe('cross_origin');
    expect(fake.requestCount).toBe(calls);
    const sameSite = await post({ origin: 'http://tollgate.test' });
    const text = await sameSite.text();
    bodies.push(text);
    expect(sameSite.status).toBe(201);
    expect(await t.db.sellerPool.count({ where: { userId: user.id } })).toBe(1);
    const signedOut = await api.listPools(new Request('http://tollgate.test/api/sell/pools'));
    expect(signedOut.status).toBe(401);
  });

  it('throttles listing attempts per user, successful or not', async () => {
    const throttled = await seller(createSellersApi({ db: t.db, env, rateLimiter: new MemoryRateLimiter() }));
    for (let i = 0; i < 10; i++) expect((await throttled.post(listing({ api_key: OTHER_KEYS[0] }))).status).toBe(400);
    const limited = await throttled.post(listing());
    expect(limited.status).toBe(429);
    expect(errorOf(limited).code).toBe('seller_pool_rate_limited');
  });

  it('a pool past its expiry reads as expired and cannot be resumed', async () => {
    const gina = await seller();
    const id = (await gina.post(listing())).json.id as string;
    await t.db.sellerPool.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await gina.get(`/api/sell/pools/${id}`)).json).toMatchObject({ status: 'expired', status_reason: 'the listing reached its expiry' });
    const refused = await gina.patch(id, { status: 'paused' });
    expect(refused.status).toBe(409);
    expect(errorOf(refused).code).toBe('pool_expired');
  });
});

describe('the vault', () => {
  it('round-trips, with a fresh IV each time', () => {
    const a = vault.encryptSecret({ plaintext: SELLER_KEY, poolId: 'pool_a' });
    const b = vault.encryptSecret({ plaintext: SELLER_KEY, poolId: 'pool_a' });
    expect(a).not.toBe(b);
    expect(a).not.toContain(SELLER_KEY);
    expect(vault.decryptSecret({ blob: a, poolId: 'pool_a' })).toBe(SELLER_KEY);
    expect(vault.decryptSecret({ blob: b, poolId: 'pool_a' })).toBe(SELLER_KEY);
    expect(vault.keyIdOf(a)).toBe(masterKeyId(MASTER));
  });

  it('refuses a tampered ciphertext, IV, tag, key id, or a blob moved to another pool', () => {
    const blob = vault.encryptSecret({ plaintext: SELLER_KEY, poolId: 'pool_a' });
    const [v, keyId, iv, tag, ciphertext] = blob.split(':') as [string, string, string, string, string];
    const flip = (part: string) => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = bytes[0]! ^ 1;
      return bytes.toString('base64url');
    };
    const attempts: Array<[string, string, VaultError['code']]> = [
      [[v, keyId, iv, tag, flip(ciphertext)].join(':'), 'pool_a', 'tampered'],
      [[v, keyId, iv, flip(tag), ciphertext].join(':'), 'pool_a', 'tampered'],
      [[v, keyId, flip(iv), tag, ciphertext].join(':'), 'pool_a', 'tampered'],
      [blob, 'pool_b', 'tampered'],
      [[v, '00000000', iv, tag, ciphertext].join(':'), 'pool_a', 'unknown_key'],
      [[v, keyId, iv, tag.slice(2), ciphertext].join(':'), 'pool_a', 'malformed'],
      [['v2', keyId, iv, tag, ciphertext].join(':'), 'pool_a', 'malformed'],
      [SELLER_KEY, 'pool_a', 'malformed'],
    ];
    for (const [sealed, poolId, code] of attempts) {
      let caught: unknown;
      try {
        vault.decryptSecret({ blob: sealed, poolId });
      } catch (error) {
        caught = error;
      }
      expect(caught, `${sealed} / ${poolId}`).toBeInstanceOf(VaultError);
      expect((caught as VaultError).code).toBe(code);
      expect((caught as VaultError).message).not.toContain(SELLER_KEY);
    }
  });

  it('rotates: an old blob opens while its key is PREVIOUS, re-encrypts under the new key, and not at all once the old key is gone', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = vaultFromEnv({ NODE_ENV: 'production', SELLER_KEY_SECRET: oldKey.toString('base64') });
    const blob = before.encryptSecret({ plaintext: SELLER_KEY, poolId: 'pool_r' });
    const during = vaultFromEnv({ NODE_ENV: 'production', SELLER_KEY_SECRET: newKey.toString('hex'), SELLER_KEY_SECRET_PREVIOUS: `${randomBytes(32).toString('base64url')}, ${oldKey.toString('hex')}` });
    expect(during.decryptSecret({ blob, poolId: 'pool_r' })).toBe(SELLER_KEY);
    const resealed = during.reencrypt({ blob, poolId: 'pool_r' });
    expect(before.keyIdOf(blob)).toBe(masterKeyId(oldKey));
    expect(during.keyIdOf(resealed)).toBe(masterKeyId(newKey));
    expect(during.currentKeyId).toBe(masterKeyId(newKey));
    expect(during.reencrypt({ blob: resealed, poolId: 'pool_r' })).toBe(resealed);
    const after = vaultFromEnv({ NODE_ENV: 'production', SELLER_KEY_SECRET: newKey.toString('hex') });
    expect(after.decryptSecret({ blob: resealed, poolId: 'pool_r' })).toBe(SELLER_KEY);
    expect(() => after.decryptSecret({ blob, poolId: 'pool_r' })).toThrow(expect.objectContaining({ code: 'unknown_key' }));
  });

  it('accepts 32 bytes as hex, base64 or base64url and nothing else', () => {
    const key = randomBytes(32);
    for (const text of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) expect(parseMasterKey(text, 'X').equals(key)).toBe(true);
    for (const bad of [randomBytes(31).toString('hex'), randomBytes(16).toString('base64'), 'correct horse battery staple', '']) {
      expect(() => parseMasterKey(bad, 'SELLER_KEY_SECRET')).toThrow(expect.objectContaining({ code: 'bad_secret' }));
    }
  });

  it('production without SELLER_KEY_SECRET refuses: selling answers 503 without calling the provider, existing pools can still be revoked', async () => {
    expect(() => vaultFromEnv({ NODE_ENV: 'production' }, join(mkdtempSync(join(tmpdir(), 'seller-')), 'never'))).toThrow(expect.objectContaining({ code: 'not_configured' }));
    const prodEnv = upstreamEnv(fake.url, { NODE_ENV: 'production' });
    const off = createSellersApi({ db: t.db, env: prodEnv, rateLimiter: noLimit });
    const hank = await seller(off);
    const calls = fake.requestCount;
    const refused = await hank.post(listing());
    expect(refused.status).toBe(503);
    expect(errorOf(refused)).toMatchObject({ code: 'selling_unavailable', message: expect.stringMatching(/^Selling is not available on this instance yet/) });
    expect(JSON.stringify(errorOf(refused))).not.toContain('SELLER_KEY_SECRET');
    expect(fake.requestCount).toBe(calls);
    expect(await t.db.sellerPool.count({ where: { userId: hank.user.id } })).toBe(0);
    expect((await hank.get('/api/sell/pools')).status).toBe(200);
  });

  it('development without SELLER_KEY_SECRET generates one key into a 0600 file and keeps using it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'seller-')), 'data', '.seller-key-secret');
    const first = vaultFromEnv({ NODE_ENV: 'development' }, file);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const blob = first.encryptSecret({ plaintext: SELLER_KEY, poolId: 'pool_d' });
    const second = vaultFromEnv({ NODE_ENV: 'development' }, file);
    expect(second.currentKeyId).toBe(first.currentKeyId);
    expect(second.decryptSecret({ blob, poolId: 'pool_d' })).toBe(SELLER_KEY);
  });

  it("re-seals every stored pool under the new master key; the API then opens them without the old one", async () => {
    const oldHex = randomBytes(32).toString('hex');
    const newHex = randomBytes(32).toString('hex');
    const oldApi = createSellersApi({ db: t.db, env: upstreamEnv(fake.url, { SELLER_KEY_SECRET: oldHex }), rateLimiter: noLimit });
    const ivan = await seller(oldApi);
    const ids = [(await ivan.post(listing())).json.id as string, (await ivan.post(listing())).json.id as string];
    const during = vaultFromEnv({ NODE_ENV: 'test', SELLER_KEY_SECRET: newHex, SELLER_KEY_SECRET_PREVIOUS: `${oldHex},${MASTER_HEX}` });
    const result = await reencryptPools({ db: t.db, vault: during });
    expect(result.unreadable).toEqual([]);
    expect(result.reencrypted).toBeGreaterThanOrEqual(2);
    expect(await reencryptPools({ db: t.db, vault: during })).toEqual({ reencrypted: 0, unreadable: [] });
    for (const id of ids) expect(during.keyIdOf((await poolRow(id)).encryptedKey!)).toBe(during.currentKeyId);

    const newOnly = await seller(createSellersApi({ db: t.db, env: upstreamEnv(fake.url, { SELLER_KEY_SECRET: newHex }), rateLimiter: noLimit }));
    await t.db.sellerPool.update({ where: { id: ids[0]! }, data: { userId: newOnly.user.id, status: 'PAUSED' } });
    expect((await newOnly.patch(ids[0]!, { status: 'live' })).json).toMatchObject({ status: 'live' });
    // A pool sealed under a key the instance no longer has is the operator's problem, named as such.
    await t.db.sellerPool.update({ where: { id: ids[0]! }, data: { status: 'PAUSED', encryptedKey: createVault({ current: Buffer.from(oldHex, 'hex') }).encryptSecret({ plaintext: SELLER_KEY, poolId: ids[0]! }) } });
    const unreadable = await newOnly.patch(ids[0]!, { status: 'live' });
    expect(unreadable.status).toBe(503);
    expect(errorOf(unreadable).code).toBe('seller_key_unreadable');
    const rotateAgain = await reencryptPools({ db: t.db, vault: vaultFromEnv({ NODE_ENV: 'test', SELLER_KEY_SECRET: randomBytes(32).toString('hex'), SELLER_KEY_SECRET_PREVIOUS: newHex }) });
    expect(rotateAgain.unreadable).toEqual([ids[0]]);
    expect(rotateAgain.reencrypted).toBeGreaterThanOrEqual(1);
  });
});

describe('no plaintext anywhere', () => {
  it('the database holds no seller key in clear', async () => {
    const jane = await seller();
    const id = (await jane.post(listing())).json.id as string;
    if (testProvider() === 'sqlite') {
      const file = (t.config as { file: string }).file;
      const bytes = Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
      // The scan sees the new row (its id is there), and not the key.
      expect(bytes.includes(Buffer.from(id))).toBe(true);
      expect(bytes.includes(Buffer.from(SELLER_KEY))).toBe(false);
    } else {
      const rows = await t.db.$queryRawUnsafe<Json[]>('SELECT * FROM "SellerPool"');
      const text = JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      expect(text).toContain(id);
      expect(text).not.toContain(SELLER_KEY);
      const audit = JSON.stringify(await t.db.$queryRawUnsafe<Json[]>('SELECT * FROM "AuditLog"'));
      expect(audit).toContain(id);
      expect(audit).not.toContain(SELLER_KEY);
    }
  });

  it('no response body and no log line carried a seller key', () => {
    // This file's tests above ran first (in order) and fed both arrays.
    expect(bodies.length).toBeGreaterThan(50);
    expect(logs.some((line) => line.includes('seller pool listed'))).toBe(true);
    for (const secret of [SELLER_KEY, ...OTHER_KEYS, MASTER_HEX]) {
      expect(bodies.filter((b) => b.includes(secret))).toEqual([]);
      expect(logs.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});
