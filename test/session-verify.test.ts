// Server-side session checks (lib/payments/session/verify.ts) on a local chain: an open is accepted
// only when its transaction really opened the named channel to this payee in this token with enough
// unsettled, and vouchers are decided in the EVM session spec's order (signature before idempotency).
import { keccak256, toHex, type Address, type Hex, type PrivateKeyAccount } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_ESCROW_ABI, decideVoucher, didPkh, parseDidPkh, problemDetails, readChannel, signVoucher, verifyOpen, type ChannelState } from '../lib/payments/session';
import { startTestChain, testStablecoinAbi, type DeployedStablecoin, type TestChain } from './helpers/chain';

const ZERO: Address = '0x0000000000000000000000000000000000000000';
let chain: TestChain;
let token: DeployedStablecoin;
let otherToken: DeployedStablecoin;
let escrow: Address;
let payer: PrivateKeyAccount;
let payee: PrivateKeyAccount;
let stranger: PrivateKeyAccount;
let n = 0;

beforeAll(async () => {
  chain = await startTestChain();
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  otherToken = await chain.deployStablecoin({ name: 'Other', symbol: 'OTH', version: '1' });
  escrow = await chain.deploy('SessionEscrow');
  [, payer, payee, stranger] = chain.accounts;
  await token.mint(payer.address, 100_000_000n);
  await otherToken.mint(payer.address, 100_000_000n);
}, 180_000);
afterAll(async () => {
  await chain?.stop();
});

const context = () => ({ chainId: chain.chainId, escrowContract: escrow });

async function mined(hash: Hex) {
  return chain.publicClient.waitForTransactionReceipt({ hash });
}

/** Opens a channel on chain as a client would (approve + open) and returns what its open credential carries. */
async function openOnChain(options: { deposit?: bigint; to?: Address; tokenAddress?: Address } = {}) {
  const deposit = options.deposit ?? 2_000_000n;
  const to = options.to ?? payee.address;
  const tokenAddress = options.tokenAddress ?? token.address;
  const salt = keccak256(toHex(`verify-${++n}`));
  const wallet = chain.walletClient(payer);
  await mined(await wallet.writeContract({ address: tokenAddress, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, deposit] }));
  const hash = await wallet.writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'open', args: [to, tokenAddress, deposit, salt, ZERO] });
  await mined(hash);
  const channelId = await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'computeChannelId', args: [payer.address, to, tokenAddress, salt, ZERO] });
  const signature = await signVoucher(payer, context(), { channelId, cumulativeAmount: 0n });
  return { channelId, hash, salt, signature, cumulativeAmount: 0n };
}

const verify = (payload: Awaited<ReturnType<typeof openOnChain>>, overrides: Partial<Parameters<typeof verifyOpen>[0]> = {}) =>
  verifyOpen({
    client: chain.publicClient,
    context: context(),
    payee: payee.address,
    token: token.address,
    payer: parseDidPkh(didPkh(chain.chainId, payer.address), chain.chainId),
    payload,
    minAvailable: 1_000_000n,
    ...overrides,
  });

describe('verifyOpen', () => {
  it('accepts a real open to this payee in this token, with the initial voucher', async () => {
    const open = await openOnChain();
    const result = await verify(open);
    expect(result).toMatchObject({ ok: true, acceptedCumulative: 0n, channel: { payer: payer.address, payee: payee.address, token: token.address, deposit: 2_000_000n, settled: 0n } });
  });

  it('a re-sent open keeps what this server already accepted off chain, and counts it against the minimum', async () => {
    const open = await openOnChain();
    // Half a USDC, then 1.5, of the 2 USDC deposit already accepted through vouchers, none settled on chain.
    expect(await verify(open, { highestAccepted: 500_000n })).toMatchObject({ ok: true, acceptedCumulative: 500_000n });
    expect(await verify(open, { highestAccepted: 1_500_000n })).toMatchObject({ ok: false });
  });

  it('waits for the confirmations asked for', async () => {
    const open = await openOnChain();
    expect(await verify(open, { confirmations: 3 })).toMatchObject({ ok: false, pending: true });
    await chain.mine(2);
    expect(await verify(open, { confirmations: 3 })).toMatchObject({ ok: true });
  });

  it('refuses a channel for another payee or token, too small a deposit, or a forged initial voucher', async () => {
    const elsewhere = await openOnChain({ to: stranger.address });
    // Claimed as if it paid us: the id the inputs give is not the one named.
    expect(await verify(elsewhere)).toMatchObject({ ok: false, problem: 'channel-not-found' });
    const otherCoin = await openOnChain({ tokenAddress: otherToken.address });
    expect(await verify(otherCoin)).toMatchObject({ ok: false, problem: 'channel-not-found' });
    const small = await openOnChain({ deposit: 999_999n });
    expect(await verify(small)).toMatchObject({ ok: false, problem: 'insufficient-balance' });
    const open = await openOnChain();
    const forged = await signVoucher(stranger, context(), { channelId: open.channelId, cumulativeAmount: 0n });
    expect(await verify({ ...open, signature: forged })).toMatchObject({ ok: false, problem: 'signer-mismatch' });
    // Someone else's payer address in the source.
    expect(await verify(open, { payer: stranger.address })).toMatchObject({ ok: false, problem: 'channel-not-found' });
  });

  it('refuses a hash that opened nothing, a reverted open, and a channel already closed', async () => {
    const open = await openOnChain();
    const approve = await chain.walletClient(payer).writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, 1n] });
    await mined(approve);
    expect(await verify({ ...open, hash: approve })).toMatchObject({ ok: false, problem: 'channel-not-found' });

    // Re-opening the same inputs reverts on chain (ChannelAlreadyExists). With automine off the node
    // takes the transaction (a fixed gas skips estimation) instead of refusing it at submission.
    await mined(await chain.walletClient(payer).writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, 2_000_000n] }));
    await chain.setAutomine(false);
    let reverted: Hex;
    try {
      reverted = await chain.walletClient(payer).writeContract({
        address: escrow,
        abi: SESSION_ESCROW_ABI,
        functionName: 'open',
        args: [payee.address, token.address, 2_000_000n, open.salt, ZERO],
        gas: 300_000n,
      });
      await chain.mine(1);
    } finally {
      await chain.setAutomine(true);
    }
    expect((await mined(reverted)).status).toBe('reverted');
    expect(await verify({ ...open, hash: reverted })).toMatchObject({ ok: false, problem: 'transaction-reverted' });

    await mined(await chain.walletClient(payee).writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'close', args: [open.channelId, 0n, '0x'] }));
    expect(await verify(open)).toMatchObject({ ok: false, problem: 'channel-finalized' });
  });
});

describe('decideVoucher', () => {
  const channelId = `0x${'42'.repeat(32)}` as Hex;
  const channel = (patch: Partial<ChannelState> = {}): ChannelState => ({
    payer: payer.address,
    payee: payee.address,
    token: token.address,
    authorizedSigner: ZERO,
    deposit: 1_000_000n,
    settled: 0n,
    closeRequestedAt: 0n,
    finalized: false,
    ...patch,
  });
  const signed = async (cumulativeAmount: bigint, by: PrivateKeyAccount = payer) => ({ channelId, cumulativeAmount, signature: await signVoucher(by, context(), { channelId, cumulativeAmount }) });

  it('accepts a strictly higher voucher within the deposit', async () => {
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 100n, voucher: await signed(600_000n) })).toEqual({ ok: true, advanced: true, cumulativeAmount: 600_000n });
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 0n, voucher: await signed(1_000_000n) })).toMatchObject({ advanced: true });
  });

  it('answers a replayed or lower authentic voucher as unchanged, but checks its signature first', async () => {
    const replay = await signed(500_000n);
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 500_000n, voucher: replay })).toEqual({ ok: true, advanced: false });
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 500_000n, voucher: await signed(400_000n) })).toEqual({ ok: true, advanced: false });
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 500_000n, voucher: await signed(400_000n, stranger) })).toMatchObject({ ok: false, problem: 'signer-mismatch' });
  });

  it('refuses over the deposit, under the minimum delta, on a closing or closed channel, and from the wrong signer', async () => {
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 0n, voucher: await signed(1_000_001n) })).toMatchObject({ ok: false, problem: 'amount-exceeds-deposit' });
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 100_000n, minVoucherDelta: 10_000n, voucher: await signed(109_999n) })).toMatchObject({ ok: false, problem: 'delta-too-small' });
    expect(await decideVoucher({ context: context(), channel: channel(), highestAccepted: 100_000n, minVoucherDelta: 10_000n, voucher: await signed(110_000n) })).toMatchObject({ ok: true, advanced: true });
    expect(await decideVoucher({ context: context(), channel: channel({ closeRequestedAt: 1n }), highestAccepted: 0n, voucher: await signed(1n) })).toMatchObject({ ok: false, problem: 'channel-finalized' });
    expect(await decideVoucher({ context: context(), channel: channel({ finalized: true }), highestAccepted: 0n, voucher: await signed(1n) })).toMatchObject({ ok: false, problem: 'channel-finalized' });
    // With a delegated signer, the payer's own signature no longer counts.
    expect(await decideVoucher({ context: context(), channel: channel({ authorizedSigner: stranger.address }), highestAccepted: 0n, voucher: await signed(1n) })).toMatchObject({ ok: false, problem: 'signer-mismatch' });
    expect(await decideVoucher({ context: context(), channel: channel({ authorizedSigner: stranger.address }), highestAccepted: 0n, voucher: await signed(1n, stranger) })).toMatchObject({ ok: true });
  });

  it('reads channels from the escrow and shapes refusals as the spec example', async () => {
    const open = await openOnChain();
    expect(await readChannel(chain.publicClient, escrow, open.channelId)).toMatchObject({ payer: payer.address, deposit: 2_000_000n, closeRequestedAt: 0n, finalized: false });
    expect(await readChannel(chain.publicClient, escrow, channelId)).toBeNull();
    expect(problemDetails({ ok: false, problem: 'invalid-signature', message: 'Voucher signature could not be verified' }, channelId)).toEqual({
      type: 'https://paymentauth.org/problems/session/invalid-signature',
      title: 'Invalid Signature',
      status: 402,
      detail: 'Voucher signature could not be verified',
      channelId,
    });
  });
});
