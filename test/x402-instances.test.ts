// x402 across two gateway instances (each its own database client, as two processes have) on one
// database and one local chain (hardhat, an EIP-3009 test stablecoin), both settling with the SAME
// relayer account: one payment sent to both at once is settled, credited and served once; many
// different payments settled at once by both all land, each exactly once, although each instance
// serializes only its own relayer transactions.
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../lib/db/client';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { HEADERS, decodeHeader } from '../lib/payments/x402';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { upstreamEnv } from './helpers/gateway';
import { signAuthorization, startX402Gateway, v2PaymentHeader, type X402Gateway } from './helpers/x402';

const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 200 };
const NETWORK = 'eip155:31337';

let chain: TestChain;
let token: DeployedStablecoin;
let t: TestDatabase;
let fake: FakeUpstream;
let payTo: Address;
const clients: Db[] = [];
let instances: X402Gateway[] = [];

beforeAll(async () => {
  [chain, t, fake] = await Promise.all([startTestChain(), createTestDatabase(), startFakeUpstream()]);
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  payTo = chain.accounts[2].address;
  const env = upstreamEnv(fake.url, {
    X402_PAY_TO: payTo,
    X402_NETWORK: NETWORK,
    X402_ASSET: token.address,
    X402_ASSET_NAME: 'USD Coin',
    X402_ASSET_VERSION: '2',
    X402_RPC_URL: chain.rpcUrl,
    X402_SETTLEMENT: 'local',
    // One relayer for both instances: the case where a per-process queue cannot order the nonces.
    X402_RELAYER_PRIVATE_KEY: chain.privateKeys[3]!,
  });
  // Two instances as two processes would be: each its own client (connection pool) to the one database.
  for (let i = 0; i < 2; i++) {
    const db = createDb(t.config);
    clients.push(db);
    instances.push(await startX402Gateway({ db, env }));
  }
}, 180_000);
afterAll(async () => {
  for (const gw of instances) await gw.close();
  for (const db of clients) await db.$disconnect();
  instances = [];
  await fake?.close();
  await t?.close();
  await chain?.stop();
});
beforeEach(() => fake.reset());

type Accepted = { amount: string; network: string; asset: string; payTo: string };

/** What a call of BODY is challenged for (the v2 requirements), as any client first learns it. */
async function challenge(): Promise<Accepted> {
  const response = await fetch(`${instances[0]!.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
  expect(response.status).toBe(402);
  return (decodeHeader(response.headers.get(HEADERS.paymentRequired)!) as { accepts: Accepted[] }).accepts[0]!;
}

/** A wallet nobody has seen, holding `amount` test dollars (the relayer pays the gas). */
async function newPayer(amount: bigint) {
  const account = privateKeyToAccount(generatePrivateKey());
  await token.mint(account.address, amount);
  return account;
}

const pay = (gw: X402Gateway, header: string) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.paymentSignature]: header }, body: JSON.stringify(BODY) });

async function answer(response: Response) {
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as { error?: { code?: string; reason?: string; type?: string; message?: string } }, requestId: response.headers.get('x-request-id'), receipt: response.headers.get(HEADERS.paymentResponse) };
}

async function balanceOf(payer: Address): Promise<bigint | null> {
  const user = await t.db.user.findFirst({ where: { walletAddress: payer } });
  if (!user) return null;
  return (await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(user.id) } })).balance;
}

async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(chain.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

/** AuthorizationUsed events of the token for this payer: one per settled authorization. */
async function authorizationsUsed(payer: Address) {
  return chain.publicClient.getContractEvents({ address: token.address, abi: token.abi, eventName: 'AuthorizationUsed', args: { authorizer: payer }, fromBlock: 0n });
}

describe('two instances, one database, one chain, one relayer', () => {
  it('one payment sent to both at once, again and again: settled once on chain, credited once, served once; the others 402 and free', async () => {
    const accepted = await challenge();
    const amount = BigInt(accepted.amount);
    const ROUNDS = 6;
    const payer = await newPayer(amount * BigInt(ROUNDS));
    for (let round = 0; round < ROUNDS; round++) {
      const header = v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount }));
      // Both instances at once, twice each: four copies of one authorization.
      const answers = await Promise.all([instances[0]!, instances[1]!, instances[0]!, instances[1]!].map(async (gw) => answer(await pay(gw, header))));
      const served = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status !== 200);
      expect({ round, served: served.length, refused: refused.map((a) => [a.status, a.body.error?.reason]) }).toEqual({
        round,
        served: 1,
        refused: [
          [402, 'invalid_exact_evm_nonce_already_used'],
          [402, 'invalid_exact_evm_nonce_already_used'],
          [402, 'invalid_exact_evm_nonce_already_used'],
        ],
      });
      // OpenAI's error shape, so an SDK raises a readable error.
      for (const a of refused) expect(a.body.error).toMatchObject({ type: 'insufficient_credits', code: 'payment_invalid', message: expect.stringContaining('Nothing was charged') });
      expect(served[0]!.receipt).not.toBeNull();
    }
    // Each round's tokens moved once: the wallet is empty, payTo got ROUNDS payments, one event each.
    expect(await token.balanceOf(payer.address)).toBe(0n);
    expect(await authorizationsUsed(payer.address)).toHaveLength(ROUNDS);
    // One credit per round, and one usage row per served call: the balance is what the calls did not use.
    const user = await t.db.user.findFirstOrThrow({ where: { walletAddress: payer.address } });
    const payments = await t.db.x402Payment.findMany({ where: { payer: payer.address } });
    expect(payments.map((p) => p.status)).toEqual(Array(ROUNDS).fill('SETTLED'));
    expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment', memo: { contains: payer.address } } })).toBe(ROUNDS);
    const usage = await t.db.usageRecord.findMany({ where: { userId: user.id } });
    expect(usage).toHaveLength(ROUNDS);
    expect(fake.requests).toHaveLength(ROUNDS);
    const used = usage.reduce((sum, u) => sum + u.cost, 0n);
    expect(await balanceOf(payer.address)).toBe(amount * BigInt(ROUNDS) - used);
    expect(await t.db.hold.count({ where: { status: 'PENDING' } })).toBe(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('different payments settled at once by both instances with one relayer account: every one lands, settled and credited exactly once', async () => {
    const accepted = await challenge();
    const amount = BigInt(accepted.amount);
    const PER_INSTANCE = 4;
    const payers = [];
    for (let i = 0; i < 2 * PER_INSTANCE; i++) payers.push(await newPayer(amount)); // the token owner mints one at a time
    const headers = await Promise.all(payers.map(async (payer) => v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount }))));
    const payToBefore = await token.balanceOf(payTo);
    const answers = await Promise.all(headers.map(async (header, i) => answer(await pay(instances[i % 2]!, header))));
    expect(answers.map((a) => [a.status, a.body.error?.reason ?? null])).toEqual(answers.map(() => [200, null]));

    expect(await token.balanceOf(payTo)).toBe(payToBefore + amount * BigInt(payers.length));
    for (const payer of payers) {
      expect(await token.balanceOf(payer.address)).toBe(0n);
      const events = await authorizationsUsed(payer.address);
      expect(events).toHaveLength(1);
      const payment = await t.db.x402Payment.findFirstOrThrow({ where: { payer: payer.address } });
      // The recorded hash is the transaction that really used the authorization.
      expect(payment).toMatchObject({ status: 'SETTLED', txHash: events[0]!.transactionHash as Hex });
      expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment', memo: { contains: payer.address } } })).toBe(1);
      const usage = await t.db.usageRecord.findFirstOrThrow({ where: { userId: payment.userId! } });
      expect(await balanceOf(payer.address)).toBe(amount - usage.cost);
    }
    expect(fake.requests).toHaveLength(payers.length);
    expect(await t.db.hold.count({ where: { status: 'PENDING' } })).toBe(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('the same with transactions waiting in the pool (no automine, as on a real chain): a transaction refused as an underpriced replacement of the other instance’s is signed again; every payment lands once', async () => {
    const accepted = await challenge();
    const amount = BigInt(accepted.amount);
    const PER_INSTANCE = 3;
    const payers = [];
    for (let i = 0; i < 2 * PER_INSTANCE; i++) payers.push(await newPayer(amount));
    const headers = await Promise.all(payers.map(async (payer) => v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: amount }))));
    const payToBefore = await token.balanceOf(payTo);
    await chain.setAutomine(false);
    let answers: Awaited<ReturnType<typeof answer>>[];
    try {
      let done = false;
      const paying = Promise.all(headers.map(async (header, i) => answer(await pay(instances[i % 2]!, header)))).finally(() => {
        done = true;
      });
      // A block whenever something waits in the pool, after giving the other instance time to send too.
      while (!done) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const pending = (await rpc('eth_getBlockByNumber', ['pending', false])) as { transactions: string[] };
        if (pending.transactions.length > 0) await chain.mine(1);
      }
      answers = await paying;
    } finally {
      await chain.setAutomine(true);
    }
    expect(answers.map((a) => [a.status, a.body.error?.reason ?? null])).toEqual(answers.map(() => [200, null]));
    expect(await token.balanceOf(payTo)).toBe(payToBefore + amount * BigInt(payers.length));
    for (const payer of payers) {
      const events = await authorizationsUsed(payer.address);
      expect(events).toHaveLength(1);
      expect(await t.db.x402Payment.findFirstOrThrow({ where: { payer: payer.address } })).toMatchObject({ status: 'SETTLED', txHash: events[0]!.transactionHash as Hex });
      expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment', memo: { contains: payer.address } } })).toBe(1);
    }
    expect((await auditLedger(t.db)).problems).toEqual([]);
  }, 120_000);
});
