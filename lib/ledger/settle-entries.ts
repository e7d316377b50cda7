import type { Db } from '../db/client';
import { SETTLED_HOLD_POSTS } from './holds';

/**
 * Gives every hold that posts itself (holds.ts) the settle transaction and two entries a
 * settlement wrote before holds posted themselves, and points the hold at it: the same money,
 * recorded the older way. Readers of this release count such a hold by its entries and no longer
 * by itself, so nothing changes for them; releases from before read only entries, and need this
 * before they run again on these books (a rollback). Idempotent: a hold with its transaction no
 * longer posts itself, so a second run finds nothing. One database transaction. Returns how many
 * holds it converted.
 */
export async function writeSettleEntries(db: Db): Promise<number> {
  const posts = `FROM "Hold" WHERE ${SETTLED_HOLD_POSTS}`;
  // Derived ids: 'txn_' and 'ent_d_' / 'ent_c_' before the hold's own id, unique as it is.
  const [transactions, , holds] = await db.$transaction([
    db.$executeRawUnsafe(
      `INSERT INTO "LedgerTransaction" ("id", "idempotencyKey", "kind", "memo", "actor", "createdAt") SELECT 'txn_' || "id", 'settle:' || "resolveIdempotencyKey", 'settle', "memo", NULL, "resolvedAt" ${posts}`,
    ),
    db.$executeRawUnsafe(
      `INSERT INTO "LedgerEntry" ("id", "transactionId", "accountId", "amount", "createdAt") SELECT 'ent_d_' || "id", 'txn_' || "id", "debitAccountId", -"settledAmount", "resolvedAt" ${posts} UNION ALL SELECT 'ent_c_' || "id", 'txn_' || "id", "creditAccountId", "settledAmount", "resolvedAt" ${posts}`,
    ),
    db.$executeRawUnsafe(`UPDATE "Hold" SET "transactionId" = 'txn_' || "id" WHERE ${SETTLED_HOLD_POSTS}`),
  ]);
  if (transactions !== holds) throw new Error(`wrote ${transactions} settle transactions for ${holds} holds`);
  return holds;
}
