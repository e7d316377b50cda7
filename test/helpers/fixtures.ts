import type { Db } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import { Ledger, SYSTEM_ACCOUNTS, getOrCreateWalletAccount } from '../../lib/ledger';

/** A user whose wallet holds `balance` micro-USD, granted from the promo account. */
export async function createFundedUser(db: Db, balance: bigint, email = `${newId('usr')}@example.test`) {
  const user = await db.user.create({ data: { id: newId('usr'), email } });
  const wallet = await getOrCreateWalletAccount({ db, userId: user.id });
  if (balance > 0n) {
    await new Ledger(db).transfer({
      idempotencyKey: `test-grant:${user.id}`,
      kind: 'grant',
      entries: [
        { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -balance },
        { accountId: wallet.id, amount: balance },
      ],
    });
  }
  return { user, wallet };
}
