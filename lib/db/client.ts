import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as PostgresClient } from './generated/postgresql/client';
import { PrismaClient as SqliteClient } from './generated/sqlite/client';
import { ensureSqliteDirectory, resolveDatabaseConfig, type DatabaseConfig } from './config';
import { serializedAdapterFactory } from './serialized-adapter';

/** Both generated clients have identical types; the SQLite one names the type. */
export type Db = SqliteClient;
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

// WAL lets readers run beside the writer; NORMAL skips the fsync per commit that costs ~2.8 ms
// here while staying safe against application crashes (only an OS crash can lose the last commits).
const SQLITE_PRAGMAS = 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;';

export function createDb(config: DatabaseConfig = resolveDatabaseConfig()): Db {
  if (config.provider === 'postgresql') {
    const adapter = new PrismaPg({ connectionString: config.url, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });
    return new PostgresClient({ adapter }) as unknown as Db;
  }
  ensureSqliteDirectory(config);
  const adapter = serializedAdapterFactory(new PrismaBetterSqlite3({ url: config.file }), { onConnect: SQLITE_PRAGMAS });
  return new SqliteClient({ adapter });
}

const globalForDb = globalThis as unknown as { tollgateDb?: Db };

/** The process-wide client, created on first use (kept across Next dev reloads). */
export function getDb(): Db {
  globalForDb.tollgateDb ??= createDb();
  return globalForDb.tollgateDb;
}
