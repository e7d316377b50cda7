import type { UsageRecord } from '../db/generated/sqlite/client';
import type { HoldStatus } from '../db/generated/sqlite/enums';
import { read, sql, statement, type Row, type SqlExecutor, type SqlRunner, type SqlStatement, type TransactionOptions } from '../db/sql';
import type { Micros } from '../money';
import { isWalletAccount } from './accounts';
import { LedgerError } from './errors';

/**
 * The two phases of a call's payment, as statements: reserve (hold the maximum on one or more
 * source accounts) and resolve (settle the actual amount, or release). What rides along in the same
 * database transaction is data, not callbacks, so that PostgreSQL can run a whole phase as one
 * function call, one round trip (holds-postgres.ts); this file runs the same steps statement by
 * statement on SQLite, where each is a few microseconds on the connection in process.
 *
 * A settled hold is its own posting: `settledAmount` from its debit account to its credit account,
 * two legs of one amount (balanced by construction), keyed by its resolution key. It writes no
 * transaction or entry rows: on this path, run twice a call, those rows were seven B-tree inserts
 * and more than a tenth of a call's CPU (docs/performance-history.md, round 22). Holds settled
 * before that kept their settle transaction (`transactionId`), whose entries are then the posting:
 * readers count a settled hold's own posting only without one (SETTLED_HOLD_POSTS).
 */

/** What the ledger needs to know about a hold to resolve it without reading it first. */
export type HoldRef = { id: string; debitAccountId: string; creditAccountId: string; amount: Micros };

export type Hold = HoldRef & { status: HoldStatus; settledAmount: Micros | null; expiresAt: Date };

/**
 * The rows of "Hold" that post money themselves (see above), as a condition to AND into a query.
 * Written with literals, never bound values, so that SQLite and PostgreSQL use the partial index
 * that holds exactly these rows by debit account and time (prisma/schema.prisma, model Hold; the
 * sweeper's reads below say why a bound value would not do).
 */
export const SETTLED_HOLD_POSTS = `"status" = 'SETTLED' AND "settledAmount" > 0 AND "transactionId" IS NULL`;

export type AccountState = { id: string; balance: Micros; available: Micros };

/** An API key's counters for the UTC day: requests taken, budget committed (spent plus open holds), spent. */
export type DailyCounters = { requestsToday: number; committedToday: Micros; spentToday: Micros };

/**
 * An API key's two daily limits, taken with a reservation and given back with its resolution. The
 * limits are the key row's own (never a cached copy), a revoked key takes nothing, and counters
 * from an earlier UTC day start afresh.
 */
export type DailyQuota = { keyId: string; day: string };

/**
 * The row a call's resolution records, in the same transaction: the Prisma model. `sellerPoolId`
 * is set only by a pool-served settlement, which runs statement by statement on both databases
 * (Ledger.settle with `pool`); PostgreSQL's one-call functions write it as null.
 */
export type UsageRow = Omit<UsageRecord, 'sellerPoolId'> & { sellerPoolId?: string | null };

/** Thrown when the key's daily limits (or its revocation) refuse a reservation; nothing was written. */
export class DailyQuotaRefused extends Error {}

/** Thrown when a hold to resolve is no longer pending (or does not match the reference given). */
export class HoldNotPending extends Error {}

export type ReservePlan = {
  /** One id per source, used for the sources that end up giving something. */
  holdIds: string[];
  idempotencyKey: string;
  /** In the order they pay: each gives what it has available; the last gives whatever is left. */
  sources: string[];
  creditAccountId: string;
  amount: Micros;
  memo: string | null;
  now: Date;
  expiresAt: Date;
  quota: DailyQuota | null;
};

export type Reserved = { holds: Array<{ id: string; debitAccountId: string; amount: Micros }>; counters: DailyCounters | null };

export type ResolvePlan = {
  holds: HoldRef[];
  status: 'SETTLED' | 'RELEASED' | 'EXPIRED';
  /** What each hold posts (all zero unless settling). */
  shares: Micros[];
  /** Each hold's resolution key (unique among holds): what makes a resolution happen once. */
  resolveKeys: string[];
  now: Date;
  quota: DailyQuota | null;
  usage: UsageRow | null;
};

/** The hold sources' accounts after resolution, in the holds' order. */
export type Resolved = { accounts: AccountState[] };

export interface HoldStore {
  reserve(plan: ReservePlan): Promise<Reserved>;
  resolve(plan: ResolvePlan): Promise<Resolved>;
}

/**
 * The i-th hold a reservation makes (or the i-th hold a resolution resolves) is keyed `key`, then
 * `key:1`, `key:2`…: whatever the number of sources, a second use of a key collides with the first
 * hold on its unique index, and the first hold always carries the key itself for a replay to find.
 */
export function holdKey(idempotencyKey: string, index: number): string {
  return index === 0 ? idempotencyKey : `${idempotencyKey}:${index}`;
}

/** The position a hold key stands for (`key` → 0, `key:7` → 7), to put a replayed group back in order. */
export function holdKeyIndex(idempotencyKey: string, holdIdempotencyKey: string): number {
  return holdIdempotencyKey === idempotencyKey ? 0 : Number(holdIdempotencyKey.slice(idempotencyKey.length + 1));
}

/** Statement by statement, in one transaction of the SQL runner (SQLite). */
export class SqlHoldStore implements HoldStore {
  readonly #sql: SqlRunner;
  readonly #commit: TransactionOptions;

  /**
   * `answerBeforeCommit`: a call's phases may be answered before their batch commits (the SQL
   * runner says when): losing one to a crash of the process costs an uncharged call, never an
   * overdraft or a charge without its call.
   */
  constructor(runner: SqlRunner, options: { answerBeforeCommit: boolean }) {
    this.#sql = runner;
    this.#commit = { answerBeforeCommit: options.answerBeforeCommit };
  }

  reserve(plan: ReservePlan): Promise<Reserved> {
    return this.#sql.transaction(async (tx) => {
      const holds: Reserved['holds'] = [];
      const count = plan.sources.length;
      let remaining = plan.amount;
      for (const [index, accountId] of plan.sources.entries()) {
        if (remaining === 0n) break;
        let take = remaining;
        if (index < count - 1) {
          const [row] = await tx.query(sql`SELECT "available" FROM "LedgerAccount" WHERE "id" = ${accountId}`);
          if (!row) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
          const available = read.bigint(row.available);
          take = available < remaining ? available : remaining;
          if (take <= 0n) continue;
        }
        const id = plan.holdIds[index]!;
        // The hold row goes first so that a replayed key fails on its unique index before the
        // balance check, and a replay is recognised even once the money is spent.
        await tx.execute(
          sql`INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "groupId", "memo", "expiresAt", "createdAt", "quotaKeyId", "quotaDay") VALUES (${id}, ${holdKey(plan.idempotencyKey, holds.length)}, ${accountId}, ${plan.creditAccountId}, ${take}, 'PENDING', ${count === 1 ? null : plan.idempotencyKey}, ${plan.memo}, ${plan.expiresAt}, ${plan.now}, ${plan.quota?.keyId ?? null}, ${plan.quota?.day ?? null})`,
        );
        const updated = await tx.execute(
          sql`UPDATE "LedgerAccount" SET "available" = "available" - ${take}, "updatedAt" = ${plan.now} WHERE "id" = ${accountId} AND "available" >= ${take}`,
        );
        if (updated !== 1) throw await explainFailedDebit(tx, accountId);
        holds.push({ id, debitAccountId: accountId, amount: take });
        remaining -= take;
      }
      const counters = plan.quota ? await takeDailyQuota(tx, plan.quota, plan.amount, plan.now) : null;
      return { holds, counters };
    }, this.#commit);
  }

  resolve(plan: ResolvePlan): Promise<Resolved> {
    return this.#sql.transaction(async (tx) => {
      // Every user account first, the credit accounts last and once each: one lock order for all
      // resolutions (user accounts, then system accounts), so they never deadlock on PostgreSQL.
      const credits = new Map<string, Micros>();
      const accounts = await resolveHoldRows(tx, plan, credits);
      await postCredits(tx, credits, plan.now);
      await finishResolution(tx, plan, accounts);
      return { accounts };
    }, this.#commit);
  }
}

/**
 * A resolution's per-hold steps: the hold marked resolved (exactly once; settled, it is the
 * posting) and its source account given back the unspent part. What the credit accounts receive is
 * added to `credits`, for the caller to post after every user account (the lock order). Returns
 * the source accounts afterwards, in the holds' order.
 */
export async function resolveHoldRows(tx: SqlExecutor, plan: ResolvePlan, credits: Map<string, Micros>): Promise<AccountState[]> {
  const accounts: AccountState[] = [];
  for (const [index, hold] of plan.holds.entries()) {
    const share = plan.shares[index]!;
    // Matching on status = PENDING makes resolution exactly-once; matching the amount and
    // accounts means a stale or forged HoldRef cannot move the wrong money.
    const resolved = await tx.execute(
      sql`UPDATE "Hold" SET "status" = ${plan.status}, "settledAmount" = ${plan.status === 'SETTLED' ? share : null}, "resolveIdempotencyKey" = ${plan.resolveKeys[index]!}, "resolvedAt" = ${plan.now} WHERE "id" = ${hold.id} AND "status" = 'PENDING' AND "amount" = ${hold.amount} AND "debitAccountId" = ${hold.debitAccountId} AND "creditAccountId" = ${hold.creditAccountId}`,
    );
    if (resolved !== 1) throw new HoldNotPending();
    // The debit account gives up its share and gets the rest of the hold back; neither can
    // make it negative (it held the whole hold), so no guard is needed.
    const [row] = await tx.query(
      sql`UPDATE "LedgerAccount" SET "balance" = "balance" - ${share}, "available" = "available" + ${hold.amount - share}, "updatedAt" = ${plan.now} WHERE "id" = ${hold.debitAccountId} RETURNING "id", "balance", "available"`,
    );
    if (!row) throw new LedgerError('account_not_found', `account ${hold.debitAccountId} does not exist`);
    accounts.push(toAccountState(row));
    if (share > 0n) credits.set(hold.creditAccountId, (credits.get(hold.creditAccountId) ?? 0n) + share);
  }
  return accounts;
}

/** Posts what a resolution credits, one UPDATE per account (system accounts: the end of the lock order). */
export async function postCredits(tx: SqlExecutor, credits: Map<string, Micros>, now: Date): Promise<void> {
  for (const [accountId, amount] of credits) {
    if (amount === 0n) continue;
    await tx.execute(sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${amount}, "available" = "available" + ${amount}, "updatedAt" = ${now} WHERE "id" = ${accountId}`);
  }
}

/** After the money: lots emptied by a settlement are exhausted; the key's day and the usage row. */
export async function finishResolution(tx: SqlExecutor, plan: ResolvePlan, accounts: AccountState[]): Promise<void> {
  if (plan.status === 'SETTLED') {
    // A pack lot drawn down to nothing is EXHAUSTED, in the settlement that emptied it.
    for (const account of accounts) {
      if (account.balance === 0n && !isWalletAccount(account.id)) {
        await tx.execute(sql`UPDATE "PackLot" SET "status" = 'EXHAUSTED' WHERE "accountId" = ${account.id} AND "status" = 'ACTIVE'`);
      }
    }
  }
  if (plan.quota) await returnDailyQuota(tx, plan);
  if (plan.usage) await insertUsage(tx, plan.usage);
}

/**
 * One request and `amount` of today's budget, in one conditional UPDATE: counters of an earlier day
 * count as zero (and are reset), a later day refuses (an instance whose clock is behind retries on
 * the next day), and a revoked key refuses.
 */
async function takeDailyQuota(tx: SqlExecutor, quota: DailyQuota, amount: Micros, now: Date): Promise<DailyCounters> {
  const { keyId, day } = quota;
  const [row] = await tx.query(
    statement(
      `UPDATE "ApiKey" SET
        "requestsToday" = (CASE WHEN "usageDay" = ? THEN "requestsToday" ELSE 0 END) + 1,
        "committedToday" = (CASE WHEN "usageDay" = ? THEN "committedToday" ELSE 0 END) + ?,
        "spentToday" = CASE WHEN "usageDay" = ? THEN "spentToday" ELSE 0 END,
        "usageDay" = ?, "updatedAt" = ?
      WHERE "id" = ? AND "usageDay" <= ? AND "revokedAt" IS NULL
        AND ("dailyRequestLimit" IS NULL OR (CASE WHEN "usageDay" = ? THEN "requestsToday" ELSE 0 END) < "dailyRequestLimit")
        AND ("dailyBudget" IS NULL OR (CASE WHEN "usageDay" = ? THEN "committedToday" ELSE 0 END) + ? <= "dailyBudget")
      RETURNING "requestsToday", "committedToday", "spentToday"`,
      [day, day, amount, day, day, now, keyId, day, day, day, amount],
    ),
  );
  if (!row) throw new DailyQuotaRefused();
  return { requestsToday: read.int(row.requestsToday), committedToday: read.bigint(row.committedToday), spentToday: read.bigint(row.spentToday) };
}

/** Settled: the unspent part of the holds returns to the day's budget. Released: the request too. (Only on the same UTC day.) */
async function returnDailyQuota(tx: SqlExecutor, plan: ResolvePlan): Promise<void> {
  const { keyId, day } = plan.quota!;
  const held = plan.holds.reduce((sum, hold) => sum + hold.amount, 0n);
  if (plan.status === 'SETTLED') {
    const spent = plan.shares.reduce((sum, share) => sum + share, 0n);
    await tx.execute(
      sql`UPDATE "ApiKey" SET "committedToday" = "committedToday" - ${held - spent}, "spentToday" = "spentToday" + ${spent}, "lastUsedAt" = ${plan.now}, "updatedAt" = ${plan.now} WHERE "id" = ${keyId} AND "usageDay" = ${day}`,
    );
  } else {
    await tx.execute(
      sql`UPDATE "ApiKey" SET "committedToday" = "committedToday" - ${held}, "requestsToday" = "requestsToday" - 1, "updatedAt" = ${plan.now} WHERE "id" = ${keyId} AND "usageDay" = ${day}`,
    );
  }
}

export async function insertUsage(tx: SqlExecutor, u: UsageRow): Promise<void> {
  await tx.execute(
    sql`INSERT INTO "UsageRecord" ("id", "requestId", "userId", "apiKeyId", "modelId", "providerId", "stream", "promptTokens", "completionTokens", "cachedTokens", "cost", "latencyMs", "status", "errorCode", "sellerPoolId", "createdAt") VALUES (${u.id}, ${u.requestId}, ${u.userId}, ${u.apiKeyId}, ${u.modelId}, ${u.providerId}, ${u.stream}, ${u.promptTokens}, ${u.completionTokens}, ${u.cachedTokens}, ${u.cost}, ${u.latencyMs}, ${u.status}, ${u.errorCode}, ${u.sellerPoolId ?? null}, ${u.createdAt})`,
  );
}

export function toAccountState(row: Row): AccountState {
  return { id: read.string(row.id), balance: read.bigint(row.balance), available: read.bigint(row.available) };
}

export async function explainFailedDebit(tx: SqlExecutor, accountId: string): Promise<LedgerError> {
  const [row] = await tx.query(sql`SELECT "id" FROM "LedgerAccount" WHERE "id" = ${accountId}`);
  if (!row) return new LedgerError('account_not_found', `account ${accountId} does not exist`);
  return new LedgerError('insufficient_funds', 'the available balance does not cover this amount');
}

// ---- the sweeper's reads ------------------------------------------------------------------------

const SWEPT_COLUMNS = '"id", "debitAccountId", "creditAccountId", "amount", "groupId", "quotaKeyId", "quotaDay"';

// 'PENDING' is written into these queries, never bound: the indexes that find pending holds hold
// nothing else (prisma/schema.prisma, model Hold), and a database may use a partial index only when
// it can prove the query implies the index's WHERE. A bound value proves nothing to a PostgreSQL
// generic plan, and SQLite proves it only by preparing the statement again for each new value,
// which would defeat the runners' statement caches; the literal works for both, prepared once.

/** The oldest pending holds whose expiry has passed. */
export function expiredHoldsQuery(now: Date, limit: number): SqlStatement {
  return statement(`SELECT ${SWEPT_COLUMNS} FROM "Hold" WHERE "status" = 'PENDING' AND "expiresAt" <= ? ORDER BY "expiresAt" LIMIT ?`, [now, limit]);
}

/** How many groups one query of pendingGroupsQuery takes: one statement text, prepared once. */
export const GROUPS_PER_QUERY = 16;

/**
 * Every pending hold of up to GROUPS_PER_QUERY calls (holds reserved together share a group). The
 * list always has GROUPS_PER_QUERY places, the last id repeated to fill them (a repeat in IN is
 * harmless): a list as long as the groups found would make a new statement text for every length
 * up to the sweeper's limit, each taking a place in the statement caches for good.
 */
export function pendingGroupsQuery(groupIds: string[]): SqlStatement {
  if (groupIds.length === 0 || groupIds.length > GROUPS_PER_QUERY) throw new RangeError(`pendingGroupsQuery takes 1 to ${GROUPS_PER_QUERY} groups`);
  const padded = Array.from({ length: GROUPS_PER_QUERY }, (_, i) => groupIds[Math.min(i, groupIds.length - 1)]!);
  return statement(`SELECT ${SWEPT_COLUMNS} FROM "Hold" WHERE "status" = 'PENDING' AND "groupId" IN (${padded.map(() => '?').join(', ')}) ORDER BY "idempotencyKey"`, padded);
}

export function sweptHold(row: Row) {
  return {
    id: read.string(row.id),
    debitAccountId: read.string(row.debitAccountId),
    creditAccountId: read.string(row.creditAccountId),
    amount: read.bigint(row.amount),
    groupId: read.nullableString(row.groupId),
    quotaKeyId: read.nullableString(row.quotaKeyId),
    quotaDay: read.nullableString(row.quotaDay),
  };
}
