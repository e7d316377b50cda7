import type { ApiRequest } from '../http/api-request';
import { sqlFor, type Db } from '../db/client';
import { read, statement } from '../db/sql';
import { walletAccountId } from '../ledger/accounts';
import { keyChangeCount } from '../keys/key-changes';
import { hashApiKey } from '../keys/secret';
import { bearerToken } from '../http/credentials';
import { forbidden, unauthorized } from '../http/errors';
import { now as clockNow, nowMs } from '../clock';

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
 * One indexed read by hash (joined with the user). `cache` (the gateway's paid calls) may answer
 * from a read at most its TTL old instead: the reservation that follows re-checks what must never
 * be stale (revocation and both daily limits, on the key row itself, in its own transaction).
 */
export async function authenticateApiKey(db: Db, request: ApiRequest, cache?: KeyCache): Promise<KeyContext> {
  const token = bearerToken(request);
  if (!token) {
    throw unauthorized('missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer tg_…'.");
  }
  const hash = hashApiKey(token);
  const cached = cache?.get(hash);
  if (cached) return cached;
  const changes = keyChangeCount();
  const key = await loadKeyContext(db, { hash });
  cache?.set(hash, key, changes);
  return key;
}

/**
 * Key lookups for paid calls, kept for `ttlMs` (KEY_CACHE_MS, 1 s by default; 0 turns it off). The
 * lookup joins three tables and was a tenth of a call's database time. What it may serve stale, for
 * at most the TTL and on each instance: a suspension, an expiry, a change of allowed models, rate
 * limit or "packs only" (a call may still draw the wallet), a pack bought (counted from the next
 * read), and the counters in the headers of a refusal made before the reservation; and only when
 * the change was made through another instance (a change through this one empties it:
 * lib/keys/key-changes.ts). What it cannot: a revoked key or a spent limit, which the reservation
 * refuses from the row itself (limits.ts explains the refusal), and which the answers given before
 * a reservation (an idempotent replay, no pack, no credit) check afresh (refuseIfRevoked).
 */
export class KeyCache {
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { key: KeyContext; at: number; changes: number }>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get(hash: string): KeyContext | null {
    const entry = this.#entries.get(hash);
    if (!entry) return null;
    if (performance.now() - entry.at < this.#ttlMs && entry.changes === keyChangeCount()) return entry.key;
    this.#entries.delete(hash);
    return null;
  }

  /** `changes`: keyChangeCount() from before the read, so a change made during it is not missed. */
  set(hash: string, key: KeyContext, changes: number): void {
    if (this.#ttlMs <= 0) return;
    // Oldest first out (a Map iterates in insertion order): a bound, not an LRU; misses only cost a read.
    if (this.#entries.size >= 10_000) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(hash, { key, at: performance.now(), changes });
  }
}

/**
 * The key's context by hash (a bearer secret) or by id (a key its owner has already been
 * authorized for, such as the web playground's), with every check a call needs.
 */
export async function loadKeyContext(db: Db, where: { hash: string } | { id: string }): Promise<KeyContext> {
  const now = clockNow();
  const [key] = await sqlFor(db).query(
    statement(`${SELECT_KEY} WHERE ${'hash' in where ? 'k."hash"' : 'k."id"'} = ?`, [now, 'hash' in where ? where.hash : where.id]),
  );
  if (!key) throw unauthorized('invalid_api_key', 'Incorrect API key provided.');
  if (key.revokedAt !== null) throw unauthorized('api_key_revoked', 'This API key has been revoked.');
  const expiresAt = read.nullableDate(key.expiresAt);
  if (expiresAt && expiresAt.getTime() <= nowMs()) throw unauthorized('api_key_expired', 'This API key has expired.');
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
