import type { ArgType, SqlDriverAdapter, SqlQueryable, Transaction } from '@prisma/driver-adapter-utils';

/**
 * Hand-written SQL for the gateway's hot path, run on the very driver adapter (and so the same
 * connection pool, and on SQLite the same serialized connection) that the Prisma client uses.
 *
 * Why: each Prisma model operation costs ~0.3-0.6 ms of CPU in its runtime and query compiler,
 * and a batched transaction ~0.4 ms more, while the statement itself costs tens of microseconds.
 * A chat completion writes about a dozen rows; through this runner the writes of a reservation
 * or a settlement are one short transaction of plain statements. Everything off the hot path
 * stays on Prisma. The SQL here is written once for both databases: double-quoted identifiers,
 * `?` placeholders (numbered for PostgreSQL), RETURNING (SQLite ≥ 3.35).
 */

export type SqlValue = string | number | bigint | boolean | Date | null;
export type SqlStatement = { sql: string; args: SqlValue[]; argTypes: ArgType[] };
export type Row = Record<string, unknown>;

/** sql`UPDATE "T" SET "a" = ${a} WHERE "id" = ${id}` → a statement with typed parameters. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): SqlStatement {
  return { sql: strings.join('?'), args: values, argTypes: values.map(argType) };
}

/** For SQL whose shape varies (a multi-row VALUES list): text with `?` placeholders and its values. */
export function statement(text: string, args: SqlValue[]): SqlStatement {
  return { sql: text, args, argTypes: args.map(argType) };
}

function argType(value: SqlValue): ArgType {
  const scalarType =
    value === null
      ? 'unknown'
      : typeof value === 'bigint'
        ? 'bigint'
        : typeof value === 'number'
          ? Number.isInteger(value)
            ? 'int'
            : 'float'
          : typeof value === 'boolean'
            ? 'boolean'
            : value instanceof Date
              ? 'datetime'
              : 'string';
  return { scalarType, arity: 'scalar' };
}

export type SqlExecutor = {
  query(statement: SqlStatement): Promise<Row[]>;
  execute(statement: SqlStatement): Promise<number>;
};

const END_STATEMENT = {
  commit: { sql: 'COMMIT', args: [], argTypes: [] },
  rollback: { sql: 'ROLLBACK', args: [], argTypes: [] },
};

export class SqlRunner implements SqlExecutor {
  readonly provider: 'sqlite' | 'postgresql';
  readonly #adapter: () => Promise<SqlDriverAdapter>;
  readonly #numbered: boolean;

  constructor(provider: 'sqlite' | 'postgresql', adapter: () => Promise<SqlDriverAdapter>) {
    this.provider = provider;
    this.#adapter = adapter;
    this.#numbered = provider === 'postgresql';
  }

  async query(statement: SqlStatement): Promise<Row[]> {
    return runQuery(await this.#adapter(), this.#prepare(statement));
  }

  async execute(statement: SqlStatement): Promise<number> {
    return (await this.#adapter()).executeRaw(this.#prepare(statement));
  }

  /** Runs `work` in one database transaction: committed if it returns, rolled back if it throws. */
  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const tx: Transaction = await (await this.#adapter()).startTransaction();
    const executor: SqlExecutor = {
      query: (statement) => runQuery(tx, this.#prepare(statement)),
      execute: (statement) => tx.executeRaw(this.#prepare(statement)),
    };
    // The adapter opens the transaction (BEGIN) but, as with Prisma's own engine, its caller ends
    // it: COMMIT or ROLLBACK is ours to send; commit()/rollback() then hand the connection back.
    try {
      const result = await work(executor);
      await tx.executeRaw(END_STATEMENT.commit);
      await tx.commit();
      return result;
    } catch (error) {
      try {
        await tx.executeRaw(END_STATEMENT.rollback);
      } finally {
        await tx.rollback();
      }
      throw error;
    }
  }

  #prepare(statement: SqlStatement) {
    if (!this.#numbered) return statement;
    let n = 0;
    return { ...statement, sql: statement.sql.replace(/\?/g, () => `$${++n}`) };
  }
}

async function runQuery(queryable: SqlQueryable, statement: SqlStatement): Promise<Row[]> {
  const result = await queryable.queryRaw(statement);
  return result.rows.map((values) => {
    const row: Row = {};
    result.columnNames.forEach((name, i) => (row[name] = values[i]));
    return row;
  });
}

/** What a driver adapter reports for a failed statement: UniqueConstraintViolation, ForeignKeyConstraintViolation, … */
export function driverErrorKind(error: unknown): string | undefined {
  if (error instanceof Error && error.name === 'DriverAdapterError' && typeof error.cause === 'object' && error.cause !== null && 'kind' in error.cause) {
    return String(error.cause.kind);
  }
  return undefined;
}

// Column readers: adapters return integers as number or string, booleans as 0/1 on SQLite,
// timestamps as ISO strings (PostgreSQL's without a zone, in UTC).
export const read = {
  bigint: (value: unknown): bigint => BigInt(value as string | number | bigint),
  int: (value: unknown): number => Number(value),
  bool: (value: unknown): boolean => value === true || value === 1 || value === '1' || value === 1n || value === 't',
  string: (value: unknown): string => String(value),
  nullableString: (value: unknown): string | null => (value === null || value === undefined ? null : String(value)),
  nullableDate: (value: unknown): Date | null => {
    if (value === null || value === undefined) return null;
    if (value instanceof Date) return value;
    const text = String(value);
    return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(' ', 'T')}Z`);
  },
  nullableBigint: (value: unknown): bigint | null => (value === null || value === undefined ? null : BigInt(value as string | number | bigint)),
};
