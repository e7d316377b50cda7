import { insertAudit } from '../audit';
import type { Db } from '../db/client';
import { sql, statement } from '../db/sql';
import { SYSTEM_ACCOUNTS, getOrCreateWalletAccount, walletAccountId } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import { Ledger } from '../ledger/ledger';
import type { Micros } from '../money';

/** The statuses an intent can be credited from: verification (automatic) or review (an admin). */
export type CreditableStatus = 'VERIFYING' | 'NEEDS_REVIEW';

export type CreditInput = {
  db: Db;
  intent: { id: string; userId: string; chainId: number; txHash: string | null };
  from: CreditableStatus;
  /** The matched Transfer log, when there is one: (chainId, txHash, logIndex) credits at most once. */
  logIndex: number | null;
  fromAddress: string | null;
  observedAtomic: bigint | null;
  confirmations: number;
  credit: Micros;
  fee: Micros;
  facts: string | null;
  actor: string;
  memo: string;
  /** An admin approval: recorded on the intent and in the audit log, in the same transaction. */
  review?: { by: string; note: string; action: string; details: Record<string, unknown> };
};

export type CreditResult = { credited: true; transactionId: string } | { credited: false; reason: 'duplicate_transfer' | 'status_changed' };

class StatusChanged extends Error {}

/** The ledger key of an on-chain transfer: one credit per log, whoever triggers it. */
export const transferKey = (chainId: number, txHash: string, logIndex: number) => `deposit:${chainId}:${txHash.toLowerCase()}:${logIndex}`;

/**
 * One ledger transaction: the credit to the user's wallet and the fee to the platform's fee
 * account, both out of the deposits contra account (gross = credit + fee), together with the
 * intent's move to CREDITED (a conditional UPDATE on its current status) and, for an approval,
 * the audit row. A transfer already credited to another intent credits nothing.
 */
export async function creditDeposit(input: CreditInput): Promise<CreditResult> {
  const { db, intent } = input;
  await getOrCreateWalletAccount({ db, userId: intent.userId });
  const idempotencyKey =
    intent.txHash && input.logIndex !== null ? transferKey(intent.chainId, intent.txHash, input.logIndex) : `deposit-intent:${intent.id}`;
  const entries = [
    { accountId: SYSTEM_ACCOUNTS.deposits.id, amount: -(input.credit + input.fee) },
    { accountId: walletAccountId(intent.userId), amount: input.credit },
    ...(input.fee > 0n ? [{ accountId: SYSTEM_ACCOUNTS.fees.id, amount: input.fee }] : []),
  ].filter((entry) => entry.amount !== 0n);
  const now = new Date();
  try {
    const result = await new Ledger(db).transfer(
      { idempotencyKey, kind: 'deposit', memo: input.memo, actor: input.actor, entries },
      async (tx) => {
        // The ledger row written a moment ago in this same transaction.
        const [posted] = await tx.query(sql`SELECT "id" FROM "LedgerTransaction" WHERE "idempotencyKey" = ${idempotencyKey}`);
        const ledgerTransactionId = posted ? String(posted.id) : null;
        // Only the intent as it was checked: still in that status and with that transaction. A
        // buyer may attach a corrected hash while a check of the old one is under way; crediting
        // then would mark the intent credited under a hash that was never verified.
        const update = sql`UPDATE "DepositIntent" SET "status" = 'CREDITED', "logIndex" = ${input.logIndex}, "fromAddress" = ${input.fromAddress}, "observedAtomic" = ${input.observedAtomic}, "confirmations" = ${input.confirmations}, "facts" = ${input.facts}, "creditedAt" = ${now}, "lastCheckedAt" = ${now}, "nextCheckAt" = ${null}, "ledgerTransactionId" = ${ledgerTransactionId}, "updatedAt" = ${now} WHERE "id" = ${intent.id} AND "status" = ${input.from}`;
        const sameTx = intent.txHash === null ? sql` AND "txHash" IS NULL` : sql` AND "txHash" = ${intent.txHash}`;
        const updated = await tx.execute(statement(update.sql + sameTx.sql, [...update.args, ...sameTx.args]));
        if (updated !== 1) throw new StatusChanged();
        if (input.review) {
          await tx.execute(
            sql`UPDATE "DepositIntent" SET "reviewedBy" = ${input.review.by}, "reviewNote" = ${input.review.note}, "reviewedAt" = ${now} WHERE "id" = ${intent.id}`,
          );
          await insertAudit(tx, { actor: input.actor, action: input.review.action, targetType: 'deposit_intent', targetId: intent.id, details: input.review.details });
        }
      },
    );
    // A replay means this ledger key was already posted: by this intent (it is CREDITED then), or by another one.
    if (result.replayed) return { credited: false, reason: 'duplicate_transfer' };
    return { credited: true, transactionId: result.transactionId };
  } catch (error) {
    if (error instanceof StatusChanged) return { credited: false, reason: 'status_changed' };
    // Another intent holds this (chainId, txHash, logIndex), or the key was posted with other amounts.
    if (error instanceof LedgerError && (error.code === 'idempotency_conflict' || error.code === 'invalid_transaction')) {
      return { credited: false, reason: 'duplicate_transfer' };
    }
    throw error;
  }
}
