import type { Db } from '../db/client';
import { newId } from '../ids';
import type { Micros } from '../money';
import { generateApiKey, maskKey } from './secret';

export type NewKeyInput = {
  userId: string;
  name: string;
  models?: string[] | null;
  dailyRequestLimit?: number | null;
  dailyBudget?: Micros | null;
  kind?: 'INFERENCE' | 'MANAGEMENT';
  rateLimitBurst?: number;
  rateLimitPerSec?: number;
  expiresAt?: Date | null;
  packsOnly?: boolean;
  /** A wallet-backed daily budget (lib/payments/wallet-budget.ts budgetWalletFields). */
  budgetWallet?: string | null;
};

/**
 * The rate limit a key gets when its creator names none: KEY_RATE_LIMIT_BURST requests at once,
 * refilled at KEY_RATE_LIMIT_PER_SEC (defaults 10 and 0.5, the schema's column defaults).
 */
export function defaultKeyRateLimit(env: Record<string, string | undefined> = process.env): { burst: number; perSecond: number } {
  const burst = Number(env.KEY_RATE_LIMIT_BURST ?? 10);
  const perSecond = Number(env.KEY_RATE_LIMIT_PER_SEC ?? 0.5);
  return {
    burst: Number.isInteger(burst) && burst >= 1 && burst <= 10_000 ? burst : 10,
    perSecond: Number.isFinite(perSecond) && perSecond > 0 && perSecond <= 1_000 ? perSecond : 0.5,
  };
}

/**
 * The write that creates a key, for batching with its audit row. Returns the secret beside it:
 * the caller shows it once; only its hash is stored.
 */
export function createApiKeyOp(db: Db, input: NewKeyInput, env: Record<string, string | undefined> = process.env) {
  const generated = generateApiKey();
  const rateLimit = defaultKeyRateLimit(env);
  const id = newId('key');
  const op = db.apiKey.create({
    data: {
      id,
      userId: input.userId,
      name: input.name,
      kind: input.kind ?? 'INFERENCE',
      hash: generated.hash,
      prefix: generated.prefix,
      lastFour: generated.lastFour,
      allowedModels: input.models ? JSON.stringify(input.models) : null,
      dailyRequestLimit: input.dailyRequestLimit ?? null,
      dailyBudget: input.dailyBudget ?? null,
      rateLimitBurst: input.rateLimitBurst ?? rateLimit.burst,
      rateLimitPerSec: input.rateLimitPerSec ?? rateLimit.perSecond,
      expiresAt: input.expiresAt ?? null,
      packsOnly: input.packsOnly,
      budgetWallet: input.budgetWallet ?? null,
    },
    select: { id: true },
  });
  return { id, secret: generated.secret, display: maskKey(generated), op };
}
