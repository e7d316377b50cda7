import { sqlFor, type Db } from '../db/client';
import { read, statement } from '../db/sql';
import { sellerEarningsAccountId, sellerPoolAccountId } from '../ledger/accounts';
import { SETTLED_HOLD_POSTS } from '../ledger/holds';
import type { Micros } from '../money';

/** The ledger kind of a pool-served call's credit to its seller (the settlement writes it, `earn:<requestId>`). */
export const SELLER_EARNINGS_KIND = 'seller_earnings';
/** A failed payout's money going back to its seller's earnings. */
export const PAYOUT_REVERSAL_KIND = 'seller_payout_reversal';

/**
 * Ledger kinds that debit a pool account without serving a call (face value handed back when a
 * pool is revoked or expires): not draw-down. Settlement's kinds are the routing's to name; any
 * other debit of a pool account is a call it served.
 */
export const POOL_RETURN_KINDS: readonly string[] = ['seller_pool_return'];

export type EarningsStates = {
  /** Earned within the holding period: not payable yet. */
  pending: Micros;
  /** The earnings account's balance less what is pending: what the next payout may pay. */
  available: Micros;
  /** Paid out and confirmed on chain. */
  paid: Micros;
  /** Taken from the earnings for a payout that is not final yet (signed or being sent). */
  processing: Micros;
  /** The earnings account's balance (pending + available). */
  balance: Micros;
};

/**
 * A seller's earnings in three states. Why a holding period: a payout in USDC cannot be taken
 * back, while what a seller earned can still turn out to be wrong for a while (a buyer's card
 * payment charged back, a deposit reviewed and rejected, a seller farming their own pool with
 * stolen credit, a settlement corrected). Money earned within SELLER_HOLDING_DAYS stays pending, so
 * it can still be reversed in the ledger before any of it leaves.
 *
 * Pending is computed from the earnings account's own entries (credits of kind seller_earnings
 * newer than `now − holding`, except a failed payout's reversal), so it needs no state of its own and is exact at any instant; an
 * entry exactly `holding` old is available. Available is the balance less pending, never below
 * zero (a reversal may have taken back more than was old enough). Paid counts confirmed payouts.
 */
export async function getSellerEarnings({ db, userId, holdingMs, now = new Date() }: { db: Db; userId: string; holdingMs: number; now?: Date }): Promise<EarningsStates> {
  const accountId = sellerEarningsAccountId(userId);
  const cutoff = new Date(now.getTime() - holdingMs);
  const [account, recent, payouts] = await Promise.all([
    db.ledgerAccount.findUnique({ where: { id: accountId }, select: { balance: true } }),
    // Every credit counts as earned, whatever the path that booked it (a settlement, a late one, a
    // cut-off stream's draw); only a failed payout's money coming back was earned long ago.
    db.ledgerEntry.aggregate({ where: { accountId, createdAt: { gt: cutoff }, amount: { gt: 0n }, transaction: { kind: { not: PAYOUT_REVERSAL_KIND } } }, _sum: { amount: true } }),
    db.sellerPayout.groupBy({ by: ['status'], where: { userId }, _sum: { amount: true } }),
  ]);
  const balance = account?.balance ?? 0n;
  const recentSum = recent._sum.amount ?? 0n;
  const pending = recentSum < 0n ? 0n : recentSum > balance ? (balance < 0n ? 0n : balance) : recentSum;
  const available = balance - pending > 0n ? balance - pending : 0n;
  const sum = (...statuses: string[]) => payouts.filter((p) => statuses.includes(p.status)).reduce((total, p) => total + (p._sum.amount ?? 0n), 0n);
  return { pending, available, paid: sum('CONFIRMED'), processing: sum('PENDING', 'SIGNED'), balance };
}

export type PoolDrawDown = { poolId: string; provider: string; keyHint: string; days: { day: string; drawn: Micros }[] };

/** "2026-12-03" of a date, in UTC. */
export const utcDay = (date: Date) => date.toISOString().slice(0, 10);

/**
 * Each of the seller's pools' draw-down per UTC day over the last `days` days (today included),
 * from the pool accounts' debits: every day present, zero when nothing was served, for a chart.
 * The debits are summed here rather than in SQL so one query shape serves SQLite and PostgreSQL
 * (their date functions differ); it reads one row per served call of the window.
 */
export async function getPoolDrawDown({ db, userId, days = 30, now = new Date() }: { db: Db; userId: string; days?: number; now?: Date }): Promise<PoolDrawDown[]> {
  const pools = await db.sellerPool.findMany({ where: { userId }, select: { id: true, providerId: true, keyHint: true }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  if (pools.length === 0) return [];
  const firstDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
  const accountIds = pools.map((pool) => sellerPoolAccountId(pool.id));
  // A served call's draw is its pool hold's settlement, which posts itself (lib/ledger/holds.ts);
  // entries hold the rest: late draws, and settlements from before holds posted themselves.
  const [fromEntries, fromHolds] = await Promise.all([
    db.ledgerEntry.findMany({
      where: { accountId: { in: accountIds }, amount: { lt: 0n }, createdAt: { gte: firstDay, lte: now }, transaction: { kind: { notIn: [...POOL_RETURN_KINDS] } } },
      select: { accountId: true, amount: true, createdAt: true },
    }),
    sqlFor(db).query(
      statement(
        `SELECT "debitAccountId", "settledAmount", "resolvedAt" FROM "Hold" WHERE "debitAccountId" IN (${accountIds.map(() => '?').join(', ')}) AND "resolvedAt" >= ? AND "resolvedAt" <= ? AND ${SETTLED_HOLD_POSTS}`,
        [...accountIds, firstDay, now],
      ),
    ),
  ]);
  const entries = [
    ...fromEntries,
    ...fromHolds.map((row) => ({ accountId: read.string(row.debitAccountId), amount: -read.bigint(row.settledAmount), createdAt: read.nullableDate(row.resolvedAt)! })),
  ];
  const dayList = Array.from({ length: days }, (_, i) => utcDay(new Date(firstDay.getTime() + i * 86_400_000)));
  const byPool = new Map(accountIds.map((id) => [id, new Map(dayList.map((day) => [day, 0n]))]));
  for (const entry of entries) {
    const perDay = byPool.get(entry.accountId)!;
    const day = utcDay(entry.createdAt);
    perDay.set(day, (perDay.get(day) ?? 0n) - entry.amount);
  }
  return pools.map((pool) => ({
    poolId: pool.id,
    provider: pool.providerId,
    keyHint: pool.keyHint,
    days: [...byPool.get(sellerPoolAccountId(pool.id))!].map(([day, drawn]) => ({ day, drawn })),
  }));
}

/** The ISO 8601 week of a date in UTC, "2026-W49": the payout period. */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  // The week belongs to the year of its Thursday.
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** The start (Monday 00:00 UTC) of the ISO week after `date`'s: when the next weekly run is due. */
export function nextPeriodStart(date: Date): Date {
  const weekday = date.getUTCDay() || 7;
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 8 - weekday));
}
