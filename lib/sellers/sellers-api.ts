import { auditData } from '../audit';
import type { Db } from '../db/client';
import { createRateLimiter, type RateLimiter } from '../gateway/rate-limit';
import { clientAddress, trustedProxies } from '../http/client-address';
import { conflict, HttpError, invalidRequest, notFound, parseOrThrow, tooManyRequests, unavailable } from '../http/errors';
import { createGuards, type Principal } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { newId } from '../ids';
import { Ledger } from '../ledger/ledger';
import { logger } from '../logger';
import { microsToUsdNumber } from '../money';
import { listPool } from './pool-listing';
import { createPoolSchema, updatePoolSchema } from './schemas';
import { vaultFromEnv, VaultError, type Vault } from './vault';
import { verifySellerKey, type KeyVerification, type SellerProviderId } from './verify-key';

/** Everything of a pool its owner may see: never encryptedKey. */
const POOL_VIEW_SELECT = {
  id: true,
  providerId: true,
  keyHint: true,
  faceValue: true,
  drawn: true,
  rateBps: true,
  status: true,
  statusReason: true,
  expiresAt: true,
  verifiedAt: true,
  createdAt: true,
  updatedAt: true,
} as const;

type PoolStatus = 'LIVE' | 'PAUSED' | 'EXHAUSTED' | 'EXPIRED' | 'REVOKED';

type PoolRow = {
  id: string;
  providerId: string;
  keyHint: string;
  faceValue: bigint;
  drawn: bigint;
  rateBps: number;
  status: PoolStatus;
  statusReason: string | null;
  expiresAt: Date | null;
  verifiedAt: Date;
  createdAt: Date;
  updatedAt: Date;
};

// Verification makes a live call with whatever key is sent: throttled so this API is no oracle
// for testing stolen keys. Ten at once per user, then ten an hour; an address gets three users' worth.
const CREATE_PER_USER = { burst: 10, perSecond: 10 / 3600 };
const CREATE_PER_ADDRESS = { burst: 30, perSecond: 30 / 3600 };

/** A listing past its expiry reads as expired before any sweeper has flipped its row. */
function effectiveStatus(pool: Pick<PoolRow, 'status' | 'expiresAt'>, now: Date): PoolStatus {
  const open = pool.status === 'LIVE' || pool.status === 'PAUSED';
  return open && pool.expiresAt && pool.expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : pool.status;
}

/** A pool as its seller sees it: the key only as its last four characters. */
export function poolView(pool: PoolRow, now = new Date()) {
  const status = effectiveStatus(pool, now);
  const remaining = pool.faceValue > pool.drawn ? pool.faceValue - pool.drawn : 0n;
  return {
    id: pool.id,
    object: 'seller_pool' as const,
    provider: pool.providerId,
    key_hint: pool.keyHint,
    face_value_usd: microsToUsdNumber(pool.faceValue),
    drawn_usd: microsToUsdNumber(pool.drawn),
    remaining_usd: microsToUsdNumber(remaining),
    rate: pool.rateBps / 10_000,
    status: status.toLowerCase(),
    status_reason: status === 'EXPIRED' && pool.status !== 'EXPIRED' ? 'the listing reached its expiry' : pool.statusReason,
    expires_at: pool.expiresAt?.toISOString() ?? null,
    verified_at: pool.verifiedAt.toISOString(),
    created_at: pool.createdAt.toISOString(),
    updated_at: pool.updatedAt.toISOString(),
  };
}

/** A failed verification as the seller's error: what the provider said, never the key. */
function verificationError(result: Exclude<KeyVerification, { ok: true }>): HttpError {
  if (result.reason === 'unreachable') return new HttpError({ status: 502, type: 'upstream_error', code: 'seller_key_unverified', message: result.message });
  const code = { invalid_key: 'seller_key_invalid', no_quota: 'seller_key_no_quota', rejected: 'seller_key_rejected' }[result.reason];
  return invalidRequest(result.message, 'api_key', code);
}

const actorOf = (principal: Principal) => (principal.via === 'session' ? `user:${principal.userId}` : `user:${principal.userId} (key ${principal.keyId})`);

export type VerifyKey = (args: { provider: SellerProviderId; apiKey: string }) => Promise<KeyVerification>;

/**
 * The seller API: a user's own pools. Every query carries `userId` from the authenticated
 * principal, so another user's pool is not found rather than forbidden. The vault is opened on
 * first use, so an instance without SELLER_KEY_SECRET in production still lists, pauses and
 * revokes pools; only listing a key and resuming (which re-verifies it) answer 503.
 */
export function createSellersApi({
  db,
  env = process.env,
  vault: openVault = () => vaultFromEnv(env),
  verifyKey = (args) => verifySellerKey({ ...args, env }),
  rateLimiter = createRateLimiter(env),
  ledger = new Ledger(db),
  onListed = () => undefined,
}: {
  db: Db;
  ledger?: Ledger;
  /** A pool was listed: this instance's routing and catalog should look again now. */
  onListed?: () => void;
  env?: NodeJS.ProcessEnv;
  vault?: () => Vault;
  verifyKey?: VerifyKey;
  rateLimiter?: RateLimiter;
}) {
  const guard = createGuards({ db, env }).principal;
  const proxies = trustedProxies(env);
  let vault: Vault | null = null;

  const requireVault = (): Vault => {
    if (vault) return vault;
    try {
      vault = openVault();
      return vault;
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      logger.error('seller key vault unavailable', { code: error.code, reason: error.message });
      // The operator's detail (which setting) is in the log; the seller gets plain words.
      throw unavailable('selling_unavailable', error.code === 'not_configured' ? 'Selling is not available on this instance yet: the operator has not set it up.' : 'Selling is off for now: the operator must fix its configuration.');
    }
  };

  /** Each live verification (a listing, a resume) spends the user's and the address's allowance. */
  const throttleCreate = async (request: Request, userId: string) => {
    const address = clientAddress(request, proxies);
    // An address the server cannot tell would make every seller share one bucket: the user's alone counts then.
    const buckets: Array<[string, typeof CREATE_PER_USER]> = [[`sell:user:${userId}`, CREATE_PER_USER]];
    if (address) buckets.push([`sell:addr:${address}`, CREATE_PER_ADDRESS]);
    for (const [bucket, spec] of buckets) {
      const decision = await rateLimiter.take(bucket, spec);
      if (!decision.allowed) {
        throw tooManyRequests('seller_pool_rate_limited', `Too many pools listed; try again in ${decision.retryAfterSeconds} s.`, decision.retryAfterSeconds);
      }
    }
  };

  const findOwnPoolOrThrow = async (principal: Principal, id: string) => {
    const pool = await db.sellerPool.findFirst({ where: { id, userId: principal.userId }, select: { ...POOL_VIEW_SELECT, encryptedKey: true } });
    if (!pool) throw notFound('pool_not_found', `No pool with id '${id}'.`);
    return pool;
  };

  const audit = (principal: Principal, action: string, poolId: string, details: Record<string, unknown> = {}) =>
    db.auditLog.create({ data: auditData({ actor: actorOf(principal), action, targetType: 'seller_pool', targetId: poolId, details }) });

  // GET /api/sell/pools — the caller's pools, newest first.
  const listPools = guard(async ({ principal }) => {
    const pools = await db.sellerPool.findMany({ where: { userId: principal.userId }, select: POOL_VIEW_SELECT, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
    const now = new Date();
    return json({ object: 'list', data: pools.map((pool) => poolView(pool, now)) }, { headers: { 'cache-control': 'no-store' } });
  });

  // POST /api/sell/pools — verifies the key live, seals it, lists it; the key is never shown again.
  const createPool = guard(async ({ request, principal }) => {
    const input = parseOrThrow(createPoolSchema, await readJsonBody(request));
    await throttleCreate(request, principal.userId);
    const sealer = requireVault();
    const verified = await verifyKey({ provider: input.provider, apiKey: input.api_key });
    if (!verified.ok) throw verificationError(verified);
    const id = newId('pool');
    await listPool(
      ledger,
      {
        id,
        userId: principal.userId,
        providerId: input.provider,
        encryptedKey: sealer.encryptSecret({ plaintext: input.api_key, poolId: id }),
        keyHint: input.api_key.slice(-4),
        faceValue: input.face_value_usd,
        rateBps: input.rate,
        expiresAt: input.expires_at ?? null,
      },
      { actor: actorOf(principal), action: 'seller_pool.create', targetType: 'seller_pool', targetId: id, details: { provider: input.provider, face_value: input.face_value_usd, rate_bps: input.rate } },
    );
    onListed();
    const pool = await db.sellerPool.findUniqueOrThrow({ where: { id }, select: POOL_VIEW_SELECT });
    logger.info('seller pool listed', { poolId: id, userId: principal.userId, provider: input.provider });
    return json(poolView(pool), { status: 201 });
  });

  // GET /api/sell/pools/:id
  const getPool = guard(async ({ principal, params }) => {
    const { encryptedKey: _sealed, ...pool } = await findOwnPoolOrThrow(principal, params.id!);
    return json(poolView(pool), { headers: { 'cache-control': 'no-store' } });
  });

  // PATCH /api/sell/pools/:id {status: 'paused', reason?} | {status: 'live'} — resuming re-verifies the key.
  const updatePool = guard(async ({ request, principal, params }) => {
    const patch = parseOrThrow(updatePoolSchema, await readJsonBody(request));
    const pool = await findOwnPoolOrThrow(principal, params.id!);
    const status = effectiveStatus(pool, new Date());
    if (status === 'REVOKED') throw conflict('pool_revoked', 'This pool is revoked; revoked pools cannot be changed.');
    if (status === 'EXHAUSTED') throw conflict('pool_exhausted', 'This pool has served its whole face value; list a new one.');
    if (status === 'EXPIRED') throw conflict('pool_expired', 'This pool reached its expiry; list a new one.');
    const where = { id: pool.id, userId: principal.userId };

    if (patch.status === 'paused') {
      const reason = patch.reason ?? 'paused by the seller';
      const { count } = await db.sellerPool.updateMany({ where: { ...where, status: { in: ['LIVE', 'PAUSED'] } }, data: { status: 'PAUSED', statusReason: reason } });
      if (count) await audit(principal, 'seller_pool.pause', pool.id, { reason });
    } else if (pool.status === 'PAUSED') {
      // Paused perhaps because the provider refused the key: it goes live only if it works now.
      // A live call on the seller's account each time: throttled like a listing.
      await throttleCreate(request, principal.userId);
      const key = openSealedKey(requireVault(), pool.id, pool.encryptedKey);
      const verified = await verifyKey({ provider: pool.providerId as SellerProviderId, apiKey: key });
      if (!verified.ok) throw verificationError(verified);
      const { count } = await db.sellerPool.updateMany({ where: { ...where, status: 'PAUSED' }, data: { status: 'LIVE', statusReason: null, verifiedAt: new Date() } });
      if (count) await audit(principal, 'seller_pool.resume', pool.id);
    }
    const { encryptedKey: _sealed, ...updated } = await findOwnPoolOrThrow(principal, pool.id);
    // Revoked, exhausted or expired between the read and the write: say so rather than pretend.
    if (updated.status !== (patch.status === 'paused' ? 'PAUSED' : 'LIVE')) throw conflict(`pool_${updated.status.toLowerCase()}`, `This pool is now ${updated.status.toLowerCase()}.`);
    return json(poolView(updated));
  });

  // DELETE /api/sell/pools/:id — revokes: the pool stops serving and its sealed key is wiped.
  const revokePool = guard(async ({ principal, params }) => {
    const where = { id: params.id!, userId: principal.userId };
    const { count } = await db.sellerPool.updateMany({
      where: { ...where, status: { not: 'REVOKED' } },
      data: { status: 'REVOKED', statusReason: 'revoked by the seller', encryptedKey: null },
    });
    if (count) await audit(principal, 'seller_pool.revoke', params.id!);
    const pool = await db.sellerPool.findFirst({ where, select: POOL_VIEW_SELECT });
    if (!pool) throw notFound('pool_not_found', `No pool with id '${params.id}'.`);
    return json(poolView(pool));
  });

  return { listPools, createPool, getPool, updatePool, revokePool };
}

/** The seller's key in clear, for one call; a row the vault cannot open is the operator's problem. */
function openSealedKey(vault: Vault, poolId: string, sealed: string | null): string {
  if (!sealed) throw conflict('pool_revoked', 'This pool has no key any more.');
  try {
    return vault.decryptSecret({ blob: sealed, poolId });
  } catch (error) {
    if (!(error instanceof VaultError)) throw error;
    logger.error('seller pool key cannot be opened', { poolId, code: error.code });
    throw unavailable('seller_key_unreadable', "This pool's key cannot be opened with the configured master keys; revoke the pool and list the key again.");
  }
}

export type SellersApi = ReturnType<typeof createSellersApi>;
