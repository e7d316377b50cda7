import { z } from 'zod';
import { usdAmount } from '../money-schema';
import { SELLER_PROVIDERS } from './verify-key';

// A pool worth less than a dollar is not worth a verification call; a million is a typo's size.
export const MIN_FACE_VALUE = 1_000_000n;
export const MAX_FACE_VALUE = 1_000_000_000_000n;

/** "0.6" or 0.6 → 6000 basis points: more than 0, at most 1, at most 4 decimals. */
const rate = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const match = /^(0|1)(?:\.(\d{1,4}))?$/.exec(text);
  const bps = match ? Number(match[1]) * 10_000 + Number((match[2] ?? '').padEnd(4, '0')) : NaN;
  if (!(bps > 0 && bps <= 10_000)) {
    ctx.addIssue({ code: 'custom', message: 'must be a fraction of list price above 0 and at most 1, with at most 4 decimals (e.g. "0.6")' });
    return z.NEVER;
  }
  return bps;
});

export const createPoolSchema = z.strictObject({
  provider: z.enum(SELLER_PROVIDERS),
  // Printable ASCII without spaces: every provider's keys are, and it keeps headers well-formed.
  api_key: z
    .string()
    .trim()
    .min(8, 'is too short to be a provider API key')
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  face_value_usd: usdAmount.refine((m) => m >= MIN_FACE_VALUE && m <= MAX_FACE_VALUE, 'must be at least 1 and at most 1000000'),
  rate,
  expires_at: z.iso
    .datetime({ offset: true })
    .transform((text) => new Date(text))
    .refine((date) => date.getTime() > Date.now(), 'must be in the future')
    .nullable()
    .optional(),
});

/** A seller pauses or resumes a pool; the reason is for pausing only. */
export const updatePoolSchema = z
  .strictObject({ status: z.enum(['paused', 'live']), reason: z.string().trim().min(1).max(200).optional() })
  .refine((patch) => patch.status === 'paused' || patch.reason === undefined, { message: "is only for pausing (status 'paused')", path: ['reason'] });

export type CreatePoolInput = z.infer<typeof createPoolSchema>;
export type UpdatePoolInput = z.infer<typeof updatePoolSchema>;
