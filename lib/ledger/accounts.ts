import { sqlFor, type Db } from '../db/client';
import { sql, type SqlExecutor } from '../db/sql';
import type { AccountKind } from '../db/generated/sqlite/enums';

/**
 * The platform's own accounts have fixed ids so that the hot path never looks them up.
 * DEPOSITS and PROMO are contra accounts: money enters the system through them, so their
 * balances go negative by design; so is SELLER_CAPACITY, which issues pools' face value (a
 * pool's account counts upstream spend at list price it may still serve, not money anyone holds).
 * Every other account can never go below zero.
 */
export const SYSTEM_ACCOUNTS = {
  revenue: { id: 'acc_system_revenue', code: 'system:revenue', kind: 'REVENUE' },
  fees: { id: 'acc_system_fees', code: 'system:fees', kind: 'FEES' },
  deposits: { id: 'acc_system_deposits', code: 'system:deposits', kind: 'DEPOSITS' },
  promo: { id: 'acc_system_promo', code: 'system:promo', kind: 'PROMO' },
  breakage: { id: 'acc_system_breakage', code: 'system:breakage', kind: 'BREAKAGE' },
  /** Issues each seller pool's face value to the pool's account; it comes back as pools are drawn. */
  sellerCapacity: { id: 'acc_system_seller_capacity', code: 'system:seller-capacity', kind: 'SELLER_CAPACITY' },
  /** Sellers' earnings paid out on chain. */
  payouts: { id: 'acc_system_payouts', code: 'system:payouts', kind: 'PAYOUTS' },
} as const satisfies Record<string, { id: string; code: string; kind: AccountKind }>;

const CONTRA_ACCOUNT_IDS: ReadonlySet<string> = new Set([SYSTEM_ACCOUNTS.deposits.id, SYSTEM_ACCOUNTS.promo.id, SYSTEM_ACCOUNTS.sellerCapacity.id]);

export function isSystemAccount(accountId: string): boolean {
  return accountId.startsWith('acc_system_');
}

export function mayGoNegative(accountId: string): boolean {
  return CONTRA_ACCOUNT_IDS.has(accountId);
}

export async function ensureSystemAccounts(db: Db): Promise<void> {
  for (const account of Object.values(SYSTEM_ACCOUNTS)) {
    await db.ledgerAccount.upsert({ where: { id: account.id }, create: account, update: {} });
  }
}

export function walletCode(userId: string): string {
  return `wallet:${userId}`;
}

/** Derived from the user id, so the gateway's hot path never has to look the wallet up. */
export function walletAccountId(userId: string): string {
  return `acc_wallet_${userId}`;
}

export function isWalletAccount(accountId: string): boolean {
  return accountId.startsWith('acc_wallet_');
}

/**
 * The user's spendable wallet account, created on first use. `ON CONFLICT DO NOTHING` (the same on
 * SQLite and PostgreSQL) makes concurrent first uses safe, where an upsert can lose the race.
 */
export async function getOrCreateWalletAccount({ db, userId }: { db: Db; userId: string }) {
  const id = walletAccountId(userId);
  const now = new Date();
  await sqlFor(db).execute(
    sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${id}, 'USER_WALLET', ${walletCode(userId)}, ${userId}, 0, 0, ${now}, ${now}) ON CONFLICT DO NOTHING`,
  );
  return db.ledgerAccount.findUniqueOrThrow({ where: { id } });
}

/** A seller's earnings, derived from the user id like the wallet's. */
export function sellerEarningsAccountId(userId: string): string {
  return `acc_seller_${userId}`;
}

/** A seller pool's unserved face value (list-price micro-USD), derived from the pool id. */
export function sellerPoolAccountId(poolId: string): string {
  return `acc_pool_${poolId}`;
}

/**
 * Opens the seller's earnings account if it is not there yet, inside the caller's transaction
 * (a listing, a pool-served settlement); concurrent first uses are safe, as for the wallet.
 */
export async function openSellerEarningsAccount(tx: SqlExecutor, userId: string, now: Date): Promise<string> {
  const id = sellerEarningsAccountId(userId);
  await tx.execute(
    sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${id}, 'SELLER_EARNINGS', ${`seller:${userId}`}, ${userId}, 0, 0, ${now}, ${now}) ON CONFLICT DO NOTHING`,
  );
  return id;
}

/** The seller's earnings account, created on first use. */
export async function getOrCreateSellerEarningsAccount({ db, userId }: { db: Db; userId: string }) {
  const id = await openSellerEarningsAccount(sqlFor(db), userId, new Date());
  return db.ledgerAccount.findUniqueOrThrow({ where: { id } });
}
