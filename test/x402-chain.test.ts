// x402 v2 end to end on a local chain (hardhat, chain 31337, an EIP-3009 test stablecoin): the
// official @x402/fetch + @x402/evm client pays and gets a completion, settled by Tollgate's own
// relayer or by a facilitator; every refusal is proven to move no token and charge nothing.
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from '@x402/fetch';
import type { Address, Hex, PrivateKeyAccount } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { HEADERS, decodeHeader } from '../lib/payments/x402';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { upstreamEnv } from './helpers/gateway';
import { signAuthorization, startFakeFacilitator, startX402Gateway, v2PaymentHeader, type X402Gateway } from './helpers/x402';

const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 200 };
const NETWORK = 'eip155:31337';

let chain: TestChain;
let token: DeployedStablecoin;
let t: TestDatabase;
let fake: FakeUpstream;
let payTo: Address;
let baseEnv: Record<string, string>;
const gateways: X402Gateway[] = [];

beforeAll(async () => {
  [chain, t, fake] = await Promise.all([startTestChain(), createTestDatabase(), startFakeUpstream()]);
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  payTo = chain.accounts[2].address;
  baseEnv = { X402_PAY_TO: payTo, X402_NETWORK: NETWORK, X402_ASSET: token.address, X402_ASSET_NAME: 'USD Coin', X402_ASSET_VERSION: '2', X402_RPC_URL: chain.rpcUrl };
}, 180_000);
afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await fake?.close();
  await t?.close();
  await chain?.stop();
});
beforeEach(() => fake.reset());

async function gatewayWith(env: Record<string, string>) {
  const gw = await startX402Gateway({ db: t.db, env: upstreamEnv(fake.url, { ...baseEnv, ...env }) });
  gateways.push(gw);
  return gw;
}

/** A fresh wallet with `amount` test dollars (6 decimals) and no Tollgate account. */
async function fundedWallet(index: number, amount = 5_000_000n): Promise<PrivateKeyAccount> {
  const account = chain.accounts[index]!;
  await token.mint(account.address, amount);
  return account;
}

/** The official v2 client paying for `url`, recording the payment headers it sent. */
function payingFetch(account: PrivateKeyAccount) {
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: account });
  // The test token is not one of the client's default assets: a wallet opts in to it, capped.
  client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: token.address, maxAmountPerPayment: '1000000' }] });
  const sent: Headers[] = [];
  const recording: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    sent.push(new Headers(request.headers));
    return fetch(request);
  };
  return { fetch: wrapFetchWithPayment(recording, client), sent };
}

const chat = (f: typeof fetch, url: string, body: unknown = BODY) =>
  f(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function tollgateBalance(address: Address) {
  const user = await t.db.user.findFirst({ where: { walletAddress: address } });
  if (!user) return null;
  const account = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(user.id) } });
  return { userId: user.id, balance: account.balance, available: account.available };
}

async function snapshot(payer: Address) {
  return {
    payerTokens: await token.balanceOf(payer),
    payToTokens: await token.balanceOf(payTo),
    ledgerTransactions: await t.db.ledgerTransaction.count(),
    settled: await t.db.x402Payment.count({ where: { status: 'SETTLED' } }),
    tollgate: await tollgateBalance(payer),
    upstreamCalls: fake.requests.length,
  };
}

describe('local settlement (Tollgate submits the authorization with its relayer)', () => {
  let gw: X402Gateway;
  beforeAll(async () => {
    gw = await gatewayWith({ X402_SETTLEMENT: 'local', X402_RELAYER_PRIVATE_KEY: chain.privateKeys[3]! });
  });

  it('the official v2 client pays on chain and gets a completion; what the call did not use stays in the wallet’s balance, exactly', async () => {
    const payer = await fundedWallet(1);
    const before = await snapshot(payer.address);
    const { fetch: pay, sent } = payingFetch(payer);
    const response = await chat(pay, gw.url);
    expect(response.status).toBe(200);
    const completion = (await response.json()) as { choices: { message: { content: string } }[] };
    expect(completion.choices[0]!.message.content).toBe('Hello from the fake upstream.');

    // The challenge the client paid, and the receipt it got back.
    expect(sent).toHaveLength(2);
    expect(sent[0]!.get(HEADERS.paymentSignature)).toBeNull();
    const signature = sent[1]!.get(HEADERS.paymentSignature)!;
    const paid = decodeHeader(signature) as { accepted: { amount: string; network: string }; payload: { authorization: { nonce: string } } };
    expect(paid.accepted.network).toBe(NETWORK);
    const amount = BigInt(paid.accepted.amount);
    const receipt = decodePaymentResponseHeader(response.headers.get(HEADERS.paymentResponse)!);
    expect(receipt).toMatchObject({ success: true, network: NETWORK, payer: payer.address });
    expect(response.headers.get(HEADERS.xPaymentResponse)).toBe(response.headers.get(HEADERS.paymentResponse));
    const tx = await chain.publicClient.getTransactionReceipt({ hash: receipt.transaction as Hex });
    expect(tx.status).toBe('success');

    // Tokens moved once, by exactly the challenged amount.
    expect(await token.balanceOf(payer.address)).toBe(before.payerTokens - amount);
    expect(await token.balanceOf(payTo)).toBe(before.payToTokens + amount);

    // One ledger transaction credited the payment to the payer's own (new, email-less) user ...
    const requestId = response.headers.get('x-request-id')!;
    const payment = await t.db.x402Payment.findFirstOrThrow({ where: { nonce: paid.payload.authorization.nonce.toLowerCase() } });
    expect(payment).toMatchObject({ status: 'SETTLED', version: 2, network: NETWORK, txHash: receipt.transaction, valueAtomic: amount, amount, requestId });
    const credit = await t.db.ledgerTransaction.findUniqueOrThrow({ where: { id: payment.ledgerTransactionId! }, include: { entries: true } });
    expect(credit.memo).toContain(receipt.transaction);
    expect(credit.entries.map((e) => e.amount).sort()).toEqual([-amount, amount].sort());
    const user = await t.db.user.findUniqueOrThrow({ where: { id: payment.userId! } });
    expect(user).toMatchObject({ walletAddress: payer.address, email: null });

    // ... and the call's actual cost was settled from it: the rest is the payer's, to the micro-dollar.
    const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId } });
    expect(usage.cost).toBeGreaterThan(0n);
    expect(usage.cost).toBeLessThan(amount);
    expect(await tollgateBalance(payer.address)).toEqual({ userId: user.id, balance: amount - usage.cost, available: amount - usage.cost });
    expect((await auditLedger(t.db)).problems).toEqual([]);

    // Replaying the very same payment is refused: nothing served, nothing moved, nothing charged.
    const mid = await snapshot(payer.address);
    const replay = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.paymentSignature]: signature }, body: JSON.stringify(BODY) });
    expect(replay.status).toBe(402);
    expect(await replay.json()).toMatchObject({ error: { code: 'payment_invalid', reason: 'invalid_exact_evm_nonce_already_used' } });
    expect(await snapshot(payer.address)).toEqual(mid);

    // A second paid call from the same wallet lands in the same user's balance.
    const second = await chat(payingFetch(payer).fetch, gw.url);
    expect(second.status).toBe(200);
    const secondUsage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: second.headers.get('x-request-id')! } });
    expect((await tollgateBalance(payer.address))?.balance).toBe(2n * amount - usage.cost - secondUsage.cost);
    expect(await t.db.user.count({ where: { walletAddress: payer.address } })).toBe(1);
  });

  it('two requests racing with one authorization: exactly one is served and paid', async () => {
    const payer = await fundedWallet(4);
    const { fetch: pay, sent } = payingFetch(payer);
    expect((await chat(pay, gw.url)).status).toBe(200);
    const header = sent[1]!.get(HEADERS.paymentSignature)!;
    // A fresh authorization, sent twice at once.
    const fresh = decodeHeader(header) as { accepted: { amount: string; network: string; asset: string; payTo: string } };
    const signed = await signAuthorization(payer, token.domain, { to: payTo, value: BigInt(fresh.accepted.amount) });
    const value = v2PaymentHeader(fresh.accepted, signed);
    const before = await snapshot(payer.address);
    const results = await Promise.all(
      [1, 2].map(() => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.paymentSignature]: value }, body: JSON.stringify(BODY) })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 402]);
    expect(await token.balanceOf(payer.address)).toBe(before.payerTokens - BigInt(fresh.accepted.amount));
    expect(await t.db.x402Payment.count({ where: { nonce: signed.authorization.nonce.toLowerCase() } })).toBe(1);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a new wallet paying two calls at once gets one user and one balance', async () => {
    const payer = chain.accounts[0]!; // the token owner: no Tollgate user yet
    await token.mint(payer.address, 5_000_000n);
    const challenge = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
    const accepted = (decodeHeader(challenge.headers.get(HEADERS.paymentRequired)!) as { accepts: { amount: string; network: string; asset: string; payTo: string }[] }).accepts[0]!;
    const headers = await Promise.all([1, 2].map(async () => v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { to: payTo, value: BigInt(accepted.amount) }))));
    const responses = await Promise.all(
      headers.map((header) => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.paymentSignature]: header }, body: JSON.stringify(BODY) })),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(await t.db.user.count({ where: { walletAddress: payer.address } })).toBe(1);
    const costs = await Promise.all(responses.map(async (r) => (await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: r.headers.get('x-request-id')! } })).cost));
    expect((await tollgateBalance(payer.address))?.balance).toBe(2n * BigInt(accepted.amount) - costs[0]! - costs[1]!);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('refuses tampered, expired, misaddressed, short, wrong-network and unfunded payments: no token moves, nothing is served or charged', async () => {
    const payer = await fundedWallet(5);
    // Learn the amount this request is challenged for.
    const challenge = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
    expect(challenge.status).toBe(402);
    const accepted = (decodeHeader(challenge.headers.get(HEADERS.paymentRequired)!) as { accepts: { amount: string; network: string; asset: string; payTo: string }[] }).accepts[0]!;
    const amount = BigInt(accepted.amount);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const good = { to: payTo, value: amount };
    const tampered = await signAuthorization(payer, token.domain, good);
    tampered.authorization.to = chain.accounts[6].address;
    const broke = chain.accounts[7]; // holds no test dollars at all

    const cases: [string, string, string][] = [
      ['tampered signature', v2PaymentHeader(accepted, tampered), 'invalid_exact_evm_payload_recipient_mismatch'],
      ['tampered signature, same recipient', v2PaymentHeader(accepted, { ...tampered, authorization: { ...tampered.authorization, to: payTo, value: amount + 1n } }), 'invalid_exact_evm_payload_signature'],
      ['expired', v2PaymentHeader(accepted, await signAuthorization(payer, token.domain, { ...good, validBefore: now - 5n })), 'invalid_exact_evm_payload_authorization_valid_before'],
      ['wrong pay-to', v2PaymentHeader({ ...accepted, payTo: payer.address }, await signAuthorization(payer, token.domain, { ...good, to: payer.address })), 'invalid_exact_evm_payload_recipient_mismatch'],
      ['short value', v2PaymentHeader({ ...accepted, amount: String(amount - 1n) }, await signAuthorization(payer, token.domain, { ...good, value: amount - 1n })), 'invalid_exact_evm_payload_authorization_value'],
      ['wrong network', v2PaymentHeader({ ...accepted, network: 'eip155:84532' }, await signAuthorization(payer, { ...token.domain, chainId: 84532 }, good)), 'invalid_network'],
      ['signed for another chain', v2PaymentHeader(accepted, await signAuthorization(payer, { ...token.domain, chainId: 1 }, good)), 'invalid_exact_evm_payload_signature'],
      ['payer without tokens', v2PaymentHeader(accepted, await signAuthorization(broke, token.domain, good)), 'insufficient_funds'],
    ];
    for (const [name, header, reason] of cases) {
      const who = name === 'payer without tokens' ? broke.address : payer.address;
      const before = await snapshot(who);
      const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.paymentSignature]: header }, body: JSON.stringify(BODY) });
      const body = (await response.json()) as { error: { reason: string } };
      expect({ name, status: response.status, reason: body.error.reason }).toEqual({ name, status: 402, reason });
      expect({ name, after: await snapshot(who) }).toEqual({ name, after: before });
    }
    // Only the unfunded attempt got as far as claiming its nonce; it is recorded as failed.
    expect(await t.db.x402Payment.findFirstOrThrow({ where: { payer: broke.address } })).toMatchObject({ status: 'FAILED', txHash: null, error: expect.stringContaining('insufficient_funds') });
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('a streamed paid call carries the receipt and bills exactly like any other', async () => {
    const payer = await fundedWallet(9);
    const { fetch: pay, sent } = payingFetch(payer);
    const response = await chat(pay, gw.url, { ...BODY, stream: true, stream_options: { include_usage: true } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(decodePaymentResponseHeader(response.headers.get(HEADERS.paymentResponse)!)).toMatchObject({ success: true, payer: payer.address });
    const text = await response.text();
    expect(text).toContain('data: [DONE]');
    const amount = BigInt((decodeHeader(sent[1]!.get(HEADERS.paymentSignature)!) as { accepted: { amount: string } }).accepted.amount);
    const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: response.headers.get('x-request-id')! } });
    expect(usage.stream).toBe(true);
    expect(await tollgateBalance(payer.address)).toMatchObject({ balance: amount - usage.cost, available: amount - usage.cost });
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });

  it('an upstream failure after settlement leaves the whole payment in the payer’s balance', async () => {
    const payer = await fundedWallet(8);
    fake.setBehavior({ failStatus: 500 });
    const { fetch: pay, sent } = payingFetch(payer);
    const response = await chat(pay, gw.url);
    expect(response.status).toBe(502);
    // Settled first, so the receipt is still there.
    expect(decodePaymentResponseHeader(response.headers.get(HEADERS.paymentResponse)!)).toMatchObject({ success: true, payer: payer.address });
    const amount = BigInt((decodeHeader(sent[1]!.get(HEADERS.paymentSignature)!) as { accepted: { amount: string } }).accepted.amount);
    expect(await token.balanceOf(payer.address)).toBe(5_000_000n - amount);
    expect(await tollgateBalance(payer.address)).toMatchObject({ balance: amount, available: amount });
    expect(await t.db.hold.count({ where: { status: 'PENDING' } })).toBe(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});

describe('facilitator settlement', () => {
  it('verifies and settles through the facilitator’s /verify and /settle, then bills the same way', async () => {
    const facilitator = await startFakeFacilitator({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, privateKey: chain.privateKeys[9]!, domain: token.domain });
    try {
      const gw = await gatewayWith({ X402_FACILITATOR_URL: facilitator.url });
      const payer = await fundedWallet(6);
      const before = await snapshot(payer.address);
      const response = await chat(payingFetch(payer).fetch, gw.url);
      expect(response.status).toBe(200);
      expect(facilitator.calls.map((c) => c.path)).toEqual(['/verify', '/settle']);
      for (const call of facilitator.calls) {
        expect(call.body).toMatchObject({ x402Version: 2, paymentRequirements: { scheme: 'exact', network: NETWORK, payTo, asset: token.address }, paymentPayload: { x402Version: 2 } });
      }
      const amount = BigInt(facilitator.calls[1]!.body.paymentRequirements.amount as string);
      const receipt = decodePaymentResponseHeader(response.headers.get(HEADERS.paymentResponse)!);
      expect((await chain.publicClient.getTransactionReceipt({ hash: receipt.transaction as Hex })).from.toLowerCase()).toBe(chain.accounts[9].address.toLowerCase());
      expect(await token.balanceOf(payer.address)).toBe(before.payerTokens - amount);
      const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: response.headers.get('x-request-id')! } });
      expect((await tollgateBalance(payer.address))?.balance).toBe(amount - usage.cost);
      expect((await auditLedger(t.db)).problems).toEqual([]);
    } finally {
      await facilitator.close();
    }
  });
});

describe('the default configuration (settlement off)', () => {
  it('still challenges, and answers the official client’s payment 503 without moving a token', async () => {
    const gw = await gatewayWith({});
    const payer = await fundedWallet(1, 1_000_000n);
    const before = await snapshot(payer.address);
    const response = await chat(payingFetch(payer).fetch, gw.url);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: 'x402_settlement_disabled' } });
    expect(await snapshot(payer.address)).toEqual(before);
  });
});
