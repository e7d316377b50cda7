import type { CatalogOffering } from '../catalog/catalog';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import type { Hold } from '../ledger/holds';
import { unavailable } from '../http/errors';
import { logger } from '../logger';
import { UpstreamError, type ChatProvider } from '../providers/types';
import type { PoolRoute } from '../sellers/pool-directory';
import type { Call } from './call';
import type { GatewayContext } from './context';
import { reserve } from './reserve';

/** A call served with a seller pool's key: the pool, and the hold on its face value. */
export type PoolUse = { route: PoolRoute; hold: Hold };

/**
 * Tries each of the plan's candidates in order; only a failure before anything reached the client
 * (a refused connection, a 429 or 5xx, a refused key) moves on to the next. The hold covers the
 * dearest of them. On a provider with sellers' live pools, the pools go first, oldest listing
 * first, then the platform's own key: each pool is tried only with a hold on its face value for
 * the call's most at list price, and a pool whose key the provider refuses is paused.
 */
export async function withFailover<T>(ctx: GatewayContext, call: Call, attempt: (provider: ChatProvider, offering: CatalogOffering) => Promise<T>): Promise<{ offering: CatalogOffering; result: T }> {
  let lastError: unknown;
  for (const offering of call.plan.candidates) {
    const listHold = call.plan.listHolds[offering.providerId] ?? call.plan.holdAmount;
    // Playground calls are paid from the welcome credit (promo money anyone can farm a little of):
    // a seller is paid in USDC, so pools serve API calls only.
    let routes = call.surface === 'playground' ? [] : await ctx.pools.routes(offering.providerId, listHold);
    if (routes.length > 0 && call.reservation.grant && !(await reserveOwnHolds(ctx, call))) routes = [];
    for (const route of routes) {
      // A seller's own calls are never served by their own pool: they would be paid for their own spending.
      if (route.userId === call.key.userId) continue;
      const provider = ctx.pools.provider(route);
      const hold = provider && (await holdPool(ctx, call, route, listHold));
      if (!hold) continue;
      // On the call from now on, so that its keep-alive extends the pool's hold too.
      call.pool = { route, hold };
      try {
        return { offering, result: await attempt(provider, offering) };
      } catch (error) {
        lastError = error;
        call.pool = null;
        await releasePoolHold(ctx, call, hold);
        if (refusesKey(error)) {
          // Awaited (a refused key is rare): when the buyer hears of the failure, the pool's row
          // says PAUSED, on PostgreSQL too, where the UPDATE is a round trip the answer could outrun.
          await ctx.pools.pause(route, (error as UpstreamError).message).catch((pauseError: unknown) => logger.error('could not pause a seller pool', { poolId: route.id, error: pauseError }));
        }
        // A model this key cannot reach (404) is the pool's limit, not the request's fault: the next route may serve it.
        const poolOnly = error instanceof UpstreamError && error.kind === 'bad_request' && error.status === 404 && !call.upstreamAbort.signal.aborted;
        if (!poolOnly && !mayFailOver(call, offering, error, { poolId: route.id })) throw error;
      }
    }
    // A provider live through pools alone has no key of ours to fall back on.
    if (!ctx.pools.platformKeyConfigured(offering.providerId)) continue;
    try {
      return { offering, result: await attempt(ctx.providers(offering.providerId), offering) };
    } catch (error) {
      lastError = error;
      if (!mayFailOver(call, offering, error)) break;
    }
  }
  if (lastError === undefined) throw unavailable('model_unavailable', `No provider has capacity for '${call.plan.model.id}' right now. Retry later.`);
  throw lastError;
}

/**
 * A seller pool may serve a call drawn on a grant: a pool's settlement posts the buyer's own holds
 * with the pool's, in one transaction, so the call reserves its own now and gives its draw back.
 * False when that reservation is refused (another instance holds the wallet's money in its
 * grants): the platform's key then serves the call, on the grant.
 */
async function reserveOwnHolds(ctx: GatewayContext, call: Call): Promise<boolean> {
  const draw = call.reservation.grant!;
  try {
    call.reservation = await reserve(ctx, call.key, call.plan, call.requestId, call.surface);
  } catch {
    return false;
  }
  ctx.grants!.giveBack(draw);
  return true;
}

/**
 * The provider refused the pool's key itself: rejected (401), out of credit (402, or a billing
 * error). A 403 can be about one model or a region, and a 429 about a rate, not the account: the
 * call fails over without pausing the pool.
 */
function refusesKey(error: unknown): boolean {
  return error instanceof UpstreamError && error.kind === 'auth' && error.status !== 403;
}

function mayFailOver(call: Call, offering: CatalogOffering, error: unknown, extra: Record<string, string> = {}): boolean {
  const retryable = error instanceof UpstreamError && error.retryable && !call.upstreamAbort.signal.aborted;
  const detail = error instanceof UpstreamError ? { kind: error.kind, status: error.status, message: error.message } : { error };
  logger.warn('upstream call failed', { requestId: call.requestId, provider: offering.providerId, ...extra, ...detail, willFailOver: retryable });
  return retryable;
}

/** Holds `amount` of the pool's face value for this call; null when the pool no longer has it (drawn by others meanwhile). */
async function holdPool(ctx: GatewayContext, call: Call, route: PoolRoute, amount: bigint): Promise<Hold | null> {
  try {
    const { holds } = await ctx.ledger.reserve({
      idempotencyKey: `pool:${call.requestId}:${route.id}`,
      sources: [route.accountId],
      creditAccountId: SYSTEM_ACCOUNTS.sellerCapacity.id,
      amount,
      ttlMs: ctx.holdTtlMs,
      memo: `pool ${route.id} ${call.requestId}`,
    });
    return holds[0] ?? null;
  } catch (error) {
    if (error instanceof LedgerError && (error.code === 'insufficient_funds' || error.code === 'account_not_found')) return null;
    throw error;
  }
}

/** The pool's hold back to it: the call failed, or the pool's key did not serve it. */
export async function releasePoolHold(ctx: GatewayContext, call: Call, hold: Hold): Promise<void> {
  await ctx.ledger.release({ holds: [hold], idempotencyKey: `release:${hold.id}` }).catch((error: unknown) => {
    logger.error("could not release a seller pool's hold; the sweeper will", { requestId: call.requestId, holdId: hold.id, error });
  });
}
