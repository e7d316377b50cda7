// Deposit finality against a real local chain (hardhat, the solc-compiled test stablecoin): a
// transfer reorganized out before its confirmations never credits, a reverted transfer and an
// unreachable RPC go to review with their reason (and the RPC's URL, which may carry an API key,
// appears nowhere), and verifiers racing on one intent credit it once. Every chain answer comes
// from the node; where a test needs a reorg to land between two of the verifier's requests, the
// client it is given forwards every request to the node and only chooses when to go on.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPublicClient, custom, encodeFunctionData, getAddress, type Address, type Hex, type PrivateKeyAccount, type PublicClient } from 'viem';
import { createDb, type Db } from '../lib/db/client';
import { newId } from '../lib/ids';
import { SYSTEM_ACCOUNTS, auditLedger, getOrCreateWalletAccount, walletAccountId } from '../lib/ledger';
import { createApiKeyOp } from '../lib/keys/keys';
import { createDepositAdminApi } from '../lib/payments/deposit-admin';
import { runDepositWorkerOnce } from '../lib/payments/deposit-worker';
import { attachTransaction, createDepositIntent, depositView } from '../lib/payments/deposits';
import { loadPaymentsConfig, type NetworkConfig, type PaymentsConfig } from '../lib/payments/networks';
import { parseFacts, verifyIntent, type VerifyDeps } from '../lib/payments/verify';
import { snapshotWalletBudgets } from '../lib/payments/wallet-budget';
import { startTestChain, testStablecoinAbi, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const ADMIN_TOKEN = 'test-admin-token-finality';
const MINUTE = 60_000;
// Every intent here is for a $10 credit at the default 10% fee: $1 fee, 11 USDC (6 decimals) gross.
const CREDIT = 10_000_000n;
const FEE = 1_000_000n;
const GROSS = 11_000_000n;

let t: TestDatabase;
let chain: TestChain;
let usdc: DeployedStablecoin;
let treasury: Address;
let env: Record<string, string>;
let config: PaymentsConfig;

beforeAll(async () => {
  [t, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  usdc = await chain.deployStablecoin({ name: 'USD Coin', symbol: 'USDC', version: '2' });
  treasury = chain.accounts[9].address;
  env = { DEV_CHAIN_RPC_URL: chain.rpcUrl, DEV_CHAIN_USDC: usdc.address, TREASURY_ADDRESS: treasury, CONFIRMATIONS_DEV: '3' };
  config = loadPaymentsConfig(env);
}, 180_000);

afterAll(async () => {
  await chain?.stop();
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Chain helpers: every value read straight from the node with viem.

const rpc = (method: string, params: unknown[] = []) => chain.publicClient.request({ method, params } as never) as Promise<unknown>;
const snapshot = async () => (await rpc('evm_snapshot')) as Hex;
const revertTo = async (id: Hex) => expect(await rpc('evm_revert', [id])).toBe(true);
const receiptOf = (hash: Hex) => chain.publicClient.getTransactionReceipt({ hash }).catch((error: Error) => (error.name === 'TransactionReceiptNotFoundError' ? null : Promise.reject(error)));

/** A signed token transfer to the treasury, not yet sent: the same bytes can be broadcast again after a reorg. */
async function signTransfer(from: PrivateKeyAccount, amount: bigint, to: Address = treasury): Promise<Hex> {
  const request = await chain.walletClient(from).prepareTransactionRequest({
    to: usdc.address,
    data: encodeFunctionData({ abi: testStablecoinAbi, functionName: 'transfer', args: [to, amount] }),
  });
  return from.signTransaction(request as Parameters<PrivateKeyAccount['signTransaction']>[0]);
}

/** Broadcasts a signed transaction (automine: mined at once) and returns its receipt, read from the node. */
async function broadcast(raw: Hex) {
  const hash = await chain.publicClient.sendRawTransaction({ serializedTransaction: raw });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  return { hash, receipt };
}

/** A free local port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A viem client on the test node whose every request is answered by the node; `after` runs once
 * a request has been answered and before the verifier gets the answer (to land a reorg exactly
 * there, or to hold several verifiers until all have read the same thing).
 */
function steppedClient(network: NetworkConfig, after: (method: string, params: unknown) => Promise<void>): PublicClient {
  return createPublicClient({
    chain: network.chain,
    transport: custom({
      async request({ method, params }: { method: string; params?: unknown }) {
        const result = await rpc(method, (params as unknown[] | undefined) ?? []);
        await after(method, params);
        return result;
      },
    }),
  }) as PublicClient;
}

// ---------------------------------------------------------------------------------------------
// Database helpers

async function newBuyer(db: Db = t.db) {
  const user = await db.user.create({ data: { id: newId('usr'), email: `${newId('usr')}@example.test` } });
  await getOrCreateWalletAccount({ db, userId: user.id });
  return user;
}

/** A $10 USDC intent on the dev chain for a new buyer. */
async function newIntent(db: Db = t.db, cfg: PaymentsConfig = config) {
  const user = await newBuyer(db);
  const intent = await createDepositIntent({ db, config: cfg, userId: user.id, asset: 'USDC', networkId: 'dev', credit: CREDIT });
  expect(intent.grossAtomic).toBe(GROSS);
  return { user, intent };
}

const attach = (db: Db, intent: { id: string; userId: string }, hash: Hex, now = new Date()) =>
  attachTransaction({ db, userId: intent.userId, intentId: intent.id, txHash: hash.toLowerCase(), now });

/** What the user's wallet received: each ledger entry on it (none before a credit). */
const walletEntries = async (db: Db, userId: string) =>
  (await db.ledgerEntry.findMany({ where: { accountId: walletAccountId(userId) }, select: { amount: true } })).map((e) => e.amount);
const walletBalance = async (db: Db, userId: string) => (await db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) } })).balance;
/** Ledger transactions naming this on-chain transaction, whatever their key's shape. */
const ledgerRowsFor = (db: Db, hash: Hex) => db.ledgerTransaction.count({ where: { idempotencyKey: { contains: hash.toLowerCase() } } });
const row = (db: Db, id: string) => db.depositIntent.findUniqueOrThrow({ where: { id } });

const at = (base: Date, ms: number) => () => new Date(base.getTime() + ms);
const deps = (extra: Partial<VerifyDeps> = {}): VerifyDeps => ({ db: t.db, config, ...extra });

async function expectNotCredited(db: Db, intentId: string, userId: string, hash: Hex) {
  expect(await walletEntries(db, userId)).toEqual([]);
  expect(await ledgerRowsFor(db, hash)).toBe(0);
  const intent = await row(db, intentId);
  expect(intent.ledgerTransactionId).toBeNull();
  expect(intent.creditedAt).toBeNull();
}

async function expectCreditedOnce(db: Db, intentId: string, userId: string, hash: Hex) {
  expect(await walletEntries(db, userId)).toEqual([CREDIT]);
  expect(await walletBalance(db, userId)).toBe(CREDIT);
  expect(await ledgerRowsFor(db, hash)).toBe(1);
  const intent = await row(db, intentId);
  expect(intent.status).toBe('CREDITED');
  const txn = await db.ledgerTransaction.findUniqueOrThrow({ where: { id: intent.ledgerTransactionId! }, include: { entries: true } });
  expect(txn.idempotencyKey).toContain(hash.toLowerCase());
  expect(txn.entries.map((e) => [e.accountId, e.amount]).sort()).toEqual(
    [
      [SYSTEM_ACCOUNTS.deposits.id, -GROSS],
      [SYSTEM_ACCOUNTS.fees.id, FEE],
      [walletAccountId(userId), CREDIT],
    ].sort(),
  );
}

// ---------------------------------------------------------------------------------------------

describe('a transfer reorganized out before its confirmations', () => {
  /** Pays an intent inside a snapshot, sees it once (1 of 3 confirmations), then reorganizes it away and mines past where it would have been final. */
  async function seenThenReorged(payer: PrivateKeyAccount) {
    const { user, intent } = await newIntent();
    await usdc.mint(payer.address, GROSS); // before the snapshot: the payer can pay again after the reorg
    const treasuryBefore = await usdc.balanceOf(treasury);
    const snap = await snapshot();
    const raw = await signTransfer(payer, GROSS);
    const { hash, receipt } = await broadcast(raw);
    expect(receipt.status).toBe('success');
    const submitted = new Date();
    await attach(t.db, intent, hash, submitted);

    expect(await verifyIntent(deps({ now: at(submitted, 0) }), intent.id)).toEqual({ status: 'VERIFYING', waitingFor: 'confirmations', confirmations: 1 });
    expect(parseFacts((await row(t.db, intent.id)).facts)).toMatchObject({ found: true, block_number: receipt.blockNumber.toString(), confirmations: 1 });

    await revertTo(snap);
    await chain.mine(5);
    // The node itself says: the transaction is gone, its block replaced, and the chain is now higher than where it would have had 3 confirmations.
    expect(await receiptOf(hash)).toBeNull();
    expect((await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })).hash).not.toBe(receipt.blockHash);
    expect(await chain.blockNumber()).toBeGreaterThanOrEqual(receipt.blockNumber + 2n);
    expect(await usdc.balanceOf(treasury)).toBe(treasuryBefore);
    return { user, intent, raw, hash, receipt, submitted };
  }

  it('never credits: it waits for the transaction, then goes to review as tx_not_found after the timeout (30 min)', async () => {
    const { user, intent, hash, receipt, submitted } = await seenThenReorged(chain.accounts[1]);

    expect(await verifyIntent(deps({ now: at(submitted, MINUTE) }), intent.id)).toEqual({ status: 'VERIFYING', waitingFor: 'transaction', confirmations: 0 });
    await runDepositWorkerOnce({ db: t.db, config, now: at(submitted, 10 * MINUTE) });
    const waiting = await row(t.db, intent.id);
    expect(waiting.status).toBe('VERIFYING');
    // What the admin will see: not found now, and the block it was seen in before.
    const facts = parseFacts(waiting.facts);
    expect(facts).toMatchObject({ found: false, dropped_block_number: receipt.blockNumber.toString(), dropped_block_hash: receipt.blockHash });
    expect(facts.receipt_status).toBeUndefined();
    expect(facts.transfers).toBeUndefined();
    await expectNotCredited(t.db, intent.id, user.id, hash);

    expect(await verifyIntent(deps({ now: at(submitted, 31 * MINUTE) }), intent.id)).toEqual({ status: 'NEEDS_REVIEW', reason: 'tx_not_found' });
    expect((await row(t.db, intent.id)).reviewReason).toBe('tx_not_found');
    await expectNotCredited(t.db, intent.id, user.id, hash);
  });

  it('the same transaction included again later credits once, at its new block', async () => {
    const { user, intent, raw, hash, receipt, submitted } = await seenThenReorged(chain.accounts[2]);
    expect((await verifyIntent(deps({ now: at(submitted, MINUTE) }), intent.id)).status).toBe('VERIFYING');

    const again = await broadcast(raw);
    expect(again.hash).toBe(hash);
    expect(again.receipt.blockHash).not.toBe(receipt.blockHash);
    expect(await verifyIntent(deps({ now: at(submitted, 2 * MINUTE) }), intent.id)).toEqual({ status: 'VERIFYING', waitingFor: 'confirmations', confirmations: 1 });
    await chain.mine(2);
    expect((await verifyIntent(deps({ now: at(submitted, 3 * MINUTE) }), intent.id)).status).toBe('CREDITED');
    await expectCreditedOnce(t.db, intent.id, user.id, hash);
    expect(parseFacts((await row(t.db, intent.id)).facts)).toMatchObject({ found: true, block_number: again.receipt.blockNumber.toString(), block_hash: again.receipt.blockHash, confirmations: 3 });

    // Checked again (the worker, another verifier): still one credit.
    await t.db.depositIntent.update({ where: { id: intent.id }, data: { status: 'VERIFYING' } });
    await verifyIntent(deps({ now: at(submitted, 4 * MINUTE) }), intent.id);
    await t.db.depositIntent.update({ where: { id: intent.id }, data: { status: 'CREDITED' } });
    await expectCreditedOnce(t.db, intent.id, user.id, hash);
  });

  it('a different transaction that pays instead credits once; the dropped one credits nothing', async () => {
    const { user, intent, hash: dropped, submitted } = await seenThenReorged(chain.accounts[3]);
    const other = chain.accounts[4];
    await usdc.mint(other.address, GROSS);
    const { hash: paid } = await broadcast(await signTransfer(other, GROSS));
    expect(paid).not.toBe(dropped);
    const attachedAt = new Date(submitted.getTime() + MINUTE);
    await attach(t.db, intent, paid, attachedAt);
    await chain.mine(2);
    expect((await verifyIntent(deps({ now: at(attachedAt, 0) }), intent.id)).status).toBe('CREDITED');
    await expectCreditedOnce(t.db, intent.id, user.id, paid);
    expect(await ledgerRowsFor(t.db, dropped)).toBe(0);
    expect((await row(t.db, intent.id)).fromAddress).toBe(getAddress(other.address));
  });

  it('a receipt read just before a reorg cannot credit after it: the block is checked against the canonical chain', async () => {
    const { user, intent } = await newIntent();
    const payer = chain.accounts[5];
    await usdc.mint(payer.address, GROSS);
    const snap = await snapshot();
    const { hash, receipt } = await broadcast(await signTransfer(payer, GROSS));
    await chain.mine(2); // 3 of 3 confirmations
    const submitted = new Date();
    await attach(t.db, intent, hash, submitted);

    // The verifier reads the receipt from the old chain; the reorg lands before its next request.
    let reorged = false;
    const clientFor = (network: NetworkConfig) =>
      steppedClient(network, async (method) => {
        if (method !== 'eth_getTransactionReceipt' || reorged) return;
        reorged = true;
        await revertTo(snap);
        await chain.mine(6);
      });
    const outcome = await verifyIntent(deps({ clientFor, now: at(submitted, 0) }), intent.id);
    expect(reorged).toBe(true);
    expect(await receiptOf(hash)).toBeNull();
    expect(await chain.blockNumber()).toBeGreaterThanOrEqual(receipt.blockNumber + 2n);
    expect(outcome).toEqual({ status: 'VERIFYING', waitingFor: 'transaction', confirmations: 0 });
    await expectNotCredited(t.db, intent.id, user.id, hash);
    expect(parseFacts((await row(t.db, intent.id)).facts)).toMatchObject({ found: false, dropped_block_number: receipt.blockNumber.toString(), dropped_block_hash: receipt.blockHash });

    // The next ordinary check agrees: the transaction is not on the chain.
    expect((await verifyIntent(deps({ now: at(submitted, MINUTE) }), intent.id)).status).toBe('VERIFYING');
    await expectNotCredited(t.db, intent.id, user.id, hash);
  });

  it('a check that read the old hash does not credit the intent once another hash is attached', async () => {
    const { user, intent } = await newIntent();
    const first = chain.accounts[6];
    const second = chain.accounts[7];
    await usdc.mint(first.address, GROSS);
    await usdc.mint(second.address, GROSS);
    const { hash: oldHash } = await broadcast(await signTransfer(first, GROSS));
    await chain.mine(2);
    const submitted = new Date();
    await attach(t.db, intent, oldHash, submitted);
    const { hash: newHash } = await broadcast(await signTransfer(second, GROSS));

    // The buyer corrects the hash while a check of the old one is under way.
    let replaced = false;
    const clientFor = (network: NetworkConfig) =>
      steppedClient(network, async (method) => {
        if (method !== 'eth_getTransactionReceipt' || replaced) return;
        replaced = true;
        await attach(t.db, intent, newHash, new Date(submitted.getTime() + 1_000));
      });
    const outcome = await verifyIntent(deps({ clientFor, now: at(submitted, 0) }), intent.id);
    expect(replaced).toBe(true);
    expect(outcome.status).not.toBe('CREDITED');
    const current = await row(t.db, intent.id);
    expect(current).toMatchObject({ status: 'VERIFYING', txHash: newHash.toLowerCase() });
    await expectNotCredited(t.db, intent.id, user.id, oldHash);

    // The hash now attached credits once it has its confirmations; the old one never does.
    await chain.mine(2);
    expect((await verifyIntent(deps({ now: at(submitted, MINUTE) }), intent.id)).status).toBe('CREDITED');
    await expectCreditedOnce(t.db, intent.id, user.id, newHash);
    expect(await ledgerRowsFor(t.db, oldHash)).toBe(0);
  });
});

describe('a reverted transfer', () => {
  it('goes to review as tx_reverted with the receipt seen, and credits nothing', async () => {
    const { user, intent } = await newIntent();
    const payer = chain.accounts[8];
    await usdc.mint(payer.address, 1_000_000n); // less than the 11 it tries to send
    // A manual gas limit skips estimation, so the failing call is mined instead of refused.
    await chain.setAutomine(false);
    let hash: Hex;
    try {
      hash = await chain.walletClient(payer).writeContract({ address: usdc.address, abi: testStablecoinAbi, functionName: 'transfer', args: [treasury, GROSS], gas: 120_000n });
      await chain.mine(3);
    } finally {
      await chain.setAutomine(true);
    }
    const receipt = await receiptOf(hash);
    expect(receipt?.status).toBe('reverted');
    expect(receipt?.logs).toEqual([]);
    expect(await usdc.balanceOf(payer.address)).toBe(1_000_000n);

    const submitted = new Date();
    await attach(t.db, intent, hash, submitted);
    expect(await verifyIntent(deps({ now: at(submitted, 0) }), intent.id)).toEqual({ status: 'NEEDS_REVIEW', reason: 'tx_reverted' });
    const reviewed = await row(t.db, intent.id);
    expect(reviewed).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'tx_reverted' });
    expect(parseFacts(reviewed.facts)).toMatchObject({ found: true, receipt_status: 'reverted', block_number: receipt!.blockNumber.toString() });
    await expectNotCredited(t.db, intent.id, user.id, hash);
    // Nothing credits it later either: the worker leaves reviewed intents alone.
    await runDepositWorkerOnce({ db: t.db, config, now: at(submitted, MINUTE) });
    await expectNotCredited(t.db, intent.id, user.id, hash);
  });
});

describe('an unreachable RPC', () => {
  // An RPC URL as providers hand them out, with the API key in the path and the query.
  const SECRET_PATH = 'v3/a1b2c3d4e5f6SECRETKEY';
  const SECRET_QUERY = 'QUERYSECRET9876';
  let downConfig: PaymentsConfig;
  let downUrl: string;

  beforeAll(async () => {
    downUrl = `http://127.0.0.1:${await closedPort()}/${SECRET_PATH}?apikey=${SECRET_QUERY}`;
    downConfig = loadPaymentsConfig({ ...env, DEV_CHAIN_RPC_URL: downUrl });
  });

  /** Runs `work` with every log line captured (all levels). */
  async function captureLogs<T>(work: () => Promise<T>): Promise<{ result: T; logs: string }> {
    const lines: string[] = [];
    const level = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'debug';
    const capture = (chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    };
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    try {
      return { result: await work(), logs: lines.join('') };
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
      if (level === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = level;
    }
  }

  const leaks = (text: string) => [SECRET_PATH, 'SECRETKEY', SECRET_QUERY, downUrl].filter((secret) => text.includes(secret));

  it('keeps the intent retryable with the error in its facts, then sends it to review as rpc_unavailable, never showing the URL', async () => {
    const { user, intent } = await newIntent(t.db, downConfig);
    const payer = chain.accounts[1];
    await usdc.mint(payer.address, GROSS);
    const { hash } = await broadcast(await signTransfer(payer, GROSS));
    await chain.mine(3); // on the chain, final: only the RPC stands in the way
    const submitted = new Date();
    await attach(t.db, intent, hash, submitted);

    const first = await captureLogs(() => verifyIntent({ db: t.db, config: downConfig, now: at(submitted, 0) }, intent.id));
    expect(first.result).toEqual({ status: 'VERIFYING', waitingFor: 'rpc', confirmations: 0 });
    const retrying = await row(t.db, intent.id);
    expect(retrying.status).toBe('VERIFYING');
    expect(retrying.nextCheckAt!.getTime()).toBeGreaterThan(submitted.getTime());
    const facts = parseFacts(retrying.facts);
    expect(facts.last_error).toMatch(/HTTP request failed/);
    expect(facts.last_error).toMatch(/ECONNREFUSED/);
    expect(facts).toMatchObject({ rpc_env: 'DEV_CHAIN_RPC_URL', rpc_failing_since: submitted.toISOString() });
    expect(first.logs).toMatch(/deposit verification failed/);
    expect(leaks(first.logs)).toEqual([]);
    expect(leaks(retrying.facts ?? '')).toEqual([]);

    // The worker keeps retrying while the outage is younger than the timeout.
    const pass = await captureLogs(() => runDepositWorkerOnce({ db: t.db, config: downConfig, now: at(submitted, 10 * MINUTE) }));
    expect(pass.result.outcomes).toContainEqual({ status: 'VERIFYING', waitingFor: 'rpc', confirmations: 0 });
    expect(leaks(pass.logs)).toEqual([]);
    const still = await row(t.db, intent.id);
    expect(still.status).toBe('VERIFYING');
    expect(still.attempts).toBe(retrying.attempts + 1);
    // Still the first failure's time: the outage is measured from its start.
    expect(parseFacts(still.facts).rpc_failing_since).toBe(submitted.toISOString());

    const late = await captureLogs(() => runDepositWorkerOnce({ db: t.db, config: downConfig, now: at(submitted, 31 * MINUTE) }));
    expect(late.result.outcomes).toContainEqual({ status: 'NEEDS_REVIEW', reason: 'rpc_unavailable' });
    expect(leaks(late.logs)).toEqual([]);
    const reviewed = await row(t.db, intent.id);
    expect(reviewed).toMatchObject({ status: 'NEEDS_REVIEW', reviewReason: 'rpc_unavailable' });
    expect(parseFacts(reviewed.facts).last_error).toMatch(/ECONNREFUSED/);
    await expectNotCredited(t.db, intent.id, user.id, hash);

    // What the buyer and the admin see names the problem, never the URL.
    const buyerView = depositView(reviewed, downConfig);
    expect(buyerView.review).toMatchObject({ reason: 'rpc_unavailable' });
    expect(buyerView.review!.message).toMatch(/RPC/);
    expect(leaks(JSON.stringify(buyerView))).toEqual([]);
    const admin = createDepositAdminApi({ db: t.db, getConfig: () => downConfig, env: { ADMIN_TOKEN } });
    for (const [handler, url] of [
      [admin.get, `http://tollgate.test/api/admin/deposits/${intent.id}`],
      [admin.list, 'http://tollgate.test/api/admin/deposits?status=needs_review'],
    ] as const) {
      const response = await handler(new Request(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), { id: intent.id });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain('rpc_unavailable');
      expect(leaks(text)).toEqual([]);
    }
  });

  it('an outage starting long after submission is retried, not sent to review at once; when the RPC answers again the intent credits once', async () => {
    const { user, intent } = await newIntent();
    const payer = chain.accounts[2];
    await usdc.mint(payer.address, GROSS);
    const { hash } = await broadcast(await signTransfer(payer, GROSS));
    const submitted = new Date();
    await attach(t.db, intent, hash, submitted);
    expect((await verifyIntent(deps({ now: at(submitted, 0) }), intent.id)).status).toBe('VERIFYING'); // 1 of 3

    // Two hours later, the first failure: the transaction was seen, the RPC is what is missing.
    const outage = await captureLogs(() => verifyIntent({ db: t.db, config: downConfig, now: at(submitted, 120 * MINUTE) }, intent.id));
    expect(outage.result).toEqual({ status: 'VERIFYING', waitingFor: 'rpc', confirmations: 1 });
    expect(leaks(outage.logs)).toEqual([]);
    expect(parseFacts((await row(t.db, intent.id)).facts)).toMatchObject({ found: true, rpc_failing_since: new Date(submitted.getTime() + 120 * MINUTE).toISOString() });

    await chain.mine(2);
    expect((await verifyIntent(deps({ now: at(submitted, 125 * MINUTE) }), intent.id)).status).toBe('CREDITED');
    await expectCreditedOnce(t.db, intent.id, user.id, hash);
    const facts = parseFacts((await row(t.db, intent.id)).facts);
    expect(facts.last_error).toBeUndefined();
    expect(facts.rpc_failing_since).toBeUndefined();
  });
  it('a wallet-budget snapshot that cannot reach the RPC logs the failure without the URL', async () => {
    const budgetConfig = loadPaymentsConfig({ ...env, DEV_CHAIN_RPC_URL: downUrl, WALLET_BUDGET_NETWORK: 'dev', WALLET_BUDGET_TOKEN: 'USDC' });
    const user = await newBuyer();
    const key = createApiKeyOp(t.db, { userId: user.id, name: 'wallet-backed' });
    await key.op;
    await t.db.apiKey.update({ where: { id: key.id }, data: { budgetWallet: chain.accounts[1].address } });
    const pass = await captureLogs(() => snapshotWalletBudgets({ db: t.db, config: budgetConfig, force: true }));
    expect(pass.result.failed).toBeGreaterThanOrEqual(1);
    expect(pass.logs).toMatch(/wallet budget snapshot failed/);
    expect(pass.logs).toMatch(/ECONNREFUSED/);
    expect(leaks(pass.logs)).toEqual([]);
  });
});

describe('verifiers racing on one intent', () => {
  // A database of its own: the worker passes here take every due intent, and only these.
  let race: TestDatabase;
  let second: Db;

  beforeAll(async () => {
    race = await createTestDatabase();
    // A second client on the same database: another instance of the app.
    second = createDb(race.config);
  });

  afterAll(async () => {
    await second?.$disconnect();
    await race?.close();
  });

  /**
   * Holds every verifier of a transaction once it has read the receipt, until `parties` of them
   * have (or 5 s passed): all of them then go on to credit together, each having seen the intent
   * still verifying.
   */
  function barrier(parties: number) {
    const waiting = new Map<string, { count: number; release: () => void; released: Promise<void> }>();
    const seen = new Map<string, number>();
    const clientFor = (network: NetworkConfig) =>
      steppedClient(network, async (method, params) => {
        if (method !== 'eth_getTransactionReceipt') return;
        const hash = String((params as unknown[])[0]).toLowerCase();
        seen.set(hash, (seen.get(hash) ?? 0) + 1);
        let gate = waiting.get(hash);
        if (!gate) {
          let release!: () => void;
          const released = new Promise<void>((resolve) => {
            release = resolve;
          });
          gate = { count: 0, release, released };
          waiting.set(hash, gate);
          setTimeout(release, 5_000).unref();
        }
        gate.count += 1;
        if (gate.count >= parties) gate.release();
        await gate.released;
      });
    return { clientFor, seen };
  }

  async function paidIntents(db: Db, count: number) {
    const paid = [];
    for (let i = 0; i < count; i++) {
      const { user, intent } = await newIntent(db);
      const payer = chain.accounts[1 + i]!;
      await usdc.mint(payer.address, GROSS);
      const { hash } = await broadcast(await signTransfer(payer, GROSS));
      paid.push({ user, intent, hash });
    }
    await chain.mine(3);
    // Distinct check times, so that both worker passes take the intents in the same order.
    const base = Date.now();
    for (const [i, p] of paid.entries()) await attach(db, p.intent, p.hash, new Date(base + i));
    return paid;
  }

  async function expectLedgerClean(db: Db) {
    const audit = await auditLedger(db, { calls: false });
    expect(audit.problems).toEqual([]);
    expect(audit.ok).toBe(true);
  }

  it('two verify calls and two worker passes at once, on one client: one credit', async () => {
    const [p] = await paidIntents(race.db, 1);
    const { user, intent, hash } = p!;
    const feesBefore = (await race.db.ledgerAccount.findUniqueOrThrow({ where: { id: SYSTEM_ACCOUNTS.fees.id } })).balance;
    const { clientFor, seen } = barrier(4);
    const raceDeps = { db: race.db, config, clientFor, now: () => new Date(Date.now() + MINUTE) };
    const [a, b, passA, passB] = await Promise.all([
      verifyIntent(raceDeps, intent.id),
      verifyIntent(raceDeps, intent.id),
      runDepositWorkerOnce(raceDeps),
      runDepositWorkerOnce(raceDeps),
    ]);
    expect(seen.get(hash.toLowerCase())).toBe(4); // all four reached the chain with the intent verifying
    const outcomes = [a, b, ...passA.outcomes, ...passB.outcomes];
    expect(outcomes.filter((o) => o.status === 'CREDITED')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'NEEDS_REVIEW')).toEqual([]);
    await expectCreditedOnce(race.db, intent.id, user.id, hash);
    expect((await race.db.ledgerAccount.findUniqueOrThrow({ where: { id: SYSTEM_ACCOUNTS.fees.id } })).balance - feesBefore).toBe(FEE);
    await expectLedgerClean(race.db);
  });

  it('two instances (separate database clients), each verifying and running the worker, credit each intent once', async () => {
    const paid = await paidIntents(race.db, 3);
    const feesBefore = (await race.db.ledgerAccount.findUniqueOrThrow({ where: { id: SYSTEM_ACCOUNTS.fees.id } })).balance;
    const { clientFor, seen } = barrier(4);
    const now = () => new Date(Date.now() + MINUTE);
    const one = { db: race.db, config, clientFor, now };
    const two = { db: second, config, clientFor, now };
    const results = await Promise.all([
      runDepositWorkerOnce(one),
      runDepositWorkerOnce(two),
      ...paid.flatMap((p) => [verifyIntent(one, p.intent.id), verifyIntent(two, p.intent.id)]),
    ]);
    for (const p of paid) expect(seen.get(p.hash.toLowerCase())).toBe(4);
    const outcomes = results.flatMap((r) => ('outcomes' in r ? r.outcomes : [r]));
    expect(outcomes.filter((o) => o.status === 'CREDITED')).toHaveLength(paid.length);
    expect(outcomes.filter((o) => o.status === 'NEEDS_REVIEW')).toEqual([]);
    for (const p of paid) {
      await expectCreditedOnce(race.db, p.intent.id, p.user.id, p.hash);
      await expectCreditedOnce(second, p.intent.id, p.user.id, p.hash);
    }
    expect((await race.db.ledgerAccount.findUniqueOrThrow({ where: { id: SYSTEM_ACCOUNTS.fees.id } })).balance - feesBefore).toBe(FEE * BigInt(paid.length));
    await expectLedgerClean(race.db);
  });
});
