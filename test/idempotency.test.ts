import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDb, type Db } from '../lib/db/client';
import { auditLedger, walletAccountId } from '../lib/ledger';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, startTestGateway, upstreamEnv, type TestGateway } from './helpers/gateway';

// Idempotency-Key on /v1/chat/completions where it is hardest: in parallel, on streams, after a
// failure, and across two instances of the gateway on one database. Every expected charge is
// worked out by hand from the fake upstream's usage and gpt-4o-mini's sell prices.

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const ONE_DOLLAR = 1_000_000n;
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'once only' }], max_tokens: 20 };
/** 12 prompt + 5 completion tokens (the fake's default usage) at $0.165 / $0.66 per 1M: 1.98 + 3.3 → 6 micro-USD. */
const COST = 6n;

async function waitFor<T>(read: () => Promise<T | null>, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function post(url: string, secret: string, key: string, body: object = BODY, signal?: AbortSignal) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
    signal,
  });
}

async function charged(userId: string): Promise<bigint> {
  const wallet = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) } });
  expect(wallet.available).toBe(wallet.balance);
  return ONE_DOLLAR - wallet.balance;
}

async function usageOf(keyId: string) {
  return t.db.usageRecord.findMany({ where: { apiKeyId: keyId }, select: { status: true, cost: true }, orderBy: { createdAt: 'asc' } });
}

describe('Idempotency-Key', () => {
  it('ten requests at once with one key: one is served and charged, the others are told it is in progress', async () => {
    fake.setBehavior({ latencyMs: 300 });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const responses = await Promise.all(Array.from({ length: 10 }, () => post(gw.url, customer.secret, 'parallel-1')));
    // Exactly one is served. The rest arrive while it runs (409, in progress) — or, on a machine
    // so loaded that one of them arrives after the 300 ms call ended, as its replay: never served twice.
    const served = responses.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') !== 'true');
    const replayed = responses.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === 'true');
    const refused = responses.filter((r) => r.status === 409);
    expect(served).toHaveLength(1);
    expect(refused.length).toBeGreaterThan(0);
    expect(served.length + replayed.length + refused.length).toBe(10);
    const servedBody = await served[0]!.text();
    for (const replay of replayed) expect(await replay.text()).toBe(servedBody);
    const refusals = (await Promise.all(refused.map((r) => r.json()))) as Array<{ error: { code: string } }>;
    expect(new Set(refusals.map((body) => body.error.code))).toEqual(new Set(['idempotency_request_in_progress']));
    expect(fake.requests).toHaveLength(1);
    expect(await charged(customer.user.id)).toBe(COST);
    expect(await usageOf(customer.keyId)).toEqual([{ status: 'SUCCESS', cost: COST }]);
    // Once it is done, the same key replays it.
    const replay = await post(gw.url, customer.secret, 'parallel-1');
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await charged(customer.user.id)).toBe(COST);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a stream is replayed byte for byte and charged once', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const body = { ...BODY, stream: true, stream_options: { include_usage: true } };
    const first = await post(gw.url, customer.secret, 'stream-1', body);
    const firstText = await first.text();
    expect(firstText).toContain('data: [DONE]');
    const second = await post(gw.url, customer.secret, 'stream-1', body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.headers.get('content-type')).toContain('text/event-stream');
    expect(await second.text()).toBe(firstText);
    expect(fake.requests).toHaveLength(1);
    expect(await charged(customer.user.id)).toBe(COST);
  });

  it('a stream whose client left after the last word is replayed whole, [DONE] included, or served afresh', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const body = { ...BODY, stream: true, stream_options: { include_usage: true } };
    for (let attempt = 0; attempt < 5; attempt++) {
      const key = `left-late-${attempt}`;
      const controller = new AbortController();
      const first = await post(gw.url, customer.secret, key, body, controller.signal);
      const reader = first.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      // Leave as soon as the finishing chunk (the last word's) arrives: the upstream may well be done.
      while (!text.includes('"finish_reason":"stop"')) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const retry = await post(gw.url, customer.secret, key, body);
      expect(retry.status).toBe(200);
      expect(await retry.text()).toContain('data: [DONE]');
    }
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('after a failure that charged nothing, the same key may be used again, and is then charged once', async () => {
    fake.setBehavior({ failStatus: 500, failTimes: 1 });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const failed = await post(gw.url, customer.secret, 'retry-1');
    expect(failed.status).toBe(502);
    expect(await charged(customer.user.id)).toBe(0n);
    const retried = await post(gw.url, customer.secret, 'retry-1');
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const again = await post(gw.url, customer.secret, 'retry-1');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await charged(customer.user.id)).toBe(COST);
    expect(await usageOf(customer.keyId)).toEqual([
      { status: 'UPSTREAM_ERROR', cost: 0n },
      { status: 'SUCCESS', cost: COST },
    ]);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  describe('across two instances on one database', () => {
    let secondDb: Db;
    let second: TestGateway;
    beforeAll(async () => {
      secondDb = createDb(t.config);
      second = await startTestGateway({ db: secondDb, env: upstreamEnv(fake.url) });
    });
    afterAll(async () => {
      await second?.close();
      await secondDb?.$disconnect();
    });

    it('a key used on one instance replays on the other; at once on both, one is served and charged', async () => {
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      expect((await post(gw.url, customer.secret, 'across-1')).status).toBe(200);
      const replay = await post(second.url, customer.secret, 'across-1');
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await charged(customer.user.id)).toBe(COST);

      fake.setBehavior({ latencyMs: 300 });
      const both = await Promise.all([post(gw.url, customer.secret, 'across-2'), post(second.url, customer.secret, 'across-2')]);
      expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(await charged(customer.user.id)).toBe(2n * COST);
      expect((await auditLedger(t.db)).problems).toEqual([]);
    });
  });

  describe('when the call holding a key dies', () => {
    const TTL_MS = 300;
    let shortDb: Db;
    let short: TestGateway;
    beforeAll(async () => {
      shortDb = createDb(t.config);
      short = await startTestGateway({ db: shortDb, env: upstreamEnv(fake.url, { HOLD_TTL_MS: String(TTL_MS) }) });
    });
    afterAll(async () => {
      await short?.close();
      await shortDb?.$disconnect();
    });

    it("the key is free again once the dead call's holds would have lapsed, not a day later", async () => {
      const DYING_TTL_MS = 1_500;
      const dyingDb = createDb(t.config);
      const dying = await startTestGateway({ db: dyingDb, env: upstreamEnv(fake.url, { HOLD_TTL_MS: String(DYING_TTL_MS) }) });
      fake.setBehavior({ latencyMs: 5_000 });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const call = post(dying.url, customer.secret, 'dead-1').catch(() => null);
      // Once the key is claimed, the process "dies": nothing it would do to clean up reaches the
      // database (here: freeing the key fails, as it would with the process gone).
      vi.spyOn(dyingDb.idempotencyRecord, 'deleteMany').mockRejectedValue(new Error('the process died'));
      await waitFor(() => t.db.idempotencyRecord.findFirst({ where: { scope: customer.keyId, key: 'dead-1' } }));
      expect((await post(gw.url, customer.secret, 'dead-1')).status).toBe(409);
      await dying.close();
      await call;
      await dyingDb.$disconnect();
      fake.setBehavior({ latencyMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, DYING_TTL_MS + 200));
      const retried = await post(gw.url, customer.secret, 'dead-1');
      expect(retried.status).toBe(200);
      expect(retried.headers.get('idempotent-replayed')).toBeNull();
    });

    it('a call whose key lapsed (its renewals failing) and was taken over by a retry still answers, charged', async () => {
      fake.setBehavior({ latencyMs: 900 });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      // This instance can no longer write the record: its renewals (and its final write) fail.
      const writes = vi.spyOn(shortDb.idempotencyRecord, 'updateMany').mockRejectedValue(new Error('database unreachable'));
      try {
        const original = post(short.url, customer.secret, 'lapsed-1');
        await new Promise((resolve) => setTimeout(resolve, TTL_MS + 200));
        // The claim lapsed: a retry takes the key over and is served on its own.
        const retry = await post(gw.url, customer.secret, 'lapsed-1');
        expect(retry.status).toBe(200);
        expect((await original).status).toBe(200);
      } finally {
        writes.mockRestore();
      }
      expect(await charged(customer.user.id)).toBe(2n * COST);
      expect((await auditLedger(t.db)).problems).toEqual([]);
    });

    it('a live call keeps its key in progress past the TTL: a duplicate sent meanwhile is still refused', async () => {
      fake.setBehavior({ chunkDelayMs: 100, text: Array.from({ length: 12 }, (_, i) => `w${i}`).join(' ') });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const body = { ...BODY, stream: true };
      const long = post(short.url, customer.secret, 'live-1', body).then((r) => r.text());
      await new Promise((resolve) => setTimeout(resolve, 3 * TTL_MS));
      // Claimed for about one TTL at a time (a dead process's claim lapses with its holds)...
      const record = () => t.db.idempotencyRecord.findFirstOrThrow({ where: { scope: customer.keyId, key: 'live-1' } });
      expect((await record()).statusCode).toBe(0);
      expect((await record()).expiresAt.getTime()).toBeLessThan(Date.now() + 2 * TTL_MS);
      // ...and renewed while the call lives.
      expect((await post(short.url, customer.secret, 'live-1', body)).status).toBe(409);
      expect(await long).toContain('data: [DONE]');
      expect(fake.requests).toHaveLength(1);
      // Completed (just after the last byte is sent), it is kept a day for replays.
      const completed = await waitFor(async () => ((await record()).statusCode === 200 ? record() : null));
      expect(completed.expiresAt.getTime()).toBeGreaterThan(Date.now() + 23 * 3_600_000);
    });
  });
});
