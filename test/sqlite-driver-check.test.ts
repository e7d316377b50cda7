// The start-up warning for a SQLite driver compiled against headers with which it aborts the
// process (lib/db/sqlite-driver-check.ts). The fixtures are what node-gyp and Node's headers write:
// build/config.gypi names the headers' folder, include/node/node_version.h their version.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logger } from '../lib/logger';
import { installedDriverDir, sqliteDriverHazard, warnOfSqliteDriverHazard } from '../lib/db/sqlite-driver-check';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** A driver folder built against headers of `version` ("24.21.0"), or with no record of its headers. */
function driverBuiltAgainst(version: string | null, layout: 'installed' | 'source' = 'installed'): string {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-driver-'));
  made.push(root);
  const driver = join(root, 'better-sqlite3');
  mkdirSync(join(driver, 'build'), { recursive: true });
  if (version === null) return driver;
  const [major, minor, patch] = version.split('.');
  // A path with a quote escaped, as JSON-like gypi strings may carry.
  const headers = join(root, `node-gyp "cache"`, version);
  const versionDir = layout === 'installed' ? join(headers, 'include', 'node') : join(headers, 'src');
  mkdirSync(versionDir, { recursive: true });
  writeFileSync(
    join(versionDir, 'node_version.h'),
    `#ifndef SRC_NODE_VERSION_H_\n#define SRC_NODE_VERSION_H_\n\n#define NODE_MAJOR_VERSION ${major}\n#define NODE_MINOR_VERSION ${minor}\n#define NODE_PATCH_VERSION ${patch}\n`,
  );
  writeFileSync(join(driver, 'build', 'config.gypi'), `# Do not edit.\n{\n  "variables": {\n    "napi_build_version": "10",\n    "nodedir": ${JSON.stringify(headers)},\n    "python": "/usr/bin/python3"\n  }\n}\n`);
  return driver;
}

describe('sqliteDriverHazard', () => {
  it('names a driver compiled against Node 24.19 headers or later', () => {
    for (const version of ['24.19.0', '24.21.0', '25.1.0', '26.0.0']) {
      const driver = driverBuiltAgainst(version);
      const [major, minor] = version.split('.');
      expect(sqliteDriverHazard(driver)).toBe(
        `the SQLite driver (better-sqlite3, ${driver}) was compiled against Node ${major}.${minor}'s headers, with which it aborts the process when a statement is garbage-collected (nodejs/node#65446). Rebuild it from source against Node 24.18.1 headers, or run Node 22 (reinstalling the driver there), or use PostgreSQL: README, Production and security, Node version.`,
      );
    }
  });

  it("reads a Node source tree's version as well as installed headers'", () => {
    expect(sqliteDriverHazard(driverBuiltAgainst('24.20.0', 'source'))).toMatch(/compiled against Node 24\.20's headers/);
    expect(sqliteDriverHazard(driverBuiltAgainst('24.18.1', 'source'))).toBeNull();
  });

  it("reads the version from node-gyp's folder name once the headers are gone", () => {
    const driver = driverBuiltAgainst('24.19.2');
    rmSync(join(driver, '..', 'node-gyp "cache"', '24.19.2', 'include'), { recursive: true });
    expect(sqliteDriverHazard(driver)).toMatch(/compiled against Node 24\.19's headers/);
    const older = driverBuiltAgainst('24.18.1');
    rmSync(join(older, '..', 'node-gyp "cache"', '24.18.1', 'include'), { recursive: true });
    expect(sqliteDriverHazard(older)).toBeNull();
  });

  it('says nothing of earlier headers, or of a driver that does not record them', () => {
    for (const version of ['20.20.2', '22.23.0', '24.0.0', '24.18.1']) expect(sqliteDriverHazard(driverBuiltAgainst(version))).toBeNull();
    expect(sqliteDriverHazard(driverBuiltAgainst(null))).toBeNull();
    expect(sqliteDriverHazard(join(tmpdir(), 'no-such-driver'))).toBeNull();
    expect(sqliteDriverHazard(null)).toBeNull();
  });

  it('is logged at start on SQLite only', () => {
    const errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    const driver = driverBuiltAgainst('24.21.0');
    vi.stubEnv('DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/none');
    warnOfSqliteDriverHazard(driver);
    expect(errors).not.toHaveBeenCalled();
    vi.stubEnv('DATABASE_URL', 'file:./data/never-opened.db');
    warnOfSqliteDriverHazard(driver);
    expect(errors.mock.calls).toEqual([[expect.stringMatching(/^server: the SQLite driver \(better-sqlite3, .+\) was compiled against Node 24\.21's headers/)]]);
    warnOfSqliteDriverHazard(driverBuiltAgainst('24.18.1'));
    expect(errors).toHaveBeenCalledTimes(1);
    // Never what stops a server from starting: a DATABASE_URL it cannot read is the client's to refuse.
    vi.stubEnv('DATABASE_URL', 'mysql://nowhere');
    expect(() => warnOfSqliteDriverHazard(driver)).not.toThrow();
    expect(errors).toHaveBeenCalledTimes(1);
  });

  it("looks at the driver Prisma's adapter loads", () => {
    const driver = installedDriverDir();
    expect(driver).not.toBeNull();
    expect(JSON.parse(readFileSync(join(driver!, 'package.json'), 'utf8'))).toMatchObject({ name: 'better-sqlite3' });
    // CI builds it for the machine's Node 20, and for Node 24 against 24.18.1's headers (.ci/run).
    expect(sqliteDriverHazard()).toBeNull();
  });
});
