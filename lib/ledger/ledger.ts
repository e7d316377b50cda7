import type { Db } from '../db/client';
import { sqlFor } from '../db/client';
import type { HoldStatus } from '../db/generated/sqlite/enums';
import { driverErrorKind, read, sql, statement, type Row, type SqlExecutor, type SqlRunner } from '../db/sql';
import { newId } from '../ids';
import type { Micros } from '../money';
import { isSystemAccount, mayGoNegative } from './accounts';
import { LedgerError } from './errors';

export type LedgerEntryInput = { accountId: string; amount: Micros };

export type TransferInput = {
  idempotencyKey: string;
  kind: string;
  entries: LedgerEntryInput[];
  memo?: string;
  actor?: string;
};

export type TransferResult = { transactionId: string; replayed: boolean };

/** What the ledger needs to know about a hold to resolve it without reading it first. */
export type HoldRef = {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: Micros;
};

export type Hold = HoldRef & {
  status: HoldStatus;
  settledAmount: Micros | null;
  expiresAt: Date;
  transactionId: string | null;
};

export type AccountState = { id: string; balance: Micros; available: Micros };

export type ResolvedHold = HoldRef & { status: HoldStatus; settledAmount: Micros | null; transactionId: string | null };

/**
 * More work for the same database transaction as a ledger operation (a usage row, a key's daily
 * counters). Throwing from it rolls the whole operation back.
 */
export type AlsoInTransaction<T> = (tx: SqlExecutor) => Promise<T>;

export type Resolution<T = undefined> = { hold: ResolvedHold; replayed: boolean; debitAccount: AccountState | null; also: T | undefined };

export type ReserveInput = {
  idempotencyKey: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: Micros;
  ttlMs: number;
  memo?: string;
};

export type SettleInput = {
  hold: HoldRef | string;
  amount: Micros;
  idempotencyKey: string;
  memo?: string;
};

export type ReleaseInput = {
  hold: HoldRef | string;
  idempotencyKey: string;
  /** EXPIRED when the sweeper releases it. */
  as?: 'RELEASED' | 'EXPIRED';
};

/** Thrown inside a resolution's transaction when the hold is no longer pending, to roll it back. */
class HoldNotPending extends Error {}

/**
 * The double-entry ledger. Balances live on the account rows and change only in the same database
 * transaction that appends the entries explaining them. Overdraft protection is a conditional
 * UPDATE (`available >= amount`) that both SQLite and PostgreSQL apply atomically; a hold resolves
 * exactly once because its resolution is a conditional UPDATE on `status = 'PENDING'`. Each
 * operation is one short transaction of plain statements (lib/db/sql.ts says why not Prisma's).
 */
export class Ledger {
  readonly #db: Db;
  readonly #sql: SqlRunner;

  constructor(db: Db) {
    this.#db = db;
    this.#sql = sqlFor(db);
  }

  /**
   * Moves money between accounts; entries must sum to zero. `before` runs first in the same
   * transaction (to create an account the entries credit, such as a new pack lot's).
   */
  async transfer<T = undefined>(
    input: TransferInput,
    also?: AlsoInTransaction<T>,
    { before }: { before?: AlsoInTransaction<void> } = {},
  ): Promise<TransferResult & { also: T | undefined }> {
    validateEntries(input.entries);
    const transactionId = newId('txn');
    const now = new Date();
    try {
      const result = await this.#sql.transaction(async (tx) => {
        if (before) await before(tx);
        await tx.execute(insertTransaction({ id: transactionId, idempotencyKey: input.idempotencyKey, kind: input.kind, memo: input.memo ?? null, actor: input.actor ?? null, now }));
        await tx.execute(insertEntries(transactionId, input.entries, now));
        for (const entry of lockOrder(input.entries)) {
          const guarded = entry.amount < 0n && !mayGoNegative(entry.accountId);
          const updated = await tx.execute(
            guarded
              ? sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${entry.amount}, "available" = "available" + ${entry.amount}, "updatedAt" = ${now} WHERE "id" = ${entry.accountId} AND "available" >= ${-entry.amount}`
              : sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${entry.amount}, "available" = "available" + ${entry.amount}, "updatedAt" = ${now} WHERE "id" = ${entry.accountId}`,
          );
          if (updated !== 1) throw await explainFailedDebit(tx, entry.accountId);
        }
        return also ? await also(tx) : undefined;
      });
      return { transactionId, replayed: false, also: result };
    } catch (error) {
      if (driverErrorKind(error) === 'UniqueConstraintViolation') return { ...(await this.#replayTransfer(input)), also: undefined };
      if (driverErrorKind(error) === 'ForeignKeyConstraintViolation') throw new LedgerError('account_not_found', 'an account in this operation does not exist');
      throw error;
    }
  }

  /** Phase one: holds `amount` on the debit account if its available balance covers it. */
  async reserve<T = undefined>(input: ReserveInput, also?: AlsoInTransaction<T>): Promise<Hold & { replayed: boolean; also: T | undefined }> {
    if (input.amount <= 0n) throw new LedgerError('invalid_transaction', 'a hold must be for a positive amount');
    const now = new Date();
    const hold: Hold = {
      id: newId('hold'),
      debitAccountId: input.debitAccountId,
      creditAccountId: input.creditAccountId,
      amount: input.amount,
      status: 'PENDING',
      settledAmount: null,
      expiresAt: new Date(now.getTime() + input.ttlMs),
      transactionId: null,
    };
    try {
      const result = await this.#sql.transaction(async (tx) => {
        // The hold row goes first so that a replayed key fails on its unique index before the
        // balance check, and a replay is recognised even once the money is spent.
        await tx.execute(
          sql`INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "memo", "expiresAt", "createdAt") VALUES (${hold.id}, ${input.idempotencyKey}, ${hold.debitAccountId}, ${hold.creditAccountId}, ${hold.amount}, 'PENDING', ${input.memo ?? null}, ${hold.expiresAt}, ${now})`,
        );
        const updated = await tx.execute(
          sql`UPDATE "LedgerAccount" SET "available" = "available" - ${input.amount}, "updatedAt" = ${now} WHERE "id" = ${input.debitAccountId} AND "available" >= ${input.amount}`,
        );
        if (updated !== 1) throw await explainFailedDebit(tx, input.debitAccountId);
        return also ? await also(tx) : undefined;
      });
      return { ...hold, replayed: false, also: result };
    } catch (error) {
      const kind = driverErrorKind(error);
      if (kind === 'UniqueConstraintViolation') {
        const existing = await this.getHoldByKey(input.idempotencyKey);
        if (existing && existing.debitAccountId === input.debitAccountId && existing.creditAccountId === input.creditAccountId && existing.amount === input.amount) {
          return { ...existing, replayed: true, also: undefined };
        }
        throw new LedgerError('idempotency_conflict', 'this idempotency key was used for a different hold');
      }
      if (kind === 'ForeignKeyConstraintViolation') throw new LedgerError('account_not_found', 'an account in this operation does not exist');
      throw error;
    }
  }

  /**
   * Phase two: posts `amount` (≤ the hold) from the debit to the credit account and returns the
   * rest to the debit account's available balance. A hold past its expiry that the sweeper has not
   * yet released can still be settled: its money is still reserved.
   */
  async settle<T = undefined>(input: SettleInput, also?: AlsoInTransaction<T>): Promise<Resolution<T>> {
    const hold = await this.#holdRef(input.hold);
    if (input.amount < 0n) throw new LedgerError('invalid_transaction', 'cannot settle a negative amount');
    if (input.amount > hold.amount) throw new LedgerError('settle_exceeds_hold', `settle amount ${input.amount} exceeds hold ${hold.amount}`);
    const now = new Date();
    try {
      const { debitAccount, transactionId, result } = await this.#sql.transaction(async (tx) => {
        const settled = await settleInTx(tx, hold, input.amount, `settle:${input.idempotencyKey}`, input.idempotencyKey, input.memo ?? null, now);
        return { ...settled, result: also ? await also(tx) : undefined };
      });
      return { hold: resolved(hold, 'SETTLED', input.amount, transactionId), replayed: false, debitAccount, also: result };
    } catch (error) {
      return { hold: await this.#resolutionReplay(hold.id, input.idempotencyKey, error), replayed: true, debitAccount: null, also: undefined };
    }
  }

  /** Voids a hold: nothing is posted, the whole amount becomes available again. */
  async release<T = undefined>(input: ReleaseInput, also?: AlsoInTransaction<T>): Promise<Resolution<T>> {
    const hold = await this.#holdRef(input.hold);
    const status = input.as ?? 'RELEASED';
    const now = new Date();
    try {
      const { debitAccount, result } = await this.#sql.transaction(async (tx) => {
        const debitAccount = await releaseInTx(tx, hold, status, input.idempotencyKey, now);
        return { debitAccount, result: also ? await also(tx) : undefined };
      });
      return { hold: resolved(hold, status, null, null), replayed: false, debitAccount, also: result };
    } catch (error) {
      return { hold: await this.#resolutionReplay(hold.id, input.idempotencyKey, error), replayed: true, debitAccount: null, also: undefined };
    }
  }

  /**
   * Phase one across several accounts, in priority order (a request's matching pack lots, then the
   * wallet): each source gives what it has available until `amount` is covered, as one hold per
   * source sharing `groupId`. All or nothing: if the sources together fall short, nothing is held.
   */
  async reserveGroup<T = undefined>(
    input: Omit<ReserveInput, 'debitAccountId'> & { groupId: string; sources: string[] },
    also?: AlsoInTransaction<T>,
  ): Promise<{ holds: Hold[]; also: T | undefined }> {
    if (input.amount <= 0n) throw new LedgerError('invalid_transaction', 'a hold must be for a positive amount');
    if (input.sources.length === 0 || new Set(input.sources).size !== input.sources.length) {
      throw new LedgerError('invalid_transaction', 'a hold group needs distinct source accounts');
    }
    const now = new Date();
    const expiresAt = new Date(now.getTime() + input.ttlMs);
    try {
      return await this.#sql.transaction(async (tx) => {
        const holds: Hold[] = [];
        let remaining = input.amount;
        for (const [index, accountId] of input.sources.entries()) {
          if (remaining === 0n) break;
          const last = index === input.sources.length - 1;
          const take = last ? remaining : await takeAvailable(tx, accountId, remaining, now);
          if (take === 0n) continue;
          const hold: Hold = { id: newId('hold'), debitAccountId: accountId, creditAccountId: input.creditAccountId, amount: take, status: 'PENDING', settledAmount: null, expiresAt, transactionId: null };
          await tx.execute(
            sql`INSERT INTO "Hold" ("id", "idempotencyKey", "debitAccountId", "creditAccountId", "amount", "status", "groupId", "memo", "expiresAt", "createdAt") VALUES (${hold.id}, ${`${input.idempotencyKey}:${index}`}, ${accountId}, ${input.creditAccountId}, ${take}, 'PENDING', ${input.groupId}, ${input.memo ?? null}, ${expiresAt}, ${now})`,
          );
          if (last) {
            const updated = await tx.execute(
              sql`UPDATE "LedgerAccount" SET "available" = "available" - ${take}, "updatedAt" = ${now} WHERE "id" = ${accountId} AND "available" >= ${take}`,
            );
            if (updated !== 1) throw await explainFailedDebit(tx, accountId);
          }
          holds.push(hold);
          remaining -= take;
        }
        if (remaining > 0n) throw new LedgerError('insufficient_funds', 'the available balances do not cover this amount');
        return { holds, also: also ? await also(tx) : undefined };
      });
    } catch (error) {
      if (driverErrorKind(error) === 'UniqueConstraintViolation') throw new LedgerError('idempotency_conflict', 'this idempotency key was already used for a hold');
      if (driverErrorKind(error) === 'ForeignKeyConstraintViolation') throw new LedgerError('account_not_found', 'an account in this operation does not exist');
      throw error;
    }
  }

  /**
   * Phase two for a hold group: `amount` is drawn from the holds in their order (the first source
   * pays first), each hold settling its share in one database transaction; the rest of every hold
   * returns to its account. Returns each source account's state afterwards, in the holds' order.
   */
  async settleGroup<T = undefined>(
    input: { holds: HoldRef[]; amount: Micros; idempotencyKey: string; memo?: string },
    also?: AlsoInTransaction<T>,
  ): Promise<{ accounts: AccountState[]; shares: Micros[]; also: T | undefined }> {
    const total = input.holds.reduce((sum, h) => sum + h.amount, 0n);
    if (input.amount < 0n) throw new LedgerError('invalid_transaction', 'cannot settle a negative amount');
    if (input.amount > total) throw new LedgerError('settle_exceeds_hold', `settle amount ${input.amount} exceeds holds ${total}`);
    let left = input.amount;
    const shares = input.holds.map((hold) => {
      const share = left < hold.amount ? left : hold.amount;
      left -= share;
      return share;
    });
    const now = new Date();
    return this.#sql.transaction(async (tx) => {
      const accounts: AccountState[] = [];
      // Every user account first, the credit accounts last and once each: the same lock order as a
      // single settlement (wallet, then revenue), so concurrent settlements never deadlock.
      const credits = new Map<string, Micros>();
      for (const [index, hold] of input.holds.entries()) {
        const key = `${input.idempotencyKey}:${index}`;
        const share = shares[index]!;
        try {
          accounts.push((await settleInTx(tx, hold, share, `settle:${key}`, key, input.memo ?? null, now, { creditLater: true })).debitAccount);
        } catch (error) {
          if (error instanceof HoldNotPending) throw new LedgerError('hold_already_resolved', `hold ${hold.id} is no longer pending`);
          throw error;
        }
        if (share > 0n) credits.set(hold.creditAccountId, (credits.get(hold.creditAccountId) ?? 0n) + share);
      }
      for (const [accountId, amount] of credits) await updateAccountReturning(tx, accountId, amount, amount, now);
      return { accounts, shares, also: also ? await also(tx) : undefined };
    });
  }

  /** Voids every hold of a group in one transaction. */
  async releaseGroup<T = undefined>(input: { holds: HoldRef[]; idempotencyKey: string }, also?: AlsoInTransaction<T>): Promise<{ also: T | undefined }> {
    const now = new Date();
    return this.#sql.transaction(async (tx) => {
      for (const [index, hold] of input.holds.entries()) {
        try {
          await releaseInTx(tx, hold, 'RELEASED', `${input.idempotencyKey}:${index}`, now);
        } catch (error) {
          if (error instanceof HoldNotPending) throw new LedgerError('hold_already_resolved', `hold ${hold.id} is no longer pending`);
          throw error;
        }
      }
      return { also: also ? await also(tx) : undefined };
    });
  }

  /** The sweeper: releases every pending hold whose expiry has passed. Returns how many it released. */
  async releaseExpiredHolds({ now = new Date(), limit = 500 }: { now?: Date; limit?: number } = {}): Promise<number> {
    const expired = await this.#db.hold.findMany({
      where: { status: 'PENDING', expiresAt: { lte: now } },
      select: { id: true, debitAccountId: true, creditAccountId: true, amount: true },
      orderBy: { expiresAt: 'asc' },
      take: limit,
    });
    let released = 0;
    for (const hold of expired) {
      try {
        const result = await this.release({ hold, idempotencyKey: `expire:${hold.id}`, as: 'EXPIRED' });
        if (!result.replayed) released += 1;
      } catch (error) {
        // Settled or released by its request between the read and now: nothing to sweep.
        if (!(error instanceof LedgerError && error.code === 'hold_already_resolved')) throw error;
      }
    }
    return released;
  }

  async getHold({ holdId }: { holdId: string }): Promise<(Hold & { resolveIdempotencyKey: string | null }) | null> {
    return this.#db.hold.findUnique({ where: { id: holdId }, select: HOLD_SELECT });
  }

  async getHoldByKey(idempotencyKey: string) {
    return this.#db.hold.findUnique({ where: { idempotencyKey }, select: HOLD_SELECT });
  }

  async getAccountBalance({ accountId }: { accountId: string }) {
    const account = await this.#db.ledgerAccount.findUnique({ where: { id: accountId }, select: { balance: true, available: true } });
    if (!account) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
    return { balance: account.balance, available: account.available, held: account.balance - account.available };
  }

  // ------------------------------------------------------------------------------------------

  async #holdRef(hold: HoldRef | string): Promise<HoldRef> {
    if (typeof hold !== 'string') return hold;
    const found = await this.getHold({ holdId: hold });
    if (!found) throw new LedgerError('hold_not_found', `hold ${hold} does not exist`);
    return found;
  }

  /** After a failed resolution: the same idempotency key already resolved it (a replay), or not. */
  async #resolutionReplay(holdId: string, idempotencyKey: string, error: unknown): Promise<ResolvedHold> {
    const kind = driverErrorKind(error);
    if (!(error instanceof HoldNotPending) && kind !== 'UniqueConstraintViolation') throw error;
    const current = await this.getHold({ holdId });
    if (!current) throw new LedgerError('hold_not_found', `hold ${holdId} does not exist`);
    if (current.status === 'PENDING') {
      if (kind === 'UniqueConstraintViolation') throw new LedgerError('idempotency_conflict', 'this idempotency key already resolved another hold');
      throw new LedgerError('hold_already_resolved', `hold ${holdId} does not match the reference given`);
    }
    if (current.resolveIdempotencyKey === idempotencyKey) return current;
    throw new LedgerError('hold_already_resolved', `hold ${holdId} is already ${current.status.toLowerCase()}`);
  }

  async #replayTransfer(input: TransferInput): Promise<TransferResult> {
    const existing = await this.#db.ledgerTransaction.findUnique({
      where: { idempotencyKey: input.idempotencyKey },
      select: { id: true, entries: { select: { accountId: true, amount: true } } },
    });
    if (!existing) throw new LedgerError('invalid_transaction', 'duplicate entry in transfer');
    const fingerprint = (entries: LedgerEntryInput[]) =>
      entries
        .map((e) => `${e.accountId}:${e.amount}`)
        .sort()
        .join(',');
    if (fingerprint(existing.entries) !== fingerprint(input.entries)) {
      throw new LedgerError('idempotency_conflict', 'this idempotency key was used for a different transfer');
    }
    return { transactionId: existing.id, replayed: true };
  }
}

/** Settles one hold inside an open transaction: posts `amount`, returns the rest of the hold. */
async function settleInTx(
  tx: SqlExecutor,
  hold: HoldRef,
  amount: Micros,
  transactionKey: string,
  resolveKey: string,
  memo: string | null,
  now: Date,
  { creditLater = false }: { creditLater?: boolean } = {},
) {
  if (amount > hold.amount) throw new LedgerError('settle_exceeds_hold', `settle amount ${amount} exceeds hold ${hold.amount}`);
  const transactionId = amount > 0n ? newId('txn') : null;
  if (transactionId) {
    await tx.execute(insertTransaction({ id: transactionId, idempotencyKey: transactionKey, kind: 'settle', memo, actor: null, now }));
    await tx.execute(
      insertEntries(
        transactionId,
        [
          { accountId: hold.debitAccountId, amount: -amount },
          { accountId: hold.creditAccountId, amount },
        ],
        now,
      ),
    );
  }
  await resolveHold(tx, hold, { status: 'SETTLED', settledAmount: amount, resolveIdempotencyKey: resolveKey, transactionId, now });
  // The debit account gives up `amount` and gets the rest of the hold back; neither can make it
  // negative (it held the whole hold), so no guard is needed.
  const debitAccount = await updateAccountReturning(tx, hold.debitAccountId, -amount, hold.amount - amount, now);
  if (amount > 0n && !creditLater) await updateAccountReturning(tx, hold.creditAccountId, amount, amount, now);
  return { debitAccount, transactionId };
}

async function releaseInTx(tx: SqlExecutor, hold: HoldRef, status: 'RELEASED' | 'EXPIRED', resolveKey: string, now: Date): Promise<AccountState> {
  await resolveHold(tx, hold, { status, settledAmount: null, resolveIdempotencyKey: resolveKey, transactionId: null, now });
  return updateAccountReturning(tx, hold.debitAccountId, 0n, hold.amount, now);
}

/**
 * Reserves up to `wanted` of an account's available balance and says how much it got. The
 * conditional UPDATE keeps it exact under concurrency: if another request took money between the
 * read and the update, read again (a committed change is visible to the next statement).
 */
async function takeAvailable(tx: SqlExecutor, accountId: string, wanted: Micros, now: Date): Promise<Micros> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const [row] = await tx.query(sql`SELECT "available" FROM "LedgerAccount" WHERE "id" = ${accountId}`);
    if (!row) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
    const available = read.bigint(row.available);
    const take = available < wanted ? available : wanted;
    if (take <= 0n) return 0n;
    const updated = await tx.execute(
      sql`UPDATE "LedgerAccount" SET "available" = "available" - ${take}, "updatedAt" = ${now} WHERE "id" = ${accountId} AND "available" >= ${take}`,
    );
    if (updated === 1) return take;
  }
  return 0n;
}

function resolved(hold: HoldRef, status: HoldStatus, settledAmount: Micros | null, transactionId: string | null): ResolvedHold {
  const { id, debitAccountId, creditAccountId, amount } = hold;
  return { id, debitAccountId, creditAccountId, amount, status, settledAmount, transactionId };
}

const HOLD_SELECT = {
  id: true,
  debitAccountId: true,
  creditAccountId: true,
  amount: true,
  status: true,
  settledAmount: true,
  expiresAt: true,
  transactionId: true,
  resolveIdempotencyKey: true,
} as const;

function insertTransaction(t: { id: string; idempotencyKey: string; kind: string; memo: string | null; actor: string | null; now: Date }) {
  return sql`INSERT INTO "LedgerTransaction" ("id", "idempotencyKey", "kind", "memo", "actor", "createdAt") VALUES (${t.id}, ${t.idempotencyKey}, ${t.kind}, ${t.memo}, ${t.actor}, ${t.now})`;
}

/** All of a transaction's entries in one multi-row INSERT. */
function insertEntries(transactionId: string, entries: LedgerEntryInput[], now: Date) {
  const values = entries.flatMap((entry) => [newId('ent'), transactionId, entry.accountId, entry.amount, now]);
  const rows = entries.map(() => '(?, ?, ?, ?, ?)').join(', ');
  return statement(`INSERT INTO "LedgerEntry" ("id", "transactionId", "accountId", "amount", "createdAt") VALUES ${rows}`, values);
}

/**
 * Accounts are locked in one global order (user accounts by id, then system accounts by id) so
 * two transactions never wait on each other's rows in opposite orders on PostgreSQL; the busiest
 * rows (system accounts) come last and stay locked for the shortest time.
 */
function lockOrder(entries: LedgerEntryInput[]): LedgerEntryInput[] {
  return [...entries].sort((a, b) => {
    const systemLast = Number(isSystemAccount(a.accountId)) - Number(isSystemAccount(b.accountId));
    return systemLast || (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0);
  });
}

async function resolveHold(
  tx: SqlExecutor,
  hold: HoldRef,
  r: { status: HoldStatus; settledAmount: Micros | null; resolveIdempotencyKey: string; transactionId: string | null; now: Date },
) {
  // Matching on status = PENDING makes resolution exactly-once; matching the amount and accounts
  // means a stale or forged HoldRef cannot move the wrong money.
  const updated = await tx.execute(
    sql`UPDATE "Hold" SET "status" = ${r.status}, "settledAmount" = ${r.settledAmount}, "resolveIdempotencyKey" = ${r.resolveIdempotencyKey}, "transactionId" = ${r.transactionId}, "resolvedAt" = ${r.now} WHERE "id" = ${hold.id} AND "status" = 'PENDING' AND "amount" = ${hold.amount} AND "debitAccountId" = ${hold.debitAccountId} AND "creditAccountId" = ${hold.creditAccountId}`,
  );
  if (updated !== 1) throw new HoldNotPending();
}

async function updateAccountReturning(tx: SqlExecutor, accountId: string, balanceDelta: Micros, availableDelta: Micros, now: Date): Promise<AccountState> {
  const [row] = await tx.query(
    sql`UPDATE "LedgerAccount" SET "balance" = "balance" + ${balanceDelta}, "available" = "available" + ${availableDelta}, "updatedAt" = ${now} WHERE "id" = ${accountId} RETURNING "id", "balance", "available"`,
  );
  if (!row) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
  return toAccountState(row);
}

function toAccountState(row: Row): AccountState {
  return { id: read.string(row.id), balance: read.bigint(row.balance), available: read.bigint(row.available) };
}

async function explainFailedDebit(tx: SqlExecutor, accountId: string): Promise<LedgerError> {
  const [row] = await tx.query(sql`SELECT "id" FROM "LedgerAccount" WHERE "id" = ${accountId}`);
  if (!row) return new LedgerError('account_not_found', `account ${accountId} does not exist`);
  return new LedgerError('insufficient_funds', 'the available balance does not cover this amount');
}

function validateEntries(entries: LedgerEntryInput[]): void {
  if (entries.length < 2) throw new LedgerError('invalid_transaction', 'a transaction needs at least two entries');
  if (new Set(entries.map((e) => e.accountId)).size !== entries.length) {
    throw new LedgerError('invalid_transaction', 'each account may appear once per transaction');
  }
  let sum = 0n;
  for (const entry of entries) {
    if (typeof entry.amount !== 'bigint' || entry.amount === 0n) throw new LedgerError('invalid_transaction', 'entry amounts must be non-zero bigints');
    sum += entry.amount;
  }
  if (sum !== 0n) throw new LedgerError('invalid_transaction', `entries must sum to zero (sum is ${sum})`);
}
