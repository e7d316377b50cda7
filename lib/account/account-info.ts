import type { Db } from '../db/client';
import { json } from '../http/json';
import { walletAccountId } from '../ledger/accounts';
import { microsToUsdNumber } from '../money';
import { authenticateAccountRequest } from './principal';
import { errorResponse } from '../http/errors';

/** The caller's profile and wallet: what the header and the dashboard show. */
export async function getAccountInfo({ db, userId }: { db: Db; userId: string }) {
  const [user, wallet] = await Promise.all([
    db.user.findUniqueOrThrow({ where: { id: userId }, select: { id: true, email: true, walletAddress: true, name: true, role: true } }),
    db.ledgerAccount.findUnique({ where: { id: walletAccountId(userId) }, select: { balance: true, available: true } }),
  ]);
  return {
    user: { id: user.id, email: user.email, wallet_address: user.walletAddress, name: user.name, role: user.role === 'ADMIN' ? 'admin' : 'user' },
    balance_usd: microsToUsdNumber(wallet?.balance ?? 0n),
    available_usd: microsToUsdNumber(wallet?.available ?? 0n),
  };
}

// GET /api/account — session or management key.
export async function accountInfoResponse(db: Db, request: Request): Promise<Response> {
  try {
    const principal = await authenticateAccountRequest(db, request);
    return json(await getAccountInfo({ db, userId: principal.userId }), { headers: { 'cache-control': 'no-store' } });
  } catch (error) {
    return errorResponse(error);
  }
}
