import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { CatalogOffering } from '../catalog/catalog';
import { newId } from '../ids';
import { LedgerError } from '../ledger/errors';
import type { PoolDraw, SettleInput } from '../ledger/ledger';
import type { AccountState, UsageRow } from '../ledger/holds';
import { lotStatus } from '../ledger/lots';
import { logger } from '../logger';
import { microsToUsdNumber, type Micros } from '../money';
import { UpstreamError, type PartialUsage, type UpstreamUsage } from '../providers/types';
import { HttpError, invalidRequest, upstreamFailed } from '../http/errors';
import { endCall, type Call } from './call';
import type { GatewayContext } from './context';
import { abandonIdempotencyKey } from './idempotency';
import { releasePoolHold, type PoolUse } from './failover';
import { atListPrice, usageCost } from './pricing';
import type { GrantDraw } from './grants';
import { estimateOutputTokens } from './tokens';
import { now } from '../clock';
import type { Db } from '../db/client';

type PackBilling = { id: string; status: 'ACTIVE' | 'EXHAUSTED' | 'EXPIRED'; remaining: Micros; remainingTokensEstimate: number };

/** What a settled call cost, and what is left where it was paid from (null when unknown). */
export type Billing = { cost: Micros; balance: Micros | null; pack: PackBilling | null };

/**
 * Settles a call at its actual cost — never more than its hold, the promise made to the buyer —
 * with its usage row and the key's daily counters, in one ledger operation. A failure here is
 * logged, not thrown: the answer is already owed to the client, and the sweeper releases the hold.
 */
export async function settle(ctx: GatewayContext, call: Call, offering: CatalogOffering, usage: UpstreamUsage, status: 'SUCCESS' | 'CLIENT_ABORTED'): Promise<Billing> {
  endCall(call);
  const fullCost = usageCost(offering, usage);
  const held = call.plan.holdAmount;
  const cost = fullCost > held ? held : fullCost;
  if (fullCost > held) logger.warn('usage exceeded the hold; charged the hold', { requestId: call.requestId, fullCost, hold: held });
  if (call.reservation.grant) {
    // Drawn on a grant: recorded here, posted with the grant's next posting (grants.ts).
    const balance = endOnGrant(ctx, call, call.reservation.grant, cost, 'SETTLED', usageRow(call, offering, usage, cost, status, null));
    return { cost, balance, pack: null };
  }
  const input: SettleInput = {
    holds: call.reservation.holds,
    amount: cost,
    idempotencyKey: `settle:${call.requestId}`,
    quota: quotaOf(call),
    usage: usageRow(call, offering, usage, cost, status, null),
    ...(call.pool && { pool: poolDraw(call.pool, offering, usage, cost) }),
  };
  // A settlement shares its commit with the others of its turn (group commit), so one lost
  // connection or busy database fails several at once, and a settlement given up on is a call
  // never charged. It is idempotent by its key: try again a few times before leaving it to the
  // sweeper. The ledger's own refusals (already resolved, exceeds the hold) are final.
  for (let attempt = 1; ; attempt++) {
    try {
      const settled = await ctx.ledger.settle(input);
      return { cost, ...sourceBalances(call, offering, settled.accounts ?? [], settled.shares) };
    } catch (error) {
      // Only a late settlement writes a transaction, and so a memo: one on time is its hold.
      if (error instanceof LedgerError && error.code === 'hold_expired') return settleLate(ctx, call, offering, { ...input, memo: `${call.plan.model.id} via ${offering.providerId}${call.pool ? ` (pool ${call.pool.route.id})` : ''}` });
      if (error instanceof LedgerError || attempt === SETTLE_ATTEMPTS) return unbilled(ctx, call, input, error);
      logger.warn('settlement failed; retrying', { requestId: call.requestId, attempt, error });
      await new Promise((resolve) => setTimeout(resolve, 25 * 4 ** attempt));
    }
  }
}

const SETTLE_ATTEMPTS = 3;

/**
 * What a pool-served call owes its pool and seller: the upstream spend at list price (capped by
 * the pool's hold, as the buyer's charge is by theirs), and the seller's rate of it, rounded down
 * to the micro-dollar and never above what the buyer paid.
 */
export function poolDraw(pool: PoolUse, offering: CatalogOffering, usage: UpstreamUsage, charged: Micros): PoolDraw {
  const fullListCost = usageCost(atListPrice(offering), usage);
  const listCost = fullListCost > pool.hold.amount ? pool.hold.amount : fullListCost;
  const share = (listCost * BigInt(pool.route.rateBps)) / 10_000n;
  return {
    poolId: pool.route.id,
    hold: pool.hold,
    listCost,
    earnings: share > charged ? charged : share,
    sellerUserId: pool.route.userId,
  };
}

/** The holds lapsed before the call ended: it is charged what its sources still have (Ledger.settleLate). */
async function settleLate(ctx: GatewayContext, call: Call, offering: CatalogOffering, input: SettleInput): Promise<Billing> {
  try {
    const { charged, accounts, shares } = await ctx.ledger.settleLate(input);
    logger.error('a call outlived its holds; charged what its sources still had', { requestId: call.requestId, cost: input.amount, charged });
    if (input.pool) {
      // The buyer's charge is committed: a failure here must not report the call as unbilled.
      await ctx.ledger.drawPoolLate({ ...input.pool, earnings: input.pool.earnings > charged ? charged : input.pool.earnings }, input.idempotencyKey).catch((error: unknown) => {
        logger.error("could not draw a late call's pool; the seller's earnings for it are missing", { requestId: call.requestId, poolId: input.pool!.poolId, error });
      });
    }
    return { cost: charged, ...sourceBalances(call, offering, accounts, shares) };
  } catch (error) {
    return unbilled(ctx, call, input, error);
  }
}

/**
 * A served call whose settlement failed for good: logged, and recorded where the audit sees it (a
 * usage row at cost 0, flagged settle_failed, outside the ledger), so that a call served free is
 * never silent. If the database is what failed, the log is all there is.
 */
async function unbilled(ctx: GatewayContext, call: Call, input: SettleInput, error: unknown): Promise<Billing> {
  logSettleFailure(call)(error);
  if (input.usage) await recordUnbilled(ctx.db, input.usage);
  return { cost: 0n, balance: null, pack: null };
}

/** A served call that cannot be charged, where the audit sees it: its usage row at cost 0, flagged settle_failed, outside the ledger. */
export async function recordUnbilled(db: Db, usage: UsageRow): Promise<void> {
  await db.usageRecord.create({ data: { ...usage, cost: 0n, errorCode: 'settle_failed' }, select: { id: true } }).catch((error: unknown) => {
    logger.error('could not record an unbilled call', { requestId: usage.requestId, error });
  });
}

/**
 * A failed or abandoned call: releases its hold and gives its request back to the key's limits,
 * recording why, in one ledger operation. Nothing is charged. Returns the error to answer with.
 */
export async function release(ctx: GatewayContext, call: Call, error: unknown, served?: { offering: CatalogOffering; usage: UpstreamUsage }): Promise<HttpError> {
  endCall(call);
  if (call.pool) await releasePool(ctx, call, call.pool, served);
  const httpError = toHttpError(error);
  // A client that hung up before anything was produced owes nothing either; say which it was.
  const status = httpError.code === 'client_closed_request' ? 'CLIENT_ABORTED' : 'UPSTREAM_ERROR';
  if (call.reservation.grant) {
    endOnGrant(ctx, call, call.reservation.grant, 0n, 'RELEASED', usageRow(call, null, null, 0n, status, httpError.code));
    return httpError;
  }
  try {
    await ctx.ledger.release({
      holds: call.reservation.holds,
      idempotencyKey: `release:${call.requestId}`,
      quota: quotaOf(call),
      usage: usageRow(call, null, null, 0n, status, httpError.code),
    });
  } catch (releaseError) {
    logger.error('could not release a hold after an upstream failure; the sweeper will', { requestId: call.requestId, error: releaseError });
  }
  if (call.idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId }).catch(() => undefined);
  return httpError;
}

/**
 * A failed call's pool: its hold goes back whole, unless the upstream had produced something on the
 * pool's key (`served`: a stream cut off mid-way), which the provider bills the seller for. Then the
 * pool is drawn by that and the seller paid for it, though the buyer is not charged: a pool never
 * serves beyond its face value.
 */
async function releasePool(ctx: GatewayContext, call: Call, pool: PoolUse, served: { offering: CatalogOffering; usage: UpstreamUsage } | undefined): Promise<void> {
  if (!served || served.usage.prompt_tokens + served.usage.completion_tokens <= 0) return releasePoolHold(ctx, call, pool.hold);
  const draw = poolDraw(pool, served.offering, served.usage, 0n);
  const share = (draw.listCost * BigInt(pool.route.rateBps)) / 10_000n;
  await ctx.ledger.drawPool({ pool: { ...draw, earnings: share }, idempotencyKey: `failed:${call.requestId}` }).catch((error: unknown) => {
    logger.error("could not draw a failed call's pool; the sweeper returns its hold", { requestId: call.requestId, poolId: pool.route.id, error });
  });
}

/** A call drawn on a grant ends: its hold row and usage row wait in memory for the grant's next posting. Returns the wallet's balance as this instance knows it. */
function endOnGrant(ctx: GatewayContext, call: Call, draw: GrantDraw, cost: Micros, status: 'SETTLED' | 'RELEASED', usage: UsageRow): Micros | null {
  return ctx.grants!.end(draw, {
    holdId: newId('hold'),
    requestId: call.requestId,
    amount: draw.amount,
    cost,
    status,
    // As a reservation of its own names its hold (reserve.ts).
    memo: `${call.plan.model.id} ${call.requestId}`,
    drawnAt: draw.drawnAt,
    endedAt: now(),
    usage,
  });
}

/** The text an OpenAI-shaped completion produced (its messages, tool names and arguments), for billing one whose upstream reported no usage. */
export function producedByCompletion(completion: ChatCompletion): string {
  return completion.choices.map((c) => (c.message.content ?? '') + (c.message.tool_calls ?? []).map((t) => ('function' in t ? t.function.name + t.function.arguments : '')).join('')).join('');
}

/** When an upstream reports no usage: the counted prompt and an estimate of the tokens produced. */
export function estimatedUsage(call: Call, producedText: string): UpstreamUsage {
  const completion = estimateOutputTokens(producedText);
  return { prompt_tokens: call.plan.countedPromptTokens, completion_tokens: completion, total_tokens: call.plan.countedPromptTokens + completion };
}

/**
 * A stream that did not report its final usage (its client left, or it ended without it): the
 * prompt as the upstream reported it, with its cache split (Claude's message_start), which the
 * planned count is not (it holds earlier turns' thinking, every image at its cap, and no cache
 * discount); the output is the larger of what the upstream reported so far and the estimate of
 * what was produced. With no prompt reported (OpenAI-compatible upstreams report at the end, an
 * Anthropic-compatible proxy may leave it out) the planned count stands in, as in estimatedUsage.
 */
export function usageSoFar(call: Call, producedText: string, reported: PartialUsage | null): UpstreamUsage {
  if (!reported || reported.prompt_tokens <= 0) return estimatedUsage(call, producedText);
  const completion = Math.max(reported.completion_tokens, estimateOutputTokens(producedText));
  return { ...reported, completion_tokens: completion, total_tokens: reported.prompt_tokens + completion };
}

/** The `billing` object every dialect adds to its answer. */
export function billingForClient(call: Call, billing: Billing) {
  return {
    charged_usd: microsToUsdNumber(billing.cost),
    balance_usd: billing.balance === null ? null : microsToUsdNumber(billing.balance),
    hold_usd: microsToUsdNumber(call.plan.holdAmount),
    ...(billing.pack
      ? {
          pack: {
            id: billing.pack.id,
            status: billing.pack.status,
            remaining_usd: microsToUsdNumber(billing.pack.remaining),
            remaining_tokens_est: billing.pack.remainingTokensEstimate,
          },
        }
      : {}),
  };
}

export function logSettleFailure(call: Call) {
  return (error: unknown) => logger.error('settlement failed', { requestId: call.requestId, holdIds: call.reservation.holds.map((h) => h.id), error });
}

function quotaOf(call: Call) {
  return call.key.keyId === null ? undefined : { keyId: call.key.keyId, day: call.reservation.day };
}

/** The wallet's balance and the first lot that paid, after the settlement. */
function sourceBalances(call: Call, offering: CatalogOffering, accounts: AccountState[], shares: Micros[]): Omit<Billing, 'cost'> {
  let balance: Micros | null = null;
  let pack: PackBilling | null = null;
  for (const [index, account] of accounts.entries()) {
    const lot = call.reservation.lots.get(account.id);
    if (!lot) {
      balance = account.balance;
      continue;
    }
    if (pack || shares[index] === 0n) continue;
    // An embedding model has no output price: its input tokens then.
    const perToken = offering.sellOutputPer1M > 0n ? offering.sellOutputPer1M : offering.sellInputPer1M > 0n ? offering.sellInputPer1M : 1n;
    pack = {
      id: lot.id,
      status: lotStatus({ status: 'ACTIVE', expiresAt: lot.expiresAt }, account.balance),
      remaining: account.balance,
      // What is left, in output tokens of the model that just served: the conservative estimate.
      remainingTokensEstimate: Number((account.balance * 1_000_000n) / perToken),
    };
  }
  return { balance, pack };
}

function usageRow(call: Call, offering: CatalogOffering | null, usage: UpstreamUsage | null, cost: Micros, status: UsageRow['status'], errorCode: string | null): UsageRow {
  return {
    id: newId('usg'),
    requestId: call.requestId,
    userId: call.key.userId,
    apiKeyId: call.key.keyId,
    modelId: call.plan.model.id,
    providerId: offering?.providerId ?? null,
    stream: call.stream,
    promptTokens: usage?.prompt_tokens ?? 0,
    completionTokens: usage?.completion_tokens ?? 0,
    cachedTokens: usage?.cached_tokens ?? 0,
    cost,
    latencyMs: Math.round(performance.now() - call.startedAt),
    status,
    errorCode,
    createdAt: now(),
  };
}

/** Any failure of an upstream call as the answer to give (the upstream's own text never passes unsanitized). */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof UpstreamError) {
    if (error.kind === 'aborted') return new HttpError({ status: 499, type: 'api_error', code: 'client_closed_request', message: 'The client closed the request.' });
    // The request itself is the problem (refused by the upstream, or not expressible to it): the caller's 400.
    if (error.kind === 'bad_request') return invalidRequest(`The upstream provider refused this request: ${error.message}. You were not charged.`, null, 'upstream_rejected_request');
    return upstreamFailed(`The upstream provider failed: ${error.message}. You were not charged.`);
  }
  logger.error('unexpected error during an upstream call', { error });
  return upstreamFailed('The upstream call failed. You were not charged.');
}
