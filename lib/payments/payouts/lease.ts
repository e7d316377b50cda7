import type { Db } from '../../db/client';
import { prismaErrorCode } from '../../http/errors';

/**
 * A named lease in the JobLease table, taken and kept by compare-and-set (`updateMany` with the
 * condition in its WHERE, atomic on SQLite and PostgreSQL alike), so two instances never run the
 * same job at once. Chosen over a PostgreSQL advisory lock because it works the same on SQLite,
 * survives a dead holder (the lease expires) and needs no session-pinned connection.
 */
export type Lease = {
  name: string;
  holder: string;
  /** Extends the lease; false when it was lost (expired and taken by another instance). */
  renew(now?: Date): Promise<boolean>;
  release(): Promise<void>;
};

export async function takeLease({ db, name, holder, ttlMs, now = new Date() }: { db: Db; name: string; holder: string; ttlMs: number; now?: Date }): Promise<Lease | null> {
  try {
    await db.jobLease.create({ data: { name, holder: null, expiresAt: new Date(0) }, select: { name: true } });
  } catch (error) {
    if (prismaErrorCode(error) !== 'P2002') throw error;
  }
  const { count } = await db.jobLease.updateMany({
    where: { name, OR: [{ holder: null }, { expiresAt: { lte: now } }, { holder }] },
    data: { holder, expiresAt: new Date(now.getTime() + ttlMs) },
  });
  if (count !== 1) return null;
  return {
    name,
    holder,
    renew: async (at = new Date()) => {
      const renewed = await db.jobLease.updateMany({ where: { name, holder, expiresAt: { gt: at } }, data: { expiresAt: new Date(at.getTime() + ttlMs) } });
      return renewed.count === 1;
    },
    release: async () => {
      await db.jobLease.updateMany({ where: { name, holder }, data: { holder: null, expiresAt: new Date(0) } });
    },
  };
}
