import { insertAudit, type AuditInput } from '../audit';
import { sql } from '../db/sql';
import { openSellerEarningsAccount, SYSTEM_ACCOUNTS, sellerPoolAccountId } from '../ledger/accounts';
import type { Ledger } from '../ledger/ledger';
import type { Micros } from '../money';

export type NewPool = {
  id: string;
  userId: string;
  providerId: string;
  encryptedKey: string;
  keyHint: string;
  faceValue: Micros;
  rateBps: number;
  expiresAt: Date | null;
};

/**
 * Lists a pool: its row, its account and the face value issued to that account by the capacity
 * contra, with the audit row, in one ledger transaction. A call can draw on the pool only through
 * that account (a conditional reservation, like a wallet's), so no concurrency can make the pool
 * serve beyond its face value.
 */
export async function listPool(ledger: Ledger, pool: NewPool, audit: AuditInput): Promise<void> {
  const accountId = sellerPoolAccountId(pool.id);
  await ledger.transfer(
    {
      idempotencyKey: `pool-listing:${pool.id}`,
      kind: 'pool_listing',
      memo: `pool ${pool.id} (${pool.providerId}) face value`,
      entries: [
        { accountId: SYSTEM_ACCOUNTS.sellerCapacity.id, amount: -pool.faceValue },
        { accountId, amount: pool.faceValue },
      ],
    },
    (tx) => insertAudit(tx, audit),
    {
      before: async (tx) => {
        const now = new Date();
        await tx.execute(
          sql`INSERT INTO "SellerPool" ("id", "userId", "providerId", "encryptedKey", "keyHint", "faceValue", "drawn", "rateBps", "status", "expiresAt", "verifiedAt", "createdAt", "updatedAt") VALUES (${pool.id}, ${pool.userId}, ${pool.providerId}, ${pool.encryptedKey}, ${pool.keyHint}, ${pool.faceValue}, 0, ${pool.rateBps}, 'LIVE', ${pool.expiresAt}, ${now}, ${now}, ${now})`,
        );
        await tx.execute(
          sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${accountId}, 'SELLER_POOL', ${`pool:${pool.id}`}, ${pool.userId}, 0, 0, ${now}, ${now})`,
        );
        // Where the pool's earnings go, there from the start for the seller's dashboard.
        await openSellerEarningsAccount(tx, pool.userId, now);
      },
    },
  );
}
