import { welcomeCreditOf } from '../credits/welcome';
import type { Db } from '../db/client';
import { walletAccountId } from '../ledger/accounts';
import { microsToUsdNumber } from '../money';

/**
 * The caller's profile and wallet: what the header and the dashboard show. The balance is the
 * wallet's, what an API key can spend; the welcome credit (null when there is none) is apart,
 * because it pays only in the playground.
 */
export async function getAccountInfo({ db, userId }: { db: Db; userId: string }) {
  const [user, wallet, welcome] = await Promise.all([
    db.user.findUniqueOrThrow({ where: { id: userId }, select: { id: true, email: true, walletAddress: true, name: true, role: true } }),
    db.ledgerAccount.findUnique({ where: { id: walletAccountId(userId) }, select: { balance: true, available: true } }),
    welcomeCreditOf(db, userId),
  ]);
  return {
    user: { id: user.id, email: user.email, wallet_address: user.walletAddress, name: user.name, role: user.role === 'ADMIN' ? 'admin' : 'user' },
    balance_usd: microsToUsdNumber(wallet?.balance ?? 0n),
    available_usd: microsToUsdNumber(wallet?.available ?? 0n),
    welcome_credit: welcome,
  };
}
