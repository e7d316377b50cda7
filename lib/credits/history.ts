import { sqlFor, type Db } from '../db/client';
import { read, statement } from '../db/sql';
import { utcDay } from '../gateway/day';
import { invalidRequest, parseOrThrow } from '../http/errors';
import { createGuards } from '../http/guards';
import { json } from '../http/json';
import { walletAccountId } from '../ledger/accounts';
import { SETTLED_HOLD_POSTS } from '../ledger/holds';
import { formatUsd, microsToUsd, type Micros } from '../money';
import { creditTotals } from './spendable';
import { creditHistoryQuerySchema, type CreditHistoryItem, type CreditHistoryKind, type CreditHistoryQuery, type CreditHistoryResponse } from './history-schema';

/**
 * Usage settlements are one posting per hold (a settled hold, or a settle transaction for one
 * settled before holds posted themselves; a call's holds share a group): the history sums them per
 * UTC day instead of listing thousands of lines. `settle_late` is a settlement posted after its
 * hold ended.
 */
const SPEND_KINDS: ReadonlySet<string> = new Set(['settle', 'settle_late']);

const KIND_OF: Record<string, Exclude<CreditHistoryKind, 'spend'>> = {
  welcome_credit: 'welcome',
  pack_purchase: 'pack_purchase',
  deposit: 'deposit',
  admin_credit: 'deposit',
  redemption: 'redemption',
};

const LABELS: Record<CreditHistoryKind, string> = {
  welcome: 'Welcome credit',
  pack_purchase: 'Pack purchase',
  deposit: 'Deposit',
  redemption: 'Redeemed code',
  adjustment: 'Refund or adjustment',
  spend: 'Usage',
};

/** Memos are written for operators; these are the words a customer reads when there is none. */
const DEFAULT_MEMOS: Record<CreditHistoryKind, string> = {
  welcome: 'Welcome credit for a new account.',
  pack_purchase: 'Credit pack bought with the wallet.',
  deposit: 'Money added to the wallet.',
  redemption: 'A redemption code credited to the wallet.',
  adjustment: 'A correction to the balance.',
  spend: 'API calls paid for this day.',
};

const CHART_DAYS = 30;

type Step = {
  id: string;
  kind: CreditHistoryKind;
  transactionKind: string;
  memo: string | null;
  at: Date;
  day: string;
  wallet: Micros;
  pack: Micros;
  calls: number;
};

/**
 * Everything the user's own accounts (the wallet and every pack lot, the welcome lot included)
 * ever received or paid, oldest first, with spend summed per day. Running balances are the sum of
 * the signed postings so far (entries, and settled holds): exact bigints, never floats.
 */
async function historySteps(db: Db, userId: string): Promise<{ steps: Step[] }> {
  const lots = await db.packLot.findMany({ where: { userId }, select: { accountId: true } });
  const wallet = walletAccountId(userId);
  const lotAccountIds = new Set(lots.map((l) => l.accountId));
  const accountIds = [wallet, ...lotAccountIds];
  const [entries, spendDays] = await Promise.all([
    db.ledgerEntry.findMany({
      where: { accountId: { in: accountIds }, transaction: { kind: { notIn: [...SPEND_KINDS] } } },
      select: { accountId: true, amount: true, transaction: { select: { id: true, kind: true, memo: true, createdAt: true } } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    }),
    spendPerDay(db, wallet, accountIds),
  ]);
  const byTransaction = new Map<string, Step>();
  for (const entry of entries) {
    const tx = entry.transaction;
    let step = byTransaction.get(tx.id);
    if (!step) {
      step = { id: tx.id, kind: KIND_OF[tx.kind] ?? 'adjustment', transactionKind: tx.kind, memo: tx.memo, at: tx.createdAt, day: utcDay(tx.createdAt), wallet: 0n, pack: 0n, calls: 0 };
      byTransaction.set(tx.id, step);
    }
    if (entry.accountId === wallet) step.wallet += entry.amount;
    else step.pack += entry.amount;
  }
  // A spend day stands at its last settlement, so its balance-after includes the whole day's
  // spend; the sort is stable, so transactions at the same instant keep the ledger's order.
  const steps = [...byTransaction.values(), ...spendDays].sort((a, b) => a.at.getTime() - b.at.getTime());
  return { steps };
}

/**
 * Settlements summed per UTC day in the database, so a heavy user's thousands of calls are a few
 * rows here: the holds that post themselves (holds.ts), and the entries of settle transactions
 * (holds settled before that, and late settlements). A call counts once however many of the
 * user's accounts paid for it: its holds share a group, and before holds posted themselves each
 * hold of a group had a settle transaction of its own, found through the hold that points at it (a
 * late settlement has none: it counts by its transaction). Timestamps are ISO text on SQLite and
 * timestamp(3) in UTC on PostgreSQL.
 */
async function spendPerDay(db: Db, wallet: string, accountIds: string[]): Promise<Step[]> {
  const sql = sqlFor(db);
  const day = (column: string) => (sql.provider === 'sqlite' ? `substr(${column}, 1, 10)` : `to_char(${column}, 'YYYY-MM-DD')`);
  const kinds = [...SPEND_KINDS];
  const list = (n: number) => Array.from({ length: n }, () => '?').join(', ');
  const rows = await sql.query(
    statement(
      `SELECT "day", SUM("wallet") AS "wallet", SUM("pack") AS "pack", SUM("calls") AS "calls", MAX("last") AS "last" FROM (
        SELECT ${day('h."resolvedAt"')} AS "day", SUM(CASE WHEN h."debitAccountId" = ? THEN -h."settledAmount" ELSE 0 END) AS "wallet", SUM(CASE WHEN h."debitAccountId" = ? THEN 0 ELSE -h."settledAmount" END) AS "pack", COUNT(DISTINCT COALESCE(h."groupId", h."id")) AS "calls", MAX(h."resolvedAt") AS "last"
          FROM "Hold" h WHERE h."debitAccountId" IN (${list(accountIds.length)}) AND ${SETTLED_HOLD_POSTS} GROUP BY ${day('h."resolvedAt"')}
        UNION ALL
        SELECT ${day('t."createdAt"')}, SUM(CASE WHEN e."accountId" = ? THEN e."amount" ELSE 0 END), SUM(CASE WHEN e."accountId" = ? THEN 0 ELSE e."amount" END), COUNT(DISTINCT COALESCE(g."groupId", t."id")), MAX(t."createdAt")
          FROM "LedgerEntry" e JOIN "LedgerTransaction" t ON t."id" = e."transactionId" LEFT JOIN "Hold" g ON g."transactionId" = t."id"
          WHERE e."accountId" IN (${list(accountIds.length)}) AND t."kind" IN (${list(kinds.length)}) GROUP BY ${day('t."createdAt"')}
      ) spend GROUP BY "day"`,
      [wallet, wallet, ...accountIds, wallet, wallet, ...accountIds, ...kinds],
    ),
  );
  return rows.map((row) => {
    const day = read.string(row.day);
    return {
      id: `spend_${day}`,
      kind: 'spend',
      transactionKind: 'settle',
      memo: null,
      at: read.nullableDate(row.last)!,
      day,
      wallet: read.bigint(row.wallet ?? 0),
      pack: read.bigint(row.pack ?? 0),
      calls: read.int(row.calls),
    };
  });
}

function itemOf(step: Step, balanceAfter: Micros): CreditHistoryItem {
  const amount = step.wallet + step.pack;
  return {
    id: step.id,
    kind: step.kind,
    label: LABELS[step.kind],
    date: step.at.toISOString(),
    day: step.day,
    amount_usd: microsToUsd(amount),
    amount_display: formatUsd(amount),
    wallet_change_usd: microsToUsd(step.wallet),
    pack_change_usd: microsToUsd(step.pack),
    balance_after_usd: microsToUsd(balanceAfter),
    balance_after_display: formatUsd(balanceAfter),
    receipt: step.kind === 'spend' ? null : { transaction_id: step.id, transaction_kind: step.transactionKind, memo: plainMemo(step) },
    calls: step.kind === 'spend' ? step.calls : null,
  };
}

function plainMemo(step: Step): string {
  const memo = step.memo?.trim();
  if (!memo) return DEFAULT_MEMOS[step.kind];
  return `${memo.charAt(0).toUpperCase()}${memo.slice(1)}`;
}

/** End-of-day balances for the `days` UTC days ending today, carried forward over quiet days. */
function chartOf(items: CreditHistoryItem[], now: Date, days = CHART_DAYS): Array<{ day: string; balance_usd: string }> {
  const lastBalanceOfDay = new Map<string, string>();
  for (const item of items) lastBalanceOfDay.set(item.day, item.balance_after_usd);
  const firstDay = utcDay(new Date(now.getTime() - (days - 1) * 86_400_000));
  let carried = '0.000000';
  for (const item of items) if (item.day < firstDay) carried = item.balance_after_usd;
  const chart: Array<{ day: string; balance_usd: string }> = [];
  for (let i = days - 1; i >= 0; i -= 1) {
    const day = utcDay(new Date(now.getTime() - i * 86_400_000));
    carried = lastBalanceOfDay.get(day) ?? carried;
    chart.push({ day, balance_usd: carried });
  }
  return chart;
}

/** The user's credit history page, newest first, with totals and the 30-day chart. */
export async function creditHistory({ db, userId, query, now = new Date() }: { db: Db; userId: string; query: CreditHistoryQuery; now?: Date }): Promise<CreditHistoryResponse> {
  const { steps } = await historySteps(db, userId);
  let running = 0n;
  const ascending = steps.map((step) => {
    running += step.wallet + step.pack;
    return itemOf(step, running);
  });
  const newestFirst = [...ascending].reverse();
  let start = 0;
  if (query.cursor) {
    const index = newestFirst.findIndex((item) => item.id === query.cursor);
    if (index < 0) throw invalidRequest("Invalid 'cursor': not an item of this history.", 'cursor');
    start = index + 1;
  }
  const page = newestFirst.slice(start, start + query.limit);
  const more = start + query.limit < newestFirst.length;

  const totals = (await creditTotals({ db, userIds: [userId], now })).get(userId)!;
  const walletBalance = totals.wallet;
  const packCredit = totals.pack;
  const total = walletBalance + packCredit;
  return {
    object: 'credit_history',
    totals: {
      wallet_usd: microsToUsd(walletBalance),
      pack_credit_usd: microsToUsd(packCredit),
      total_usd: microsToUsd(total),
      wallet_display: formatUsd(walletBalance),
      pack_credit_display: formatUsd(packCredit),
      total_display: formatUsd(total),
    },
    chart: chartOf(ascending, now),
    data: page,
    next_cursor: more ? page.at(-1)!.id : null,
  };
}

/** GET /api/credits/history — the caller's own history only (session or management key). */
export function createCreditsHistoryApi({ db, env = process.env }: { db: Db; env?: Record<string, string | undefined> }) {
  const guard = createGuards({ db, env }).principal;
  const history = guard(async ({ request, principal }) => {
    const query = parseOrThrow(creditHistoryQuerySchema, Object.fromEntries(new URL(request.url).searchParams));
    return json(await creditHistory({ db, userId: principal.userId, query }), { headers: { 'cache-control': 'no-store' } });
  });
  return { history };
}
