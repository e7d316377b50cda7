// A throwaway database for one benchmark run: a SQLite file in a temp directory by default, or a
// fresh PostgreSQL database beside the one BENCH_DATABASE_URL names. Migrated, seeded, with one
// well-funded user and one inference key without limits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb, type Db } from '../../lib/db/client';
import type { DatabaseConfig } from '../../lib/db/config';
import { applyMigrations } from '../../lib/db/migrate';
import { seed } from '../../lib/db/seed';
import { randomBase62 } from '../../lib/ids';
import { createApiKeyOp } from '../../lib/keys/keys';
import { createFundedUser } from '../../test/helpers/fixtures';

export type BenchDatabase = {
  config: DatabaseConfig;
  /** What to print: never the server's credentials. */
  description: string;
  db: Db;
  userId: string;
  walletAccountId: string;
  apiKey: string;
  initialBalance: bigint;
  /** Disconnects and deletes the database; safe to call more than once. */
  drop(): Promise<void>;
};

/** $1,000,000: enough that no benchmark run can be refused for credit. */
export const BENCH_BALANCE = 1_000_000_000_000n;

export async function prepareBenchDatabase(serverUrl: string | undefined): Promise<BenchDatabase> {
  const { config, description, remove } = serverUrl ? await createPostgresDatabase(serverUrl) : createSqliteDatabase();
  let db: Db | undefined;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await db?.$disconnect().catch(() => undefined);
    await remove();
  };
  try {
    await applyMigrations(config);
    db = createDb(config);
    await seed(db);
    const { user, wallet } = await createFundedUser(db, BENCH_BALANCE, 'bench@example.test');
    // The per-key token bucket would otherwise cap the run at its default burst of 10.
    const key = createApiKeyOp(db, { userId: user.id, name: 'bench', rateLimitBurst: 1_000_000, rateLimitPerSec: 1_000_000 });
    await key.op;
    await assertVisibleElsewhere(config, key.id);
    return { config, description, db, userId: user.id, walletAccountId: wallet.id, apiKey: key.secret, initialBalance: BENCH_BALANCE, drop };
  } catch (error) {
    await drop();
    throw error;
  }
}

/**
 * The servers run in other processes: what was written here must be committed, not just visible
 * on this connection. Checked from a second connection so that a failure reads as what it is.
 */
async function assertVisibleElsewhere(config: DatabaseConfig, keyId: string): Promise<void> {
  const other = createDb(config);
  try {
    const found = await other.apiKey.count({ where: { id: keyId } });
    if (found === 0) {
      throw new Error(
        'The benchmark key is visible on the connection that created it but not from a second connection: ' +
          'the setup writes were never committed (a transaction left open on that connection?). The servers would answer 401.',
      );
    }
  } finally {
    await other.$disconnect();
  }
}

function createSqliteDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const file = join(dir, 'bench.db');
  const config: DatabaseConfig = { provider: 'sqlite', url: `file:${file}`, file };
  return {
    config,
    description: `SQLite ${file}`,
    remove: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function createPostgresDatabase(serverUrl: string) {
  const name = `tollgate_bench_${randomBase62(10).toLowerCase()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const config: DatabaseConfig = { provider: 'postgresql', url: url.toString() };
  return {
    config,
    description: `PostgreSQL ${url.host}/${name}`,
    remove: async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        // FORCE: a server killed mid-run may still hold connections.
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
