import type { Db } from '../db/client';
import { VaultError, type Vault } from './vault';

/**
 * Re-seals every pool key not yet under the current master key: the middle step of a rotation
 * (see the README). Each row is updated only if its blob is still the one read, so a pool revoked
 * meanwhile stays wiped. A row no configured master key opens is skipped and named in
 * `unreadable` (its pool must be revoked and listed again), so one bad row does not stop the rest.
 */
export async function reencryptPools({ db, vault, batchSize = 200 }: { db: Db; vault: Vault; batchSize?: number }) {
  let reencrypted = 0;
  const unreadable: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const rows = await db.sellerPool.findMany({
      where: { encryptedKey: { not: null }, ...(cursor ? { id: { gt: cursor } } : {}) },
      select: { id: true, encryptedKey: true },
      orderBy: { id: 'asc' },
      take: batchSize,
    });
    if (rows.length === 0) break;
    cursor = rows.at(-1)!.id;
    for (const row of rows) {
      const blob = row.encryptedKey!;
      let resealed: string;
      try {
        resealed = vault.reencrypt({ blob, poolId: row.id });
      } catch (error) {
        if (!(error instanceof VaultError)) throw error;
        unreadable.push(row.id);
        continue;
      }
      if (resealed === blob) continue;
      const { count } = await db.sellerPool.updateMany({ where: { id: row.id, encryptedKey: blob }, data: { encryptedKey: resealed } });
      reencrypted += count;
    }
  }
  return { reencrypted, unreadable };
}
