import type { Db } from '../../lib/db/client';
import { auditLedger } from '../../lib/ledger';
import { DEFAULT_BEHAVIOR } from '../fake-upstream';
import type { CallRecord } from './world';

/*
 * The invariants of a quiesced schedule, each problem tagged with its number:
 *  1 audit       auditLedger finds nothing (balances, holds, and calls against their holds);
 *  2 billing     each whole 2xx answer has exactly one SUCCESS usage row, whose cost is what the
 *                client was told; a replay has no row and no holds of its own and is a whole answer;
 *                an Idempotency-Key is charged in full once; no usage row no client can account for;
 *  3 failed      each error answer (or stream ended by an error event) cost 0; no answer is cut
 *                short on a live instance, and no 5xx is the gateway's own;
 *  4 money       no user account below zero or still holding; each customer has exactly what it put
 *                in less what its usage rows cost;
 *  5 pending     no hold PENDING;
 *  6 quota       per key and UTC day of reservation, charged calls within the request limit and
 *                their cost within the budget; the key's counters equal that day's calls;
 *  7 revocation  no call sent after a revocation is served; after the key cache's TTL, each is a 401;
 *  8 price       a served call is charged what the upstream reported at the catalog's sell prices
 *                (rounded up once), capped at its hold.
 */

/**
 * Whether the sweeper gives a dead call's reservation back to its key's daily limits (it does since
 * 9378cdc: holds record their key and day). With true, every key's day is held to the full
 * invariant: committedToday = spentToday once nothing is pending, and requestsToday counts the calls
 * that were charged. With false (the sweeper before that change), a key whose call was swept (its
 * instance crashed, or its holds lapsed and its release found them gone) is expected to keep that
 * call's request and hold: committedToday = spentToday + what the swept calls held.
 */
export const SWEEPER_RETURNS_QUOTA = true;

export type SimCustomer = {
  index: number;
  userId: string;
  keyId: string;
  /** What the customer put in: the wallet's grant, less a pack's price plus its face value. */
  funds: bigint;
  dailyRequestLimit: number | null;
  dailyBudget: bigint | null;
  /** performance.now() when the revocation was answered, or null. */
  revokedAt: number | null;
};

export type SimFacts = {
  db: Db;
  customers: SimCustomer[];
  records: CallRecord[];
  /**
   * Request ids whose settlement (usage row) a crash rolled back with its instance's open commit
   * window, read in the window before and after the rollback (test/sim/world.ts): on SQLite a call
   * may be answered before its settlement commits (lib/db/sqlite-runner.ts), and a crash of the
   * process then costs an uncharged call.
   */
  lostToCrashes: Set<string>;
  keyCacheMs: number;
  /** Whether Date jumped forward (by more than HOLD_TTL_MS) during the schedule. */
  clockJumped: boolean;
};

type CallState = 'pending' | 'settled' | 'released' | 'late' | 'swept';
type DbCall = { requestId: string; userId: string | null; day: string; reservedAt: Date; held: bigint; state: CallState };

const utcDay = (date: Date) => date.toISOString().slice(0, 10);
const is2xx = (status: number | null) => status !== null && status >= 200 && status < 300;

/**
 * How a client would judge its call, from what it saw alone:
 * - ok: a whole 2xx answer (a JSON completion, or a stream that ended with [DONE] and no error);
 * - replay: a whole 2xx answer replayed for an Idempotency-Key;
 * - failed: a whole error answer (4xx/5xx), or a stream that ended with an error event;
 * - unknown: the client hung up, or the instance crashed or was down: either way may be true;
 * - broken: an answer cut short on a live instance the client did not leave (the gateway's fault).
 */
export type Verdict = 'ok' | 'replay' | 'failed' | 'unknown' | 'broken';

export function verdictOf(r: CallRecord): Verdict {
  if (r.complete && is2xx(r.status) && r.replayed) return 'replay';
  if (r.complete && is2xx(r.status)) {
    if (!r.spec.stream) return r.errorCode === null && r.body.includes('"choices"') ? 'ok' : 'broken';
    if (r.errorEvent && !r.sawDone) return 'failed';
    return r.sawDone && !r.errorEvent ? 'ok' : 'broken';
  }
  if (r.complete && r.status !== null && r.status >= 400) return 'failed';
  if (r.aborted || r.crashed || r.instanceDown) return 'unknown';
  return 'broken';
}

/** The prompt and completion tokens the fake upstream reported for a call (its usage directive, or the fake's default), when it reported any. */
function reportedUsage(r: CallRecord): [number, number] | null {
  if (r.spec.model === 'tollgate-local') return null;
  const directives = r.spec.fault?.split(',') ?? [];
  if (directives.includes('no_usage')) return null;
  const usage = directives.find((d) => d.startsWith('usage='));
  if (!usage) return [DEFAULT_BEHAVIOR.usage.prompt_tokens, DEFAULT_BEHAVIOR.usage.completion_tokens];
  const [prompt, completion] = usage.slice('usage='.length).split('/').map(Number);
  return [prompt!, completion!];
}

/** How often each situation came up: what a run of schedules covered. */
export type Coverage = Record<string, number>;

/** Every invariant of a quiesced schedule; each problem names its invariant. */
export async function checkInvariants({ db, customers, records, lostToCrashes, keyCacheMs, clockJumped }: SimFacts): Promise<{ problems: string[]; coverage: Coverage }> {
  const problems: string[] = [];
  const coverage: Coverage = {};
  const count = (what: string, n = 1) => {
    if (n > 0) coverage[what] = (coverage[what] ?? 0) + n;
  };
  const userIds = customers.map((c) => c.userId);
  const offerings = new Map((await db.modelOffering.findMany({ select: { modelId: true, sellInputPer1M: true, sellOutputPer1M: true } })).map((o) => [o.modelId, o]));
  const lots = await db.packLot.findMany({ where: { userId: { in: userIds } }, select: { userId: true, accountId: true } });
  const [audit, rows, holds, lateSettlements, keys, accounts] = await Promise.all([
    auditLedger(db),
    db.usageRecord.findMany({ select: { requestId: true, userId: true, apiKeyId: true, status: true, cost: true, errorCode: true, createdAt: true, promptTokens: true, completionTokens: true } }),
    db.hold.findMany({ select: { idempotencyKey: true, status: true, amount: true, settledAmount: true, createdAt: true, debitAccountId: true } }),
    db.ledgerTransaction.findMany({ where: { kind: 'settle_late' }, select: { idempotencyKey: true } }),
    db.apiKey.findMany({ where: { id: { in: customers.map((c) => c.keyId) } } }),
    db.ledgerAccount.findMany({
      where: { OR: [{ userId: { in: userIds } }, { id: { in: lots.map((l) => l.accountId) } }] },
      select: { id: true, userId: true, balance: true, available: true },
    }),
  ]);

  // 1. The ledger's own audit, calls against their holds included.
  for (const problem of audit.problems) problems.push(`[1 audit] ${problem}`);

  // The calls as the database has them: a call's holds are keyed hold:<requestId>[:n]; whose they
  // are follows from the account they hold (each customer has one inference key).
  const ownerOf = new Map<string, string>(accounts.flatMap((a) => (a.userId ? [[a.id, a.userId] as [string, string]] : [])));
  for (const lot of lots) ownerOf.set(lot.accountId, lot.userId);
  const rowOf = new Map(rows.map((row) => [row.requestId, row]));
  const late = new Set(lateSettlements.map((t) => t.idempotencyKey.slice('late:settle:'.length)));
  const calls = new Map<string, DbCall & { statuses: Set<string> }>();
  for (const hold of holds) {
    if (!hold.idempotencyKey.startsWith('hold:')) continue;
    const requestId = hold.idempotencyKey.slice('hold:'.length).split(':')[0]!;
    const call = calls.get(requestId) ?? { requestId, userId: ownerOf.get(hold.debitAccountId) ?? null, day: '', reservedAt: hold.createdAt, held: 0n, state: 'pending' as CallState, statuses: new Set<string>() };
    // The first hold carries the key itself; its creation is the reservation (and its UTC day, the quota's).
    if (hold.idempotencyKey === `hold:${requestId}`) {
      call.day = utcDay(hold.createdAt);
      call.reservedAt = hold.createdAt;
    }
    call.held += hold.amount;
    call.statuses.add(hold.status);
    calls.set(requestId, call);
  }
  for (const call of calls.values()) {
    if (call.statuses.has('PENDING')) call.state = 'pending';
    else if (call.statuses.has('SETTLED')) call.state = 'settled';
    else if (call.statuses.has('RELEASED')) call.state = 'released';
    // Every hold expired: charged late (a row, hold_lapsed), or not at all (no row, or one the
    // gateway wrote outside the ledger when it could not settle: settle_failed, which the audit reports).
    else call.state = late.has(call.requestId) || rowOf.get(call.requestId)?.errorCode === 'hold_lapsed' ? 'late' : 'swept';
  }

  // 5. Nothing pending once quiesced and swept.
  for (const hold of holds) if (hold.status === 'PENDING') problems.push(`[5 pending] hold ${hold.idempotencyKey} is still PENDING after the final sweep`);

  // 2 and 3. Each call's usage row against what its client saw.
  const seen = new Map<string, CallRecord>();
  for (const r of records) {
    const verdict = verdictOf(r);
    const tag = `call #${r.spec.n}`;
    if (r.requestId) {
      if (seen.has(r.requestId)) problems.push(`[2 billing] ${tag} and #${seen.get(r.requestId)!.spec.n} got the same request id ${r.requestId}`);
      seen.set(r.requestId, r);
    }
    const row = r.requestId ? rowOf.get(r.requestId) : undefined;
    if (verdict === 'broken') {
      problems.push(`[3 failed] ${tag}: an answer cut short on a live instance (status ${r.status}, ${r.networkError ?? (r.spec.stream ? 'stream ended without [DONE] or an error event' : 'not a completion')})`);
    }
    if (r.complete && r.status !== null && r.status >= 500 && r.status !== 502 && r.status !== 503 && r.status !== 504) {
      problems.push(`[3 failed] ${tag}: the gateway answered ${r.status} ${r.errorCode ?? ''} (a fault of its own, not the upstream's)`);
    }
    if ((verdict === 'ok' || verdict === 'replay' || verdict === 'failed') && !r.requestId) problems.push(`[2 billing] ${tag}: a ${r.status} answer without x-request-id`);
    // Answered, then its settlement lost with its instance's open commit window: an uncharged call,
    // never a charge without its call. Its holds are then gone with it or left to the sweeper.
    const lost = r.requestId !== null && lostToCrashes.has(r.requestId);
    const lostHoldState = lost ? calls.get(r.requestId!)?.state : undefined;
    if (lost && row) problems.push(`[2 billing] ${tag} (${r.requestId}): its settlement was rolled back with a crashed commit window, yet it has a usage row`);
    if (lostHoldState === 'settled' || lostHoldState === 'late') problems.push(`[2 billing] ${tag} (${r.requestId}): its settlement was rolled back with a crashed commit window, yet its holds are ${lostHoldState}`);
    if (verdict === 'ok' && lost) count('call served, then its settlement lost with a crashed commit window (uncharged)');
    else if (verdict === 'ok') {
      if (!row) problems.push(`[2 billing] ${tag} (${r.requestId}) was served but has no usage row: served free`);
      else if (row.status !== 'SUCCESS') problems.push(`[2 billing] ${tag} (${r.requestId}) was served in full but its usage row says ${row.status}`);
      else {
        if (r.clientCost !== null && r.clientCost !== row.cost) problems.push(`[2 billing] ${tag} (${r.requestId}) told its client it cost ${r.clientCost} but was charged ${row.cost}`);
        if (r.headerCost !== null && r.headerCost !== row.cost) problems.push(`[2 billing] ${tag} (${r.requestId}) x-tollgate-cost-usd says ${r.headerCost} but was charged ${row.cost}`);
        const call = calls.get(r.requestId!);
        if (!call || (call.state !== 'settled' && call.state !== 'late')) problems.push(`[2 billing] ${tag} (${r.requestId}) was served but its holds are ${call?.state ?? 'missing'}`);
        // 8. Charged for what the upstream reported, at the catalog's sell prices (rounded up once), never more than the hold.
        const reported = reportedUsage(r);
        const offering = offerings.get(r.spec.model);
        if (reported && offering && call && row.errorCode !== 'hold_lapsed') {
          const [prompt, completion] = reported;
          const priced = (BigInt(prompt) * offering.sellInputPer1M + BigInt(completion) * offering.sellOutputPer1M + 999_999n) / 1_000_000n;
          const expected = priced < call.held ? priced : call.held;
          if (row.promptTokens !== prompt || row.completionTokens !== completion || row.cost !== expected) {
            problems.push(`[8 price] ${tag} (${r.requestId}): the upstream reported ${prompt}/${completion} tokens (cost ${priced}, hold ${call.held}) but the row has ${row.promptTokens}/${row.completionTokens} and cost ${row.cost}`);
          }
        }
      }
    }
    if (verdict === 'replay') {
      if (row) problems.push(`[2 billing] ${tag} (${r.requestId}) is a replay of ${r.spec.idempotencyKey} but has a usage row of its own (cost ${row.cost})`);
      if (calls.has(r.requestId!)) problems.push(`[2 billing] ${tag} (${r.requestId}) is a replay but reserved holds of its own`);
      // Only a call charged in full completes its key's record, so a replay is a whole answer.
      if (r.spec.stream ? !r.sawDone || r.errorEvent : !r.body.includes('"choices"')) problems.push(`[2 billing] ${tag} (${r.requestId}) replayed ${r.spec.idempotencyKey} as an incomplete answer: ${r.body.slice(-200)}`);
      // The call whose answer was charged and so recorded: one whose settlement a crash rolled back may have answered too.
      const original = records.find((o) => o !== r && o.spec.idempotencyKey === r.spec.idempotencyKey && verdictOf(o) === 'ok' && o.requestId !== null && rowOf.get(o.requestId)?.status === 'SUCCESS');
      if (original && original.body !== r.body) problems.push(`[2 billing] ${tag} replayed ${r.spec.idempotencyKey} with another answer than #${original.spec.n} got`);
    }
    if (verdict === 'failed' && row) {
      if (row.cost !== 0n) problems.push(`[3 failed] ${tag} (${r.requestId}) failed (${r.status}${r.errorEvent ? ', error event' : ''} ${r.errorCode ?? ''}) but was charged ${row.cost}`);
      if (row.status === 'SUCCESS') problems.push(`[3 failed] ${tag} (${r.requestId}) failed but its usage row says SUCCESS`);
    }
  }
  // An Idempotency-Key is charged in full at most once, whichever instance its calls went to.
  const byIdempotencyKey = new Map<string, CallRecord[]>();
  for (const r of records) if (r.spec.idempotencyKey) byIdempotencyKey.set(r.spec.idempotencyKey, [...(byIdempotencyKey.get(r.spec.idempotencyKey) ?? []), r]);
  // A known limit, not checked after a clock jump: an in-progress key is a lease of HOLD_TTL_MS on
  // the wall clock, so a clock that jumps past it lets a retry take the key over before the call's
  // next renewal (seed 269), as it lets the sweeper take the call's holds (settled late, then).
  for (const [key, group] of clockJumped ? [] : byIdempotencyKey) {
    const charged = group.filter((r) => r.requestId && rowOf.get(r.requestId)?.status === 'SUCCESS');
    if (charged.length > 1) problems.push(`[2 billing] Idempotency-Key ${key} was charged in full ${charged.length} times (${charged.map((r) => `#${r.spec.n}`).join(', ')})`);
  }
  // Usage rows no client knows the request id of belong to calls whose client never saw an answer.
  for (const customer of customers) {
    const unseen = rows.filter((row) => row.userId === customer.userId && !seen.has(row.requestId));
    const unanswered = records.filter((r) => r.spec.customer === customer.index && !r.requestId && verdictOf(r) === 'unknown').length;
    if (unseen.length > unanswered) problems.push(`[2 billing] c${customer.index} has ${unseen.length} usage rows no client saw (${unseen.map((row) => `${row.requestId} ${row.status} ${row.cost}`).join(', ')}) but only ${unanswered} calls without an answer`);
  }

  // 4. Money: nothing below zero; what each customer has left is what they put in less what their usage rows cost.
  for (const account of accounts) {
    if (account.balance < 0n || account.available < 0n) problems.push(`[4 money] account ${account.id} is below zero (balance ${account.balance}, available ${account.available})`);
    if (account.available !== account.balance) problems.push(`[4 money] account ${account.id} still has ${account.balance - account.available} held after quiesce`);
  }
  for (const customer of customers) {
    const has = accounts.filter((a) => ownerOf.get(a.id) === customer.userId).reduce((sum, a) => sum + a.balance, 0n);
    const spent = rows.filter((row) => row.userId === customer.userId).reduce((sum, row) => sum + row.cost, 0n);
    if (has !== customer.funds - spent) problems.push(`[4 money] c${customer.index} has ${has} in its wallet and lots, but put in ${customer.funds} and its usage rows cost ${spent} (expected ${customer.funds - spent})`);
  }

  // 6. Each key's day: its counters against its calls of that day (the day of their reservation).
  for (const customer of customers) {
    const key = keys.find((k) => k.id === customer.keyId);
    if (!key) {
      problems.push(`[6 quota] c${customer.index}'s key ${customer.keyId} is gone`);
      continue;
    }
    const own = [...calls.values()].filter((call) => call.userId === customer.userId);
    const days = new Set(own.map((call) => call.day));
    for (const day of days) {
      const charged = own.filter((call) => call.day === day && (call.state === 'settled' || call.state === 'late'));
      const cost = charged.reduce((sum, call) => sum + (rowOf.get(call.requestId)?.cost ?? 0n), 0n);
      if (customer.dailyRequestLimit !== null && charged.length > customer.dailyRequestLimit) {
        problems.push(`[6 quota] c${customer.index} was charged for ${charged.length} calls reserved on ${day}, over its daily limit of ${customer.dailyRequestLimit}`);
      }
      if (customer.dailyBudget !== null && cost > customer.dailyBudget) problems.push(`[6 quota] c${customer.index} spent ${cost} on calls reserved on ${day}, over its daily budget of ${customer.dailyBudget}`);
    }
    const today = own.filter((call) => call.day === key.usageDay);
    const charged = today.filter((call) => call.state === 'settled' || call.state === 'late');
    const swept = today.filter((call) => call.state === 'swept');
    const spent = charged.reduce((sum, call) => sum + (rowOf.get(call.requestId)?.cost ?? 0n), 0n);
    const label = `c${customer.index}'s key on ${key.usageDay || '(never used)'}`;
    if (key.spentToday !== spent) problems.push(`[6 quota] ${label}: spentToday ${key.spentToday}, but that day's calls cost ${spent}`);
    const sweptHeld = swept.reduce((sum, call) => sum + call.held, 0n);
    const keepsSwept = !SWEEPER_RETURNS_QUOTA && swept.length > 0;
    const committed = keepsSwept ? key.spentToday + sweptHeld : key.spentToday;
    if (key.committedToday !== committed) {
      problems.push(
        `[6 quota] ${label}: committedToday ${key.committedToday} != spentToday ${key.spentToday}${keepsSwept ? ` + ${sweptHeld} held by ${swept.length} swept calls (SWEEPER_RETURNS_QUOTA off)` : ''}${swept.length > 0 ? ` [${swept.length} swept calls: ${swept.map((c) => c.requestId).join(', ')}]` : ''}`,
      );
    }
    const requests = charged.length + (keepsSwept ? swept.length : 0);
    if (key.requestsToday !== requests) {
      problems.push(`[6 quota] ${label}: requestsToday ${key.requestsToday}, but ${charged.length} calls were charged that day${keepsSwept ? ` and ${swept.length} swept` : ''}`);
    }
  }

  // Revocation: no call sent after the key was revoked is served; after the key cache's TTL, each is a 401.
  for (const customer of customers) {
    if (customer.revokedAt === null) continue;
    for (const r of records) {
      if (r.spec.customer !== customer.index || r.startedAt <= customer.revokedAt) continue;
      const after = Math.round(r.startedAt - customer.revokedAt);
      if (is2xx(r.status)) problems.push(`[7 revocation] call #${r.spec.n} was sent ${after} ms after c${customer.index}'s key was revoked and answered ${r.status}`);
      else if (r.startedAt > customer.revokedAt + keyCacheMs + 100 && r.status !== null && r.status !== 401) {
        problems.push(`[7 revocation] call #${r.spec.n} was sent ${after} ms after c${customer.index}'s key was revoked and answered ${r.status} ${r.errorCode ?? ''}, not 401`);
      }
    }
  }
  for (const r of records) {
    count(`verdict ${verdictOf(r)}`);
    if (r.crashed) count('call cut by a crash');
    if (r.aborted) count('call aborted by its client');
    if (r.replayed) count('Idempotency-Key replayed');
    if (r.errorCode) count(`answer ${r.status} ${r.errorCode}`);
  }
  for (const call of calls.values()) {
    count(`call ${call.state}`);
    const row = rowOf.get(call.requestId);
    if (row && call.day && utcDay(row.createdAt) !== call.day) {
      count('call reserved on one UTC day, settled on the next');
      const rolled = [...calls.values()].some((other) => other.userId === call.userId && other.day > call.day && other.reservedAt < row.createdAt);
      if (rolled) count("call settled after its key's counters moved to the next day");
    }
    if (row?.errorCode === 'hold_lapsed') count('call charged after its holds lapsed (settleLate)');
  }
  return { problems, coverage };
}
