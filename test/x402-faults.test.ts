// x402 money under faults, on a local chain (hardhat, an EIP-3009 test stablecoin): a settlement
// whose reply was lost, one submitted by someone else, a nonce used to pay someone else, a
// facilitator that fails or goes silent, and settlements that really failed (reverted, never
// mined), an authorization canceled by its payer. Each ends with the payer credited exactly what reached pay-to, once, or not at all.
import { parseSignature, toHex, type Address, type Hex, type LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDb, type Db } from '../lib/db/client';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { startHoldSweeper } from '../lib/server/instance';
import { logger } from '../lib/logger';
import { HEADERS, decodeHeader, loadX402Config, localSettler, TRANSFER_WITH_AUTHORIZATION_ABI } from '../lib/payments/x402';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { upstreamEnv } from './helpers/gateway';
import { signAuthorization, startFakeFacilitator, startRpcProxy, startX402Gateway, v2PaymentHeader, type X402Gateway } from './helpers/x402';

const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 200 };
const NETWORK = 'eip155:31337';

let chain: TestChain;
let token: DeployedStablecoin;
let t: TestDatabase;
let fake: FakeUpstream;
let payTo: Address;
let baseEnv: Record<string, string>;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [chain, t, fake] = await Promise.all([startTestChain(), createTestDatabase(), startFakeUpstream()]);
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  payTo = chain.accounts[2].address;
  baseEnv = { X402_PAY_TO: payTo, X402_NETWORK: NETWORK, X402_ASSET: token.address, X402_ASSET_NAME: 'USD Coin', X402_ASSET_VERSION: '2', X402_RPC_URL: chain.rpcUrl };
}, 180_000);
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await fake?.close();
  await t?.close();
  await chain?.stop();
});
beforeEach(() => fake.reset());

const LOCAL = (rpcUrl?: string) => ({ X402_SETTLEMENT: 'local', X402_RELAYER_PRIVATE_KEY: chain.privateKeys[3]!, ...(rpcUrl ? { X402_RPC_URL: rpcUrl } : {}) });

/** An instance with its own database client, as another process would have. */
async function instance(env: Record<string, string>, options: { settler?: Parameters<typeof startX402Gateway>[0]['settler'] } = {}): Promise<X402Gateway> {
  const db: Db = createDb(t.config);
  const gw = await startX402Gateway({ db, env: upstreamEnv(fake.url, { ...baseEnv, ...env }), settler: options.settler });
  closers.push(() => db.$disconnect(), gw.close);
  return gw;
}

type Accepted = { amount: string; network: string; asset: string; payTo: string };

async function challenge(gw: X402Gateway): Promise<Accepted> {
  const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
  expect(response.status).toBe(402);
  return (decodeHeader(response.headers.get(HEADERS.paymentRequired)!) as { accepts: Accepted[] }).accepts[0]!;
}

async function newPayer(amount: bigint) {
  const account = privateKeyToAccount(generatePrivateKey());
  await token.mint(account.address, amount);
  return account;
}

async function pay(gw: X402Gateway, header: string) {
  const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.paymentSignature]: header }, body: JSON.stringify(BODY) });
  const body = (await response.json()) as { error?: { type: string; code: string; reason?: string; message: string } };
  return { status: response.status, body, requestId: response.headers.get('x-request-id'), receipt: response.headers.get(HEADERS.paymentResponse) };
}

async function balanceOf(payer: Address): Promise<bigint | null> {
  const user = await t.db.user.findFirst({ where: { walletAddress: payer } });
  if (!user) return null;
  return (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(user.id) } })).balance;
}

const credits = (payer: Address) => t.db.ledgerTransaction.count({ where: { kind: 'x402_payment', memo: { contains: payer } } });
const paymentOf = (payer: Address) => t.db.x402Payment.findFirstOrThrow({ where: { payer } });
const authorizationsUsed = (payer: Address) =>
  chain.publicClient.getContractEvents({ address: token.address, abi: token.abi, eventName: 'AuthorizationUsed', args: { authorizer: payer }, fromBlock: 0n });

/** Submits a signed authorization on chain from `sender`, outside any gateway. */
async function submitDirectly(sender: LocalAccount, signed: Awaited<ReturnType<typeof signAuthorization>>): Promise<Hex> {
  const a = signed.authorization;
  const { r, s, v } = parseSignature(signed.signature);
  const hash = await chain.walletClient(sender).writeContract({
    address: token.address,
    abi: TRANSFER_WITH_AUTHORIZATION_ABI,
    functionName: 'transferWithAuthorization',
    args: [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, Number(v), r, s],
  });
  expect((await chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');
  return hash;
}

/** EIP-3009's cancelAuthorization, (v, r, s) form, as the test token has it. */
const CANCEL_AUTHORIZATION_ABI = [
  {
    type: 'function',
    name: 'cancelAuthorization',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'authorizer', type: 'address' },
      { name: 'nonce', type: 'bytes32' },
      { name: 'v', type: 'uint8' },
      { name: 'r', type: 'bytes32' },
      { name: 's', type: 'bytes32' },
    ],
    outputs: [],
  },
] as const;

async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(chain.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** Hashes of the transactions waiting in the node's pool (automine off). */
async function pendingTransactions(): Promise<Hex[]> {
  const block = (await rpc('eth_getBlockByNumber', ['pending', false])) as { transactions: Hex[] };
  return block.transactions;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('local settlement whose outcome the gateway did not see', () => {
  it('the node took the settlement but its reply was lost: 402, not served; reconcile() on two instances at once credits it once from the chain, and nothing settles twice', async () => {
    const proxy = await startRpcProxy(chain.rpcUrl);
    closers.push(proxy.close);
    const lossy = await instance(LOCAL(proxy.url));
    const other = await instance(LOCAL());
    const accepted = await challenge(lossy);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    const header = v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount }));

    proxy.dropReplies.add('eth_sendRawTransaction');
    const lost = await pay(lossy, header);
    proxy.dropReplies.clear();
    expect(proxy.dropped).toEqual(['eth_sendRawTransaction']);
    expect(lost.status).toBe(402);
    expect(lost.body.error).toMatchObject({ type: 'insufficient_credits', code: 'payment_invalid', reason: 'unexpected_settle_error', message: expect.stringContaining('credited to this wallet') });
    expect(lost.receipt).toBeNull();
    expect(fake.requests).toHaveLength(0);
    // The transfer did happen; the gateway just does not know it yet.
    expect(await token.balanceOf(payer.address)).toBe(0n);
    const [used] = await authorizationsUsed(payer.address);
    expect(used).toBeDefined();
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    expect(await credits(payer.address)).toBe(0);

    // Sending the same payment again settles nothing more, on either instance.
    for (const gw of [lossy, other]) expect((await pay(gw, header)).body.error).toMatchObject({ reason: 'invalid_exact_evm_nonce_already_used' });
    // A row still being settled by its request is left alone; then both sweepers at once credit it once.
    expect(await other.x402.reconcile()).toBe(0);
    const counts = await Promise.all([lossy.x402.reconcile({ olderThanMs: 0 }), other.x402.reconcile({ olderThanMs: 0 })]);
    expect(counts[0] + counts[1]).toBe(1);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'SETTLED', txHash: used!.transactionHash });
    expect(await balanceOf(payer.address)).toBe(amount);
    expect(await credits(payer.address)).toBe(1);
    expect(await other.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await authorizationsUsed(payer.address)).toHaveLength(1);
    expect(await token.balanceOf(payTo)).toBeGreaterThanOrEqual(amount);
    expect(fake.requests).toHaveLength(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('the sweeper every instance runs credits such a payment by itself, once it is a minute old', async () => {
    const proxy = await startRpcProxy(chain.rpcUrl);
    closers.push(proxy.close);
    const gw = await instance(LOCAL(proxy.url));
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    proxy.dropReplies.add('eth_sendRawTransaction');
    expect((await pay(gw, v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount })))).status).toBe(402);
    proxy.dropReplies.clear();
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });

    const sweeper = startHoldSweeper(gw.gateway, 100);
    try {
      // Fresh rows are left to their request; a minute later the sweeper settles it from the chain.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED' });
      await t.db.x402Payment.updateMany({ where: { payer: payer.address }, data: { updatedAt: new Date(Date.now() - 61_000) } });
      const settled = await until(() => paymentOf(payer.address), (row) => row.status === 'SETTLED');
      const [used] = await authorizationsUsed(payer.address);
      expect(settled.txHash).toBe(used!.transactionHash);
    } finally {
      clearInterval(sweeper);
      delete (globalThis as { tollgateSweeper?: unknown }).tollgateSweeper;
    }
    expect(await balanceOf(payer.address)).toBe(amount);
    expect(await credits(payer.address)).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('an authorization someone else already submitted on chain (the payer, another relayer) is served and credited once, with that transaction', async () => {
    const gw = await instance(LOCAL());
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    const signed = await signAuthorization(payer, token.domain, { to: payTo, value: amount });
    const direct = await submitDirectly(chain.accounts[6], signed);

    const paid = await pay(gw, v2PaymentHeader(accepted, signed));
    expect(paid.status).toBe(200);
    expect((decodeHeader(paid.receipt!) as { transaction: string }).transaction).toBe(direct);
    expect(await authorizationsUsed(payer.address)).toHaveLength(1);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'SETTLED', txHash: direct });
    const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: paid.requestId! } });
    expect(await balanceOf(payer.address)).toBe(amount - usage.cost);
    expect(await credits(payer.address)).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a payment whose nonce was already used on chain to pay someone else is refused and failed at once, without credit: the log shows it', async () => {
    const gw = await instance(LOCAL());
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    // Two authorizations under one nonce: one pays a stranger a token unit, the other is offered to Tollgate.
    const offered = await signAuthorization(payer, token.domain, { to: payTo, value: amount });
    const elsewhere = await signAuthorization(payer, token.domain, { to: chain.accounts[7].address, value: 1n, nonce: offered.authorization.nonce });
    await submitDirectly(chain.accounts[6], elsewhere);
    const payToBefore = await token.balanceOf(payTo);

    const refused = await pay(gw, v2PaymentHeader(accepted, offered));
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({ reason: 'invalid_exact_evm_nonce_already_used', message: expect.stringContaining('used on chain for another transfer') });
    expect(refused.body.error!.message).toContain('Nothing was charged');
    expect(fake.requests).toHaveLength(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null });
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await credits(payer.address)).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();
    expect(await token.balanceOf(payTo)).toBe(payToBefore);
    expect(fake.requests).toHaveLength(0);
  });

  it('an authorization someone else submitted, behind an RPC whose logs lag its state (eth_getLogs answers []): 402 and open past 10 minutes, looked at less often, credited once the logs show it', async () => {
    const proxy = await startRpcProxy(chain.rpcUrl);
    closers.push(proxy.close);
    const gw = await instance(LOCAL(proxy.url));
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    const signed = await signAuthorization(payer, token.domain, { to: payTo, value: amount });
    const direct = await submitDirectly(chain.accounts[6], signed);

    // The token says used; the logs, from a node that has not indexed the block yet, say nothing.
    proxy.answers.set('eth_getLogs', () => []);
    const answer = await pay(gw, v2PaymentHeader(accepted, signed));
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({ reason: 'invalid_exact_evm_nonce_already_used', message: expect.stringContaining('credited to this wallet') });
    expect(fake.requests).toHaveLength(0);
    const { createdAt } = await paymentOf(payer.address);
    const minute = 60_000;
    const at = (ms: number) => new Date(createdAt.getTime() + ms);
    for (const ms of [0, minute, 11 * minute, 3 * 60 * minute]) {
      expect(await gw.x402.reconcile({ olderThanMs: 0, now: at(ms) })).toBe(0);
      expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    }
    expect(await credits(payer.address)).toBe(0);

    proxy.answers.clear();
    // Three hours old, it is looked at again only 45 minutes later (a quarter of its age)...
    expect(await gw.x402.reconcile({ olderThanMs: 0, now: at(3 * 60 * minute + 44 * minute) })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    // ...and then credited, once.
    expect(await gw.x402.reconcile({ olderThanMs: 0, now: at(3 * 60 * minute + 45 * minute) })).toBe(1);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'SETTLED', txHash: direct });
    expect(await balanceOf(payer.address)).toBe(amount);
    expect(await credits(payer.address)).toBe(1);
    expect(await gw.x402.reconcile({ olderThanMs: 0, now: at(5 * 60 * minute) })).toBe(0);
    expect(await authorizationsUsed(payer.address)).toHaveLength(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('used on chain with no log of it for a whole day: failed, without credit, with an error logged for the operator', async () => {
    const proxy = await startRpcProxy(chain.rpcUrl);
    closers.push(proxy.close);
    const gw = await instance(LOCAL(proxy.url));
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    const signed = await signAuthorization(payer, token.domain, { to: payTo, value: amount });
    await submitDirectly(chain.accounts[6], signed);
    proxy.answers.set('eth_getLogs', () => []);
    expect((await pay(gw, v2PaymentHeader(accepted, signed))).status).toBe(402);
    const { createdAt } = await paymentOf(payer.address);
    const hour = 60 * 60_000;

    expect(await gw.x402.reconcile({ olderThanMs: 0, now: new Date(createdAt.getTime() + 23 * hour) })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    const errors = vi.spyOn(logger, 'error');
    try {
      expect(await gw.x402.reconcile({ olderThanMs: 0, now: new Date(createdAt.getTime() + 24 * hour) })).toBe(0);
      expect(errors.mock.calls.map(([message]) => message)).toEqual([expect.stringContaining('credit the payer by hand')]);
    } finally {
      errors.mockRestore();
    }
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null, error: expect.stringContaining('no log of it showed in 24 h') });
    expect(await credits(payer.address)).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();
  });

  it('reconcile() reads the state and the logs at one block: a block number answered from a node behind does not hide the transfer', async () => {
    const proxy = await startRpcProxy(chain.rpcUrl);
    closers.push(proxy.close);
    const gw = await instance(LOCAL(proxy.url));
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    proxy.dropReplies.add('eth_sendRawTransaction');
    expect((await pay(gw, v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount })))).status).toBe(402);
    proxy.dropReplies.clear();
    const [used] = await authorizationsUsed(payer.address);
    expect(used).toBeDefined();
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });

    // A lagging node answers eth_blockNumber with the block before the transfer's.
    proxy.answers.set('eth_blockNumber', () => toHex(used!.blockNumber - 1n));
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(1);
    proxy.answers.clear();
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'SETTLED', txHash: used!.transactionHash });
    expect(await balanceOf(payer.address)).toBe(amount);
    expect(await credits(payer.address)).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('a facilitator that fails', () => {
  let facilitator: Awaited<ReturnType<typeof startFakeFacilitator>>;
  let gw: X402Gateway;
  beforeAll(async () => {
    facilitator = await startFakeFacilitator({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, privateKey: chain.privateKeys[9]!, domain: token.domain });
    closers.push(facilitator.close);
    gw = await instance({ X402_FACILITATOR_URL: facilitator.url });
  });

  async function attempt(fault: 'error' | 'refuse' | 'lost-reply') {
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    facilitator.setFault(fault);
    try {
      const answer = await pay(gw, v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount })));
      return { answer, payer, amount };
    } finally {
      facilitator.setFault(null);
    }
  }

  it('/settle answering 500: 402, not served, not charged, nothing moved; the payment stays open for the chain to decide', async () => {
    const { answer, payer, amount } = await attempt('error');
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({ type: 'insufficient_credits', code: 'payment_invalid', reason: 'unexpected_settle_error', message: expect.stringContaining('not served') });
    expect(fake.requests).toHaveLength(0);
    expect(await token.balanceOf(payer.address)).toBe(amount);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    // The authorization is still valid and unused: reconcile() credits nothing and leaves it open.
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    expect(await credits(payer.address)).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();
  });

  it('/settle answering 500, then the payer cancels the authorization on chain: reconcile() fails it at once, without credit', async () => {
    const { answer, payer, amount } = await attempt('error');
    expect(answer.status).toBe(402);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    const { nonce } = await paymentOf(payer.address);
    const signature = await payer.signTypedData({
      domain: token.domain,
      types: { CancelAuthorization: [{ name: 'authorizer', type: 'address' }, { name: 'nonce', type: 'bytes32' }] },
      primaryType: 'CancelAuthorization',
      message: { authorizer: payer.address, nonce: nonce as Hex },
    });
    const { r, s, v } = parseSignature(signature);
    const hash = await chain.walletClient(chain.accounts[6]).writeContract({ address: token.address, abi: CANCEL_AUTHORIZATION_ABI, functionName: 'cancelAuthorization', args: [payer.address, nonce as Hex, Number(v), r, s] });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');

    // One pass, no grace: the log of the cancel is positive evidence, unlike logs that show nothing.
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null, error: expect.stringContaining(`canceled, in ${hash}`) });
    expect(await credits(payer.address)).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();
    expect(await token.balanceOf(payer.address)).toBe(amount);
  });

  it('/settle answering 500, then the nonce is used on chain to pay someone else: reconcile() fails it at once, without credit', async () => {
    const { answer, payer, amount } = await attempt('error');
    expect(answer.status).toBe(402);
    const { nonce } = await paymentOf(payer.address);
    const elsewhere = await signAuthorization(payer, token.domain, { to: chain.accounts[7].address, value: 1n, nonce: nonce as Hex });
    const hash = await submitDirectly(chain.accounts[6], elsewhere);

    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null, error: expect.stringContaining(`used for another transfer, in ${hash}`) });
    expect(await credits(payer.address)).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();
    expect(await token.balanceOf(payer.address)).toBe(amount - 1n);
  });

  it('/settle answering success: false: 402 with its reason, failed, nothing moved or charged', async () => {
    const { answer, payer, amount } = await attempt('refuse');
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({ code: 'payment_invalid', reason: 'unexpected_settle_error', message: expect.stringContaining('settlement queue full') });
    expect(answer.body.error!.message).toContain('Nothing was charged');
    expect(fake.requests).toHaveLength(0);
    expect(await token.balanceOf(payer.address)).toBe(amount);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null });
    expect(await credits(payer.address)).toBe(0);
  });

  it('/settle settling on chain, then answering 502: 402, not served; reconcile() credits the transfer once', async () => {
    const { answer, payer, amount } = await attempt('lost-reply');
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({ reason: 'unexpected_settle_error', message: expect.stringContaining('credited to this wallet') });
    expect(fake.requests).toHaveLength(0);
    expect(await token.balanceOf(payer.address)).toBe(0n);
    expect(await credits(payer.address)).toBe(0);
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(1);
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    const [used] = await authorizationsUsed(payer.address);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'SETTLED', txHash: used!.transactionHash });
    expect(await balanceOf(payer.address)).toBe(amount);
    expect(await credits(payer.address)).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('a settlement that really failed on chain', () => {
  it('reverted (the payer’s tokens left before it was mined): 402 insufficient_funds, nothing served or credited; the payer can pay again', async () => {
    const gw = await instance(LOCAL());
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    await rpc('hardhat_setBalance', [payer.address, '0x56BC75E2D63100000']); // 100 ETH, for its own transfer's gas
    const header = v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount }));

    await chain.setAutomine(false);
    let answer: Awaited<ReturnType<typeof pay>>;
    try {
      const paying = pay(gw, header);
      const [settlement] = await until(pendingTransactions, (txs) => txs.length === 1);
      // The payer moves its tokens away, paying more for gas so that its transfer is mined first.
      await chain.walletClient(payer).writeContract({
        address: token.address,
        abi: token.abi,
        functionName: 'transfer',
        args: [chain.accounts[8].address, amount],
        // No estimate: the pool's pending state already counts the settlement, which leaves it nothing.
        gas: 100_000n,
        maxPriorityFeePerGas: 50_000_000_000n,
        maxFeePerGas: 100_000_000_000n,
      });
      await until(pendingTransactions, (txs) => txs.length === 2);
      await chain.mine(1);
      await chain.setAutomine(true);
      answer = await paying;
      expect((await chain.publicClient.getTransactionReceipt({ hash: settlement! })).status).toBe('reverted');
    } finally {
      await chain.setAutomine(true);
    }
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({ reason: 'insufficient_funds', message: expect.stringContaining('Nothing was charged') });
    expect(fake.requests).toHaveLength(0);
    expect(await authorizationsUsed(payer.address)).toHaveLength(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null });
    expect(await credits(payer.address)).toBe(0);
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();

    // With tokens again, a new payment goes through.
    await token.mint(payer.address, amount);
    const again = await pay(gw, v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount })));
    expect(again.status).toBe(200);
    const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: again.requestId! } });
    expect(await balanceOf(payer.address)).toBe(amount - usage.cost);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('never mined (dropped from the pool): 402, not served; open while it could land, failed without credit once expired on chain; the payer’s tokens are untouched and a new payment goes through', async () => {
    const env = upstreamEnv(fake.url, { ...baseEnv, ...LOCAL() });
    const config = loadX402Config(env);
    if (config.state !== 'enabled') throw new Error('x402 test configuration refused');
    // A short wait for the receipt, so the dropped transaction's request ends in this test's time.
    const gw = await instance(LOCAL(), { settler: localSettler(config.config, { receiptTimeoutMs: 1_500 }) });
    const accepted = await challenge(gw);
    const amount = BigInt(accepted.amount);
    const payer = await newPayer(amount);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const header = v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount, validBefore: now + 60n }));

    await chain.setAutomine(false);
    let answer: Awaited<ReturnType<typeof pay>>;
    try {
      answer = await pay(gw, header);
      const [settlement] = await pendingTransactions();
      expect(settlement).toBeDefined();
      await rpc('hardhat_dropTransaction', [settlement]);
    } finally {
      await chain.setAutomine(true);
    }
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({ reason: 'unexpected_settle_error', message: expect.stringContaining('not served') });
    expect(fake.requests).toHaveLength(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });

    // Still valid on chain: it could yet land, so it stays open.
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'VERIFIED', txHash: null });
    // Past its validBefore on the chain's clock it never can: failed, nothing credited.
    await chain.increaseTime(120);
    expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
    expect(await paymentOf(payer.address)).toMatchObject({ status: 'FAILED', txHash: null, error: expect.stringContaining('expired unused') });
    expect(await credits(payer.address)).toBe(0);
    expect(await balanceOf(payer.address)).toBeNull();
    expect(await token.balanceOf(payer.address)).toBe(amount);
    expect(await authorizationsUsed(payer.address)).toHaveLength(0);

    const again = await pay(gw, v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount })));
    expect(again.status).toBe(200);
    const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: again.requestId! } });
    expect(await balanceOf(payer.address)).toBe(amount - usage.cost);
    expect(await token.balanceOf(payer.address)).toBe(0n);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});
