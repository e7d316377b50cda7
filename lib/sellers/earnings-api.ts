import type { Db } from '../db/client';
import { createGuards } from '../http/guards';
import { json } from '../http/json';
import { microsToUsdNumber } from '../money';
import { loadPayoutConfig } from '../payments/payouts/config';
import { getPoolDrawDown, getSellerEarnings, nextPeriodStart } from './earnings';

/**
 * GET /api/sell/earnings for the signed-in seller: every query is by the session's user id, so
 * nobody can ask for another seller's earnings (there is no id to pass).
 */
export function createEarningsApi({ db, env = process.env, now = () => new Date() }: { db: Db; env?: NodeJS.ProcessEnv; now?: () => Date }) {
  const guard = createGuards({ db, env }).session;

  const getEarnings = guard(async ({ user }) => {
    const at = now();
    const config = loadPayoutConfig(env);
    const [states, payouts, drawDown, owner] = await Promise.all([
      getSellerEarnings({ db, userId: user.id, holdingMs: config.policy.holdingMs, now: at }),
      db.sellerPayout.findMany({
        where: { userId: user.id },
        select: { id: true, amount: true, status: true, toAddress: true, chainId: true, txHash: true, period: true, createdAt: true, confirmedAt: true },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: 100,
      }),
      getPoolDrawDown({ db, userId: user.id, now: at }),
      db.user.findUnique({ where: { id: user.id }, select: { walletAddress: true } }),
    ]);
    const explorer = config.state === 'enabled' ? config.chain.network.explorerTxUrl : null;
    return json(
      {
        object: 'seller_earnings',
        pending_usd: microsToUsdNumber(states.pending),
        available_usd: microsToUsdNumber(states.available),
        paid_usd: microsToUsdNumber(states.paid),
        processing_usd: microsToUsdNumber(states.processing),
        holding_days: Math.round(config.policy.holdingMs / 86_400_000),
        minimum_payout_usd: microsToUsdNumber(config.policy.minimum),
        payouts_enabled: config.state === 'enabled',
        network: config.state === 'enabled' ? config.chain.network.name : null,
        next_payout_at: config.state === 'enabled' ? nextPeriodStart(at).toISOString() : null,
        wallet_address: owner?.walletAddress ?? null,
        payouts: payouts.map((payout) => ({
          id: payout.id,
          amount_usd: microsToUsdNumber(payout.amount),
          status: payout.status.toLowerCase(),
          to_address: payout.toAddress,
          chain_id: payout.chainId,
          tx_hash: payout.txHash,
          tx_url: explorer && payout.txHash ? `${explorer}${payout.txHash}` : null,
          period: payout.period,
          created_at: payout.createdAt.toISOString(),
          confirmed_at: payout.confirmedAt?.toISOString() ?? null,
        })),
        draw_down: drawDown.map((pool) => ({
          pool_id: pool.poolId,
          provider: pool.provider,
          key_hint: pool.keyHint,
          days: pool.days.map((d) => ({ day: d.day, drawn_usd: microsToUsdNumber(d.drawn) })),
        })),
      },
      { headers: { 'cache-control': 'no-store' } },
    );
  });

  return { getEarnings };
}

export type EarningsApi = ReturnType<typeof createEarningsApi>;
