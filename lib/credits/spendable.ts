import type { Db } from '../db/client';
import { walletAccountId } from '../ledger/accounts';
import type { Micros } from '../money';

/**
 * A user's credit as the /credits page totals it: the wallet plus every live pack lot (ACTIVE and
 * not yet expired; the welcome lot is one). `balance` is what the ledger holds; `available` is
 * that minus the holds of calls in flight, i.e. what the user can still spend this instant.
 */
export type CreditTotals = { wallet: Micros; walletAvailable: Micros; pack: Micros; packAvailable: Micros };

const ZERO: CreditTotals = { wallet: 0n, walletAvailable: 0n, pack: 0n, packAvailable: 0n };

/** Totals for many users in two queries (the alert check reads a batch of users at once). */
export async function creditTotals({ db, userIds, now = new Date() }: { db: Db; userIds: string[]; now?: Date }): Promise<Map<string, CreditTotals>> {
  const totals = new Map<string, CreditTotals>(userIds.map((id) => [id, { ...ZERO }]));
  if (userIds.length === 0) return totals;
  const [wallets, lots] = await Promise.all([
    db.ledgerAccount.findMany({ where: { id: { in: userIds.map(walletAccountId) } }, select: { userId: true, balance: true, available: true } }),
    db.packLot.findMany({ where: { userId: { in: userIds }, status: 'ACTIVE', expiresAt: { gt: now } }, select: { userId: true, account: { select: { balance: true, available: true } } } }),
  ]);
  for (const wallet of wallets) {
    const entry = wallet.userId ? totals.get(wallet.userId) : undefined;
    if (!entry) continue;
    entry.wallet += wallet.balance;
    entry.walletAvailable += wallet.available;
  }
  for (const lot of lots) {
    const entry = totals.get(lot.userId)!;
    entry.pack += lot.account.balance;
    entry.packAvailable += lot.account.available;
  }
  return totals;
}

/** What the user can spend now: wallet available + live pack lots available. */
export const spendable = (totals: CreditTotals): Micros => totals.walletAvailable + totals.packAvailable;

/** The credit the user holds, counting what open calls have reserved (they settle at or below it). */
export const posted = (totals: CreditTotals): Micros => totals.wallet + totals.pack;
