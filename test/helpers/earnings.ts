import type { Db } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import { Ledger, SYSTEM_ACCOUNTS } from '../../lib/ledger';
import { getOrCreateSellerEarningsAccount, sellerEarningsAccountId } from '../../lib/ledger/accounts';

/**
 * Credits a seller's earnings as a pool-served call's settlement does (kind seller_earnings,
 * revenue → seller; revenue funded from the promo contra first so it never goes negative), with
 * the entries dated `at`: the clock the holding period reads.
 */
export async function earn(db: Db, userId: string, amount: bigint, at: Date, kind = 'seller_earnings'): Promise<string> {
  const ledger = new Ledger(db);
  await getOrCreateSellerEarningsAccount({ db, userId });
  await ledger.transfer({
    idempotencyKey: `test-fund:${newId('txn')}`,
    kind: 'test_fund',
    entries: [
      { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -amount },
      { accountId: SYSTEM_ACCOUNTS.revenue.id, amount },
    ],
  });
  const { transactionId } = await ledger.transfer({
    idempotencyKey: `earn:${newId('req')}`,
    kind,
    entries: [
      { accountId: SYSTEM_ACCOUNTS.revenue.id, amount: -amount },
      { accountId: sellerEarningsAccountId(userId), amount },
    ],
  });
  await db.ledgerEntry.updateMany({ where: { transactionId }, data: { createdAt: at } });
  await db.ledgerTransaction.update({ where: { id: transactionId }, data: { createdAt: at } });
  return transactionId;
}
