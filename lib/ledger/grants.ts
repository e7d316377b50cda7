import { sql, statement, type SqlExecutor, type SqlValue } from '../db/sql';
import type { Micros } from '../money';
import { LedgerError } from './errors';
import { toAccountState, type AccountState, type DailyQuota, type HoldRef, type UsageRow } from './holds';

/**
 * A grant's postings (docs/grants.md): calls served from money an instance reserved ahead, written
 * as the rows the same calls would have left behind had each reserved and settled on its own.
 *
 * A grant is an ordinary pending hold on a wallet (opened and, unused, released with the ledger's
 * reserve and release: the sweeper releases one whose instance died). Posting its calls moves what
 * they cost out of it: each call's hold row is written already resolved (SETTLED at its cost, the
 * posting itself; or RELEASED), the grant's amount goes down by the total, the wallet's balance
 * with it (its available balance does not move: the money was held), the credit account up; the
 * key's day counts the calls served and their spend. Closing releases what is left, as a release
 * does, in the same transaction.
 */

/** A call served (or failed) on a grant's money. */
export type GrantedCall = {
  /** The id of the call's hold row; the row is keyed `hold:<requestId>`, resolved `settle:`/`release:<requestId>`. */
  holdId: string;
  requestId: string;
  /** The call's maximum: what it drew from the grant, and its hold row's amount. */
  amount: Micros;
  /** What it cost (0 when released); never above `amount`. */
  cost: Micros;
  status: 'SETTLED' | 'RELEASED';
  memo: string | null;
  /** When the call drew on the grant, and when it ended: the hold row's creation and resolution. */
  drawnAt: Date;
  endedAt: Date;
  usage: UsageRow;
};

export type GrantPosting = {
  /** The grant's hold as it stands (its amount after earlier postings). */
  grant: HoldRef;
  quota: DailyQuota;
  calls: GrantedCall[];
  /**
   * Give back this much of what is left once the calls are posted (money no call holds), to the
   * wallet and the key's budget, keeping the grant open; ignored when closing.
   */
  release: Micros;
  /** Release all that is left once the calls are posted, and give the key its budget and request back. */
  close: boolean;
  /** The closing resolution's key (`close` only): the grant's `resolveIdempotencyKey`. */
  closeKey: string;
  now: Date;
};

/** The grant after a posting (null once closed) and the wallet's balances. */
export type GrantPosted = { grant: HoldRef | null; wallet: AccountState };

/** Thrown when the grant is not pending with the amount given: a replay, or lost to the sweeper. */
export class GrantNotPending extends Error {}

/** Checks a posting before anything is written: costs within each call's maximum, the total within the grant. */
export function checkPosting(posting: GrantPosting): { cost: Micros; served: number } {
  let cost = 0n;
  let served = 0;
  for (const call of posting.calls) {
    if (call.amount <= 0n) throw new LedgerError('invalid_transaction', `call ${call.requestId} drew nothing from the grant`);
    if (call.cost < 0n || call.cost > call.amount) throw new LedgerError('settle_exceeds_hold', `call ${call.requestId} cost ${call.cost} outside 0..${call.amount}`);
    if (call.status === 'RELEASED' && call.cost !== 0n) throw new LedgerError('invalid_transaction', `released call ${call.requestId} cannot cost anything`);
    if (call.usage.requestId !== call.requestId || call.usage.cost !== call.cost) throw new LedgerError('invalid_transaction', `call ${call.requestId}'s usage row does not match it`);
    cost += call.cost;
    if (call.status === 'SETTLED') served++;
  }
  if (posting.release < 0n) throw new LedgerError('invalid_transaction', 'a grant cannot release a negative amount');
  if (cost + (posting.close ? 0n : posting.release) > posting.grant.amount) {
    throw new LedgerError('settle_exceeds_hold', `the calls cost ${cost} and ${posting.release} is to be released, more than the grant's ${posting.grant.amount}`);
  }
  return { cost, served };
}

/**
 * One posting, in the caller's transaction. Lock order as PostgreSQL's hold functions take theirs
 * (prisma/migrations/postgresql): the wallet first, then the grant's hold, the key, and the revenue
 * account last, so that it never deadlocks with a call's own settlement or the sweeper, and holds
 * the one account every settlement credits for as short a time as it can.
 */
export async function postGrant(tx: SqlExecutor, posting: GrantPosting): Promise<GrantPosted> {
  const { cost, served } = checkPosting(posting);
  const { grant, quota, now } = posting;
  const released = posting.close ? grant.amount - cost : posting.release;
  const left = grant.amount - cost - released;
  // The wallet gives up what the calls cost (its available balance does not move: the money was
  // held) and gets back what is released; if the grant below turns out not to be pending, the
  // transaction rolls this back.
  const [wallet] = await tx.query(
    sql`UPDATE "LedgerAccount" SET "balance" = "balance" - ${cost}, "available" = "available" + ${released}, "updatedAt" = ${now} WHERE "id" = ${grant.debitAccountId} RETURNING "id", "balance", "available"`,
  );
  if (!wallet) throw new LedgerError('account_not_found', `account ${grant.debitAccountId} does not exist`);
  // Matching the amount makes each posting apply once: a replay finds the grant smaller (or closed).
  // A closed grant keeps as its amount what it released, as a released hold does.
  const updated = posting.close
    ? await tx.execute(
        sql`UPDATE "Hold" SET "amount" = ${released}, "status" = 'RELEASED', "resolveIdempotencyKey" = ${posting.closeKey}, "resolvedAt" = ${now} WHERE "id" = ${grant.id} AND "status" = 'PENDING' AND "amount" = ${grant.amount} AND "debitAccountId" = ${grant.debitAccountId} AND "creditAccountId" = ${grant.creditAccountId}`,
      )
    : await tx.execute(
        sql`UPDATE "Hold" SET "amount" = ${left} WHERE "id" = ${grant.id} AND "status" = 'PENDING' AND "amount" = ${grant.amount} AND "debitAccountId" = ${grant.debitAccountId} AND "creditAccountId" = ${grant.creditAccountId}`,
      );
  if (updated !== 1) throw new GrantNotPending();

  for (const chunk of chunks(posting.calls)) await tx.execute(callHoldRows(chunk, grant, quota));
  // Only on the grant's own day, as every return of quota: counters of a later day started afresh.
  await tx.execute(
    sql`UPDATE "ApiKey" SET "spentToday" = "spentToday" + ${cost}, "requestsToday" = "requestsToday" + ${posting.close ? served - 1 : served}, "committedToday" = "committedToday" - ${released}, "lastUsedAt" = ${now}, "updatedAt" = ${now} WHERE "id" = ${quota.keyId} AND "usageDay" = ${quota.day}`,
  );
  for (const chunk of chunks(posting.calls)) await tx.execute(usageRows(chunk));
  if (cost > 0n) {
    await tx.execute(sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${cost}, "available" = "available" + ${cost}, "updatedAt" = ${now} WHERE "id" = ${grant.creditAccountId}`);
  }
  return { grant: posting.close ? null : { ...grant, amount: left }, wallet: toAccountState(wallet) };
}

const HOLD_COLUMNS = '"id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "settledAmount", "resolveIdempotencyKey", "memo", "expiresAt", "createdAt", "resolvedAt", "quotaKeyId", "quotaDay"';
const HOLD_VALUES = `(${HOLD_COLUMNS.split(',').map(() => '?').join(', ')})`;

/** The calls' hold rows, as a `settle`/`release` would have left them (no expiry left to run). */
function callHoldRows(calls: GrantedCall[], grant: HoldRef, quota: DailyQuota) {
  const args: SqlValue[] = [];
  for (const c of calls) {
    const settled = c.status === 'SETTLED';
    args.push(c.holdId, `hold:${c.requestId}`, grant.debitAccountId, grant.creditAccountId, c.amount, c.status, settled ? c.cost : null, `${settled ? 'settle' : 'release'}:${c.requestId}`, c.memo, c.endedAt, c.drawnAt, c.endedAt, quota.keyId, quota.day);
  }
  return statement(`INSERT INTO "Hold" (${HOLD_COLUMNS}) VALUES ${calls.map(() => HOLD_VALUES).join(', ')}`, args);
}

const USAGE_COLUMNS = '"id", "requestId", "userId", "apiKeyId", "modelId", "providerId", "stream", "promptTokens", "completionTokens", "cachedTokens", "cost", "latencyMs", "status", "errorCode", "sellerPoolId", "createdAt"';
const USAGE_VALUES = `(${USAGE_COLUMNS.split(',').map(() => '?').join(', ')})`;

/** The calls' usage rows (holds.ts insertUsage, a chunk at a time). */
function usageRows(calls: GrantedCall[]) {
  const args: SqlValue[] = [];
  for (const { usage: u } of calls) {
    args.push(u.id, u.requestId, u.userId, u.apiKeyId, u.modelId, u.providerId, u.stream, u.promptTokens, u.completionTokens, u.cachedTokens, u.cost, u.latencyMs, u.status, u.errorCode, u.sellerPoolId ?? null, u.createdAt);
  }
  return statement(`INSERT INTO "UsageRecord" (${USAGE_COLUMNS}) VALUES ${calls.map(() => USAGE_VALUES).join(', ')}`, args);
}

/**
 * Rows in chunks of 32, 8 and 1: a multi-row INSERT's text depends on its row count, and each text
 * takes a place in the runners' statement caches for good; three texts cover every posting.
 */
function* chunks<T>(rows: T[]): Generator<T[]> {
  let at = 0;
  for (const size of [32, 8, 1]) {
    while (rows.length - at >= size) {
      yield rows.slice(at, at + size);
      at += size;
    }
  }
}
