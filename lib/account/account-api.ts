import type { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import type { Prisma, UsageRecord } from '../db/generated/sqlite/client';
import { sqlFor } from '../db/client';
import { read, statement, type SqlValue } from '../db/sql';
import { parseAllowedModels } from '../gateway/auth';
import { createRateLimiter, type RateLimiter } from '../gateway/rate-limit';
import { utcDay } from '../gateway/day';
import { currentCounters } from '../gateway/limits';
import { clientAddress, trustedProxies } from '../http/client-address';
import { forbidden, invalidRequest, notFound, parseOrThrow, tooManyRequests } from '../http/errors';
import { createGuards, type Principal } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { noteKeysChanged } from '../keys/key-changes';
import { createApiKeyOp } from '../keys/keys';
import { getAccountInfo } from './account-info';
import { usageCsv } from './usage-csv';
import { maskKey } from '../keys/secret';
import { redeemCode } from '../credits/redemption';
import { walletAccountId } from '../ledger/accounts';
import { Ledger } from '../ledger/ledger';
import { microsToUsdNumber } from '../money';
import { getPaymentsConfig } from '../payments/runtime';
import { budgetWalletFields, budgetWalletView } from '../payments/wallet-budget';
import { createKeySchema, dailyUsageQuerySchema, redeemSchema, updateKeySchema, usageQuerySchema, type CreateKeyInput, type UsageQuery } from './schemas';

const KEY_VIEW_SELECT = {
  id: true,
  name: true,
  kind: true,
  prefix: true,
  lastFour: true,
  allowedModels: true,
  dailyRequestLimit: true,
  dailyBudget: true,
  rateLimitBurst: true,
  rateLimitPerSec: true,
  packsOnly: true,
  expiresAt: true,
  revokedAt: true,
  lastUsedAt: true,
  createdAt: true,
  usageDay: true,
  requestsToday: true,
  spentToday: true,
  committedToday: true,
  budgetWallet: true,
  budgetWalletAtomic: true,
  budgetSnapshotAt: true,
} as const;

// Ten attempts at once per user, then one a minute; an address gets three users' worth.
const REDEEM_PER_USER = { burst: 10, perSecond: 1 / 60 };
const REDEEM_PER_ADDRESS = { burst: 30, perSecond: 3 / 60 };

type KeyRow = {
  id: string;
  name: string;
  kind: 'INFERENCE' | 'MANAGEMENT';
  prefix: string;
  lastFour: string;
  allowedModels: string | null;
  dailyRequestLimit: number | null;
  dailyBudget: bigint | null;
  rateLimitBurst: number;
  rateLimitPerSec: number;
  packsOnly: boolean;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  usageDay: string;
  requestsToday: number;
  spentToday: bigint;
  committedToday: bigint;
  budgetWallet: string | null;
  budgetWalletAtomic: bigint | null;
  budgetSnapshotAt: Date | null;
};

/** A key as its owner sees it: masked, never the secret or its hash. */
export function keyView(key: KeyRow) {
  const today = utcDay(new Date());
  const counters = currentCounters(key);
  return {
    id: key.id,
    name: key.name,
    kind: key.kind === 'MANAGEMENT' ? 'management' : 'inference',
    display: maskKey(key),
    models: parseAllowedModels(key.allowedModels),
    limits: {
      daily_requests: key.dailyRequestLimit,
      daily_budget_usd: key.dailyBudget === null ? null : microsToUsdNumber(key.dailyBudget),
      rate_limit: { burst: key.rateLimitBurst, per_second: key.rateLimitPerSec },
    },
    packs_only: key.packsOnly,
    budget_wallet: budgetWalletView(key),
    usage_today: { day: today, requests: counters.requestsToday, spent_usd: microsToUsdNumber(counters.spentToday) },
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    created_at: key.createdAt.toISOString(),
  };
}

async function requireKnownModels(catalog: CatalogCache, models: string[] | null | undefined) {
  if (!models) return;
  const known = new Set((await catalog.get()).models.map((m) => m.id));
  const unknown = models.filter((m) => !known.has(m));
  if (unknown.length) throw invalidRequest(`Unknown models: ${unknown.join(', ')}.`, 'models');
}

/**
 * Creates a key for `userId` from the account API's fields: the one path for the account API and
 * the admin API, so both accept (and refuse) exactly the same fields. `audit` joins the key's
 * write in one transaction. The secret is returned once and never stored.
 */
export async function issueKey({
  db,
  catalog,
  userId,
  input,
  audit,
  env = process.env,
}: {
  db: Db;
  catalog: CatalogCache;
  userId: string;
  input: CreateKeyInput;
  audit?: (keyId: string) => Prisma.PrismaPromise<unknown>;
  env?: Record<string, string | undefined>;
}) {
  await requireKnownModels(catalog, input.models);
  const budget = await budgetWalletFields({ db, config: getPaymentsConfig, userId }, input);
  const created = createApiKeyOp(db, {
    userId,
    name: input.name,
    kind: input.kind === 'management' ? 'MANAGEMENT' : 'INFERENCE',
    models: input.models ?? null,
    dailyRequestLimit: input.daily_requests ?? null,
    dailyBudget: 'dailyBudget' in budget ? budget.dailyBudget : (input.daily_budget_usd ?? null),
    rateLimitBurst: input.rate_limit?.burst,
    rateLimitPerSec: input.rate_limit?.per_second,
    expiresAt: input.expires_at ?? null,
    packsOnly: input.packs_only,
    budgetWallet: 'budgetWallet' in budget ? budget.budgetWallet : null,
  }, env);
  await (audit ? db.$transaction([created.op, audit(created.id)]) : created.op);
  const key = await db.apiKey.findUniqueOrThrow({ where: { id: created.id }, select: KEY_VIEW_SELECT });
  return { id: created.id, secret: created.secret, view: keyView(key) };
}

/**
 * The account API: a user's own keys and usage. Every query carries `userId` from the
 * authenticated principal, so another user's rows are not found rather than forbidden.
 */
export function createAccountApi({
  db,
  catalog,
  env = process.env,
  rateLimiter = createRateLimiter(env),
}: {
  db: Db;
  catalog: CatalogCache;
  env?: Record<string, string | undefined>;
  rateLimiter?: RateLimiter;
}) {
  const ledger = new Ledger(db);
  const guard = createGuards({ db, env }).principal;
  const proxies = trustedProxies(env);

  /**
   * Guessing redemption codes is the one way to mint credit from outside: attempts are throttled
   * per user and per client address (whichever runs out first), successful or not, before the
   * code is even looked at. Several users behind one address share its larger bucket.
   */
  const throttleRedemption = async (request: Request, userId: string) => {
    const address = clientAddress(request, proxies) ?? 'unknown';
    for (const [bucket, spec] of [
      [`redeem:user:${userId}`, REDEEM_PER_USER],
      [`redeem:addr:${address}`, REDEEM_PER_ADDRESS],
    ] as const) {
      const decision = await rateLimiter.take(bucket, spec);
      if (!decision.allowed) {
        throw tooManyRequests('redemption_rate_limited', `Too many redemption attempts; try again in ${decision.retryAfterSeconds} s.`, decision.retryAfterSeconds);
      }
    }
  };

  // GET /api/account — the caller's profile and wallet.
  const account = guard(async ({ principal }) => json(await getAccountInfo({ db, userId: principal.userId }), { headers: { 'cache-control': 'no-store' } }));

  // GET /api/keys
  const listKeys = guard(async ({ principal }) => {
    const keys = await db.apiKey.findMany({ where: { userId: principal.userId }, select: KEY_VIEW_SELECT, orderBy: { createdAt: 'desc' } });
    return json({ object: 'list', data: keys.map(keyView) });
  });

  // POST /api/keys — the secret is in this response only.
  const createKey = guard(async ({ request, principal }) => {
    const input = parseOrThrow(createKeySchema, await readJsonBody(request));
    // A leaked management key must not be able to mint more of itself: only a signed-in owner can.
    if (input.kind === 'management' && principal.via !== 'session') {
      throw forbidden('management_key_from_key', 'Management keys can be created only from a signed-in session, not with another management key.');
    }
    const created = await issueKey({ db, catalog, userId: principal.userId, input, env });
    return json({ ...created.view, key: created.secret }, { status: 201 });
  });

  // PATCH /api/keys/:id
  const updateKey = guard(async ({ request, principal, params }) => {
    const patch = parseOrThrow(updateKeySchema, await readJsonBody(request));
    await requireKnownModels(catalog, patch.models);
    const budget = await budgetWalletFields({ db, config: getPaymentsConfig, userId: principal.userId, keyId: params.id! }, patch);
    const { count } = await db.apiKey.updateMany({
      where: { id: params.id!, userId: principal.userId, revokedAt: null },
      data: {
        name: patch.name,
        allowedModels: patch.models === undefined ? undefined : patch.models === null ? null : JSON.stringify(patch.models),
        dailyRequestLimit: patch.daily_requests,
        dailyBudget: patch.daily_budget_usd,
        rateLimitBurst: patch.rate_limit?.burst,
        rateLimitPerSec: patch.rate_limit?.per_second,
        expiresAt: patch.expires_at,
        packsOnly: patch.packs_only,
        ...budget,
      },
    });
    noteKeysChanged();
    const key = await db.apiKey.findFirst({ where: { id: params.id!, userId: principal.userId }, select: KEY_VIEW_SELECT });
    if (!key) throw notFound('key_not_found', `No key with id '${params.id}'.`);
    if (count === 0) throw invalidRequest('This key is revoked; revoked keys cannot be changed.', null, 'key_revoked');
    return json(keyView(key));
  });

  // DELETE /api/keys/:id — revokes; the key's next request is refused on every instance.
  const revokeKey = guard(async ({ principal, params }) => {
    await db.apiKey.updateMany({ where: { id: params.id!, userId: principal.userId, revokedAt: null }, data: { revokedAt: new Date() } });
    noteKeysChanged();
    const key = await db.apiKey.findFirst({ where: { id: params.id!, userId: principal.userId }, select: KEY_VIEW_SELECT });
    if (!key) throw notFound('key_not_found', `No key with id '${params.id}'.`);
    return json(keyView(key));
  });

  // GET /api/usage — the caller's usage records, newest first, with filters and a cursor.
  const listUsage = guard(async ({ request, principal }) => {
    const query = parseOrThrow(usageQuerySchema, Object.fromEntries(new URL(request.url).searchParams));
    const rows = await db.usageRecord.findMany({
      where: usageWhere(principal, query),
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit + 1,
      ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
    });
    const page = rows.slice(0, query.limit);
    return json({ object: 'list', data: page.map(usageView), next_cursor: rows.length > query.limit ? page.at(-1)!.id : null });
  });

  // GET /api/usage/export — the same records as CSV, each key by its id and then its name (what the buyer sees on /keys).
  const exportUsage = guard(async ({ request, principal }) => {
    const query = parseOrThrow(usageQuerySchema.omit({ limit: true, cursor: true }), Object.fromEntries(new URL(request.url).searchParams));
    const rows = await db.usageRecord.findMany({ where: usageWhere(principal, query), orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: 50_000 });
    const keyIds = [...new Set(rows.map((r) => r.apiKeyId).filter((id): id is string => id !== null))];
    const keys = keyIds.length ? await db.apiKey.findMany({ where: { id: { in: keyIds }, userId: principal.userId }, select: { id: true, name: true } }) : [];
    return new Response(usageCsv(rows.map(usageView), new Map(keys.map((k) => [k.id, k.name]))), {
      headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="tollgate-usage-${utcDay(new Date())}.csv"` },
    });
  });

  // GET /api/usage/daily — per day and model: requests, tokens, cost (for charts).
  const dailyUsage = guard(async ({ request, principal }) => {
    const query = parseOrThrow(dailyUsageQuerySchema, Object.fromEntries(new URL(request.url).searchParams));
    const sql = sqlFor(db);
    // Timestamps are ISO text on SQLite and timestamp(3) in UTC on PostgreSQL.
    const dayExpr = sql.provider === 'sqlite' ? 'substr("createdAt", 1, 10)' : `to_char("createdAt", 'YYYY-MM-DD')`;
    const filters: Array<[string, SqlValue]> = [['"userId" = ?', principal.userId]];
    if (query.key_id) filters.push(['"apiKeyId" = ?', query.key_id]);
    if (query.from) filters.push([`${dayExpr} >= ?`, query.from]);
    if (query.to) filters.push([`${dayExpr} <= ?`, query.to]);
    const conditions = filters.map(([condition]) => condition);
    const args = filters.map(([, value]) => value);
    const rows = await sql.query(
      statement(
        `SELECT ${dayExpr} AS "day", "modelId" AS "model", COUNT(*) AS "requests", SUM("promptTokens") AS "promptTokens", SUM("completionTokens") AS "completionTokens", SUM("cost") AS "cost" FROM "UsageRecord" WHERE ${conditions.join(' AND ')} GROUP BY ${dayExpr}, "modelId" ORDER BY 1, 2`,
        args,
      ),
    );
    return json({
      object: 'list',
      data: rows.map((r) => ({
        day: read.string(r.day),
        model: read.string(r.model),
        requests: read.int(r.requests),
        prompt_tokens: read.int(r.promptTokens),
        completion_tokens: read.int(r.completionTokens),
        cost_usd: microsToUsdNumber(read.bigint(r.cost ?? 0)),
      })),
    });
  });

  // POST /api/credits/redeem {code} — a redemption code's credit into the caller's wallet.
  const redeem = guard(async ({ request, principal }) => {
    const { code } = parseOrThrow(redeemSchema, await readJsonBody(request));
    await throttleRedemption(request, principal.userId);
    const result = await redeemCode({ db, ledger, userId: principal.userId, code });
    const wallet = await ledger.getAccountBalance({ accountId: walletAccountId(principal.userId) });
    return json({ credited_usd: microsToUsdNumber(result.amount), replayed: result.replayed, balance_usd: microsToUsdNumber(wallet.balance) }, { status: result.replayed ? 200 : 201 });
  });

  return { account, listKeys, createKey, updateKey, revokeKey, listUsage, exportUsage, dailyUsage, redeem };
}

function usageWhere(principal: Principal, query: Omit<UsageQuery, 'cursor' | 'limit'>) {
  const createdAt = {
    ...(query.from ? { gte: new Date(query.from) } : {}),
    ...(query.to ? { lte: endOf(query.to) } : {}),
  };
  return {
    userId: principal.userId,
    ...(query.key_id ? { apiKeyId: query.key_id } : {}),
    ...(query.model ? { modelId: query.model } : {}),
    ...(query.status ? { status: query.status.toUpperCase() as 'SUCCESS' | 'UPSTREAM_ERROR' | 'CLIENT_ABORTED' } : {}),
    ...(query.from || query.to ? { createdAt } : {}),
  };
}

/** A bare date as `to` means the whole of that day. */
function endOf(value: string): Date {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T23:59:59.999Z`) : new Date(value);
}

function usageView(r: UsageRecord) {
  return {
    id: r.id,
    request_id: r.requestId,
    key_id: r.apiKeyId,
    model: r.modelId,
    provider: r.providerId,
    stream: r.stream,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    cached_tokens: r.cachedTokens,
    cost_usd: microsToUsdNumber(r.cost),
    latency_ms: r.latencyMs,
    status: r.status.toLowerCase(),
    error_code: r.errorCode,
    created_at: r.createdAt.toISOString(),
  };
}

