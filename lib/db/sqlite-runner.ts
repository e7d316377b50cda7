import type BetterSqlite3 from 'better-sqlite3';
import type { Lock, SerializedAdapter } from './serialized-adapter';
import { logger } from '../logger';
import { SqlError, type Row, type SqlExecutor, type SqlRunner, type SqlStatement, type SqlValue, type TransactionOptions } from './sql';

/**
 * The SQL runner on SQLite: statements run synchronously on the very better-sqlite3 connection
 * Prisma uses, under the same lock (serialized-adapter.ts), each prepared once and cached.
 *
 * A transaction takes the lock, runs BEGIN IMMEDIATE, its statements and COMMIT back to back: its
 * statements return already-settled promises, so when `work` awaits nothing else the whole
 * transaction runs inside one turn of the event loop (tens of microseconds). (Through Prisma's async
 * adapter a reservation held the one connection, and so every other request, across several
 * event-loop hops: the database acted as a global lock.) `work` must only await its executor's
 * statements: anything else stalls its batch.
 * IMMEDIATE takes SQLite's write lock up front, so a second process on the same file waits at
 * BEGIN (busy_timeout) instead of failing halfway through.
 *
 * A call's reservations and settlements (answerBeforeCommit) go further: their transaction stays
 * open after they are answered, a commit window that the batches of the next turns join, and
 * commits COMMIT_WINDOW_MS after it opened, or at once when anyone else asks for the connection
 * (Prisma, a plain statement, $disconnect). The lock is held across those turns, but only while
 * nobody else wants it.
 */
export class SqliteRunner implements SqlRunner {
  readonly provider = 'sqlite' as const;
  readonly #connect: () => Promise<SerializedAdapter>;
  /**
   * What belongs to one connection: its prepared statements and the executor batches run on. One
   * executor per connection, not per batch: under tsx (the lean gateway server) esbuild's keepNames
   * names each closure as it is made (an Object.defineProperty, ~0.35 µs on Node 20).
   */
  #cache: { connection: BetterSqlite3.Database; statements: Map<string, BetterSqlite3.Statement>; executor: SqlExecutor } | null = null;
  #window: CommitWindow | null = null;
  /** When the last window committed (performance.now()). */
  #windowClosedAt = Number.NEGATIVE_INFINITY;
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
   * locks, tens of microseconds of system calls) is paid once per batch instead of once each, and
   * for answered-early batches once per commit window. A transaction that throws rolls back to its
   * savepoint and fails alone.
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
    const early = batch.every((item) => item.early);
    // A batch that finds a commit window open joins its transaction; nothing commits the window
    // while the batch's statements run (#close waits for `running` to clear).
    let window = this.#window;
    if (window) window.running = true;
    let release: (() => void) | undefined;
    let lock: Lock | undefined;
    let connection: BetterSqlite3.Database | undefined;
    const outcomes: Outcome[] = [];
    try {
      let db: BetterSqlite3.Database;
      if (window) {
        db = connection = window.db;
      } else {
        const adapter = await this.#connect();
        lock = adapter.lock;
        release = await lock.acquire();
        db = connection = adapter.connection;
        this.#prepare(db, 'BEGIN IMMEDIATE').run();
      }
      const { executor } = this.#cacheFor(db);
      // Alone in a transaction of its own, an item that fails rolls it all back; otherwise only itself.
      const savepoints = window !== null || batch.length > 1;
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
      if (db.inTransaction && early) {
        // Prepared before anyone hears: past answer() nothing may throw unseen.
        const commit = this.#prepare(db, 'COMMIT');
        // Every item may hear its outcome first. Their continuations run as microtasks, as far
        // as each goes without I/O (the upstream request written, the client's answer sent), and
        // the commit comes after them: its log writes leave the callers' path. What is given up:
        // a crash of the process before the commit loses what the window holds, as a crash a moment
        // earlier would: a lost reservation leaves its call's settlement no hold (recorded unbilled),
        // a lost settlement a hold the sweeper releases; either way an uncharged call.
        answer(batch, outcomes);
        if (!window) {
          const opened: CommitWindow = { db, commit, lock: lock!, unlock: release!, openedAt: performance.now(), phases: 0, running: true, closing: false, closeScheduled: false, timer: undefined, onContention: null };
          release = undefined;
          if (!this.#mayOpenWindow()) {
            // Between windows: committed right behind its callers' continuations, in this turn.
            opened.phases = batch.length;
            process.nextTick(() => commitAnswered(opened));
            return;
          }
          window = this.#window = opened;
          opened.onContention = () => {
            opened.closing = true;
            this.#closeSoon(opened);
          };
          lock!.onContention = opened.onContention;
          openWindows.add(window);
          opened.timer = setTimeout(() => this.#closeSoon(opened), COMMIT_WINDOW_MS);
        }
        window.phases += batch.length;
        window.running = false;
        // Kept open for the batches of the next turns, within its bounds, and for nobody who is
        // waiting: the commit's cost is mostly pages each batch shares with the next.
        if (window.closing || window.lock.contended || window.phases >= COMMIT_WINDOW_PHASES) this.#closeSoon(window);
        return;
      }
      if (db.inTransaction) this.#prepare(db, 'COMMIT').run();
      if (window) release = this.#forget(window);
    } catch (error) {
      // BEGIN or COMMIT failed (busy past the timeout, disk full): nothing of the batch is written,
      // nor anything of the window it joined, whose callers have heard already.
      if (window) {
        release = this.#forget(window);
        logger.error('a batch of reservations and settlements answered before its commit was rolled back; its calls go uncharged', { size: window.phases, error: classify(error) });
      }
      try {
        if (connection?.inTransaction) connection.prepare('ROLLBACK').run();
      } catch (rollbackError) {
        logger.error('could not roll back a batch whose commit failed', { error: classify(rollbackError) });
      }
      for (const item of batch) item.reject(classify(error));
      return;
    } finally {
      release?.();
    }
    answer(batch, outcomes);
  }

  /**
   * What a crash of the process does to an open commit window: rolls it back instead of committing
   * it. For the simulator's crash (test/sim/world.ts), whose instances share the test's process and
   * so would otherwise commit the window on $disconnect or at exit, as a process that stops does.
   * `inspect` reads the connection just before the rollback and just after it (under the lock), so
   * that the caller can tell exactly what was lost. Returns how many answered phases the window held.
   */
  loseOpenWindow(inspect?: (connection: BetterSqlite3.Database, moment: 'before' | 'after') => void): number {
    const window = this.#window;
    // A batch mid-way (`running`) is inside its own turn: a crash cannot come between its statements.
    if (!window || window.running) return 0;
    const unlock = this.#forget(window);
    try {
      try {
        inspect?.(window.db, 'before');
      } finally {
        // Whatever the inspection did, the window must not outlive the crash on the connection.
        try {
          if (window.db.inTransaction) window.db.prepare('ROLLBACK').run();
        } catch (error) {
          logger.error('could not roll back a commit window for a simulated crash', { error: classify(error) });
        }
      }
      // A failing inspection is the caller's to hear: it would otherwise report the wrong losses.
      inspect?.(window.db, 'after');
    } finally {
      unlock();
    }
    return window.phases;
  }

  /**
   * A window opens only COMMIT_WINDOW_GAP_MS after the last one closed; in between, batches commit
   * as soon as their callers have heard, as they did before windows. Another process on the file
   * (a script, a second server) waits for SQLite's write lock in its busy handler, which tries again
   * at intervals of 1 to 100 ms: back-to-back windows would leave it gaps it seldom hits.
   */
  #mayOpenWindow(): boolean {
    return performance.now() - this.#windowClosedAt >= COMMIT_WINDOW_GAP_MS;
  }

  #closeSoon(window: CommitWindow): void {
    if (window.closeScheduled) return;
    window.closeScheduled = true;
    // After the callers' continuations, as before any window: nextTick runs once the microtasks drain.
    process.nextTick(() => {
      window.closeScheduled = false;
      this.#close(window);
    });
  }

  #close(window: CommitWindow): void {
    if (this.#window !== window) return;
    if (window.running) {
      // The batch inside closes it when done.
      window.closing = true;
      return;
    }
    this.#forget(window);
    commitAnswered(window);
  }

  /** The window stops taking batches; returns its unlock, for whoever ends its transaction. */
  #forget(window: CommitWindow): () => void {
    if (this.#window === window) this.#window = null;
    this.#windowClosedAt = performance.now();
    // The lock may be shared with other connections to the file (fileLock): only this window's hook goes.
    if (window.lock.onContention === window.onContention) window.lock.onContention = null;
    clearTimeout(window.timer);
    openWindows.delete(window);
    return window.unlock;
  }

  /** A reconnect (after $disconnect) is a new connection: its statements are prepared afresh. */
  #cacheFor(connection: BetterSqlite3.Database) {
    if (this.#cache?.connection !== connection) {
      this.#cache = {
        connection,
        statements: new Map(),
        executor: { query: async (statement) => this.#all(connection, statement), execute: async (statement) => this.#run(connection, statement) },
      };
    }
    return this.#cache;
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
    const { statements } = this.#cacheFor(connection);
    let prepared = statements.get(text);
    if (!prepared) {
      prepared = connection.prepare(text);
      // Shapes vary only with small lists (a transaction's entries), but never let it grow unbounded.
      if (statements.size < 1_000) statements.set(text, prepared);
    }
    return prepared;
  }
}

// How long, and for how many phases, a commit window stays open, and how long after one closes the
// next may open. A commit writes at least one page of each of the ~22 B-trees a call's rows touch,
// whatever the number of calls in it (the WAL's frames read back after a run at 16 connections:
// ~34 pages for ~3.8 calls), so the log writes a call costs fall as calls per commit rise: measured,
// 21.8 → 5.5 write calls a call on the ledger alone, 67 → 28 through the gateway at one connection.
// Ten milliseconds bounds what a crash of the process can lose; the gap is for other processes.
const COMMIT_WINDOW_MS = 10;
const COMMIT_WINDOW_PHASES = 512;
const COMMIT_WINDOW_GAP_MS = 5;

type CommitWindow = {
  db: BetterSqlite3.Database;
  commit: BetterSqlite3.Statement;
  lock: Lock;
  unlock: () => void;
  openedAt: number;
  /** Reservations and settlements answered in it so far. */
  phases: number;
  /** A batch's statements are running in it. */
  running: boolean;
  /** Someone waits for the connection, or the window is past its bounds: it commits once free. */
  closing: boolean;
  closeScheduled: boolean;
  /** Closes it COMMIT_WINDOW_MS after it opened. */
  timer: NodeJS.Timeout | undefined;
  /** What the lock calls while this window holds it. */
  onContention: (() => void) | null;
};

// Committed on the way out of the process, however it exits (better-sqlite3 is synchronous, so an
// 'exit' listener can): what a window holds is lost only to a crash.
// On globalThis, with one listener: this module may be evaluated more than once (Next's chunks, dev reloads).
const globalForWindows = globalThis as unknown as { tollgateCommitWindows?: Set<CommitWindow> };
const openWindows = (globalForWindows.tollgateCommitWindows ??= (() => {
  const windows = new Set<CommitWindow>();
  process.once('exit', () => {
    // A window with a batch's statements half run (an exit from inside a phase) is left to roll back.
    for (const window of windows) if (!window.running) commitAnswered(window);
  });
  return windows;
})());

/** The commit of a window whose callers have heard already: a failure can only be told to the operator. */
function commitAnswered({ db, commit, phases, unlock }: CommitWindow): void {
  try {
    // Only closing the connection some other way than $disconnect ends the transaction before this.
    if (!db.inTransaction) logger.error('a batch of reservations and settlements answered before its commit was rolled back by its connection closing; its calls go uncharged', { size: phases });
    else commit.run();
  } catch (error) {
    // Thrown here, nothing would catch it: this runs in a tick of its own.
    try {
      if (db.inTransaction) db.prepare('ROLLBACK').run();
    } catch (rollbackError) {
      logger.error('could not roll back a batch whose commit failed', { error: classify(rollbackError) });
    }
    logger.error('a batch of reservations and settlements answered before its commit failed to commit; its calls go uncharged', { size: phases, error: classify(error) });
  } finally {
    unlock();
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
  // A Date is SqlValue's only object. Not `instanceof Date`: in the app's server the global Date
  // is Next's wrapper (lib/clock.ts), and the check through it left this function at 1.0% of the
  // gateway's profile there, against 0.3% on the lean server.
  if (typeof value === 'object' && value !== null) return timestampText(value);
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
