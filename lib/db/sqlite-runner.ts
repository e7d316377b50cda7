import type BetterSqlite3 from 'better-sqlite3';
import type { SerializedAdapter } from './serialized-adapter';
import { logger } from '../logger';
import { SqlError, type Row, type SqlExecutor, type SqlRunner, type SqlStatement, type SqlValue, type TransactionOptions } from './sql';

/**
 * The SQL runner on SQLite: statements run synchronously on the very better-sqlite3 connection
 * Prisma uses, under the same lock (serialized-adapter.ts), each prepared once and cached.
 *
 * A transaction takes the lock, runs BEGIN IMMEDIATE, its statements and COMMIT back to back: its
 * statements return already-settled promises, so when `work` awaits nothing else the whole
 * transaction runs inside one turn of the event loop (tens of microseconds) and the connection is
 * never held across I/O. (Through Prisma's async adapter a reservation held the one connection,
 * and so every other request, across several event-loop hops: the database acted as a global lock.)
 * `work` must only await its executor's statements: anything else stalls its batch.
 * IMMEDIATE takes SQLite's write lock up front, so a second process on the same file waits at
 * BEGIN (busy_timeout) instead of failing halfway through.
 */
export class SqliteRunner implements SqlRunner {
  readonly provider = 'sqlite' as const;
  readonly #connect: () => Promise<SerializedAdapter>;
  #cache: { connection: BetterSqlite3.Database; statements: Map<string, BetterSqlite3.Statement> } | null = null;
  #queue: Array<{ work: (tx: SqlExecutor) => Promise<unknown>; resolve: (value: unknown) => void; reject: (error: unknown) => void; early: boolean }> = [];

  constructor(connect: () => Promise<SerializedAdapter>) {
    this.#connect = connect;
  }

  query(statement: SqlStatement): Promise<Row[]> {
    return this.#locked((connection) => this.#all(connection, statement));
  }

  execute(statement: SqlStatement): Promise<number> {
    return this.#locked((connection) => this.#run(connection, statement));
  }

  /** One statement outside a transaction, under the connection's lock. */
  async #locked<T>(work: (connection: BetterSqlite3.Database) => T): Promise<T> {
    const adapter = await this.#connect();
    const release = await adapter.lock.acquire();
    try {
      return work(adapter.connection);
    } finally {
      release();
    }
  }

  /**
   * Group commit: transactions asked for in the same turn of the event loop (concurrent requests'
   * reservations and settlements) run together, each inside its own savepoint, under one BEGIN
   * IMMEDIATE … COMMIT. The statements cost microseconds; the commit (a write to the WAL and its
   * locks, tens of microseconds of system calls) is paid once per batch instead of once each. A
   * transaction that throws rolls back to its savepoint and fails alone.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject, early: options?.answerBeforeCommit === true });
      if (this.#queue.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    let release: (() => void) | undefined;
    let connection: BetterSqlite3.Database | undefined;
    const outcomes: Outcome[] = [];
    try {
      const adapter = await this.#connect();
      release = await adapter.lock.acquire();
      const db = (connection = adapter.connection);
      const executor: SqlExecutor = {
        query: async (statement) => this.#all(db, statement),
        execute: async (statement) => this.#run(db, statement),
      };
      const savepoints = batch.length > 1;
      this.#prepare(db, 'BEGIN IMMEDIATE').run();
      for (const item of batch) {
        if (savepoints) this.#prepare(db, 'SAVEPOINT tg_item').run();
        try {
          const value = await item.work(executor);
          if (savepoints) this.#prepare(db, 'RELEASE tg_item').run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (savepoints) {
            this.#prepare(db, 'ROLLBACK TO tg_item').run();
            this.#prepare(db, 'RELEASE tg_item').run();
          } else if (db.inTransaction) {
            this.#prepare(db, 'ROLLBACK').run();
          }
          outcomes.push({ ok: false, error: classify(error) });
        }
      }
      if (db.inTransaction && batch.every((item) => item.early)) {
        // Every item may hear its outcome first. Their continuations run as microtasks, as far
        // as each goes without I/O (the upstream request written, the client's answer sent), and
        // the commit, queued behind them with nextTick, runs as soon as they have: its log writes
        // (~50–100 µs here) leave the callers' path, and the connection is still never held across a
        // turn of the event loop (another process waiting for SQLite's write lock waits no longer,
        // and nothing reads or writes here in between). What is given up: a crash of the process
        // in those microseconds loses the batch, as a crash a moment earlier would: a lost
        // reservation leaves its call's settlement no hold (recorded unbilled), a lost settlement
        // a hold the sweeper releases; either way an uncharged call.
        answer(batch, outcomes);
        const unlock = release;
        release = undefined;
        process.nextTick(() => this.#commitAnswered(db, batch.length, unlock!));
        return;
      }
      if (db.inTransaction) this.#prepare(db, 'COMMIT').run();
    } catch (error) {
      // BEGIN or COMMIT failed (busy past the timeout, disk full): nothing of the batch is written.
      if (connection?.inTransaction) connection.prepare('ROLLBACK').run();
      for (const item of batch) item.reject(classify(error));
      return;
    } finally {
      release?.();
    }
    answer(batch, outcomes);
  }

  /** The commit of a batch whose callers have heard already: a failure can only be told to the operator. */
  #commitAnswered(db: BetterSqlite3.Database, size: number, unlock: () => void): void {
    try {
      // Only closing the connection ($disconnect does not wait for its lock) ends the transaction before this.
      if (!db.inTransaction) logger.error('a batch of reservations and settlements answered before its commit was rolled back by its connection closing; its calls go uncharged', { size });
      else this.#prepare(db, 'COMMIT').run();
    } catch (error) {
      // Thrown here, nothing would catch it: this runs in a tick of its own.
      try {
        if (db.inTransaction) db.prepare('ROLLBACK').run();
      } catch (rollbackError) {
        logger.error('could not roll back a batch whose commit failed', { error: classify(rollbackError) });
      }
      logger.error('a batch of reservations and settlements answered before its commit failed to commit; its calls go uncharged', { size, error: classify(error) });
    } finally {
      unlock();
    }
  }

  #all(connection: BetterSqlite3.Database, statement: SqlStatement): Row[] {
    try {
      const prepared = this.#prepare(connection, statement.sql);
      const args = statement.args.map(toSqlite);
      if (prepared.reader) return prepared.all(...args) as Row[];
      prepared.run(...args);
      return [];
    } catch (error) {
      throw classify(error);
    }
  }

  #run(connection: BetterSqlite3.Database, statement: SqlStatement): number {
    try {
      const prepared = this.#prepare(connection, statement.sql);
      const args = statement.args.map(toSqlite);
      return prepared.reader ? prepared.all(...args).length : prepared.run(...args).changes;
    } catch (error) {
      throw classify(error);
    }
  }

  #prepare(connection: BetterSqlite3.Database, text: string): BetterSqlite3.Statement {
    // A reconnect (after $disconnect) is a new connection: its statements are prepared afresh.
    if (this.#cache?.connection !== connection) this.#cache = { connection, statements: new Map() };
    let prepared = this.#cache.statements.get(text);
    if (!prepared) {
      prepared = connection.prepare(text);
      // Shapes vary only with small lists (a transaction's entries), but never let it grow unbounded.
      if (this.#cache.statements.size < 1_000) this.#cache.statements.set(text, prepared);
    }
    return prepared;
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function answer(batch: Array<{ resolve: (value: unknown) => void; reject: (error: unknown) => void }>, outcomes: Outcome[]): void {
  for (const [index, item] of batch.entries()) {
    const outcome = outcomes[index]!;
    if (outcome.ok) item.resolve(outcome.value);
    else item.reject(outcome.error);
  }
}

/** The values Prisma's SQLite adapter writes: booleans as 0/1, timestamps as ISO text in UTC. */
function toSqlite(value: SqlValue): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return timestampText(value);
  return value;
}

// A batch's statements repeat the same instant (each transaction's `now`, stamped on several rows),
// and formatting a date was ~2% of the gateway's CPU: the last one is kept.
let lastTimestamp = Number.NaN;
let lastTimestampText = '';
function timestampText(value: Date): string {
  const ms = value.getTime();
  if (ms !== lastTimestamp) {
    lastTimestampText = value.toISOString().replace('Z', '+00:00');
    lastTimestamp = ms;
  }
  return lastTimestampText;
}

const SQLITE_KINDS: Record<string, string> = {
  SQLITE_CONSTRAINT_UNIQUE: 'UniqueConstraintViolation',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'UniqueConstraintViolation',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'ForeignKeyConstraintViolation',
  SQLITE_CONSTRAINT_NOTNULL: 'NullConstraintViolation',
  SQLITE_BUSY: 'SocketTimeout',
};

function classify(error: unknown): unknown {
  // Only the driver's own errors: a LedgerError thrown by the work inside a transaction passes as it is.
  if (!(error instanceof Error) || error.name !== 'SqliteError' || !('code' in error) || typeof error.code !== 'string') return error;
  return new SqlError(SQLITE_KINDS[error.code] ?? error.code, error.message, { cause: error });
}
