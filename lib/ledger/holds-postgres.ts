import { read, sql, type SqlRunner } from '../db/sql';
import { driverErrorKind } from '../db/sql';
import type { Micros } from '../money';
import { LedgerError } from './errors';
import { DailyQuotaRefused, HoldNotPending, type HoldStore, type Reserved, type ReservePlan, type Resolved, type ResolvePlan, type UsageRow } from './holds';

/**
 * The hold phases on PostgreSQL: each is one call of a function (migration
 * 20261202030000_hold_functions), so one round trip, where the same steps as statements would
 * cost a round trip each plus BEGIN and COMMIT. Row locks are held only while the function runs.
 */
export class PostgresHoldStore implements HoldStore {
  readonly #sql: SqlRunner;

  constructor(runner: SqlRunner) {
    this.#sql = runner;
  }

  async reserve(plan: ReservePlan): Promise<Reserved> {
    const rows = await this.#call(
      sql`SELECT * FROM tollgate_reserve(${pgArray(plan.holdIds)}::text[], ${plan.idempotencyKey}, ${pgArray(plan.sources)}::text[], ${plan.creditAccountId}, ${plan.amount}, ${plan.memo}, ${plan.now}, ${plan.expiresAt}, ${plan.quota?.keyId ?? null}, ${plan.quota?.day ?? null})`,
    );
    const first = rows[0];
    return {
      holds: rows.map((row) => ({ id: read.string(row.out_hold_id), debitAccountId: read.string(row.out_account_id), amount: read.bigint(row.out_amount) })),
      counters:
        plan.quota && first
          ? { requestsToday: read.int(first.out_requests), committedToday: read.bigint(first.out_committed), spentToday: read.bigint(first.out_spent) }
          : null,
    };
  }

  async resolve(plan: ResolvePlan): Promise<Resolved> {
    const rows = await this.#call(
      sql`SELECT * FROM tollgate_resolve(${pgArray(plan.holds.map((h) => h.id))}::text[], ${pgArray(plan.holds.map((h) => h.debitAccountId))}::text[], ${pgArray(plan.holds.map((h) => h.creditAccountId))}::text[], ${pgArray(plan.holds.map((h) => h.amount))}::bigint[], ${plan.status}, ${pgArray(plan.shares)}::bigint[], ${pgArray(plan.resolveKeys)}::text[], ${pgArray(plan.transactionIds)}::text[], ${pgArray(plan.entryIds)}::text[], ${plan.memo}, ${plan.now}, ${plan.quota?.keyId ?? null}, ${plan.quota?.day ?? null}, ${plan.usage ? usageJson(plan.usage) : null}::jsonb)`,
    );
    return { accounts: rows.map((row) => ({ id: read.string(row.out_account_id), balance: read.bigint(row.out_balance), available: read.bigint(row.out_available) })) };
  }

  async #call(statement: ReturnType<typeof sql>) {
    try {
      return await this.#sql.query(statement);
    } catch (error) {
      throw fromFunctionError(error);
    }
  }
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

/** A PostgreSQL array literal: every element double-quoted and escaped, NULL unquoted. */
function pgArray(values: ReadonlyArray<string | Micros | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

function usageJson(u: UsageRow): string {
  return JSON.stringify({ ...u, cost: u.cost.toString(), createdAt: u.createdAt.toISOString().slice(0, -1) });
}
