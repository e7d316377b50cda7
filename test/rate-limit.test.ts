import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refill } from '../lib/gateway/rate-limit';
import { walletAccountId } from '../lib/ledger';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createCustomer, startTestGateway, upstreamEnv } from './helpers/gateway';

let t: TestDatabase;
let fake: FakeUpstream;

beforeAll(async () => {
  t = await createTestDatabase();
  fake = await startFakeUpstream();
});
afterAll(async () => {
  await fake?.close();
  await t?.close();
});

const params = { model: 'tollgate-local', messages: [{ role: 'user' as const, content: 'x' }], max_tokens: 4 };

async function outcomes(clients: OpenAI[], count: number) {
  const statuses: number[] = [];
  let retryAfter = 0;
  for (let i = 0; i < count; i++) {
    const result = await clients[i % clients.length]!.chat.completions.create(params).then(
      () => 200,
      (e: unknown) => {
        const error = e as InstanceType<typeof OpenAI.APIError>;
        expect(error.code).toBe('rate_limited');
        retryAfter = Number(error.headers?.get('retry-after'));
        return error.status ?? 0;
      },
    );
    statuses.push(result);
  }
  return { statuses, retryAfter };
}

describe('token bucket arithmetic', () => {
  it('starts full, refills at the rate, caps at the burst, and says when to retry', () => {
    const spec = { burst: 2, perSecond: 0.5 };
    const first = refill(undefined, spec, 0);
    expect(first).toMatchObject({ allowed: true, tokens: 1 });
    const second = refill({ tokens: first.tokens, at: 0 }, spec, 0);
    expect(second).toMatchObject({ allowed: true, tokens: 0 });
    const third = refill({ tokens: 0, at: 0 }, spec, 1_000);
    expect(third).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    expect(refill({ tokens: 0, at: 0 }, spec, 2_000)).toMatchObject({ allowed: true, tokens: 0 });
    expect(refill({ tokens: 0, at: 0 }, spec, 3_600_000).tokens).toBe(1);
  });
});

describe('per-key rate limit on /v1/chat/completions', () => {
  it('in memory: the burst is served, then 429 rate_limited with Retry-After, and refused calls cost nothing', async () => {
    const gw = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url) });
    try {
      const customer = await createCustomer(t.db, 1_000_000n, { rateLimitBurst: 3, rateLimitPerSec: 0.5 });
      const { statuses, retryAfter } = await outcomes([gw.client(customer.secret)], 5);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(await t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(3);
      const wallet = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) } });
      expect(wallet.available).toBe(wallet.balance);
    } finally {
      await gw.close();
    }
  });

  it('with REDIS_URL, two gateway instances share one bucket', async () => {
    const env = upstreamEnv(fake.url, { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const [a, b] = await Promise.all([startTestGateway({ db: t.db, env }), startTestGateway({ db: t.db, env })]);
    try {
      const customer = await createCustomer(t.db, 1_000_000n, { rateLimitBurst: 4, rateLimitPerSec: 0.01 });
      const { statuses } = await outcomes([a.client(customer.secret), b.client(customer.secret)], 8);
      expect(statuses.filter((s) => s === 200)).toHaveLength(4);
      expect(statuses.slice(4)).toEqual([429, 429, 429, 429]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('with Redis unreachable, serves rather than refuses (the ledger still guards the money)', async () => {
    const gw = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url, { REDIS_URL: 'redis://127.0.0.1:1' }) });
    try {
      const customer = await createCustomer(t.db, 1_000_000n, { rateLimitBurst: 1, rateLimitPerSec: 0.01 });
      const { statuses } = await outcomes([gw.client(customer.secret)], 2);
      expect(statuses).toEqual([200, 200]);
    } finally {
      await gw.close();
    }
  });
});
