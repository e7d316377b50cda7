import type { Db } from '../db/client';
import { VaultError, type Vault } from '../sellers/vault';

/**
 * Re-seals every webhook signing secret not yet under the current master key, as
 * reencryptPools does for sellers' keys (npm run sellers:rotate-keys runs both). The receiver's
 * secret itself does not change. A row is updated only if its blob is still the one read, so a
 * secret rotated by its owner meanwhile is kept; one no configured master key opens is named in
 * `unreadable` (its owner sets the webhook again).
 */
export async function reencryptAlertSecrets({ db, vault, batchSize = 200 }: { db: Db; vault: Vault; batchSize?: number }) {
  let reencrypted = 0;
  const unreadable: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const rows = await db.creditAlert.findMany({
      where: { webhookSecret: { not: null }, ...(cursor ? { userId: { gt: cursor } } : {}) },
      select: { userId: true, webhookSecret: true },
      orderBy: { userId: 'asc' },
      take: batchSize,
    });
    if (rows.length === 0) break;
    cursor = rows.at(-1)!.userId;
    for (const row of rows) {
      const blob = row.webhookSecret!;
      let resealed: string;
      try {
        resealed = vault.reencrypt({ blob, poolId: row.userId });
      } catch (error) {
        if (!(error instanceof VaultError)) throw error;
        unreadable.push(row.userId);
        continue;
      }
      if (resealed === blob) continue;
      reencrypted += (await db.creditAlert.updateMany({ where: { userId: row.userId, webhookSecret: blob }, data: { webhookSecret: resealed } })).count;
    }
  }
  return { reencrypted, unreadable };
}
