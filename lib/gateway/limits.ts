import type { Db } from '../db/client';
import { formatUsd, microsToUsdNumber, type Micros } from '../money';
import type { KeyContext } from './auth';
import { nextUtcMidnight, nextUtcMidnightIso, utcDay } from './day';
import { paymentRequired, tooManyRequests, unauthorized } from '../http/errors';

/**
 * A key's two daily limits, a request count and a dollar budget, whichever runs out first.
 * Both are counters on the key row, taken in the same database transaction as the wallet hold
 * by one conditional UPDATE (the ledger's DailyQuota), so concurrent requests can never
 * overshoot either. This file explains a refusal and reports the counters.
 */

import type { DailyCounters } from '../ledger/holds';
import { now, nowMs } from '../clock';

export type { DailyCounters };

/**
 * After a refused reservation: which daily limit refused it, read from the key row itself (the
 * caller's key may come from the key cache, up to a second old, and its owner may just have changed
 * a limit). Null when, read again, neither refuses it any more — the UTC day turned between the
 * roll and the reservation, or calls in flight have since settled below their holds — and the
 * caller should simply try again. With `final`, the budget is blamed rather than null: the caller
 * has retried enough.
 */
export async function dailyLimitError(db: Db, key: Pick<KeyContext, 'keyId'>, hold: Micros, { final = false }: { final?: boolean } = {}) {
  if (key.keyId === null) return null;
  const row = await db.apiKey.findUnique({
    where: { id: key.keyId },
    select: { usageDay: true, requestsToday: true, committedToday: true, spentToday: true, revokedAt: true, dailyRequestLimit: true, dailyBudget: true },
  });
  // Revoked since it was looked up (on any instance): the reservation refused it.
  if (!row || row.revokedAt) return unauthorized('api_key_revoked', 'This API key has been revoked.');
  const current = currentCounters(row);
  const reset = nextUtcMidnight(now());
  const headers = quotaHeaders(row, current);
  const retryAfter = (reset.getTime() - nowMs()) / 1000;
  if (row.dailyRequestLimit !== null && current.requestsToday >= row.dailyRequestLimit) {
    return tooManyRequests(
      'daily_request_limit_reached',
      `This key has used all ${row.dailyRequestLimit} of its requests for today. The limit resets at ${reset.toISOString()}.`,
      retryAfter,
      headers,
    );
  }
  const budget = row.dailyBudget;
  if (budget !== null && hold > budget) {
    return paymentRequired(
      'daily_budget_exhausted',
      `This request may cost up to ${formatUsd(hold)}, more than this key's whole daily budget of ${formatUsd(budget)}. Lower max_tokens or raise the budget.`,
      headers,
    );
  }
  if (budget === null || (!final && current.committedToday + hold <= budget)) return null;
  const left = budget > current.committedToday ? budget - current.committedToday : 0n;
  return paymentRequired(
    'daily_budget_exhausted',
    `This request may cost up to ${formatUsd(hold)}, but only ${formatUsd(left)} of this key's ${formatUsd(budget)} daily budget is left (counting calls in flight at their maximum). The budget resets at ${reset.toISOString()}.`,
    { ...headers, 'retry-after': String(Math.ceil(retryAfter)) },
  );
}

/**
 * For refusals and replays answered before a reservation has read the key row: the key may come
 * from the key cache, and a revocation through another instance must not be answered with a
 * stored response or the wallet's balance. One read, only on those paths.
 */
export async function refuseIfRevoked(db: Db, key: Pick<KeyContext, 'keyId'>): Promise<void> {
  if (key.keyId === null) return;
  const row = await db.apiKey.findUnique({ where: { id: key.keyId }, select: { revokedAt: true } });
  if (!row || row.revokedAt) throw unauthorized('api_key_revoked', 'This API key has been revoked.');
}

/** The key's counters as of its lookup: zero when its last request was on an earlier UTC day. */
export function currentCounters(key: Pick<KeyContext, 'usageDay' | 'requestsToday' | 'committedToday' | 'spentToday'>, at = now()): DailyCounters {
  return key.usageDay === utcDay(at) ? { requestsToday: key.requestsToday, committedToday: key.committedToday, spentToday: key.spentToday } : { requestsToday: 0, committedToday: 0n, spentToday: 0n };
}

/** Both counters on every /v1 response, in the x-ratelimit-* style clients already read. */
export function quotaHeaders(key: Pick<KeyContext, 'dailyRequestLimit' | 'dailyBudget'>, counters: DailyCounters): Record<string, string> {
  const headers: Record<string, string> = { 'x-ratelimit-reset': nextUtcMidnightIso(now()) };
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
