// Seller payouts on a local hardhat chain with a real 6-decimal token (test/contracts/TestStablecoin.sol):
// each payout is paid exactly once when the run repeats, when it dies after signing (before the
// send) and after the send (before the receipt is recorded); a reverted transfer gives the money
// back; no payout without a wallet or below the minimum; the admin run is audited and admin-only.
import { encode } from 'next-auth/jwt';
import { encodeAbiParameters, keccak256, numberToHex, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLedger } from '../lib/ledger';
import { SYSTEM_ACCOUNTS, sellerEarningsAccountId } from '../lib/ledger/accounts';
import { createPayoutAdminApi } from '../lib/payments/payouts/admin';
import { loadPayoutConfig, type PayoutChainConfig, type PayoutPolicy } from '../lib/payments/payouts/config';
import { createPayoutRunner, type PayoutFaults } from '../lib/payments/payouts/payouts';
import { getSellerEarnings } from '../lib/sellers/earnings';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { earn } from './helpers/earnings';
import { createFundedUser } from './helpers/fixtures';

const DAY = 86_400_000;
const AUTH_SECRET = 'payouts-test-secret-0123456789abcdef';
const ADMIN_TOKEN = 'payouts-admin-token-0123456789';

let chain: TestChain;
let token: DeployedStablecoin;
let t: TestDatabase;
let env: NodeJS.ProcessEnv;
let policy: PayoutPolicy;
let payoutChain: PayoutChainConfig;

beforeAll(async () => {
  [chain, t] = await Promise.all([startTestChain(), createTestDatabase()]);
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  env = {
    NODE_ENV: 'test',
    DEV_CHAIN_RPC_URL: chain.rpcUrl,
    DEV_CHAIN_ID: String(chain.chainId),
    DEV_CHAIN_USDC: token.address,
    SELLER_PAYOUT_NETWORK: 'dev',
    SELLER_PAYOUT_PRIVATE_KEY: chain.privateKeys[1]!,
    SELLER_PAYOUT_MIN_USD: '1',
    SELLER_HOLDING_DAYS: '7',
    NEXTAUTH_SECRET: AUTH_SECRET,
    ADMIN_TOKEN,
  } as NodeJS.ProcessEnv;
  const config = loadPayoutConfig(env);
  if (config.state !== 'enabled') throw new Error(`payouts not enabled: ${config.reason}`);
  policy = config.policy;
  payoutChain = config.chain;
  expect(payoutChain.signer).toBe(chain.accounts[1].address);
  await token.mint(chain.accounts[1].address, 1_000_000_000n); // $1,000 to pay with
}, 180_000);
afterAll(async () => {
  await t?.close();
  await chain?.stop();
});

const runner = (faults: PayoutFaults = {}) => createPayoutRunner({ db: t.db, policy, chain: payoutChain, faults });

/** A seller with a fresh wallet (or none) and `amount` earned eight days ago: all of it available. */
async function seller(amount: bigint, { wallet = true }: { wallet?: boolean } = {}) {
  const address: Address | null = wallet ? privateKeyToAccount(generatePrivateKey()).address : null;
  const { user } = await createFundedUser(t.db, 0n);
  if (address) await t.db.user.update({ where: { id: user.id }, data: { walletAddress: address } });
  await earn(t.db, user.id, amount, new Date(Date.now() - 8 * DAY));
  return { userId: user.id, address };
}

const payoutsOf = (userId: string) => t.db.sellerPayout.findMany({ where: { userId } });
const earningsBalance = async (userId: string) => (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: sellerEarningsAccountId(userId) } })).balance;

async function expectAuditClean() {
  expect((await auditLedger(t.db)).problems).toEqual([]);
}

class Crash extends Error {}

describe('a payout', () => {
  it('is paid once, exactly, when the run is repeated', async () => {
    const s = await seller(12_345_678n);
    const payoutsBefore = (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: SYSTEM_ACCOUNTS.payouts.id } })).balance;
    const first = await runner().run();
    expect(first.ran).toBe(true);
    expect(first.created).toBe(1);
    expect(await token.balanceOf(s.address!)).toBe(12_345_678n);
    const [payout] = await payoutsOf(s.userId);
    expect(payout).toMatchObject({ status: 'CONFIRMED', amount: 12_345_678n, toAddress: s.address, chainId: chain.chainId, token: token.address });
    expect(payout!.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(payout!.ledgerTransactionId).toBeTruthy();
    const receipt = await chain.publicClient.getTransactionReceipt({ hash: payout!.txHash as Hex });
    expect(receipt.status).toBe('success');

    const second = await runner().run();
    expect(second.created).toBe(0);
    expect(await token.balanceOf(s.address!)).toBe(12_345_678n);
    expect(await payoutsOf(s.userId)).toHaveLength(1);
    expect(await earningsBalance(s.userId)).toBe(0n);
    expect((await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: SYSTEM_ACCOUNTS.payouts.id } })).balance - payoutsBefore).toBe(12_345_678n);
    expect(await getSellerEarnings({ db: t.db, userId: s.userId, holdingMs: policy.holdingMs })).toMatchObject({ available: 0n, pending: 0n, paid: 12_345_678n, processing: 0n });
    // One payout per seller per week: what becomes available later in the week waits for the next.
    await earn(t.db, s.userId, 2_000_000n, new Date(Date.now() - 8 * DAY));
    expect((await runner().run()).created).toBe(0);
    expect(await token.balanceOf(s.address!)).toBe(12_345_678n);
    expect(await earningsBalance(s.userId)).toBe(2_000_000n);
    await expectAuditClean();
  });

  it('is not signed again while its transaction waits to be mined, and is confirmed only with enough confirmations', async () => {
    const s = await seller(1_500_000n);
    const deep = createPayoutRunner({ db: t.db, policy, chain: { ...payoutChain, confirmations: 3 } });
    await chain.setAutomine(false);
    try {
      await expect(createPayoutRunner({ db: t.db, policy, chain: payoutChain, faults: { afterBroadcast: () => { throw new Crash('died after sending'); } } }).run()).rejects.toBeInstanceOf(Crash);
      // In the mempool: the next run re-sends the same bytes and waits; it must not sign anew.
      const waiting = await deep.run({ newPayouts: false });
      expect(waiting.waiting).toBeGreaterThanOrEqual(1);
      const [row] = await payoutsOf(s.userId);
      expect(row!.status).toBe('SIGNED');
      await chain.mine(1);
    } finally {
      await chain.setAutomine(true);
    }
    await deep.run({ newPayouts: false });
    expect((await payoutsOf(s.userId))[0]!.status).toBe('SIGNED'); // one confirmation of three
    await chain.mine(2);
    await deep.run({ newPayouts: false });
    await chain.mine(3);
    await deep.run({ newPayouts: false });
    const rows = await payoutsOf(s.userId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('CONFIRMED');
    expect(await token.balanceOf(s.address!)).toBe(1_500_000n);
    await expectAuditClean();
  });

  it('is paid once when the run dies after signing, before sending: the next run sends the stored transaction', async () => {
    const s = await seller(2_500_000n);
    await expect(runner({ afterSign: () => { throw new Crash('died after signing'); } }).run()).rejects.toBeInstanceOf(Crash);
    const [signed] = await payoutsOf(s.userId);
    expect(signed).toMatchObject({ status: 'SIGNED', amount: 2_500_000n });
    expect(signed!.rawTx).toMatch(/^0x/);
    expect(keccak256(signed!.rawTx as Hex)).toBe(signed!.txHash);
    expect(await token.balanceOf(s.address!)).toBe(0n);
    expect(await earningsBalance(s.userId)).toBe(0n); // taken for the payout already
    expect(await getSellerEarnings({ db: t.db, userId: s.userId, holdingMs: policy.holdingMs })).toMatchObject({ processing: 2_500_000n, paid: 0n });

    const again = await runner().run();
    expect(again.confirmed).toBeGreaterThanOrEqual(1);
    const [confirmed] = await payoutsOf(s.userId);
    expect(confirmed).toMatchObject({ status: 'CONFIRMED', txHash: signed!.txHash, nonce: signed!.nonce });
    expect(await token.balanceOf(s.address!)).toBe(2_500_000n);
    await runner().run();
    expect(await token.balanceOf(s.address!)).toBe(2_500_000n);
    expect(await payoutsOf(s.userId)).toHaveLength(1);
    await expectAuditClean();
  });

  it('is paid once when the run dies after sending, before recording: the next run reads the receipt', async () => {
    const s = await seller(3_000_007n);
    await expect(runner({ afterBroadcast: () => { throw new Crash('died after sending'); } }).run()).rejects.toBeInstanceOf(Crash);
    expect(await token.balanceOf(s.address!)).toBe(3_000_007n); // on chain already (automine)
    const [sent] = await payoutsOf(s.userId);
    expect(sent!.status).toBe('SIGNED');

    await runner().run();
    await runner().run();
    const rows = await payoutsOf(s.userId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'CONFIRMED', txHash: sent!.txHash });
    expect(await token.balanceOf(s.address!)).toBe(3_000_007n);
    await expectAuditClean();
  });

  it('that reverts on chain is FAILED and its money goes back to the seller, once', async () => {
    const s = await seller(4_000_000n);
    await expect(runner({ afterSign: () => { throw new Crash('died after signing'); } }).run()).rejects.toBeInstanceOf(Crash);
    // The payout wallet loses its tokens before the stored transaction is sent: the transfer
    // reverts. (Its balance slot in TestStablecoin: mapping balanceOf at storage slot 3.)
    const signer = chain.accounts[1].address;
    const held = await token.balanceOf(signer);
    const slot = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [signer, 3n]));
    await chain.publicClient.request({ method: 'hardhat_setStorageAt' as never, params: [token.address, slot, numberToHex(0, { size: 32 })] as never });
    expect(await token.balanceOf(signer)).toBe(0n);

    const result = await runner().run();
    expect(result.failed).toBe(1);
    const [failed] = await payoutsOf(s.userId);
    expect(failed!.status).toBe('FAILED');
    expect(failed!.error).toMatch(/reverted/);
    expect(await token.balanceOf(s.address!)).toBe(0n);
    expect(await earningsBalance(s.userId)).toBe(4_000_000n);
    await runner().run();
    expect(await earningsBalance(s.userId)).toBe(4_000_000n); // the reversal happened once
    expect(await t.db.ledgerTransaction.count({ where: { idempotencyKey: `payout-reversal:${failed!.id}` } })).toBe(1);
    await expectAuditClean();
    await token.mint(signer, held);
  });

  it('is not made without a linked wallet, nor below the minimum', async () => {
    const noWallet = await seller(5_000_000n, { wallet: false });
    const small = await seller(999_999n);
    const result = await runner().run();
    expect(result.skipped).toContainEqual({ userId: noWallet.userId, reason: 'no_wallet' });
    expect(await payoutsOf(noWallet.userId)).toHaveLength(0);
    expect(await payoutsOf(small.userId)).toHaveLength(0);
    expect(await earningsBalance(noWallet.userId)).toBe(5_000_000n);
    expect(await earningsBalance(small.userId)).toBe(999_999n);
    expect(await token.balanceOf(small.address!)).toBe(0n);
    await expectAuditClean();
  });

  it('waits for pending earnings: only what is past the holding period is paid', async () => {
    const s = await seller(6_000_000n);
    await earn(t.db, s.userId, 1_111_111n, new Date(Date.now() - DAY));
    await runner().run();
    expect(await token.balanceOf(s.address!)).toBe(6_000_000n);
    expect(await earningsBalance(s.userId)).toBe(1_111_111n);
    await expectAuditClean();
  });
});

describe('POST /api/admin/payouts/run', () => {
  const post = async (headers: Record<string, string>) => {
    const api = createPayoutAdminApi({ db: t.db, env });
    return api.runPayouts(new Request('http://tollgate.test/api/admin/payouts/run', { method: 'POST', headers: { host: 'tollgate.test', ...headers } }));
  };
  const cookieOf = async (userId: string) => `next-auth.session-token=${await encode({ token: { sub: userId }, secret: AUTH_SECRET, maxAge: 3600 })}`;

  it('is refused to a signed-in non-admin and to a wrong token, and runs nothing', async () => {
    const s = await seller(7_000_000n);
    const { user } = await createFundedUser(t.db, 0n);
    const asUser = await post({ cookie: await cookieOf(user.id), origin: 'http://tollgate.test' });
    expect(asUser.status).toBe(403);
    expect((await post({ authorization: 'Bearer wrong-token' })).status).toBe(401);
    expect(await payoutsOf(s.userId)).toHaveLength(0);
    expect(await t.db.auditLog.count({ where: { action: 'payouts.run' } })).toBe(0);
  });

  it('runs for an admin and is audited with who asked and what it did', async () => {
    const s = await seller(8_000_000n);
    const { user: admin } = await createFundedUser(t.db, 0n);
    await t.db.user.update({ where: { id: admin.id }, data: { role: 'ADMIN' } });
    const crossSite = await post({ cookie: await cookieOf(admin.id), origin: 'https://evil.test' });
    expect(crossSite.status).toBe(403);
    const response = await post({ cookie: await cookieOf(admin.id), origin: 'http://tollgate.test' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { created: number; ran: boolean };
    // This seller, and the one the refused calls above left unpaid.
    expect(body).toMatchObject({ ran: true, created: 2 });
    expect(await token.balanceOf(s.address!)).toBe(8_000_000n);
    const audit = await t.db.auditLog.findMany({ where: { action: 'payouts.run' } });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toContain(`user:${admin.id}`);
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ created: 2, ran: true });
    const tokenRun = await post({ authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(tokenRun.status).toBe(200);
    expect(await token.balanceOf(s.address!)).toBe(8_000_000n);
    expect(await t.db.auditLog.count({ where: { action: 'payouts.run', actor: 'admin-token' } })).toBe(1);
    await expectAuditClean();
  });
});

describe('GET /api/admin/payouts', () => {
  const get = async (query: string, headers: Record<string, string>) =>
    createPayoutAdminApi({ db: t.db, env }).listPayouts(new Request(`http://tollgate.test/api/admin/payouts${query}`, { headers: { host: 'tollgate.test', ...headers } }));
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  type Listed = { data: Array<{ id: string; user: { id: string; email: string | null }; amount_usd: number; status: string; to_address: string; tx_hash: string | null; tx_url: string | null }>; payouts_enabled: boolean };

  it('lists payouts newest first with status, wallet and transaction, filtered by status, to admins only', async () => {
    const s = await seller(3_250_000n);
    await runner().run();
    const [row] = await payoutsOf(s.userId);
    const { user } = await createFundedUser(t.db, 0n);
    expect((await get('', { cookie: `next-auth.session-token=${await encode({ token: { sub: user.id }, secret: AUTH_SECRET, maxAge: 3600 })}` })).status).toBe(403);
    expect((await get('', { authorization: 'Bearer wrong-token' })).status).toBe(401);

    const response = await get('', admin);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Listed;
    expect(body.payouts_enabled).toBe(true);
    // This seller's payout is the newest; the earlier tests' payouts follow.
    expect(body.data[0]).toMatchObject({ id: row!.id, user: { id: s.userId }, amount_usd: 3.25, status: 'confirmed', to_address: s.address, tx_hash: row!.txHash, tx_url: null });
    const times = (await t.db.sellerPayout.findMany({ where: { id: { in: body.data.map((p) => p.id) } }, select: { id: true, createdAt: true } })).map((p) => [p.id, p.createdAt.getTime()] as const);
    const order = body.data.map((p) => times.find(([id]) => id === p.id)![1]);
    expect(order).toEqual([...order].sort((a, b) => b - a));

    const confirmed = (await (await get('?status=confirmed', admin)).json()) as Listed;
    expect(confirmed.data.map((p) => p.id)).toContain(row!.id);
    expect(confirmed.data.every((p) => p.status === 'confirmed')).toBe(true);
    const pending = (await (await get('?status=pending', admin)).json()) as Listed;
    expect(pending.data.map((p) => p.id)).not.toContain(row!.id);
    expect((await get('?status=paid', admin)).status).toBe(400);
    expect((await get('?limit=1&extra=1', admin)).status).toBe(400);
    expect(((await (await get('?limit=1', admin)).json()) as Listed).data).toHaveLength(1);
  });
});
