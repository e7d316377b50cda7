import type { Db } from '../db/client';
import { getOrCreateWalletAccount, SYSTEM_ACCOUNTS, walletAccountId } from '../ledger/accounts';
import { Ledger } from '../ledger/ledger';
import { logger } from '../logger';
import { usdToMicros, type Micros } from '../money';
import type { Env } from '../auth/env';
import { prismaErrorCode } from '../http/errors';

const DEFAULT_WELCOME_USD = '10';

/** WELCOME_CREDIT_USD (default $10; 0 disables). A value that is not an amount falls back to the default, loudly. */
export function welcomeCreditAmount(env: Env = process.env): Micros {
  const raw = env.WELCOME_CREDIT_USD?.trim();
  if (!raw) return usdToMicros(DEFAULT_WELCOME_USD);
  try {
    return usdToMicros(raw);
  } catch {
    logger.warn('WELCOME_CREDIT_USD is not a USD amount; using the default', { value: raw, default_usd: DEFAULT_WELCOME_USD });
    return usdToMicros(DEFAULT_WELCOME_USD);
  }
}

/**
 * The welcome credit of a new user: a transfer from the promo account whose idempotency key is
 * derived from the user id, so however often or concurrently it is called, it credits once.
 */
export async function grantWelcomeCredit({ db, userId, env = process.env }: { db: Db; userId: string; env?: Env }): Promise<{ amount: Micros; granted: boolean }> {
  const amount = welcomeCreditAmount(env);
  if (amount <= 0n) return { amount: 0n, granted: false };
  // Concurrent upserts of the same new row can race into a unique violation (PostgreSQL): it exists then.
  await getOrCreateWalletAccount({ db, userId }).catch((error: unknown) => {
    if (prismaErrorCode(error) !== 'P2002') throw error;
  });
  const wallet = { id: walletAccountId(userId) };
  const result = await new Ledger(db).transfer({
    idempotencyKey: `welcome:${userId}`,
    kind: 'welcome_credit',
    memo: 'welcome credit',
    actor: 'system',
    entries: [
      { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -amount },
      { accountId: wallet.id, amount },
    ],
  });
  return { amount, granted: !result.replayed };
}
