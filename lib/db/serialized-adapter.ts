import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type {
  IsolationLevel,
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  SqlResultSet,
  Transaction,
} from '@prisma/driver-adapter-utils';

/**
 * Serializes every statement on the single SQLite connection.
 *
 * The better-sqlite3 adapter shares one connection between transactions and plain queries, and
 * only transactions take its lock. A plain write issued while a transaction is open would join
 * that transaction, and vanish if it rolls back (the ledger rolls back on purpose when a
 * reservation does not fit). Here a transaction holds the lock from BEGIN to COMMIT/ROLLBACK and
 * every other statement waits for it, which is what SQLite's single writer does anyway.
 */
export function serializedAdapterFactory(
  inner: SqlDriverAdapterFactory,
  { onConnect, lock }: { onConnect?: string; lock?: () => Lock } = {},
): SqlDriverAdapterFactory {
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    async connect() {
      const adapter = await inner.connect();
      if (onConnect) await adapter.executeScript(onConnect);
      return new SerializedAdapter(adapter, lock?.());
    },
  };
}

// On globalThis: Next bundles this module into several chunks, and they must share the locks.
const globalForLocks = globalThis as unknown as { tollgateFileLocks?: Map<string, Lock> };
const fileLocks = (globalForLocks.tollgateFileLocks ??= new Map<string, Lock>());

/**
 * The one lock of every connection this process opens to a SQLite file. SQLite lets one connection
 * write at a time, and a connection that finds the file locked waits in better-sqlite3's busy
 * handler, which sleeps synchronously: it would stall the event loop that must finish the other
 * connection's transaction (a Prisma transaction awaiting its next query, the SQL runner's commit
 * window), until busy_timeout. Waiting for this lock instead is asynchronous, and a holder that keeps
 * it by choice hears that someone waits. Other processes still meet SQLite's own lock.
 */
export function fileLock(file: string): Lock {
  // By the file itself, not the name it was opened by (a symlink, a relative path): called once the
  // connection is open, so the file exists.
  let path: string;
  try {
    path = realpathSync(file);
  } catch {
    path = resolve(file);
  }
  let lock = fileLocks.get(path);
  if (!lock) fileLocks.set(path, (lock = new Lock()));
  return lock;
}

export class Lock {
  #tail: Promise<void> = Promise.resolve();
  /** Acquirers not yet released: the holder, if any, and those waiting behind it. */
  #outstanding = 0;
  /**
   * Told when someone asks for the lock while it is held. A holder that keeps the lock by choice
   * rather than for work in progress (the SQL runner's open commit window) lets go when it hears.
   */
  onContention: (() => void) | null = null;

  /** Whether anyone is waiting for the lock behind its holder. */
  get contended(): boolean {
    return this.#outstanding > 1;
  }

  acquire(): Promise<() => void> {
    if (this.#outstanding++ > 0) this.onContention?.();
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const ready = this.#tail.then(() => {
      let released = false;
      return () => {
        if (!released) {
          released = true;
          this.#outstanding--;
          release();
        }
      };
    });
    this.#tail = this.#tail.then(() => next);
    return ready;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

export class SerializedAdapter implements SqlDriverAdapter {
  readonly provider: SqlDriverAdapter['provider'];
  readonly adapterName: string;
  readonly #inner: SqlDriverAdapter;
  /** Held by every statement and transaction on the connection, Prisma's and the SQL runner's alike. */
  readonly lock: Lock;

  /** The better-sqlite3 connection underneath, for the SQL runner (lib/db/sqlite-runner.ts). */
  readonly connection: BetterSqlite3.Database;

  constructor(inner: SqlDriverAdapter, lock = new Lock()) {
    this.#inner = inner;
    this.lock = lock;
    // @prisma/adapter-better-sqlite3 keeps its connection in a public `client` field.
    this.connection = (inner as unknown as { client: BetterSqlite3.Database }).client;
    this.provider = inner.provider;
    this.adapterName = inner.adapterName;
    if (inner.getConnectionInfo) this.getConnectionInfo = () => inner.getConnectionInfo!();
  }

  getConnectionInfo?: SqlDriverAdapter['getConnectionInfo'];

  queryRaw(query: SqlQuery): Promise<SqlResultSet> {
    return this.lock.run(() => this.#inner.queryRaw(query));
  }

  executeRaw(query: SqlQuery): Promise<number> {
    return this.lock.run(() => this.#inner.executeRaw(query));
  }

  executeScript(script: string): Promise<void> {
    return this.lock.run(() => this.#inner.executeScript(script));
  }

  async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
    const release = await this.lock.acquire();
    try {
      const tx = await this.#inner.startTransaction(isolationLevel);
      return serializedTransaction(tx, release);
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Closes the connection once its holder is done: a transaction in progress or a commit window still open commits first. */
  dispose(): Promise<void> {
    return this.lock.run(() => this.#inner.dispose());
  }
}

function serializedTransaction(tx: Transaction, release: () => void): Transaction {
  const finish = (end: () => Promise<void>) => async () => {
    try {
      await end();
    } finally {
      release();
    }
  };
  return {
    provider: tx.provider,
    adapterName: tx.adapterName,
    options: tx.options,
    queryRaw: (query) => tx.queryRaw(query),
    executeRaw: (query) => tx.executeRaw(query),
    commit: finish(() => tx.commit()),
    rollback: finish(() => tx.rollback()),
    createSavepoint: tx.createSavepoint?.bind(tx),
    rollbackToSavepoint: tx.rollbackToSavepoint?.bind(tx),
    releaseSavepoint: tx.releaseSavepoint?.bind(tx),
  };
}
