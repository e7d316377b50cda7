import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../lib/ids';
import { Ledger, LedgerError, SYSTEM_ACCOUNTS, auditLedger } from '../lib/ledger';
import type { GrantedCall } from '../lib/ledger/grants';
import type { HoldRef, UsageRow } from '../lib/ledger/holds';
import { createTestDatabase, testProvider, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';

// A grant's postings (docs/grants.md): calls served from money reserved ahead, written as the rows
// the same calls would have left had each reserved and settled on its own. Every expected figure
// is worked out by hand from the balances each test sets up.

let t: TestDatabase;
let ledger: Ledger;
const revenue = SYSTEM_ACCOUNTS.revenue.id;
const DAY = '2030-01-10';

beforeAll(async () => {
  t = await createTestDatabase();
  ledger = new Ledger(t.db);
});
afterAll(() => t.close());

async function createKey(userId: string) {
  const id = newId('key');
  await t.db.apiKey.create({ data: { id, userId, name: 'grant test', hash: `hash-${id}`, prefix: 'tg_test', lastFour: 'abcd' } });
  return id;
}

async function keyCounters(keyId: string) {
  const k = await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } });
  return { usageDay: k.usageDay, requestsToday: k.requestsToday, committedToday: k.committedToday, spentToday: k.spentToday };
}

async function balances(accountId: string) {
  const a = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: accountId } });
  return { balance: a.balance, available: a.available };
}

/** A funded user with a key, and a grant of `amount` opened on their wallet as the gateway opens one. */
async function openGrant(walletBalance: bigint, amount: bigint) {
  const { user, wallet } = await createFundedUser(t.db, walletBalance);
  const keyId = await createKey(user.id);
  const quota = { keyId, day: DAY };
  const reserved = await ledger.reserve({ idempotencyKey: `grant:${newId('grt')}`, sources: [wallet.id], creditAccountId: revenue, amount, ttlMs: 60_000, quota });
  const hold = reserved.holds[0]!;
  const grant: HoldRef = { id: hold.id, debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId, amount: hold.amount };
  return { user, wallet, keyId, quota, grant };
}

function call(userId: string, keyId: string, amount: bigint, cost: bigint, status: 'SETTLED' | 'RELEASED' = 'SETTLED'): GrantedCall {
  const requestId = newId('req');
  const usage: UsageRow = {
    id: newId('usg'),
    requestId,
    userId,
    apiKeyId: keyId,
    modelId: 'tollgate-local',
    providerId: 'local',
    stream: false,
    promptTokens: 10,
    completionTokens: status === 'SETTLED' ? 20 : 0,
    cachedTokens: 0,
    cost,
    latencyMs: 5,
    status: status === 'SETTLED' ? 'SUCCESS' : 'UPSTREAM_ERROR',
    errorCode: status === 'SETTLED' ? null : 'upstream_error',
    sellerPoolId: null,
    createdAt: new Date('2030-01-10T12:00:00.000Z'),
  };
  return { holdId: newId('hold'), requestId, amount, cost, status, memo: `tollgate-local ${requestId}`, drawnAt: new Date('2030-01-10T12:00:00.000Z'), endedAt: new Date('2030-01-10T12:00:00.005Z'), usage };
}

async function rejection(promise: Promise<unknown>): Promise<LedgerError> {
  const error = await promise.then(
    () => expect.fail('expected a refusal'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LedgerError);
  return error as LedgerError;
}

describe(`grants (${testProvider})`, () => {
  it('posts calls as the rows they would have left on their own: holds, usage, the wallet, revenue and the key', async () => {
    // Wallet 10,000; grant 3,000. Calls: max 1,000 cost 400; max 1,000 cost 1,000; max 500 released.
    const { user, wallet, keyId, quota, grant } = await openGrant(10_000n, 3_000n);
    expect(await balances(wallet.id)).toEqual({ balance: 10_000n, available: 7_000n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 3_000n, spentToday: 0n });
    const revenueBefore = (await balances(revenue)).balance;

    const calls = [call(user.id, keyId, 1_000n, 400n), call(user.id, keyId, 1_000n, 1_000n), call(user.id, keyId, 500n, 0n, 'RELEASED')];
    const posted = await ledger.postGrant({ grant, quota, calls, close: false });

    // 1,400 left the grant (3,000 → 1,600) and the wallet's balance; available stays 7,000.
    expect(posted).toEqual({ grant: { ...grant, amount: 1_600n }, wallet: { id: wallet.id, balance: 8_600n, available: 7_000n }, replayed: false });
    expect(await balances(wallet.id)).toEqual({ balance: 8_600n, available: 7_000n });
    expect((await balances(revenue)).balance - revenueBefore).toBe(1_400n);
    expect(await t.db.hold.findUniqueOrThrow({ where: { id: grant.id } })).toMatchObject({ status: 'PENDING', amount: 1_600n, settledAmount: null });
    // The grant's request plus the two served; the budget committed is unchanged (spent moved within it).
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 3, committedToday: 3_000n, spentToday: 1_400n });

    const rows = await t.db.hold.findMany({ where: { id: { in: calls.map((c) => c.holdId) } }, orderBy: { amount: 'desc' } });
    expect(rows.map((h) => [h.idempotencyKey, h.amount, h.status, h.settledAmount, h.resolveIdempotencyKey, h.debitAccountId, h.creditAccountId])).toEqual(
      expect.arrayContaining([
        [`hold:${calls[0]!.requestId}`, 1_000n, 'SETTLED', 400n, `settle:${calls[0]!.requestId}`, wallet.id, revenue],
        [`hold:${calls[1]!.requestId}`, 1_000n, 'SETTLED', 1_000n, `settle:${calls[1]!.requestId}`, wallet.id, revenue],
        [`hold:${calls[2]!.requestId}`, 500n, 'RELEASED', null, `release:${calls[2]!.requestId}`, wallet.id, revenue],
      ]),
    );
    for (const c of calls) expect(await t.db.usageRecord.findUnique({ where: { requestId: c.requestId } })).toEqual(c.usage);
    // The calls' rules too: one usage row a call, its cost what its hold posted.
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('closes: what is left goes back to the wallet, and the budget and the request to the key', async () => {
    const { user, wallet, keyId, quota, grant } = await openGrant(5_000n, 2_000n);
    const first = await ledger.postGrant({ grant, quota, calls: [call(user.id, keyId, 600n, 250n)], close: false });
    // 2,000 - 250 = 1,750 left; closing with one more call of cost 100 releases 1,650.
    const closed = await ledger.postGrant({ grant: first.grant!, quota, calls: [call(user.id, keyId, 600n, 100n)], close: true });
    expect(closed).toEqual({ grant: null, wallet: { id: wallet.id, balance: 4_650n, available: 4_650n }, replayed: false });
    expect(await t.db.hold.findUniqueOrThrow({ where: { id: grant.id } })).toMatchObject({ status: 'RELEASED', amount: 1_650n, settledAmount: null, resolveIdempotencyKey: `close:${grant.id}` });
    // Two calls served; the grant's own request given back; committed = spent once nothing is held.
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 2, committedToday: 350n, spentToday: 350n });
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('gives back money no call holds while staying open, once', async () => {
    const { user, wallet, keyId, quota, grant } = await openGrant(5_000n, 3_000n);
    // One call of cost 200 posted and 1,000 given back: 3,000 - 200 - 1,000 = 1,800 stay held.
    const posted = await ledger.postGrant({ grant, quota, calls: [call(user.id, keyId, 500n, 200n)], release: 1_000n, close: false });
    expect(posted).toEqual({ grant: { ...grant, amount: 1_800n }, wallet: { id: wallet.id, balance: 4_800n, available: 3_000n }, replayed: false });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 2, committedToday: 2_000n, spentToday: 200n });
    // Nothing but a release, replayed: applied once.
    const shrunk = await ledger.postGrant({ grant: posted.grant!, quota, calls: [], release: 800n, close: false });
    expect(shrunk.grant).toEqual({ ...grant, amount: 1_000n });
    expect(await ledger.postGrant({ grant: posted.grant!, quota, calls: [], release: 800n, close: false })).toMatchObject({ grant: { amount: 1_000n }, replayed: true });
    expect(await balances(wallet.id)).toEqual({ balance: 4_800n, available: 3_800n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 2, committedToday: 1_200n, spentToday: 200n });
    // More than is left, calls and release together: refused.
    expect((await rejection(ledger.postGrant({ grant: shrunk.grant!, quota, calls: [call(user.id, keyId, 600n, 600n)], release: 401n, close: false }))).code).toBe('settle_exceeds_hold');
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('says whether a grant may still be drawn on: not once its key is revoked, its budget lowered below it, or it is closed', async () => {
    const { keyId, quota, grant } = await openGrant(5_000n, 1_000n);
    expect(await ledger.checkGrant(grant, quota)).toBe(true);
    expect(await ledger.checkGrant(grant, { ...quota, day: '2030-01-11' })).toBe(false);
    await t.db.apiKey.update({ where: { id: keyId }, data: { dailyBudget: 999n } });
    expect(await ledger.checkGrant(grant, quota)).toBe(false);
    await t.db.apiKey.update({ where: { id: keyId }, data: { dailyBudget: 1_000n } });
    expect(await ledger.checkGrant(grant, quota)).toBe(true);
    await t.db.apiKey.update({ where: { id: keyId }, data: { revokedAt: new Date() } });
    expect(await ledger.checkGrant(grant, quota)).toBe(false);
    await t.db.apiKey.update({ where: { id: keyId }, data: { revokedAt: null } });
    await ledger.postGrant({ grant, quota, calls: [], close: true });
    expect(await ledger.checkGrant(grant, quota)).toBe(false);
  });

  it('closes a grant with no calls to post, as a release', async () => {
    const { wallet, keyId, quota, grant } = await openGrant(1_000n, 800n);
    const closed = await ledger.postGrant({ grant, quota, calls: [], close: true });
    expect(closed.wallet).toEqual({ id: wallet.id, balance: 1_000n, available: 1_000n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 0, committedToday: 0n, spentToday: 0n });
    // Replayed (the answer lost): nothing moves again.
    expect(await ledger.postGrant({ grant, quota, calls: [], close: true })).toMatchObject({ replayed: true });
    expect(await balances(wallet.id)).toEqual({ balance: 1_000n, available: 1_000n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 0, committedToday: 0n, spentToday: 0n });
  });

  it('applies a posting once: replayed with the same calls, it changes nothing', async () => {
    const { user, wallet, keyId, quota, grant } = await openGrant(2_000n, 1_000n);
    const calls = [call(user.id, keyId, 300n, 120n)];
    await ledger.postGrant({ grant, quota, calls, close: false });
    const again = await ledger.postGrant({ grant, quota, calls, close: false });
    expect(again).toEqual({ grant: { ...grant, amount: 880n }, wallet: { id: wallet.id, balance: 1_880n, available: 1_000n }, replayed: true });
    expect(await balances(wallet.id)).toEqual({ balance: 1_880n, available: 1_000n });
    expect(await t.db.usageRecord.count({ where: { userId: user.id } })).toBe(1);
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 2, committedToday: 1_000n, spentToday: 120n });
  });

  it('refuses a call that cost more than it drew, or calls that cost more than the grant, writing nothing', async () => {
    const { user, wallet, keyId, quota, grant } = await openGrant(2_000n, 500n);
    expect((await rejection(ledger.postGrant({ grant, quota, calls: [call(user.id, keyId, 100n, 101n)], close: false }))).code).toBe('settle_exceeds_hold');
    expect((await rejection(ledger.postGrant({ grant, quota, calls: [call(user.id, keyId, 300n, 300n), call(user.id, keyId, 300n, 201n)], close: false }))).code).toBe('settle_exceeds_hold');
    const released = call(user.id, keyId, 100n, 0n, 'RELEASED');
    expect((await rejection(ledger.postGrant({ grant, quota, calls: [{ ...released, cost: 1n, usage: { ...released.usage, cost: 1n } }], close: false }))).code).toBe('invalid_transaction');
    const mismatched = call(user.id, keyId, 100n, 50n);
    expect((await rejection(ledger.postGrant({ grant, quota, calls: [{ ...mismatched, usage: { ...mismatched.usage, cost: 40n } }], close: false }))).code).toBe('invalid_transaction');
    expect(await balances(wallet.id)).toEqual({ balance: 2_000n, available: 1_500n });
    expect(await t.db.usageRecord.count({ where: { userId: user.id } })).toBe(0);
  });

  it('refuses a stale reference to the grant, and a grant the sweeper released (its instance presumed dead)', async () => {
    const { user, wallet, keyId, quota, grant } = await openGrant(3_000n, 1_000n);
    await ledger.postGrant({ grant, quota, calls: [call(user.id, keyId, 200n, 200n)], close: false });
    // The amount given is from before that posting: refused, not applied against the wrong figure.
    expect((await rejection(ledger.postGrant({ grant, quota, calls: [call(user.id, keyId, 200n, 50n)], close: false }))).code).toBe('hold_already_resolved');

    // The sweeper releases what is left (800) and gives the key its budget and request back.
    await ledger.releaseExpiredHolds({ now: new Date(Date.now() + 120_000), limit: 1_000 });
    expect(await balances(wallet.id)).toEqual({ balance: 2_800n, available: 2_800n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 200n, spentToday: 200n });
    const late = call(user.id, keyId, 200n, 50n);
    expect((await rejection(ledger.postGrant({ grant: { ...grant, amount: 800n }, quota, calls: [late], close: true }))).code).toBe('hold_expired');
    expect(await t.db.usageRecord.findUnique({ where: { requestId: late.requestId } })).toBeNull();
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('posts any number of calls (chunked rows: 32 + 8 + 1)', async () => {
    const { user, wallet, keyId, quota, grant } = await openGrant(100_000n, 50_000n);
    const calls = Array.from({ length: 41 }, (_, i) => call(user.id, keyId, 1_000n, BigInt(i * 10)));
    // 10 × (0 + 1 + … + 40) = 8,200.
    const posted = await ledger.postGrant({ grant, quota, calls, close: true });
    expect(posted.wallet).toEqual({ id: wallet.id, balance: 91_800n, available: 91_800n });
    expect(await t.db.usageRecord.count({ where: { userId: user.id } })).toBe(41);
    expect(await t.db.hold.count({ where: { id: { in: calls.map((c) => c.holdId) }, status: 'SETTLED' } })).toBe(41);
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 41, committedToday: 8_200n, spentToday: 8_200n });
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('never lets the wallet go below zero while postings race reservations on it', async () => {
    // Wallet 2,000: a grant of 1,000, then 40 reservations of 100 race 10 postings of 100 each.
    const { user, wallet, keyId, quota, grant } = await openGrant(2_000n, 1_000n);
    let ref = grant;
    const postings = (async () => {
      for (let i = 0; i < 10; i++) ref = (await ledger.postGrant({ grant: ref, quota, calls: [call(user.id, keyId, 100n, 100n)], close: i === 9 })).grant ?? ref;
    })();
    const reservations = Array.from({ length: 40 }, (_, i) =>
      ledger.reserve({ idempotencyKey: `race-${i}-${user.id}`, sources: [wallet.id], creditAccountId: revenue, amount: 100n, ttlMs: 60_000 }).then(
        () => true,
        (e: unknown) => (e instanceof LedgerError && e.code === 'insufficient_funds' ? false : Promise.reject(e)),
      ),
    );
    const [, ...won] = await Promise.all([postings, ...reservations]);
    // The grant spent all 1,000 of its own, so the other 1,000 paid exactly ten reservations.
    expect(won.filter(Boolean)).toHaveLength(10);
    expect(await balances(wallet.id)).toEqual({ balance: 1_000n, available: 0n });
    expect((await auditLedger(t.db, { calls: false })).problems).toEqual([]);
  });
});
