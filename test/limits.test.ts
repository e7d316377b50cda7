import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { utcDay } from '../lib/gateway/day';
import { auditLedger, walletAccountId } from '../lib/ledger';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, startTestGateway, untilNothingHeld, upstreamEnv, type TestGateway } from './helpers/gateway';

// A key's two daily limits (requests and dollars, whichever runs out first), the model allow-list,
// the wallet and "packs only": each refusal named, each with both counters in its headers, none
// charging anything; and both limits exact under concurrency.

const harness = gatewayHarness();
let t: TestDatabase;
let gw: TestGateway;
beforeAll(() => {
  ({ t, gw } = harness);
});

const ONE_DOLLAR = 1_000_000n;
const ask = (maxTokens = 20) => ({ model: 'tollgate-local', messages: [{ role: 'user' as const, content: 'count to three' }], max_tokens: maxTokens });
const wallet = async (userId: string) => t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) } });
const nextMidnight = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
};

describe('each refusal names its limit, carries both counters, and charges nothing', () => {
  const cases = [
    {
      name: 'daily request quota used up',
      key: { dailyRequestLimit: 3, dailyBudget: ONE_DOLLAR },
      before: async (keyId: string) => void (await t.db.apiKey.update({ where: { id: keyId }, data: { usageDay: utcDay(new Date()), requestsToday: 3 } })),
      status: 429,
      code: 'daily_request_limit_reached',
      mentionsReset: true,
      headers: { 'x-ratelimit-limit-requests-day': '3', 'x-ratelimit-remaining-requests-day': '0', 'x-budget-limit-usd-day': '1' },
    },
    {
      name: 'daily budget spent',
      key: { dailyRequestLimit: 100, dailyBudget: 50n },
      before: async (keyId: string) => void (await t.db.apiKey.update({ where: { id: keyId }, data: { usageDay: utcDay(new Date()), committedToday: 45n, spentToday: 45n } })),
      status: 402,
      code: 'daily_budget_exhausted',
      mentionsReset: true,
      headers: { 'x-ratelimit-remaining-requests-day': '100', 'x-budget-limit-usd-day': '0.00005', 'x-budget-remaining-usd-day': '0.000005' },
    },
    {
      name: 'a model outside the allow-list',
      key: { models: ['gpt-4o-mini'], dailyRequestLimit: 5 },
      status: 403,
      code: 'model_not_allowed',
      headers: { 'x-ratelimit-limit-requests-day': '5', 'x-ratelimit-remaining-requests-day': '5' },
    },
    { name: 'a wallet that cannot cover the maximum cost', balance: 10n, key: { dailyRequestLimit: 5 }, status: 402, code: 'insufficient_credits', headers: { 'x-ratelimit-remaining-requests-day': '5' } },
    { name: 'a packs-only key without a pack', key: { packsOnly: true, dailyRequestLimit: 5 }, status: 402, code: 'no_active_pack', headers: { 'x-ratelimit-remaining-requests-day': '5' } },
    { name: 'the per-second rate limit', key: { rateLimitBurst: 1, rateLimitPerSec: 0.001, dailyRequestLimit: 5 }, calls: 2, status: 429, code: 'rate_limited', headers: { 'retry-after': expect.any(String) } },
  ];

  it.each(cases)('$name → $status $code', async (c) => {
    const customer = await createCustomer(t.db, c.balance ?? ONE_DOLLAR, c.key);
    await c.before?.(customer.keyId);
    const client = gw.client(customer.secret);
    for (let i = 1; i < (c.calls ?? 1); i++) await client.chat.completions.create(ask());
    const before = await wallet(customer.user.id);
    const error = (await client.chat.completions.create(ask()).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(c.status);
    expect(error.code).toBe(c.code);
    if (c.mentionsReset) expect(error.message).toContain(nextMidnight());
    expect(Object.fromEntries(error.headers!.entries())).toMatchObject(c.headers);
    const after = await wallet(customer.user.id);
    expect([after.balance, after.available]).toEqual([before.balance, before.available]);
    expect(await t.db.hold.count({ where: { debitAccountId: walletAccountId(customer.user.id), status: 'PENDING' } })).toBe(0);
  });
});

describe('exact under concurrency', () => {
  it('100 parallel requests against a quota of 10: exactly 10 accepted', async () => {
    const customer = await createCustomer(t.db, 10n * ONE_DOLLAR, { dailyRequestLimit: 10 });
    const client = gw.client(customer.secret);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => client.chat.completions.create(ask(5))));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(refused.every((r) => (r.reason as { code?: string }).code === 'daily_request_limit_reached')).toBe(true);
    const key = await t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } });
    expect(key.requestsToday).toBe(10);
    expect(await t.db.usageRecord.count({ where: { apiKeyId: customer.keyId, status: 'SUCCESS' } })).toBe(10);
  });

  it('100 parallel requests against a dollar budget: holds never overshoot it, and what was spent is exactly what was charged', async () => {
    const budget = 2_000n;
    const customer = await createCustomer(t.db, 10n * ONE_DOLLAR, { dailyBudget: budget });
    const client = gw.client(customer.secret);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => client.chat.completions.create(ask(200))));
    const served = results.filter((r): r is PromiseFulfilledResult<OpenAI.ChatCompletion> => r.status === 'fulfilled');
    // The budget admits at least as many calls as it holds holds (settlements only give some back).
    const { amount: hold } = await t.db.hold.findFirstOrThrow({ where: { quotaKeyId: customer.keyId, idempotencyKey: { startsWith: 'hold:' } } });
    expect(budget / hold).toBeGreaterThan(1n);
    expect(served.length).toBeGreaterThanOrEqual(Number(budget / hold));
    expect(new Set(results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code?: string }).code))).toEqual(new Set(['daily_budget_exhausted']));
    // Busy keys' calls draw on grants, which give back what they did not spend once idle (docs/grants.md).
    await untilNothingHeld(t.db, walletAccountId(customer.user.id));
    const key = await t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } });
    const charged = served.reduce((sum, r) => sum + BigInt(Math.round((r.value as unknown as { billing: { charged_usd: number } }).billing.charged_usd * 1e6)), 0n);
    expect(key.spentToday).toBe(charged);
    expect(key.spentToday).toBeLessThanOrEqual(budget);
    expect(key.committedToday).toBe(key.spentToday);
    expect((await wallet(customer.user.id)).balance).toBe(10n * ONE_DOLLAR - charged);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('counters', () => {
  it('every /v1 answer to a key carries both counters: completions, /v1/key and /v1/models', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR, { dailyRequestLimit: 7, dailyBudget: 3n * ONE_DOLLAR });
    const { response } = await gw.client(customer.secret).chat.completions.create(ask()).withResponse();
    const expected = {
      'x-ratelimit-limit-requests-day': '7',
      'x-ratelimit-remaining-requests-day': '6',
      'x-budget-limit-usd-day': '3',
      'x-ratelimit-reset': nextMidnight(),
    };
    expect(Object.fromEntries(response.headers.entries())).toMatchObject(expected);
    const remaining = Number(response.headers.get('x-budget-remaining-usd-day'));
    expect(remaining).toBeLessThan(3);
    for (const path of ['/v1/key', '/v1/models']) {
      const answer = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${customer.secret}` } });
      expect(Object.fromEntries(answer.headers.entries())).toMatchObject(expected);
      expect(Number(answer.headers.get('x-budget-remaining-usd-day'))).toBe(remaining);
    }
  });

  it('the counters start afresh at 00:00 UTC', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR, { dailyRequestLimit: 1, dailyBudget: 1_000n });
    await t.db.apiKey.update({ where: { id: customer.keyId }, data: { usageDay: '2020-01-01', requestsToday: 1, spentToday: 1_000n, committedToday: 1_000n } });
    const { response } = await gw.client(customer.secret).chat.completions.create(ask(5)).withResponse();
    expect(response.headers.get('x-ratelimit-remaining-requests-day')).toBe('0');
    const key = await t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } });
    expect(key.usageDay).toBe(utcDay(new Date()));
    expect(key.requestsToday).toBe(1);
    expect(key.spentToday).toBeLessThan(1_000n);
  });
});

/** A stand-in for x402 that always answers with a challenge: what matters here is the bucket in front of it. */
function challenger() {
  const stub = {
    challenges: 0,
    authorize: async () => {
      stub.challenges += 1;
      return { kind: 'respond' as const, response: Response.json({ error: { message: 'pay', type: 'insufficient_credits', code: 'payment_required', param: null } }, { status: 402 }) };
    },
  };
  return stub;
}

describe('keyless calls (pay per request)', () => {
  it('without trusted proxies, take the socket address: a rotating X-Forwarded-For buys no more calls', async () => {
    const payPerRequest = challenger();
    // Burst 2 per address, and ten times that for callers the server cannot tell apart: 2 either way
    // would pass only if the address were read from the header.
    const keyless = await startTestGateway({ db: t.db, env: { ...upstreamEnv(harness.fake.url), KEYLESS_RATE_LIMIT_BURST: '2', KEYLESS_RATE_LIMIT_PER_SEC: '0.001' }, payPerRequest });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const response = await fetch(`${keyless.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': `192.0.2.${i}`, 'x-real-ip': `192.0.2.${i}`, 'x-tollgate-peer': `192.0.2.${i}` },
          body: JSON.stringify(ask()),
        });
        statuses.push(response.status);
      }
      expect(statuses.filter((s) => s === 402)).toHaveLength(2);
      expect(statuses.filter((s) => s === 429)).toHaveLength(28);
      expect(payPerRequest.challenges).toBe(2);
    } finally {
      await keyless.close();
    }
  });

  it('are rate limited per client address before anything else is done for them', async () => {
    const payPerRequest = challenger();
    // The test's requests come from 127.0.0.1: name it as the proxy in front, which reports the client.
    const keyless = await startTestGateway({
      db: t.db,
      env: { ...upstreamEnv(harness.fake.url), KEYLESS_RATE_LIMIT_BURST: '2', KEYLESS_RATE_LIMIT_PER_SEC: '0.001', TRUSTED_PROXIES: '127.0.0.1' },
      payPerRequest,
    });
    try {
      const call = (from: string) =>
        fetch(`${keyless.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: JSON.stringify(ask()) });
      expect((await call('203.0.113.7')).status).toBe(402);
      expect((await call('203.0.113.7')).status).toBe(402);
      const limited = await call('203.0.113.7');
      expect(limited.status).toBe(429);
      expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited', message: expect.stringContaining('without an API key') } });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // A hop the client prepended is not the client: the trusted proxy's view is.
      expect((await call('198.51.100.1, 203.0.113.7')).status).toBe(429);
      expect((await call('198.51.100.9')).status).toBe(402);
      expect(payPerRequest.challenges).toBe(3);
    } finally {
      await keyless.close();
    }
  });
});
