import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { logger } from '../logger';
import { resolveDatabaseConfig } from './config';

/**
 * better-sqlite3 12 (the last line that still runs on Node 20) derives its statements from Node's
 * `ObjectWrap`. In the headers of Node 24.19 and later, `ObjectWrap`'s destructor removes an
 * environment cleanup hook, and Node aborts the process when that runs outside any JavaScript
 * context: a statement garbage-collected by an idle or background collection takes the app down
 * with `Assertion failed: (env) != nullptr` and no stack of ours (nodejs/node#65446). Prisma's
 * adapter prepares a statement per query, so an app on such a build aborts within seconds of
 * serving. What counts is the headers the driver was compiled against, not the Node that runs it.
 *
 * Returns what to tell the operator when the installed driver was compiled here against such headers,
 * or null when it was not, or when that cannot be told (a downloaded prebuilt binary records no
 * headers). `driverDir` is better-sqlite3's package folder: by default the one Prisma's adapter loads.
 */
export function sqliteDriverHazard(driverDir: string | null = installedDriverDir()): string | null {
  if (!driverDir) return null;
  const headers = compiledAgainst(driverDir);
  if (!headers || !abortsOnCollectedStatements(headers)) return null;
  return (
    `the SQLite driver (better-sqlite3, ${driverDir}) was compiled against Node ${headers.major}.${headers.minor}'s headers, ` +
    'with which it aborts the process when a statement is garbage-collected (nodejs/node#65446). ' +
    'Rebuild it from source against Node 24.18.1 headers, or run Node 22 (reinstalling the driver there), or use PostgreSQL: README, Production and security, Node version.'
  );
}

/**
 * Said once when a server starts on SQLite, before its first request: such a build would otherwise
 * abort the process later without a word of ours.
 */
export function warnOfSqliteDriverHazard(driverDir?: string | null): void {
  // Never the reason a server fails to start: whatever goes wrong here is for the database client to say.
  try {
    if (resolveDatabaseConfig().provider !== 'sqlite') return;
    const hazard = sqliteDriverHazard(driverDir);
    if (hazard) logger.error(`server: ${hazard}`);
  } catch {
    return;
  }
}

type HeadersVersion = { major: number; minor: number };

/** From 24.19 on (and in every line after 24, whose main branch it came from). */
function abortsOnCollectedStatements({ major, minor }: HeadersVersion): boolean {
  return major > 24 || (major === 24 && minor >= 19);
}

/** node-gyp records where it found Node's headers in build/config.gypi; the headers say their version. */
function compiledAgainst(driverDir: string): HeadersVersion | null {
  let config: string;
  try {
    config = readFileSync(join(driverDir, 'build', 'config.gypi'), 'utf8');
  } catch {
    return null;
  }
  const nodedir = /"nodedir":\s*"((?:[^"\\]|\\.)*)"/.exec(config)?.[1];
  if (!nodedir) return null;
  let dir: string;
  try {
    dir = JSON.parse(`"${nodedir}"`) as string;
  } catch {
    return null;
  }
  // Installed headers (node-gyp's download, a distribution's, an npm `node` package's), or a source tree.
  for (const file of [join(dir, 'include', 'node', 'node_version.h'), join(dir, 'src', 'node_version.h')]) {
    let header: string;
    try {
      header = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const major = /#define\s+NODE_MAJOR_VERSION\s+(\d+)/.exec(header)?.[1];
    const minor = /#define\s+NODE_MINOR_VERSION\s+(\d+)/.exec(header)?.[1];
    return major && minor ? { major: Number(major), minor: Number(minor) } : null;
  }
  // The headers gone since (a cleared cache, a multi-stage image): node-gyp's own download folder
  // is named after their version (…/node-gyp/24.21.0).
  const named = /(?:^|[\\/])v?(\d+)\.(\d+)\.\d+[\\/]?$/.exec(dir);
  return named ? { major: Number(named[1]), minor: Number(named[2]) } : null;
}

/** better-sqlite3's package folder, as Prisma's adapter resolves it. */
export function installedDriverDir(): string | null {
  try {
    const adapter = createRequire(import.meta.url).resolve('@prisma/adapter-better-sqlite3');
    return dirname(createRequire(adapter).resolve('better-sqlite3/package.json'));
  } catch {
    return null;
  }
}
