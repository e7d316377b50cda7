import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createDb, sqlFor } from '../lib/db/client';
import { logger } from '../lib/logger';
import { statement, type SqlStatement } from '../lib/db/sql';
import { newId } from '../lib/ids';
import { Ledger, SYSTEM_ACCOUNTS } from '../lib/ledger';
import { expiredHoldsQuery, GROUPS_PER_QUERY, pendingGroupsQuery } from '../lib/ledger/holds';
import { createTestDatabase, testProvider, type TestDatabase } from './helpers/db';
import { createFundedUser } from './helpers/fixtures';

// What keeps the hot path's storage cheap (issue #12), checked on the database the suite runs on:
// the sweeper's reads reach the partial indexes that hold only pending holds, and SQLite keeps its
// statement journals in memory. Either can silently regress (a query rewritten through Prisma binds
// 'PENDING' and scans every hold ever made; a lost pragma makes every hot-path write 3–6× slower)
// while every functional test still passes.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

/** Waits, a millisecond at a time, until `done()` (at most two seconds). */
async function until(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 2_000; !done(); ) {
    if (Date.now() > deadline) throw new Error(`still not so after 2 s: ${done.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

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
  expect(text).toMatch(new RegExp(`(USING (COVERING )?INDEX|Index (Only )?Scan (Backward )?using|Bitmap Index Scan on) "?(${indexes.join('|')})\\b`));
  expect(text).not.toMatch(/Seq Scan|SCAN (Hold|UsageRecord)\b/);
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

  it("a settlement's usage row goes into the pool index only when a seller pool served the call, and a per-pool query would still read it in order", async () => {
    // Most calls have no pool: a full index took a B-tree write from every settlement for rows no
    // query asks for. Partial, it holds pool-served rows only; `sellerPoolId = ?` implies NOT NULL.
    const runner = sqlFor(t.db);
    const [row] =
      testProvider() === 'sqlite'
        ? await runner.query(statement(`SELECT "partial" FROM pragma_index_list('UsageRecord') WHERE "name" = 'UsageRecord_sellerPoolId_createdAt_idx'`, []))
        : await runner.query(statement(`SELECT (i."indpred" IS NOT NULL) AS "partial" FROM pg_index i JOIN pg_class c ON c.oid = i."indexrelid" WHERE c."relname" = 'UsageRecord_sellerPoolId_createdAt_idx'`, []));
    expect(row).toBeDefined();
    expect([1, 1n, true]).toContain(row!.partial);
    const perPool = statement(`SELECT "id" FROM "UsageRecord" WHERE "sellerPoolId" = ? ORDER BY "createdAt" DESC LIMIT 50`, ['pool_x']);
    await expectIndexed(perPool, 'UsageRecord_sellerPoolId_createdAt_idx');
    // In the index's order: no sort of its own.
    expect(await plan(perPool)).not.toMatch(/TEMP B-TREE|\bSort\b/);
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

  it('on PostgreSQL a call\'s reservations and settlements commit without waiting for the WAL flush, every other write with it; LEDGER_SYNCHRONOUS_COMMIT=on makes them wait too', async () => {
    if (testProvider() !== 'postgresql') return expect(testProvider()).toBe('sqlite');
    const runner = sqlFor(t.db);
    // A deferred constraint trigger runs as its transaction commits, where PostgreSQL reads
    // synchronous_commit: it records the setting each write of a hold or a transaction commits under.
    await runner.execute(statement('CREATE TABLE "CommitProbe" ("seq" serial PRIMARY KEY, "what" text NOT NULL, "setting" text NOT NULL)', []));
    await runner.execute(
      statement(
        `CREATE FUNCTION commit_probe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           INSERT INTO "CommitProbe" ("what", "setting") VALUES (TG_TABLE_NAME || ' ' || TG_OP || coalesce(' ' || (to_jsonb(NEW)->>'kind'), ''), current_setting('synchronous_commit'));
           RETURN NULL; END $$`,
        [],
      ),
    );
    for (const table of ['Hold', 'LedgerTransaction']) {
      await runner.execute(statement(`CREATE CONSTRAINT TRIGGER commit_probe AFTER INSERT OR UPDATE ON "${table}" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_probe()`, []));
    }
    const probes = async () => {
      const rows = await runner.query(statement('DELETE FROM "CommitProbe" RETURNING "what", "setting"', []));
      return rows.map((row) => `${String(row.what)}: ${String(row.setting)}`).sort();
    };

    const { wallet } = await createFundedUser(t.db, 10_000n);
    const input = (key: string) => ({ idempotencyKey: key, sources: [wallet.id], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 100n, ttlMs: 60_000 });
    const settle = (holds: Awaited<ReturnType<Ledger['reserve']>>['holds'], key: string) => ({ holds, amount: 40n, idempotencyKey: key });
    // The grant that funded the user is a transfer: it waited for its flush.
    expect(await probes()).toEqual(['LedgerTransaction INSERT grant: on']);

    const ledger = new Ledger(t.db, {});
    const alone = await ledger.reserve(input(newId('req')));
    await ledger.settle(settle(alone.holds, newId('req')));
    expect(await probes()).toEqual(['Hold INSERT: off', 'Hold UPDATE: off']);
    // Phases asked for together go as one batch (tollgate_batch and the batch functions).
    const [first, second] = await Promise.all([ledger.reserve(input(newId('req'))), ledger.reserve(input(newId('req')))]);
    await Promise.all([ledger.settle(settle(first!.holds, newId('req'))), ledger.reserve(input(newId('req'))), ledger.release({ holds: second!.holds, idempotencyKey: newId('req') })]);
    const batched = await probes();
    // Three reservations' inserts; a settlement's and a release's updates.
    expect(batched).toHaveLength(5);
    expect(batched.filter((line) => !line.endsWith(': off'))).toEqual([]);

    const durable = new Ledger(t.db, { LEDGER_SYNCHRONOUS_COMMIT: 'on' });
    const waited = await durable.reserve(input(newId('req')));
    await durable.settle(settle(waited.holds, newId('req')));
    expect(await probes()).toEqual(['Hold INSERT: on', 'Hold UPDATE: on']);
    expect(() => new Ledger(t.db, { LEDGER_SYNCHRONOUS_COMMIT: 'maybe' })).toThrow(/LEDGER_SYNCHRONOUS_COMMIT must be "on" or "off"/);
  });

  it('on PostgreSQL every phase function carries the settings that steer its plans to indexes and keep one generic plan per statement', async () => {
    if (testProvider() !== 'postgresql') return expect(testProvider()).toBe('sqlite');
    // Both are SET options of the functions (migrations 20261203123000 and 20261206060000), which a
    // CREATE OR REPLACE FUNCTION silently drops: a later migration that replaces a function must set them again.
    const rows = await sqlFor(t.db).query(
      statement(`SELECT p."proname" AS "name", array_to_string(p."proconfig", ',') AS "config" FROM pg_proc p WHERE p."proname" = ANY (?::text[]) ORDER BY p."proname"`, ['{tollgate_batch,tollgate_reserve,tollgate_reserve_batch,tollgate_resolve,tollgate_resolve_batch}']),
    );
    // One function of each name: an overload would carry settings of its own.
    expect(rows).toHaveLength(5);
    const configs = Object.fromEntries(rows.map((row) => [String(row.name), String(row.config).split(',').sort()]));
    const expected = ['enable_seqscan=off', 'plan_cache_mode=force_generic_plan'];
    expect(configs).toEqual({ tollgate_batch: expected, tollgate_reserve: expected, tollgate_reserve_batch: expected, tollgate_resolve: expected, tollgate_resolve_batch: expected });
  });

  it('on PostgreSQL the phase functions reach their rows through their keys, even on tables never analyzed', async () => {
    if (testProvider() !== 'postgresql') return expect(testProvider()).toBe('sqlite');
    // A function's plans are cached in its connection; made while a table has no statistics, a
    // lookup of a few keys reads the whole table (a sequential scan, or a join over a full scan of
    // an index). Everything here runs in one transaction on a pool of one connection, so that
    // pg_stat_xact_user_tables counts exactly the reads of these phases, and is rolled back.
    const { user, wallet } = await createFundedUser(t.db, 10_000_000n);
    const poolSize = process.env.DATABASE_POOL_SIZE;
    process.env.DATABASE_POOL_SIZE = '1';
    const db = createDb(t.config);
    if (poolSize === undefined) delete process.env.DATABASE_POOL_SIZE;
    else process.env.DATABASE_POOL_SIZE = poolSize;
    const warn = vi.spyOn(logger, 'warn');
    onTestFinished(() => warn.mockRestore());
    const runner = sqlFor(db);
    try {
      await runner.execute(statement('BEGIN', []));
      const tables = ['Hold', 'LedgerTransaction', 'LedgerEntry', 'UsageRecord', 'LedgerAccount', 'ApiKey'];
      const reads = async () => {
        const [row] = await runner.query(
          statement(`SELECT coalesce(sum("seq_scan"), 0)::int AS "seq", coalesce(sum("idx_scan"), 0)::int AS "idx", coalesce(sum("idx_tup_fetch"), 0)::int AS "fetched" FROM pg_stat_xact_user_tables WHERE "relname" = ANY (?::text[])`, [`{${tables.join(',')}}`]),
        );
        return { seq: Number(row!.seq), idx: Number(row!.idx), fetched: Number(row!.fetched) };
      };
      const ledger = new Ledger(db, {});
      const reserve = () => ledger.reserve({ idempotencyKey: `hold:${newId('req')}`, sources: [wallet.id], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 100n, ttlMs: 60_000 });
      const settle = (holds: Awaited<ReturnType<typeof reserve>>['holds']) => {
        const requestId = newId('req');
        const usage = { id: newId('usg'), requestId, userId: user.id, apiKeyId: null, modelId: 'gpt-4o-mini', providerId: 'openai', stream: false, promptTokens: 3, completionTokens: 4, cachedTokens: 0, cost: 40n, latencyMs: 1, status: 'SUCCESS' as const, errorCode: null, createdAt: new Date() };
        return ledger.settle({ holds, amount: 40n, idempotencyKey: `settle:${requestId}`, usage });
      };
      // Alone (tollgate_reserve, tollgate_resolve), together (the batch functions), and
      // settlements with reservations in one turn (tollgate_batch): five calls a round.
      const round = async () => {
        const alone = await reserve();
        await settle(alone.holds);
        const together = await Promise.all([reserve(), reserve(), reserve()]);
        const [last] = await Promise.all([reserve(), settle(together[0]!.holds), settle(together[1]!.holds)]);
        await Promise.all([settle(together[2]!.holds), settle(last!.holds)]);
      };
      // Plans made and cached (generic plans, made on the first call) while the tables are small…
      for (let i = 0; i < 8; i++) await round();
      // …then tables of a few thousand rows, which the cached plans must not read whole.
      const fill = 3_000;
      await runner.execute(statement(`INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "expiresAt", "createdAt") SELECT 'hold_fill_' || g, 'fill:' || g, ?, ?, 1, 'RELEASED', now(), now() FROM generate_series(1, ${fill}) g`, [wallet.id, SYSTEM_ACCOUNTS.revenue.id]));
      await runner.execute(statement(`INSERT INTO "LedgerTransaction" ("id", "idempotencyKey", "kind", "createdAt") SELECT 'txn_fill_' || g, 'fill:' || g, 'grant', now() FROM generate_series(1, ${fill}) g`, []));
      await runner.execute(statement(`INSERT INTO "UsageRecord" ("id", "requestId", "userId", "modelId", "status", "createdAt") SELECT 'usg_fill_' || g, 'req_fill_' || g, ?, 'gpt-4o-mini', 'SUCCESS', now() FROM generate_series(1, ${fill}) g`, [user.id]));
      // Everything below must still be this one transaction (nothing in the phases commits it).
      const xact = async () => String((await runner.query(statement('SELECT pg_current_xact_id()::text AS "id"', [])))[0]!.id);
      const transaction = await xact();
      const before = await reads();
      const calls = 5 * 8;
      try {
        for (let i = 0; i < 8; i++) await round();
      } catch (error) {
        // An error aborts the transaction: every phase re-run alone then fails with 25P02, and
        // the first cause is only in the warning the hold store logged.
        throw new Error(`a phase failed; logged: ${JSON.stringify(warn.mock.calls.map(([message, fields]) => [message, String((fields as { error?: unknown } | undefined)?.error ?? '')]))}`, { cause: error });
      }
      const after = await reads();
      expect(await xact()).toBe(transaction);
      expect(after.seq - before.seq).toBe(0);
      expect(after.idx - before.idx).toBeGreaterThan(calls);
      // A call's phases fetch a few rows each (its holds, accounts, the rows its foreign keys name).
      expect((after.fetched - before.fetched) / calls).toBeLessThan(50);
      // Through Prisma, on the same connection: the uncommitted writes of the transaction.
      expect((await ledger.getAccountBalance({ accountId: wallet.id })).balance).toBe(10_000_000n - BigInt(2 * calls) * 40n);
      expect(warn.mock.calls.filter(([message]) => String(message).includes('as a whole'))).toEqual([]);
    } finally {
      await runner.execute(statement('ROLLBACK', [])).catch(() => undefined);
      await db.$disconnect();
    }
  });

  it('on SQLite answered phases of later turns share one commit, which comes after the window, for anyone else on the file in this process, on $disconnect and on exit', async () => {
    if (t.config.provider !== 'sqlite') return expect(testProvider()).toBe('postgresql');
    const file = t.config.file;
    // A client of its own, to be disconnected at the end; the observer sees only what is committed.
    const db = createDb(t.config);
    const runner = sqlFor(db);
    const observer = new Database(file, { readonly: true });
    const committed = (ids: string[]) => (observer.prepare(`SELECT COUNT(*) AS n FROM "User" WHERE "id" IN (${ids.map(() => '?').join(', ')})`).get(...ids) as { n: number }).n;
    const insertUser = (id: string) => statement('INSERT INTO "User" ("id", "email", "createdAt", "updatedAt") VALUES (?, ?, ?, ?)', [id, `${id}@example.test`, new Date(), new Date()]);
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    /** One phase, answered early, in a turn of the event loop of its own. */
    const phase = async (id: string, fail = false) => {
      await runner
        .transaction(async (tx) => {
          await tx.execute(insertUser(id));
          if (fail) throw new Error('this phase fails');
        }, { answerBeforeCommit: true })
        .catch((error: unknown) => {
          if (!fail) throw error;
        });
      await nextTurn();
    };
    // The window's clocks only (its timer, and performance.now() for the gap between windows): turns
    // of the event loop (setImmediate) still run.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    /** Past the 5 ms after a window closes in which no new one opens. */
    const pastGap = () => vi.advanceTimersByTime(5);
    try {
      const first = [newId('usr'), newId('usr'), newId('usr')];
      const failing = newId('usr');
      await phase(first[0]!);
      await phase(first[1]!);
      await phase(failing, true);
      await phase(first[2]!);
      expect(committed(first)).toBe(0);
      // 10 ms after the window opened, all of it at once; the phase that failed rolled back alone.
      vi.advanceTimersByTime(9);
      await nextTurn();
      expect(committed(first)).toBe(0);
      vi.advanceTimersByTime(1);
      await nextTurn();
      expect(committed(first)).toBe(3);
      expect(committed([failing])).toBe(0);

      // For 5 ms after a window closes, a phase commits right behind its caller, as without windows
      // (another process on the file, waiting in SQLite's busy handler, needs gaps it can hit).
      const between = newId('usr');
      await phase(between);
      expect(committed([between])).toBe(1);
      pastGap();

      // A transaction that did not ask to hear early joins an open window and commits it, with
      // itself, before its caller hears.
      const [early, sync] = [newId('usr'), newId('usr')];
      await phase(early);
      expect(committed([early])).toBe(0);
      let seenAtAnswer = -1;
      await runner.transaction((tx) => tx.execute(insertUser(sync))).then(() => (seenAtAnswer = committed([early, sync])));
      expect(seenAtAnswer).toBe(2);
      pastGap();

      // Anyone else on the connection (Prisma here) gets it at once, after the window commits.
      const second = [newId('usr'), newId('usr')];
      await phase(second[0]!);
      await phase(second[1]!);
      expect(committed(second)).toBe(0);
      expect(await db.user.count({ where: { id: { in: second } } })).toBe(2);
      expect(committed(second)).toBe(2);
      pastGap();

      // So does a second client of the same file in this process (another instance in a test, a
      // script): its write waits for the file's one lock, not in SQLite's busy handler, which would
      // sleep the event loop the window needs to commit until busy_timeout (5 s) and then fail.
      // Opened by another name (a symlink, as the simulator's instances are): the same file, the same lock.
      const third = newId('usr');
      await phase(third);
      const link = join(dirname(file), `link-${third}.db`);
      symlinkSync(file, link);
      const other = createDb({ provider: 'sqlite', url: `file:${link}`, file: link });
      try {
        const started = Date.now();
        await other.user.create({ data: { id: newId('usr'), email: `${newId('usr')}@example.test` } });
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(committed([third])).toBe(1);
      } finally {
        await other.$disconnect();
      }
      pastGap();

      // A window holds at most 512 phases (the clock stood still: without the bound, none would be
      // committed); the 513th, in the gap after it, commits at once.
      const many = Array.from({ length: 513 }, () => newId('usr'));
      for (const id of many) await phase(id);
      expect(committed(many)).toBe(513);
      pastGap();

      // $disconnect waits for the window's commit.
      const last = newId('usr');
      await phase(last);
      expect(committed([last])).toBe(0);
      await db.$disconnect();
      expect(committed([last])).toBe(1);
    } finally {
      vi.useRealTimers();
      observer.close();
      await db.$disconnect();
    }

    // A process that exits (process.exit, as the servers do on SIGTERM) commits what its window holds.
    const id = newId('usr');
    const script = join(dirname(file), `exit-${id}.mts`);
    writeFileSync(
      script,
      [
        `import { createDb, sqlFor } from ${JSON.stringify(join(ROOT, 'lib/db/client.ts'))};`,
        `const runner = sqlFor(createDb({ provider: 'sqlite', url: ${JSON.stringify(t.config.url)}, file: ${JSON.stringify(file)} }));`,
        `const now = new Date().toISOString();`,
        `await runner.transaction((tx) => tx.execute({ sql: 'INSERT INTO "User" ("id", "email", "createdAt", "updatedAt") VALUES (?, ?, ?, ?)', args: [${JSON.stringify(id)}, 'exit@example.test', now, now] }), { answerBeforeCommit: true });`,
        `process.exit(0);`,
      ].join('\n'),
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(child.status, child.stderr).toBe(0);
    const after = new Database(file, { readonly: true });
    try {
      expect((after.prepare('SELECT COUNT(*) AS n FROM "User" WHERE "id" = ?').get(id) as { n: number }).n).toBe(1);
    } finally {
      after.close();
    }
  });

  it('on SQLite a call\'s phases are answered before their batch commits, any other transaction only after; a commit that then fails is logged, not lost silently', async () => {
    if (t.config.provider !== 'sqlite') return expect(testProvider()).toBe('postgresql');
    const runner = sqlFor(t.db);
    // A second connection to the file sees only what is committed.
    const observer = new Database(t.config.file, { readonly: true });
    const committed = (id: string) => observer.prepare('SELECT COUNT(*) AS n FROM "User" WHERE "id" = ?').get(id) as { n: number };
    const insertUser = (id: string) => statement('INSERT INTO "User" ("id", "email", "createdAt", "updatedAt") VALUES (?, ?, ?, ?)', [id, `${id}@example.test`, new Date(), new Date()]);
    try {
      const early = newId('usr');
      let seenAtAnswer = -1;
      await runner.transaction((tx) => tx.execute(insertUser(early)), { answerBeforeCommit: true }).then(() => (seenAtAnswer = committed(early).n));
      expect(seenAtAnswer).toBe(0);
      // With nothing else happening, its commit window closes on its own.
      await until(() => committed(early).n === 1);

      // Whatever the caller does next on the connection (a statement here, Prisma's queries the
      // same way) waits for the commit: the connection's lock is held until it is done.
      const next = newId('usr');
      let seenByNextStatement = -1;
      await runner
        .transaction((tx) => tx.execute(insertUser(next)), { answerBeforeCommit: true })
        .then(() => runner.query(statement('SELECT 1 AS one', [])))
        .then(() => (seenByNextStatement = committed(next).n));
      expect(seenByNextStatement).toBe(1);

      // The ledger's reservation asks for it unless LEDGER_SYNCHRONOUS_COMMIT=on.
      const { wallet } = await createFundedUser(t.db, 1_000n);
      const holdsCommitted = () => (observer.prepare('SELECT COUNT(*) AS n FROM "Hold" WHERE "debitAccountId" = ?').get(wallet.id) as { n: number }).n;
      const reserveInput = { sources: [wallet.id], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 10n, ttlMs: 60_000 };
      let holdsAtAnswer = -1;
      await new Ledger(t.db, {}).reserve({ ...reserveInput, idempotencyKey: newId('req') }).then(() => (holdsAtAnswer = holdsCommitted()));
      expect(holdsAtAnswer).toBe(0);
      await until(() => holdsCommitted() === 1);
      await new Ledger(t.db, { LEDGER_SYNCHRONOUS_COMMIT: 'on' }).reserve({ ...reserveInput, idempotencyKey: newId('req') }).then(() => (holdsAtAnswer = holdsCommitted()));
      expect(holdsAtAnswer).toBe(2);

      // In a batch with a transaction that did not ask (a transfer, a payout's signed record), every
      // item hears only after the commit.
      const [a, b] = [newId('usr'), newId('usr')];
      const seen: number[] = [];
      await Promise.all([
        runner.transaction((tx) => tx.execute(insertUser(a)), { answerBeforeCommit: true }).then(() => seen.push(committed(a).n)),
        runner.transaction((tx) => tx.execute(insertUser(b))).then(() => seen.push(committed(b).n)),
      ]);
      expect(seen).toEqual([1, 1]);

      // A deferred foreign key fails only at COMMIT: answered early, the caller has heard already.
      const orphan = newId('usr');
      const breakAtCommit = async (tx: Parameters<Parameters<typeof runner.transaction>[0]>[0]) => {
        await tx.execute(statement('PRAGMA defer_foreign_keys = ON', []));
        await tx.execute(insertUser(orphan));
        await tx.execute(statement('INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, 0, 0, ?, ?)', [newId('acc'), 'USER_WALLET', `wallet:${orphan}:x`, 'usr_missing', new Date(), new Date()]));
      };
      const error = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
      try {
        await runner.transaction(breakAtCommit, { answerBeforeCommit: true });
        await until(() => error.mock.calls.length > 0);
        expect(committed(orphan).n).toBe(0);
        expect(error).toHaveBeenCalledWith(expect.stringMatching(/answered before its commit failed to commit/), expect.objectContaining({ size: 1 }));
      } finally {
        error.mockRestore();
      }
      // Not answered early, the same failure is the caller's.
      await expect(runner.transaction(breakAtCommit)).rejects.toThrow(/FOREIGN KEY/i);
    } finally {
      observer.close();
    }
  });
});
