/**
 * Hand-written SQL for the gateway's hot path, run straight on the database driver that the
 * Prisma client also uses: on SQLite the very better-sqlite3 connection (sqlite-runner.ts), on
 * PostgreSQL the same pg pool (postgres-runner.ts).
 *
 * Why: each Prisma model operation costs ~0.3-0.6 ms of CPU in its runtime and query compiler,
 * and its driver adapter prepares every statement again on every call, while the statement itself
 * costs tens of microseconds. Everything off the hot path stays on Prisma. The SQL here is written
 * once for both databases: double-quoted identifiers, `?` placeholders (numbered for PostgreSQL),
 * RETURNING (SQLite ≥ 3.35).
 */
import { dateAt } from '../clock';

/** A statement's parameter. The runners rely on Date being its only object type (toSqlite, toPostgres). */
export type SqlValue = string | number | bigint | boolean | Date | null;
export type SqlStatement = { sql: string; args: SqlValue[] };
export type Row = Record<string, unknown>;

/** sql`UPDATE "T" SET "a" = ${a} WHERE "id" = ${id}` → a statement with typed parameters. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): SqlStatement {
  let text = joined.get(strings);
  if (text === undefined) {
    text = strings.join('?');
    joined.set(strings, text);
  }
  return { sql: text, args: values };
}

// A call site's template strings are one frozen array for the life of the program: its text is
// joined once, and each call hands the runner the same string, whose hash V8 keeps (the prepared
// statement cache is keyed by it) instead of a fresh copy to join and hash on every statement.
const joined = new WeakMap<TemplateStringsArray, string>();

/** For SQL whose shape varies (a multi-row VALUES list): text with `?` placeholders and its values. */
export function statement(text: string, args: SqlValue[]): SqlStatement {
  return { sql: text, args };
}

export type SqlExecutor = {
  query(statement: SqlStatement): Promise<Row[]>;
  execute(statement: SqlStatement): Promise<number>;
};

/** A hot-path SQL runner: plain statements and short transactions, straight on the database driver. */
export type SqlRunner = SqlExecutor & {
  readonly provider: 'sqlite' | 'postgresql';
  /** Runs `work` in one database transaction: committed if it returns, rolled back if it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
};

export type TransactionOptions = {
  /**
   * SQLite: the caller may hear its outcome once its statements have run, before the batch's
   * COMMIT (sqlite-runner.ts says when that is safe). Only for writes whose loss in a crash of the
   * process costs nothing but an uncharged call: a call's reservation and settlement.
   */
  answerBeforeCommit?: boolean;
};

/** A failed statement, with the driver's error classified the way Prisma's adapters classify it. */
export class SqlError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SqlError';
    this.kind = kind;
  }
}

/** What a driver adapter reports for a failed statement: UniqueConstraintViolation, ForeignKeyConstraintViolation, … */
export function driverErrorKind(error: unknown): string | undefined {
  // By shape, not by class: Next bundles this module into its own chunks, and the app server's
  // gateway may meet a runner (and so a SqlError class) made by the other copy.
  if (error instanceof Error && error.name === 'SqlError' && 'kind' in error && typeof error.kind === 'string') return error.kind;
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
    return dateAt(Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(' ', 'T')}Z`));
  },
  nullableBigint: (value: unknown): bigint | null => (value === null || value === undefined ? null : BigInt(value as string | number | bigint)),
};
