// Database tasks: `migrate`, `seed`, `setup` (both, idempotent), `new-migration <name>`, and
// `settle-entries` (before rolling back to a release whose settlements wrote entries: README).
import { resolveDatabaseConfig, type DatabaseConfig } from '../lib/db/config';
import { createDb, type Db } from '../lib/db/client';
import { applyMigrations, createMigrations } from '../lib/db/migrate';
import { writeSettleEntries } from '../lib/ledger/settle-entries';
import { seed } from '../lib/db/seed';

async function migrate(config: DatabaseConfig) {
  const applied = await applyMigrations(config);
  console.log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database is up to date');
}

async function withDb<T>(config: DatabaseConfig, work: (db: Db) => Promise<T>): Promise<T> {
  const db = createDb(config);
  try {
    return await work(db);
  } finally {
    await db.$disconnect();
  }
}

async function runSeed(config: DatabaseConfig) {
  const summary = await withDb(config, seed);
  console.log(`seeded ${summary.providers} providers, ${summary.models} models, ${summary.packs} packs`);
}

async function settleEntries(config: DatabaseConfig) {
  console.log(`gave ${await withDb(config, writeSettleEntries)} settled holds their settle transactions`);
}

async function newMigration(name: string) {
  const created = await createMigrations(name);
  console.log(created ? `wrote prisma/migrations/{sqlite,postgresql}/${created}` : 'the data model has not changed');
}

async function main() {
  const [command, arg] = process.argv.slice(2);
  const config = resolveDatabaseConfig();
  switch (command) {
    case 'migrate':
      return migrate(config);
    case 'seed':
      return runSeed(config);
    case 'setup':
      await migrate(config);
      return runSeed(config);
    case 'settle-entries':
      return settleEntries(config);
    case 'new-migration':
      if (!arg || !/^[a-z0-9_]+$/.test(arg)) throw new Error('usage: npm run db:new-migration -- <snake_case_name>');
      return newMigration(arg);
    default:
      throw new Error('usage: tsx scripts/db.ts migrate|seed|setup|settle-entries|new-migration <name>');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
