import type { Db } from '../db/client';
import { walletAccountId } from '../ledger/accounts';
import { hashApiKey } from '../keys/secret';
import { forbidden, unauthorized } from './errors';

export type KeyContext = {
  keyId: string;
  name: string;
  userId: string;
  walletAccountId: string;
  /** null: every model. */
  allowedModels: string[] | null;
  dailyRequestLimit: number | null;
  dailyBudget: bigint | null;
  usageDay: string;
  requestsToday: number;
  spentToday: bigint;
  committedToday: bigint;
};

const KEY_SELECT = {
  id: true,
  name: true,
  kind: true,
  userId: true,
  allowedModels: true,
  dailyRequestLimit: true,
  dailyBudget: true,
  expiresAt: true,
  revokedAt: true,
  usageDay: true,
  requestsToday: true,
  spentToday: true,
  committedToday: true,
  user: { select: { suspended: true } },
} as const;

/** The bearer token from `Authorization: Bearer …` (or `x-api-key`, which some clients send). */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get('authorization');
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1]! : null;
  }
  return request.headers.get('x-api-key')?.trim() || null;
}

/** One indexed read by hash: no cache, so a revoked key is refused on its very next request, on every instance. */
export async function authenticateApiKey(db: Db, request: Request): Promise<KeyContext> {
  const token = bearerToken(request);
  if (!token) {
    throw unauthorized('missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer tg_…'.");
  }
  const key = await db.apiKey.findUnique({ where: { hash: hashApiKey(token) }, select: KEY_SELECT });
  if (!key) throw unauthorized('invalid_api_key', 'Incorrect API key provided.');
  if (key.revokedAt) throw unauthorized('api_key_revoked', 'This API key has been revoked.');
  if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) throw unauthorized('api_key_expired', 'This API key has expired.');
  if (key.kind !== 'INFERENCE') throw forbidden('management_key', 'Management keys can manage keys but cannot call /v1. Use an inference key.');
  if (key.user.suspended) throw forbidden('account_suspended', 'This account is suspended.');
  return {
    keyId: key.id,
    name: key.name,
    userId: key.userId,
    walletAccountId: walletAccountId(key.userId),
    allowedModels: parseAllowedModels(key.allowedModels),
    dailyRequestLimit: key.dailyRequestLimit,
    dailyBudget: key.dailyBudget,
    usageDay: key.usageDay,
    requestsToday: key.requestsToday,
    spentToday: key.spentToday,
    committedToday: key.committedToday,
  };
}

export function parseAllowedModels(raw: string | null): string[] | null {
  if (raw === null) return null;
  const parsed: unknown = JSON.parse(raw);
  return Array.isArray(parsed) ? parsed.filter((m): m is string => typeof m === 'string') : null;
}
