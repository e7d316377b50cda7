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
  { onConnect }: { onConnect?: string } = {},
): SqlDriverAdapterFactory {
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    async connect() {
      const adapter = await inner.connect();
      if (onConnect) await adapter.executeScript(onConnect);
      return new SerializedAdapter(adapter);
    },
  };
}

export class Lock {
  #tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const ready = this.#tail.then(() => {
      let released = false;
      return () => {
        if (!released) {
          released = true;
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
  readonly lock = new Lock();

  /** The better-sqlite3 connection underneath, for the SQL runner (lib/db/sqlite-runner.ts). */
  readonly connection: BetterSqlite3.Database;

  constructor(inner: SqlDriverAdapter) {
    this.#inner = inner;
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

  dispose(): Promise<void> {
    return this.#inner.dispose();
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
