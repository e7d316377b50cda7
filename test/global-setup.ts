// Builds one migrated, seeded template database per test run; each test file clones it.
// SQLite by default; PostgreSQL when TEST_DATABASE_URL names a server database to connect through
// (a throwaway database per run is created beside it and dropped afterwards).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb } from '../lib/db/client';
import { applyMigrations } from '../lib/db/migrate';
import { seed } from '../lib/db/seed';
import type { TestDatabaseTemplate } from './helpers/db';

declare module 'vitest' {
  export interface ProvidedContext {
    dbTemplate: TestDatabaseTemplate;
  }
}

export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL?.trim();
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

  if (!serverUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
    const file = join(dir, 'template.db');
    const config = { provider: 'sqlite' as const, url: `file:${file}`, file };
    await applyMigrations(config);
    const db = createDb(config);
    await seed(db);
    // Fold the WAL into the main file so that copying one file copies the whole database.
    await db.$queryRawUnsafe('PRAGMA wal_checkpoint(TRUNCATE)');
    await db.$disconnect();
    project.provide('dbTemplate', { provider: 'sqlite', templateFile: file, dir });
    return () => rmSync(dir, { recursive: true, force: true });
  }

  const prefix = `tollgate_test_${runId}`;
  const template = `${prefix}_template`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  const templateUrl = withDatabase(serverUrl, template);
  await applyMigrations({ provider: 'postgresql', url: templateUrl });
  const db = createDb({ provider: 'postgresql', url: templateUrl });
  await seed(db);
  await db.$disconnect();
  project.provide('dbTemplate', { provider: 'postgresql', serverUrl, template, prefix });

  return async () => {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
  };
}

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
