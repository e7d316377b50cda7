import pg from 'pg';
import { SqlError, type Row, type SqlExecutor, type SqlRunner, type SqlStatement, type SqlValue } from './sql';

const PG_KINDS: Record<string, string> = {
  '23505': 'UniqueConstraintViolation',
  '23503': 'ForeignKeyConstraintViolation',
  '23502': 'NullConstraintViolation',
  '40001': 'TransactionWriteConflict',
  '40P01': 'TransactionWriteConflict',
};

// Values come back as the text PostgreSQL sent for the types the readers in sql.ts parse
// themselves: int8 and numeric exactly (as strings), timestamps without a zone as UTC text (pg's
// default would read them in the process's local time zone).
const RAW_TEXT = new Set([20, 1700, 1114, 1184, 1082]);
const TYPES = {
  getTypeParser: ((oid: number, format?: string) => (RAW_TEXT.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/**
 * The SQL runner on PostgreSQL: plain statements on the pg pool that Prisma's adapter also uses,
 * as named prepared statements (parsed and planned once per connection, then only bound).
 */
export class PostgresRunner implements SqlRunner {
  readonly provider = 'postgresql' as const;
  readonly #pool: pg.Pool;
  readonly #names = new Map<string, string>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async query(statement: SqlStatement): Promise<Row[]> {
    return (await this.#send(this.#pool, statement)).rows;
  }

  async execute(statement: SqlStatement): Promise<number> {
    return (await this.#send(this.#pool, statement)).rowCount ?? 0;
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const executor: SqlExecutor = {
        query: async (statement) => (await this.#send(client, statement)).rows,
        execute: async (statement) => (await this.#send(client, statement)).rowCount ?? 0,
      };
      try {
        const result = await work(executor);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  async #send(on: pg.Pool | pg.PoolClient, statement: SqlStatement): Promise<pg.QueryResult<Row>> {
    try {
      return await on.query<Row>({ name: this.#name(statement.sql), text: numbered(statement.sql), values: statement.args.map(toPostgres), types: TYPES });
    } catch (error) {
      throw classify(error);
    }
  }

  #name(text: string): string | undefined {
    let name = this.#names.get(text);
    // Shapes vary only with small lists (a transaction's entries); past a bound, run unnamed.
    if (!name && this.#names.size < 1_000) this.#names.set(text, (name = `tg${this.#names.size}`));
    return name;
  }
}

/** `?` placeholders → `$1, $2, …`, once per statement text. */
const numberedCache = new Map<string, string>();
function numbered(text: string): string {
  let out = numberedCache.get(text);
  if (out === undefined) {
    let n = 0;
    out = text.replace(/\?/g, () => `$${++n}`);
    if (numberedCache.size < 1_000) numberedCache.set(text, out);
  }
  return out;
}

/** A timestamp as the `timestamp(3)` columns hold it: UTC text without a zone, as Prisma writes it. */
export function pgTimestamp(date: Date): string {
  return date.toISOString().slice(0, -1);
}

function toPostgres(value: SqlValue): unknown {
  // A Date is SqlValue's only object (why not `instanceof Date`: sqlite-runner.ts's toSqlite).
  if (typeof value === 'object' && value !== null) return pgTimestamp(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function classify(error: unknown): unknown {
  if (!(error instanceof pg.DatabaseError) || typeof error.code !== 'string') return error;
  return new SqlError(PG_KINDS[error.code] ?? error.code, error.message, { cause: error });
}
