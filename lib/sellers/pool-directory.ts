import { auditData } from '../audit';
import { sqlFor, type Db } from '../db/client';
import { read, sql, statement, type SqlRunner } from '../db/sql';
import { sellerPoolAccountId } from '../ledger/accounts';
import { logger } from '../logger';
import type { Micros } from '../money';
import { configurationProblem, createKeyedProvider } from '../providers/registry';
import type { ChatProvider, ProviderId } from '../providers/types';
import { SELLER_PROVIDERS, type SellerProviderId } from './verify-key';
import { vaultFromEnv, VaultError, type Vault } from './vault';

/** A live pool as routing sees it. */
export type PoolRoute = {
  id: string;
  userId: string;
  providerId: SellerProviderId;
  rateBps: number;
  accountId: string;
  /** What the pool's account had free when the directory last looked (the reservation decides). */
  available: Micros;
};

/** The pools a call tries before the platform's key, at most: a call is not a search. */
export const MAX_POOLS_PER_CALL = 3;

const SELLER_PROVIDER_IDS: ReadonlySet<string> = new Set(SELLER_PROVIDERS);

// 'LIVE' is in the text, never bound (see the sweeper's reads in lib/ledger/holds.ts), and the
// order is the listing's: first in, first out.
const LIVE_POOLS = `SELECT p."id", p."userId", p."providerId", p."rateBps", p."encryptedKey", a."available"
  FROM "SellerPool" p JOIN "LedgerAccount" a ON a."id" = 'acc_pool_' || p."id"
  WHERE p."status" = 'LIVE' AND p."encryptedKey" IS NOT NULL AND (p."expiresAt" IS NULL OR p."expiresAt" > ?)
  ORDER BY p."createdAt", p."id" LIMIT 1000`;

/**
 * The live seller pools per provider, oldest listing first, read at most once per `ttlMs` per
 * process (1 s by default: a pool paused or listed on another instance is seen within it; the
 * pool's own account is what stops an overdraw, not this list). A call on a provider without pools
 * costs a map lookup. Each pool's adapter is built once, on the key the vault opens; the plaintext
 * lives only inside that adapter, as the platform's own keys live in the environment.
 */
export class PoolDirectory {
  readonly #runner: SqlRunner;
  readonly #db: Db;
  readonly #env: NodeJS.ProcessEnv;
  readonly #ttlMs: number;
  readonly #openVault: () => Vault;
  #vault: Vault | null = null;
  #vaultFailed = false;
  #byProvider = new Map<string, PoolRoute[]>();
  #sealed = new Map<string, string>();
  #loadedAt = -Infinity;
  #loading: Promise<void> | null = null;
  readonly #adapters = new Map<string, { sealed: string; provider: ChatProvider }>();
  readonly #platformKeys = new Map<ProviderId, { configured: boolean; readAt: number }>();

  constructor({ db, env = process.env, ttlMs = Number(env.POOL_DIRECTORY_MS ?? 1_000), vault }: { db: Db; env?: NodeJS.ProcessEnv; ttlMs?: number; vault?: () => Vault }) {
    this.#db = db;
    this.#runner = sqlFor(db);
    this.#env = env;
    this.#ttlMs = ttlMs;
    this.#openVault = vault ?? (() => vaultFromEnv(env));
  }

  /**
   * The live pools of `providerId` that had at least `amount` free at the last look, in FIFO
   * order, at most MAX_POOLS_PER_CALL. A stale list is served while a fresh one loads; only the
   * very first call waits for it.
   */
  async routes(providerId: ProviderId, amount: Micros): Promise<PoolRoute[]> {
    if (!SELLER_PROVIDER_IDS.has(providerId)) return [];
    if (performance.now() - this.#loadedAt > this.#ttlMs) {
      const loading = this.#refresh();
      if (this.#loadedAt === -Infinity) await loading;
    }
    const pools = this.#byProvider.get(providerId);
    if (!pools) return [];
    const routes: PoolRoute[] = [];
    for (const pool of pools) {
      if (pool.available < amount) continue;
      routes.push(pool);
      if (routes.length === MAX_POOLS_PER_CALL) break;
    }
    return routes;
  }

  /** The adapter that calls the provider with this pool's key; null when the key cannot be opened (logged). */
  provider(route: PoolRoute): ChatProvider | null {
    const sealed = this.#sealed.get(route.id);
    if (!sealed) return null;
    const cached = this.#adapters.get(route.id);
    if (cached && cached.sealed === sealed) return cached.provider;
    const vault = this.#vaultOrNull();
    if (!vault) return null;
    try {
      const provider = createKeyedProvider(route.providerId, vault.decryptSecret({ blob: sealed, poolId: route.id }), this.#env);
      this.#adapters.set(route.id, { sealed, provider });
      return provider;
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      logger.error('a seller pool key cannot be opened; the pool is skipped', { poolId: route.id, code: error.code });
      return null;
    }
  }

  /**
   * Whether the platform's own key for this provider is configured (pools may serve it without one).
   * Asked on every call, and each read of process.env is a call into C++: read again once
   * the answer is older than the pools' list (POOL_DIRECTORY_MS), so that a key set or removed while
   * the process runs (`next dev` reloads .env files) is seen as soon as the pools are.
   */
  platformKeyConfigured(providerId: ProviderId): boolean {
    const now = performance.now();
    let known = this.#platformKeys.get(providerId);
    if (!known || now - known.readAt > this.#ttlMs) {
      known = { configured: configurationProblem(providerId, this.#env) === null, readAt: now };
      this.#platformKeys.set(providerId, known);
    }
    return known.configured;
  }

  /**
   * The provider refused the pool's key (bad, revoked or out of credit): the pool stops serving
   * until its seller resumes it, which verifies the key again. Audited; seen by other instances on
   * their next look.
   */
  async pause(route: PoolRoute, reason: string): Promise<void> {
    this.#byProvider.set(route.providerId, (this.#byProvider.get(route.providerId) ?? []).filter((pool) => pool.id !== route.id));
    this.#adapters.delete(route.id);
    const paused = await this.#runner.execute(sql`UPDATE "SellerPool" SET "status" = 'PAUSED', "statusReason" = ${reason}, "updatedAt" = ${new Date()} WHERE "id" = ${route.id} AND "status" = 'LIVE'`);
    if (paused === 1) {
      logger.warn('seller pool paused: the provider refused its key', { poolId: route.id, provider: route.providerId, reason });
      await this.#db.auditLog.create({ data: auditData({ actor: 'system:gateway', action: 'seller_pool.auto_pause', targetType: 'seller_pool', targetId: route.id, details: { reason } }) });
    }
  }

  /** Forget what was read: the next call reads the pools, and the platform's keys, again (after a listing on this instance). */
  invalidate(): void {
    this.#loadedAt = -Infinity;
    this.#platformKeys.clear();
  }

  #refresh(): Promise<void> {
    this.#loading ??= this.#load()
      .catch((error: unknown) => {
        // Calls go on with what was read before (nothing, at first) until the next look, rather than each waiting on a failing query.
        this.#loadedAt = performance.now();
        logger.error('could not read the seller pools; calls use the platform keys meanwhile', { error });
      })
      .finally(() => {
        this.#loading = null;
      });
    return this.#loading;
  }

  async #load(): Promise<void> {
    const rows = await this.#runner.query(statement(LIVE_POOLS, [new Date()]));
    const byProvider = new Map<string, PoolRoute[]>();
    const sealed = new Map<string, string>();
    for (const row of rows) {
      const providerId = read.string(row.providerId);
      if (!SELLER_PROVIDER_IDS.has(providerId)) continue;
      const id = read.string(row.id);
      const route: PoolRoute = { id, userId: read.string(row.userId), providerId: providerId as SellerProviderId, rateBps: read.int(row.rateBps), accountId: sellerPoolAccountId(id), available: read.bigint(row.available) };
      byProvider.set(providerId, [...(byProvider.get(providerId) ?? []), route]);
      sealed.set(id, read.string(row.encryptedKey));
    }
    this.#byProvider = byProvider;
    this.#sealed = sealed;
    for (const id of this.#adapters.keys()) if (!sealed.has(id)) this.#adapters.delete(id);
    this.#loadedAt = performance.now();
  }

  #vaultOrNull(): Vault | null {
    if (this.#vault) return this.#vault;
    if (this.#vaultFailed) return null;
    try {
      this.#vault = this.#openVault();
      return this.#vault;
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      this.#vaultFailed = true;
      logger.error('seller key vault unavailable; no pool serves on this instance', { code: error.code, reason: error.message });
      return null;
    }
  }
}
