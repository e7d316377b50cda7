import type { ApiRequest } from '../http/api-request';
import { microsToUsdNumber } from '../money';
import { json } from '../http/json';
import { authenticateApiKey } from './auth';
import type { GatewayContext } from './context';
import { currentCounters, quotaHeaders } from './limits';
import { utcDay, nextUtcMidnight } from './day';

/** GET /v1/key — the calling key's name, limits, today's usage and the wallet balance. */
export async function handleKeyInfo(ctx: GatewayContext, request: ApiRequest): Promise<Response> {
  const key = await authenticateApiKey(ctx.db, request);
  const today = utcDay(new Date());
  const counters = currentCounters(key);
  const wallet = await ctx.db.ledgerAccount.findUnique({ where: { id: key.walletAccountId }, select: { balance: true, available: true } });
  return json({
    object: 'key',
    id: key.keyId,
    name: key.name,
    models: key.allowedModels,
    limits: {
      daily_requests: key.dailyRequestLimit,
      daily_budget_usd: key.dailyBudget === null ? null : microsToUsdNumber(key.dailyBudget),
    },
    usage_today: {
      day: today,
      requests: counters.requestsToday,
      spent_usd: microsToUsdNumber(counters.spentToday),
      remaining_requests: key.dailyRequestLimit === null ? null : Math.max(0, key.dailyRequestLimit - counters.requestsToday),
      // Calls in flight count at their hold, as the reservation counts them.
      remaining_budget_usd: key.dailyBudget === null ? null : microsToUsdNumber(key.dailyBudget > counters.committedToday ? key.dailyBudget - counters.committedToday : 0n),
    },
    reset_at: nextUtcMidnight(new Date()).toISOString(),
    balance_usd: microsToUsdNumber(wallet?.balance ?? 0n),
    available_usd: microsToUsdNumber(wallet?.available ?? 0n),
  }, { headers: quotaHeaders(key, counters) });
}
