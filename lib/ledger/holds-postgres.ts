import { read, sql, SqlError, type Row, type SqlRunner, type SqlStatement } from '../db/sql';
import { driverErrorKind } from '../db/sql';
import type { Micros } from '../money';
import { pgTimestamp } from '../db/postgres-runner';
import { logger } from '../logger';
import { LedgerError } from './errors';
import { DailyQuotaRefused, HoldNotPending, type HoldStore, type Reserved, type ReservePlan, type Resolved, type ResolvePlan, type UsageRow } from './holds';

type Pending<P, R> = { plan: P; resolve: (value: R) => void; reject: (error: unknown) => void };

/** A bound on one batch call's work (and on how long it holds its rows): bigger turns split. */
const MAX_BATCH = 50;

/**
 * The hold phases on PostgreSQL, as functions (migration 20261202030000_hold_functions): one
 * round trip per phase, where the same steps as statements would cost a round trip each plus BEGIN
 * and COMMIT.
 *
 * And group commit: a busy wallet's row is locked from a phase's first write to its commit, and a
 * commit waits for its WAL flush, so calls on one wallet queue behind each other's flushes
 * (measured: 191 reserve+settle cycles/s at 16 concurrent, fewer than at 4). The phases asked for in
 * one turn of the event loop therefore go as one batch call, one transaction and one flush, the
 * reservations and the settlements together; the batch functions check each item in order against
 * running values and write each row they touch once (the migration 20261202060000_hold_batches says
 * why), and one item refused fails alone.
 *
 * Commits: every phase is committed before its caller goes on. By default (`asyncCommit`) these
 * transactions alone commit without waiting for their WAL flush (PostgreSQL's
 * synchronous_commit=off, set for the statement's own transaction): the flush was ~1.2 ms of
 * every phase at one connection here, twice per call. What that gives up is a database server
 * crash's last few hundred milliseconds of phases, each whole or not at all, never money out of
 * thin air: a lost reservation leaves its call's settlement no hold to settle, so the call is
 * recorded unbilled (settle_failed), and a lost settlement leaves a hold that expires and is
 * released; either way a call not charged.
 * It is what SQLite's synchronous=NORMAL already gives the embedded default against an OS crash.
 * Deposits, purchases, payouts and every other transfer still wait for the flush.
 */
export class PostgresHoldStore implements HoldStore {
  readonly #sql: SqlRunner;
  readonly #asyncCommit: boolean;
  #reserves: Array<Pending<ReservePlan, Reserved>> = [];
  #resolves: Array<Pending<ResolvePlan, Resolved>> = [];

  constructor(runner: SqlRunner, options: { asyncCommit: boolean }) {
    this.#sql = runner;
    this.#asyncCommit = options.asyncCommit;
  }

  reserve(plan: ReservePlan): Promise<Reserved> {
    return new Promise((resolve, reject) => {
      this.#reserves.push({ plan, resolve, reject });
      this.#schedule();
    });
  }

  resolve(plan: ResolvePlan): Promise<Resolved> {
    return new Promise((resolve, reject) => {
      this.#resolves.push({ plan, resolve, reject });
      this.#schedule();
    });
  }

  #busy = false;
  #scheduled = false;

  /**
   * One transaction in flight at a time, carrying both kinds of phase; what arrives meanwhile waits
   * for it and goes in the next. Concurrent transactions would only queue on the same busy rows'
   * locks (a wallet's), each holding them through its own commit's WAL flush; one after the other,
   * each flush carries every phase that arrived during the previous one.
   */
  #schedule(): void {
    if (this.#busy || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#busy = true;
      void this.#flush().finally(() => {
        this.#busy = false;
        if (this.#reserves.length > 0 || this.#resolves.length > 0) this.#schedule();
      });
    });
  }

  /** Sends the waiting phases, at most MAX_BATCH of each kind per call; whatever goes wrong, every caller hears back. */
  async #flush(): Promise<void> {
    const reserves = this.#reserves;
    const resolves = this.#resolves;
    this.#reserves = [];
    this.#resolves = [];
    for (let start = 0; start < Math.max(reserves.length, resolves.length); start += MAX_BATCH) {
      const turn = { reserves: reserves.slice(start, start + MAX_BATCH), resolves: resolves.slice(start, start + MAX_BATCH) };
      await this.#send(turn).catch((error: unknown) => {
        for (const pending of [...turn.reserves, ...turn.resolves]) pending.reject(error);
      });
    }
  }

  async #send({ reserves, resolves }: { reserves: Array<Pending<ReservePlan, Reserved>>; resolves: Array<Pending<ResolvePlan, Resolved>> }): Promise<void> {
    if (reserves.length + resolves.length === 1) {
      // Alone: the single-call function, which raises its refusal as it is.
      for (const pending of reserves) await this.#alone(pending, reserveAlone).then(pending.resolve, pending.reject);
      for (const pending of resolves) await this.#alone(pending, resolveAlone).then(pending.resolve, pending.reject);
      return;
    }
    // Ordered by the account that pays last (the wallet): the rows come back in one order.
    const orderedReserves = [...reserves].sort((a, b) => compare(lastOf(a.plan.sources), lastOf(b.plan.sources)));
    const orderedResolves = [...resolves].sort((a, b) => compare(lastOf(a.plan.holds).debitAccountId, lastOf(b.plan.holds).debitAccountId));
    const reserveItems = JSON.stringify(orderedReserves.map(({ plan }) => reserveItem(plan)));
    const resolveItems = JSON.stringify(orderedResolves.map(({ plan }) => resolveItem(plan)));
    const statement =
      orderedResolves.length === 0
        ? sql`SELECT 'reserve' AS out_kind, * FROM tollgate_reserve_batch(${reserveItems}::jsonb)`
        : orderedReserves.length === 0
          ? sql`SELECT 'resolve' AS out_kind, * FROM tollgate_resolve_batch(${resolveItems}::jsonb)`
          : sql`SELECT * FROM tollgate_batch(${resolveItems}::jsonb, ${reserveItems}::jsonb)`;
    let rows: Row[];
    try {
      rows = await this.#sql.query(this.#commitMode(statement));
    } catch (error) {
      // A batch refuses an item for a reason of its own on that item's row; should the whole call
      // fail instead (a conflict no up-front check could see, such as the same idempotency key
      // inserted by another instance meanwhile), nothing of it was written, and each phase runs
      // again alone, where it fails alone.
      logger.warn('a batch of ledger phases failed as a whole; running its phases one by one', { size: reserves.length + resolves.length, error });
      await Promise.all([
        ...orderedResolves.map((pending) => this.#alone(pending, resolveAlone).then(pending.resolve, pending.reject)),
        ...orderedReserves.map((pending) => this.#alone(pending, reserveAlone).then(pending.resolve, pending.reject)),
      ]);
      return;
    }
    deliver(orderedResolves, rows.filter((row) => row.out_kind === 'resolve'), (_pending, mine) => resolvedFrom(mine));
    deliver(orderedReserves, rows.filter((row) => row.out_kind === 'reserve'), (pending, mine) => reservedFrom(pending.plan, mine));
  }

  async #alone<P, R>(pending: Pending<P, R>, phase: Phase<P, R>): Promise<R> {
    return phase.result(pending.plan, await this.#call(phase.statement(pending.plan)));
  }

  async #call(statement: SqlStatement): Promise<Row[]> {
    try {
      return await this.#sql.query(this.#commitMode(statement));
    } catch (error) {
      throw fromFunctionError(error);
    }
  }

  /**
   * The phase's statement, committing without waiting for the WAL flush when so configured.
   * set_config(…, true) lasts to the end of the statement's own (implicit) transaction, and
   * PostgreSQL reads synchronous_commit when that transaction commits; it is evaluated on the rows
   * the function returns, and every phase returns at least one row (a refusal is a row, or an error
   * that commits nothing).
   */
  #commitMode(statement: SqlStatement): SqlStatement {
    if (!this.#asyncCommit) return statement;
    return { sql: asyncCommitText(statement.sql), args: statement.args };
  }
}

const asyncCommitTexts = new Map<string, string>();
/** `SELECT … FROM f(…)` → `SELECT …, set_config('synchronous_commit', 'off', true) FROM f(…)`, once per text. */
function asyncCommitText(text: string): string {
  let out = asyncCommitTexts.get(text);
  if (out === undefined) {
    const from = text.indexOf(' FROM tollgate_');
    if (from === -1) throw new Error(`not a ledger phase statement: ${text.slice(0, 60)}`);
    out = `${text.slice(0, from)}, set_config('synchronous_commit', 'off', true) AS tg_async_commit${text.slice(from)}`;
    asyncCommitTexts.set(text, out);
  }
  return out;
}

/** Hands each caller its rows, or its own refusal (its row's '<SQLSTATE> <message>'). */
function deliver<P, R>(batch: Array<Pending<P, R>>, rows: Row[], result: (pending: Pending<P, R>, rows: Row[]) => R): void {
  const byIndex = new Map<number, Row[]>();
  for (const row of rows) {
    const index = read.int(row.out_index);
    let list = byIndex.get(index);
    if (!list) byIndex.set(index, (list = []));
    list.push(row);
  }
  for (const [index, pending] of batch.entries()) {
    const mine = byIndex.get(index) ?? [];
    const failure = mine.find((row) => row.out_error !== null && row.out_error !== undefined);
    if (failure) pending.reject(fromBatchError(read.string(failure.out_error)));
    else pending.resolve(result(pending, mine));
  }
}

/**
 * A phase alone, as its single-call function: made once, not per call (under tsx's keepNames a
 * closure made per call costs an Object.defineProperty of its name; test/hot-path-costs.test.ts).
 */
type Phase<P, R> = { statement: (plan: P) => SqlStatement; result: (plan: P, rows: Row[]) => R };
const reserveAlone: Phase<ReservePlan, Reserved> = { statement: reserveStatement, result: reservedFrom };
const resolveAlone: Phase<ResolvePlan, Resolved> = { statement: resolveStatement, result: (_plan, rows) => resolvedFrom(rows) };

/**
 * A batch item, as JSON; its lists as PostgreSQL array literals, which the batch functions read
 * with a cast (unpacking a JSON array costs a query each: migration 20261203124500).
 */
function reserveItem(plan: ReservePlan) {
  return {
    holdIds: pgArray(plan.holdIds),
    idempotencyKey: plan.idempotencyKey,
    sources: pgArray(plan.sources),
    creditAccountId: plan.creditAccountId,
    amount: plan.amount.toString(),
    memo: plan.memo,
    now: pgTimestamp(plan.now),
    expiresAt: pgTimestamp(plan.expiresAt),
    keyId: plan.quota?.keyId ?? null,
    day: plan.quota?.day ?? null,
  };
}

function resolveItem(plan: ResolvePlan) {
  return {
    holdIds: pgArray(plan.holds.map((h) => h.id)),
    debitAccountIds: pgArray(plan.holds.map((h) => h.debitAccountId)),
    creditAccountIds: pgArray(plan.holds.map((h) => h.creditAccountId)),
    amounts: pgArray(plan.holds.map((h) => h.amount)),
    status: plan.status,
    shares: pgArray(plan.shares),
    resolveKeys: pgArray(plan.resolveKeys),
    transactionIds: noSettleTransactions(plan),
    entryIds: '{}',
    memo: null,
    now: pgTimestamp(plan.now),
    keyId: plan.quota?.keyId ?? null,
    day: plan.quota?.day ?? null,
    usage: plan.usage ? usageRecord(plan.usage) : null,
  };
}

function reserveStatement(plan: ReservePlan): SqlStatement {
  return sql`SELECT * FROM tollgate_reserve(${pgArray(plan.holdIds)}::text[], ${plan.idempotencyKey}, ${pgArray(plan.sources)}::text[], ${plan.creditAccountId}, ${plan.amount}, ${plan.memo}, ${plan.now}, ${plan.expiresAt}, ${plan.quota?.keyId ?? null}, ${plan.quota?.day ?? null})`;
}

function resolveStatement(plan: ResolvePlan): SqlStatement {
  return sql`SELECT * FROM tollgate_resolve(${pgArray(plan.holds.map((h) => h.id))}::text[], ${pgArray(plan.holds.map((h) => h.debitAccountId))}::text[], ${pgArray(plan.holds.map((h) => h.creditAccountId))}::text[], ${pgArray(plan.holds.map((h) => h.amount))}::bigint[], ${plan.status}, ${pgArray(plan.shares)}::bigint[], ${pgArray(plan.resolveKeys)}::text[], ${noSettleTransactions(plan)}::text[], ${'{}'}::text[], ${null}, ${plan.now}, ${plan.quota?.keyId ?? null}, ${plan.quota?.day ?? null}, ${plan.usage ? JSON.stringify(usageRecord(plan.usage)) : null}::jsonb)`;
}

function reservedFrom(plan: ReservePlan, rows: Row[]): Reserved {
  const first = rows[0];
  return {
    holds: rows.map((row) => ({ id: read.string(row.out_hold_id), debitAccountId: read.string(row.out_account_id), amount: read.bigint(row.out_amount) })),
    counters: plan.quota && first ? { requestsToday: read.int(first.out_requests), committedToday: read.bigint(first.out_committed), spentToday: read.bigint(first.out_spent) } : null,
  };
}

function resolvedFrom(rows: Row[]): Resolved {
  return { accounts: rows.map((row) => ({ id: read.string(row.out_account_id), balance: read.bigint(row.out_balance), available: read.bigint(row.out_available) })) };
}

const REASONS: Record<string, () => Error> = {
  'tollgate:insufficient_funds': () => new LedgerError('insufficient_funds', 'the available balance does not cover this amount'),
  'tollgate:account_not_found': () => new LedgerError('account_not_found', 'an account in this operation does not exist'),
  'tollgate:daily_quota': () => new DailyQuotaRefused(),
  'tollgate:hold_not_pending': () => new HoldNotPending(),
};

function fromFunctionError(error: unknown): unknown {
  if (driverErrorKind(error) === 'P0001' && error instanceof Error) return REASONS[error.message]?.() ?? error;
  return error;
}

const BATCH_KINDS: Record<string, string> = {
  '23505': 'UniqueConstraintViolation',
  '23503': 'ForeignKeyConstraintViolation',
  '40001': 'TransactionWriteConflict',
  '40P01': 'TransactionWriteConflict',
};

/** A batch item's '<SQLSTATE> <message>' as the error the same call alone would have thrown. */
function fromBatchError(text: string): unknown {
  const state = text.slice(0, 5);
  const message = text.slice(6);
  if (state === 'P0001' && REASONS[message]) return REASONS[message]();
  return new SqlError(BATCH_KINDS[state] ?? state, message);
}

function lastOf<T>(list: readonly T[]): T {
  return list[list.length - 1]!;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The resolve functions still take a settle transaction per hold, with its entries' ids and memo
 * (tollgate_resolve since migration 20261202060000_hold_batches, tollgate_resolve_batch as of
 * 20261204233000), and write one where its id is not null. A settled hold is its own posting now
 * (holds.ts): every id null, they write none. Their signatures stay, so that instances on either
 * side of a rolling upgrade call them alike.
 */
function noSettleTransactions(plan: ResolvePlan): string {
  return pgArray(plan.holds.map(() => null));
}

/** A PostgreSQL array literal: every element double-quoted and escaped, NULL unquoted. */
function pgArray(values: ReadonlyArray<string | Micros | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

function usageRecord(u: UsageRow) {
  return { ...u, cost: u.cost.toString(), createdAt: pgTimestamp(u.createdAt) };
}
