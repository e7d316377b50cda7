import type { Db } from '../db/client';
import { mayGoNegative, sellerPoolAccountId } from './accounts';

export type AuditReport = { ok: boolean; problems: string[]; accounts: number; transactions: number; pendingHolds: number };

/**
 * Recomputes every balance from the postings and checks the ledger's invariants: each transaction
 * balanced, all accounts summing to zero, each account's balance equal to its postings (its entries
 * and the settled holds that post themselves: holds.ts) and its available balance equal to balance
 * minus pending holds, no non-contra account negative, and every hold resolved at most once and
 * consistently with what was posted; and,
 * unless `calls` is false, the gateway's calls against their holds and usage rows (auditCalls).
 */
export async function auditLedger(db: Db, { calls = true }: { calls?: boolean } = {}): Promise<AuditReport> {
  const problems: string[] = [];

  const postedByHold = { status: 'SETTLED' as const, transactionId: null };
  const [accounts, entrySumsByAccount, holdDebits, holdCredits, entrySumsByTransaction, pendingByAccount, holds, transactionCount] = await Promise.all([
    db.ledgerAccount.findMany({ select: { id: true, balance: true, available: true } }),
    db.ledgerEntry.groupBy({ by: ['accountId'], _sum: { amount: true } }),
    db.hold.groupBy({ by: ['debitAccountId'], where: postedByHold, _sum: { settledAmount: true } }),
    db.hold.groupBy({ by: ['creditAccountId'], where: postedByHold, _sum: { settledAmount: true } }),
    db.ledgerEntry.groupBy({ by: ['transactionId'], _sum: { amount: true }, _count: { _all: true } }),
    db.hold.groupBy({ by: ['debitAccountId'], where: { status: 'PENDING' }, _sum: { amount: true } }),
    db.hold.findMany({
      where: { status: { not: 'PENDING' } },
      select: {
        id: true,
        status: true,
        amount: true,
        settledAmount: true,
        debitAccountId: true,
        creditAccountId: true,
        resolvedAt: true,
        transaction: { select: { kind: true, entries: { select: { accountId: true, amount: true } } } },
      },
    }),
    db.ledgerTransaction.count(),
  ]);

  for (const group of entrySumsByTransaction) {
    const sum = group._sum.amount ?? 0n;
    if (sum !== 0n) problems.push(`transaction ${group.transactionId} is unbalanced by ${sum}`);
    if (group._count._all < 2) problems.push(`transaction ${group.transactionId} has fewer than two entries`);
  }

  const postingSum = new Map(entrySumsByAccount.map((g) => [g.accountId, g._sum.amount ?? 0n]));
  for (const g of holdDebits) postingSum.set(g.debitAccountId, (postingSum.get(g.debitAccountId) ?? 0n) - (g._sum.settledAmount ?? 0n));
  for (const g of holdCredits) postingSum.set(g.creditAccountId, (postingSum.get(g.creditAccountId) ?? 0n) + (g._sum.settledAmount ?? 0n));
  const pending = new Map(pendingByAccount.map((g) => [g.debitAccountId, g._sum.amount ?? 0n]));
  let total = 0n;
  for (const account of accounts) {
    total += account.balance;
    const posted = postingSum.get(account.id) ?? 0n;
    if (account.balance !== posted) problems.push(`account ${account.id} balance ${account.balance} != postings ${posted}`);
    const held = pending.get(account.id) ?? 0n;
    if (account.available !== account.balance - held) {
      problems.push(`account ${account.id} available ${account.available} != balance ${account.balance} - pending holds ${held}`);
    }
    if (!mayGoNegative(account.id) && (account.balance < 0n || account.available < 0n)) {
      problems.push(`account ${account.id} is negative (balance ${account.balance}, available ${account.available})`);
    }
  }
  if (total !== 0n) problems.push(`accounts sum to ${total}, not zero`);

  for (const hold of holds) {
    if (!hold.resolvedAt) problems.push(`hold ${hold.id} is ${hold.status} without a resolution time`);
    const posted = hold.transaction?.entries ?? [];
    if (hold.status === 'SETTLED') {
      const settled = hold.settledAmount ?? -1n;
      if (settled < 0n || settled > hold.amount) problems.push(`hold ${hold.id} settled ${settled} outside 0..${hold.amount}`);
      // A hold settled with a transaction (before holds posted themselves) is posted by its entries.
      const debit = posted.find((e) => e.accountId === hold.debitAccountId)?.amount ?? 0n;
      const credit = posted.find((e) => e.accountId === hold.creditAccountId)?.amount ?? 0n;
      if (hold.transaction && (posted.length !== 2 || debit !== -settled || credit !== settled)) {
        problems.push(`hold ${hold.id} settled ${settled} but its transaction posts ${debit}/${credit}`);
      }
      if (settled === 0n && posted.length > 0) problems.push(`hold ${hold.id} settled zero but posted a transaction`);
    } else if (posted.length > 0 || hold.settledAmount !== null) {
      problems.push(`hold ${hold.id} is ${hold.status} but posted money`);
    }
  }

  // A settle transaction belongs to exactly one hold (Hold.transactionId is unique); one without
  // a hold would be money posted by a resolution that did not happen.
  const orphanSettles = await db.ledgerTransaction.count({ where: { kind: 'settle', hold: { is: null } } });
  if (orphanSettles > 0) problems.push(`${orphanSettles} settle transactions have no hold`);

  // A pool's row says what its account says: drawn is the face value it no longer has.
  const balances = new Map(accounts.map((a) => [a.id, a.balance]));
  for (const pool of await db.sellerPool.findMany({ select: { id: true, faceValue: true, drawn: true } })) {
    const left = balances.get(sellerPoolAccountId(pool.id));
    if (left === undefined) continue; // listed before pools had accounts: it never served
    if (pool.drawn !== pool.faceValue - left) problems.push(`pool ${pool.id} drawn ${pool.drawn} != face value ${pool.faceValue} - account ${left}`);
  }

  if (calls) problems.push(...(await auditCalls(db)));

  return { ok: problems.length === 0, problems, accounts: accounts.length, transactions: transactionCount, pendingHolds: pending.size };
}

/**
 * The gateway's calls, against their holds (keyed `hold:<requestId>`, `hold:<requestId>:<n>`):
 * a call whose holds were settled or released has exactly one usage row; its cost is what the
 * holds posted, so a served call is never unbilled nor a failed one charged; a call whose holds
 * lapsed mid-call is charged by its late settlement, exactly the row's cost; a call whose
 * settlement failed for good (its row flagged settle_failed) is reported. (Lapsed holds with no
 * row are calls whose process died: nothing was billed, nothing recorded.) Meant for a quiet
 * database: its reads are not one snapshot, so calls in flight may show as half done.
 */
async function auditCalls(db: Db): Promise<string[]> {
  const problems: string[] = [];
  const [holds, usageRows, lateSettlements] = await Promise.all([
    db.hold.findMany({ where: { idempotencyKey: { startsWith: 'hold:' } }, select: { idempotencyKey: true, status: true, settledAmount: true } }),
    db.usageRecord.findMany({ select: { requestId: true, status: true, cost: true, errorCode: true } }),
    db.ledgerTransaction.findMany({ where: { kind: 'settle_late' }, select: { idempotencyKey: true, entries: { select: { amount: true } } } }),
  ]);
  const calls = new Map<string, { statuses: Set<string>; settled: bigint }>();
  for (const hold of holds) {
    const requestId = hold.idempotencyKey.slice('hold:'.length).split(':')[0]!;
    const call = calls.get(requestId) ?? { statuses: new Set<string>(), settled: 0n };
    call.statuses.add(hold.status);
    call.settled += hold.settledAmount ?? 0n;
    calls.set(requestId, call);
  }
  const late = new Map(lateSettlements.map((t) => [t.idempotencyKey.slice('late:settle:'.length), t.entries.reduce((sum, e) => (e.amount > 0n ? sum + e.amount : sum), 0n)]));
  const rows = new Map(usageRows.map((row) => [row.requestId, row]));

  for (const [requestId, call] of calls) {
    const row = rows.get(requestId);
    if (call.statuses.has('PENDING')) {
      if (row) problems.push(`call ${requestId} has a usage row but a hold still pending`);
      continue;
    }
    if (call.statuses.has('SETTLED') || call.statuses.has('RELEASED')) {
      if (!row) problems.push(`call ${requestId} resolved its holds without a usage row`);
      else if (call.statuses.has('SETTLED') && row.status === 'UPSTREAM_ERROR') problems.push(`call ${requestId} failed but its holds were settled`);
      else if (row.cost !== call.settled) problems.push(`call ${requestId} cost ${row.cost} but its holds posted ${call.settled}`);
      continue;
    }
    // Every hold expired.
    if (row && row.cost !== (late.get(requestId) ?? 0n)) problems.push(`call ${requestId} outlived its holds: cost ${row.cost} but its late settlement posted ${late.get(requestId) ?? 0n}`);
  }
  for (const row of usageRows) {
    if (!calls.has(row.requestId)) problems.push(`usage row for ${row.requestId} has no hold`);
    if (row.errorCode === 'settle_failed') problems.push(`call ${row.requestId} was served but its settlement failed: never billed`);
  }
  for (const requestId of late.keys()) {
    if (!rows.has(requestId)) problems.push(`late settlement of ${requestId} has no usage row`);
  }
  return problems;
}
