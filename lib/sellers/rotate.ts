import type { Db } from '../db/client';
import type { Vault } from './vault';

/**
 * Re-seals every pool key not yet under the current master key: the middle step of a rotation
 * (docs in the README). Each row is updated only if its blob is still the one read, so a pool
 * revoked meanwhile stays wiped. Returns how many were re-sealed and how many are left on an old key.
 */
export async function reencryptPools({ db, vault, batchSize = 200 }: { db: Db; vault: Vault; batchSize?: number }) {
  let reencrypted = 0;
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
      if (vault.keyIdOf(blob) === vault.currentKeyId) continue;
      const resealed = vault.reencrypt({ blob, poolId: row.id });
      const { count } = await db.sellerPool.updateMany({ where: { id: row.id, encryptedKey: blob }, data: { encryptedKey: resealed } });
      reencrypted += count;
    }
  }
  const all = await db.sellerPool.findMany({ where: { encryptedKey: { not: null } }, select: { encryptedKey: true } });
  const remaining = all.filter((row) => vault.keyIdOf(row.encryptedKey!) !== vault.currentKeyId).length;
  return { reencrypted, remaining };
}
