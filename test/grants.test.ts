import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { auditLedger, SYSTEM_ACCOUNTS } from '../lib/ledger';
import type { GrantedCall } from '../lib/ledger/grants';
import { loadKeyContext } from '../lib/gateway/auth';
import { GrantBook, type GrantDraw } from '../lib/gateway/grants';
import { newId } from '../lib/ids';
import { createCustomer, gatewayHarness, startTestGateway, untilNothingHeld, upstreamEnv } from './helpers/gateway';

// Grants through the gateway (docs/grants.md): a busy key's calls drawn on money this instance
// reserved ahead, posted in bulk, each call's rows what a call reserved and settled on its own
// would leave. The expected figures come from the answers themselves (each call's charged cost)
// and the funding each test sets up, never from the grant book.

const h = gatewayHarness({ LEDGER_GRANTS: 'on' });
const FUNDED = 10_000_000n;
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello.' }], max_tokens: 16 };

type Billing = { charged_usd: number; balance_usd: number | null; hold_usd: number };
const micros = (usd: number) => BigInt(Math.round(usd * 1e6));

/** One call through the official client: its request id and the billing it answered with (the usage chunk's, streamed). */
async function call(client: OpenAI, stream: boolean, content = 'Say hello.'): Promise<{ requestId: string; billing: Billing }> {
  if (!stream) {
    const { data, response } = await client.chat.completions.create({ ...BODY, messages: [{ role: 'user', content }] }).withResponse();
    return { requestId: response.headers.get('x-request-id')!, billing: (data as unknown as { billing: Billing }).billing };
  }
  const { data, response } = await client.chat.completions.create({ ...BODY, messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true } }).withResponse();
  let billing: Billing | null = null;
  for await (const chunk of data) if ((chunk as unknown as { billing?: Billing }).billing) billing = (chunk as unknown as { billing: Billing }).billing;
  return { requestId: response.headers.get('x-request-id')!, billing: billing! };
}

describe('grants', () => {
  it("serve a busy key's calls with far fewer reservations than calls, each call billed exactly as on its own", async () => {
    const customer = await createCustomer(h.t.db, FUNDED);
    const client = h.gw.client(customer.secret);
    const reserve = vi.spyOn(h.gw.gateway.ctx.ledger, 'reserve');
    const replies: Array<{ requestId: string; billing: Billing }> = [];
    let reserved: string[];
    try {
      for (let i = 0; i < 60; i++) replies.push(await call(client, i % 3 === 2));
    } finally {
      reserved = reserve.mock.calls.map(([input]) => input.idempotencyKey);
      reserve.mockRestore();
    }
    // The first calls of a key reserve on their own (fewer than 8 a second so far); then a grant
    // covers a quarter second of calls, the next one opened before it runs out.
    expect(reserved.length).toBeLessThan(20);
    expect(reserved.filter((key) => key.startsWith('grant:')).length).toBeGreaterThan(0);

    await untilNothingHeld(h.t.db, customer.wallet.id);
    const usage = await h.t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId } });
    expect(usage).toHaveLength(60);
    const costs = new Map(usage.map((u) => [u.requestId, u]));
    let total = 0n;
    for (const reply of replies) {
      const row = costs.get(reply.requestId);
      expect(row?.status).toBe('SUCCESS');
      // What the answer said it charged is what its usage row and its hold posted.
      expect(row?.cost).toBe(micros(reply.billing.charged_usd));
      const hold = await h.t.db.hold.findUniqueOrThrow({ where: { idempotencyKey: `hold:${reply.requestId}` } });
      expect([hold.status, hold.settledAmount, hold.amount]).toEqual(['SETTLED', row!.cost, micros(reply.billing.hold_usd)]);
      total += row!.cost;
    }
    expect(total).toBeGreaterThan(0n);
    expect(await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id }, select: { balance: true, available: true } })).toEqual({ balance: FUNDED - total, available: FUNDED - total });
    const key = await h.t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } });
    expect([key.requestsToday, key.spentToday, key.committedToday]).toEqual([60, total, total]);
    expect(await h.t.db.hold.count({ where: { idempotencyKey: { startsWith: 'grant:' }, debitAccountId: customer.wallet.id, status: { not: 'RELEASED' } } })).toBe(0);
    expect((await auditLedger(h.t.db)).problems).toEqual([]);

    // One instance alone on the wallet: the balance each answer gave, when it knew one, is exact.
    let spent = 0n;
    let known = 0;
    for (const reply of replies) {
      spent += micros(reply.billing.charged_usd);
      if (reply.billing.balance_usd === null) continue;
      known += 1;
      expect(micros(reply.billing.balance_usd)).toBe(FUNDED - spent);
    }
    expect(known).toBeGreaterThan(30);
  });

  it('never charge a call that failed on a grant, nor count its request', async () => {
    const customer = await createCustomer(h.t.db, FUNDED);
    const client = h.gw.client(customer.secret);
    const failed: string[] = [];
    const served: Array<{ requestId: string; billing: Billing }> = [];
    for (let i = 0; i < 40; i++) {
      if (i % 4 !== 3) {
        served.push(await call(client, false));
        continue;
      }
      // A 400 from the upstream is the request's own fault: no failover, the call fails.
      const reply = await fetch(`${h.gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...BODY, messages: [{ role: 'user', content: 'Say hello. [[fault:status=400]]' }] }),
      });
      expect(reply.status).toBeGreaterThanOrEqual(400);
      await reply.arrayBuffer();
      failed.push(reply.headers.get('x-request-id')!);
    }
    expect(failed.filter(Boolean)).toHaveLength(10);

    await untilNothingHeld(h.t.db, customer.wallet.id);
    for (const requestId of failed) {
      expect(await h.t.db.usageRecord.findUniqueOrThrow({ where: { requestId } })).toMatchObject({ status: 'UPSTREAM_ERROR', cost: 0n });
      expect(await h.t.db.hold.findUniqueOrThrow({ where: { idempotencyKey: `hold:${requestId}` } })).toMatchObject({ status: 'RELEASED', settledAmount: null });
    }
    const total = served.reduce((sum, r) => sum + micros(r.billing.charged_usd), 0n);
    expect((await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id } })).balance).toBe(FUNDED - total);
    expect((await h.t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } })).requestsToday).toBe(30);
    expect((await auditLedger(h.t.db)).problems).toEqual([]);
  });

  it("serve a call no grant covers from a grant's free money given back, rather than refuse it", async () => {
    const customer = await createCustomer(h.t.db, FUNDED);
    const client = h.gw.client(customer.secret);
    for (let i = 0; i < 20; i++) await call(client, false);
    // The posting of the last calls (every 20 ms), then the grant's free money as the database has it.
    await new Promise((resolve) => setTimeout(resolve, 60));
    const grant = await h.t.db.hold.findFirstOrThrow({ where: { idempotencyKey: { startsWith: 'grant:' }, debitAccountId: customer.wallet.id, status: 'PENDING' }, orderBy: { createdAt: 'desc' } });
    const free = grant.amount;
    // Another call elsewhere takes all but `free` of the wallet's available money.
    const { available } = await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id } });
    await h.gw.gateway.ctx.ledger.reserve({ idempotencyKey: `hold:${newId('req')}`, sources: [customer.wallet.id], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: available - free, ttlMs: 60_000 });
    // A call whose maximum (about 1.5 × free at $0.66 per 1M output tokens) no grant covers and the
    // wallet alone does not either: only with the grant's free money given back is it affordable.
    const maxTokens = Math.ceil((Number(free) * 1.5) / 0.66);
    const big = await client.chat.completions.create({ ...BODY, max_tokens: maxTokens }).withResponse();
    const hold = micros((big.data as unknown as { billing: Billing }).billing.hold_usd);
    expect(hold).toBeGreaterThan(free);
    expect(hold).toBeLessThanOrEqual(2n * free);
  });

  it('stop serving a key revoked elsewhere within about a second, and give its money back', async () => {
    const customer = await createCustomer(h.t.db, FUNDED);
    const client = h.gw.client(customer.secret);
    for (let i = 0; i < 20; i++) await call(client, false);
    expect(await h.t.db.hold.count({ where: { idempotencyKey: { startsWith: 'grant:' }, debitAccountId: customer.wallet.id, status: 'PENDING' } })).toBeGreaterThan(0);

    // Revoked by another instance: this one hears of it only from the database.
    await h.t.db.apiKey.update({ where: { id: customer.keyId }, data: { revokedAt: new Date() } });
    const revokedAt = performance.now();
    let refusedAfter: number | null = null;
    const servedAfter: string[] = [];
    while (refusedAfter === null && performance.now() - revokedAt < 3_000) {
      try {
        servedAfter.push((await call(client, false)).requestId);
      } catch (error) {
        expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
        expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('api_key_revoked');
        refusedAfter = performance.now() - revokedAt;
      }
    }
    expect(refusedAfter).not.toBeNull();
    expect(refusedAfter!).toBeLessThanOrEqual(1_500);
    // Refused from then on.
    await expect(call(client, false)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    await untilNothingHeld(h.t.db, customer.wallet.id);
    // What was served before the refusal was billed; the rest of the grants went back.
    const usage = await h.t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId } });
    expect(usage).toHaveLength(20 + servedAfter.length);
    const wallet = await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id } });
    expect(wallet.available).toBe(wallet.balance);
    expect(wallet.balance).toBe(FUNDED - usage.reduce((sum, u) => sum + u.cost, 0n));
    expect((await auditLedger(h.t.db)).problems).toEqual([]);
  });

  it("post and close everything when the gateway closes: nothing left held, no call uncharged", async () => {
    const gw = await startTestGateway({ db: h.t.db, env: upstreamEnv(h.fake.url, { LEDGER_GRANTS: 'on' }) });
    const customer = await createCustomer(h.t.db, FUNDED);
    const client = gw.client(customer.secret);
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => call(client, i % 2 === 0)));
    expect(gw.gateway.ctx.grants!.open).toBeGreaterThan(0);
    await gw.close();
    // No waiting: closing drained the grants.
    expect(await h.t.db.hold.count({ where: { debitAccountId: customer.wallet.id, status: 'PENDING' } })).toBe(0);
    const usage = await h.t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId } });
    expect(new Set(usage.map((u) => u.requestId))).toEqual(new Set(replies.map((r) => r.requestId)));
    const total = replies.reduce((sum, r) => sum + micros(r.billing.charged_usd), 0n);
    expect((await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id } })).balance).toBe(FUNDED - total);
    expect((await auditLedger(h.t.db)).problems).toEqual([]);
  });
});

describe('the grant book', () => {
  /** A call of `draw`'s key ending at `cost`, as the gateway records it. */
  function ended(book: GrantBook, draw: GrantDraw, userId: string, keyId: string, cost: bigint, requestId = newId('req')) {
    const at = new Date();
    book.end(draw, {
      holdId: newId('hold'),
      requestId,
      amount: draw.amount,
      cost,
      status: 'SETTLED',
      memo: null,
      drawnAt: draw.drawnAt,
      endedAt: at,
      usage: { id: newId('usg'), requestId, userId, apiKeyId: keyId, modelId: 'gpt-4o-mini', providerId: 'openai', stream: false, promptTokens: 1, completionTokens: 1, cachedTokens: 0, cost, latencyMs: 1, status: 'SUCCESS', errorCode: null, sellerPoolId: null, createdAt: at },
    });
  }

  it('keeps one grant while its key checks out, and stops drawing on it within the check interval of a revocation', async () => {
    const customer = await createCustomer(h.t.db, FUNDED);
    const key = await loadKeyContext(h.t.db, { id: customer.keyId });
    // Checked every 100 ms, drawable for 200 ms after each check; sized for far more calls than the test makes.
    const book = new GrantBook(h.gw.gateway.ctx.ledger, 60_000, { checkMs: 200, minRate: 1, spanMs: 60_000, idleMs: 5_000, postEveryMs: 10 });
    const grants = new Set<string>();
    const until = performance.now() + 700;
    let calls = 0;
    while (performance.now() < until) {
      const draw = await book.draw(key, 100n);
      expect(draw).not.toBeNull();
      grants.add(draw!.grant.ref.id);
      ended(book, draw!, customer.user.id, customer.keyId, 60n);
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Three and a half check intervals, one grant: each check gave it another 200 ms.
    expect(grants.size).toBe(1);
    const [grantId] = [...grants];

    await h.t.db.apiKey.update({ where: { id: customer.keyId }, data: { revokedAt: new Date() } });
    const revokedAt = performance.now();
    for (let draw = await book.draw(key, 100n); draw !== null; draw = await book.draw(key, 100n)) {
      expect(performance.now() - revokedAt).toBeLessThan(300);
      ended(book, draw, customer.user.id, customer.keyId, 60n);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Refused, it closes once nothing is in flight: what its calls cost is posted, the rest given back.
    await untilNothingHeld(h.t.db, customer.wallet.id);
    expect(await h.t.db.hold.findUniqueOrThrow({ where: { id: grantId! } })).toMatchObject({ status: 'RELEASED' });
    expect(await h.t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBeGreaterThanOrEqual(calls);
    const wallet = await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id } });
    expect(wallet.balance).toBe(FUNDED - 60n * BigInt(await h.t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })));
    expect(wallet.available).toBe(wallet.balance);
    await book.drain();
  });

  /** A book that records unbilled calls, as the gateway's does, and a busy key with money. */
  async function bookFor(settings: Partial<ConstructorParameters<typeof GrantBook>[2]> = {}) {
    const customer = await createCustomer(h.t.db, FUNDED);
    const key = await loadKeyContext(h.t.db, { id: customer.keyId });
    const unbilled: GrantedCall[] = [];
    const book = new GrantBook(h.gw.gateway.ctx.ledger, 60_000, { minRate: 1, spanMs: 60_000, idleMs: 5_000, postEveryMs: 10, ...settings }, async (calls) => {
      unbilled.push(...calls);
    });
    return { customer, key, book, unbilled };
  }

  it('posts the other calls of a refused posting one by one, and records the one refused as served and unbilled', async () => {
    const { customer, key, book, unbilled } = await bookFor();
    // A reservation of its own already took this request's hold key: its posting on the grant clashes.
    const clash = newId('req');
    await h.gw.gateway.ctx.ledger.reserve({ idempotencyKey: `hold:${clash}`, sources: [customer.wallet.id], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 50n, ttlMs: 60_000 });
    const draws = [await book.draw(key, 100n), await book.draw(key, 100n), await book.draw(key, 100n)];
    ended(book, draws[0]!, customer.user.id, customer.keyId, 70n);
    ended(book, draws[1]!, customer.user.id, customer.keyId, 80n, clash);
    ended(book, draws[2]!, customer.user.id, customer.keyId, 90n);
    await book.drain();
    expect(unbilled.map((c) => c.requestId)).toEqual([clash]);
    // 70 + 90 charged; the clashing call's 80 went back with the grant; the other reservation still holds 50.
    expect(await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id }, select: { balance: true, available: true } })).toEqual({ balance: FUNDED - 160n, available: FUNDED - 160n - 50n });
    expect(await h.t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(2);
    expect(await h.t.db.hold.count({ where: { idempotencyKey: { startsWith: 'grant:' }, debitAccountId: customer.wallet.id, status: 'PENDING' } })).toBe(0);
  });

  it('waits for its calls in flight before closing at shutdown, and posts them', async () => {
    const { customer, key, book } = await bookFor();
    const draws = [await book.draw(key, 100n), await book.draw(key, 100n)];
    ended(book, draws[0]!, customer.user.id, customer.keyId, 10n);
    const drained = book.drain();
    // A call still in flight when the shutdown began ends 50 ms later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(book.open).toBe(1);
    ended(book, draws[1]!, customer.user.id, customer.keyId, 20n);
    await drained;
    expect(book.open).toBe(0);
    expect(await book.draw(key, 100n)).toBeNull();
    expect(await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id }, select: { balance: true, available: true } })).toEqual({ balance: FUNDED - 30n, available: FUNDED - 30n });
    expect(await h.t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(2);
  });

  it('records the calls of a grant the sweeper took as served and unbilled, later ones too', async () => {
    const { customer, key, book, unbilled } = await bookFor({ postEveryMs: 60_000 });
    const draws = [await book.draw(key, 100n), await book.draw(key, 100n)];
    // This process stalled past the grant's expiry: the sweeper released it.
    await h.gw.gateway.ctx.ledger.releaseExpiredHolds({ now: new Date(Date.now() + 120_000), limit: 1_000 });
    ended(book, draws[0]!, customer.user.id, customer.keyId, 10n);
    await book.drain();
    ended(book, draws[1]!, customer.user.id, customer.keyId, 20n);
    expect(unbilled.map((c) => c.cost)).toEqual([10n, 20n]);
    expect(await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id }, select: { balance: true, available: true } })).toEqual({ balance: FUNDED, available: FUNDED });
  });

  it('keeps a grant to its UTC day: after midnight a call draws on a grant of the new day, and the old one closes with its calls posted', async () => {
    // Only Date is faked: the book's timers and the drivers' run as usual.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2031-03-04T23:59:59.900Z'));
      const { customer, key, book } = await bookFor();
      const before = await book.draw(key, 100n);
      expect(before!.grant.quota.day).toBe('2031-03-04');
      ended(book, before!, customer.user.id, customer.keyId, 40n);
      vi.setSystemTime(new Date('2031-03-05T00:00:00.100Z'));
      const after = await book.draw(key, 100n);
      expect(after!.grant.quota.day).toBe('2031-03-05');
      ended(book, after!, customer.user.id, customer.keyId, 50n);
      await book.drain();
      expect(book.open).toBe(0);
      // Both calls charged, nothing held; the key's counters are the new day's alone (one call, 50).
      expect(await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id }, select: { balance: true, available: true } })).toEqual({ balance: FUNDED - 90n, available: FUNDED - 90n });
      const k = await h.t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } });
      expect([k.usageDay, k.requestsToday, k.spentToday, k.committedToday]).toEqual(['2031-03-05', 1, 50n, 50n]);
      expect(await h.t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('tries a posting whose answer was lost again as it was, and it applies once', async () => {
    const { customer, key, book, unbilled } = await bookFor();
    const ledger = h.gw.gateway.ctx.ledger;
    const postGrant = ledger.postGrant.bind(ledger);
    let lost = 0;
    // The first posting with calls commits, then its answer is lost (a connection reset after COMMIT).
    const spy = vi.spyOn(ledger, 'postGrant').mockImplementation(async (input) => {
      const posted = await postGrant(input);
      if (lost === 0 && input.calls.length > 0) {
        lost += 1;
        throw new Error('connection reset after COMMIT');
      }
      return posted;
    });
    try {
      const draws = [await book.draw(key, 100n), await book.draw(key, 100n)];
      ended(book, draws[0]!, customer.user.id, customer.keyId, 30n);
      ended(book, draws[1]!, customer.user.id, customer.keyId, 40n);
      await book.drain();
    } finally {
      spy.mockRestore();
    }
    expect(lost).toBe(1);
    // Recognised as applied, not taken for a grant gone: nothing recorded as unbilled.
    expect(unbilled).toEqual([]);
    expect(await h.t.db.ledgerAccount.findUniqueOrThrow({ where: { id: customer.wallet.id }, select: { balance: true, available: true } })).toEqual({ balance: FUNDED - 70n, available: FUNDED - 70n });
    expect(await h.t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(2);
    const k = await h.t.db.apiKey.findUniqueOrThrow({ where: { id: customer.keyId } });
    expect([k.requestsToday, k.spentToday, k.committedToday]).toEqual([2, 70n, 70n]);
  });
});
