import { z } from 'zod';
import { insertAudit } from '../../audit';
import type { Db } from '../../db/client';
import { sqlFor } from '../../db/client';
import { conflict, parseOrThrow, unavailable } from '../../http/errors';
import { createGuards } from '../../http/guards';
import { json, readJsonBody } from '../../http/json';
import { loadPayoutConfig } from './config';
import { createPayoutRunner, type PayoutRunner } from './payouts';

const runSchema = z.strictObject({});

/**
 * POST /api/admin/payouts/run — an operator runs this period's payouts now (the weekly run does
 * the same from the sweeper). Audited with who asked and what the run did.
 */
export function createPayoutAdminApi({ db, env = process.env, runner }: { db: Db; env?: NodeJS.ProcessEnv; runner?: PayoutRunner }) {
  const guard = createGuards({ db, env }).admin;

  const runPayouts = guard(async ({ request, actor }) => {
    const text = await request.clone().text();
    if (text.trim() !== '') parseOrThrow(runSchema, await readJsonBody(request));
    let active = runner;
    if (!active) {
      const config = loadPayoutConfig(env);
      if (config.state !== 'enabled') throw unavailable('payouts_not_configured', `Seller payouts are not set up on this instance: ${config.reason}.`);
      active = createPayoutRunner({ db, policy: config.policy, chain: config.chain });
    }
    const result = await active.run({ actor });
    await insertAudit(sqlFor(db), { actor, action: 'payouts.run', targetType: 'payout_run', targetId: result.period, details: { ...result } });
    if (!result.ran) throw conflict('payout_run_in_progress', 'Another payout run is under way on this or another instance; try again when it ends.');
    return json({ object: 'payout_run', ...result });
  });

  return { runPayouts };
}
