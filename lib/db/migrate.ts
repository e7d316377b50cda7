// Applies and creates migrations with Prisma's schema engine compiled to WebAssembly, over the
// same driver adapters the app uses. The native engine the Prisma CLI wants cannot be downloaded
// on a closed network; this path needs nothing but npm packages.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaEngine as SchemaEngineType } from '@prisma/schema-engine-wasm';
import { ensureSqliteDirectory, type DatabaseConfig } from './config';

const root = process.cwd();
export const SCHEMA_PATH = join(root, 'prisma', 'schema.prisma');

export function migrationsDir(provider: DatabaseConfig['provider']): string {
  return join(root, 'prisma', 'migrations', provider);
}

/** The data model with the provider swapped in, as scripts/prisma-generate.mjs does. */
function withProvider(source: string, provider: DatabaseConfig['provider']): string {
  return provider === 'sqlite' ? source : source.replace('provider = "sqlite"', 'provider = "postgresql"');
}

function adapterFactory(config: DatabaseConfig): SqlMigrationAwareDriverAdapterFactory {
  if (config.provider === 'postgresql') return new PrismaPg({ connectionString: config.url });
  ensureSqliteDirectory(config);
  return new PrismaBetterSqlite3({ url: config.file });
}

type EngineModule = typeof import('@prisma/schema-engine-wasm');

async function loadEngineModule(): Promise<EngineModule> {
  // The package's entry imports the .wasm file as an ES module, which Node cannot do; load the
  // JS glue and instantiate the module by hand instead.
  const require = createRequire(import.meta.url);
  const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  const glue = (await import(gluePath)) as EngineModule & {
    __wbg_set_wasm(exports: WebAssembly.Exports): void;
  };
  const bytes = readFileSync(gluePath.replace(/\.js$/, '.wasm'));
  const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
  return glue;
}

let enginePromise: Promise<EngineModule> | undefined;

async function withEngine<T>(
  provider: DatabaseConfig['provider'],
  factory: SqlMigrationAwareDriverAdapterFactory,
  work: (engine: SchemaEngineType) => Promise<T>,
): Promise<T> {
  enginePromise ??= loadEngineModule();
  const { SchemaEngine } = await enginePromise;
  const datamodel = withProvider(readFileSync(SCHEMA_PATH, 'utf8'), provider);
  const logs: string[] = [];
  // The engine never closes the connections it opens; track them so that the SQLite file is not
  // left locked for whoever comes next (the seed step, the app).
  const opened: SqlDriverAdapter[] = [];
  const tracking: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => track(opened, await factory.connect()),
    connectToShadowDb: async () => track(opened, await factory.connectToShadowDb()),
  };
  const engine = await SchemaEngine.new(
    { datamodels: [[SCHEMA_PATH, datamodel]] },
    (line: string) => logs.push(line),
    bindMigrationAwareSqlAdapterFactory(tracking),
  );
  try {
    return await work(engine);
  } catch (error) {
    throw new Error(`schema engine: ${describe(error)}${logs.length ? `\n${logs.slice(-5).join('\n')}` : ''}`);
  } finally {
    engine.free();
    await Promise.all(opened.map((adapter) => adapter.dispose().catch(() => undefined)));
  }
}

function track(opened: SqlDriverAdapter[], adapter: SqlDriverAdapter): SqlDriverAdapter {
  opened.push(adapter);
  if (adapter.provider === 'postgres') {
    // @prisma/adapter-pg runs a script by splitting it on every ';', which breaks any function
    // body ($$ … $$) in a migration. PostgreSQL takes the whole script as one simple query (one
    // implicit transaction), so send it as it is, on the adapter's own pool.
    const pool = (adapter as unknown as { client: { query(text: string): Promise<unknown> } }).client;
    adapter.executeScript = async (script: string) => {
      await pool.query(script);
    };
  }
  return adapter;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

function migrationList(provider: DatabaseConfig['provider']): MigrationList {
  const baseDir = migrationsDir(provider);
  mkdirSync(baseDir, { recursive: true });
  const lockPath = join(baseDir, 'migration_lock.toml');
  const directories = readdirSync(baseDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return {
    baseDir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: directories.map((name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: { tag: 'ok', value: readFileSync(join(baseDir, name, 'migration.sql'), 'utf8') },
      },
    })),
  };
}

const NO_FILTERS = { externalTables: [], externalEnums: [] };

/** `prisma migrate deploy`: applies every committed migration not yet applied. */
export async function applyMigrations(config: DatabaseConfig): Promise<string[]> {
  return withEngine(config.provider, adapterFactory(config), async (engine) => {
    const result = await engine.applyMigrations({ migrationsList: migrationList(config.provider), filters: NO_FILTERS });
    return result.appliedMigrationNames;
  });
}

// Diffing two data models changes no database, but the PostgreSQL flavour asks its server for its
// version first: it connects to MIGRATION_POSTGRES_URL (the local server by default) and reads only.
function diffOnlyFactory(provider: DatabaseConfig['provider']): SqlMigrationAwareDriverAdapterFactory {
  if (provider === 'sqlite') return new PrismaBetterSqlite3({ url: ':memory:' });
  return new PrismaPg({ connectionString: process.env.MIGRATION_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
}

export const SNAPSHOT_PATH = join(root, 'prisma', 'migrations', 'schema.snapshot.prisma');

/**
 * `prisma migrate dev --create-only`, for both providers at once. The WASM engine brings no shadow
 * database, so the committed migrations are not replayed: the data model as of the last migration
 * is kept in prisma/migrations/schema.snapshot.prisma, and each new migration is the engine's diff
 * from that snapshot to the current data model.
 */
export async function createMigrations(name: string): Promise<string | null> {
  const previous = existsSync(SNAPSHOT_PATH) ? readFileSync(SNAPSHOT_PATH, 'utf8') : null;
  const current = readFileSync(SCHEMA_PATH, 'utf8');
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dirName = `${stamp}_${name}`;
  const scripts: Array<[DatabaseConfig['provider'], string]> = [];
  for (const provider of ['sqlite', 'postgresql'] as const) {
    const files = (text: string) => [{ path: SCHEMA_PATH, content: withProvider(text, provider) }];
    const stdout = await withEngine(provider, diffOnlyFactory(provider), (engine) =>
      engine
        .diff({
          from: previous === null ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: files(previous) },
          to: { tag: 'schemaDatamodel', files: files(current) },
          script: true,
          exitCode: null,
          filters: NO_FILTERS,
        })
        .then((result) => result.stdout ?? ''),
    );
    if (/^-- This is an empty migration\.?\s*$/.test(stdout.trim()) || !stdout.trim()) return null;
    scripts.push([provider, stdout]);
  }
  for (const [provider, script] of scripts) {
    const dir = join(migrationsDir(provider), dirName);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'migration.sql'), script);
    writeFileSync(join(migrationsDir(provider), 'migration_lock.toml'), `provider = "${provider}"\n`);
  }
  writeFileSync(SNAPSHOT_PATH, current);
  return dirName;
}
