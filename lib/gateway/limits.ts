import type { Db } from '../db/client';
import { read, sql, statement, type SqlExecutor, type SqlValue } from '../db/sql';
import { formatUsd, microsToUsdNumber, type Micros } from '../money';
import type { KeyContext } from './auth';
import { nextUtcMidnight, utcDay } from './day';
import { paymentRequired, tooManyRequests } from '../http/errors';

/**
 * A key's two daily limits, a request count and a dollar budget, whichever runs out first.
 * Both are counters on the key row, reserved in the same database transaction as the wallet
 * hold by one conditional UPDATE, so concurrent requests can never overshoot either.
 */

export type DailyCounters = { requestsToday: number; committedToday: Micros; spentToday: Micros };

/** Thrown inside the reservation's transaction when a daily limit refuses it (rolls it back). */
export class DailyQuotaRefused extends Error {}

/**
 * Starts the key's counters afresh when the UTC day has changed since its last request (as the key
 * was read; `force` checks the row itself).
 */
export async function rollDailyCounters(db: Db, key: KeyContext, today: string, force = false): Promise<void> {
  if (key.keyId === null || (!force && key.usageDay === today)) return;
  await db.apiKey.updateMany({
    where: { id: key.keyId, usageDay: { not: today } },
    data: { usageDay: today, requestsToday: 0, spentToday: 0n, committedToday: 0n },
  });
}

/** Takes one request and `hold` of today's budget, or throws DailyQuotaRefused. */
export async function reserveDailyQuota(tx: SqlExecutor, key: KeyContext, today: string, hold: Micros): Promise<DailyCounters> {
  if (key.keyId === null) return { requestsToday: 0, committedToday: 0n, spentToday: 0n };
  let text = 'UPDATE "ApiKey" SET "requestsToday" = "requestsToday" + 1, "committedToday" = "committedToday" + ?, "updatedAt" = ? WHERE "id" = ? AND "usageDay" = ?';
  const args: SqlValue[] = [hold, new Date(), key.keyId, today];
  if (key.dailyRequestLimit !== null) {
    text += ' AND "requestsToday" < ?';
    args.push(key.dailyRequestLimit);
  }
  if (key.dailyBudget !== null) {
    text += ' AND "committedToday" <= ?';
    args.push(key.dailyBudget - hold);
  }
  const [row] = await tx.query(statement(`${text} RETURNING "requestsToday", "committedToday", "spentToday"`, args));
  if (!row) throw new DailyQuotaRefused();
  return { requestsToday: read.int(row.requestsToday), committedToday: read.bigint(row.committedToday), spentToday: read.bigint(row.spentToday) };
}

/** At settlement: the unspent part of the hold returns to today's budget (if it is still that day). */
export async function settleDailyQuota(tx: SqlExecutor, key: KeyContext, day: string, hold: Micros, cost: Micros): Promise<void> {
  if (key.keyId === null) return;
  const now = new Date();
  await tx.execute(
    sql`UPDATE "ApiKey" SET "committedToday" = "committedToday" - ${hold - cost}, "spentToday" = "spentToday" + ${cost}, "lastUsedAt" = ${now}, "updatedAt" = ${now} WHERE "id" = ${key.keyId} AND "usageDay" = ${day}`,
  );
}

/** A failed call gives back both its request and its budget: failures never count. */
export async function releaseDailyQuota(tx: SqlExecutor, key: KeyContext, day: string, hold: Micros): Promise<void> {
  if (key.keyId === null) return;
  await tx.execute(
    sql`UPDATE "ApiKey" SET "committedToday" = "committedToday" - ${hold}, "requestsToday" = "requestsToday" - 1, "updatedAt" = ${new Date()} WHERE "id" = ${key.keyId} AND "usageDay" = ${day}`,
  );
}

/**
 * After a refused reservation: which daily limit refused it. Null when, read again, neither refuses
 * it any more — the UTC day turned between the roll and the reservation, or calls in flight have
 * since settled below their holds — and the caller should simply try again. With `final`, the
 * budget is blamed rather than null: the caller has retried enough.
 */
export async function dailyLimitError(db: Db, key: KeyContext, hold: Micros, { final = false }: { final?: boolean } = {}) {
  if (key.keyId === null) return null;
  const counters = await db.apiKey.findUnique({ where: { id: key.keyId }, select: { requestsToday: true, committedToday: true, spentToday: true } });
  const current = counters ?? { requestsToday: 0, committedToday: 0n, spentToday: 0n };
  const reset = nextUtcMidnight(new Date());
  const headers = quotaHeaders(key, current);
  const retryAfter = (reset.getTime() - Date.now()) / 1000;
  if (key.dailyRequestLimit !== null && current.requestsToday >= key.dailyRequestLimit) {
    return tooManyRequests(
      'daily_request_limit_reached',
      `This key has used all ${key.dailyRequestLimit} of its requests for today. The limit resets at ${reset.toISOString()}.`,
      retryAfter,
      headers,
    );
  }
  if (key.dailyBudget === null || (!final && current.committedToday + hold <= key.dailyBudget)) return null;
  const budget = key.dailyBudget;
  const left = budget > current.committedToday ? budget - current.committedToday : 0n;
  return paymentRequired(
    'daily_budget_exhausted',
    `This request may cost up to ${formatUsd(hold)}, but only ${formatUsd(left)} of this key's ${formatUsd(budget)} daily budget is left (counting calls in flight at their maximum). The budget resets at ${reset.toISOString()}.`,
    { ...headers, 'retry-after': String(Math.ceil(retryAfter)) },
  );
}

/** The key's counters as of its lookup: zero when its last request was on an earlier UTC day. */
export function currentCounters(key: Pick<KeyContext, 'usageDay' | 'requestsToday' | 'committedToday' | 'spentToday'>, now = new Date()): DailyCounters {
  return key.usageDay === utcDay(now) ? { requestsToday: key.requestsToday, committedToday: key.committedToday, spentToday: key.spentToday } : { requestsToday: 0, committedToday: 0n, spentToday: 0n };
}

/** Both counters on every /v1 response, in the x-ratelimit-* style clients already read. */
export function quotaHeaders(key: Pick<KeyContext, 'dailyRequestLimit' | 'dailyBudget'>, counters: DailyCounters): Record<string, string> {
  const headers: Record<string, string> = { 'x-ratelimit-reset': nextUtcMidnight(new Date()).toISOString() };
  if (key.dailyRequestLimit !== null) {
    headers['x-ratelimit-limit-requests-day'] = String(key.dailyRequestLimit);
    headers['x-ratelimit-remaining-requests-day'] = String(Math.max(0, key.dailyRequestLimit - counters.requestsToday));
  }
  if (key.dailyBudget !== null) {
    const left = key.dailyBudget > counters.committedToday ? key.dailyBudget - counters.committedToday : 0n;
    headers['x-budget-limit-usd-day'] = String(microsToUsdNumber(key.dailyBudget));
    headers['x-budget-remaining-usd-day'] = String(microsToUsdNumber(left));
  }
  return headers;
}
