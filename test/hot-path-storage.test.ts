import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../lib/db/client';
import { statement, type SqlStatement } from '../lib/db/sql';
import { expiredHoldsQuery, pendingGroupsQuery } from '../lib/ledger/holds';
import { createTestDatabase, testProvider, type TestDatabase } from './helpers/db';

// What keeps the hot path's storage cheap (issue #12), checked on the database the suite runs on:
// the sweeper's reads reach the partial indexes that hold only pending holds, and SQLite keeps its
// statement journals in memory. Either can silently regress (a query rewritten through Prisma binds
// 'PENDING' and scans every hold ever made; a lost pragma makes every hot-path write 3–6× slower)
// while every functional test still passes.

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

/** The plan the database would use for a statement, as one line of text. */
async function plan(query: SqlStatement): Promise<string> {
  const runner = sqlFor(t.db);
  if (testProvider() === 'sqlite') {
    const rows = await runner.query(statement(`EXPLAIN QUERY PLAN ${query.sql}`, query.args));
    return rows.map((row) => String(row.detail)).join(' | ');
  }
  // An empty table is cheapest to scan whatever its indexes: forbid scans to see whether the
  // index can serve the query at all. One transaction, so that the setting stays on it.
  return runner.transaction(async (tx) => {
    await tx.execute(statement('SET LOCAL enable_seqscan = off', []));
    const rows = await tx.query(statement(`EXPLAIN ${query.sql}`, query.args));
    return rows.map((row) => String(row['QUERY PLAN'])).join(' | ');
  });
}

/** Index names in the plan; on PostgreSQL, no sequential scan (any index that serves it will do). */
async function expectIndexed(query: SqlStatement, sqliteIndex: string) {
  const text = await plan(query);
  if (testProvider() === 'sqlite') expect(text).toContain(sqliteIndex);
  else expect(text).toMatch(/Index (Only )?Scan using "?Hold_/);
  expect(text).not.toMatch(/Seq Scan|SCAN Hold\b/);
}

describe('hot-path storage', () => {
  it('the sweeper finds expired holds through the partial index of pending holds', async () => {
    await expectIndexed(expiredHoldsQuery(new Date(), 500), 'Hold_pending_expiresAt_idx');
  });

  it("the sweeper finds a call's other holds through a partial index", async () => {
    await expectIndexed(pendingGroupsQuery(['hold:req_a', 'hold:req_b']), 'Hold_groupId_idx');
  });

  it('SQLite keeps statement journals (one per savepoint of a group commit) in memory', async () => {
    if (testProvider() !== 'sqlite') return expect(testProvider()).toBe('postgresql');
    const [row] = await sqlFor(t.db).query(statement('PRAGMA temp_store', []));
    // 2 = MEMORY (0 = the compile-time default, a file here; 1 = FILE).
    expect(Number(row?.temp_store)).toBe(2);
  });
});
