import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RateLimiter } from '../lib/gateway/rate-limit';
import { createApiKeyOp } from '../lib/keys/keys';
import { SYSTEM_ACCOUNTS, getOrCreateWalletAccount, sellerEarningsAccountId, sellerPoolAccountId } from '../lib/ledger/accounts';
import { Ledger } from '../lib/ledger/ledger';
import { auditLedger } from '../lib/ledger/audit';
import { PoolDirectory } from '../lib/sellers/pool-directory';
import { createSellersApi, type SellersApi } from '../lib/sellers/sellers-api';
import { createFundedUser } from './helpers/fixtures';
import { PROVIDER_SECRETS, createCustomer, gatewayHarness, startTestGateway, upstreamEnv } from './helpers/gateway';

// Seller pools serve buyers (issue #16): first in, first out, with the pool's key; a key the
// provider refuses pauses its pool and the call fails over; a pool never serves beyond its face
// value; the seller earns their rate of the upstream list cost, to the micro-dollar.

const MASTER_HEX = randomBytes(32).toString('hex');

// OpenAI's list price for gpt-4o-mini (openai.com/api/pricing): $0.15 in, $0.60 out per 1M tokens.
const LIST_IN_MICROS_PER_1M = 150_000n;
const LIST_OUT_MICROS_PER_1M = 600_000n;
const listCostOf = (prompt: bigint, completion: bigint) => {
  const numerator = prompt * LIST_IN_MICROS_PER_1M + completion * LIST_OUT_MICROS_PER_1M;
  return (numerator + 999_999n) / 1_000_000n; // rounded up to the micro-dollar, as a provider bills
};

const h = gatewayHarness({ SELLER_KEY_SECRET: MASTER_HEX, POOL_DIRECTORY_MS: '60000' });
let sellers: SellersApi;
const noLimit: RateLimiter = { take: async () => ({ allowed: true, remaining: 1, retryAfterSeconds: 0 }), close: async () => {} };

beforeAll(() => {
  const { gw, t, fake } = h;
  sellers = createSellersApi({
    db: t.db,
    env: { ...process.env, NODE_ENV: 'test', SELLER_KEY_SECRET: MASTER_HEX, OPENAI_BASE_URL: `${fake.url}/v1` },
    rateLimiter: noLimit,
    onListed: () => {
      gw.gateway.ctx.pools.invalidate();
      gw.gateway.ctx.catalog.invalidate();
    },
  });
});

/** Lists a pool through the sellers' API, as a signed-in seller does from /sell. */
async function listPool(apiKey: string, faceValueUsd: string, rate = '0.6') {
  const { user } = await createFundedUser(h.t.db, 0n);
  const key = createApiKeyOp(h.t.db, { userId: user.id, name: 'ops', kind: 'MANAGEMENT' });
  await key.op;
  const response = await sellers.createPool(
    new Request('http://tollgate.test/api/sell/pools', {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'openai', api_key: apiKey, face_value_usd: faceValueUsd, rate }),
    }),
    {},
  );
  const body = (await response.json()) as { id: string };
  expect(response.status, JSON.stringify(body)).toBe(201);
  return { poolId: body.id, sellerId: user.id };
}

const balance = async (accountId: string) => (await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: accountId } })).balance;
const presentedKeys = () => h.fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.headers.authorization);

describe('seller pools serve buyers', () => {
  it('first in, first out with the pool key; the seller earns their rate of the list cost, the pool is drawn by it, the platform keeps the rest', async () => {
    const { fake, gw, t } = h;
    const first = await listPool('seller-key-first-AAAA1111', '5');
    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct listing times
    const second = await listPool('seller-key-second-BBBB2222', '5', '0.5');
    const buyer = await createCustomer(t.db, 10_000_000n);
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 16_000 } });
    const revenueBefore = await balance(SYSTEM_ACCOUNTS.revenue.id);
    const seen = presentedKeys().length;

    const completion = await gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 16_384, messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]!.message.content).toBe('Hello from the fake upstream.');
    expect(presentedKeys().slice(seen)).toEqual(['Bearer seller-key-first-AAAA1111']);

    const row = await t.db.usageRecord.findFirstOrThrow({ where: { userId: buyer.user.id } });
    expect(row.sellerPoolId).toBe(first.poolId);
    const listCost = listCostOf(10n, 16_000n); // 9,602 µ$
    expect(listCost).toBe(9_602n);
    const earnings = (listCost * 6_000n) / 10_000n; // 5,761 µ$ at 0.6, rounded down
    expect(await balance(sellerEarningsAccountId(first.sellerId))).toBe(earnings);
    expect(await balance(sellerPoolAccountId(first.poolId))).toBe(5_000_000n - listCost);
    expect((await t.db.sellerPool.findUniqueOrThrow({ where: { id: first.poolId } })).drawn).toBe(listCost);
    // The buyer paid the catalogue price; the platform keeps what the seller did not get.
    expect(await balance(buyer.wallet.id)).toBe(10_000_000n - row.cost);
    expect(row.cost).toBeGreaterThan(listCost);
    expect((await balance(SYSTEM_ACCOUNTS.revenue.id)) - revenueBefore).toBe(row.cost - earnings);
    // The second pool waits its turn.
    expect(await balance(sellerPoolAccountId(second.poolId))).toBe(5_000_000n);
    expect(await balance(sellerEarningsAccountId(second.sellerId))).toBe(0n);

    const report = await auditLedger(t.db);
    expect(report.problems).toEqual([]);
  });

  it('a key the provider refuses pauses its pool, audited, and the call fails over to the next pool', async () => {
    const { fake, gw, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const bad = await listPool('seller-key-revoked-CCCC3333', '5');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const good = await listPool('seller-key-good-DDDD4444', '5');
    const buyer = await createCustomer(t.db, 10_000_000n);
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 20 }, rejectApiKeys: ['seller-key-revoked-CCCC3333'] });
    const seen = presentedKeys().length;

    const completion = await gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]!.message.content).toBe('Hello from the fake upstream.');
    expect(presentedKeys().slice(seen)).toEqual(['Bearer seller-key-revoked-CCCC3333', 'Bearer seller-key-good-DDDD4444']);
    const paused = await t.db.sellerPool.findUniqueOrThrow({ where: { id: bad.poolId } });
    expect(paused.status).toBe('PAUSED');
    expect(paused.statusReason).toMatch(/openai returned 401/);
    expect(paused.statusReason).not.toContain('CCCC3333');
    expect(await t.db.auditLog.count({ where: { targetId: bad.poolId, action: 'seller_pool.auto_pause' } })).toBe(1);
    // The refused pool's hold went back whole; the good pool served.
    expect(await balance(sellerPoolAccountId(bad.poolId))).toBe(5_000_000n);
    expect((await t.db.usageRecord.findFirstOrThrow({ where: { userId: buyer.user.id } })).sellerPoolId).toBe(good.poolId);

    // Paused, it is not tried again.
    const again = presentedKeys().length;
    await gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'again' }] });
    expect(presentedKeys().slice(again)).toEqual(['Bearer seller-key-good-DDDD4444']);
    fake.setBehavior({ rejectApiKeys: undefined });
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('200 concurrent calls never draw a pool beyond its face value; the rest go to the platform key', async () => {
    const { fake, gw, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const pool = await listPool('seller-key-small-EEEE5555', '1'); // $1: about a hundred of these calls
    const buyer = await createCustomer(t.db, 100_000_000n);
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 16_000 } });
    const seen = presentedKeys().length;

    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 16_384, messages: [{ role: 'user', content: `call ${i}` }] })),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const keys = presentedKeys().slice(seen);
    const byPool = keys.filter((k) => k === 'Bearer seller-key-small-EEEE5555').length;
    expect(keys.length).toBe(200);
    const rows = await t.db.usageRecord.findMany({ where: { userId: buyer.user.id } });
    expect(rows.filter((r) => r.sellerPoolId === pool.poolId).length).toBe(byPool);
    const drawn = (await t.db.sellerPool.findUniqueOrThrow({ where: { id: pool.poolId } })).drawn;
    expect(drawn).toBe(BigInt(byPool) * 9_602n);
    expect(drawn).toBeLessThanOrEqual(1_000_000n);
    // It served as much as its face value allows. A call goes to the platform key only when the
    // pool's free amount is below one call's hold (16,384 tokens: 9,832 µ$); after that only the
    // holds still in flight come back, each with the 230 µ$ its call did not use (9,832 − 9,602),
    // and at most 101 such holds fit in $1 at once. How many were in flight when the last call fell
    // through depends on timing (a faster runtime gets more of the 200 in before the first settle).
    expect(1_000_000n - drawn).toBeLessThan(9_832n + 101n * (9_832n - 9_602n));
    expect(byPool).toBeGreaterThan(90);
    expect(await balance(sellerPoolAccountId(pool.poolId))).toBe(1_000_000n - drawn);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a streamed call is drawn from its pool and keeps the pool hold until it settles', async () => {
    const { fake, gw, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const pool = await listPool('seller-key-stream-FFFF6666', '5', '0.75');
    const buyer = await createCustomer(t.db, 10_000_000n);
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 4_000 }, chunkDelayMs: 2 });
    const stream = await gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 16_384, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream' }] });
    let text = '';
    let pendingMidStream = -1;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (pendingMidStream === -1) pendingMidStream = await t.db.hold.count({ where: { debitAccountId: sellerPoolAccountId(pool.poolId), status: 'PENDING' } });
    }
    fake.setBehavior({ chunkDelayMs: 0 });
    expect(text).toBe('Hello from the fake upstream.');
    expect(pendingMidStream).toBe(1);
    const listCost = listCostOf(10n, 4_000n); // 2,401.5 → 2,402 µ$
    expect(listCost).toBe(2_402n);
    const row = await t.db.usageRecord.findFirstOrThrow({ where: { userId: buyer.user.id } });
    expect(row).toMatchObject({ sellerPoolId: pool.poolId, stream: true, status: 'SUCCESS' });
    expect((await t.db.sellerPool.findUniqueOrThrow({ where: { id: pool.poolId } })).drawn).toBe(listCost);
    expect(await balance(sellerEarningsAccountId(pool.sellerId))).toBe((listCost * 7_500n) / 10_000n);
    expect(await t.db.hold.count({ where: { debitAccountId: sellerPoolAccountId(pool.poolId), status: 'PENDING' } })).toBe(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it("a provider whose platform key is not set is live through sellers' pools alone", async () => {
    const { fake, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const noKey = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url, { OPENAI_API_KEY: '', SELLER_KEY_SECRET: MASTER_HEX }) });
    try {
      const buyer = await createCustomer(t.db, 10_000_000n);
      const refused = await noKey.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error as { status: number });
      expect(refused).toMatchObject({ status: 503 });
      const pool = await listPool('seller-key-only-GGGG7777', '5');
      noKey.gateway.ctx.catalog.invalidate();
      noKey.gateway.ctx.pools.invalidate();
      const seen = presentedKeys().length;
      await noKey.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
      expect(presentedKeys().slice(seen)).toEqual(['Bearer seller-key-only-GGGG7777']);
      // Its key refused, the pool pauses and nothing else can serve: a 502, not charged.
      fake.setBehavior({ rejectApiKeys: ['seller-key-only-GGGG7777'] });
      const before = await balance(buyer.wallet.id);
      const failed = await noKey.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error as { status: number });
      expect(failed).toMatchObject({ status: 502 });
      expect(await balance(buyer.wallet.id)).toBe(before);
      expect((await t.db.sellerPool.findUniqueOrThrow({ where: { id: pool.poolId } })).status).toBe('PAUSED');
    } finally {
      fake.setBehavior({ rejectApiKeys: undefined });
      await noKey.close();
    }
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it("the platform's key is read from the environment again once the pools' list would be, and on invalidate()", async () => {
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'test', OPENAI_API_KEY: '' };
    const pools = new PoolDirectory({ db: h.t.db, env, ttlMs: 20 });
    expect(pools.platformKeyConfigured('openai')).toBe(false);
    env.OPENAI_API_KEY = 'sk-set-while-running';
    // Within the list's lifetime the answer read stands: the environment is not read on every call.
    expect(pools.platformKeyConfigured('openai')).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(pools.platformKeyConfigured('openai')).toBe(true);
    delete env.OPENAI_API_KEY;
    pools.invalidate();
    expect(pools.platformKeyConfigured('openai')).toBe(false);
    // The local model has no key: it is off only when LOCAL_MODEL_ENABLED says so.
    expect(pools.platformKeyConfigured('local')).toBe(true);
  });

  it("a 403 from a pool's key fails over without pausing the pool; a seller's own calls never use their own pool", async () => {
    const { fake, gw, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const pool = await listPool('seller-key-forbidden-HHHH8888', '5');
    const buyer = await createCustomer(t.db, 10_000_000n);
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 20 } });
    let seen = presentedKeys().length;
    // A 403 can be one model or one region: both attempts are refused here, and the pool stays live.
    const refused = await gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: '[[fault:status=403]]' }] }).catch((error: unknown) => error as { status: number });
    expect(refused).toMatchObject({ status: 502 });
    expect(presentedKeys().slice(seen)).toEqual(['Bearer seller-key-forbidden-HHHH8888', `Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`]);
    expect((await t.db.sellerPool.findUniqueOrThrow({ where: { id: pool.poolId } })).status).toBe('LIVE');
    expect(await balance(sellerPoolAccountId(pool.poolId))).toBe(5_000_000n);

    // The seller calls with a key of their own, their wallet funded: the platform key serves them, never their pool.
    const { userId: sellerId } = await t.db.sellerPool.findUniqueOrThrow({ where: { id: pool.poolId } });
    const wallet = await getOrCreateWalletAccount({ db: t.db, userId: sellerId });
    await new Ledger(t.db).transfer({ idempotencyKey: `grant:${sellerId}`, kind: 'grant', entries: [{ accountId: SYSTEM_ACCOUNTS.promo.id, amount: -1_000_000n }, { accountId: wallet.id, amount: 1_000_000n }] });
    const own = createApiKeyOp(t.db, { userId: sellerId, name: 'own', rateLimitBurst: 100, rateLimitPerSec: 100 });
    await own.op;
    seen = presentedKeys().length;
    await gw.client(own.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'mine' }] });
    expect(presentedKeys().slice(seen)).toEqual([`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`]);
    expect(await balance(sellerPoolAccountId(pool.poolId))).toBe(5_000_000n);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a stream cut off mid-way charges the buyer nothing but draws the pool by what its key produced, and pays the seller for it', async () => {
    const { fake, gw, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const pool = await listPool('seller-key-cutoff-JJJJ9999', '5', '0.5');
    const buyer = await createCustomer(t.db, 10_000_000n);
    fake.setBehavior({ dieAfterChunks: 3 });
    const stream = await gw.client(buyer.secret).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 1_000, stream: true, messages: [{ role: 'user', content: 'cut me off' }] });
    const failed = await (async () => {
      for await (const chunk of stream) void chunk;
    })().catch((error: unknown) => error);
    fake.setBehavior({ dieAfterChunks: undefined });
    expect(failed).toBeInstanceOf(Error);
    expect(await balance(buyer.wallet.id)).toBe(10_000_000n);
    const row = await t.db.usageRecord.findFirstOrThrow({ where: { userId: buyer.user.id } });
    expect(row).toMatchObject({ status: 'UPSTREAM_ERROR', cost: 0n });
    const { drawn } = await t.db.sellerPool.findUniqueOrThrow({ where: { id: pool.poolId } });
    expect(drawn).toBeGreaterThan(0n);
    expect(await balance(sellerPoolAccountId(pool.poolId))).toBe(5_000_000n - drawn);
    expect(await balance(sellerEarningsAccountId(pool.sellerId))).toBe(drawn / 2n);
    expect(await t.db.hold.count({ where: { debitAccountId: sellerPoolAccountId(pool.poolId), status: 'PENDING' } })).toBe(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('playground calls (paid from the welcome credit, promo money) are never served by pools', async () => {
    const { fake, gw, t } = h;
    await t.db.sellerPool.updateMany({ where: { status: 'LIVE' }, data: { status: 'PAUSED', statusReason: 'earlier test' } });
    const pool = await listPool('seller-key-playground-KKKK0000', '5');
    const buyer = await createCustomer(t.db, 10_000_000n);
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 20 } });
    const seen = presentedKeys().length;
    const response = await gw.gateway.chatCompletionsForKey(
      buyer.keyId,
      new Request('http://tollgate.test/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'from the playground' }] }) }),
    );
    expect(response.status).toBe(200);
    await response.text();
    expect(presentedKeys().slice(seen)).toEqual([`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`]);
    expect(await balance(sellerPoolAccountId(pool.poolId))).toBe(5_000_000n);
  });
});
