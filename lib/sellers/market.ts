import type { Db } from '../db/client';
import type { Micros } from '../money';

/** What the home page says about selling on this instance: real figures from live pools. */
export type PoolMarket = {
  livePools: number;
  providers: string[];
  /** The median rate live pools are listed at, in basis points; null with no live pool. */
  medianRateBps: number | null;
  lowestRateBps: number | null;
  highestRateBps: number | null;
  /** Face value live pools still offer, at list price. */
  remaining: Micros;
};

/** The default a seller's form and the home page's example use when no pool is live. */
export const TYPICAL_RATE_BPS = 6_000;

export async function poolMarket(db: Db, now = new Date()): Promise<PoolMarket> {
  const pools = await db.sellerPool.findMany({
    where: { status: 'LIVE', encryptedKey: { not: null }, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    select: { providerId: true, rateBps: true, faceValue: true, drawn: true },
  });
  const rates = pools.map((pool) => pool.rateBps).sort((a, b) => a - b);
  const middle = rates.length >> 1;
  return {
    livePools: pools.length,
    providers: [...new Set(pools.map((pool) => pool.providerId))].sort(),
    medianRateBps: rates.length === 0 ? null : rates.length % 2 ? rates[middle]! : Math.round((rates[middle - 1]! + rates[middle]!) / 2),
    lowestRateBps: rates[0] ?? null,
    highestRateBps: rates.at(-1) ?? null,
    remaining: pools.reduce((sum, pool) => sum + (pool.faceValue > pool.drawn ? pool.faceValue - pool.drawn : 0n), 0n),
  };
}
