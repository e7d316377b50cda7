import type { Db } from '../db/client';
import { sqlFor } from '../db/client';
import type { HoldStatus } from '../db/generated/sqlite/enums';
import { driverErrorKind, read, sql, statement, type SqlExecutor, type SqlRunner } from '../db/sql';
import { extended } from '../extend';
import { newId } from '../ids';
import type { Micros } from '../money';
import { isSystemAccount, isWalletAccount, mayGoNegative, openSellerEarningsAccount, sellerEarningsAccountId, SYSTEM_ACCOUNTS } from './accounts';
import { LedgerError } from './errors';
import { expiredHoldsQuery, explainFailedDebit, finishResolution, GROUPS_PER_QUERY, holdKey, pendingGroupsQuery, postCredits, resolveHoldRows, sweptHold, insertUsage, toAccountState, holdKeyIndex, HoldNotPending, SqlHoldStore, type AccountState, type DailyCounters, type DailyQuota, type Hold, type HoldRef, type HoldStore, type ResolvePlan, type UsageRow } from './holds';
import { PostgresHoldStore } from './holds-postgres';
import { checkPosting, GrantNotPending, postGrant, type GrantedCall, type GrantPosted, type GrantPosting } from './grants';
import { now as clockNow, dateAt } from '../clock';

export type LedgerEntryInput = { accountId: string; amount: Micros };

export type TransferInput = {
  idempotencyKey: string;
  kind: string;
  entries: LedgerEntryInput[];
  memo?: string;
  actor?: string;
};

export type TransferResult = { transactionId: string; replayed: boolean };

export type { AccountState, DailyCounters, DailyQuota, Hold, HoldRef, UsageRow } from './holds';

/**
 * More work for the same database transaction as a transfer (a pack lot's account to create
 * first). Throwing from it rolls the whole transfer back.
 */
export type AlsoInTransaction<T> = (tx: SqlExecutor) => Promise<T>;

export type ReserveInput = {
  idempotencyKey: string;
  /**
   * The accounts that pay, in order: each gives what it has available until `amount` is covered,
   * the last whatever is left (a call's matching pack lots, then the wallet). One hold per source
   * that gives something; all or nothing.
   */
  sources: string[];
  creditAccountId: string;
  amount: Micros;
  ttlMs: number;
  memo?: string;
  /** An API key's daily limits, taken in the same transaction. */
  quota?: DailyQuota;
};

export type Reservation = { holds: Hold[]; replayed: boolean; counters: DailyCounters | null };

export type SettleInput = {
  holds: HoldRef[];
  /** Drawn from the holds in their order (the first source pays first); the rest returns. */
  amount: Micros;
  idempotencyKey: string;
  /** For a late settlement's transaction (settleLate); one on time is its hold and usage row. */
  memo?: string;
  /** Gives the unspent part back to the key's daily budget. */
  quota?: DailyQuota;
  /** The call's usage row, written in the same transaction. */
  usage?: UsageRow;
  /** The call was served with a seller pool's key: its draw-down and the seller's earnings, in the same transaction. */
  pool?: PoolDraw;
};

/**
 * What a pool-served call owes its pool and seller. The pool's hold (reserved on the pool's account
 * for the call's maximum upstream list cost) posts `listCost` back to the capacity contra and
 * returns the rest; the seller's earnings account gets `earnings` out of what the buyer paid.
 */
export type PoolDraw = {
  poolId: string;
  hold: HoldRef;
  /** Upstream spend at list price this call consumed (≤ the hold). */
  listCost: Micros;
  /** The seller's share (≤ the buyer's charge, so revenue never pays out more than it took). */
  earnings: Micros;
  /** The seller: their earnings account is derived from it (sellerEarningsAccountId). */
  sellerUserId: string;
};

export type ReleaseInput = {
  holds: HoldRef[];
  idempotencyKey: string;
  /** EXPIRED when the sweeper releases it. */
  as?: 'RELEASED' | 'EXPIRED';
  /** Gives the request and the whole hold back to the key's daily limits. */
  quota?: DailyQuota;
  usage?: UsageRow;
};

/** Each hold as resolved, and its source account afterwards (null when this was a replay). */
export type Resolution = { holds: ResolvedHold[]; shares: Micros[]; accounts: AccountState[] | null; replayed: boolean };

export type ResolvedHold = HoldRef & { status: HoldStatus; settledAmount: Micros | null };

/**
 * The double-entry ledger. Balances live on the account rows and change only in the same database
 * transaction that records the posting explaining them: a transfer's entries (summing to zero), or
 * a settled hold, whose settled amount leaves its debit account for its credit account (holds.ts
 * says why a settlement writes no entries of its own). Overdraft protection is a conditional
 * UPDATE (`available >= amount`) that both SQLite and PostgreSQL apply atomically; a hold resolves
 * exactly once because its resolution is a conditional UPDATE on `status = 'PENDING'`.
 *
 * Money moves in two ways: a transfer (deposits, pack purchases) and a call's two phases, reserve
 * and settle (or release), over one or many source accounts. The phases are the gateway's hot
 * path: one short transaction each on SQLite, one function call each on PostgreSQL (holds.ts).
 */
export class Ledger {
  readonly #db: Db;
  readonly #sql: SqlRunner;
  readonly #holds: HoldStore;
  /** LEDGER_SYNCHRONOUS_COMMIT=off: a call's phases (and a grant's postings) do not wait for their commit to be made safe. */
  readonly #fast: boolean;

  constructor(db: Db, env: Readonly<Record<string, string | undefined>> = process.env) {
    this.#db = db;
    this.#sql = sqlFor(db);
    const fast = !synchronousCommit(env);
    this.#fast = fast;
    this.#holds = this.#sql.provider === 'postgresql' ? new PostgresHoldStore(this.#sql, { asyncCommit: fast }) : new SqlHoldStore(this.#sql, { answerBeforeCommit: fast });
  }

  /**
   * Moves money between accounts; entries must sum to zero. `before` runs first in the same
   * transaction (to create an account the entries credit, such as a new pack lot's).
   */
  async transfer<T = undefined>(
    input: TransferInput,
    also?: AlsoInTransaction<T>,
    { before }: { before?: AlsoInTransaction<void> } = {},
  ): Promise<TransferResult & { also: T | undefined }> {
    validateEntries(input.entries);
    const transactionId = newId('txn');
    const now = clockNow();
    try {
      const result = await this.#sql.transaction(async (tx) => {
        if (before) await before(tx);
        await tx.execute(insertTransaction({ id: transactionId, idempotencyKey: input.idempotencyKey, kind: input.kind, memo: input.memo ?? null, actor: input.actor ?? null, now }));
        await tx.execute(insertEntries(transactionId, input.entries, now));
        for (const entry of lockOrder(input.entries)) {
          const guarded = entry.amount < 0n && !mayGoNegative(entry.accountId);
          const updated = await tx.execute(
            guarded
              ? sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${entry.amount}, "available" = "available" + ${entry.amount}, "updatedAt" = ${now} WHERE "id" = ${entry.accountId} AND "available" >= ${-entry.amount}`
              : sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${entry.amount}, "available" = "available" + ${entry.amount}, "updatedAt" = ${now} WHERE "id" = ${entry.accountId}`,
          );
          if (updated !== 1) throw await explainFailedDebit(tx, entry.accountId);
        }
        return also ? await also(tx) : undefined;
      });
      return { transactionId, replayed: false, also: result };
    } catch (error) {
      if (driverErrorKind(error) === 'UniqueConstraintViolation') return { ...(await this.#replayTransfer(input)), also: undefined };
      if (driverErrorKind(error) === 'ForeignKeyConstraintViolation') throw new LedgerError('account_not_found', 'an account in this operation does not exist');
      throw error;
    }
  }

  /**
   * Phase one: holds `amount` across the sources (see ReserveInput) if together they cover it,
   * with the key's daily quota when given. A replayed idempotency key returns the holds it made,
   * even once the money is spent.
   */
  async reserve(input: ReserveInput): Promise<Reservation> {
    if (input.amount <= 0n) throw new LedgerError('invalid_transaction', 'a hold must be for a positive amount');
    if (input.sources.length === 0 || new Set(input.sources).size !== input.sources.length) {
      throw new LedgerError('invalid_transaction', 'a reservation needs distinct source accounts');
    }
    const now = clockNow();
    const expiresAt = dateAt(now.getTime() + input.ttlMs);
    try {
      const reserved = await this.#holds.reserve({
        holdIds: input.sources.map(() => newId('hold')),
        idempotencyKey: input.idempotencyKey,
        sources: input.sources,
        creditAccountId: input.creditAccountId,
        amount: input.amount,
        memo: input.memo ?? null,
        now,
        expiresAt,
        quota: input.quota ?? null,
      });
      // Spelled out rather than spread: lib/extend.ts says why.
      const holds = reserved.holds.map((h) => ({ id: h.id, debitAccountId: h.debitAccountId, creditAccountId: input.creditAccountId, amount: h.amount, status: 'PENDING' as const, settledAmount: null, expiresAt }));
      return { holds, replayed: false, counters: reserved.counters };
    } catch (error) {
      const kind = driverErrorKind(error);
      if (kind === 'UniqueConstraintViolation') return this.#replayReservation(input);
      if (kind === 'ForeignKeyConstraintViolation') throw new LedgerError('account_not_found', 'an account in this operation does not exist');
      throw error;
    }
  }

  /**
   * Phase two: posts `amount` (≤ the holds' total) from the holds in their order to their credit
   * account and returns the rest to each source. A hold past its expiry that the sweeper has not
   * yet released can still be settled: its money is still reserved.
   */
  async settle(input: SettleInput): Promise<Resolution> {
    const total = input.holds.reduce((sum, h) => sum + h.amount, 0n);
    if (input.amount < 0n) throw new LedgerError('invalid_transaction', 'cannot settle a negative amount');
    if (input.amount > total) throw new LedgerError('settle_exceeds_hold', `settle amount ${input.amount} exceeds hold ${total}`);
    let left = input.amount;
    const shares = input.holds.map((hold) => {
      const share = left < hold.amount ? left : hold.amount;
      left -= share;
      return share;
    });
    if (input.pool) return this.#settlePooled(input, input.pool, shares);
    return this.#resolve(input, 'SETTLED', shares);
  }

  /**
   * A pool-served settlement: the buyer's holds as in #resolve, the pool's hold drawn by the list
   * cost, the seller credited, the pool's `drawn` (and EXHAUSTED once nothing is left) — one
   * transaction. It runs statement by statement on both databases (PostgreSQL's one-call functions
   * know nothing of pools; pool-served calls are the minority that pays for it). Locks: every user
   * account (buyer sources, the pool, the seller), then the system accounts, as everywhere else.
   */
  async #settlePooled(input: SettleInput, pool: PoolDraw, shares: Micros[], { capEarnings = true } = {}): Promise<Resolution> {
    const cost = shares.reduce((sum, share) => sum + share, 0n);
    if (pool.listCost < 0n || pool.listCost > pool.hold.amount) throw new LedgerError('settle_exceeds_hold', `pool draw ${pool.listCost} exceeds its hold ${pool.hold.amount}`);
    if (pool.earnings < 0n || (capEarnings && pool.earnings > cost)) throw new LedgerError('invalid_transaction', `seller earnings ${pool.earnings} exceed the charge ${cost}`);
    const now = clockNow();
    const resolveKeys = input.holds.map((_, index) => holdKey(input.idempotencyKey, index));
    const buyerPlan: ResolvePlan = {
      holds: input.holds.map(pickRef),
      status: 'SETTLED',
      shares,
      resolveKeys,
      now,
      quota: input.quota ?? null,
      usage: input.usage ? extended(input.usage, { sellerPoolId: pool.poolId }) : null,
    };
    const poolPlan: ResolvePlan = {
      holds: [pickRef(pool.hold)],
      status: 'SETTLED',
      shares: [pool.listCost],
      resolveKeys: [`pool:${input.idempotencyKey}`],
      now,
      quota: null,
      usage: null,
    };
    try {
      const accounts = await this.#sql.transaction(async (tx) => {
        if (pool.earnings > 0n) {
          // Opened at listing; a pool listed before earnings existed gets it here (locked below with the rest).
          await openSellerEarningsAccount(tx, pool.sellerUserId, now);
        }
        if (this.#sql.provider === 'postgresql') {
          // The one lock order of every ledger write (the batch functions' too): user accounts by
          // id, then the API key, then the system accounts. The steps below touch the buyer's
          // sources, the pool and the seller in hold order, so lock them all first, sorted.
          const userAccounts = [...new Set([...input.holds.map((h) => h.debitAccountId), pool.hold.debitAccountId, ...(pool.earnings > 0n ? [sellerEarningsAccountId(pool.sellerUserId)] : [])])].sort();
          for (const id of userAccounts) await tx.query(sql`SELECT "id" FROM "LedgerAccount" WHERE "id" = ${id} FOR NO KEY UPDATE`);
        }
        const credits = new Map<string, Micros>();
        const buyerAccounts = await resolveHoldRows(tx, buyerPlan, credits);
        const [poolAccount] = await resolveHoldRows(tx, poolPlan, credits);
        if (pool.earnings > 0n) {
          const transactionId = newId('txn');
          await tx.execute(insertTransaction({ id: transactionId, idempotencyKey: `earn:${input.idempotencyKey}`, kind: 'seller_earnings', memo: `pool ${pool.poolId}`, actor: null, now }));
          await tx.execute(insertEntries(transactionId, [{ accountId: SYSTEM_ACCOUNTS.revenue.id, amount: -pool.earnings }, { accountId: sellerEarningsAccountId(pool.sellerUserId), amount: pool.earnings }], now));
          await tx.execute(sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${pool.earnings}, "available" = "available" + ${pool.earnings}, "updatedAt" = ${now} WHERE "id" = ${sellerEarningsAccountId(pool.sellerUserId)}`);
          credits.set(SYSTEM_ACCOUNTS.revenue.id, (credits.get(SYSTEM_ACCOUNTS.revenue.id) ?? 0n) - pool.earnings);
        }
        // The key's counters and the usage row before the system accounts, which come last.
        await finishResolution(tx, buyerPlan, buyerAccounts);
        // The pool's row follows its account: drawn is face value minus what the account has left.
        await tx.execute(
          sql`UPDATE "SellerPool" SET "drawn" = "drawn" + ${pool.listCost}, "status" = CASE WHEN ${poolAccount!.balance} <= 0 AND "status" = 'LIVE' THEN 'EXHAUSTED' ELSE "status" END, "statusReason" = CASE WHEN ${poolAccount!.balance} <= 0 AND "status" = 'LIVE' THEN 'served its whole face value' ELSE "statusReason" END, "updatedAt" = ${now} WHERE "id" = ${pool.poolId}`,
        );
        await postCredits(tx, credits, now);
        return buyerAccounts;
      });
      const holds = input.holds.map((hold, index) => resolvedHold(hold, 'SETTLED', shares[index]!));
      return { holds, shares, accounts, replayed: false };
    } catch (error) {
      const kind = driverErrorKind(error);
      if (!(error instanceof HoldNotPending) && kind !== 'UniqueConstraintViolation') throw error;
      return { holds: await this.#resolutionReplay(input.holds, resolveKeys, kind === 'UniqueConstraintViolation' ? error : null), shares, accounts: null, replayed: true };
    }
  }

  /**
   * The settlement of a call whose holds the sweeper released before it ended (settle answered
   * `hold_expired`: the process stalled past the TTL, or its keep-alive could not reach the
   * database). The call was served, so it is still charged, from what its sources have available
   * now: each in the holds' order gives what it can, up to `amount`. What the sources no longer
   * have is lost, but never silently: the usage row records what was charged, flagged
   * `hold_lapsed`. The key's day counts the request and what was charged (the sweeper gave back
   * what the reservation took). One transaction, idempotent by `idempotencyKey`; every hold must
   * have expired.
   */
  async settleLate(input: SettleInput): Promise<{ charged: Micros; accounts: AccountState[]; shares: Micros[]; replayed: boolean }> {
    const now = clockNow();
    const key = `late:${input.idempotencyKey}`;
    // The sources in the holds' order: the order they pay in (pack lots by priority, then the wallet).
    const sources = [...new Set(input.holds.map((hold) => hold.debitAccountId))];
    const creditAccountIds = new Set(input.holds.map((hold) => hold.creditAccountId));
    if (creditAccountIds.size !== 1) throw new LedgerError('invalid_transaction', 'a late settlement pays one account');
    const [creditAccountId] = creditAccountIds;
    const held = input.holds.reduce((sum, hold) => sum + hold.amount, 0n);
    if (input.amount < 0n || input.amount > held) throw new LedgerError('settle_exceeds_hold', `settle amount ${input.amount} exceeds hold ${held}`);
    // Nothing charged leaves no transaction behind: the usage row's unique request id is then what
    // makes a second attempt a replay (the gateway always passes one).
    if (!input.usage) throw new LedgerError('invalid_transaction', 'a late settlement records its usage row');
    // The lock order of every other ledger write on PostgreSQL: user accounts (by id, NO KEY UPDATE
    // so foreign-key checks pass), then the key, then the system account credited.
    const lock = this.#sql.provider === 'postgresql' ? ' FOR NO KEY UPDATE' : '';
    try {
      return await this.#sql.transaction(async (tx) => {
        let quotaReturned = false;
        for (const hold of input.holds) {
          const [row] = await tx.query(sql`SELECT "status", "quotaKeyId" FROM "Hold" WHERE "id" = ${hold.id}`);
          if (!row || row.status !== 'EXPIRED') throw new LedgerError('hold_already_resolved', `hold ${hold.id} did not expire`);
          if (row.quotaKeyId !== null) quotaReturned = true;
        }
        const states = new Map<string, AccountState>();
        for (const { accountId } of lockOrder(sources.map((id) => ({ accountId: id, amount: 0n })))) {
          const [row] = await tx.query(statement(`SELECT "id", "balance", "available" FROM "LedgerAccount" WHERE "id" = ?${lock}`, [accountId]));
          if (!row) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
          states.set(accountId, toAccountState(row));
        }
        let left = input.amount;
        const shares = sources.map((accountId) => {
          const account = states.get(accountId)!;
          const take = left < account.available ? left : account.available > 0n ? account.available : 0n;
          left -= take;
          account.balance -= take;
          account.available -= take;
          return take;
        });
        const charged = input.amount - left;
        const debits = sources.flatMap((accountId, index) => (shares[index]! > 0n ? [{ accountId, amount: -shares[index]! }] : []));
        for (const entry of lockOrder(debits)) {
          await tx.execute(sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${entry.amount}, "available" = "available" + ${entry.amount}, "updatedAt" = ${now} WHERE "id" = ${entry.accountId}`);
        }
        if (input.quota) {
          // The sweeper gave the request and the whole hold back to the key's day; the call did
          // happen, and cost what was charged. (A hold reserved before holds recorded their key
          // had nothing given back: only what was not charged returns.)
          await tx.execute(
            quotaReturned
              ? sql`UPDATE "ApiKey" SET "requestsToday" = "requestsToday" + 1, "committedToday" = "committedToday" + ${charged}, "spentToday" = "spentToday" + ${charged}, "lastUsedAt" = ${now}, "updatedAt" = ${now} WHERE "id" = ${input.quota.keyId} AND "usageDay" = ${input.quota.day}`
              : sql`UPDATE "ApiKey" SET "committedToday" = "committedToday" - ${held - charged}, "spentToday" = "spentToday" + ${charged}, "lastUsedAt" = ${now}, "updatedAt" = ${now} WHERE "id" = ${input.quota.keyId} AND "usageDay" = ${input.quota.day}`,
          );
        }
        if (charged > 0n) {
          const transactionId = newId('txn');
          await tx.execute(insertTransaction({ id: transactionId, idempotencyKey: key, kind: 'settle_late', memo: input.memo ?? null, actor: null, now }));
          await tx.execute(insertEntries(transactionId, [...debits, { accountId: creditAccountId!, amount: charged }], now));
          await tx.execute(sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${charged}, "available" = "available" + ${charged}, "updatedAt" = ${now} WHERE "id" = ${creditAccountId!}`);
        }
        // A pack lot drawn down to nothing is EXHAUSTED, as in a settlement on time.
        for (const accountId of sources) {
          if (states.get(accountId)!.balance === 0n && !isWalletAccount(accountId)) {
            await tx.execute(sql`UPDATE "PackLot" SET "status" = 'EXHAUSTED' WHERE "accountId" = ${accountId} AND "status" = 'ACTIVE'`);
          }
        }
        await insertUsage(tx, { ...input.usage!, cost: charged, errorCode: 'hold_lapsed' });
        return { charged, accounts: sources.map((id) => states.get(id)!), shares, replayed: false };
      });
    } catch (error) {
      if (driverErrorKind(error) !== 'UniqueConstraintViolation') throw error;
      // Already done under this key: what it charged.
      const done = await this.#db.ledgerTransaction.findUnique({ where: { idempotencyKey: key }, select: { entries: { select: { amount: true } } } });
      const charged = (done?.entries ?? []).reduce((sum, entry) => (entry.amount > 0n ? sum + entry.amount : sum), 0n);
      return { charged, accounts: [], shares: [], replayed: true };
    }
  }


  /**
   * A pool-served call that failed after the upstream produced something (a stream cut off
   * mid-way): the buyer pays nothing (released on its own), but the seller's key was billed for
   * what was produced, so the pool is drawn by its list cost and the seller earns their rate of it,
   * out of revenue: the platform's loss, as with its own key. One transaction, idempotent by key.
   */
  async drawPool({ pool, idempotencyKey }: { pool: PoolDraw; idempotencyKey: string }): Promise<void> {
    await this.#settlePooled({ holds: [], amount: 0n, idempotencyKey }, pool, [], { capEarnings: false });
  }

  /**
   * The pool's part of a late settlement (settleLate): the pool's hold lapsed too, so the pool
   * gives what it still has of `listCost`, and the seller earns `earnings` all the same (their key
   * served the call). One transaction, idempotent by `idempotencyKey`.
   */
  async drawPoolLate(pool: Omit<PoolDraw, 'hold'> & { hold: HoldRef }, idempotencyKey: string): Promise<void> {
    const now = clockNow();
    const lock = this.#sql.provider === 'postgresql' ? ' FOR NO KEY UPDATE' : '';
    try {
      await this.#sql.transaction(async (tx) => {
        const [row] = await tx.query(statement(`SELECT "available" FROM "LedgerAccount" WHERE "id" = ?${lock}`, [pool.hold.debitAccountId]));
        const available = row ? read.bigint(row.available) : 0n;
        const drawn = pool.listCost < available ? pool.listCost : available > 0n ? available : 0n;
        const transactionId = newId('txn');
        const entries: LedgerEntryInput[] = [];
        if (drawn > 0n) entries.push({ accountId: pool.hold.debitAccountId, amount: -drawn }, { accountId: SYSTEM_ACCOUNTS.sellerCapacity.id, amount: drawn });
        if (pool.earnings > 0n) entries.push({ accountId: sellerEarningsAccountId(pool.sellerUserId), amount: pool.earnings }, { accountId: SYSTEM_ACCOUNTS.revenue.id, amount: -pool.earnings });
        if (entries.length === 0) return;
        await openSellerEarningsAccount(tx, pool.sellerUserId, now);
        await tx.execute(insertTransaction({ id: transactionId, idempotencyKey: `pool-late:${idempotencyKey}`, kind: 'pool_draw_late', memo: `pool ${pool.poolId}`, actor: null, now }));
        await tx.execute(insertEntries(transactionId, entries, now));
        for (const entry of lockOrder(entries)) {
          await tx.execute(sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${entry.amount}, "available" = "available" + ${entry.amount}, "updatedAt" = ${now} WHERE "id" = ${entry.accountId}`);
        }
        await tx.execute(sql`UPDATE "SellerPool" SET "drawn" = "drawn" + ${drawn}, "updatedAt" = ${now} WHERE "id" = ${pool.poolId}`);
      });
    } catch (error) {
      // Done already under this key.
      if (driverErrorKind(error) !== 'UniqueConstraintViolation') throw error;
    }
  }

  /** Voids holds: nothing is posted, every hold's whole amount becomes available again. */
  async release(input: ReleaseInput): Promise<Resolution> {
    return this.#resolve(input, input.as ?? 'RELEASED', input.holds.map(() => 0n));
  }

  async #resolve(
    input: { holds: HoldRef[]; idempotencyKey: string; quota?: DailyQuota; usage?: UsageRow },
    status: 'SETTLED' | 'RELEASED' | 'EXPIRED',
    shares: Micros[],
  ): Promise<Resolution> {
    if (input.holds.length === 0) throw new LedgerError('invalid_transaction', 'nothing to resolve');
    const resolveKeys = input.holds.map((_, index) => holdKey(input.idempotencyKey, index));
    const resolvedHolds = input.holds.map((hold, index) => resolvedHold(hold, status, status === 'SETTLED' ? shares[index]! : null));
    try {
      const { accounts } = await this.#holds.resolve({
        holds: input.holds.map(pickRef),
        status,
        shares,
        resolveKeys,
        now: clockNow(),
        quota: input.quota ?? null,
        usage: input.usage ?? null,
      });
      return { holds: resolvedHolds, shares, accounts, replayed: false };
    } catch (error) {
      const kind = driverErrorKind(error);
      if (!(error instanceof HoldNotPending) && kind !== 'UniqueConstraintViolation') throw error;
      return { holds: await this.#resolutionReplay(input.holds, resolveKeys, kind === 'UniqueConstraintViolation' ? error : null), shares, accounts: null, replayed: true };
    }
  }

  /**
   * Posts calls served from a grant (a pending hold opened with `reserve`, keyed `grant:<id>`):
   * each call's hold row, resolved, and usage row; the grant down by what they cost; with `close`,
   * the rest released and the key's budget and request given back (lib/ledger/grants.ts,
   * docs/grants.md). A posting replayed after its answer was lost changes nothing and says so.
   */
  async postGrant(input: { grant: HoldRef; quota: DailyQuota; calls: GrantedCall[]; release?: Micros; close: boolean }): Promise<GrantPosted & { replayed: boolean }> {
    // Spelled out rather than spread: lib/extend.ts says why.
    const posting: GrantPosting = { grant: input.grant, quota: input.quota, calls: input.calls, release: input.release ?? 0n, close: input.close, closeKey: `close:${input.grant.id}`, now: clockNow() };
    const { cost } = checkPosting(posting);
    if (posting.calls.length === 0 && !posting.close && posting.release === 0n) return { grant: input.grant, wallet: await this.#accountState(input.grant.debitAccountId), replayed: false };
    try {
      // Settlements of calls, in bulk: committed as a call's own settlement would be (holds.ts).
      const posted = await this.#sql.transaction(async (tx) => {
        if (this.#fast && this.#sql.provider === 'postgresql') await tx.query(sql`SELECT set_config('synchronous_commit', 'off', true)`);
        return postGrant(tx, posting);
      }, { answerBeforeCommit: this.#fast });
      return { grant: posted.grant, wallet: posted.wallet, replayed: false };
    } catch (error) {
      if (!(error instanceof GrantNotPending) && driverErrorKind(error) !== 'UniqueConstraintViolation') throw error;
      // The transaction is all or nothing: its first call's hold row (or, closing with no calls, the
      // grant's closing key) is there only if this very posting committed before.
      const first = posting.calls[0];
      const [applied] = first
        ? await this.#sql.query(sql`SELECT "id" FROM "Hold" WHERE "id" = ${first.holdId} AND "idempotencyKey" = ${`hold:${first.requestId}`}`)
        : posting.close
          ? await this.#sql.query(sql`SELECT "id" FROM "Hold" WHERE "id" = ${input.grant.id} AND "resolveIdempotencyKey" = ${posting.closeKey}`)
          : await this.#sql.query(sql`SELECT "id" FROM "Hold" WHERE "id" = ${input.grant.id} AND "status" = 'PENDING' AND "amount" = ${input.grant.amount - posting.release}`);
      if (applied) return { grant: posting.close ? null : { ...input.grant, amount: input.grant.amount - cost - posting.release }, wallet: await this.#accountState(input.grant.debitAccountId), replayed: true };
      if (!(error instanceof GrantNotPending)) throw error;
      const current = await this.getHold({ holdId: input.grant.id });
      if (!current) throw new LedgerError('hold_not_found', `grant ${input.grant.id} does not exist`);
      if (current.status === 'EXPIRED') throw new LedgerError('hold_expired', `grant ${input.grant.id} expired before its calls were posted`);
      throw new LedgerError('hold_already_resolved', current.status === 'PENDING' ? `grant ${input.grant.id} does not match the reference given` : `grant ${input.grant.id} is already ${current.status.toLowerCase()}`);
    }
  }

  /**
   * Whether a grant may still be drawn on: pending, and its key still takes reservations as the
   * grant's opening did (not revoked, its daily budget not lowered below what it has committed, the
   * same UTC day). Instances ask about once a second (docs/grants.md).
   */
  async checkGrant(grant: HoldRef, quota: DailyQuota): Promise<boolean> {
    const [row] = await this.#sql.query(
      sql`SELECT h."id" FROM "Hold" h JOIN "ApiKey" k ON k."id" = ${quota.keyId} WHERE h."id" = ${grant.id} AND h."status" = 'PENDING' AND k."revokedAt" IS NULL AND k."usageDay" = ${quota.day} AND (k."dailyBudget" IS NULL OR k."committedToday" <= k."dailyBudget")`,
    );
    return row !== undefined;
  }

  async #accountState(accountId: string): Promise<AccountState> {
    const [row] = await this.#sql.query(sql`SELECT "id", "balance", "available" FROM "LedgerAccount" WHERE "id" = ${accountId}`);
    if (!row) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
    return toAccountState(row);
  }

  /**
   * Pushes the expiry of holds still pending to `expiresAt`: a call in progress keeps its holds
   * alive this way (lib/gateway/call.ts), so that only a call that died loses them to the sweeper.
   * Returns how many were extended.
   */
  /**
   * Adds up to `extra` to a pending hold from what its account has available, and returns what it
   * added (0 when the account has nothing free, or the hold is no longer pending). A session's
   * stream grows its one hold as the payer's vouchers come in; the caller updates its HoldRef.
   */
  async growHold(hold: HoldRef, extra: Micros): Promise<Micros> {
    if (extra <= 0n) return 0n;
    const now = clockNow();
    return this.#sql.transaction(async (tx) => {
      const [account] = await tx.query(sql`SELECT "available" FROM "LedgerAccount" WHERE "id" = ${hold.debitAccountId}`);
      const free = account ? read.bigint(account.available) : 0n;
      const grant = free < extra ? free : extra;
      if (grant <= 0n) return 0n;
      // Guarded like a reservation: whatever another call took meanwhile, available never goes below zero.
      const took = await tx.execute(sql`UPDATE "LedgerAccount" SET "available" = "available" - ${grant}, "updatedAt" = ${now} WHERE "id" = ${hold.debitAccountId} AND "available" >= ${grant}`);
      if (took !== 1) return 0n;
      const grown = await tx.execute(sql`UPDATE "Hold" SET "amount" = "amount" + ${grant} WHERE "id" = ${hold.id} AND "status" = 'PENDING' AND "amount" = ${hold.amount}`);
      // Resolved or changed meanwhile: undo the whole transaction, the account keeps its money.
      if (grown !== 1) throw new HoldNotPending();
      return grant;
    }).catch((error: unknown) => {
      if (error instanceof HoldNotPending) return 0n;
      throw error;
    });
  }

  async extendHolds(holdIds: string[], expiresAt: Date): Promise<number> {
    // One statement per hold, each its own transaction: one row lock at a time, so this can never
    // wait in a cycle with a settlement locking the same holds in another order.
    let extended = 0;
    for (const id of holdIds) extended += await this.#sql.execute(sql`UPDATE "Hold" SET "expiresAt" = ${expiresAt} WHERE "id" = ${id} AND "status" = 'PENDING'`);
    return extended;
  }

  /**
   * The sweeper: releases every pending hold whose expiry has passed, a call's holds together, and
   * gives the key's daily limits back what the reservation took (the request and the amount, on
   * the same UTC day): the call's process died, nothing was charged. Returns how many holds it
   * released.
   */
  async releaseExpiredHolds({ now = clockNow(), limit = 500 }: { now?: Date; limit?: number } = {}): Promise<number> {
    const expired = (await this.#sql.query(expiredHoldsQuery(now, limit))).map(sweptHold);
    // A call's holds (a pack lot's and the wallet's) go together, so its quota is given back once,
    // even when the limit above cut its group in two.
    const groupIds = [...new Set(expired.flatMap((hold) => (hold.groupId ? [hold.groupId] : [])))];
    const grouped: Array<ReturnType<typeof sweptHold>> = [];
    for (let start = 0; start < groupIds.length; start += GROUPS_PER_QUERY) {
      const rows = await this.#sql.query(pendingGroupsQuery(groupIds.slice(start, start + GROUPS_PER_QUERY)));
      grouped.push(...rows.map(sweptHold));
    }
    const calls = new Map<string, typeof expired>();
    for (const hold of [...expired.filter((h) => !h.groupId), ...grouped]) {
      const call = calls.get(hold.groupId ?? hold.id) ?? [];
      call.push(hold);
      calls.set(hold.groupId ?? hold.id, call);
    }
    let released = 0;
    for (const [callId, holds] of calls) {
      const { quotaKeyId, quotaDay } = holds[0]!;
      try {
        const result = await this.release({
          holds: holds.map(pickRef),
          idempotencyKey: `expire:${callId}`,
          as: 'EXPIRED',
          quota: quotaKeyId && quotaDay ? { keyId: quotaKeyId, day: quotaDay } : undefined,
        });
        if (!result.replayed) released += holds.length;
      } catch (error) {
        // Settled or released by its request between the read and now: nothing to sweep.
        if (!(error instanceof LedgerError && (error.code === 'hold_already_resolved' || error.code === 'hold_expired'))) throw error;
      }
    }
    return released;
  }

  async getHold({ holdId }: { holdId: string }): Promise<(Hold & { resolveIdempotencyKey: string | null }) | null> {
    return this.#db.hold.findUnique({ where: { id: holdId }, select: HOLD_SELECT });
  }

  async getHoldByKey(idempotencyKey: string) {
    return this.#db.hold.findUnique({ where: { idempotencyKey }, select: HOLD_SELECT });
  }

  async getAccountBalance({ accountId }: { accountId: string }) {
    const account = await this.#db.ledgerAccount.findUnique({ where: { id: accountId }, select: { balance: true, available: true } });
    if (!account) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
    return { balance: account.balance, available: account.available, held: account.balance - account.available };
  }

  // ------------------------------------------------------------------------------------------

  /** The holds a reservation's key made, if they are what this input asks for. */
  async #replayReservation(input: ReserveInput): Promise<Reservation> {
    const first = await this.#db.hold.findUnique({ where: { idempotencyKey: input.idempotencyKey }, select: { ...HOLD_SELECT, groupId: true, idempotencyKey: true } });
    const group = first?.groupId ? await this.#db.hold.findMany({ where: { groupId: first.groupId }, select: { ...HOLD_SELECT, idempotencyKey: true } }) : first ? [first] : [];
    const holds = group
      .sort((a, b) => holdKeyIndex(input.idempotencyKey, a.idempotencyKey) - holdKeyIndex(input.idempotencyKey, b.idempotencyKey))
      .map(({ resolveIdempotencyKey: _resolveKey, idempotencyKey: _key, groupId: _group, ...hold }: typeof group[number] & { groupId?: string | null }) => hold);
    const total = holds.reduce((sum, h) => sum + h.amount, 0n);
    const sameSources = holds.every((h) => input.sources.includes(h.debitAccountId) && h.creditAccountId === input.creditAccountId);
    if (holds.length === 0 || total !== input.amount || !sameSources) {
      throw new LedgerError('idempotency_conflict', 'this idempotency key was used for a different hold');
    }
    return { holds, replayed: true, counters: null };
  }

  /** After a refused resolution: the same idempotency key already resolved every hold (a replay), or not. */
  async #resolutionReplay(refs: HoldRef[], resolveKeys: string[], uniqueViolation: unknown): Promise<ResolvedHold[]> {
    const replayed: ResolvedHold[] = [];
    for (const [index, ref] of refs.entries()) {
      const current = await this.getHold({ holdId: ref.id });
      if (!current) throw new LedgerError('hold_not_found', `hold ${ref.id} does not exist`);
      if (current.status === 'PENDING') {
        if (uniqueViolation) {
          // Another hold resolved under this key, or another unique row clashed (a usage row's request id).
          const keyTaken = await this.#db.hold.count({ where: { resolveIdempotencyKey: { in: resolveKeys } } });
          if (!keyTaken) throw uniqueViolation;
          throw new LedgerError('idempotency_conflict', 'this idempotency key already resolved another hold');
        }
        throw new LedgerError('hold_already_resolved', `hold ${ref.id} does not match the reference given`);
      }
      if (current.resolveIdempotencyKey !== resolveKeys[index]) {
        if (current.status === 'EXPIRED') throw new LedgerError('hold_expired', `hold ${ref.id} expired before it was settled`);
        throw new LedgerError('hold_already_resolved', `hold ${ref.id} is already ${current.status.toLowerCase()}`);
      }
      const { resolveIdempotencyKey: _key, expiresAt: _expires, ...hold } = current;
      replayed.push(hold);
    }
    return replayed;
  }

  async #replayTransfer(input: TransferInput): Promise<TransferResult> {
    const existing = await this.#db.ledgerTransaction.findUnique({
      where: { idempotencyKey: input.idempotencyKey },
      select: { id: true, entries: { select: { accountId: true, amount: true } } },
    });
    if (!existing) throw new LedgerError('invalid_transaction', 'duplicate entry in transfer');
    const fingerprint = (entries: LedgerEntryInput[]) =>
      entries
        .map((e) => `${e.accountId}:${e.amount}`)
        .sort()
        .join(',');
    if (fingerprint(existing.entries) !== fingerprint(input.entries)) {
      throw new LedgerError('idempotency_conflict', 'this idempotency key was used for a different transfer');
    }
    return { transactionId: existing.id, replayed: true };
  }
}

/** A hold as its resolution left it; spelled out, never `{ ...hold, more }` (lib/extend.ts says why). */
function resolvedHold<S extends HoldStatus>(hold: HoldRef, status: S, settledAmount: Micros | null) {
  return { id: hold.id, debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId, amount: hold.amount, status, settledAmount };
}

/** Spelled out, as the holds above are, never `{ ...hold, more }`: lib/extend.ts says why. */
function pickRef(hold: HoldRef): HoldRef {
  const { id, debitAccountId, creditAccountId, amount } = hold;
  return { id, debitAccountId, creditAccountId, amount };
}

const HOLD_SELECT = {
  id: true,
  debitAccountId: true,
  creditAccountId: true,
  amount: true,
  status: true,
  settledAmount: true,
  expiresAt: true,
  resolveIdempotencyKey: true,
} as const;

function insertTransaction(t: { id: string; idempotencyKey: string; kind: string; memo: string | null; actor: string | null; now: Date }) {
  return sql`INSERT INTO "LedgerTransaction" ("id", "idempotencyKey", "kind", "memo", "actor", "createdAt") VALUES (${t.id}, ${t.idempotencyKey}, ${t.kind}, ${t.memo}, ${t.actor}, ${t.now})`;
}

/** All of a transaction's entries in one multi-row INSERT. */
function insertEntries(transactionId: string, entries: LedgerEntryInput[], now: Date) {
  const values = entries.flatMap((entry) => [newId('ent'), transactionId, entry.accountId, entry.amount, now]);
  const rows = entries.map(() => '(?, ?, ?, ?, ?)').join(', ');
  return statement(`INSERT INTO "LedgerEntry" ("id", "transactionId", "accountId", "amount", "createdAt") VALUES ${rows}`, values);
}

/**
 * Accounts are locked in one global order (user accounts by id, then system accounts by id) so
 * two transactions never wait on each other's rows in opposite orders on PostgreSQL; the busiest
 * rows (system accounts) come last and stay locked for the shortest time.
 */
function lockOrder(entries: LedgerEntryInput[]): LedgerEntryInput[] {
  return [...entries].sort((a, b) => {
    const systemLast = Number(isSystemAccount(a.accountId)) - Number(isSystemAccount(b.accountId));
    return systemLast || (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0);
  });
}

function validateEntries(entries: LedgerEntryInput[]): void {
  if (entries.length < 2) throw new LedgerError('invalid_transaction', 'a transaction needs at least two entries');
  if (new Set(entries.map((e) => e.accountId)).size !== entries.length) {
    throw new LedgerError('invalid_transaction', 'each account may appear once per transaction');
  }
  let sum = 0n;
  for (const entry of entries) {
    if (typeof entry.amount !== 'bigint' || entry.amount === 0n) throw new LedgerError('invalid_transaction', 'entry amounts must be non-zero bigints');
    sum += entry.amount;
  }
  if (sum !== 0n) throw new LedgerError('invalid_transaction', `entries must sum to zero (sum is ${sum})`);
}

/**
 * LEDGER_SYNCHRONOUS_COMMIT=on makes a call's reservations and settlements commit like every other
 * write before their callers hear: on PostgreSQL after their WAL flush, on SQLite before the answer.
 * What off, the default, gives up is said in holds-postgres.ts and sqlite-runner.ts.
 */
function synchronousCommit(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env.LEDGER_SYNCHRONOUS_COMMIT?.trim().toLowerCase();
  if (value === undefined || value === '' || value === 'off') return false;
  if (value === 'on') return true;
  throw new Error(`LEDGER_SYNCHRONOUS_COMMIT must be "on" or "off", not "${value}"`);
}
