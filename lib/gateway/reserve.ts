import { SYSTEM_ACCOUNTS } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import { DailyQuotaRefused, type DailyCounters, type Hold } from '../ledger/holds';
import { fundingLots, type CallSurface, type FundingLot } from '../ledger/lots';
import { formatUsd } from '../money';
import { paymentRequired, unavailable } from '../http/errors';
import type { KeyContext } from './auth';
import type { GatewayContext } from './context';
import { utcDay } from './day';
import { dailyLimitError, refuseIfRevoked } from './limits';
import type { RoutePlan } from './routing';
import type { GrantDraw } from './grants';
import { now } from '../clock';

/** A call's money and quota, held before the upstream is called. */
export type Reservation = {
  /** One hold on the wallet, or one per source when pack lots pay first (lots, then the wallet). */
  holds: Hold[];
  /** The lots among the holds' accounts, by account id. */
  lots: Map<string, FundingLot>;
  /** The UTC day the daily quota was taken on, and the key's counters right after. */
  day: string;
  counters: DailyCounters;
  /** Drawn on this instance's grant for the key instead (grants.ts): no holds of its own until its posting. */
  grant: GrantDraw | null;
};

const MAX_QUOTA_ATTEMPTS = 3;
const NO_COUNTERS: DailyCounters = { requestsToday: 0, committedToday: 0n, spentToday: 0n };

/**
 * Reserves the plan's maximum cost and one request of the key's daily limits, in one ledger
 * operation. The money comes from the user's matching pack lots first (most specific, then
 * earliest expiry), then from the wallet. Every refusal is the caller's 4xx, naming the limit.
 */
export async function reserve(ctx: GatewayContext, key: KeyContext, plan: RoutePlan, requestId: string, surface: CallSurface, mayDrawOnGrant = false): Promise<Reservation> {
  if (mayDrawOnGrant && ctx.grants && drawsOnGrants(key, surface)) {
    const draw = await ctx.grants.draw(key, plan.holdAmount);
    if (draw) return { holds: [], lots: new Map(), day: draw.grant.quota.day, counters: ctx.grants.counters(draw), grant: draw };
  }
  // hasActiveLots counts lots an API call may spend; the playground (not the hot path) always looks,
  // since its welcome lot is left out of that probe so new users' API calls skip the lookup.
  const lots = key.hasActiveLots || key.packsOnly || surface === 'playground' ? await fundingLots(ctx.db, { userId: key.userId, modelId: plan.model.id, providerIds: plan.candidates.map((c) => c.providerId), surface }) : [];
  if (key.packsOnly && lots.length === 0) {
    await refuseIfRevoked(ctx.db, key);
    throw paymentRequired('no_active_pack', `This key spends pack credit only, and no active pack covers ${plan.model.id}. Buy a pack that does, or turn off "packs only" for this key.`);
  }
  const sources = [...lots.map((lot) => lot.accountId), ...(key.packsOnly ? [] : [key.walletAccountId])];
  const lotsByAccount = new Map(lots.map((lot) => [lot.accountId, lot]));

  // A refused reservation left nothing behind, so it may simply be tried again when no limit
  // refuses it on a second look: the UTC day turned meanwhile, or concurrent calls settled below
  // their holds. A few attempts at most.
  let gaveBack = false;
  for (let attempt = 0; ; attempt++) {
    const day = utcDay(now());
    try {
      const reserved = await ctx.ledger.reserve({
        idempotencyKey: `hold:${requestId}`,
        sources,
        creditAccountId: SYSTEM_ACCOUNTS.revenue.id,
        amount: plan.holdAmount,
        ttlMs: ctx.holdTtlMs,
        memo: `${plan.model.id} ${requestId}`,
        quota: key.keyId === null ? undefined : { keyId: key.keyId, day },
      });
      return { holds: reserved.holds, lots: lotsByAccount, day, counters: reserved.counters ?? NO_COUNTERS, grant: null };
    } catch (error) {
      // This instance's grants on the wallet may hold what the call needs (money, or the key's
      // budget): given back, the call tries once more, so that the last affordable calls are served.
      if (!gaveBack && ctx.grants && (error instanceof DailyQuotaRefused || (error instanceof LedgerError && error.code === 'insufficient_funds'))) {
        gaveBack = true;
        if (await ctx.grants.giveBackFree(key.walletAccountId)) {
          attempt -= 1;
          continue;
        }
      }
      if (error instanceof DailyQuotaRefused) {
        const final = attempt === MAX_QUOTA_ATTEMPTS - 1;
        const limitError = await dailyLimitError(ctx.db, key, plan.holdAmount, { final });
        if (limitError) throw limitError;
        if (!final) continue;
        throw unavailable('daily_counters_busy', 'The daily counters of this key changed while reserving this request. Retry it.');
      }
      if (error instanceof LedgerError && (error.code === 'insufficient_funds' || error.code === 'account_not_found')) {
        await refuseIfRevoked(ctx.db, key);
        throw await insufficientCredits(ctx, key, plan, lots, surface);
      }
      throw error;
    }
  }
}

/**
 * Which calls a grant may pay: an API key's, on the API, paid from the wallet alone (no pack lot
 * could pay first), and a key without a daily request limit (a grant reserves money and budget
 * ahead, not requests: such a key's requests are counted one call at a time, exactly).
 */
function drawsOnGrants(key: KeyContext, surface: CallSurface): boolean {
  return key.keyId !== null && surface === 'api' && !key.packsOnly && !key.hasActiveLots && key.dailyRequestLimit === null;
}

async function insufficientCredits(ctx: GatewayContext, key: KeyContext, plan: RoutePlan, lots: FundingLot[], surface: CallSurface) {
  // An embedding call (no output tokens) is priced by its input alone.
  const what = plan.maxOutputTokens > 0 ? `prompt plus ${plan.maxOutputTokens} output tokens` : 'its input tokens';
  const cost = `This request may cost up to ${formatUsd(plan.holdAmount)} (${what} on ${plan.model.id})`;
  const lower = plan.maxOutputTokens > 0 ? 'lower max_tokens' : 'send less input';
  const inLots = lots.reduce((sum, lot) => sum + lot.available, 0n);
  if (key.packsOnly) {
    return paymentRequired('insufficient_credits', `${cost}; this key spends pack credit only, and the packs that cover it have ${formatUsd(inLots)} left. Buy a pack or ${lower}.`);
  }
  const wallet = await ctx.db.ledgerAccount.findUnique({ where: { id: key.walletAccountId }, select: { available: true } });
  const available = (wallet?.available ?? 0n) + inLots;
  // A new account's welcome credit is for the playground: say so, or "$0 available" looks like a bug.
  const playgroundOnly =
    surface === 'api'
      ? await ctx.db.packLot.findFirst({ where: { userId: key.userId, playgroundOnly: true, status: 'ACTIVE', expiresAt: { gt: new Date() } }, select: { account: { select: { available: true } } } })
      : null;
  const note = playgroundOnly && playgroundOnly.account.available > 0n ? ` (Your welcome credit of ${formatUsd(playgroundOnly.account.available)} pays for playground calls only.)` : '';
  return paymentRequired('insufficient_credits', `${cost}; the available balance is ${formatUsd(available)}. Add credits or ${lower}.${note}`);
}
