import type { Db } from '../db/client';
import { lotStatus, type LotStatus } from '../ledger/lots';
import type { Micros } from '../money';
import { microsToUsdNumber } from '../money';

export type { LotStatus } from '../ledger/lots';

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
