// After the load: did every request Tollgate answered get billed exactly once, and is the ledger
// still consistent? Speed bought by skipping the books would not count.
import type { Db } from '../../lib/db/client';
import { auditLedger } from '../../lib/ledger/audit';

/**
 * What a request the load generator cut off when its run ended may leave: CLIENT_ABORTED once the
 * stream had started, or, before the upstream answered, a failed call (UPSTREAM_ERROR with code
 * client_closed_request, charged nothing). Any other non-success outcome is a real failure.
 */
const CUT_OFF_OUTCOMES = new Set(['CLIENT_ABORTED', 'CLIENT_ABORTED/client_closed_request', 'UPSTREAM_ERROR/client_closed_request']);

export type TollgateTally = {
  /** 2xx responses the load generator received from Tollgate (smoke, warm-up and measured runs). */
  ok2xx: number;
  /** Requests sent to Tollgate, including those cut off in flight when a run stopped. */
  sent: number;
};

export type BillingCheck = {
  ok: boolean;
  failures: string[];
  usageRows: number;
  /** Keyed by status, or status/errorCode when the row has an error code. */
  usageRowsByStatus: Record<string, number>;
  tollgate2xx: number;
  tollgateSent: number;
  pendingHolds: number;
  /** Micro-USD taken from the wallet, and the sum of the usage rows' costs: they must agree. */
  walletSpentMicros: string;
  usageCostMicros: string;
  auditOk: boolean;
  auditProblems: string[];
};

/**
 * Waits until no hold is pending and the usage count is steady: a request cut off when a run
 * stopped may still be settling in the server.
 */
export async function waitForQuiet(db: Db, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let previous = -1;
  while (Date.now() < deadline) {
    const [pending, rows] = await Promise.all([db.hold.count({ where: { status: 'PENDING' } }), db.usageRecord.count()]);
    if (pending === 0 && rows === previous) return;
    previous = rows;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

export async function checkBilling(db: Db, input: { walletAccountId: string; initialBalance: bigint; tally: TollgateTally }): Promise<BillingCheck> {
  const [byOutcome, costs, pendingHolds, wallet, audit] = await Promise.all([
    db.usageRecord.groupBy({ by: ['status', 'errorCode'], _count: { _all: true } }),
    db.usageRecord.aggregate({ _sum: { cost: true } }),
    db.hold.count({ where: { status: 'PENDING' } }),
    db.ledgerAccount.findUniqueOrThrow({ where: { id: input.walletAccountId }, select: { balance: true } }),
    auditLedger(db),
  ]);
  const usageRowsByStatus: Record<string, number> = {};
  for (const group of byOutcome) {
    const outcome = group.errorCode ? `${group.status}/${group.errorCode}` : group.status;
    usageRowsByStatus[outcome] = (usageRowsByStatus[outcome] ?? 0) + group._count._all;
  }
  const usageRows = Object.values(usageRowsByStatus).reduce((a, b) => a + b, 0);
  const success = usageRowsByStatus.SUCCESS ?? 0;
  const spent = input.initialBalance - wallet.balance;
  const usageCost = costs._sum.cost ?? 0n;
  const { ok2xx, sent } = input.tally;

  const failures: string[] = [];
  if (!audit.ok) failures.push(`ledger audit failed: ${audit.problems.slice(0, 5).join('; ')}`);
  if (pendingHolds > 0) failures.push(`${pendingHolds} holds still pending after the load stopped`);
  if (success < ok2xx) failures.push(`${ok2xx} successful responses but only ${success} SUCCESS usage rows: some answers were not billed`);
  if (usageRows > sent) failures.push(`${usageRows} usage rows for ${sent} requests sent: some requests were billed twice`);
  for (const [outcome, count] of Object.entries(usageRowsByStatus)) {
    if (!CUT_OFF_OUTCOMES.has(outcome) && outcome !== 'SUCCESS') failures.push(`${count} usage rows with outcome ${outcome}`);
  }
  if (spent !== usageCost) failures.push(`the wallet paid ${spent} micro-USD but the usage rows add up to ${usageCost}`);

  return {
    ok: failures.length === 0,
    failures,
    usageRows,
    usageRowsByStatus,
    tollgate2xx: ok2xx,
    tollgateSent: sent,
    pendingHolds,
    walletSpentMicros: spent.toString(),
    usageCostMicros: usageCost.toString(),
    auditOk: audit.ok,
    auditProblems: audit.problems,
  };
}
