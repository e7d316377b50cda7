import { noteKeysChanged } from '../keys/key-changes';
import type { Db } from '../db/client';
import { sql, type SqlExecutor } from '../db/sql';
import { conflict, notFound, paymentRequired } from '../http/errors';
import { newId } from '../ids';
import { SYSTEM_ACCOUNTS, walletAccountId } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import type { Ledger, LedgerEntryInput } from '../ledger/ledger';
import { formatUsd, microsToUsdNumber } from '../money';
import { LOT_SELECT, lotView, type LotView } from './lots';

export type PackView = {
  id: string;
  name: string;
  description: string;
  price_usd: number;
  face_value_usd: number;
  /**
   * The share of the face value that is free: (face − price) / face, in percent, one decimal, rounded
   * down. Kept for API clients; the pages state a pack as "N% more credit" ((face − price) / price)
   * through lib/packs/pack-bonus.ts, the one wording buyers see.
   */
  discount_percent: number;
  validity_days: number;
  scope: { provider: string | null; model: string | null };
};

type PackRow = {
  id: string;
  name: string;
  description: string;
  price: bigint;
  faceValue: bigint;
  validityDays: number;
  scopeProviderId: string | null;
  scopeModelId: string | null;
};

export function packView(pack: PackRow): PackView {
  const discountTenths = pack.faceValue > 0n ? Number(((pack.faceValue - pack.price) * 1000n) / pack.faceValue) : 0;
  return {
    id: pack.id,
    name: pack.name,
    description: pack.description,
    price_usd: microsToUsdNumber(pack.price),
    face_value_usd: microsToUsdNumber(pack.faceValue),
    discount_percent: discountTenths / 10,
    validity_days: pack.validityDays,
    scope: { provider: pack.scopeProviderId, model: pack.scopeModelId },
  };
}

/** The shop: active packs in the admin's order. */
export async function listPacks(db: Db): Promise<PackView[]> {
  const packs = await db.pack.findMany({ where: { active: true }, orderBy: [{ sortOrder: 'asc' }, { price: 'asc' }] });
  return packs.map(packView);
}

/**
 * Buys a pack with the wallet: one ledger transaction debits the price from the wallet and credits
 * the face value to a new lot account, the discount coming from the promo account. The lot's
 * account and row are created in that same database transaction, so a refused purchase leaves
 * nothing behind. The same idempotency key buys once and answers the same lot again.
 */
export async function purchasePack({ db, ledger, userId, packId, idempotencyKey, now = new Date() }: { db: Db; ledger: Ledger; userId: string; packId: string; idempotencyKey: string; now?: Date }): Promise<{ lot: LotView; replayed: boolean }> {
  const pack = await db.pack.findFirst({ where: { id: packId, active: true } });
  if (!pack) throw notFound('pack_not_found', `There is no pack '${packId}' in the shop.`, 'pack_id');
  const lotId = newId('lot');
  const accountId = `acc_lot_${lotId}`;
  const expiresAt = new Date(now.getTime() + pack.validityDays * 86_400_000);
  const discount = pack.faceValue - pack.price;
  const entries: LedgerEntryInput[] = [
    { accountId: walletAccountId(userId), amount: -pack.price },
    { accountId, amount: pack.faceValue },
  ];
  if (discount > 0n) entries.push({ accountId: SYSTEM_ACCOUNTS.promo.id, amount: -discount });
  // A pack priced above its face value would be a loss for the buyer; the admin schema refuses it.
  const ledgerKey = `pack:${userId}:${idempotencyKey}`;
  try {
    const { transactionId } = await ledger.transfer(
      { idempotencyKey: ledgerKey, kind: 'pack_purchase', entries, memo: `${pack.name} (${pack.id})`, actor: userId },
      undefined,
      {
        before: async (tx) => {
          await tx.execute(sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${accountId}, 'PACK_LOT', ${`lot:${lotId}`}, ${userId}, 0, 0, ${now}, ${now})`);
          await tx.execute(
            sql`INSERT INTO "PackLot" ("id", "userId", "packId", "accountId", "faceValue", "scopeProviderId", "scopeModelId", "status", "purchasedAt", "expiresAt") VALUES (${lotId}, ${userId}, ${pack.id}, ${accountId}, ${pack.faceValue}, ${pack.scopeProviderId}, ${pack.scopeModelId}, 'ACTIVE', ${now}, ${expiresAt})`,
          );
        },
      },
    );
    // The buyer's keys now have a lot to spend (a key lookup's hasActiveLots).
    noteKeysChanged();
    return { lot: await lotOfPurchase(db, userId, transactionId, now), replayed: false };
  } catch (error) {
    if (error instanceof LedgerError && (error.code === 'insufficient_funds' || error.code === 'account_not_found')) {
      const wallet = await db.ledgerAccount.findUnique({ where: { id: walletAccountId(userId) }, select: { available: true } });
      throw paymentRequired('insufficient_credits', `${pack.name} costs ${formatUsd(pack.price)}; the available balance is ${formatUsd(wallet?.available ?? 0n)}. Add funds first.`);
    }
    if (!(error instanceof LedgerError && error.code === 'idempotency_conflict')) throw error;
  }
  // The key was used before (the new lot's account makes the entries differ, so the ledger calls it a
  // conflict): the same pack is a replay, answered with the lot that first purchase created.
  const first = await db.ledgerTransaction.findUnique({ where: { idempotencyKey: ledgerKey }, select: { id: true } });
  const lot = first ? await lotOfPurchase(db, userId, first.id, now) : null;
  if (!lot || lot.pack_id !== pack.id) throw conflict('idempotency_conflict', 'This Idempotency-Key was already used to buy a different pack.');
  return { lot, replayed: true };
}

async function lotOfPurchase(db: Db, userId: string, transactionId: string, now: Date): Promise<LotView> {
  const lot = await db.packLot.findFirst({ where: { userId, account: { entries: { some: { transactionId } } } }, select: LOT_SELECT });
  if (!lot) throw new Error(`pack purchase ${transactionId} has no lot`);
  return lotView(lot, now);
}

/**
 * Lots past their expiry leave the user's balance: what is left moves to the breakage account in a
 * ledger transaction (a welcome lot's, which was never paid for, back to the promo account it came
 * from), and the lot becomes EXPIRED. A lot with a call still in flight (a pending hold) waits for
 * the next sweep, so that the call settles against it first.
 */
export async function expirePackLots({ db, ledger, now = new Date(), limit = 200 }: { db: Db; ledger: Ledger; now?: Date; limit?: number }): Promise<number> {
  const due = await db.packLot.findMany({
    where: { status: 'ACTIVE', expiresAt: { lte: now } },
    select: { id: true, kind: true, accountId: true, account: { select: { balance: true, available: true } } },
    orderBy: { expiresAt: 'asc' },
    take: limit,
  });
  let expired = 0;
  for (const lot of due) {
    if (lot.account.balance !== lot.account.available) continue;
    const markExpired = async (tx: SqlExecutor) => {
      await tx.execute(sql`UPDATE "PackLot" SET "status" = 'EXPIRED' WHERE "id" = ${lot.id} AND "status" = 'ACTIVE'`);
    };
    if (lot.account.balance > 0n) {
      try {
        await ledger.transfer(
          {
            idempotencyKey: `lot-expiry:${lot.id}`,
            kind: lot.kind === 'WELCOME' ? 'welcome_expiry' : 'pack_expiry',
            entries: [
              { accountId: lot.accountId, amount: -lot.account.balance },
              { accountId: lot.kind === 'WELCOME' ? SYSTEM_ACCOUNTS.promo.id : SYSTEM_ACCOUNTS.breakage.id, amount: lot.account.balance },
            ],
            memo: `lot ${lot.id} expired`,
          },
          markExpired,
        );
      } catch (error) {
        // A call reserved from the lot between the read and now: the next sweep expires it.
        if (error instanceof LedgerError && error.code === 'insufficient_funds') continue;
        throw error;
      }
    } else {
      await db.packLot.updateMany({ where: { id: lot.id, status: 'ACTIVE' }, data: { status: 'EXPIRED' } });
    }
    expired += 1;
  }
  return expired;
}
