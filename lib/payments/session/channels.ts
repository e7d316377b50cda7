import type { Address, Hex } from 'viem';
import { sqlFor, type Db } from '../../db/client';
import { read, sql } from '../../db/sql';
import { SYSTEM_ACCOUNTS, getOrCreateWalletAccount } from '../../ledger/accounts';
import type { Ledger } from '../../ledger/ledger';
import type { Micros } from '../../money';

/**
 * The ledger side of session channels. A channel's money is one ledger account owned by the payer
 * (kind SESSION_CHANNEL): every voucher accepted credits it what the voucher adds (from the
 * deposits contra account, as an x402 payment does), calls hold and settle against it as they do
 * against a wallet, so `spent = acceptedCumulative - balance` at all times. The close squares it
 * with what the chain paid: the channel account ends at zero.
 */

export type ChannelRow = {
  id: Hex;
  chainId: number;
  escrow: Address;
  token: Address;
  payer: Address;
  payee: Address;
  authorizedSigner: Address;
  userId: string;
  accountId: string;
  deposit: bigint;
  acceptedCumulative: bigint;
  voucherSignature: Hex | null;
  status: 'OPEN' | 'CLOSING' | 'CLOSED';
  closeAmount: bigint | null;
  closeTxHash: Hex | null;
  lastUsedAt: Date;
  /** The channel account's balance (accepted minus spent) and what is not held by calls in flight. */
  balance: Micros;
  available: Micros;
};

/** The channel account's id: derived from the channel id, so a call never looks it up. */
export function channelAccountId(channelId: Hex): string {
  return `acc_session_${channelId.slice(2)}`;
}

class AcceptRaced extends Error {}

export async function loadChannel(db: Db, channelId: Hex): Promise<ChannelRow | null> {
  const [row] = await sqlFor(db).query(
    sql`SELECT c."id", c."chainId", c."escrow", c."token", c."payer", c."payee", c."authorizedSigner", c."userId", c."accountId", c."deposit", c."acceptedCumulative", c."voucherSignature", c."status", c."closeAmount", c."closeTxHash", c."lastUsedAt", a."balance", a."available" FROM "SessionChannel" c JOIN "LedgerAccount" a ON a."id" = c."accountId" WHERE c."id" = ${channelId}`,
  );
  if (!row) return null;
  return {
    id: read.string(row.id) as Hex,
    chainId: Number(row.chainId),
    escrow: read.string(row.escrow) as Address,
    token: read.string(row.token) as Address,
    payer: read.string(row.payer) as Address,
    payee: read.string(row.payee) as Address,
    authorizedSigner: read.string(row.authorizedSigner) as Address,
    userId: read.string(row.userId),
    accountId: read.string(row.accountId),
    deposit: read.bigint(row.deposit),
    acceptedCumulative: read.bigint(row.acceptedCumulative),
    voucherSignature: row.voucherSignature === null ? null : (read.string(row.voucherSignature) as Hex),
    status: read.string(row.status) as ChannelRow['status'],
    closeAmount: row.closeAmount === null ? null : read.bigint(row.closeAmount),
    closeTxHash: row.closeTxHash === null ? null : (read.string(row.closeTxHash) as Hex),
    lastUsedAt: read.nullableDate(row.lastUsedAt) ?? new Date(0),
    balance: read.bigint(row.balance),
    available: read.bigint(row.available),
  };
}

/**
 * Records a channel verified on chain, with its ledger account, once: a second open of the same
 * channel (a retry, or two at once) finds the row there and changes nothing.
 */
export async function recordChannel(
  db: Db,
  channel: { id: Hex; chainId: number; escrow: Address; token: Address; payer: Address; payee: Address; authorizedSigner: Address; userId: string; deposit: bigint; openTxHash: Hex },
): Promise<void> {
  const accountId = channelAccountId(channel.id);
  const now = new Date();
  await sqlFor(db).transaction(async (tx) => {
    await tx.execute(
      sql`INSERT INTO "LedgerAccount" ("id", "kind", "code", "userId", "balance", "available", "createdAt", "updatedAt") VALUES (${accountId}, 'SESSION_CHANNEL', ${`session:${channel.id}`}, ${channel.userId}, 0, 0, ${now}, ${now}) ON CONFLICT DO NOTHING`,
    );
    await tx.execute(
      sql`INSERT INTO "SessionChannel" ("id", "chainId", "escrow", "token", "payer", "payee", "authorizedSigner", "userId", "accountId", "deposit", "acceptedCumulative", "openTxHash", "status", "lastUsedAt", "createdAt", "updatedAt") VALUES (${channel.id}, ${channel.chainId}, ${channel.escrow}, ${channel.token}, ${channel.payer}, ${channel.payee}, ${channel.authorizedSigner}, ${channel.userId}, ${accountId}, ${channel.deposit}, 0, ${channel.openTxHash}, 'OPEN', ${now}, ${now}, ${now}) ON CONFLICT DO NOTHING`,
    );
  });
}

/**
 * Accepts a voucher: credits the channel account what it adds over the highest accepted, and
 * records it as the new highest, in one ledger transaction. Serialized per channel by a
 * compare-and-set on the accepted amount (a concurrent acceptance makes this one look again), so
 * every micro-dollar a voucher covers is credited exactly once whatever the interleaving.
 * Returns the accepted cumulative amount afterwards.
 */
export async function acceptVoucher(db: Db, ledger: Ledger, channelId: Hex, voucher: { cumulativeAmount: bigint; signature: Hex }): Promise<bigint> {
  for (;;) {
    const [row] = await sqlFor(db).query(sql`SELECT "acceptedCumulative", "accountId", "payer", "status" FROM "SessionChannel" WHERE "id" = ${channelId}`);
    if (!row) throw new Error(`session channel ${channelId} is not recorded`);
    const current = read.bigint(row.acceptedCumulative);
    if (voucher.cumulativeAmount <= current) return current;
    if (read.string(row.status) !== 'OPEN') return current;
    const delta = voucher.cumulativeAmount - current;
    const now = new Date();
    try {
      await ledger.transfer(
        {
          idempotencyKey: `session:${channelId}:${voucher.cumulativeAmount}`,
          kind: 'session_voucher',
          entries: [
            { accountId: SYSTEM_ACCOUNTS.deposits.id, amount: -delta },
            { accountId: read.string(row.accountId), amount: delta },
          ],
          memo: `session voucher ${channelId} to ${voucher.cumulativeAmount}`,
          actor: `session:${read.string(row.payer)}`,
        },
        async (tx) => {
          const updated = await tx.execute(
            sql`UPDATE "SessionChannel" SET "acceptedCumulative" = ${voucher.cumulativeAmount}, "voucherSignature" = ${voucher.signature}, "lastUsedAt" = ${now}, "updatedAt" = ${now} WHERE "id" = ${channelId} AND "acceptedCumulative" = ${current} AND "status" = 'OPEN'`,
          );
          if (updated !== 1) throw new AcceptRaced();
        },
      );
    } catch (error) {
      if (error instanceof AcceptRaced) continue;
      throw error;
    }
  }
}

export async function touchChannel(db: Db, channelId: Hex): Promise<void> {
  await sqlFor(db).execute(sql`UPDATE "SessionChannel" SET "lastUsedAt" = ${new Date()} WHERE "id" = ${channelId}`);
}

export async function setDeposit(db: Db, channelId: Hex, deposit: bigint): Promise<void> {
  // Deposits only grow (topUp): an older read never lowers a newer one.
  await sqlFor(db).execute(sql`UPDATE "SessionChannel" SET "deposit" = ${deposit}, "updatedAt" = ${new Date()} WHERE "id" = ${channelId} AND "deposit" < ${deposit}`);
}

/** Moves OPEN → CLOSING (true), or says another close has it. */
export async function markClosing(db: Db, channelId: Hex): Promise<boolean> {
  const now = new Date();
  return (await sqlFor(db).execute(sql`UPDATE "SessionChannel" SET "status" = 'CLOSING', "error" = NULL, "updatedAt" = ${now} WHERE "id" = ${channelId} AND "status" = 'OPEN'`)) === 1;
}

/** The sweeper takes over a close left CLOSING since before `staleBefore` (true: it is now this one's). */
export async function takeOverClosing(db: Db, channelId: Hex, staleBefore: Date): Promise<boolean> {
  return (await sqlFor(db).execute(sql`UPDATE "SessionChannel" SET "updatedAt" = ${new Date()} WHERE "id" = ${channelId} AND "status" = 'CLOSING' AND "updatedAt" <= ${staleBefore}`)) === 1;
}

export async function reopen(db: Db, channelId: Hex, error: string): Promise<void> {
  await sqlFor(db).execute(sql`UPDATE "SessionChannel" SET "status" = 'OPEN', "error" = ${error.slice(0, 500)}, "updatedAt" = ${new Date()} WHERE "id" = ${channelId} AND "status" = 'CLOSING'`);
}

export async function noteCloseError(db: Db, channelId: Hex, error: string): Promise<void> {
  await sqlFor(db).execute(sql`UPDATE "SessionChannel" SET "error" = ${error.slice(0, 500)}, "updatedAt" = ${new Date()} WHERE "id" = ${channelId}`);
}

export async function pendingHolds(db: Db, accountId: string): Promise<number> {
  const [row] = await sqlFor(db).query(sql`SELECT COUNT(*) AS "n" FROM "Hold" WHERE "debitAccountId" = ${accountId} AND "status" = 'PENDING'`);
  return Number(row?.n ?? 0);
}

/**
 * Squares the ledger with a close the chain has done, paying `closeAmount` to the payee: the
 * vouchers above it were never collected (back to the deposits account they came from); what the
 * payer paid on chain beyond what calls spent is theirs, as wallet credit; what calls spent beyond
 * it (a payer who withdrew first) is revenue lost. The channel account ends at zero. Idempotent by the channel: once CLOSED, nothing more happens.
 */
export async function squareClose(db: Db, ledger: Ledger, channel: ChannelRow, closeAmount: bigint, txHash: Hex): Promise<void> {
  const accepted = channel.acceptedCumulative;
  const now = new Date();
  // Read inside the transaction below would be tidier, but calls can no longer move the balance:
  // the channel is CLOSING and its holds are resolved (the caller waited for them).
  const [account] = await sqlFor(db).query(sql`SELECT "balance" FROM "LedgerAccount" WHERE "id" = ${channel.accountId}`);
  const balance = account ? read.bigint(account.balance) : 0n;
  const spent = accepted - balance;
  const entries = [
    { accountId: channel.accountId, amount: -balance },
    { accountId: SYSTEM_ACCOUNTS.deposits.id, amount: accepted - closeAmount },
  ];
  const markClosed = sql`UPDATE "SessionChannel" SET "status" = 'CLOSED', "closeAmount" = ${closeAmount}, "closeTxHash" = ${txHash}, "error" = NULL, "updatedAt" = ${now} WHERE "id" = ${channel.id} AND "status" <> 'CLOSED'`;
  if (closeAmount > spent) {
    const wallet = await getOrCreateWalletAccount({ db, userId: channel.userId });
    entries.push({ accountId: wallet.id, amount: closeAmount - spent });
  } else if (closeAmount < spent) {
    // Served but never collected (the payer withdrew before the server closed): that revenue is
    // reversed, so the books show the loss rather than money the chain never paid.
    entries.push({ accountId: SYSTEM_ACCOUNTS.revenue.id, amount: closeAmount - spent });
  }
  const moving = entries.filter((e) => e.amount !== 0n);
  if (moving.length === 0) {
    await sqlFor(db).execute(markClosed);
    return;
  }
  await ledger.transfer(
    { idempotencyKey: `session-close:${channel.id}`, kind: 'session_close', entries: moving, memo: `session ${channel.id} closed at ${closeAmount} (${txHash})`, actor: 'session:close' },
    (tx) => tx.execute(markClosed),
  );
}
