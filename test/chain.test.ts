// The local test chain itself: a hardhat node, the EIP-3009 test stablecoin compiled with solc-js,
// a signed transferWithAuthorization that works once and is refused when replayed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSignature, toFunctionSignature, type Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import {
  compileContracts,
  startTestChain,
  testStablecoinAbi,
  transferWithAuthorizationTypes,
  type DeployedStablecoin,
  type TestChain,
} from './helpers/chain';

let chain: TestChain;
let usdc: DeployedStablecoin;

beforeAll(async () => {
  chain = await startTestChain();
  usdc = await chain.deployStablecoin({ name: 'USD Coin', symbol: 'USDC', version: '2' });
}, 180_000);

afterAll(async () => {
  await chain?.stop();
});

const randomNonce = (): Hex => generatePrivateKey(); // 32 random bytes

describe('test chain', () => {
  it('runs chain 31337 with the well-known funded accounts', async () => {
    expect(await chain.publicClient.getChainId()).toBe(31337);
    expect(chain.accounts[0].address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    expect(await chain.publicClient.getBalance({ address: chain.accounts[1].address })).toBeGreaterThan(0n);
  });

  it('compiles a contract whose ABI matches the typed ABI the helpers use', () => {
    const TestStablecoin = compileContracts().TestStablecoin!;
    const compiledSignatures = new Set(
      TestStablecoin.abi.filter((item) => item.type === 'function' || item.type === 'event').map((item) => toFunctionSignature(item as never)),
    );
    for (const item of testStablecoinAbi) expect(compiledSignatures).toContain(toFunctionSignature(item as never));
  });

  it('mints with 6 decimals and exposes the EIP-712 domain', async () => {
    const [, alice] = chain.accounts;
    await usdc.mint(alice.address, 5_000_000n);
    expect(await usdc.balanceOf(alice.address)).toBe(5_000_000n);
    const read = (functionName: 'decimals' | 'name' | 'symbol' | 'version') =>
      chain.publicClient.readContract({ address: usdc.address, abi: testStablecoinAbi, functionName });
    expect(await read('decimals')).toBe(6);
    expect(await read('name')).toBe('USD Coin');
    expect(await read('symbol')).toBe('USDC');
    expect(await read('version')).toBe('2');
  });

  it('mines blocks on demand', async () => {
    const before = await chain.blockNumber();
    await chain.mine(5);
    expect(await chain.blockNumber()).toBe(before + 5n);
  });

  it('executes a signed transferWithAuthorization once and refuses its replay', async () => {
    const [relayer, , bob] = chain.accounts;
    const payer = chain.accounts[3];
    await usdc.mint(payer.address, 2_000_000n);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const message = {
      from: payer.address,
      to: bob.address,
      value: 1_250_000n,
      validAfter: 0n,
      validBefore: now + 3600n,
      nonce: randomNonce(),
    };
    const signature = await payer.signTypedData({
      domain: usdc.domain,
      types: transferWithAuthorizationTypes,
      primaryType: 'TransferWithAuthorization',
      message,
    });
    const { v, r, s } = parseSignature(signature);
    const args = [message.from, message.to, message.value, message.validAfter, message.validBefore, message.nonce, Number(v), r, s] as const;
    const bobBefore = await usdc.balanceOf(bob.address);

    // Submitted by a third party (the relayer pays the gas), as a facilitator would.
    const hash = await chain.walletClient(relayer).writeContract({
      address: usdc.address,
      abi: testStablecoinAbi,
      functionName: 'transferWithAuthorization',
      args,
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe('success');
    expect(await usdc.balanceOf(bob.address)).toBe(bobBefore + 1_250_000n);
    expect(
      await chain.publicClient.readContract({
        address: usdc.address,
        abi: testStablecoinAbi,
        functionName: 'authorizationState',
        args: [payer.address, message.nonce],
      }),
    ).toBe(true);

    await expect(
      chain.walletClient(relayer).writeContract({ address: usdc.address, abi: testStablecoinAbi, functionName: 'transferWithAuthorization', args }),
    ).rejects.toThrow(/authorization is used or canceled/);
    // The bytes-signature overload is refused for the same reason.
    await expect(
      chain.walletClient(relayer).writeContract({
        address: usdc.address,
        abi: testStablecoinAbi,
        functionName: 'transferWithAuthorization',
        args: [message.from, message.to, message.value, message.validAfter, message.validBefore, message.nonce, signature],
      }),
    ).rejects.toThrow(/authorization is used or canceled/);
    expect(await usdc.balanceOf(bob.address)).toBe(bobBefore + 1_250_000n);
  });

  it('accepts the bytes-signature overload and refuses a signature from someone else or a tampered value', async () => {
    const [relayer, , bob] = chain.accounts;
    const payer = chain.accounts[4];
    const stranger = chain.accounts[5];
    await usdc.mint(payer.address, 1_000_000n);
    const message = {
      from: payer.address,
      to: bob.address,
      value: 400_000n,
      validAfter: 0n,
      validBefore: BigInt(Math.floor(Date.now() / 1000) + 3600),
      nonce: randomNonce(),
    };
    const typed = { domain: usdc.domain, types: transferWithAuthorizationTypes, primaryType: 'TransferWithAuthorization' as const, message };
    const forged = await stranger.signTypedData(typed);
    const send = (value: bigint, signature: Hex) =>
      chain.walletClient(relayer).writeContract({
        address: usdc.address,
        abi: testStablecoinAbi,
        functionName: 'transferWithAuthorization',
        args: [message.from, message.to, value, message.validAfter, message.validBefore, message.nonce, signature],
      });
    await expect(send(message.value, forged)).rejects.toThrow(/invalid signature/);
    const genuine = await payer.signTypedData(typed);
    await expect(send(message.value + 1n, genuine)).rejects.toThrow(/invalid signature/);
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: await send(message.value, genuine) });
    expect(receipt.status).toBe('success');
    expect(await usdc.balanceOf(payer.address)).toBe(600_000n);
  });

  it('refuses an expired authorization', async () => {
    const [relayer, , bob] = chain.accounts;
    const payer = chain.accounts[6];
    await usdc.mint(payer.address, 1_000_000n);
    const block = await chain.publicClient.getBlock();
    const message = {
      from: payer.address,
      to: bob.address,
      value: 1n,
      validAfter: 0n,
      validBefore: block.timestamp + 60n,
      nonce: randomNonce(),
    };
    const signature = await payer.signTypedData({
      domain: usdc.domain,
      types: transferWithAuthorizationTypes,
      primaryType: 'TransferWithAuthorization',
      message,
    });
    await chain.increaseTime(120);
    await expect(
      chain.walletClient(relayer).writeContract({
        address: usdc.address,
        abi: testStablecoinAbi,
        functionName: 'transferWithAuthorization',
        args: [message.from, message.to, message.value, message.validAfter, message.validBefore, message.nonce, signature],
      }),
    ).rejects.toThrow(/authorization is expired/);
  });
});
