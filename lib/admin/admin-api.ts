import { z } from 'zod';
import type { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import { conflict, notFound, parseOrThrow, prismaErrorCode } from '../http/errors';
import { createGuards } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { newId } from '../ids';
import { issueKey } from '../account/account-api';
import { createKeySchema } from '../account/schemas';
import { SYSTEM_ACCOUNTS, walletAccountId, walletCode } from '../ledger/accounts';
import { Ledger } from '../ledger/ledger';
import { auditData, insertAudit } from '../audit';
import { createRedemptionBatch } from '../credits/redemption';
import { microsToUsdNumber } from '../money';
import { usdAmount } from '../money-schema';

export const createUserSchema = z.strictObject({ email: z.email().transform((e) => e.toLowerCase()) });
export const creditSchema = z.strictObject({
  amount_usd: usdAmount.refine((m) => m > 0n && m <= 1_000_000_000_000n, 'must be more than 0 and at most 1,000,000'),
  note: z.string().trim().min(1, 'is required').max(500),
});
export const providerPatchSchema = z
  .strictObject({ status: z.enum(['live', 'disabled']), reason: z.string().trim().max(300).optional() })
  .refine((p) => p.status === 'live' || !!p.reason, { path: ['reason'], message: 'is required when disabling a provider' });

export const redemptionBatchSchema = z.strictObject({
  count: z.number().int().min(1).max(1_000),
  amount_usd: usdAmount.refine((m) => m > 0n && m <= 1_000_000_000n, 'must be more than 0 and at most 1,000'),
  note: z.string().trim().max(200).optional(),
  expires_in_days: z.number().int().min(1).max(3_650).optional(),
});

/**
 * The operator's API, behind `Authorization: Bearer $ADMIN_TOKEN`. Without ADMIN_TOKEN it does
 * not exist (404). Every action writes its audit row in the same transaction as the change.
 */
export function createAdminApi({ db, catalog, env = process.env }: { db: Db; catalog: CatalogCache; env?: NodeJS.ProcessEnv }) {
  const ledger = new Ledger(db);

  const guard = createGuards({ db, env }).admin;

  const audit = (actor: string, action: string, targetType: string, targetId: string | null, details: Record<string, unknown>) =>
    db.auditLog.create({ data: auditData({ actor, action, targetType, targetId, details }), select: { id: true } });

  const requireUser = async (id: string) => {
    const user = await db.user.findUnique({ where: { id }, select: { id: true } });
    if (!user) throw notFound('user_not_found', `No user with id '${id}'.`);
    return user;
  };

  // POST /api/admin/users {email} → {id}
  const createUser = guard(async ({ request, actor }) => {
    const { email } = parseOrThrow(createUserSchema, await readJsonBody(request));
    const id = newId('usr');
    try {
      await db.$transaction([
        db.user.create({ data: { id, email }, select: { id: true } }),
        db.ledgerAccount.create({ data: { id: walletAccountId(id), code: walletCode(id), kind: 'USER_WALLET', userId: id }, select: { id: true } }),
        audit(actor, 'user.create', 'user', id, { email }),
      ]);
    } catch (error) {
      if (prismaErrorCode(error) === 'P2002') throw conflict('email_taken', `A user with email ${email} already exists.`);
      throw error;
    }
    return json({ id, email }, { status: 201 });
  });

  // POST /api/admin/users/:id/credit {amount_usd, note}
  const creditUser = guard(async ({ request, params, actor }) => {
    const userId = params.id!;
    const input = parseOrThrow(creditSchema, await readJsonBody(request));
    await requireUser(userId);
    const idempotencyKey = request.headers.get('idempotency-key');
    const result = await ledger.transfer(
      {
        idempotencyKey: idempotencyKey ? `admin-credit:${idempotencyKey}` : `admin-credit:${newId('txn')}`,
        kind: 'admin_credit',
        memo: input.note,
        actor,
        entries: [
          { accountId: SYSTEM_ACCOUNTS.promo.id, amount: -input.amount_usd },
          { accountId: walletAccountId(userId), amount: input.amount_usd },
        ],
      },
      (tx) => insertAudit(tx, { actor, action: 'user.credit', targetType: 'user', targetId: userId, details: { amount_micros: input.amount_usd, note: input.note } }),
    );
    const balance = await ledger.getAccountBalance({ accountId: walletAccountId(userId) });
    return json({ transaction_id: result.transactionId, replayed: result.replayed, balance_usd: microsToUsdNumber(balance.balance) }, { status: result.replayed ? 200 : 201 });
  });

  // POST /api/admin/users/:id/keys — the account API's key fields (lib/account/schemas.ts) → the key, its secret once.
  const createKey = guard(async ({ request, params, actor }) => {
    const userId = params.id!;
    const input = parseOrThrow(createKeySchema, await readJsonBody(request));
    await requireUser(userId);
    const key = await issueKey({
      db,
      catalog,
      userId,
      input,
      env,
      audit: (keyId) => audit(actor, 'key.create', 'api_key', keyId, { userId, ...input, expires_at: input.expires_at?.toISOString() ?? null }),
    });
    return json({ ...key.view, key: key.secret }, { status: 201 });
  });

  // PATCH /api/admin/providers/:id {status, reason}
  const patchProvider = guard(async ({ request, params, actor }) => {
    const providerId = params.id!;
    const input = parseOrThrow(providerPatchSchema, await readJsonBody(request));
    const status = input.status === 'live' ? 'LIVE' : 'DISABLED';
    const reason = input.status === 'live' ? null : input.reason!;
    try {
      await db.$transaction([
        db.provider.update({ where: { id: providerId }, data: { status, statusReason: reason }, select: { id: true } }),
        audit(actor, 'provider.update', 'provider', providerId, { status: input.status, reason }),
      ]);
    } catch (error) {
      if (prismaErrorCode(error) === 'P2025') throw notFound('provider_not_found', `No provider with id '${providerId}'.`);
      throw error;
    }
    catalog.invalidate();
    return json({ id: providerId, status: input.status, reason });
  });

  // POST /api/admin/redemption-codes {count, amount_usd, note?, expires_in_days?} → the codes, once
  const createRedemptionCodes = guard(async ({ request, actor }) => {
    const input = parseOrThrow(redemptionBatchSchema, await readJsonBody(request));
    const expiresAt = input.expires_in_days ? new Date(Date.now() + input.expires_in_days * 86_400_000) : null;
    const batch = await createRedemptionBatch({ db, count: input.count, amount: input.amount_usd, note: input.note ?? null, expiresAt, actor });
    return json(
      { batch_id: batch.batchId, amount_usd: microsToUsdNumber(input.amount_usd), expires_at: expiresAt?.toISOString() ?? null, codes: batch.codes },
      { status: 201 },
    );
  });

  return { createUser, creditUser, createKey, patchProvider, createRedemptionCodes };
}

export type AdminApi = ReturnType<typeof createAdminApi>;
