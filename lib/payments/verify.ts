import { erc20Abi, getAddress, isAddressEqual, parseEventLogs, type Block, type Hex, type PublicClient, type TransactionReceipt } from 'viem';
import type { Db } from '../db/client';
import type { DepositIntent } from '../db/generated/sqlite/client';
import { logger } from '../logger';
import { creditDeposit } from './credit';
import { ASSETS, findNetwork, publicClientFor, type Asset, type NetworkConfig, type PaymentsConfig } from './networks';
import { describeRpcError, isRpcError } from './rpc-errors';

/**
 * Automatic verification of a deposit: the receipt succeeded on the intent's chain; a `Transfer`
 * log emitted by that network's contract for the intent's asset moves at least the gross amount
 * to the treasury (and not more than the tolerance above it); the sender is the user's linked
 * wallet when that is required; enough blocks are on top. Then one ledger transaction credits it
 * (lib/payments/credit.ts). Anything off sends the intent to review with the reason and the facts
 * seen on chain: nothing credits automatically on a mismatch.
 *
 * Finality: a receipt counts only while its block is the canonical one at its height, checked
 * after the head is read. A receipt read just before a reorganization (or from a lagging backend
 * behind a load balancer) names a block the chain no longer has; without the check, the new,
 * higher head would count confirmations for a transaction that is gone. A transaction dropped
 * that way waits like one never seen (and goes to review as tx_not_found after the timeout); if
 * it is mined again, it is checked afresh at its new block.
 */

export const REVIEW_REASONS = {
  tx_not_found: 'The transaction was not found on the chain within the time allowed.',
  wrong_network: 'The transaction is on another network than the one chosen for this deposit.',
  tx_reverted: 'The transaction failed on chain (reverted).',
  wrong_asset: 'The transfer to the treasury is in another token than the one chosen.',
  no_transfer_to_treasury: 'The transaction has no transfer of the chosen token to the treasury.',
  underpaid: 'Less than the gross amount was sent.',
  overpaid: 'More than the gross amount was sent, beyond the tolerance.',
  wrong_sender: "The tokens were not sent from the user's linked wallet.",
  no_linked_wallet: 'A linked wallet is required for deposits, and this user has none.',
  duplicate_transfer: 'This transfer was already credited to another deposit.',
  no_automatic_verification: 'Automatic verification is off for this network (no RPC configured).',
  rpc_chain_mismatch: "The configured RPC answers for another chain than this network's.",
  rpc_unavailable: "The network's RPC kept failing for longer than the time allowed, so the transaction could not be checked.",
} as const;
export type ReviewReason = keyof typeof REVIEW_REASONS;

export type TransferFact = { log_index: number; token: string; asset: Asset | null; from: string; to: string; value_atomic: string };

export type DepositFacts = {
  submitted_at?: string;
  checked_at?: string;
  chain_id?: number;
  rpc_chain_id?: number;
  tx_hash?: string;
  found?: boolean;
  found_on_network?: string;
  found_on_chain_id?: number;
  receipt_status?: 'success' | 'reverted';
  block_number?: string;
  block_hash?: string;
  /** The block the transaction was last seen in, when a later check found it no longer on the chain (a reorganization). */
  dropped_block_number?: string;
  dropped_block_hash?: string | null;
  confirmations?: number;
  required_confirmations?: number;
  transfers?: TransferFact[];
  matched_log_index?: number | null;
  sender?: string | null;
  linked_wallet?: string | null;
  expected_atomic?: string;
  max_accepted_atomic?: string;
  observed_atomic?: string | null;
  /** The last RPC failure, described without the RPC's URL (lib/payments/rpc-errors.ts). */
  last_error?: string;
  /** The variable naming the failing RPC (DEV_CHAIN_RPC_URL, RPC_URL_BASE, …), never its value. */
  rpc_env?: string;
  /** When the current run of RPC failures began; cleared by the next check that reaches the chain. */
  rpc_failing_since?: string;
};

export type VerifyOutcome =
  | { status: 'CREDITED'; transactionId: string }
  | { status: 'NEEDS_REVIEW'; reason: ReviewReason }
  | { status: 'VERIFYING'; waitingFor: 'transaction' | 'confirmations' | 'rpc'; confirmations: number }
  | { status: 'SKIPPED' };

export type VerifyDeps = {
  db: Db;
  config: PaymentsConfig;
  /** Defaults to one viem client per configured RPC. */
  clientFor?: (network: NetworkConfig) => PublicClient | null;
  now?: () => Date;
};

export function parseFacts(text: string | null): DepositFacts {
  if (!text) return {};
  try {
    return JSON.parse(text) as DepositFacts;
  } catch {
    return {};
  }
}

/** The most the treasury may receive and still credit automatically: gross plus the tolerance. */
export function maxAcceptedAtomic(grossAtomic: bigint, toleranceBps: bigint): bigint {
  return grossAtomic + (grossAtomic * toleranceBps) / 10_000n;
}

function assetOf(network: NetworkConfig, token: string): Asset | null {
  for (const asset of ASSETS) {
    const address = network.tokens[asset];
    if (address && isAddressEqual(address, getAddress(token))) return asset;
  }
  return null;
}

function retryDelay(config: PaymentsConfig, attempts: number): number {
  return Math.min(config.worker.retryBaseMs * 2 ** Math.min(attempts, 16), config.worker.retryMaxMs);
}

async function findReceipt(client: PublicClient, hash: Hex): Promise<TransactionReceipt | null> {
  try {
    return await client.getTransactionReceipt({ hash });
  } catch (error) {
    if (error instanceof Error && error.name === 'TransactionReceiptNotFoundError') return null;
    throw error;
  }
}

async function findBlock(client: PublicClient, blockNumber: bigint): Promise<Block | null> {
  try {
    return await client.getBlock({ blockNumber });
  } catch (error) {
    if (error instanceof Error && error.name === 'BlockNotFoundError') return null;
    throw error;
  }
}

/** Checks one intent with an attached transaction hash and moves it on. Safe to run repeatedly and concurrently. */
export async function verifyIntent(deps: VerifyDeps, intentId: string): Promise<VerifyOutcome> {
  const { db, config } = deps;
  const now = deps.now?.() ?? new Date();
  const intent = await db.depositIntent.findUnique({ where: { id: intentId } });
  if (!intent || intent.status !== 'VERIFYING' || !intent.txHash) return { status: 'SKIPPED' };
  // Each check records what it sees afresh; from earlier checks only the submission time and a
  // block the transaction was dropped from carry over (an RPC failure keeps the last facts seen).
  const previous = parseFacts(intent.facts);
  const facts: DepositFacts = {
    submitted_at: previous.submitted_at,
    checked_at: now.toISOString(),
    chain_id: intent.chainId,
    tx_hash: intent.txHash,
    ...(previous.dropped_block_number ? { dropped_block_number: previous.dropped_block_number, dropped_block_hash: previous.dropped_block_hash ?? null } : {}),
  };

  const review = (reason: ReviewReason, seen: DepositFacts = facts) => toReview(db, intent, reason, seen, now);
  const network = findNetwork(config, intent.network);
  const clientFor = deps.clientFor ?? publicClientFor;
  const client = network ? clientFor(network) : null;
  if (!network || !client) return review('no_automatic_verification');

  /** Not on the chain (never mined, or dropped by a reorganization): wait, until the timeout. */
  const notOnChain = async (): Promise<VerifyOutcome> => {
    facts.found = false;
    // Paid on another configured network by mistake: say so at once rather than time out.
    for (const other of config.networks) {
      if (other.id === network.id || other.chainId === network.chainId) continue;
      const otherClient = clientFor(other);
      if (!otherClient) continue;
      const elsewhere = await findReceipt(otherClient, intent.txHash as Hex).catch(() => null);
      if (elsewhere) {
        facts.found_on_network = other.id;
        facts.found_on_chain_id = other.chainId;
        return review('wrong_network');
      }
    }
    const submittedAt = facts.submitted_at ? Date.parse(facts.submitted_at) : intent.updatedAt.getTime();
    if (now.getTime() - submittedAt >= config.txNotFoundTimeoutMs) return review('tx_not_found');
    await stillVerifying(db, intent, facts, 0, new Date(now.getTime() + retryDelay(config, intent.attempts)), now);
    return { status: 'VERIFYING', waitingFor: 'transaction', confirmations: 0 };
  };

  try {
    const rpcChainId = await client.getChainId();
    if (rpcChainId !== intent.chainId) {
      facts.rpc_chain_id = rpcChainId;
      return review('rpc_chain_mismatch');
    }
    const hash = intent.txHash as Hex;
    const receipt = await findReceipt(client, hash);
    if (!receipt) {
      if (previous.found && previous.block_number) {
        facts.dropped_block_number = previous.block_number;
        facts.dropped_block_hash = previous.block_hash ?? null;
      }
      return await notOnChain();
    }
    const head = await client.getBlockNumber({ cacheTime: 0 });
    // Read after the head: if the receipt's block is still the chain's block at that height, the
    // head counted above it is on the same chain (short of a reorganization deeper than the confirmations).
    const canonical = head >= receipt.blockNumber ? await findBlock(client, receipt.blockNumber) : null;
    if (canonical?.hash !== receipt.blockHash) {
      facts.dropped_block_number = receipt.blockNumber.toString();
      facts.dropped_block_hash = receipt.blockHash;
      logger.warn('deposit transaction not in the canonical chain (reorganized out, or a stale RPC view)', { intentId: intent.id, block: receipt.blockNumber.toString() });
      return await notOnChain();
    }

    facts.found = true;
    facts.receipt_status = receipt.status;
    facts.block_number = receipt.blockNumber.toString();
    facts.block_hash = receipt.blockHash;
    const confirmations = Number(head - receipt.blockNumber + 1n);
    facts.confirmations = confirmations;
    facts.required_confirmations = network.confirmations;
    if (receipt.status !== 'success') return review('tx_reverted');

    // parseEventLogs decodes every ERC-20 Transfer in the receipt, from any contract: the token is log.address.
    const transfers = parseEventLogs({ abi: erc20Abi, eventName: 'Transfer', logs: receipt.logs, strict: true });
    facts.transfers = transfers.map((log) => ({
      log_index: log.logIndex,
      token: getAddress(log.address),
      asset: assetOf(network, log.address),
      from: getAddress(log.args.from),
      to: getAddress(log.args.to),
      value_atomic: log.args.value.toString(),
    }));
    const treasury = getAddress(intent.treasury);
    const token = getAddress(intent.tokenAddress);
    const toTreasury = transfers.filter((log) => isAddressEqual(log.args.to, treasury));
    const matching = toTreasury.filter((log) => isAddressEqual(log.address, token));
    facts.expected_atomic = intent.grossAtomic.toString();
    const maxAccepted = maxAcceptedAtomic(intent.grossAtomic, config.overpayToleranceBps);
    facts.max_accepted_atomic = maxAccepted.toString();
    if (matching.length === 0) {
      facts.matched_log_index = null;
      facts.observed_atomic = null;
      return review(toTreasury.some((log) => assetOf(network, log.address) !== null) ? 'wrong_asset' : 'no_transfer_to_treasury');
    }
    // Several transfers to the treasury in one transaction: the first that pays in full, else the largest.
    const inRange = matching.find((log) => log.args.value >= intent.grossAtomic && log.args.value <= maxAccepted);
    const log = inRange ?? matching.reduce((a, b) => (b.args.value > a.args.value ? b : a));
    const sender = getAddress(log.args.from);
    facts.matched_log_index = log.logIndex;
    facts.observed_atomic = log.args.value.toString();
    facts.sender = sender;
    if (log.args.value < intent.grossAtomic) return review('underpaid');
    if (log.args.value > maxAccepted) return review('overpaid');
    if (config.requireLinkedWallet) {
      const user = await db.user.findUnique({ where: { id: intent.userId }, select: { walletAddress: true } });
      facts.linked_wallet = user?.walletAddress ?? null;
      if (!user?.walletAddress) return review('no_linked_wallet');
      if (!isAddressEqual(getAddress(user.walletAddress), sender)) return review('wrong_sender');
    }
    if (confirmations < network.confirmations) {
      // Blocks arrive every few seconds: check again soon, without backing off.
      await stillVerifying(db, intent, facts, confirmations, new Date(now.getTime() + config.worker.retryBaseMs), now);
      return { status: 'VERIFYING', waitingFor: 'confirmations', confirmations };
    }

    const result = await creditDeposit({
      db,
      intent,
      from: 'VERIFYING',
      logIndex: log.logIndex,
      fromAddress: sender,
      observedAtomic: log.args.value,
      confirmations,
      credit: intent.credit,
      fee: intent.fee,
      facts: JSON.stringify(facts),
      actor: 'system:deposit-verifier',
      memo: `deposit ${intent.id}: ${intent.asset} on ${network.name}, tx ${intent.txHash}`,
    });
    if (result.credited) return { status: 'CREDITED', transactionId: result.transactionId };
    if (result.reason === 'duplicate_transfer') return review('duplicate_transfer');
    return { status: 'SKIPPED' };
  } catch (error) {
    // The RPC is down or answered nonsense (or the database failed): nothing is decided, try again
    // later, keeping the last facts seen. An RPC failing for longer than a transaction may stay
    // unseen (txNotFoundTimeoutMs), counted from the first failure in a row, sends the intent to
    // review: an outage or a broken RPC setting reaches an admin instead of holding deposits in
    // verification silently. The error is stored and logged without the RPC's URL (it may hold an API key).
    const rpcFailure = isRpcError(error);
    const failed: DepositFacts = { ...previous, checked_at: facts.checked_at, chain_id: facts.chain_id, tx_hash: facts.tx_hash, last_error: describeRpcError(error, network.rpcUrl) };
    if (rpcFailure) {
      failed.rpc_env = network.rpcEnv;
      failed.rpc_failing_since = previous.rpc_failing_since ?? now.toISOString();
    }
    logger.warn('deposit verification failed; will retry', { intentId: intent.id, rpc: rpcFailure ? network.rpcEnv : undefined, error: failed.last_error });
    if (rpcFailure && now.getTime() - Date.parse(failed.rpc_failing_since!) >= config.txNotFoundTimeoutMs) return review('rpc_unavailable', failed);
    await stillVerifying(db, intent, failed, intent.confirmations, new Date(now.getTime() + retryDelay(config, intent.attempts)), now);
    return { status: 'VERIFYING', waitingFor: 'rpc', confirmations: intent.confirmations };
  }
}

async function stillVerifying(db: Db, intent: DepositIntent, facts: DepositFacts, confirmations: number, nextCheckAt: Date, now: Date) {
  await db.depositIntent.updateMany({
    where: { id: intent.id, status: 'VERIFYING', txHash: intent.txHash },
    data: { confirmations, attempts: { increment: 1 }, lastCheckedAt: now, nextCheckAt, facts: JSON.stringify(facts) },
  });
}

async function toReview(db: Db, intent: DepositIntent, reason: ReviewReason, facts: DepositFacts, now: Date): Promise<VerifyOutcome> {
  const { count } = await db.depositIntent.updateMany({
    where: { id: intent.id, status: 'VERIFYING', txHash: intent.txHash },
    data: {
      status: 'NEEDS_REVIEW',
      reviewReason: reason,
      facts: JSON.stringify(facts),
      confirmations: facts.confirmations ?? intent.confirmations,
      fromAddress: facts.sender ?? null,
      observedAtomic: facts.observed_atomic ? BigInt(facts.observed_atomic) : null,
      attempts: { increment: 1 },
      lastCheckedAt: now,
      nextCheckAt: null,
    },
  });
  if (count === 1) logger.info('deposit needs review', { intentId: intent.id, reason });
  return count === 1 ? { status: 'NEEDS_REVIEW', reason } : { status: 'SKIPPED' };
}
