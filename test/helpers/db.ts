import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '../../lib/db/client';
import type { DatabaseConfig } from '../../lib/db/config';
import { randomBase62 } from '../../lib/ids';

export type TestDatabaseTemplate =
  | { provider: 'sqlite'; templateFile: string; dir: string }
  | { provider: 'postgresql'; serverUrl: string; template: string; prefix: string };

export type TestDatabase = { db: Db; config: DatabaseConfig; url: string; close(): Promise<void> };

/** A fresh database for one test file: a copy of the run's migrated and seeded template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = inject('dbTemplate');
  let config: DatabaseConfig;
  if (template.provider === 'sqlite') {
    const file = join(template.dir, `${randomBase62(10)}.db`);
    copyFileSync(template.templateFile, file);
    config = { provider: 'sqlite', url: `file:${file}`, file };
  } else {
    const name = `${template.prefix}_${randomBase62(8).toLowerCase()}`;
    const admin = new pg.Client({ connectionString: template.serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template.template}"`);
    await admin.end();
    const url = new URL(template.serverUrl);
    url.pathname = `/${name}`;
    config = { provider: 'postgresql', url: url.toString() };
  }
  const db = createDb(config);
  return { db, config, url: config.url, close: () => db.$disconnect() };
}

export const testProvider = (): DatabaseConfig['provider'] => inject('dbTemplate').provider;
