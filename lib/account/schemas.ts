import { z } from 'zod';
import { usdAmount } from '../money-schema';

// Messages in words (the form shows the server's message on the field it names), not zod's
// "Too small: expected number to be >0".
const rateLimit = z.strictObject({
  burst: z.number('must be a number').int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10,000'),
  per_second: z.number('must be a number').positive('must be more than 0').max(1_000, 'must be at most 1,000'),
});

const keyFields = {
  name: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
  models: z.array(z.string().min(1)).min(1, 'must list at least one model, or be null for all models').max(200, 'must list at most 200 models').nullable(),
  daily_requests: z.number('must be a number').int('must be a whole number').positive('must be at least 1').max(10_000_000, 'must be at most 10,000,000').nullable(),
  daily_budget_usd: usdAmount.refine((m) => m > 0n, 'must be more than 0').nullable(),
  rate_limit: rateLimit,
  expires_at: z.iso
    .datetime({ offset: true })
    .transform((text) => new Date(text))
    .refine((date) => date.getTime() > Date.now(), 'must be in the future')
    .nullable(),
  packs_only: z.boolean(),
  /** A wallet-backed daily budget (lib/payments/wallet-budget.ts): the user's linked wallet, or null to unlink. */
  budget_wallet: z.string().trim().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address').nullable(),
};

/** Creating: a name, the rest optional. */
export const createKeySchema = z
  .strictObject(keyFields)
  .partial()
  .extend({ name: keyFields.name, kind: z.enum(['inference', 'management']).default('inference') });

/** Editing: any of the same fields, at least one. */
export const updateKeySchema = z
  .strictObject(keyFields)
  .partial()
  .refine((patch) => Object.values(patch).some((v) => v !== undefined), { message: 'send at least one field to change' });

// Real calendar dates only: 2026-13-45 or 2026-02-30 is a 400 naming the parameter, not a query
// with an Invalid Date in it.
const day = z.iso.date('must be a date like 2026-11-23');
const instant = z.iso.datetime({ offset: true, message: 'must be a date like 2026-11-23 or an ISO 8601 time' });

export const usageQuerySchema = z.strictObject({
  key_id: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  status: z.enum(['success', 'upstream_error', 'client_aborted']).optional(),
  from: z.union([day, instant], 'must be a date like 2026-11-23 or an ISO 8601 time').optional(),
  to: z.union([day, instant], 'must be a date like 2026-11-23 or an ISO 8601 time').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().min(1).optional(),
});

export const dailyUsageQuerySchema = z.strictObject({
  key_id: z.string().min(1).optional(),
  from: day.optional(),
  to: day.optional(),
});

export type CreateKeyInput = z.infer<typeof createKeySchema>;
export type UpdateKeyInput = z.infer<typeof updateKeySchema>;
export type UsageQuery = z.infer<typeof usageQuerySchema>;

export const redeemSchema = z.strictObject({ code: z.string().trim().min(1, 'is required').max(40) });
