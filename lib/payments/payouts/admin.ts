import { z } from 'zod';
import { insertAudit } from '../../audit';
import type { Db } from '../../db/client';
import { sqlFor } from '../../db/client';
import { conflict, parseOrThrow, unavailable } from '../../http/errors';
import { createGuards } from '../../http/guards';
import { json, readJsonBody } from '../../http/json';
import { microsToUsdNumber } from '../../money';
import { loadPayoutConfig } from './config';
import { createPayoutRunner, type PayoutRunner } from './payouts';

const runSchema = z.strictObject({});

const listQuerySchema = z.strictObject({
  status: z
    .enum(['pending', 'signed', 'confirmed', 'failed'])
    .transform((s) => s.toUpperCase() as 'PENDING' | 'SIGNED' | 'CONFIRMED' | 'FAILED')
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/**
 * POST /api/admin/payouts/run — an operator runs this period's payouts now (the weekly run does
 * the same from the sweeper). Audited with who asked and what the run did.
 */
export function createPayoutAdminApi({ db, env = process.env, runner }: { db: Db; env?: NodeJS.ProcessEnv; runner?: PayoutRunner }) {
  const guard = createGuards({ db, env }).admin;

  /** GET /api/admin/payouts?status=&limit= — recent payouts, newest first, with who and where to. */
  const listPayouts = guard(async ({ request }) => {
    const query = parseOrThrow(listQuerySchema, Object.fromEntries(new URL(request.url).searchParams));
    const config = loadPayoutConfig(env);
    const explorer = config.state === 'enabled' ? config.chain.network.explorerTxUrl : null;
    const rows = await db.sellerPayout.findMany({
      where: query.status ? { status: query.status } : {},
      include: { user: { select: { email: true } } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit,
    });
    return json({
      object: 'list',
      payouts_enabled: config.state === 'enabled',
      // Why not, by variable name only (never a value: the signer key is a secret).
      payouts_reason: config.state === 'enabled' ? null : config.reason,
      data: rows.map((row) => ({
        id: row.id,
        user: { id: row.userId, email: row.user.email },
        amount_usd: microsToUsdNumber(row.amount),
        status: row.status.toLowerCase(),
        to_address: row.toAddress,
        chain_id: row.chainId,
        tx_hash: row.txHash,
        tx_url: explorer && row.txHash ? `${explorer}${row.txHash}` : null,
        period: row.period,
        error: row.error,
        created_at: row.createdAt.toISOString(),
        confirmed_at: row.confirmedAt?.toISOString() ?? null,
      })),
    });
  });

  const runPayouts = guard(async ({ request, actor }) => {
    const text = await request.clone().text();
    if (text.trim() !== '') parseOrThrow(runSchema, await readJsonBody(request));
    let active = runner;
    if (!active) {
      const config = loadPayoutConfig(env);
      if (config.state !== 'enabled') throw unavailable('payouts_not_configured', `Seller payouts are not set up on this instance: ${config.reason}.`);
      active = createPayoutRunner({ db, policy: config.policy, chain: config.chain });
    }
    let result: Awaited<ReturnType<typeof active.run>> | null = null;
    try {
      result = await active.run({ actor });
    } finally {
      // Audited whatever happened: a run that failed halfway may already have moved money.
      await insertAudit(sqlFor(db), { actor, action: 'payouts.run', targetType: 'payout_run', targetId: result?.period ?? null, details: result ? { ...result } : { failed: true } });
    }
    if (!result.ran) throw conflict('payout_run_in_progress', 'Another payout run is under way on this or another instance; try again when it ends.');
    return json({ object: 'payout_run', ...result });
  });

  return { listPayouts, runPayouts };
}
