import type { Db } from '../db/client';
import { sqlFor } from '../db/client';
import { read, sql, type SqlExecutor } from '../db/sql';
import type { Micros } from '../money';
import { microsToUsdNumber } from '../money';

export type LotStatus = 'ACTIVE' | 'EXHAUSTED' | 'EXPIRED';

/**
 * Where a call comes from: 'playground' only for the web playground's own entry into the gateway
 * (chatCompletionsForKey), 'api' for everything else. Playground-only lots (the welcome credit)
 * pay for playground calls and never for calls with an API key, whatever the key is named.
 */
export type CallSurface = 'api' | 'playground';

export type FundingLot = {
  id: string;
  accountId: string;
  scopeProviderId: string | null;
  scopeModelId: string | null;
  playgroundOnly: boolean;
  expiresAt: Date;
  available: Micros;
};

/**
 * How specific a lot is to a call: a lot for this model on this provider beats one for the model,
 * which beats one for the provider, which beats a general credit pack.
 */
function specificity(lot: Pick<FundingLot, 'scopeProviderId' | 'scopeModelId'>): number {
  return (lot.scopeModelId ? 2 : 0) + (lot.scopeProviderId ? 1 : 0);
}

/**
 * The user's active lots that may pay for a call on `modelId` made from `surface`, in draw-down
 * order: most specific first, then playground-only credit before credit that pays anywhere, then
 * earliest expiry. A provider-scoped lot pays only when every provider the call may fail over to
 * is that provider, so it can never pay for another provider's tokens; a playground-only lot pays
 * only for a playground call, so an API key never spends it.
 */
export async function fundingLots(
  db: Db,
  { userId, modelId, providerIds, surface, now = new Date() }: { userId: string; modelId: string; providerIds: string[]; surface: CallSurface; now?: Date },
): Promise<FundingLot[]> {
  const rows = await sqlFor(db).query(
    surface === 'playground'
      ? sql`SELECT l."id", l."accountId", l."scopeProviderId", l."scopeModelId", l."playgroundOnly", l."expiresAt", a."available" FROM "PackLot" l JOIN "LedgerAccount" a ON a."id" = l."accountId" WHERE l."userId" = ${userId} AND l."status" = 'ACTIVE' AND l."expiresAt" > ${now} AND a."available" > 0`
      : sql`SELECT l."id", l."accountId", l."scopeProviderId", l."scopeModelId", l."playgroundOnly", l."expiresAt", a."available" FROM "PackLot" l JOIN "LedgerAccount" a ON a."id" = l."accountId" WHERE l."userId" = ${userId} AND l."status" = 'ACTIVE' AND l."expiresAt" > ${now} AND a."available" > 0 AND l."playgroundOnly" = FALSE`,
  );
  const lots: FundingLot[] = rows.map((row) => ({
    id: read.string(row.id),
    accountId: read.string(row.accountId),
    scopeProviderId: read.nullableString(row.scopeProviderId),
    scopeModelId: read.nullableString(row.scopeModelId),
    playgroundOnly: read.bool(row.playgroundOnly),
    expiresAt: read.nullableDate(row.expiresAt)!,
    available: read.bigint(row.available),
  }));
  return lots
    .filter(
      (lot) =>
        (surface === 'playground' || !lot.playgroundOnly) &&
        (lot.scopeModelId === null || lot.scopeModelId === modelId) &&
        (lot.scopeProviderId === null || providerIds.every((p) => p === lot.scopeProviderId)),
    )
    .sort((a, b) => specificity(b) - specificity(a) || Number(b.playgroundOnly) - Number(a.playgroundOnly) || a.expiresAt.getTime() - b.expiresAt.getTime());
}

/** After a settlement drew lots down: the ones now empty are EXHAUSTED (same transaction). */
export async function markExhaustedLots(tx: SqlExecutor, accountIds: string[]): Promise<void> {
  for (const accountId of accountIds) {
    await tx.execute(
      sql`UPDATE "PackLot" SET "status" = 'EXHAUSTED' WHERE "accountId" = ${accountId} AND "status" = 'ACTIVE' AND EXISTS (SELECT 1 FROM "LedgerAccount" a WHERE a."id" = ${accountId} AND a."balance" = 0)`,
    );
  }
}

export function lotStatus(lot: { status: LotStatus; expiresAt: Date }, balance: Micros, now = new Date()): LotStatus {
  if (lot.status !== 'ACTIVE') return lot.status;
  if (balance === 0n) return 'EXHAUSTED';
  return lot.expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : 'ACTIVE';
}

export type LotView = {
  id: string;
  /** 'pack': bought in the shop; 'welcome': a new account's welcome credit. */
  kind: 'pack' | 'welcome';
  /** null for a lot no pack stands behind (the welcome credit). */
  pack_id: string | null;
  /** The pack's name, or what the lot is; says "(playground only)" when it pays only there. */
  pack_name: string;
  face_value_usd: number;
  remaining_usd: number;
  status: LotStatus;
  /** playground_only: pays only for calls made in the web playground, never with an API key. */
  scope: { provider: string | null; model: string | null; playground_only: boolean };
  purchased_at: string;
  expires_at: string;
};

export type LotRow = {
  id: string;
  kind: 'PACK' | 'WELCOME';
  packId: string | null;
  faceValue: Micros;
  scopeProviderId: string | null;
  scopeModelId: string | null;
  playgroundOnly: boolean;
  status: LotStatus;
  purchasedAt: Date;
  expiresAt: Date;
  pack: { name: string } | null;
  account: { balance: Micros };
};

export const LOT_SELECT = {
  id: true,
  kind: true,
  packId: true,
  faceValue: true,
  scopeProviderId: true,
  scopeModelId: true,
  playgroundOnly: true,
  status: true,
  purchasedAt: true,
  expiresAt: true,
  pack: { select: { name: true } },
  account: { select: { balance: true } },
} as const;

export const WELCOME_LOT_NAME = 'Welcome credit';

export function lotView(lot: LotRow, now = new Date()): LotView {
  const name = lot.pack?.name ?? WELCOME_LOT_NAME;
  return {
    id: lot.id,
    kind: lot.kind === 'WELCOME' ? 'welcome' : 'pack',
    pack_id: lot.packId,
    pack_name: lot.playgroundOnly ? `${name} (playground only)` : name,
    face_value_usd: microsToUsdNumber(lot.faceValue),
    remaining_usd: microsToUsdNumber(lot.account.balance),
    status: lotStatus(lot, lot.account.balance, now),
    scope: { provider: lot.scopeProviderId, model: lot.scopeModelId, playground_only: lot.playgroundOnly },
    purchased_at: lot.purchasedAt.toISOString(),
    expires_at: lot.expiresAt.toISOString(),
  };
}

/** A user's lots (packs bought and the welcome credit), newest first; ownership is part of the query. */
export async function listLots(db: Db, { userId }: { userId: string }): Promise<LotView[]> {
  const lots = await db.packLot.findMany({ where: { userId }, select: LOT_SELECT, orderBy: { purchasedAt: 'desc' } });
  return lots.map((lot) => lotView(lot));
}
