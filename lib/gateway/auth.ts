import { sqlFor, type Db } from '../db/client';
import { read, sql } from '../db/sql';
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
  rateLimit: { burst: number; perSecond: number };
};

/** The bearer token from `Authorization: Bearer …` (or `x-api-key`, which some clients send). */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get('authorization');
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1]! : null;
  }
  return request.headers.get('x-api-key')?.trim() || null;
}

/**
 * One indexed read by hash (joined with the user): no cache, so a revoked key is refused on its very
 * next request, on every instance.
 */
export async function authenticateApiKey(db: Db, request: Request): Promise<KeyContext> {
  const token = bearerToken(request);
  if (!token) {
    throw unauthorized('missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer tg_…'.");
  }
  const [key] = await sqlFor(db).query(
    sql`SELECT k."id", k."name", k."kind", k."userId", k."allowedModels", k."dailyRequestLimit", k."dailyBudget", k."expiresAt", k."revokedAt", k."usageDay", k."requestsToday", k."spentToday", k."committedToday", k."rateLimitBurst", k."rateLimitPerSec", u."suspended" FROM "ApiKey" k JOIN "User" u ON u."id" = k."userId" WHERE k."hash" = ${hashApiKey(token)}`,
  );
  if (!key) throw unauthorized('invalid_api_key', 'Incorrect API key provided.');
  if (key.revokedAt !== null) throw unauthorized('api_key_revoked', 'This API key has been revoked.');
  const expiresAt = read.nullableDate(key.expiresAt);
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw unauthorized('api_key_expired', 'This API key has expired.');
  if (key.kind !== 'INFERENCE') throw forbidden('management_key', 'Management keys can manage keys but cannot call /v1. Use an inference key.');
  if (read.bool(key.suspended)) throw forbidden('account_suspended', 'This account is suspended.');
  const userId = read.string(key.userId);
  return {
    keyId: read.string(key.id),
    name: read.string(key.name),
    userId,
    walletAccountId: walletAccountId(userId),
    allowedModels: parseAllowedModels(read.nullableString(key.allowedModels)),
    dailyRequestLimit: key.dailyRequestLimit === null ? null : read.int(key.dailyRequestLimit),
    dailyBudget: read.nullableBigint(key.dailyBudget),
    usageDay: read.string(key.usageDay),
    requestsToday: read.int(key.requestsToday),
    spentToday: read.bigint(key.spentToday),
    committedToday: read.bigint(key.committedToday),
    rateLimit: { burst: read.int(key.rateLimitBurst), perSecond: Number(key.rateLimitPerSec) },
  };
}

export function parseAllowedModels(raw: string | null): string[] | null {
  if (raw === null) return null;
  const parsed: unknown = JSON.parse(raw);
  return Array.isArray(parsed) ? parsed.filter((m): m is string => typeof m === 'string') : null;
}
