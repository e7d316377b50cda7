import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

export type DatabaseConfig =
  | { provider: 'sqlite'; url: string; file: string }
  | { provider: 'postgresql'; url: string };

export const DEFAULT_SQLITE_URL = 'file:./data/tollgate.db';

/**
 * Reads DATABASE_URL: unset means the embedded SQLite file under data/; postgres:// or
 * postgresql:// means PostgreSQL; file: means another SQLite file.
 */
export function resolveDatabaseConfig(url = process.env.DATABASE_URL?.trim() || DEFAULT_SQLITE_URL): DatabaseConfig {
  if (/^postgres(ql)?:\/\//i.test(url)) return { provider: 'postgresql', url };
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length);
    // Resolved at run time against the working directory; not a path for the bundler to trace.
    const file = isAbsolute(path) ? path : resolve(/*turbopackIgnore: true*/ process.cwd(), path);
    return { provider: 'sqlite', url, file };
  }
  throw new Error('DATABASE_URL must start with file:, postgres:// or postgresql://');
}

export function ensureSqliteDirectory(config: DatabaseConfig): void {
  if (config.provider === 'sqlite') mkdirSync(dirname(config.file), { recursive: true });
}
