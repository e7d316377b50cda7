import type { Db } from '../db/client';
import { formatUsd, microsToUsdNumber, type Micros } from '../money';
import type { KeyContext } from './auth';
import { nextUtcMidnight, utcDay } from './day';
import { paymentRequired, tooManyRequests } from './errors';

/**
 * A key's two daily limits, a request count and a dollar budget, whichever runs out first.
 * Both are counters on the key row, reserved in the same database transaction as the wallet
 * hold by one conditional UPDATE, so concurrent requests can never overshoot either.
 */

/** Starts the key's counters afresh when the UTC day has changed since its last request. */
export async function rollDailyCounters(db: Db, key: KeyContext, today: string): Promise<void> {
  if (key.usageDay === today) return;
  await db.apiKey.updateMany({
    where: { id: key.keyId, usageDay: { not: today } },
    data: { usageDay: today, requestsToday: 0, spentToday: 0n, committedToday: 0n },
  });
}

/** The reservation of one request and `hold` of budget; matches no row (P2025) when a limit is reached. */
export function reserveDailyQuota(db: Db, key: KeyContext, today: string, hold: Micros) {
  return db.apiKey.update({
    where: {
      id: key.keyId,
      usageDay: today,
      ...(key.dailyRequestLimit !== null ? { requestsToday: { lt: key.dailyRequestLimit } } : {}),
      ...(key.dailyBudget !== null ? { committedToday: { lte: key.dailyBudget - hold } } : {}),
    },
    data: { requestsToday: { increment: 1 }, committedToday: { increment: hold } },
    select: { id: true, requestsToday: true, committedToday: true, spentToday: true },
  });
}

/** At settlement: the unspent part of the hold returns to today's budget (if it is still that day). */
export function settleDailyQuota(db: Db, key: KeyContext, day: string, hold: Micros, cost: Micros) {
  return db.apiKey.updateMany({
    where: { id: key.keyId, usageDay: day },
    data: { committedToday: { decrement: hold - cost }, spentToday: { increment: cost }, lastUsedAt: new Date() },
  });
}

/** A failed call gives back both its request and its budget: failures never count. */
export function releaseDailyQuota(db: Db, key: KeyContext, day: string, hold: Micros) {
  return db.apiKey.updateMany({
    where: { id: key.keyId, usageDay: day },
    data: { committedToday: { decrement: hold }, requestsToday: { decrement: 1 } },
  });
}

/** After a refused reservation: which daily limit refused it, if any (null: it was the wallet). */
export async function dailyLimitError(db: Db, key: KeyContext, today: string, hold: Micros) {
  if (key.dailyRequestLimit === null && key.dailyBudget === null) return null;
  const counters = await db.apiKey.findUnique({ where: { id: key.keyId }, select: { usageDay: true, requestsToday: true, committedToday: true, spentToday: true } });
  if (!counters || counters.usageDay !== today) return null;
  const reset = nextUtcMidnight(new Date());
  const headers = quotaHeaders(key, counters);
  const retryAfter = (reset.getTime() - Date.now()) / 1000;
  if (key.dailyRequestLimit !== null && counters.requestsToday >= key.dailyRequestLimit) {
    return tooManyRequests(
      'daily_request_limit_reached',
      `This key has used all ${key.dailyRequestLimit} of its requests for today. The limit resets at ${reset.toISOString()}.`,
      retryAfter,
      headers,
    );
  }
  if (key.dailyBudget !== null && counters.committedToday + hold > key.dailyBudget) {
    const left = key.dailyBudget > counters.committedToday ? key.dailyBudget - counters.committedToday : 0n;
    return paymentRequired(
      'daily_budget_exhausted',
      `This request may cost up to ${formatUsd(hold)}, but only ${formatUsd(left)} of this key's ${formatUsd(key.dailyBudget)} daily budget is left. The budget resets at ${reset.toISOString()}.`,
      { ...headers, 'retry-after': String(Math.ceil(retryAfter)) },
    );
  }
  return null;
}

export type DailyCounters = { requestsToday: number; committedToday: Micros; spentToday: Micros };

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

export { utcDay };
