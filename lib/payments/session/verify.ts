import { decodeEventLog, isAddressEqual, type Address, type Hex, type PublicClient } from 'viem';
import { SESSION_ESCROW_ABI, computeChannelId } from './escrow';
import { verifyVoucher, type VoucherContext } from './voucher';

/**
 * Server-side checks of the EVM session spec's "Verification Procedure": the open (a client-broadcast
 * transaction, `type: "hash"`) and each voucher, against the escrow's on-chain state. Decisions only:
 * persisting the accepted amount, and serializing acceptance per channel, are the caller's.
 */

const ZERO: Address = '0x0000000000000000000000000000000000000000';

export type ChannelState = {
  payer: Address;
  payee: Address;
  token: Address;
  authorizedSigner: Address;
  deposit: bigint;
  settled: bigint;
  closeRequestedAt: bigint;
  finalized: boolean;
};

/** The EVM session problem types (spec, "Error Responses"), with the status each is sent with. */
export const SESSION_PROBLEMS = {
  'invalid-signature': { status: 402, title: 'Invalid Signature' },
  'signer-mismatch': { status: 402, title: 'Signer Mismatch' },
  'amount-exceeds-deposit': { status: 402, title: 'Amount Exceeds Deposit' },
  'delta-too-small': { status: 402, title: 'Delta Too Small' },
  'channel-not-found': { status: 410, title: 'Channel Not Found' },
  'channel-finalized': { status: 410, title: 'Channel Finalized' },
  'challenge-not-found': { status: 402, title: 'Challenge Not Found' },
  'insufficient-balance': { status: 402, title: 'Insufficient Balance' },
  'transaction-reverted': { status: 409, title: 'Transaction Reverted' },
} as const;
export type SessionProblemType = keyof typeof SESSION_PROBLEMS;

export type Refusal = { ok: false; problem: SessionProblemType; message: string };

/** RFC 9457 Problem Details for a refusal, as the spec's example error response shapes it. */
export function problemDetails(refusal: Refusal, channelId?: Hex) {
  const { status, title } = SESSION_PROBLEMS[refusal.problem];
  return {
    type: `https://paymentauth.org/problems/session/${refusal.problem}`,
    title,
    status,
    detail: refusal.message,
    ...(channelId !== undefined && { channelId }),
  };
}

const refuse = (problem: SessionProblemType, message: string): Refusal => ({ ok: false, problem, message });

/** The channel's on-chain record; null when the escrow has none under that id. */
export async function readChannel(client: PublicClient, escrowContract: Address, channelId: Hex): Promise<ChannelState | null> {
  const channel = await client.readContract({ address: escrowContract, abi: SESSION_ESCROW_ABI, functionName: 'getChannel', args: [channelId] });
  // open() always records a non-zero payer (msg.sender): zero means no record.
  return isAddressEqual(channel.payer, ZERO) ? null : { ...channel, closeRequestedAt: BigInt(channel.closeRequestedAt) };
}

export type VoucherDecision =
  | { ok: true; advanced: true; cumulativeAmount: bigint }
  /** Authentic but not above what was accepted: the spec's idempotent 200, covering nothing new. */
  | { ok: true; advanced: false }
  | Refusal;

/**
 * The spec's voucher verification, steps 1 and 3-8, in its order: the signature is checked before
 * the idempotency short-circuit, so a stale amount with a bad signature is still refused.
 */
export async function decideVoucher(input: {
  context: VoucherContext;
  channel: ChannelState;
  /** The highest cumulative amount already accepted on this channel (0 for a new one). */
  highestAccepted: bigint;
  minVoucherDelta?: bigint;
  voucher: { channelId: Hex; cumulativeAmount: bigint; signature: string };
}): Promise<VoucherDecision> {
  const { channel, voucher } = input;
  if (channel.finalized) return refuse('channel-finalized', 'the channel is closed');
  // The spec has no problem type for a pending forced close; the channel is on its way to finalized.
  if (channel.closeRequestedAt !== 0n) return refuse('channel-finalized', 'the payer has requested the channel close');
  const signer = isAddressEqual(channel.authorizedSigner, ZERO) ? channel.payer : channel.authorizedSigner;
  const check = await verifyVoucher(input.context, voucher, signer);
  if (!check.ok) return refuse(check.problem, check.message);
  if (voucher.cumulativeAmount <= input.highestAccepted) return { ok: true, advanced: false };
  if (voucher.cumulativeAmount - input.highestAccepted < (input.minVoucherDelta ?? 0n)) {
    return refuse('delta-too-small', `the voucher must add at least ${input.minVoucherDelta} over ${input.highestAccepted}`);
  }
  if (voucher.cumulativeAmount > channel.deposit) return refuse('amount-exceeds-deposit', `the voucher exceeds the channel deposit of ${channel.deposit}`);
  return { ok: true, advanced: true, cumulativeAmount: voucher.cumulativeAmount };
}

export type OpenVerification =
  | { ok: true; channel: ChannelState; acceptedCumulative: bigint }
  /** Not mined, or not yet as deep as required: ask again later. */
  | { ok: false; pending: true; message: string }
  | Refusal;

/**
 * The spec's open verification for `type: "hash"`: the transaction succeeded, opened this channel on
 * this escrow, the channel pays us in our token with at least `minAvailable` unsettled, no close is
 * pending, the payer is the credential's `source`, and the initial voucher is the channel signer's.
 */
export async function verifyOpen(input: {
  client: PublicClient;
  context: VoucherContext;
  payee: Address;
  token: Address;
  /** The payer from the credential's did:pkh source. */
  payer: Address;
  payload: { channelId: Hex; hash: Hex; cumulativeAmount: bigint; signature: string; salt: Hex; authorizedSigner?: Address };
  /** The least unsettled deposit to accept: the spec's `amount`, or a higher server minimum. */
  minAvailable: bigint;
  confirmations?: number;
  /**
   * The highest cumulative amount this server already accepted on the channel (0 or absent for a
   * new one). A re-sent open must not take the accepted mark back to the on-chain `settled`, or the
   * payer could spend again what its vouchers already paid.
   */
  highestAccepted?: bigint;
}): Promise<OpenVerification> {
  const { client, context, payload } = input;
  const expectedId = computeChannelId({
    payer: input.payer,
    payee: input.payee,
    token: input.token,
    salt: payload.salt,
    authorizedSigner: payload.authorizedSigner ?? ZERO,
    escrowContract: context.escrowContract,
    chainId: context.chainId,
  });
  if (expectedId !== payload.channelId) return refuse('channel-not-found', 'channelId is not the one the payer, this payee, the token and the salt give');

  const receipt = await client.getTransactionReceipt({ hash: payload.hash }).catch(() => null);
  if (!receipt) return { ok: false, pending: true, message: 'the open transaction is not mined yet' };
  // A reverted open changed nothing: a definitive refusal, never something to wait for (spec, tx outcome).
  if (receipt.status !== 'success') return refuse('transaction-reverted', 'the open transaction reverted');
  // cacheTime 0: viem would otherwise answer from its polling cache, a block or more behind.
  const depth = (await client.getBlockNumber({ cacheTime: 0 })) - receipt.blockNumber + 1n;
  if (depth < BigInt(input.confirmations ?? 1)) return { ok: false, pending: true, message: `the open transaction has ${depth} of ${input.confirmations} confirmations` };
  const opened = receipt.logs.some((log) => {
    if (!isAddressEqual(log.address, context.escrowContract)) return false;
    try {
      const event = decodeEventLog({ abi: SESSION_ESCROW_ABI, data: log.data, topics: log.topics });
      return event.eventName === 'ChannelOpened' && event.args.channelId === payload.channelId;
    } catch {
      return false;
    }
  });
  if (!opened) return refuse('channel-not-found', 'the transaction did not open this channel on the escrow');

  // State as of now, not as of the transaction: a later close or requestClose counts.
  const channel = await readChannel(client, context.escrowContract, payload.channelId);
  if (!channel) return refuse('channel-not-found', 'the escrow has no such channel');
  if (channel.finalized) return refuse('channel-finalized', 'the channel is closed');
  if (!isAddressEqual(channel.payee, input.payee)) return refuse('channel-not-found', 'the channel pays another payee');
  if (!isAddressEqual(channel.token, input.token)) return refuse('channel-not-found', 'the channel holds another token');
  const accepted = input.highestAccepted !== undefined && input.highestAccepted > channel.settled ? input.highestAccepted : channel.settled;
  if (channel.deposit - accepted < input.minAvailable) {
    return refuse('insufficient-balance', `the channel has ${channel.deposit - accepted} not yet spent, below the ${input.minAvailable} required`);
  }
  const initial = await decideVoucher({
    context,
    channel,
    highestAccepted: accepted,
    voucher: { channelId: payload.channelId, cumulativeAmount: payload.cumulativeAmount, signature: payload.signature },
  });
  if (!initial.ok) return initial;
  return { ok: true, channel, acceptedCumulative: initial.advanced ? initial.cumulativeAmount : accepted };
}
