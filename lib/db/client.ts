import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlDriverAdapter, SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaClient as PostgresClient } from './generated/postgresql/client';
import { PrismaClient as SqliteClient } from './generated/sqlite/client';
import { ensureSqliteDirectory, resolveDatabaseConfig, type DatabaseConfig } from './config';
import pg from 'pg';
import { logger } from '../logger';
import { PostgresRunner } from './postgres-runner';
import { fileLock, serializedAdapterFactory, type SerializedAdapter } from './serialized-adapter';
import type { SqlRunner } from './sql';
import { startSqliteCheckpointer } from './sqlite-checkpointer';
import { SqliteRunner } from './sqlite-runner';

/** Both generated clients have identical types; the SQLite one names the type. */
export type Db = SqliteClient;

// WAL lets readers run beside the writer; NORMAL skips the fsync per commit that costs ~2.8 ms
// here while staying safe against application crashes (only an OS crash can lose the last commits).
// The log is checkpointed in the background (sqlite-checkpointer.ts); the connection's own
// autocheckpoint is only the backstop, so it may let the log grow further before it steps in.
//
// temp_store=MEMORY keeps statement journals in memory. The SQL runner's group commit gives each
// transaction of a batch a savepoint, and SQLite keeps the original of every page a savepoint
// changes in such a journal, by default a temporary file: that was ~4 of every 5 bytes the gateway
// wrote (~170 KiB and ~50 write calls per API call), and made each hot-path statement 3–6× slower
// (bench/profile.ts shows both). In memory it is bounded by one transaction's pages. The pragma is
// the connection's: Prisma's sorts and temporary tables on it stay in memory too, which is what an
// aggregate over a very large history (GET /api/usage/daily without a range) would then cost.
const SQLITE_PRAGMAS =
  'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; PRAGMA wal_autocheckpoint=10000; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY;';

// Kept on globalThis: Next bundles this module into several chunks (routes, instrumentation,
// server components), and a client made by one chunk's createDb must be found by all of them.
const globalForRunners = globalThis as unknown as { tollgateSqlRunners?: WeakMap<Db, SqlRunner> };
const runners = (globalForRunners.tollgateSqlRunners ??= new WeakMap<Db, SqlRunner>());

export function createDb(config: DatabaseConfig = resolveDatabaseConfig()): Db {
  if (config.provider === 'postgresql') {
    // One pool per client: Prisma's adapter and the SQL runner both draw from it, and
    // $disconnect ends it.
    const pool = new pg.Pool({ connectionString: config.url, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });
    // An idle connection the server drops must not crash the process before Prisma first connects.
    pool.on('error', (error) => logger.warn('PostgreSQL pool: an idle connection failed', { error }));
    const db = new PostgresClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) }) as unknown as Db;
    runners.set(db, new PostgresRunner(pool));
    return db;
  }
  ensureSqliteDirectory(config);
  const shared = shareConnection(serializedAdapterFactory(new PrismaBetterSqlite3({ url: config.file }), { onConnect: SQLITE_PRAGMAS, lock: () => fileLock(config.file) }), () => startSqliteCheckpointer(config.file));
  const db = new SqliteClient({ adapter: shared.factory });
  runners.set(db, new SqliteRunner(() => shared.adapter() as Promise<SerializedAdapter>));
  return db;
}

/** The hot-path SQL runner that shares `db`'s connection (lib/db/sql.ts says why it exists). */
export function sqlFor(db: Db): SqlRunner {
  const runner = runners.get(db);
  if (!runner) throw new Error('sqlFor: this client was not made by createDb');
  return runner;
}

/**
 * One connection (pool) for both Prisma and the SQL runner: whoever asks first opens it, the
 * other gets the same one, and after a disconnect the next ask opens a new one.
 */
function shareConnection(factory: SqlDriverAdapterFactory, alongside?: () => () => Promise<void>) {
  let connection: Promise<SqlDriverAdapter> | null = null;
  const adapter = () => {
    connection ??= factory.connect().then((opened) => {
      const dispose = opened.dispose.bind(opened);
      // Whatever runs alongside the connection (the WAL checkpointer) lives and ends with it; if it
      // cannot start, the connection still serves (SQLite's own autocheckpoint takes over).
      let stop: (() => Promise<void>) | undefined;
      try {
        stop = alongside?.();
      } catch (error) {
        logger.warn('could not start the SQLite checkpointer; SQLite checkpoints in its own commits', { error });
        void opened.executeScript('PRAGMA wal_autocheckpoint=1000;').catch(() => undefined);
      }
      opened.dispose = async () => {
        connection = null;
        await stop?.();
        return dispose();
      };
      return opened;
    });
    return connection;
  };
  return { factory: { provider: factory.provider, adapterName: factory.adapterName, connect: adapter } satisfies SqlDriverAdapterFactory, adapter };
}

const globalForDb = globalThis as unknown as { tollgateDb?: Db };

/** The process-wide client, created on first use (kept across Next dev reloads). */
export function getDb(): Db {
  globalForDb.tollgateDb ??= createDb();
  return globalForDb.tollgateDb;
}
