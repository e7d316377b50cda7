import type { Db } from '../db/client';
import { sqlFor } from '../db/client';
import { read, sql } from '../db/sql';
import type { Micros } from '../money';
import { now as clockNow } from '../clock';

/**
 * Pack draw-down: which of a user's pack lots pay for a call, in what order. The reservation then
 * holds them in that order before the wallet (Ledger.reserve), and the settlement that empties a
 * lot marks it EXHAUSTED (holds.ts).
 */

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
  { userId, modelId, providerIds, surface, now = clockNow() }: { userId: string; modelId: string; providerIds: string[]; surface: CallSurface; now?: Date },
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

export function lotStatus(lot: { status: LotStatus; expiresAt: Date }, balance: Micros, now = clockNow()): LotStatus {
  if (lot.status !== 'ACTIVE') return lot.status;
  if (balance === 0n) return 'EXHAUSTED';
  return lot.expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : 'ACTIVE';
}

