import { z } from 'zod';
import { insertAudit } from '../audit';
import type { Db } from '../db/client';
import { sqlFor } from '../db/client';
import type { DepositIntent } from '../db/generated/sqlite/client';
import { sql } from '../db/sql';
import { conflict, notFound, parseOrThrow } from '../http/errors';
import { createGuards } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { microsToUsdNumber } from '../money';
import { usdAmount } from '../money-schema';
import { creditDeposit } from './credit';
import { depositView } from './deposits';
import type { PaymentsConfig } from './networks';
import { parseFacts } from './verify';

export const approveDepositSchema = z.strictObject({
  note: z.string().trim().min(1, 'is required').max(500),
  /** What to credit instead of the intent's amounts (an underpayment approved for what arrived). */
  credit_usd: usdAmount.refine((m) => m > 0n && m <= 1_000_000_000_000n, 'must be more than 0').optional(),
  fee_usd: usdAmount.optional(),
});

export const rejectDepositSchema = z.strictObject({ reason: z.string().trim().min(1, 'is required').max(500) });

const listQuerySchema = z.strictObject({
  status: z
    .enum(['awaiting_payment', 'verifying', 'credited', 'needs_review', 'rejected', 'expired'])
    .default('needs_review')
    .transform((s) => s.toUpperCase() as DepositIntent['status']),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** The admin's view: the buyer's view plus who, and the on-chain facts the verifier saw. */
function adminDepositView(intent: DepositIntent & { user: { email: string | null; walletAddress: string | null } }, config: PaymentsConfig | null) {
  return {
    ...depositView(intent, config),
    user: { id: intent.userId, email: intent.user.email, wallet_address: intent.user.walletAddress },
    from_address: intent.fromAddress,
    observed_atomic: intent.observedAtomic?.toString() ?? null,
    observed_usd: intent.observedAtomic === null ? null : microsToUsdNumber(intent.observedAtomic),
    log_index: intent.logIndex,
    reviewed_by: intent.reviewedBy,
    facts: parseFacts(intent.facts),
    ledger_transaction_id: intent.ledgerTransactionId,
  };
}

/**
 * Manual review of deposits, behind the admin guard (lib/http/guards.ts): the queue with the
 * on-chain facts, approve (credits in one ledger transaction naming the admin and the note) and
 * reject (with a reason). Each action writes its audit row in the same database transaction.
 */
export function createDepositAdminApi({ db, getConfig, env = process.env }: { db: Db; getConfig: () => PaymentsConfig; env?: Record<string, string | undefined> }) {
  const guard = createGuards({ db, env }).admin;
  const config = () => {
    try {
      return getConfig();
    } catch {
      return null;
    }
  };
  const withUser = { user: { select: { email: true, walletAddress: true } } } as const;

  const load = async (id: string) => {
    const intent = await db.depositIntent.findUnique({ where: { id }, include: withUser });
    if (!intent) throw notFound('deposit_not_found', `No deposit with id '${id}'.`);
    return intent;
  };

  // GET /api/admin/deposits?status=needs_review
  const list = guard(async ({ request }) => {
    const query = parseOrThrow(listQuerySchema, Object.fromEntries(new URL(request.url).searchParams));
    const rows = await db.depositIntent.findMany({
      where: { status: query.status },
      include: withUser,
      orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
      take: query.limit,
    });
    const cfg = config();
    return json({ object: 'list', data: rows.map((row) => adminDepositView(row, cfg)) });
  });

  // GET /api/admin/deposits/:id
  const get = guard(async ({ params }) => json(adminDepositView(await load(params.id!), config())));

  // POST /api/admin/deposits/:id/approve {note, credit_usd?, fee_usd?}
  const approve = guard(async ({ request, params, actor }) => {
    const input = parseOrThrow(approveDepositSchema, await readJsonBody(request));
    const intent = await load(params.id!);
    if (intent.status !== 'NEEDS_REVIEW') throw conflict('deposit_not_in_review', `This deposit is ${intent.status.toLowerCase()}, not waiting for review.`);
    const facts = parseFacts(intent.facts);
    const credit = input.credit_usd ?? intent.credit;
    const fee = input.fee_usd ?? intent.fee;
    const logIndex = intent.txHash && typeof facts.matched_log_index === 'number' ? facts.matched_log_index : null;
    const result = await creditDeposit({
      db,
      intent,
      from: 'NEEDS_REVIEW',
      logIndex,
      fromAddress: intent.fromAddress,
      observedAtomic: intent.observedAtomic,
      confirmations: intent.confirmations,
      credit,
      fee,
      facts: intent.facts,
      actor,
      memo: `deposit ${intent.id} approved by ${actor}: ${input.note}`,
      review: {
        by: actor,
        note: input.note,
        action: 'deposit.approve',
        details: { note: input.note, credit_micros: credit, fee_micros: fee, review_reason: intent.reviewReason, tx_hash: intent.txHash, chain_id: intent.chainId, log_index: logIndex },
      },
    });
    if (!result.credited) {
      if (result.reason === 'duplicate_transfer') throw conflict('duplicate_transfer', 'This on-chain transfer was already credited to another deposit; approving would credit it twice.');
      throw conflict('deposit_changed', 'This deposit changed meanwhile; reload it.');
    }
    return json(adminDepositView(await load(intent.id), config()));
  });

  // POST /api/admin/deposits/:id/reject {reason}
  const reject = guard(async ({ request, params, actor }) => {
    const { reason } = parseOrThrow(rejectDepositSchema, await readJsonBody(request));
    const intent = await load(params.id!);
    const now = new Date();
    const changed = await sqlFor(db).transaction(async (tx) => {
      const updated = await tx.execute(
        sql`UPDATE "DepositIntent" SET "status" = 'REJECTED', "reviewedBy" = ${actor}, "reviewNote" = ${reason}, "reviewedAt" = ${now}, "nextCheckAt" = ${null}, "updatedAt" = ${now} WHERE "id" = ${intent.id} AND "status" IN ('NEEDS_REVIEW', 'VERIFYING')`,
      );
      if (updated !== 1) return false;
      await insertAudit(tx, {
        actor,
        action: 'deposit.reject',
        targetType: 'deposit_intent',
        targetId: intent.id,
        details: { reason, previous_status: intent.status, review_reason: intent.reviewReason, tx_hash: intent.txHash, chain_id: intent.chainId },
      });
      return true;
    });
    if (!changed) throw conflict('deposit_not_in_review', `This deposit is ${intent.status.toLowerCase()}; only deposits in review or verification can be rejected.`);
    return json(adminDepositView(await load(intent.id), config()));
  });

  return { list, get, approve, reject };
}

export type DepositAdminApi = ReturnType<typeof createDepositAdminApi>;
