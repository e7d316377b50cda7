import type { ApiRequest } from '../http/api-request';
import { sqlFor, type Db } from '../db/client';
import { read, statement } from '../db/sql';
import { walletAccountId } from '../ledger/accounts';
import { hashApiKey } from '../keys/secret';
import { bearerToken } from '../http/credentials';
import { forbidden, unauthorized } from '../http/errors';

export type KeyContext = {
  /** null for a principal without an API key row (an x402 payer): no daily limits apply. */
  keyId: string | null;
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
  /** The bucket this principal draws from. */
  rateLimitId: string;
  /** Calls may be paid only from pack lots, never from the wallet. */
  packsOnly: boolean;
  /** Whether the user owns an active lot an API call may spend (playground-only lots are not counted): only then does an API call look for one. */
  hasActiveLots: boolean;
};

const DEFAULT_RATE_LIMIT = { burst: 10, perSecond: 0.5 };

// The EXISTS is an index probe (PackLot by user, status, expiry) that spares every user without a
// pack a second query on the hot path.
const SELECT_KEY = `SELECT k."id", k."name", k."kind", k."userId", k."allowedModels", k."dailyRequestLimit", k."dailyBudget", k."expiresAt", k."revokedAt", k."usageDay", k."requestsToday", k."spentToday", k."committedToday", k."rateLimitBurst", k."rateLimitPerSec", k."packsOnly", u."suspended",
  EXISTS (SELECT 1 FROM "PackLot" l WHERE l."userId" = k."userId" AND l."status" = 'ACTIVE' AND l."expiresAt" > ? AND l."playgroundOnly" = FALSE) AS "hasActiveLots"
  FROM "ApiKey" k JOIN "User" u ON u."id" = k."userId"`;

/**
 * One indexed read by hash (joined with the user): no cache, so a revoked key is refused on its very
 * next request, on every instance.
 */
export async function authenticateApiKey(db: Db, request: ApiRequest): Promise<KeyContext> {
  const token = bearerToken(request);
  if (!token) {
    throw unauthorized('missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer tg_…'.");
  }
  return loadKeyContext(db, { hash: hashApiKey(token) });
}

/**
 * The key's context by hash (a bearer secret) or by id (a key its owner has already been
 * authorized for, such as the web playground's), with every check a call needs.
 */
export async function loadKeyContext(db: Db, where: { hash: string } | { id: string }): Promise<KeyContext> {
  const now = new Date();
  const [key] = await sqlFor(db).query(
    statement(`${SELECT_KEY} WHERE ${'hash' in where ? 'k."hash"' : 'k."id"'} = ?`, [now, 'hash' in where ? where.hash : where.id]),
  );
  if (!key) throw unauthorized('invalid_api_key', 'Incorrect API key provided.');
  if (key.revokedAt !== null) throw unauthorized('api_key_revoked', 'This API key has been revoked.');
  const expiresAt = read.nullableDate(key.expiresAt);
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw unauthorized('api_key_expired', 'This API key has expired.');
  if (key.kind !== 'INFERENCE') throw forbidden('management_key', 'Management keys can manage keys but cannot call /v1. Use an inference key.');
  if (read.bool(key.suspended)) throw forbidden('account_suspended', 'This account is suspended.');
  const userId = read.string(key.userId);
  const keyId = read.string(key.id);
  return {
    keyId,
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
    rateLimitId: keyId,
    packsOnly: read.bool(key.packsOnly),
    hasActiveLots: read.bool(key.hasActiveLots),
  };
}

/** A principal with no API key row (an x402 payer): every model, no daily limits, the default rate limit. */
export function payerKeyContext(userId: string): KeyContext {
  return {
    keyId: null,
    name: 'x402',
    userId,
    walletAccountId: walletAccountId(userId),
    allowedModels: null,
    dailyRequestLimit: null,
    dailyBudget: null,
    usageDay: '',
    requestsToday: 0,
    spentToday: 0n,
    committedToday: 0n,
    rateLimit: DEFAULT_RATE_LIMIT,
    rateLimitId: `user:${userId}`,
    packsOnly: false,
    hasActiveLots: false,
  };
}

export function parseAllowedModels(raw: string | null): string[] | null {
  if (raw === null) return null;
  const parsed: unknown = JSON.parse(raw);
  return Array.isArray(parsed) ? parsed.filter((m): m is string => typeof m === 'string') : null;
}
