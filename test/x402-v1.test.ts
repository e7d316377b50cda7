// x402 v1 end to end: the official x402-fetch client (X-PAYMENT / X-PAYMENT-RESPONSE, network names)
// pays on a local chain that answers as Base Sepolia, and gets a completion.
import type { Address, Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeXPaymentResponse, wrapFetchWithPayment } from 'x402-fetch';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { HEADERS, decodeHeader } from '../lib/payments/x402';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { upstreamEnv } from './helpers/gateway';
import { startX402Gateway, type X402Gateway } from './helpers/x402';
import { startBaseSepoliaChain } from './helpers/x402-chain';

const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 200 };

let chain: Awaited<ReturnType<typeof startBaseSepoliaChain>>;
let token: Awaited<ReturnType<Awaited<ReturnType<typeof startBaseSepoliaChain>>['deployStablecoin']>>;
let t: TestDatabase;
let fake: FakeUpstream;
let gw: X402Gateway;
let payTo: Address;

beforeAll(async () => {
  [chain, t, fake] = await Promise.all([startBaseSepoliaChain(), createTestDatabase(), startFakeUpstream()]);
  token = await chain.deployStablecoin();
  payTo = chain.accounts[2]!.address;
  gw = await startX402Gateway({
    db: t.db,
    env: upstreamEnv(fake.url, {
      X402_PAY_TO: payTo,
      X402_NETWORK: 'base-sepolia',
      X402_ASSET: token.address,
      X402_ASSET_NAME: 'USDC',
      X402_ASSET_VERSION: '2',
      X402_SETTLEMENT: 'local',
      X402_RPC_URL: chain.rpcUrl,
      X402_RELAYER_PRIVATE_KEY: chain.privateKeys[3]!,
    }),
  });
}, 180_000);
afterAll(async () => {
  await gw?.close();
  await fake?.close();
  await t?.close();
  await chain?.stop();
});

describe('x402 v1 with x402-fetch', () => {
  it('pays per request with X-PAYMENT, gets a completion and an X-PAYMENT-RESPONSE; the unused rest is the wallet’s balance; a replay is refused', async () => {
    const payer = chain.accounts[1]!;
    await token.mint(payer.address, 2_000_000n);
    const sent: Record<string, string>[] = [];
    const recording: typeof fetch = (input, init) => {
      sent.push({ ...(init?.headers as Record<string, string> | undefined) });
      return fetch(input, init);
    };
    const pay = wrapFetchWithPayment(recording, payer, 1_000_000n);
    const response = await pay(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('Hello from the fake upstream.');

    const xPayment = sent[1]![HEADERS.xPayment]!;
    const payment = decodeHeader(xPayment) as { x402Version: number; network: string; payload: { authorization: { value: string; nonce: string } } };
    expect(payment).toMatchObject({ x402Version: 1, network: 'base-sepolia' });
    const amount = BigInt(payment.payload.authorization.value);
    const receipt = decodeXPaymentResponse(response.headers.get(HEADERS.xPaymentResponse)!);
    expect(receipt).toMatchObject({ success: true, network: 'base-sepolia', payer: payer.address });
    expect((await chain.publicClient.getTransactionReceipt({ hash: receipt.transaction as Hex })).status).toBe('success');
    expect(await token.balanceOf(payer.address)).toBe(2_000_000n - amount);
    expect(await token.balanceOf(payTo)).toBe(amount);

    const usage = await t.db.usageRecord.findUniqueOrThrow({ where: { requestId: response.headers.get('x-request-id')! } });
    const user = await t.db.user.findFirstOrThrow({ where: { walletAddress: payer.address } });
    expect(usage.userId).toBe(user.id);
    expect((await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(user.id) } })).balance).toBe(amount - usage.cost);
    expect(await t.db.x402Payment.findFirstOrThrow({ where: { nonce: payment.payload.authorization.nonce.toLowerCase() } })).toMatchObject({ version: 1, status: 'SETTLED', txHash: receipt.transaction });

    const ledgerBefore = await t.db.ledgerTransaction.count();
    const calls = fake.requests.length;
    const replay = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', [HEADERS.xPayment]: xPayment }, body: JSON.stringify(BODY) });
    expect(replay.status).toBe(402);
    expect(await replay.json()).toMatchObject({ error: { reason: 'invalid_exact_evm_nonce_already_used' } });
    expect(await token.balanceOf(payer.address)).toBe(2_000_000n - amount);
    expect(await t.db.ledgerTransaction.count()).toBe(ledgerBefore);
    expect(fake.requests).toHaveLength(calls);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  });
});
