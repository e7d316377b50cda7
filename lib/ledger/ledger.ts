import type { Db } from '../db/client';
import type { HoldStatus } from '../db/generated/sqlite/enums';
import type { Prisma } from '../db/generated/sqlite/client';
import { newId } from '../ids';
import type { Micros } from '../money';
import { isSystemAccount, mayGoNegative } from './accounts';
import { LedgerError, prismaErrorCode } from './errors';

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

export type ResolvedHold = HoldRef & { status: HoldStatus; settledAmount: Micros | null; transactionId: string | null };

export type Resolution = { hold: ResolvedHold; replayed: boolean; debitAccount: AccountState | null };

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

/** Extra writes committed in the same database transaction as a ledger operation (e.g. a usage row). */
export type BatchOp = Prisma.PrismaPromise<unknown>;

const ACCOUNT_STATE = { id: true, balance: true, available: true } as const;

export type AccountState = { id: string; balance: Micros; available: Micros };

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
  idempotencyKey: true,
} as const;

/**
 * The double-entry ledger. Balances live on the account rows and change only in the same database
 * transaction that appends the entries explaining them. Every operation is one batched
 * transaction (no interactive transaction, no read-modify-write), and overdraft protection is a
 * conditional UPDATE (`available >= amount`) that both SQLite and PostgreSQL apply atomically.
 */
export class Ledger {
  constructor(private readonly db: Db) {}

  /** Moves money between accounts; entries must sum to zero. */
  async transfer(input: TransferInput, alsoWrite: BatchOp[] = []): Promise<TransferResult> {
    validateEntries(input.entries);
    const transactionId = newId('txn');
    const create = this.db.ledgerTransaction.create({
      data: {
        id: transactionId,
        idempotencyKey: input.idempotencyKey,
        kind: input.kind,
        memo: input.memo,
        actor: input.actor,
        entries: { create: input.entries.map((entry) => ({ id: newId('ent'), accountId: entry.accountId, amount: entry.amount })) },
      },
      select: { id: true },
    });
    try {
      await this.db.$transaction([create, ...this.postEntries(input.entries.map((e) => ({ ...e, releaseHeld: 0n }))), ...alsoWrite]);
      return { transactionId, replayed: false };
    } catch (error) {
      const code = prismaErrorCode(error);
      if (code === 'P2002') return this.replayTransfer(input);
      if (code === 'P2025' || code === 'P2003') throw await this.explainFailedDebit(input.entries.map((e) => e.accountId));
      throw error;
    }
  }

  /** Phase one: holds `amount` on the debit account if its available balance covers it. */
  async reserve(input: ReserveInput, alsoWrite: BatchOp[] = []): Promise<Hold & { replayed: boolean; alsoWritten: unknown[] }> {
    if (input.amount <= 0n) throw new LedgerError('invalid_transaction', 'a hold must be for a positive amount');
    const hold = {
      id: newId('hold'),
      idempotencyKey: input.idempotencyKey,
      debitAccountId: input.debitAccountId,
      creditAccountId: input.creditAccountId,
      amount: input.amount,
      memo: input.memo,
      expiresAt: new Date(Date.now() + input.ttlMs),
    };
    try {
      // The hold row goes first so that a replayed key fails on its unique index before the
      // balance check, and a replay is recognised even once the money is spent.
      const results = await this.db.$transaction([
        this.db.hold.create({ data: hold, select: { id: true } }),
        this.db.ledgerAccount.update({
          where: { id: input.debitAccountId, available: { gte: input.amount } },
          data: { available: { decrement: input.amount } },
          select: { id: true },
        }),
        ...alsoWrite,
      ]);
      return { ...hold, status: 'PENDING', settledAmount: null, transactionId: null, replayed: false, alsoWritten: results.slice(2) };
    } catch (error) {
      const code = prismaErrorCode(error);
      if (code === 'P2002') {
        const existing = await this.db.hold.findUnique({ where: { idempotencyKey: input.idempotencyKey }, select: HOLD_SELECT });
        if (
          existing &&
          existing.debitAccountId === input.debitAccountId &&
          existing.creditAccountId === input.creditAccountId &&
          existing.amount === input.amount
        ) {
          return { ...toHold(existing), replayed: true, alsoWritten: [] };
        }
        throw new LedgerError('idempotency_conflict', 'this idempotency key was used for a different hold');
      }
      if (code === 'P2025' || code === 'P2003') throw await this.explainFailedDebit([input.debitAccountId, input.creditAccountId]);
      throw error;
    }
  }

  /**
   * Phase two: posts `amount` (≤ the hold) from the debit to the credit account and returns the
   * rest to the debit account's available balance. A hold past its expiry that the sweeper has not
   * yet released can still be settled: its money is still reserved.
   */
  async settle(input: SettleInput, alsoWrite: BatchOp[] = []): Promise<Resolution> {
    const hold = await this.holdRef(input.hold);
    if (input.amount < 0n) throw new LedgerError('invalid_transaction', 'cannot settle a negative amount');
    if (input.amount > hold.amount) throw new LedgerError('settle_exceeds_hold', `settle amount ${input.amount} exceeds hold ${hold.amount}`);
    const transactionId = input.amount > 0n ? newId('txn') : null;
    const resolvedAt = new Date();
    const ops = [];
    if (transactionId) {
      ops.push(
        this.db.ledgerTransaction.create({
          data: {
            id: transactionId,
            idempotencyKey: `settle:${input.idempotencyKey}`,
            kind: 'settle',
            memo: input.memo,
            entries: {
              create: [
                { id: newId('ent'), accountId: hold.debitAccountId, amount: -input.amount },
                { id: newId('ent'), accountId: hold.creditAccountId, amount: input.amount },
              ],
            },
          },
          select: { id: true },
        }),
      );
    }
    ops.push(this.resolveHoldOp(hold, { status: 'SETTLED', settledAmount: input.amount, resolveIdempotencyKey: input.idempotencyKey, resolvedAt, transactionId }));
    ops.push(
      ...this.postEntries([
        { accountId: hold.debitAccountId, amount: -input.amount, releaseHeld: hold.amount },
        ...(input.amount > 0n ? [{ accountId: hold.creditAccountId, amount: input.amount, releaseHeld: 0n }] : []),
      ]),
    );
    let results: unknown[];
    try {
      results = await this.db.$transaction([...ops, ...alsoWrite]);
    } catch (error) {
      return { hold: await this.resolutionReplay(hold.id, input.idempotencyKey, error), replayed: true, debitAccount: null };
    }
    return {
      hold: { ...hold, status: 'SETTLED', settledAmount: input.amount, transactionId },
      replayed: false,
      debitAccount: findAccountState(results, hold.debitAccountId),
    };
  }

  /** Voids a hold: nothing is posted, the whole amount becomes available again. */
  async release(input: ReleaseInput, alsoWrite: BatchOp[] = []): Promise<Resolution> {
    const hold = await this.holdRef(input.hold);
    const status = input.as ?? 'RELEASED';
    let results: unknown[];
    try {
      results = await this.db.$transaction([
        this.resolveHoldOp(hold, { status, settledAmount: null, resolveIdempotencyKey: input.idempotencyKey, resolvedAt: new Date(), transactionId: null }),
        this.db.ledgerAccount.update({ where: { id: hold.debitAccountId }, data: { available: { increment: hold.amount } }, select: ACCOUNT_STATE }),
        ...alsoWrite,
      ]);
    } catch (error) {
      return { hold: await this.resolutionReplay(hold.id, input.idempotencyKey, error), replayed: true, debitAccount: null };
    }
    return {
      hold: { ...hold, status, settledAmount: null, transactionId: null },
      replayed: false,
      debitAccount: findAccountState(results, hold.debitAccountId),
    };
  }

  /** The sweeper: releases every pending hold whose expiry has passed. Returns how many it released. */
  async releaseExpiredHolds({ now = new Date(), limit = 500 }: { now?: Date; limit?: number } = {}): Promise<number> {
    const expired = await this.db.hold.findMany({
      where: { status: 'PENDING', expiresAt: { lte: now } },
      select: HOLD_SELECT,
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

  async getHold({ holdId }: { holdId: string }): Promise<Hold | null> {
    const hold = await this.db.hold.findUnique({ where: { id: holdId }, select: HOLD_SELECT });
    return hold ? toHold(hold) : null;
  }

  async getAccountBalance({ accountId }: { accountId: string }) {
    const account = await this.db.ledgerAccount.findUnique({ where: { id: accountId }, select: { balance: true, available: true } });
    if (!account) throw new LedgerError('account_not_found', `account ${accountId} does not exist`);
    return { balance: account.balance, available: account.available, held: account.balance - account.available };
  }

  // ------------------------------------------------------------------------------------------

  /**
   * One UPDATE per account. Debits of accounts that must stay non-negative carry the condition
   * `available >= debit`, so an overdraft matches no row, fails the batch (P2025) and rolls it
   * back. Updates run in one global order (user accounts by id, then system accounts by id) so
   * that two transactions never wait on each other's rows in opposite orders on PostgreSQL; the
   * busiest rows (system accounts) come last and stay locked for the shortest time.
   */
  private postEntries(entries: Array<LedgerEntryInput & { releaseHeld: Micros }>) {
    const ordered = [...entries].sort((a, b) => {
      const systemFirst = Number(isSystemAccount(a.accountId)) - Number(isSystemAccount(b.accountId));
      return systemFirst || (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0);
    });
    return ordered.map(({ accountId, amount, releaseHeld }) => {
      // available changes by the posted amount plus whatever a resolved hold gives back.
      const availableDelta = amount + releaseHeld;
      const guarded = availableDelta < 0n && !mayGoNegative(accountId);
      return this.db.ledgerAccount.update({
        where: guarded ? { id: accountId, available: { gte: -availableDelta } } : { id: accountId },
        data: { balance: { increment: amount }, available: { increment: availableDelta } },
        select: ACCOUNT_STATE,
      });
    });
  }

  private resolveHoldOp(
    hold: HoldRef,
    data: { status: HoldStatus; settledAmount: Micros | null; resolveIdempotencyKey: string; resolvedAt: Date; transactionId: string | null },
  ) {
    // Matching on status = PENDING makes resolution exactly-once; matching the amount and
    // accounts means a caller's stale or forged HoldRef cannot move the wrong money.
    return this.db.hold.update({
      where: { id: hold.id, status: 'PENDING', amount: hold.amount, debitAccountId: hold.debitAccountId, creditAccountId: hold.creditAccountId },
      data,
      select: { id: true },
    });
  }

  private async holdRef(hold: HoldRef | string): Promise<HoldRef> {
    if (typeof hold !== 'string') return hold;
    const found = await this.db.hold.findUnique({ where: { id: hold }, select: HOLD_SELECT });
    if (!found) throw new LedgerError('hold_not_found', `hold ${hold} does not exist`);
    return found;
  }

  /** After a failed resolution: the same idempotency key already resolved it (replay), or not. */
  private async resolutionReplay(holdId: string, idempotencyKey: string, error: unknown): Promise<ResolvedHold> {
    const code = prismaErrorCode(error);
    if (code !== 'P2025' && code !== 'P2002') throw error;
    const current = await this.db.hold.findUnique({ where: { id: holdId }, select: HOLD_SELECT });
    if (!current) throw new LedgerError('hold_not_found', `hold ${holdId} does not exist`);
    if (current.status === 'PENDING') {
      if (code === 'P2002') throw new LedgerError('idempotency_conflict', 'this idempotency key already resolved another hold');
      throw new LedgerError('hold_already_resolved', `hold ${holdId} does not match the reference given`);
    }
    if (current.resolveIdempotencyKey === idempotencyKey) return toHold(current);
    throw new LedgerError('hold_already_resolved', `hold ${holdId} is already ${current.status.toLowerCase()}`);
  }

  private async replayTransfer(input: TransferInput): Promise<TransferResult> {
    const existing = await this.db.ledgerTransaction.findUnique({
      where: { idempotencyKey: input.idempotencyKey },
      select: { id: true, entries: { select: { accountId: true, amount: true } } },
    });
    if (!existing) throw new LedgerError('invalid_transaction', 'duplicate entry in transfer');
    const key = (entries: LedgerEntryInput[]) =>
      entries
        .map((e) => `${e.accountId}:${e.amount}`)
        .sort()
        .join(',');
    if (key(existing.entries) !== key(input.entries)) {
      throw new LedgerError('idempotency_conflict', 'this idempotency key was used for a different transfer');
    }
    return { transactionId: existing.id, replayed: true };
  }

  private async explainFailedDebit(accountIds: string[]): Promise<LedgerError> {
    const found = await this.db.ledgerAccount.count({ where: { id: { in: accountIds } } });
    if (found < new Set(accountIds).size) return new LedgerError('account_not_found', 'an account in this operation does not exist');
    return new LedgerError('insufficient_funds', 'the available balance does not cover this amount');
  }
}

function findAccountState(results: unknown[], accountId: string): AccountState | null {
  for (const result of results) {
    if (result && typeof result === 'object' && 'id' in result && result.id === accountId && 'balance' in result && 'available' in result) {
      return result as AccountState;
    }
  }
  return null;
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

function toHold(row: {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  status: HoldStatus;
  settledAmount: bigint | null;
  expiresAt: Date;
  transactionId: string | null;
}): Hold {
  return {
    id: row.id,
    debitAccountId: row.debitAccountId,
    creditAccountId: row.creditAccountId,
    amount: row.amount,
    status: row.status,
    settledAmount: row.settledAmount,
    expiresAt: row.expiresAt,
    transactionId: row.transactionId,
  };
}
