import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFor } from '../lib/db/client';
import { statement, type SqlStatement } from '../lib/db/sql';
import { expiredHoldsQuery, GROUPS_PER_QUERY, pendingGroupsQuery } from '../lib/ledger/holds';
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
    // The plan a reused statement gets (PL/pgSQL, a driver's prepared statement): values unknown.
    await tx.execute(statement('SET LOCAL plan_cache_mode = force_generic_plan', []));
    const rows = await tx.query(statement(`EXPLAIN ${query.sql}`, query.args));
    return rows.map((row) => String(row['QUERY PLAN'])).join(' | ');
  });
}

/** One of these indexes serves the query: named in the plan, and no sequential scan. */
async function expectIndexed(query: SqlStatement, ...indexes: string[]) {
  const text = await plan(query);
  expect(text).toMatch(new RegExp(`(USING (COVERING )?INDEX|Index (Only )?Scan using|Bitmap Index Scan on) "?(${indexes.join('|')})\\b`));
  expect(text).not.toMatch(/Seq Scan|SCAN Hold\b/);
}

describe('hot-path storage', () => {
  it('the sweeper finds expired holds through the partial index of pending holds', async () => {
    await expectIndexed(expiredHoldsQuery(new Date(), 500), 'Hold_pending_expiresAt_idx');
  });

  it("the sweeper finds a call's other holds through a partial index", async () => {
    // On an empty table PostgreSQL may as well read the (empty) pending-by-account index: any of the
    // partial indexes proves its predicate was matched; a full index or a table scan would not.
    const partial = testProvider() === 'sqlite' ? ['Hold_groupId_idx'] : ['Hold_groupId_idx', 'Hold_pending_debitAccountId_idx', 'Hold_pending_expiresAt_idx'];
    await expectIndexed(pendingGroupsQuery(['hold:req_a', 'hold:req_b']), ...partial);
  });

  it('a session channel counts its pending holds through the partial index of pending holds by account', async () => {
    await expectIndexed(statement(`SELECT COUNT(*) AS "n" FROM "Hold" WHERE "debitAccountId" = ? AND "status" = 'PENDING'`, ['acc_x']), 'Hold_pending_debitAccountId_idx');
  });

  it('the sweeper asks for its groups with one statement text whatever their number', () => {
    const texts = new Set([1, 2, GROUPS_PER_QUERY].map((n) => pendingGroupsQuery(Array.from({ length: n }, (_, i) => `g${i}`)).sql));
    expect(texts.size).toBe(1);
    expect(() => pendingGroupsQuery(Array.from({ length: GROUPS_PER_QUERY + 1 }, (_, i) => `g${i}`))).toThrow(RangeError);
  });

  it('SQLite keeps statement journals (one per savepoint of a group commit) in memory', async () => {
    if (testProvider() !== 'sqlite') return expect(testProvider()).toBe('postgresql');
    const [row] = await sqlFor(t.db).query(statement('PRAGMA temp_store', []));
    // 2 = MEMORY (0 = the compile-time default, a file here; 1 = FILE).
    expect(Number(row?.temp_store)).toBe(2);
  });
});
