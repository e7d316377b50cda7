import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { sqlFor } from '../lib/db/client';
import { driverErrorKind, sql, statement } from '../lib/db/sql';
import { newId } from '../lib/ids';
import { logger } from '../lib/logger';
import { Ledger, LedgerError, SYSTEM_ACCOUNTS, auditLedger } from '../lib/ledger';
import { DailyQuotaRefused, GROUPS_PER_QUERY, type UsageRow } from '../lib/ledger/holds';
import { createTestDatabase, testProvider, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';

// The hold API over one or many sources (pack lots, then the wallet), with what rides along in the
// same transaction: an API key's daily quota and the call's usage row. Every expected amount below
// is worked out by hand from the balances the test sets up.

let t: TestDatabase;
let ledger: Ledger;
const revenue = SYSTEM_ACCOUNTS.revenue.id;
const promo = SYSTEM_ACCOUNTS.promo.id;

beforeAll(async () => {
  t = await createTestDatabase();
  ledger = new Ledger(t.db);
});
afterAll(() => t.close());

// Quota days are compared as strings: fixed days keep the tests off the clock.
const DAY = '2030-01-10';
const EARLIER = '2030-01-09';
const LATER = '2030-01-11';

/** The money only: the usage rows ridden along here are the ledger's riders, not gateway calls with `hold:<request>` keys. */
async function expectAuditClean() {
  expect((await auditLedger(t.db, { calls: false })).problems).toEqual([]);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a refusal'),
    (e: unknown) => e,
  );
}

async function ledgerError(promise: Promise<unknown>): Promise<LedgerError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(LedgerError);
  return error as LedgerError;
}

/**
 * A pack lot holding `faceValue`, created as lib/packs/packs.ts buys one: the lot's account and
 * PackLot row in the transfer's own transaction (`before`), the credit from the promo account.
 */
async function createLot(userId: string, faceValue: bigint): Promise<{ lotId: string; accountId: string }> {
  const lotId = newId('lot');
  const accountId = `acc_lot_${lotId}`;
  const now = new Date();
  await ledger.transfer(
    {
      idempotencyKey: `test-lot:${lotId}`,
      kind: 'pack_purchase',
      entries: [
        { accountId: promo, amount: -faceValue },
        { accountId, amount: faceValue },
      ],
    },
    undefined,
    {
      before: async (tx) => {
        await tx.execute(sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${accountId}, 'PACK_LOT', ${`lot:${lotId}`}, ${userId}, 0, 0, ${now}, ${now})`);
        await tx.execute(
          sql`INSERT INTO "PackLot" ("id", "userId", "packId", "accountId", "faceValue", "scopeProviderId", "scopeModelId", "status", "purchasedAt", "expiresAt") VALUES (${lotId}, ${userId}, 'pk_local_2', ${accountId}, ${faceValue}, ${null}, ${'tollgate-local'}, 'ACTIVE', ${now}, ${new Date(now.getTime() + 30 * 86_400_000)})`,
        );
      },
    },
  );
  return { lotId, accountId };
}

async function lotStatus(lotId: string) {
  return (await t.db.packLot.findUniqueOrThrow({ where: { id: lotId } })).status;
}

async function account(id: string) {
  const { balance, available } = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id } });
  return { balance, available };
}

/** The holds a reservation key wrote, whatever their shape: none after a refusal. */
async function holdsWritten(idempotencyKey: string) {
  return t.db.hold.count({ where: { OR: [{ idempotencyKey }, { idempotencyKey: { startsWith: `${idempotencyKey}:` } }, { groupId: idempotencyKey }] } });
}

type KeyCounters = { usageDay?: string; requestsToday?: number; committedToday?: bigint; spentToday?: bigint };

async function createKey(userId: string, data: KeyCounters & { dailyRequestLimit?: number | null; dailyBudget?: bigint | null; revokedAt?: Date | null } = {}) {
  const id = newId('key');
  await t.db.apiKey.create({ data: { id, userId, name: 'quota test', hash: `hash-${id}`, prefix: 'tg_test', lastFour: 'abcd', ...data } });
  return id;
}

async function keyCounters(keyId: string) {
  const k = await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } });
  return { usageDay: k.usageDay, requestsToday: k.requestsToday, committedToday: k.committedToday, spentToday: k.spentToday };
}

function usageRow(userId: string, apiKeyId: string | null, cost: bigint, status: UsageRow['status'] = 'SUCCESS'): UsageRow {
  return {
    id: newId('usg'),
    requestId: newId('req'),
    userId,
    apiKeyId,
    modelId: 'tollgate-local',
    providerId: 'local',
    stream: true,
    promptTokens: 12,
    completionTokens: 34,
    cachedTokens: 5,
    cost,
    latencyMs: 321,
    status,
    // Only a pool-served settlement names a pool (test/seller-routing.test.ts); the row stores null.
    sellerPoolId: null,
    errorCode: status === 'SUCCESS' ? null : 'upstream_error',
    createdAt: new Date('2030-01-10T12:34:56.789Z'),
  };
}

const reserveInput = (idempotencyKey: string, sources: string[], amount: bigint) => ({ idempotencyKey, sources, creditAccountId: revenue, amount, ttlMs: 60_000 });

describe('a reservation from one source, alone (PostgreSQL: the single-call fast path)', () => {
  it('naming an account that does not exist, fails as account_not_found and writes nothing', async () => {
    const key = `missing-${newId('req')}`;
    const error = await ledgerError(ledger.reserve(reserveInput(key, ['acc_does_not_exist'], 100n)));
    expect(error.code).toBe('account_not_found');
    expect(await holdsWritten(key)).toBe(0);
  });

  it('waits for a writer of its account and is paid from the money that writer freed', async () => {
    // One connection runs SQLite's writes one after another: no writer is ever midway.
    if (testProvider() !== 'postgresql') return expect(testProvider()).toBe('sqlite');
    const { wallet } = await createFundedUser(t.db, 1_000n);
    const first = await ledger.reserve(reserveInput(`first-${wallet.id}`, [wallet.id], 800n));
    const runner = sqlFor(t.db);
    const now = new Date().toISOString().replace('Z', '');
    // Another connection releases the first hold and holds its transaction open: the wallet's row
    // stays locked, the 800 it frees not yet committed.
    let released!: () => void;
    const releasedOpen = new Promise<void>((resolve) => (released = resolve));
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => (commit = resolve));
    const releasing = runner.transaction(async (tx) => {
      await tx.query(
        statement("SELECT * FROM tollgate_resolve(?::text[], ?::text[], ?::text[], ?::bigint[], 'RELEASED', '{0}'::bigint[], ?::text[], '{NULL}'::text[], '{}'::text[], NULL, ?::timestamp(3), NULL, NULL, NULL)", [
          `{${first.holds[0]!.id}}`,
          `{${wallet.id}}`,
          `{${revenue}}`,
          '{800}',
          `{release-${wallet.id}}`,
          now,
        ]),
      );
      released();
      await committed;
    });
    await releasedOpen;
    let answered = false;
    const second = ledger.reserve(reserveInput(`second-${wallet.id}`, [wallet.id], 900n)).finally(() => (answered = true));
    second.catch(() => undefined);
    // The release commits once the reservation waits for the wallet's lock, or has answered
    // without waiting (which fails below: it decided on the balance from before the release).
    const waiting = async () => (await runner.query(statement("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", [])))[0]!.n as number;
    for (let tries = 0; !answered && (await waiting()) === 0; tries++) {
      if (tries === 500) throw new Error('the reservation neither answered nor waited for the lock');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    commit();
    await releasing;
    expect((await second).holds).toMatchObject([{ debitAccountId: wallet.id, amount: 900n, status: 'PENDING' }]);
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 100n });
    await expectAuditClean();
  });
});

describe('a reservation over several sources', () => {
  it('draws the lots in order, then the wallet: one hold per source, for what each gives', async () => {
    const { user, wallet } = await createFundedUser(t.db, 10_000n);
    const a = await createLot(user.id, 300n);
    const b = await createLot(user.id, 500n);
    const key = `multi-${user.id}`;
    const before = Date.now();
    const reservation = await ledger.reserve(reserveInput(key, [a.accountId, b.accountId, wallet.id], 1_000n));
    expect(reservation.replayed).toBe(false);
    expect(reservation.counters).toBeNull();
    // 300 (all of lot A) + 500 (all of lot B) + 200 (the rest, from the wallet) = 1,000.
    expect(reservation.holds.map((h) => [h.debitAccountId, h.amount, h.status])).toEqual([
      [a.accountId, 300n, 'PENDING'],
      [b.accountId, 500n, 'PENDING'],
      [wallet.id, 200n, 'PENDING'],
    ]);
    expect(reservation.holds.every((h) => h.creditAccountId === revenue && h.expiresAt.getTime() >= before + 60_000 - 1_000)).toBe(true);
    const rows = await t.db.hold.findMany({ where: { groupId: key }, orderBy: { idempotencyKey: 'asc' } });
    expect(rows.map((h) => [h.id, h.idempotencyKey, h.debitAccountId, h.amount])).toEqual([
      [reservation.holds[0]!.id, key, a.accountId, 300n],
      [reservation.holds[1]!.id, `${key}:1`, b.accountId, 500n],
      [reservation.holds[2]!.id, `${key}:2`, wallet.id, 200n],
    ]);
    expect(await account(a.accountId)).toEqual({ balance: 300n, available: 0n });
    expect(await account(b.accountId)).toEqual({ balance: 500n, available: 0n });
    expect(await account(wallet.id)).toEqual({ balance: 10_000n, available: 9_800n });
    await expectAuditClean();
  });

  it('stops when the lots cover it (the wallet gets no hold) and skips a source with nothing available', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 800n);
    const covered = await ledger.reserve(reserveInput(`cover-${user.id}`, [lot.accountId, wallet.id], 600n));
    expect(covered.holds.map((h) => [h.debitAccountId, h.amount])).toEqual([[lot.accountId, 600n]]);
    expect((await ledger.getHoldByKey(`cover-${user.id}`))?.id).toBe(covered.holds[0]!.id);
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 1_000n });

    // The lot has 200 left: it gives 200, the wallet 50.
    const split = await ledger.reserve(reserveInput(`split-${user.id}`, [lot.accountId, wallet.id], 250n));
    expect(split.holds.map((h) => [h.debitAccountId, h.amount])).toEqual([
      [lot.accountId, 200n],
      [wallet.id, 50n],
    ]);
    // Now the lot has nothing available: the wallet pays everything, under the reservation's own key
    // (the first hold made carries it, whichever source made it).
    const skipped = await ledger.reserve(reserveInput(`skip-${user.id}`, [lot.accountId, wallet.id], 70n));
    expect(skipped.holds.map((h) => [h.debitAccountId, h.amount])).toEqual([[wallet.id, 70n]]);
    expect((await ledger.getHoldByKey(`skip-${user.id}`))?.id).toBe(skipped.holds[0]!.id);
    expect(await ledger.getHoldByKey(`skip-${user.id}:1`)).toBeNull();
    expect(await account(lot.accountId)).toEqual({ balance: 800n, available: 0n });
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 880n });
    await expectAuditClean();
  });

  it('is all or nothing: when the sources together fall short, no hold is written and no balance or counter moves', async () => {
    const { user, wallet } = await createFundedUser(t.db, 100n);
    const a = await createLot(user.id, 300n);
    const b = await createLot(user.id, 500n);
    const keyId = await createKey(user.id, { dailyRequestLimit: 10, dailyBudget: 1_000_000n, usageDay: DAY, requestsToday: 4, committedToday: 7_000n, spentToday: 6_000n });
    const holdsBefore = await t.db.hold.count();
    const key = `short-${user.id}`;
    // 300 + 500 + 100 = 900 < 1,000.
    const error = await ledgerError(ledger.reserve({ ...reserveInput(key, [a.accountId, b.accountId, wallet.id], 1_000n), quota: { keyId, day: DAY } }));
    expect(error.code).toBe('insufficient_funds');
    expect(await holdsWritten(key)).toBe(0);
    expect(await t.db.hold.count()).toBe(holdsBefore);
    expect(await account(a.accountId)).toEqual({ balance: 300n, available: 300n });
    expect(await account(b.accountId)).toEqual({ balance: 500n, available: 500n });
    expect(await account(wallet.id)).toEqual({ balance: 100n, available: 100n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 4, committedToday: 7_000n, spentToday: 6_000n });

    // A missing source in the middle undoes the hold already written on the first.
    const missing = await ledgerError(ledger.reserve(reserveInput(`${key}-missing`, [a.accountId, 'acc_lot_missing', wallet.id], 350n)));
    expect(missing.code).toBe('account_not_found');
    expect(await holdsWritten(`${key}-missing`)).toBe(0);
    expect(await account(a.accountId)).toEqual({ balance: 300n, available: 300n });

    // Exactly 900 fits.
    const exact = await ledger.reserve(reserveInput(`${key}-exact`, [a.accountId, b.accountId, wallet.id], 900n));
    expect(exact.holds.map((h) => h.amount)).toEqual([300n, 500n, 100n]);
    await expectAuditClean();
  });

  it('a replay returns the same holds, in order, even once they are settled; another request under the key conflicts', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 300n);
    const input = reserveInput(`replay-${user.id}`, [lot.accountId, wallet.id], 500n);
    const first = await ledger.reserve(input);
    expect(first.holds.map((h) => h.amount)).toEqual([300n, 200n]);
    const second = await ledger.reserve(input);
    expect(second.replayed).toBe(true);
    expect(second.counters).toBeNull();
    expect(second.holds.map((h) => [h.id, h.debitAccountId, h.amount, h.status])).toEqual(first.holds.map((h) => [h.id, h.debitAccountId, h.amount, 'PENDING']));
    // Nothing held twice.
    expect(await account(lot.accountId)).toEqual({ balance: 300n, available: 0n });
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 800n });

    await ledger.settle({ holds: first.holds, amount: 500n, idempotencyKey: `replay-s-${user.id}` });
    const third = await ledger.reserve(input);
    expect(third.replayed).toBe(true);
    expect(third.holds.map((h) => [h.id, h.status, h.settledAmount])).toEqual([
      [first.holds[0]!.id, 'SETTLED', 300n],
      [first.holds[1]!.id, 'SETTLED', 200n],
    ]);
    expect(await account(wallet.id)).toEqual({ balance: 800n, available: 800n });

    expect((await ledgerError(ledger.reserve({ ...input, amount: 400n }))).code).toBe('idempotency_conflict');
    const other = await createFundedUser(t.db, 1_000n);
    expect((await ledgerError(ledger.reserve({ ...input, sources: [lot.accountId, other.wallet.id] }))).code).toBe('idempotency_conflict');
    expect(await account(other.wallet.id)).toEqual({ balance: 1_000n, available: 1_000n });
    expect(await holdsWritten(input.idempotencyKey)).toBe(2);
    await expectAuditClean();
  });

  // A replay finds the reservation by its key, which the first hold made carries, whichever source gave it.
  it('a replay finds the holds even when the first source gave nothing', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 100n);
    await ledger.reserve(reserveInput(`drain-${user.id}`, [lot.accountId], 100n));
    const input = reserveInput(`replay0-${user.id}`, [lot.accountId, wallet.id], 250n);
    const first = await ledger.reserve(input);
    expect(first.holds.map((h) => [h.debitAccountId, h.amount])).toEqual([[wallet.id, 250n]]);
    const second = await ledger.reserve(input);
    expect(second).toMatchObject({ replayed: true, holds: [{ id: first.holds[0]!.id, amount: 250n }] });
  });

  // Whatever the number of sources, the first hold is keyed by the reservation's key: a second use collides.
  it('a key used for several sources cannot reserve again with one source', async () => {
    const { wallet } = await createFundedUser(t.db, 1_000n);
    const other = await createFundedUser(t.db, 1_000n);
    const key = `shape-${wallet.id}`;
    await ledger.reserve(reserveInput(key, [other.wallet.id, wallet.id], 1_500n));
    expect((await ledgerError(ledger.reserve(reserveInput(key, [wallet.id], 200n)))).code).toBe('idempotency_conflict');
    expect(await holdsWritten(key)).toBe(2);
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 500n });
  });

  it('concurrent reservations drawing two lots in opposite orders, then the wallet: exactly the pool, no deadlock', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const a = await createLot(user.id, 1_000n);
    const b = await createLot(user.id, 1_000n);
    // 3,000 in all, 300 a call: exactly 10 of 40 fit.
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        ledger.reserve(reserveInput(`opp-${user.id}-${i}`, i % 2 === 0 ? [a.accountId, b.accountId, wallet.id] : [b.accountId, a.accountId, wallet.id], 300n)),
      ),
    );
    const reserved = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(reserved).toHaveLength(10);
    expect(refused.every((e) => e instanceof LedgerError && e.code === 'insufficient_funds')).toBe(true);
    expect(reserved.every((r) => r.holds.reduce((sum, h) => sum + h.amount, 0n) === 300n)).toBe(true);
    for (const id of [a.accountId, b.accountId, wallet.id]) expect(await account(id)).toEqual({ balance: 1_000n, available: 0n });

    // Settle them all in full, concurrently: every account is emptied, and both lots with it.
    await Promise.all(reserved.map((r, i) => ledger.settle({ holds: r.holds, amount: 300n, idempotencyKey: `opp-s-${user.id}-${i}` })));
    for (const id of [a.accountId, b.accountId, wallet.id]) expect(await account(id)).toEqual({ balance: 0n, available: 0n });
    expect([await lotStatus(a.lotId), await lotStatus(b.lotId)]).toEqual(['EXHAUSTED', 'EXHAUSTED']);
    await expectAuditClean();
  });
});

describe('settling and releasing several holds', () => {
  it('settle draws the shares in hold order and returns the rest; the lot drawn to zero is EXHAUSTED', async () => {
    const { user, wallet } = await createFundedUser(t.db, 10_000n);
    const a = await createLot(user.id, 300n);
    const b = await createLot(user.id, 500n);
    const { holds } = await ledger.reserve(reserveInput(`sh-${user.id}`, [a.accountId, b.accountId, wallet.id], 1_000n));
    const revenueBefore = (await account(revenue)).balance;

    // 650 = 300 (all of A's hold) + 350 (of B's 500) + 0 (of the wallet's 200).
    const settled = await ledger.settle({ holds, amount: 650n, idempotencyKey: `sh-s-${user.id}`, memo: 'three sources' });
    expect(settled.replayed).toBe(false);
    expect(settled.shares).toEqual([300n, 350n, 0n]);
    expect(settled.holds.map((h) => [h.id, h.status, h.settledAmount])).toEqual([
      [holds[0]!.id, 'SETTLED', 300n],
      [holds[1]!.id, 'SETTLED', 350n],
      [holds[2]!.id, 'SETTLED', 0n],
    ]);
    expect(settled.accounts).toEqual([
      { id: a.accountId, balance: 0n, available: 0n },
      { id: b.accountId, balance: 150n, available: 150n },
      { id: wallet.id, balance: 10_000n, available: 10_000n },
    ]);
    expect(await account(a.accountId)).toEqual({ balance: 0n, available: 0n });
    expect(await account(b.accountId)).toEqual({ balance: 150n, available: 150n });
    expect(await account(wallet.id)).toEqual({ balance: 10_000n, available: 10_000n });
    expect((await account(revenue)).balance).toBe(revenueBefore + 650n);
    expect(await lotStatus(a.lotId)).toBe('EXHAUSTED');
    expect(await lotStatus(b.lotId)).toBe('ACTIVE');

    // Each hold is its own posting (its settled amount from its source to revenue): no settle
    // transaction, no entries.
    const rows = await t.db.hold.findMany({ where: { groupId: `sh-${user.id}` }, orderBy: { idempotencyKey: 'asc' } });
    expect(rows.map((h) => [h.status, h.debitAccountId, h.creditAccountId, h.settledAmount, h.resolveIdempotencyKey, h.transactionId])).toEqual([
      ['SETTLED', a.accountId, revenue, 300n, `sh-s-${user.id}`, null],
      ['SETTLED', b.accountId, revenue, 350n, `sh-s-${user.id}:1`, null],
      ['SETTLED', wallet.id, revenue, 0n, `sh-s-${user.id}:2`, null],
    ]);
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: { startsWith: `settle:sh-s-${user.id}` } } })).toBe(0);

    const replay = await ledger.settle({ holds, amount: 650n, idempotencyKey: `sh-s-${user.id}` });
    expect(replay).toMatchObject({ replayed: true, accounts: null });
    expect(replay.holds.map((h) => h.settledAmount)).toEqual([300n, 350n, 0n]);
    expect((await account(revenue)).balance).toBe(revenueBefore + 650n);
    expect((await ledgerError(ledger.settle({ holds, amount: 650n, idempotencyKey: `sh-other-${user.id}` }))).code).toBe('hold_already_resolved');
    await expectAuditClean();
  });

  it('the sweeper expires every hold of more crashed calls than one of its group queries takes', async () => {
    const { user, wallet } = await createFundedUser(t.db, 10_000n);
    const calls = GROUPS_PER_QUERY * 2 + 3;
    const lots = await Promise.all(Array.from({ length: calls }, () => createLot(user.id, 10n)));
    for (const [i, lot] of lots.entries()) {
      const { holds } = await ledger.reserve({ ...reserveInput(`many-${i}-${user.id}`, [lot.accountId, wallet.id], 30n), ttlMs: 1 });
      expect(holds.map((h) => h.amount)).toEqual([10n, 20n]);
    }
    expect(await account(wallet.id)).toEqual({ balance: 10_000n, available: 10_000n - 20n * BigInt(calls) });
    await ledger.releaseExpiredHolds({ now: new Date(Date.now() + 60_000), limit: 1_000 });
    expect(await t.db.hold.count({ where: { groupId: { startsWith: 'many-' }, status: 'PENDING', debitAccountId: { in: [wallet.id, ...lots.map((l) => l.accountId)] } } })).toBe(0);
    expect(await account(wallet.id)).toEqual({ balance: 10_000n, available: 10_000n });
    for (const lot of lots) expect(await account(lot.accountId)).toEqual({ balance: 10n, available: 10n });
    await expectAuditClean();
  });

  it('a lot is EXHAUSTED only when a settlement leaves its balance at zero, not while a hold keeps it unavailable', async () => {
    const { user } = await createFundedUser(t.db, 0n);
    const lot = await createLot(user.id, 500n);
    const [first] = (await ledger.reserve(reserveInput(`ex1-${user.id}`, [lot.accountId], 300n))).holds;
    const [second] = (await ledger.reserve(reserveInput(`ex2-${user.id}`, [lot.accountId], 200n))).holds;
    expect(await account(lot.accountId)).toEqual({ balance: 500n, available: 0n });

    // 500 − 300 = 200 left (held by the second call): still ACTIVE.
    await ledger.settle({ holds: [first!], amount: 300n, idempotencyKey: `ex1-s-${user.id}` });
    expect(await account(lot.accountId)).toEqual({ balance: 200n, available: 0n });
    expect(await lotStatus(lot.lotId)).toBe('ACTIVE');
    // A release puts the 200 back: still ACTIVE.
    await ledger.release({ holds: [second!], idempotencyKey: `ex2-r-${user.id}` });
    expect(await lotStatus(lot.lotId)).toBe('ACTIVE');
    // Settling 199 of 200 leaves 1: ACTIVE; the last 1 empties it: EXHAUSTED.
    const [third] = (await ledger.reserve(reserveInput(`ex3-${user.id}`, [lot.accountId], 200n))).holds;
    await ledger.settle({ holds: [third!], amount: 199n, idempotencyKey: `ex3-s-${user.id}` });
    expect(await lotStatus(lot.lotId)).toBe('ACTIVE');
    const [last] = (await ledger.reserve(reserveInput(`ex4-${user.id}`, [lot.accountId], 1n))).holds;
    const settled = await ledger.settle({ holds: [last!], amount: 1n, idempotencyKey: `ex4-s-${user.id}` });
    expect(settled.accounts).toEqual([{ id: lot.accountId, balance: 0n, available: 0n }]);
    expect(await lotStatus(lot.lotId)).toBe('EXHAUSTED');
    await expectAuditClean();
  });

  it('release of a multi-hold reservation returns every hold whole and posts nothing; the sweeper expires each hold', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 300n);
    const { holds } = await ledger.reserve(reserveInput(`rel-${user.id}`, [lot.accountId, wallet.id], 500n));
    expect(holds.map((h) => h.amount)).toEqual([300n, 200n]);
    const transactionsBefore = await t.db.ledgerTransaction.count();

    const released = await ledger.release({ holds, idempotencyKey: `rel-r-${user.id}` });
    expect(released.replayed).toBe(false);
    expect(released.shares).toEqual([0n, 0n]);
    expect(released.holds.map((h) => [h.id, h.status, h.settledAmount])).toEqual([
      [holds[0]!.id, 'RELEASED', null],
      [holds[1]!.id, 'RELEASED', null],
    ]);
    expect(released.accounts).toEqual([
      { id: lot.accountId, balance: 300n, available: 300n },
      { id: wallet.id, balance: 1_000n, available: 1_000n },
    ]);
    expect(await t.db.ledgerTransaction.count()).toBe(transactionsBefore);
    expect(await lotStatus(lot.lotId)).toBe('ACTIVE');
    expect((await t.db.hold.findMany({ where: { groupId: `rel-${user.id}` } })).map((h) => h.status)).toEqual(['RELEASED', 'RELEASED']);

    expect(await ledger.release({ holds, idempotencyKey: `rel-r-${user.id}` })).toMatchObject({ replayed: true, accounts: null });
    expect((await ledgerError(ledger.settle({ holds, amount: 1n, idempotencyKey: `rel-s-${user.id}` }))).code).toBe('hold_already_resolved');

    // Released as EXPIRED by the caller, or by the sweeper one hold at a time.
    const asExpired = await ledger.reserve(reserveInput(`relx-${user.id}`, [lot.accountId, wallet.id], 400n));
    expect((await ledger.release({ holds: asExpired.holds, idempotencyKey: `relx-r-${user.id}`, as: 'EXPIRED' })).holds.map((h) => h.status)).toEqual(['EXPIRED', 'EXPIRED']);
    const crashed = await ledger.reserve({ ...reserveInput(`relc-${user.id}`, [lot.accountId, wallet.id], 450n), ttlMs: 1 });
    expect(crashed.holds.map((h) => h.amount)).toEqual([300n, 150n]);
    expect(await ledger.releaseExpiredHolds({ now: new Date(Date.now() + 60_000) })).toBeGreaterThanOrEqual(2);
    expect((await t.db.hold.findMany({ where: { groupId: `relc-${user.id}` } })).map((h) => h.status)).toEqual(['EXPIRED', 'EXPIRED']);
    expect(await account(lot.accountId)).toEqual({ balance: 300n, available: 300n });
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 1_000n });
    await expectAuditClean();
  });
});

describe('the daily quota rider', () => {
  it('takes one request and the amount with the reservation, and gives back exactly the unspent part on settle and all of it on release', async () => {
    const { user, wallet } = await createFundedUser(t.db, 50_000n);
    const keyId = await createKey(user.id, { dailyRequestLimit: 10, dailyBudget: 10_000n, usageDay: DAY, requestsToday: 2, committedToday: 1_000n, spentToday: 700n });
    const quota = { keyId, day: DAY };

    const r1 = await ledger.reserve({ ...reserveInput(`q1-${user.id}`, [wallet.id], 3_000n), quota });
    expect(r1.counters).toEqual({ requestsToday: 3, committedToday: 4_000n, spentToday: 700n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 3, committedToday: 4_000n, spentToday: 700n });
    expect((await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).lastUsedAt).toBeNull();

    // Settle 1,200 of 3,000: committed 4,000 − 1,800 = 2,200; spent 700 + 1,200 = 1,900.
    const beforeSettle = Date.now();
    await ledger.settle({ holds: r1.holds, amount: 1_200n, idempotencyKey: `q1-s-${user.id}`, quota });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 3, committedToday: 2_200n, spentToday: 1_900n });
    const lastUsedAt = (await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).lastUsedAt;
    expect(lastUsedAt!.getTime()).toBeGreaterThanOrEqual(beforeSettle - 1_000);
    // A replayed settle gives nothing back twice.
    expect((await ledger.settle({ holds: r1.holds, amount: 1_200n, idempotencyKey: `q1-s-${user.id}`, quota })).replayed).toBe(true);
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 3, committedToday: 2_200n, spentToday: 1_900n });

    // Reserve 500 and release it: the request and the 500 come back, lastUsedAt stays.
    const r2 = await ledger.reserve({ ...reserveInput(`q2-${user.id}`, [wallet.id], 500n), quota });
    expect(r2.counters).toEqual({ requestsToday: 4, committedToday: 2_700n, spentToday: 1_900n });
    await ledger.release({ holds: r2.holds, idempotencyKey: `q2-r-${user.id}`, quota });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 3, committedToday: 2_200n, spentToday: 1_900n });
    expect((await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).lastUsedAt).toEqual(lastUsedAt);

    // Over a lot and the wallet: the quota counts the whole amount once. 1,000 = 300 (lot) + 700 (wallet).
    const lot = await createLot(user.id, 300n);
    const r3 = await ledger.reserve({ ...reserveInput(`q3-${user.id}`, [lot.accountId, wallet.id], 1_000n), quota });
    expect(r3.holds.map((h) => h.amount)).toEqual([300n, 700n]);
    expect(r3.counters).toEqual({ requestsToday: 4, committedToday: 3_200n, spentToday: 1_900n });
    // A replayed reservation takes nothing more.
    expect(await ledger.reserve({ ...reserveInput(`q3-${user.id}`, [lot.accountId, wallet.id], 1_000n), quota })).toMatchObject({ replayed: true, counters: null });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 4, committedToday: 3_200n, spentToday: 1_900n });
    // Settle 450 = 300 + 150: committed 3,200 − 550 = 2,650; spent 1,900 + 450 = 2,350.
    await ledger.settle({ holds: r3.holds, amount: 450n, idempotencyKey: `q3-s-${user.id}`, quota });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 4, committedToday: 2_650n, spentToday: 2_350n });
    expect(await account(wallet.id)).toEqual({ balance: 50_000n - 1_200n - 150n, available: 50_000n - 1_200n - 150n });
    await expectAuditClean();
  });

  it('refuses the request past the daily request limit and writes nothing; a release gives the request back', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const keyId = await createKey(user.id, { dailyRequestLimit: 3, usageDay: DAY });
    const quota = { keyId, day: DAY };
    const taken = [];
    for (let i = 1; i <= 3; i++) {
      const r = await ledger.reserve({ ...reserveInput(`rl${i}-${user.id}`, [wallet.id], 100n), quota });
      expect(r.counters).toEqual({ requestsToday: i, committedToday: 100n * BigInt(i), spentToday: 0n });
      taken.push(r);
    }
    const fourth = { ...reserveInput(`rl4-${user.id}`, [wallet.id], 100n), quota };
    expect(await rejection(ledger.reserve(fourth))).toBeInstanceOf(DailyQuotaRefused);
    expect(await holdsWritten(fourth.idempotencyKey)).toBe(0);
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 700n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 3, committedToday: 300n, spentToday: 0n });

    await ledger.release({ holds: taken[0]!.holds, idempotencyKey: `rl1-r-${user.id}`, quota });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 2, committedToday: 200n, spentToday: 0n });
    expect((await ledger.reserve(fourth)).counters).toEqual({ requestsToday: 3, committedToday: 300n, spentToday: 0n });
    await expectAuditClean();
  });

  it('refuses an amount past the daily budget and writes nothing; exactly the budget passes', async () => {
    const { user, wallet } = await createFundedUser(t.db, 5_000n);
    const keyId = await createKey(user.id, { dailyBudget: 1_000n, usageDay: DAY });
    const quota = { keyId, day: DAY };
    const first = await ledger.reserve({ ...reserveInput(`b1-${user.id}`, [wallet.id], 600n), quota });
    expect(first.counters).toEqual({ requestsToday: 1, committedToday: 600n, spentToday: 0n });
    // 600 + 401 = 1,001 > 1,000.
    expect(await rejection(ledger.reserve({ ...reserveInput(`b2-${user.id}`, [wallet.id], 401n), quota }))).toBeInstanceOf(DailyQuotaRefused);
    expect(await holdsWritten(`b2-${user.id}`)).toBe(0);
    expect(await account(wallet.id)).toEqual({ balance: 5_000n, available: 4_400n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 600n, spentToday: 0n });
    // 600 + 400 = 1,000: allowed.
    expect((await ledger.reserve({ ...reserveInput(`b3-${user.id}`, [wallet.id], 400n), quota })).counters).toEqual({ requestsToday: 2, committedToday: 1_000n, spentToday: 0n });
    // Settling the 600 for 100 frees 500 of the budget: 500 fits again, 501 would not.
    await ledger.settle({ holds: first.holds, amount: 100n, idempotencyKey: `b1-s-${user.id}`, quota });
    expect(await rejection(ledger.reserve({ ...reserveInput(`b4-${user.id}`, [wallet.id], 501n), quota }))).toBeInstanceOf(DailyQuotaRefused);
    expect((await ledger.reserve({ ...reserveInput(`b5-${user.id}`, [wallet.id], 500n), quota })).counters).toEqual({ requestsToday: 3, committedToday: 1_000n, spentToday: 100n });
    await expectAuditClean();
  });

  it('a revoked key refuses and writes nothing', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const keyId = await createKey(user.id, { usageDay: DAY, requestsToday: 1, committedToday: 50n, spentToday: 20n, revokedAt: new Date() });
    expect(await rejection(ledger.reserve({ ...reserveInput(`rev-${user.id}`, [wallet.id], 100n), quota: { keyId, day: DAY } }))).toBeInstanceOf(DailyQuotaRefused);
    expect(await holdsWritten(`rev-${user.id}`)).toBe(0);
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 1_000n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 50n, spentToday: 20n });
  });

  it("counters of an earlier day start afresh, even when they were at the day's limits", async () => {
    const { user, wallet } = await createFundedUser(t.db, 5_000n);
    const keyId = await createKey(user.id, { dailyRequestLimit: 5, dailyBudget: 10_000n, usageDay: EARLIER, requestsToday: 5, committedToday: 9_999n, spentToday: 4_000n });
    // Yesterday's 5 requests and 9,999 committed would refuse both limits; today's are 0.
    const r = await ledger.reserve({ ...reserveInput(`early-${user.id}`, [wallet.id], 2_000n), quota: { keyId, day: DAY } });
    expect(r.counters).toEqual({ requestsToday: 1, committedToday: 2_000n, spentToday: 0n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 2_000n, spentToday: 0n });
  });

  it('a later usage day refuses (a clock behind) and leaves the counters as they were', async () => {
    const { user, wallet } = await createFundedUser(t.db, 5_000n);
    const keyId = await createKey(user.id, { usageDay: LATER, requestsToday: 1, committedToday: 100n, spentToday: 50n });
    expect(await rejection(ledger.reserve({ ...reserveInput(`late-${user.id}`, [wallet.id], 200n), quota: { keyId, day: DAY } }))).toBeInstanceOf(DailyQuotaRefused);
    expect(await holdsWritten(`late-${user.id}`)).toBe(0);
    expect(await account(wallet.id)).toEqual({ balance: 5_000n, available: 5_000n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: LATER, requestsToday: 1, committedToday: 100n, spentToday: 50n });
  });

  it("a settlement of yesterday's reservation leaves today's counters alone", async () => {
    const { user, wallet } = await createFundedUser(t.db, 5_000n);
    const keyId = await createKey(user.id, { usageDay: DAY });
    const yesterday = await ledger.reserve({ ...reserveInput(`y-${user.id}`, [wallet.id], 500n), quota: { keyId, day: DAY } });
    expect((await ledger.reserve({ ...reserveInput(`tm-${user.id}`, [wallet.id], 200n), quota: { keyId, day: LATER } })).counters).toEqual({ requestsToday: 1, committedToday: 200n, spentToday: 0n });
    await ledger.settle({ holds: yesterday.holds, amount: 300n, idempotencyKey: `y-s-${user.id}`, quota: { keyId, day: DAY } });
    expect(await keyCounters(keyId)).toEqual({ usageDay: LATER, requestsToday: 1, committedToday: 200n, spentToday: 0n });
    expect(await account(wallet.id)).toEqual({ balance: 4_700n, available: 4_500n });
  });

  it('money refused means no quota taken: the rider is in the reservation’s transaction', async () => {
    const { user, wallet } = await createFundedUser(t.db, 100n);
    const keyId = await createKey(user.id, { dailyRequestLimit: 10, usageDay: DAY, requestsToday: 2, committedToday: 30n });
    expect((await ledgerError(ledger.reserve({ ...reserveInput(`nf-${user.id}`, [wallet.id], 101n), quota: { keyId, day: DAY } }))).code).toBe('insufficient_funds');
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 2, committedToday: 30n, spentToday: 0n });
    expect(await holdsWritten(`nf-${user.id}`)).toBe(0);
  });
});

describe('the usage rider', () => {
  it('writes the usage row with the settlement, once, however often the settle is replayed', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const keyId = await createKey(user.id);
    const { holds } = await ledger.reserve(reserveInput(`u-${user.id}`, [wallet.id], 400n));
    const usage = usageRow(user.id, keyId, 250n);
    await ledger.settle({ holds, amount: 250n, idempotencyKey: `u-s-${user.id}`, usage });
    expect(await t.db.usageRecord.findUnique({ where: { requestId: usage.requestId } })).toEqual(usage);
    expect(await ledger.settle({ holds, amount: 250n, idempotencyKey: `u-s-${user.id}`, usage })).toMatchObject({ replayed: true });
    expect(await t.db.usageRecord.count({ where: { userId: user.id } })).toBe(1);
  });

  it('writes the usage row with a release', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 100n);
    const { holds } = await ledger.reserve(reserveInput(`ur-${user.id}`, [lot.accountId, wallet.id], 400n));
    const usage = usageRow(user.id, null, 0n, 'UPSTREAM_ERROR');
    await ledger.release({ holds, idempotencyKey: `ur-r-${user.id}`, usage });
    expect(await t.db.usageRecord.findUnique({ where: { requestId: usage.requestId } })).toEqual(usage);
  });

  it('writes no usage row when the settle is refused', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const { holds } = await ledger.reserve(reserveInput(`un-${user.id}`, [wallet.id], 400n));
    const tooMuch = usageRow(user.id, null, 401n);
    expect((await ledgerError(ledger.settle({ holds, amount: 401n, idempotencyKey: `un-x-${user.id}`, usage: tooMuch }))).code).toBe('settle_exceeds_hold');
    await ledger.settle({ holds, amount: 100n, idempotencyKey: `un-s-${user.id}` });
    // Already resolved: a second settle or a release under other keys are refused, with their rows.
    const again = usageRow(user.id, null, 100n);
    expect((await ledgerError(ledger.settle({ holds, amount: 100n, idempotencyKey: `un-s2-${user.id}`, usage: again }))).code).toBe('hold_already_resolved');
    const late = usageRow(user.id, null, 0n, 'CLIENT_ABORTED');
    expect((await ledgerError(ledger.release({ holds, idempotencyKey: `un-r-${user.id}`, usage: late }))).code).toBe('hold_already_resolved');
    expect(await t.db.usageRecord.count({ where: { requestId: { in: [tooMuch.requestId, again.requestId, late.requestId] } } })).toBe(0);
    expect(await account(wallet.id)).toEqual({ balance: 900n, available: 900n });
  });

  it('a usage row that cannot be written undoes the whole settlement: money, hold, quota', async () => {
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 100n);
    const keyId = await createKey(user.id, { usageDay: DAY });
    const quota = { keyId, day: DAY };
    const { holds } = await ledger.reserve({ ...reserveInput(`ua-${user.id}`, [lot.accountId, wallet.id], 400n), quota });
    const earlier = usageRow(user.id, keyId, 0n);
    await t.db.usageRecord.create({ data: earlier });
    const transactionsBefore = await t.db.ledgerTransaction.count();
    const revenueBefore = (await account(revenue)).balance;

    // The same requestId again: the row's insert fails, last in the transaction.
    const clash = { ...usageRow(user.id, keyId, 400n), requestId: earlier.requestId };
    const clashed = await rejection(ledger.settle({ holds, amount: 400n, idempotencyKey: `ua-s-${user.id}`, quota, usage: clash }));
    // Reported as what it is (the row's unique request id), not as an idempotency conflict.
    expect(clashed).not.toBeInstanceOf(LedgerError);
    expect(driverErrorKind(clashed)).toBe('UniqueConstraintViolation');
    expect((await t.db.hold.findMany({ where: { groupId: `ua-${user.id}` } })).map((h) => [h.status, h.resolveIdempotencyKey])).toEqual([
      ['PENDING', null],
      ['PENDING', null],
    ]);
    expect(await account(lot.accountId)).toEqual({ balance: 100n, available: 0n });
    expect(await account(wallet.id)).toEqual({ balance: 1_000n, available: 700n });
    expect(await lotStatus(lot.lotId)).toBe('ACTIVE');
    expect(await t.db.ledgerTransaction.count()).toBe(transactionsBefore);
    expect((await account(revenue)).balance).toBe(revenueBefore);
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 400n, spentToday: 0n });
    expect(await t.db.usageRecord.count({ where: { id: clash.id } })).toBe(0);

    // The holds are still there to settle, with a row that can be written.
    const usage = usageRow(user.id, keyId, 400n);
    await ledger.settle({ holds, amount: 400n, idempotencyKey: `ua-s-${user.id}`, quota, usage });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 400n, spentToday: 400n });
    expect(await lotStatus(lot.lotId)).toBe('EXHAUSTED');
    expect(await t.db.usageRecord.count({ where: { id: usage.id } })).toBe(1);
    await expectAuditClean();
  });
});

describe('a settle racing a release of the same holds', () => {
  it('exactly one wins, and the money, the quota and the usage row follow the winner', async () => {
    for (let i = 0; i < 12; i++) {
      const { user, wallet } = await createFundedUser(t.db, 1_000n);
      const multi = i % 2 === 1;
      const lot = multi ? await createLot(user.id, 200n) : null;
      const keyId = await createKey(user.id, { usageDay: DAY });
      const quota = { keyId, day: DAY };
      const sources = lot ? [lot.accountId, wallet.id] : [wallet.id];
      const { holds } = await ledger.reserve({ ...reserveInput(`race-${user.id}`, sources, 600n), quota });
      expect(holds.map((h) => h.amount)).toEqual(multi ? [200n, 400n] : [600n]);
      const settleUsage = usageRow(user.id, keyId, 400n);
      const releaseUsage = usageRow(user.id, keyId, 0n, 'CLIENT_ABORTED');
      const settle = () => ledger.settle({ holds, amount: 400n, idempotencyKey: `race-s-${user.id}`, quota, usage: settleUsage });
      const release = () => ledger.release({ holds, idempotencyKey: `race-r-${user.id}`, quota, usage: releaseUsage });
      // Alternate which one starts first.
      const [s, r] = i % 4 < 2 ? await Promise.allSettled([settle(), release()]) : await Promise.allSettled([release(), settle()]).then(([x, y]) => [y, x] as const);
      expect([s!.status, r!.status].sort()).toEqual(['fulfilled', 'rejected']);
      const loser = (s!.status === 'rejected' ? s : r) as PromiseRejectedResult;
      expect(loser.reason).toBeInstanceOf(LedgerError);
      expect((loser.reason as LedgerError).code).toBe('hold_already_resolved');
      const statuses = (await Promise.all(holds.map((h) => ledger.getHold({ holdId: h.id })))).map((h) => h!.status);
      const total = (await account(wallet.id)).balance + (lot ? (await account(lot.accountId)).balance : 0n);
      const startedWith = 1_000n + (lot ? 200n : 0n);
      if (s!.status === 'fulfilled') {
        expect(statuses.every((x) => x === 'SETTLED')).toBe(true);
        expect(total).toBe(startedWith - 400n);
        // 600 committed − (600 − 400) = 400; spent 400.
        expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 400n, spentToday: 400n });
        if (lot) expect(await lotStatus(lot.lotId)).toBe('EXHAUSTED');
      } else {
        expect(statuses.every((x) => x === 'RELEASED')).toBe(true);
        expect(total).toBe(startedWith);
        expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 0, committedToday: 0n, spentToday: 0n });
        if (lot) expect(await lotStatus(lot.lotId)).toBe('ACTIVE');
      }
      const rows = await t.db.usageRecord.findMany({ where: { userId: user.id } });
      expect(rows.map((u) => u.requestId)).toEqual([s!.status === 'fulfilled' ? settleUsage.requestId : releaseUsage.requestId]);
    }
    await expectAuditClean();
  });
});

describe('phases asked for together (one batch, one commit)', () => {
  it('each gets its own outcome: held, refused for money, refused by its quota, replayed; settled and released alike', async () => {
    // On PostgreSQL a batch the functions refuse as a whole runs again phase by phase, with the
    // same outcomes: only the log tells that the batch path itself failed.
    const warn = vi.spyOn(logger, 'warn');
    onTestFinished(() => warn.mockRestore());
    const rich = await createFundedUser(t.db, 10_000n);
    const poor = await createFundedUser(t.db, 100n);
    const limited = await createFundedUser(t.db, 10_000n);
    const keyId = await createKey(limited.user.id, { dailyRequestLimit: 1 });
    const replayKey = `batch-replay-${rich.user.id}`;
    const earlier = await ledger.reserve(reserveInput(replayKey, [rich.wallet.id], 700n));
    const quota = { keyId, day: DAY };

    // All in the same turn of the event loop.
    const outcomes = await Promise.allSettled([
      ledger.reserve(reserveInput(`batch-a-${rich.user.id}`, [rich.wallet.id], 1_000n)),
      ledger.reserve(reserveInput(`batch-b-${poor.user.id}`, [poor.wallet.id], 101n)),
      ledger.reserve({ ...reserveInput(`batch-c-${limited.user.id}`, [limited.wallet.id], 10n), quota }),
      ledger.reserve({ ...reserveInput(`batch-d-${limited.user.id}`, [limited.wallet.id], 10n), quota }),
      ledger.reserve(reserveInput(replayKey, [rich.wallet.id], 700n)),
      ledger.reserve(reserveInput(`batch-e-${poor.user.id}`, [poor.wallet.id], 100n)),
    ]);
    const [a, b, c, d, replay, e] = outcomes;
    expect(a).toMatchObject({ status: 'fulfilled', value: { replayed: false, holds: [{ debitAccountId: rich.wallet.id, amount: 1_000n }] } });
    expect(b.status === 'rejected' && (b.reason as LedgerError).code).toBe('insufficient_funds');
    // One of the two quota'd reservations takes the key's only request; the other is refused.
    expect([c, d].filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect([c, d].filter((o) => o.status === 'rejected' && o.reason instanceof DailyQuotaRefused)).toHaveLength(1);
    expect(replay).toMatchObject({ status: 'fulfilled', value: { replayed: true, holds: [{ id: earlier.holds[0]!.id, amount: 700n }] } });
    expect(e).toMatchObject({ status: 'fulfilled', value: { holds: [{ amount: 100n }] } });
    expect(await account(rich.wallet.id)).toEqual({ balance: 10_000n, available: 8_300n });
    expect(await account(poor.wallet.id)).toEqual({ balance: 100n, available: 0n });
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 10n, spentToday: 0n });

    const held = (o: (typeof outcomes)[number]) => (o.status === 'fulfilled' ? o.value.holds : []);
    const quotaHeld = held(c).length ? held(c) : held(d);
    const revenueBefore = (await account(revenue)).balance;
    const resolutions = await Promise.allSettled([
      ledger.settle({ holds: held(a), amount: 400n, idempotencyKey: `batch-sa-${rich.user.id}` }),
      ledger.release({ holds: held(e), idempotencyKey: `batch-re-${poor.user.id}` }),
      ledger.settle({ holds: quotaHeld, amount: 10n, idempotencyKey: `batch-sc-${limited.user.id}`, quota }),
      ledger.settle({ holds: earlier.holds, amount: 800n, idempotencyKey: `batch-sx-${rich.user.id}` }),
      ledger.settle({ holds: earlier.holds, amount: 50n, idempotencyKey: `batch-sy-${rich.user.id}` }),
    ]);
    expect(resolutions.slice(0, 3).map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    // More than the hold: refused alone, leaving the hold to the next settlement in the same batch.
    expect(resolutions[3]!.status === 'rejected' && (resolutions[3]!.reason as LedgerError).code).toBe('settle_exceeds_hold');
    expect(resolutions[4]!.status).toBe('fulfilled');
    expect(await account(rich.wallet.id)).toEqual({ balance: 10_000n - 400n - 50n, available: 10_000n - 400n - 50n });
    expect(await account(poor.wallet.id)).toEqual({ balance: 100n, available: 100n });
    expect(await account(limited.wallet.id)).toEqual({ balance: 10_000n - 10n, available: 10_000n - 10n });
    expect((await account(revenue)).balance - revenueBefore).toBe(400n + 10n + 50n);
    expect(await keyCounters(keyId)).toEqual({ usageDay: DAY, requestsToday: 1, committedToday: 10n, spentToday: 10n });
    await expectAuditClean();
    expect(warn.mock.calls.filter(([message]) => String(message).includes('as a whole'))).toEqual([]);
  });
});

describe('an instance from before settled holds posted themselves (a rolling upgrade, PostgreSQL)', () => {
  // Such an instance passes the resolve functions a settle transaction id for each hold with a
  // share (null for a hold that gives nothing), two entry ids for every hold and a memo, and must
  // get each transaction written beside its hold: this release passes null ids, so nothing else
  // here reaches those INSERTs. Its items are written by hand, in that instance's shape
  // (Ledger.settle and lib/ledger/holds-postgres.ts before round 22 of issue #12), so that nothing
  // of this release's code builds them.
  const pgArray = (values: Array<string | bigint | null>) => `{${values.map((v) => (v === null ? 'NULL' : `"${String(v)}"`)).join(',')}}`;
  type OlderSettlement = { key: string; holds: Array<{ id: string; debitAccountId: string; amount: bigint }>; shares: bigint[]; txns: Array<string | null>; entries: string[] };

  /** Reserves as this release does, then plans the settlement as the older instance did. */
  async function olderSettlement(key: string, sources: string[], amount: bigint, settled: bigint): Promise<OlderSettlement> {
    const { holds } = await ledger.reserve(reserveInput(key, sources, amount));
    let left = settled;
    const shares = holds.map((hold) => {
      const share = left < hold.amount ? left : hold.amount;
      left -= share;
      return share;
    });
    return { key, holds, shares, txns: shares.map((share) => (share > 0n ? newId('txn') : null)), entries: holds.flatMap(() => [newId('ent'), newId('ent')]) };
  }

  function batchItem(o: OlderSettlement, now: string) {
    return {
      holdIds: pgArray(o.holds.map((h) => h.id)),
      debitAccountIds: pgArray(o.holds.map((h) => h.debitAccountId)),
      creditAccountIds: pgArray(o.holds.map(() => revenue)),
      amounts: pgArray(o.holds.map((h) => h.amount)),
      status: 'SETTLED',
      shares: pgArray(o.shares),
      resolveKeys: pgArray(o.holds.map((_, i) => (i === 0 ? o.key : `${o.key}:${i}`))),
      transactionIds: pgArray(o.txns),
      entryIds: pgArray(o.entries),
      memo: 'older instance',
      now,
      keyId: null,
      day: null,
      usage: null,
    };
  }

  /** What the older instance's settlement must have written: a transaction and its two entries for each hold with a share, nothing for the others. */
  async function expectWrittenTheOlderWay(o: OlderSettlement) {
    for (const [i, hold] of o.holds.entries()) {
      const txn = o.txns[i] ?? null;
      expect(await t.db.hold.findUniqueOrThrow({ where: { id: hold.id } })).toMatchObject({ status: 'SETTLED', settledAmount: o.shares[i], transactionId: txn });
      const entries = await t.db.ledgerEntry.findMany({ where: { id: { in: [o.entries[2 * i]!, o.entries[2 * i + 1]!] } }, orderBy: { amount: 'asc' } });
      if (txn === null) {
        expect(entries).toEqual([]);
        continue;
      }
      expect(await t.db.ledgerTransaction.findUniqueOrThrow({ where: { id: txn } })).toMatchObject({ idempotencyKey: `settle:${i === 0 ? o.key : `${o.key}:${i}`}`, kind: 'settle', memo: 'older instance' });
      expect(entries.map((e) => [e.id, e.transactionId, e.accountId, e.amount])).toEqual([
        [o.entries[2 * i], txn, hold.debitAccountId, -o.shares[i]!],
        [o.entries[2 * i + 1], txn, revenue, o.shares[i]!],
      ]);
    }
  }

  it('both functions still write its settle transactions and entries, hold by hold, and the books stay balanced', async () => {
    if (testProvider() !== 'postgresql') return expect(testProvider()).toBe('sqlite');
    const { user, wallet } = await createFundedUser(t.db, 1_000n);
    const lot = await createLot(user.id, 300n);
    const runner = sqlFor(t.db);
    const revenueBefore = (await account(revenue)).balance;
    const now = new Date().toISOString().replace('Z', '');
    // One batch of two calls: the first drew the lot (300) and the wallet (200) and is settled at
    // 300, all of it the lot's (the wallet's hold gives nothing, so it has no transaction, and the
    // ids of the entries it would have had go unused); the second settles 120 of 300.
    const twoSources = await olderSettlement(`older-two-${user.id}`, [lot.accountId, wallet.id], 500n, 300n);
    const oneSource = await olderSettlement(`older-one-${user.id}`, [wallet.id], 300n, 120n);
    expect(twoSources.txns.map((txn) => txn !== null)).toEqual([true, false]);
    const rows = await runner.query(statement('SELECT * FROM tollgate_resolve_batch(?::jsonb)', [JSON.stringify([batchItem(twoSources, now), batchItem(oneSource, now)])]));
    expect(rows.map((row) => row.out_error)).toEqual([null, null, null]);
    await expectWrittenTheOlderWay(twoSources);
    await expectWrittenTheOlderWay(oneSource);
    // The lot drawn to nothing is exhausted, as by any settlement.
    expect((await t.db.packLot.findUniqueOrThrow({ where: { id: lot.lotId } })).status).toBe('EXHAUSTED');

    // And alone, through the single-call function: 200 of a 200 hold.
    const alone = await olderSettlement(`older-alone-${user.id}`, [wallet.id], 200n, 200n);
    const item = batchItem(alone, now);
    await runner.query(
      statement('SELECT * FROM tollgate_resolve(?::text[], ?::text[], ?::text[], ?::bigint[], ?, ?::bigint[], ?::text[], ?::text[], ?::text[], ?, ?::timestamp(3), NULL, NULL, NULL)', [
        item.holdIds, item.debitAccountIds, item.creditAccountIds, item.amounts, item.status, item.shares, item.resolveKeys, item.transactionIds, item.entryIds, item.memo, item.now,
      ]),
    );
    await expectWrittenTheOlderWay(alone);

    // 1,000 − 120 − 200 = 680 in the wallet, nothing left held; the lot's 300, 120 and 200 to revenue.
    expect(await account(wallet.id)).toEqual({ balance: 680n, available: 680n });
    expect(await account(lot.accountId)).toEqual({ balance: 0n, available: 0n });
    expect((await account(revenue)).balance - revenueBefore).toBe(620n);
    await expectAuditClean();
  });
});

describe('a batch that fails as a whole', () => {
  it('is rolled back and its phases run again alone: only the one at fault fails', async () => {
    const a = await createFundedUser(t.db, 1_000n);
    const b = await createFundedUser(t.db, 1_000n);
    const reservedA = await ledger.reserve(reserveInput(`whole-a-${a.user.id}`, [a.wallet.id], 300n));
    const reservedB = await ledger.reserve(reserveInput(`whole-b-${b.user.id}`, [b.wallet.id], 300n));
    const revenueBefore = (await account(revenue)).balance;
    // B's usage row names a user that does not exist: a foreign key that no up-front check reads,
    // so on PostgreSQL the whole batch statement fails (on SQLite, B's savepoint).
    const [settledA, settledB] = await Promise.allSettled([
      ledger.settle({ holds: reservedA.holds, amount: 200n, idempotencyKey: `whole-sa-${a.user.id}`, usage: usageRow(a.user.id, null, 200n) }),
      ledger.settle({ holds: reservedB.holds, amount: 200n, idempotencyKey: `whole-sb-${b.user.id}`, usage: usageRow('usr_nobody', null, 200n) }),
    ]);
    expect(settledA.status).toBe('fulfilled');
    expect(settledB.status === 'rejected' && driverErrorKind(settledB.reason)).toBe('ForeignKeyConstraintViolation');
    expect(await account(a.wallet.id)).toEqual({ balance: 800n, available: 800n });
    expect(await account(b.wallet.id)).toEqual({ balance: 1_000n, available: 700n });
    expect((await t.db.hold.findUniqueOrThrow({ where: { id: reservedB.holds[0]!.id } })).status).toBe('PENDING');
    expect((await account(revenue)).balance - revenueBefore).toBe(200n);
    await expectAuditClean();
  });
});

describe('overlapping batches over lots and wallets', () => {
  it('every reservation and settlement of users with lots and without goes through (batches lock user accounts up front, in one order)', async () => {
    const a = await createFundedUser(t.db, 1_000_000n);
    const b = await createFundedUser(t.db, 1_000_000n);
    const lotA = await createLot(a.user.id, 1_000_000n);
    const lotB = await createLot(b.user.id, 1_000_000n);
    // Shapes that lock accounts in different orders item by item: lot then wallet, wallet alone,
    // the other user's lot, both users in one turn.
    const shapes = [[lotA.accountId, a.wallet.id], [b.wallet.id], [lotB.accountId, b.wallet.id], [a.wallet.id], [lotA.accountId], [lotB.accountId]];
    const reservations = await Promise.allSettled(
      Array.from({ length: 120 }, (_, i) => ledger.reserve(reserveInput(`mix-${a.user.id}-${i}`, shapes[i % shapes.length]!, 1_000n + BigInt(i)))),
    );
    expect(reservations.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const held = reservations.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<Ledger['reserve']>>>).value.holds);
    const settlements = await Promise.allSettled(held.map((holds, i) => ledger.settle({ holds, amount: 500n, idempotencyKey: `mix-s-${a.user.id}-${i}` })));
    expect(settlements.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const spent = (id: string) => account(id).then((x) => x.balance);
    // 120 settlements of 500 each, spread over the four accounts as each shape's first source pays.
    expect((await spent(lotA.accountId)) + (await spent(a.wallet.id)) + (await spent(lotB.accountId)) + (await spent(b.wallet.id))).toBe(4_000_000n - 120n * 500n);
    expect(await t.db.hold.count({ where: { status: 'PENDING', debitAccountId: { in: [lotA.accountId, a.wallet.id, lotB.accountId, b.wallet.id] } } })).toBe(0);
    await expectAuditClean();
  });
});
