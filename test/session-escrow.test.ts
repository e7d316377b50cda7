// The session escrow (contracts/SessionEscrow.sol) on a local hardhat chain with the test stablecoin:
// every money movement is checked against balances computed here from the amounts the test chose,
// and every refusal against the revert the EVM session spec names, with no token moved.
import {
  BaseError,
  ContractFunctionRevertedError,
  concat,
  encodeAbiParameters,
  keccak256,
  parseSignature,
  serializeCompactSignature,
  serializeSignature,
  signatureToCompactSignature,
  toHex,
  type Address,
  type Hex,
  type PrivateKeyAccount,
} from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_ESCROW_ABI } from '../lib/payments/session';
import { compileContracts, startTestChain, testStablecoinAbi, type DeployedStablecoin, type TestChain } from './helpers/chain';

let chain: TestChain;
let token: DeployedStablecoin;
let escrow: Address;
let payer: PrivateKeyAccount;
let payee: PrivateKeyAccount;
let stranger: PrivateKeyAccount;
let saltCounter = 0;

const DEPOSIT = 5_000_000n; // 5 test dollars (6 decimals)
const GRACE_SECONDS = 15 * 60; // the spec's reference CLOSE_GRACE_PERIOD

beforeAll(async () => {
  chain = await startTestChain();
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  escrow = await chain.deploy('SessionEscrow');
  [, payer, payee, stranger] = chain.accounts;
  await token.mint(payer.address, 1_000_000_000n);
}, 180_000);
afterAll(async () => {
  await chain?.stop();
});

const freshSalt = (): Hex => keccak256(toHex(`session-escrow-test-${++saltCounter}`));

async function send(from: PrivateKeyAccount, functionName: string, args: readonly unknown[], address: Address = escrow) {
  const hash = await chain.walletClient(from).writeContract({
    address,
    abi: SESSION_ESCROW_ABI,
    functionName: functionName as 'open',
    args: args as never,
  });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe('success');
  return receipt;
}

/** The revert's custom error name (viem decodes it from the escrow ABI during gas estimation). */
async function revertName(from: PrivateKeyAccount, functionName: string, args: readonly unknown[], address: Address = escrow): Promise<string> {
  try {
    await send(from, functionName, args, address);
  } catch (error) {
    const reverted = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : null;
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName) return reverted.data.errorName;
    throw error;
  }
  throw new Error(`${functionName} did not revert`);
}

/** The spec's signing hash, built here step by step from its text (not from the code under test). */
function specDigest(verifyingContract: Address, channelId: Hex, cumulativeAmount: bigint): Hex {
  const domainSeparator = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
      [
        keccak256(toHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)')),
        keccak256(toHex('EVM Payment Channel')),
        keccak256(toHex('1')),
        BigInt(chain.chainId),
        verifyingContract,
      ],
    ),
  );
  const structHash = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint128' }],
      [keccak256(toHex('Voucher(bytes32 channelId,uint128 cumulativeAmount)')), channelId, cumulativeAmount],
    ),
  );
  return keccak256(concat(['0x1901', domainSeparator, structHash]));
}

/** A voucher signed over the spec's digest with the raw key (v 27/28, r || s || v). */
async function voucher(signer: PrivateKeyAccount, channelId: Hex, cumulativeAmount: bigint, verifyingContract: Address = escrow): Promise<Hex> {
  return signer.sign({ hash: specDigest(verifyingContract, channelId, cumulativeAmount) });
}

function specChannelId(p: { payer: Address; payee: Address; salt: Hex; authorizedSigner?: Address; escrow?: Address }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }],
      [p.payer, p.payee, token.address, p.salt, p.authorizedSigner ?? '0x0000000000000000000000000000000000000000', p.escrow ?? escrow, BigInt(chain.chainId)],
    ),
  );
}

async function openChannel(options: { deposit?: bigint; authorizedSigner?: Address; escrowAddress?: Address } = {}) {
  const deposit = options.deposit ?? DEPOSIT;
  const address = options.escrowAddress ?? escrow;
  const salt = freshSalt();
  const authorizedSigner = options.authorizedSigner ?? '0x0000000000000000000000000000000000000000';
  await chain.walletClient(payer).writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [address, deposit] });
  await send(payer, 'open', [payee.address, token.address, deposit, salt, authorizedSigner], address);
  return { channelId: specChannelId({ payer: payer.address, payee: payee.address, salt, authorizedSigner, escrow: address }), salt };
}

const getChannel = (channelId: Hex, address: Address = escrow) =>
  chain.publicClient.readContract({ address, abi: SESSION_ESCROW_ABI, functionName: 'getChannel', args: [channelId] });

const balances = async () => ({
  payer: await token.balanceOf(payer.address),
  payee: await token.balanceOf(payee.address),
  escrow: await token.balanceOf(escrow),
});

describe('SessionEscrow', () => {
  it('has the ABI lib/payments/session declares, and the spec grace period', async () => {
    const compiled = compileContracts().SessionEscrow!.abi;
    const shape = (abi: readonly unknown[]) =>
      (abi as { type: string; name?: string; inputs?: { type: string; indexed?: boolean }[] }[])
        .filter((e) => e.type === 'function' || e.type === 'event' || e.type === 'error')
        .map((e) => `${e.type} ${e.name}(${(e.inputs ?? []).map((i) => `${i.type}${i.indexed ? ' indexed' : ''}`).join(',')})`)
        .sort();
    expect(shape(SESSION_ESCROW_ABI)).toEqual(shape(compiled));
    expect(await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'CLOSE_GRACE_PERIOD' })).toBe(BigInt(GRACE_SECONDS));
  });

  it('derives channel ids and voucher digests exactly as the spec defines them', async () => {
    const salt = freshSalt();
    const onChain = await chain.publicClient.readContract({
      address: escrow,
      abi: SESSION_ESCROW_ABI,
      functionName: 'computeChannelId',
      args: [payer.address, payee.address, token.address, salt, stranger.address],
    });
    expect(onChain).toBe(specChannelId({ payer: payer.address, payee: payee.address, salt, authorizedSigner: stranger.address }));
    const digest = await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'voucherDigest', args: [onChain, 123_456n] });
    expect(digest).toBe(specDigest(escrow, onChain, 123_456n));
  });

  it('happy path: open, settle part, close with the latest voucher; the payer gets exactly the rest back', async () => {
    const before = await balances();
    const { channelId, salt } = await openChannel();
    expect(await balances()).toEqual({ payer: before.payer - DEPOSIT, payee: before.payee, escrow: before.escrow + DEPOSIT });
    const opened = await getChannel(channelId);
    expect(opened).toMatchObject({ payer: payer.address, payee: payee.address, token: token.address, deposit: DEPOSIT, settled: 0n, finalized: false });

    await send(payee, 'settle', [channelId, 1_000_000n, await voucher(payer, channelId, 1_000_000n)]);
    expect(await balances()).toEqual({ payer: before.payer - DEPOSIT, payee: before.payee + 1_000_000n, escrow: before.escrow + DEPOSIT - 1_000_000n });

    const receipt = await send(payee, 'close', [channelId, 2_500_000n, await voucher(payer, channelId, 2_500_000n)]);
    // 2.5 of 5 dollars used: the payee holds 2.5 in all, the payer 5 - 2.5 back, the escrow nothing.
    expect(await balances()).toEqual({ payer: before.payer - 2_500_000n, payee: before.payee + 2_500_000n, escrow: before.escrow });
    expect(await getChannel(channelId)).toMatchObject({ settled: 2_500_000n, finalized: true });
    expect(receipt.logs.length).toBe(3); // ChannelClosed, then the two token transfers

    // A finalized record stays: the same inputs can never re-open it and revive old vouchers.
    await chain.walletClient(payer).writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, DEPOSIT] });
    expect(await revertName(payer, 'open', [payee.address, token.address, DEPOSIT, salt, '0x0000000000000000000000000000000000000000'])).toBe('ChannelAlreadyExists');
    expect(await revertName(payee, 'settle', [channelId, 3_000_000n, await voucher(payer, channelId, 3_000_000n)])).toBe('ChannelFinalized');
  });

  it('refuses a replayed or lower cumulative voucher; a stale close pays the payee nothing more', async () => {
    const { channelId } = await openChannel();
    const first = await voucher(payer, channelId, 1_000_000n);
    await send(payee, 'settle', [channelId, 1_000_000n, first]);
    const before = await balances();
    expect(await revertName(payee, 'settle', [channelId, 1_000_000n, first])).toBe('AmountNotIncreasing');
    expect(await revertName(payee, 'settle', [channelId, 400_000n, await voucher(payer, channelId, 400_000n)])).toBe('AmountNotIncreasing');
    expect(await balances()).toEqual(before);
    // close at or below `settled` is the spec's forfeit path: it only refunds the rest.
    await send(payee, 'close', [channelId, 400_000n, '0x']);
    expect(await balances()).toEqual({ payer: before.payer + DEPOSIT - 1_000_000n, payee: before.payee, escrow: before.escrow - (DEPOSIT - 1_000_000n) });
  });

  it('refuses forged, tampered, malleable and compact signatures', async () => {
    const { channelId } = await openChannel();
    const before = await balances();
    expect(await revertName(payee, 'settle', [channelId, 1_000_000n, await voucher(stranger, channelId, 1_000_000n)])).toBe('InvalidSignature');
    // A real signature for one amount does not authorize another.
    expect(await revertName(payee, 'settle', [channelId, 2_000_000n, await voucher(payer, channelId, 1_000_000n)])).toBe('InvalidSignature');
    // The high-s twin recovers the same signer with plain ecrecover; the escrow must refuse it.
    const good = parseSignature(await voucher(payer, channelId, 1_000_000n));
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = serializeSignature({ r: good.r, s: toHex(n - BigInt(good.s), { size: 32 }), yParity: good.yParity === 0 ? 1 : 0 });
    expect(await revertName(payee, 'settle', [channelId, 1_000_000n, highS])).toBe('InvalidSignature');
    // EIP-2098's 64-byte form: the spec lets an escrow refuse it, and clients must never need it.
    const compact = serializeCompactSignature(signatureToCompactSignature(good));
    expect(await revertName(payee, 'settle', [channelId, 1_000_000n, compact])).toBe('InvalidSignature');
    expect(await revertName(payee, 'close', [channelId, 1_000_000n, await voucher(stranger, channelId, 1_000_000n)])).toBe('InvalidSignature');
    expect(await balances()).toEqual(before);
    // The untouched good signature still works: the refusals above were about the signatures.
    await send(payee, 'settle', [channelId, 1_000_000n, serializeSignature(good)]);
  });

  it('refuses a voucher above the deposit', async () => {
    const { channelId } = await openChannel();
    const before = await balances();
    const over = await voucher(payer, channelId, DEPOSIT + 1n);
    expect(await revertName(payee, 'settle', [channelId, DEPOSIT + 1n, over])).toBe('AmountExceedsDeposit');
    expect(await revertName(payee, 'close', [channelId, DEPOSIT + 1n, over])).toBe('AmountExceedsDeposit');
    expect(await balances()).toEqual(before);
    await send(payee, 'close', [channelId, DEPOSIT, await voucher(payer, channelId, DEPOSIT)]);
    expect(await balances()).toEqual({ ...before, payee: before.payee + DEPOSIT, escrow: before.escrow - DEPOSIT });
  });

  it('refuses a voucher for another channel, another escrow deployment, or no channel', async () => {
    const a = await openChannel();
    const b = await openChannel();
    const before = await balances();
    expect(await revertName(payee, 'settle', [b.channelId, 1_000_000n, await voucher(payer, a.channelId, 1_000_000n)])).toBe('InvalidSignature');
    const otherEscrow = await chain.deploy('SessionEscrow');
    expect(await revertName(payee, 'settle', [a.channelId, 1_000_000n, await voucher(payer, a.channelId, 1_000_000n, otherEscrow)])).toBe('InvalidSignature');
    const unknown = freshSalt();
    expect(await revertName(payee, 'settle', [unknown, 1_000_000n, await voucher(payer, unknown, 1_000_000n)])).toBe('ChannelNotFound');
    expect(await balances()).toEqual(before);
  });

  it('lets only the payee settle or close, and only the payer top up, request close or withdraw', async () => {
    const { channelId } = await openChannel();
    const signed = await voucher(payer, channelId, 1_000_000n);
    expect(await revertName(payer, 'close', [channelId, 1_000_000n, signed])).toBe('NotPayee');
    expect(await revertName(stranger, 'close', [channelId, 1_000_000n, signed])).toBe('NotPayee');
    expect(await revertName(stranger, 'settle', [channelId, 1_000_000n, signed])).toBe('NotPayee');
    expect(await revertName(stranger, 'topUp', [channelId, 1n])).toBe('NotPayer');
    expect(await revertName(payee, 'requestClose', [channelId])).toBe('NotPayer');
    expect(await revertName(stranger, 'withdraw', [channelId])).toBe('NotPayer');
    expect(await getChannel(channelId)).toMatchObject({ deposit: DEPOSIT, settled: 0n, closeRequestedAt: 0n, finalized: false });
  });

  it('server gone: requestClose, the grace period, then withdraw returns everything not settled', async () => {
    const { channelId } = await openChannel();
    await send(payee, 'settle', [channelId, 700_000n, await voucher(payer, channelId, 700_000n)]);
    expect(await revertName(payer, 'withdraw', [channelId])).toBe('CloseNotReady'); // never requested
    await send(payer, 'requestClose', [channelId]);
    const requestedAt = (await getChannel(channelId)).closeRequestedAt;
    expect(requestedAt).toBeGreaterThan(0n);
    await chain.increaseTime(GRACE_SECONDS - 60);
    expect(await revertName(payer, 'withdraw', [channelId])).toBe('CloseNotReady'); // a minute early
    await chain.increaseTime(60);
    const before = await balances();
    await send(payer, 'withdraw', [channelId]);
    expect(await balances()).toEqual({ payer: before.payer + DEPOSIT - 700_000n, payee: before.payee, escrow: before.escrow - (DEPOSIT - 700_000n) });
    expect(await revertName(payee, 'close', [channelId, 900_000n, await voucher(payer, channelId, 900_000n)])).toBe('ChannelFinalized');
    expect(await revertName(payer, 'withdraw', [channelId])).toBe('ChannelFinalized');
  });

  it('a payee still closes with the latest voucher during the grace period', async () => {
    const { channelId } = await openChannel();
    await send(payer, 'requestClose', [channelId]);
    await chain.increaseTime(GRACE_SECONDS / 2);
    const before = await balances();
    await send(payee, 'close', [channelId, 1_234_567n, await voucher(payer, channelId, 1_234_567n)]);
    expect(await balances()).toEqual({ payer: before.payer + DEPOSIT - 1_234_567n, payee: before.payee + 1_234_567n, escrow: before.escrow - DEPOSIT });
    await chain.increaseTime(GRACE_SECONDS);
    expect(await revertName(payer, 'withdraw', [channelId])).toBe('ChannelFinalized');
  });

  it('top-up raises the deposit, cancels a pending close, and covers vouchers above the old deposit', async () => {
    const { channelId } = await openChannel();
    await send(payer, 'requestClose', [channelId]);
    await chain.walletClient(payer).writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, 2_000_000n] });
    const before = await balances();
    await send(payer, 'topUp', [channelId, 2_000_000n]);
    expect(await balances()).toEqual({ ...before, payer: before.payer - 2_000_000n, escrow: before.escrow + 2_000_000n });
    expect(await getChannel(channelId)).toMatchObject({ deposit: DEPOSIT + 2_000_000n, closeRequestedAt: 0n });
    await chain.increaseTime(GRACE_SECONDS);
    expect(await revertName(payer, 'withdraw', [channelId])).toBe('CloseNotReady');
    expect(await revertName(payer, 'topUp', [channelId, 0n])).toBe('ZeroDeposit');
    await send(payee, 'close', [channelId, DEPOSIT + 1_500_000n, await voucher(payer, channelId, DEPOSIT + 1_500_000n)]);
    expect(await balances()).toEqual({ payer: before.payer - 2_000_000n + 500_000n, payee: before.payee + DEPOSIT + 1_500_000n, escrow: before.escrow - DEPOSIT });
  });

  it('takes vouchers from the authorized signer only, when one is named', async () => {
    const delegate = chain.accounts[4];
    const { channelId } = await openChannel({ authorizedSigner: delegate.address });
    expect(await revertName(payee, 'settle', [channelId, 1_000_000n, await voucher(payer, channelId, 1_000_000n)])).toBe('InvalidSignature');
    await send(payee, 'settle', [channelId, 1_000_000n, await voucher(delegate, channelId, 1_000_000n)]);
    expect((await getChannel(channelId)).settled).toBe(1_000_000n);
  });
});
