import { createPublicClient, encodeFunctionData, erc20Abi, getAddress, http, keccak256, parseEventLogs, type Hex, type PublicClient, type TransactionReceipt } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Db } from '../../db/client';
import { sql } from '../../db/sql';
import { randomBase62, newId } from '../../ids';
import { SYSTEM_ACCOUNTS, getOrCreateSellerEarningsAccount, sellerEarningsAccountId } from '../../ledger/accounts';
import { Ledger } from '../../ledger/ledger';
import { logger } from '../../logger';
import type { Micros } from '../../money';
import { getSellerEarnings, isoWeek, PAYOUT_REVERSAL_KIND } from '../../sellers/earnings';

export { PAYOUT_REVERSAL_KIND };
import type { PayoutChainConfig, PayoutPolicy } from './config';
import { takeLease } from './lease';

export const PAYOUT_LEASE = 'seller-payouts';
export const PAYOUT_KIND = 'seller_payout';

/** One payout per seller per period (an ISO week, UTC). */
export const payoutKey = (userId: string, period: string) => `payout:${userId}:${period}`;

export type PayoutRow = {
  id: string;
  userId: string;
  amount: Micros;
  toAddress: string;
  status: 'PENDING' | 'SIGNED' | 'CONFIRMED' | 'FAILED';
  nonce: number | null;
  rawTx: string | null;
  txHash: string | null;
};

export type PayoutRunResult = {
  /** False when another instance holds the run's lease: nothing was done here. */
  ran: boolean;
  period: string;
  created: number;
  confirmed: number;
  failed: number;
  /** Signed and sent, waiting for the chain (a receipt, or enough confirmations). */
  waiting: number;
  /** Sellers with payable earnings the run could not pay, and why. */
  skipped: { userId: string; reason: 'no_wallet' | 'not_signed' | 'error' }[];
};

/**
 * Test seams where a real run can die: after a payout's transaction is signed and stored but
 * before it is sent, and after it is sent but before its receipt is recorded. A hook that throws
 * ends the run right there, as a crash would.
 */
export type PayoutFaults = { afterSign?: (payout: PayoutRow) => void | Promise<void>; afterBroadcast?: (payout: PayoutRow) => void | Promise<void> };

export type PayoutRunner = {
  /**
   * `newPayouts`: also create this period's payouts (the weekly run, an admin's); without it the
   * run only carries payouts already made to their end.
   */
  run(options?: { actor?: string; newPayouts?: boolean; now?: Date }): Promise<PayoutRunResult>;
  /** What the weekly run has to do: this period's payouts (not run yet), payouts not final yet. */
  due(now?: Date): Promise<{ newPeriod: boolean; open: boolean }>;
};

const ROW_SELECT = { id: true, userId: true, amount: true, toAddress: true, status: true, nonce: true, rawTx: true, txHash: true } as const;

/**
 * The payout run. Exactly once, even when a run is repeated or dies halfway:
 * 1. In ONE database transaction, the seller's available earnings move to the payouts account
 *    (idempotency key `payout:<userId>:<week>`) and the SellerPayout row is written (PENDING).
 * 2. The USDC transfer is signed locally at a chosen nonce; the raw transaction and its hash are
 *    stored (SIGNED) BEFORE it is sent. Then it is sent.
 * 3. Any later run re-sends the very same bytes (same hash: a duplicate is harmless) or reads the
 *    receipt: success with enough confirmations → CONFIRMED; reverted → FAILED and the money back
 *    to the seller's earnings (its own idempotent transfer). A stored transaction whose nonce was
 *    used by something else can never be mined: only then is the payout signed again.
 * Runs are serialized across instances by a lease (lease.ts), so two never sign with one nonce.
 */
export function createPayoutRunner({
  db,
  policy,
  chain,
  faults = {},
  leaseMs = 5 * 60_000,
  client,
}: {
  db: Db;
  policy: PayoutPolicy;
  chain: PayoutChainConfig;
  faults?: PayoutFaults;
  leaseMs?: number;
  client?: PublicClient;
}): PayoutRunner {
  const ledger = new Ledger(db);
  const account = privateKeyToAccount(chain.signerKey);
  const publicClient = client ?? (createPublicClient({ chain: chain.network.chain, transport: http(chain.rpcUrl, { timeout: 15_000, retryCount: 1 }) }) as PublicClient);

  /** Whether the node still knows the transaction (pending or mined). */
  const knownTransaction = async (hash: Hex): Promise<boolean> => {
    try {
      await publicClient.getTransaction({ hash });
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'TransactionNotFoundError') return false;
      throw error;
    }
  };

  const receiptOf = async (hash: Hex): Promise<TransactionReceipt | null> => {
    try {
      return await publicClient.getTransactionReceipt({ hash });
    } catch (error) {
      if (error instanceof Error && error.name === 'TransactionReceiptNotFoundError') return null;
      throw error;
    }
  };

  const broadcast = async (payout: PayoutRow) => {
    try {
      await publicClient.sendRawTransaction({ serializedTransaction: payout.rawTx as Hex });
    } catch (error) {
      // Already known, already mined, or reverted as it was mined (a local node reports that):
      // the receipt, read next, says which. Nothing is signed again on an error here.
      logger.warn('payout broadcast answered with an error', { payoutId: payout.id, txHash: payout.txHash, error: error instanceof Error ? error.message.split('\n')[0] : String(error) });
    }
  };

  /** Signs a PENDING payout and stores it as SIGNED; false when it cannot be signed now. */
  const sign = async (payout: PayoutRow, now: Date): Promise<PayoutRow | null> => {
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [getAddress(payout.toAddress), payout.amount] });
    // The payout wallet must hold this payout and every one signed and not yet final.
    const [balance, inFlight, pendingNonce, highest] = await Promise.all([
      publicClient.readContract({ address: chain.token, abi: erc20Abi, functionName: 'balanceOf', args: [account.address] }),
      db.sellerPayout.aggregate({ where: { status: 'SIGNED' }, _sum: { amount: true } }),
      publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' }),
      db.sellerPayout.aggregate({ where: { status: 'SIGNED' }, _max: { nonce: true } }),
    ]);
    if (balance < payout.amount + (inFlight._sum.amount ?? 0n)) {
      const message = `the payout wallet ${account.address} holds too little USDC (${balance} atomic units) for this payout and those in flight`;
      await db.sellerPayout.updateMany({ where: { id: payout.id, status: 'PENDING' }, data: { error: message } });
      logger.error('seller payout not signed: payout wallet underfunded', { payoutId: payout.id, wallet: account.address });
      return null;
    }
    // The node's pending count, unless a stored transaction it has lost already took that nonce.
    const storedNext = highest._max.nonce === null || highest._max.nonce === undefined ? 0 : highest._max.nonce + 1;
    const nonce = Math.max(pendingNonce, storedNext);
    const [gas, fees] = await Promise.all([publicClient.estimateGas({ account: account.address, to: chain.token, data }), publicClient.estimateFeesPerGas()]);
    const rawTx = await account.signTransaction({
      chainId: chain.chainId,
      type: 'eip1559',
      to: chain.token,
      data,
      nonce,
      // Headroom, because the same bytes may be re-sent later: a fee that was just enough today
      // could strand the payout when fees rise.
      gas: (gas * 13n) / 10n,
      maxFeePerGas: fees.maxFeePerGas * 2n,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    });
    const txHash = keccak256(rawTx);
    const { count } = await db.sellerPayout.updateMany({
      where: { id: payout.id, status: 'PENDING' },
      data: { status: 'SIGNED', nonce, rawTx, txHash, signedAt: now, error: null },
    });
    if (count !== 1) return null;
    return { ...payout, status: 'SIGNED', nonce, rawTx, txHash };
  };

  /** Money back to the seller and the row FAILED, in one transaction; idempotent. */
  const fail = async (payout: PayoutRow, reason: string) => {
    const now = new Date();
    await ledger.transfer(
      {
        idempotencyKey: `payout-reversal:${payout.id}`,
        kind: PAYOUT_REVERSAL_KIND,
        memo: `payout ${payout.id} failed: ${reason}`.slice(0, 500),
        actor: 'system:payouts',
        entries: [
          { accountId: SYSTEM_ACCOUNTS.payouts.id, amount: -payout.amount },
          { accountId: sellerEarningsAccountId(payout.userId), amount: payout.amount },
        ],
      },
      async (tx) => {
        // Only the very transaction judged failed: a row confirmed, or signed again, meanwhile (by a
        // run that took the lease over) must not also give the money back. Throwing undoes the reversal.
        const failed = await tx.execute(sql`UPDATE "SellerPayout" SET "status" = 'FAILED', "error" = ${reason}, "updatedAt" = ${now} WHERE "id" = ${payout.id} AND "status" = 'SIGNED' AND "txHash" = ${payout.txHash}`);
        if (failed !== 1) throw new Error(`payout ${payout.id} is no longer the signed transaction ${payout.txHash}; not reversed`);
      },
    );
    logger.error('seller payout failed on chain; earnings returned', { payoutId: payout.id, txHash: payout.txHash, reason });
  };

  /** What a receipt means for a SIGNED payout: final (confirmed or failed), or still waiting. */
  const settleReceipt = async (payout: PayoutRow, receipt: TransactionReceipt): Promise<'confirmed' | 'failed' | 'waiting'> => {
    const latest = await publicClient.getBlockNumber({ cacheTime: 0 });
    if (latest - receipt.blockNumber + 1n < BigInt(chain.confirmations)) return 'waiting';
    if (receipt.status !== 'success') {
      await fail(payout, `transaction ${payout.txHash} reverted`);
      return 'failed';
    }
    // The receipt must show the token moving this amount to this seller: a success that did not
    // (a token that returns false without reverting) is no payment.
    const paid = parseEventLogs({ abi: erc20Abi, eventName: 'Transfer', logs: receipt.logs }).some(
      (log) => log.address.toLowerCase() === chain.token.toLowerCase() && log.args.to.toLowerCase() === payout.toAddress.toLowerCase() && log.args.value === payout.amount,
    );
    if (!paid) {
      await fail(payout, `transaction ${payout.txHash} moved no USDC to ${payout.toAddress}`);
      return 'failed';
    }
    await db.sellerPayout.updateMany({ where: { id: payout.id, status: 'SIGNED', txHash: payout.txHash }, data: { status: 'CONFIRMED', confirmedAt: new Date(), error: null } });
    logger.info('seller payout confirmed', { payoutId: payout.id, txHash: payout.txHash });
    return 'confirmed';
  };

  /** Carries a SIGNED payout forward: its receipt, a re-send of the same bytes, or (nonce taken) a new signature. */
  const advance = async (payout: PayoutRow): Promise<'confirmed' | 'failed' | 'waiting' | 'resigned'> => {
    const hash = payout.txHash as Hex;
    // The mined nonce count first, then the receipt: if ours held that nonce it was mined before
    // the count passed it, so a missing receipt then means another transaction took the nonce.
    // The count is read `confirmations` deep, so that a reorg cannot take back what it saw, and a
    // node that still knows our transaction (a load-balanced RPC whose answers disagree) vetoes it:
    // signing again while ours might land would pay twice.
    const head = await publicClient.getBlockNumber();
    const depth = BigInt(Math.max(chain.confirmations - 1, 0));
    const mined = await publicClient.getTransactionCount({ address: account.address, blockNumber: head > depth ? head - depth : 0n });
    const receipt = await receiptOf(hash);
    if (receipt) return settleReceipt(payout, receipt);
    if (payout.nonce !== null && mined > payout.nonce && !(await knownTransaction(hash))) {
      const { count } = await db.sellerPayout.updateMany({
        where: { id: payout.id, status: 'SIGNED', txHash: hash },
        data: { status: 'PENDING', rawTx: null, txHash: null, nonce: null, error: `transaction ${hash} was superseded at nonce ${payout.nonce}; signed again` },
      });
      if (count === 1) logger.warn('seller payout transaction superseded; signing again', { payoutId: payout.id, txHash: hash });
      return 'resigned';
    }
    await broadcast(payout);
    const after = await receiptOf(hash);
    return after ? settleReceipt(payout, after) : 'waiting';
  };

  /** Creates this period's payouts: one ledger transfer + row per payable seller with a wallet. */
  const createPayouts = async (period: string, now: Date, actor: string, skipped: PayoutRunResult['skipped']) => {
    const candidates = await db.ledgerAccount.findMany({
      where: { kind: 'SELLER_EARNINGS', balance: { gte: policy.minimum }, userId: { not: null } },
      select: { userId: true, user: { select: { walletAddress: true } } },
      orderBy: { id: 'asc' },
    });
    let created = 0;
    for (const candidate of candidates) {
      try {
        created += await createPayout(candidate, period, actor, now, skipped);
      } catch (error) {
        // One seller's trouble (a debit race, a bad address) must not hold up everyone else's payout.
        logger.error('could not create a seller payout; the others go on', { userId: candidate.userId, period, error });
        skipped.push({ userId: candidate.userId!, reason: 'error' });
      }
    }
    return created;
  };

  /** One seller's payout of this period: 1 when made now, 0 when there is nothing (more) to pay. */
  const createPayout = async (candidate: { userId: string | null; user: { walletAddress: string | null } | null }, period: string, actor: string, now: Date, skipped: PayoutRunResult['skipped']): Promise<number> => {
    const userId = candidate.userId!;
    const key = payoutKey(userId, period);
    if (await db.sellerPayout.findUnique({ where: { idempotencyKey: key }, select: { id: true } })) return 0;
    const earnings = await getSellerEarnings({ db, userId, holdingMs: policy.holdingMs, now });
    if (earnings.available < policy.minimum) return 0;
    const toAddress = candidate.user?.walletAddress;
    if (!toAddress) {
      skipped.push({ userId, reason: 'no_wallet' });
      return 0;
    }
    await getOrCreateSellerEarningsAccount({ db, userId });
    const id = newId('po');
    const amount = earnings.available;
    const result = await ledger.transfer(
      {
        idempotencyKey: key,
        kind: PAYOUT_KIND,
        memo: `USDC payout ${id} for ${period}`,
        actor,
        entries: [
          { accountId: sellerEarningsAccountId(userId), amount: -amount },
          { accountId: SYSTEM_ACCOUNTS.payouts.id, amount },
        ],
      },
      async (tx) => {
        const [txn] = await tx.query(sql`SELECT "id" FROM "LedgerTransaction" WHERE "idempotencyKey" = ${key}`);
        const at = new Date();
        await tx.execute(
          sql`INSERT INTO "SellerPayout" ("id", "userId", "amount", "toAddress", "chainId", "token", "idempotencyKey", "period", "ledgerTransactionId", "createdAt", "updatedAt") VALUES (${id}, ${userId}, ${amount}, ${getAddress(toAddress)}, ${chain.chainId}, ${chain.token}, ${key}, ${period}, ${String(txn!.id)}, ${at}, ${at})`,
        );
      },
    );
    return result.replayed ? 0 : 1;
  };

  // Only the payouts of the configured chain and token: a row signed for another network (the
  // setting changed while it was open) must never be looked up here, judged superseded and paid
  // again. Those wait, loudly, for the operator (see run()).
  const thisChain = { chainId: chain.chainId, token: chain.token };
  const openRows = () => db.sellerPayout.findMany({ where: { status: { in: ['PENDING', 'SIGNED'] }, ...thisChain }, select: ROW_SELECT, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });

  return {
    async due(now = new Date()) {
      const [lease, open] = await Promise.all([db.jobLease.findUnique({ where: { name: PAYOUT_LEASE }, select: { lastPeriod: true } }), db.sellerPayout.count({ where: { status: { in: ['PENDING', 'SIGNED'] }, ...thisChain } })]);
      return { newPeriod: lease?.lastPeriod !== isoWeek(now), open: open > 0 };
    },

    async run({ actor = 'system:payouts', newPayouts = true, now = new Date() } = {}) {
      const period = isoWeek(now);
      const result: PayoutRunResult = { ran: false, period, created: 0, confirmed: 0, failed: 0, waiting: 0, skipped: [] };
      const lease = await takeLease({ db, name: PAYOUT_LEASE, holder: `run_${randomBase62(12)}`, ttlMs: leaseMs });
      if (!lease) return result;
      result.ran = true;
      const elsewhere = await db.sellerPayout.count({ where: { status: { in: ['PENDING', 'SIGNED'] }, NOT: thisChain } });
      if (elsewhere > 0) logger.error('open seller payouts belong to another chain or token than SELLER_PAYOUT_NETWORK now names; they are left alone for the operator', { count: elsewhere });
      try {
        // Payouts left by earlier runs first: their nonces come before any new one.
        // A payout that errors (an RPC hiccup, a gas estimate the chain refuses) keeps its error on
        // its row and is retried by the next run; it must not hold up the others.
        const attempt = async <T>(row: PayoutRow, work: () => Promise<T>): Promise<T | null> => {
          try {
            return await work();
          } catch (error) {
            const message = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 300) : String(error);
            logger.error('seller payout step failed; the next run retries it', { payoutId: row.id, error: message });
            await db.sellerPayout.updateMany({ where: { id: row.id, status: { in: ['PENDING', 'SIGNED'] } }, data: { error: message } });
            return null;
          }
        };
        const count = (outcome: string | null) => {
          if (outcome === 'confirmed') result.confirmed++;
          else if (outcome === 'failed') result.failed++;
        };
        const carry = async () => {
          for (let row of await openRows()) {
            if (!(await lease.renew())) throw new Error('the payout lease was lost mid-run');
            if (row.status === 'SIGNED') {
              const outcome = await attempt(row, () => advance(row));
              count(outcome);
              if (outcome !== 'resigned') continue;
              row = { ...row, status: 'PENDING', nonce: null, rawTx: null, txHash: null };
            }
            const pending = row;
            const signed = await attempt(pending, () => sign(pending, now));
            if (!signed) {
              if (!result.skipped.some((s) => s.userId === pending.userId)) result.skipped.push({ userId: pending.userId, reason: 'not_signed' });
              continue;
            }
            // The seams sit outside `attempt`: a crash there must end the run.
            await faults.afterSign?.(signed);
            await broadcast(signed);
            await faults.afterBroadcast?.(signed);
            count(await attempt(signed, async () => {
              const receipt = await receiptOf(signed.txHash as Hex);
              return receipt ? settleReceipt(signed, receipt) : 'waiting';
            }));
          }
        };
        await carry();
        if (newPayouts) {
          result.created = await createPayouts(period, now, actor, result.skipped);
          await db.jobLease.updateMany({ where: { name: PAYOUT_LEASE, holder: lease.holder }, data: { lastPeriod: period } });
          if (result.created > 0) await carry();
        }
        result.waiting = await db.sellerPayout.count({ where: { status: 'SIGNED' } });
        return result;
      } finally {
        await lease.release();
      }
    },
  };
}
