// Seller earnings states (pending / available / paid) to the micro-dollar with an injected clock,
// the seller's earnings API (own data only), per-pool draw-down, and the payout lease.
import { encode } from 'next-auth/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../lib/ids';
import { auditLedger, Ledger, SYSTEM_ACCOUNTS } from '../lib/ledger';
import { sellerPoolAccountId } from '../lib/ledger/accounts';
import { writeSettleEntries } from '../lib/ledger/settle-entries';
import { takeLease } from '../lib/payments/payouts/lease';
import { createEarningsApi } from '../lib/sellers/earnings-api';
import { getSellerEarnings, isoWeek, nextPeriodStart } from '../lib/sellers/earnings';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { earn } from './helpers/earnings';
import { createFundedUser } from './helpers/fixtures';

const AUTH_SECRET = 'earnings-test-secret-0123456789abcdef';
const NOW = new Date('2026-12-10T12:00:00.000Z');
const DAY = 86_400_000;
const HOLD = 7 * DAY;

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

const env = { NODE_ENV: 'test', NEXTAUTH_SECRET: AUTH_SECRET, SELLER_HOLDING_DAYS: '7', SELLER_PAYOUT_MIN_USD: '10' } as NodeJS.ProcessEnv;

async function getAs(userId: string | null) {
  const api = createEarningsApi({ db: t.db, env, now: () => NOW });
  const headers: Record<string, string> = {};
  if (userId) headers.cookie = `next-auth.session-token=${await encode({ token: { sub: userId }, secret: AUTH_SECRET, maxAge: 3600 })}`;
  const response = await api.getEarnings(new Request('http://tollgate.test/api/sell/earnings', { headers }));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('earnings states', () => {
  it('splits the balance into pending and available at the holding period, exactly', async () => {
    const { user } = await createFundedUser(t.db, 0n);
    await earn(t.db, user.id, 1_234_567n, new Date(NOW.getTime() - 8 * DAY));
    await earn(t.db, user.id, 2_000_001n, new Date(NOW.getTime() - HOLD)); // exactly seven days old: available
    await earn(t.db, user.id, 3_000_003n, new Date(NOW.getTime() - HOLD + 1)); // one millisecond younger: pending
    await earn(t.db, user.id, 500_000n, new Date(NOW.getTime() - 3_600_000));
    const states = await getSellerEarnings({ db: t.db, userId: user.id, holdingMs: HOLD, now: NOW });
    expect(states).toEqual({ pending: 3_500_003n, available: 3_234_568n, paid: 0n, processing: 0n, balance: 6_734_571n });
    // A day later the 3_000_003 is old enough too.
    const later = await getSellerEarnings({ db: t.db, userId: user.id, holdingMs: HOLD, now: new Date(NOW.getTime() + DAY) });
    expect(later.pending).toBe(500_000n);
    expect(later.available).toBe(6_234_571n);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it("every credit waits out the holding period, whichever path booked it (a late settlement's, a cut-off stream's)", async () => {
    const { user } = await createFundedUser(t.db, 0n);
    await earn(t.db, user.id, 700_000n, new Date(NOW.getTime() - 3_600_000), 'pool_draw_late');
    await earn(t.db, user.id, 300_000n, new Date(NOW.getTime() - 8 * DAY));
    const states = await getSellerEarnings({ db: t.db, userId: user.id, holdingMs: HOLD, now: NOW });
    expect(states).toMatchObject({ pending: 700_000n, available: 300_000n });
  });

  it('a seller who never earned has nothing in any state', async () => {
    const { user } = await createFundedUser(t.db, 0n);
    expect(await getSellerEarnings({ db: t.db, userId: user.id, holdingMs: HOLD, now: NOW })).toEqual({ pending: 0n, available: 0n, paid: 0n, processing: 0n, balance: 0n });
  });

  it('names the ISO week in UTC and the next Monday', () => {
    expect(isoWeek(new Date('2026-12-10T12:00:00Z'))).toBe('2026-W50');
    expect(isoWeek(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53'); // a Friday: still 2026's last week
    expect(isoWeek(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01');
    expect(isoWeek(new Date('2026-12-13T23:59:59.999Z'))).toBe('2026-W50'); // Sunday night UTC
    expect(isoWeek(new Date('2026-12-14T00:00:00Z'))).toBe('2026-W51');
    expect(nextPeriodStart(new Date('2026-12-10T12:00:00Z')).toISOString()).toBe('2026-12-14T00:00:00.000Z');
    expect(nextPeriodStart(new Date('2026-12-14T00:00:00Z')).toISOString()).toBe('2026-12-21T00:00:00.000Z');
  });
});

describe('GET /api/sell/earnings', () => {
  it('shows the signed-in seller their own states, payouts and draw-down; another user sees none of it', async () => {
    const { user: seller } = await createFundedUser(t.db, 0n);
    const { user: other } = await createFundedUser(t.db, 0n);
    await earn(t.db, seller.id, 12_500_000n, new Date(NOW.getTime() - 10 * DAY));
    await earn(t.db, seller.id, 750_001n, new Date(NOW.getTime() - DAY));
    // A pool with face value issued, two days of draws and a return that is not a draw.
    const poolId = newId('pool');
    await t.db.sellerPool.create({ data: { id: poolId, userId: seller.id, providerId: 'openai', keyHint: 'abcd', faceValue: 50_000_000n, rateBps: 6000, verifiedAt: NOW } });
    await t.db.ledgerAccount.create({ data: { id: sellerPoolAccountId(poolId), code: `pool:${poolId}`, kind: 'SELLER_POOL', userId: seller.id } });
    const ledger = new Ledger(t.db);
    const move = async (kind: string, amount: bigint, at: Date) => {
      const { transactionId } = await ledger.transfer({
        idempotencyKey: `${kind}:${newId('txn')}`,
        kind,
        entries: [
          { accountId: SYSTEM_ACCOUNTS.sellerCapacity.id, amount },
          { accountId: sellerPoolAccountId(poolId), amount: -amount },
        ],
      });
      await t.db.ledgerEntry.updateMany({ where: { transactionId }, data: { createdAt: at } });
    };
    await move('seller_pool_issue', -50_000_000n, new Date(NOW.getTime() - 5 * DAY));
    await move('seller_pool_draw', 1_000_001n, new Date('2026-12-08T00:00:00.000Z'));
    await move('seller_pool_draw', 2_000_000n, new Date('2026-12-08T23:59:59.999Z'));
    await move('seller_pool_draw', 333n, new Date('2026-12-10T11:00:00.000Z'));
    await move('seller_pool_return', 5_000_000n, new Date('2026-12-09T10:00:00.000Z'));
    // A call served as the gateway serves one: the pool's hold settled (its own posting, no
    // entries) at 444 of its 1,000, moved to the 9th.
    const { holds } = await ledger.reserve({ idempotencyKey: `pool-hold:${poolId}`, sources: [sellerPoolAccountId(poolId)], creditAccountId: SYSTEM_ACCOUNTS.sellerCapacity.id, amount: 1_000n, ttlMs: 60_000 });
    await ledger.settle({ holds, amount: 444n, idempotencyKey: `pool-settle:${poolId}` });
    await t.db.hold.update({ where: { id: holds[0]!.id }, data: { resolvedAt: new Date('2026-12-09T15:00:00.000Z') } });
    // A settlement keeps the row's drawn equal to face value minus the account (auditLedger checks it).
    const left = (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: sellerPoolAccountId(poolId) } })).balance;
    await t.db.sellerPool.update({ where: { id: poolId }, data: { drawn: 50_000_000n - left } });

    await t.db.sellerPayout.create({
      data: { id: newId('po'), userId: seller.id, amount: 11_000_000n, toAddress: '0x000000000000000000000000000000000000dEaD', chainId: 31337, token: '0x0000000000000000000000000000000000000001', status: 'CONFIRMED', txHash: `0x${'ab'.repeat(32)}`, idempotencyKey: `payout:${seller.id}:2026-W49`, period: '2026-W49', ledgerTransactionId: 'txn_test' },
    });
    const mine = await getAs(seller.id);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ pending_usd: 0.750001, available_usd: 12.5, paid_usd: 11, holding_days: 7, minimum_payout_usd: 10, wallet_address: null });
    expect(mine.body.payouts).toMatchObject([{ amount_usd: 11, status: 'confirmed', tx_hash: `0x${'ab'.repeat(32)}`, period: '2026-W49' }]);
    const drawDown = mine.body.draw_down as { pool_id: string; days: { day: string; drawn_usd: number }[] }[];
    expect(drawDown).toHaveLength(1);
    expect(drawDown[0]!.pool_id).toBe(poolId);
    expect(drawDown[0]!.days).toHaveLength(30);
    expect(drawDown[0]!.days[0]!.day).toBe('2026-11-11');
    expect(drawDown[0]!.days.at(-1)).toEqual({ day: '2026-12-10', drawn_usd: 0.000333 });
    expect(drawDown[0]!.days.filter((d) => d.drawn_usd > 0)).toEqual([
      { day: '2026-12-08', drawn_usd: 3.000001 },
      { day: '2026-12-09', drawn_usd: 0.000444 },
      { day: '2026-12-10', drawn_usd: 0.000333 },
    ]);
    // The pool's hold recorded the older way as well (a settle transaction, dated at its
    // resolution): its draw is then read from its entries, once.
    expect(await writeSettleEntries(t.db)).toBe(1);
    expect((await getAs(seller.id)).body.draw_down).toEqual(mine.body.draw_down);

    const theirs = await getAs(other.id);
    expect(theirs.status).toBe(200);
    expect(theirs.body).toMatchObject({ pending_usd: 0, available_usd: 0, paid_usd: 0, payouts: [], draw_down: [] });

    expect((await getAs(null)).status).toBe(401);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('the payout lease', () => {
  it('is held by one holder at a time until released or expired', async () => {
    const name = `test-lease-${newId('txn')}`;
    const start = new Date();
    const a = await takeLease({ db: t.db, name, holder: 'a', ttlMs: 60_000, now: start });
    expect(a).not.toBeNull();
    expect(await takeLease({ db: t.db, name, holder: 'b', ttlMs: 60_000, now: start })).toBeNull();
    // A holder that died: its lease lapses and another takes it; the old one can no longer renew.
    const b = await takeLease({ db: t.db, name, holder: 'b', ttlMs: 60_000, now: new Date(start.getTime() + 60_001) });
    expect(b).not.toBeNull();
    expect(await a!.renew(new Date(start.getTime() + 60_002))).toBe(false);
    await b!.release();
    expect(await takeLease({ db: t.db, name, holder: 'c', ttlMs: 60_000, now: start })).not.toBeNull();
  });
});
