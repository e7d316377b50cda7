import { createHash, randomInt } from 'node:crypto';
import { auditData } from '../audit';
import type { Db } from '../db/client';
import { sql } from '../db/sql';
import { conflict, HttpError, invalidRequest, notFound } from '../http/errors';
import { newId } from '../ids';
import { SYSTEM_ACCOUNTS, walletAccountId } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import type { Ledger } from '../ledger/ledger';
import type { Micros } from '../money';

// Crockford's base32: no I, L, O or U, so a code read aloud or retyped survives.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 3;
const GROUP_LENGTH = 4;

/** TG-XXXX-XXXX-XXXX: 60 random bits. */
export function generateRedemptionCode(): string {
  const groups = Array.from({ length: GROUPS }, () => Array.from({ length: GROUP_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''));
  return `TG-${groups.join('-')}`;
}

/** Case, spaces and dashes do not matter; O reads as 0 and I or L as 1. */
export function normalizeRedemptionCode(input: string): string | null {
  const compact = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  const body = compact.startsWith('TG') ? compact.slice(2) : compact;
  return body.length === GROUPS * GROUP_LENGTH && [...body].every((c) => ALPHABET.includes(c)) ? `TG${body}` : null;
}

function hashCode(normalized: string): string {
  return createHash('sha256').update(normalized).digest('hex');
}

/** An admin's batch: the codes are returned once; only their hashes are stored. */
export async function createRedemptionBatch({ db, count, amount, note, expiresAt, actor }: { db: Db; count: number; amount: Micros; note: string | null; expiresAt: Date | null; actor: string }) {
  const batchId = newId('rdb');
  const codes = Array.from({ length: count }, generateRedemptionCode);
  await db.$transaction([
    db.redemptionCode.createMany({
      data: codes.map((code) => ({ id: newId('rdm'), codeHash: hashCode(normalizeRedemptionCode(code)!), batchId, amount, note, expiresAt })),
    }),
    db.auditLog.create({
      data: auditData({ actor, action: 'redemption.batch', targetType: 'redemption_batch', targetId: batchId, details: { count, amount_micros: amount, note, expires_at: expiresAt?.toISOString() ?? null } }),
      select: { id: true },
    }),
  ]);
  return { batchId, codes };
}

class AlreadyRedeemed extends Error {}

/**
 * Credits the code's amount to the user's wallet, once for all users. The credit and the
 * "redeemed" mark are one transaction; the mark is a conditional UPDATE, so of any number of
 * concurrent attempts exactly one wins. Redeeming your own code again is an idempotent success.
 */
export async function redeemCode({ db, ledger, userId, code }: { db: Db; ledger: Ledger; userId: string; code: string }) {
  const normalized = normalizeRedemptionCode(code);
  if (!normalized) throw invalidRequest('That is not a Tollgate redemption code (TG-XXXX-XXXX-XXXX).', 'code', 'invalid_code');
  const codeHash = hashCode(normalized);
  const row = await db.redemptionCode.findUnique({ where: { codeHash } });
  if (!row) throw notFound('code_not_found', 'No such redemption code.', 'code');
  if (row.redeemedAt && row.redeemedByUserId !== userId) throw conflict('code_already_redeemed', 'This code has already been redeemed.');
  if (!row.redeemedAt && row.expiresAt && row.expiresAt.getTime() <= Date.now()) {
    throw new HttpError({ status: 400, type: 'invalid_request_error', code: 'code_expired', message: 'This code has expired.', param: 'code' });
  }
  try {
    const result = await ledger.transfer(
      {
        idempotencyKey: `redeem:${row.id}`,
        kind: 'redemption',
        memo: row.note ?? 'redemption code',
        actor: userId,
        entries: [
          { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -row.amount },
          { accountId: walletAccountId(userId), amount: row.amount },
        ],
      },
      async (tx) => {
        const marked = await tx.execute(
          sql`UPDATE "RedemptionCode" SET "redeemedByUserId" = ${userId}, "redeemedAt" = ${new Date()} WHERE "id" = ${row.id} AND "redeemedAt" IS NULL`,
        );
        if (marked !== 1) throw new AlreadyRedeemed();
      },
    );
    return { amount: row.amount, transactionId: result.transactionId, replayed: result.replayed };
  } catch (error) {
    // Another user's redemption won the race (different entries under the same key), or the mark lost it.
    if (error instanceof AlreadyRedeemed || (error instanceof LedgerError && error.code === 'idempotency_conflict')) {
      throw conflict('code_already_redeemed', 'This code has already been redeemed.');
    }
    if (error instanceof LedgerError && error.code === 'account_not_found') throw notFound('wallet_not_found', 'This account has no wallet yet.');
    throw error;
  }
}
