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
};

/**
 * The write that creates a key, for batching with its audit row. Returns the secret beside it:
 * the caller shows it once; only its hash is stored.
 */
export function createApiKeyOp(db: Db, input: NewKeyInput) {
  const generated = generateApiKey();
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
      rateLimitBurst: input.rateLimitBurst,
      rateLimitPerSec: input.rateLimitPerSec,
      expiresAt: input.expiresAt ?? null,
      packsOnly: input.packsOnly,
    },
    select: { id: true },
  });
  return { id, secret: generated.secret, display: maskKey(generated), op };
}
