// x402 without a chain: configuration, the challenge both client generations read, every local
// verification refusal, the probe, and the default (settlement off) answering 503 to a valid payment.
import { PaymentRequiredV1Schema, PaymentRequiredV2Schema } from '@x402/core/schemas';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { PaymentRequirementsSchema as V1RequirementsSchema } from 'x402/types';
import { Ledger, auditLedger } from '../lib/ledger';
import { HEADERS, KNOWN_NETWORKS, atomicToMicros, decodeHeader, loadX402Config, microsToAtomic, x402Status } from '../lib/payments/x402';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createCustomer, upstreamEnv } from './helpers/gateway';
import { signAuthorization, startX402Gateway, v1PaymentHeader, v2PaymentHeader, type Domain, type X402Gateway } from './helpers/x402';

const PAY_TO = '0x1111111111111111111111111111111111111111';
const USDC_SEPOLIA = KNOWN_NETWORKS['base-sepolia']!;
const DOMAIN: Domain = { name: 'USDC', version: '2', chainId: 84532, verifyingContract: USDC_SEPOLIA.asset };
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 };

describe('configuration', () => {
  it('is off without a pay-to address, and knows USDC on Base and Base Sepolia by their own EIP-712 names', () => {
    expect(loadX402Config({})).toMatchObject({ state: 'disabled' });
    const sepolia = loadX402Config({ X402_PAY_TO: PAY_TO });
    expect(sepolia).toMatchObject({
      state: 'enabled',
      config: { network: 'eip155:84532', v1Network: 'base-sepolia', asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e', assetName: 'USDC', assetVersion: '2', settlement: 'off', maxTimeoutSeconds: 300 },
    });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_NETWORK: 'base' })).toMatchObject({
      config: { network: 'eip155:8453', v1Network: 'base', asset: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', assetName: 'USD Coin', assetVersion: '2' },
    });
    // A CAIP-2 id of a known chain is the same network.
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_NETWORK: 'eip155:8453' })).toMatchObject({ config: { v1Network: 'base', assetName: 'USD Coin' } });
  });

  it('needs the token of an unknown chain spelled out, and each settlement mode its settings; reasons name variables, never values', () => {
    const key = generatePrivateKey();
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_NETWORK: 'eip155:31337' })).toMatchObject({ state: 'misconfigured', reason: expect.stringContaining('X402_ASSET') });
    expect(
      loadX402Config({ X402_PAY_TO: PAY_TO, X402_NETWORK: 'eip155:31337', X402_ASSET: PAY_TO, X402_ASSET_NAME: 'Test USD', X402_ASSET_VERSION: '2' }),
    ).toMatchObject({ state: 'enabled', config: { chainId: 31337, v1Network: null, assetName: 'Test USD' } });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_NETWORK: '31337', X402_ASSET: PAY_TO, X402_ASSET_NAME: 'Test USD', X402_ASSET_VERSION: '2' })).toMatchObject({ config: { network: 'eip155:31337' } });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_NETWORK: 'mainnet' })).toMatchObject({ state: 'misconfigured', reason: expect.stringContaining('X402_NETWORK') });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_FACILITATOR_URL: 'http://127.0.0.1:9/' })).toMatchObject({ config: { settlement: 'facilitator', facilitatorUrl: 'http://127.0.0.1:9' } });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_SETTLEMENT: 'off', X402_FACILITATOR_URL: 'http://127.0.0.1:9' })).toMatchObject({ config: { settlement: 'off' } });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_SETTLEMENT: 'local', X402_RPC_URL: 'http://127.0.0.1:8545' })).toMatchObject({ state: 'misconfigured' });
    expect(loadX402Config({ X402_PAY_TO: PAY_TO, X402_SETTLEMENT: 'local', X402_RPC_URL: 'http://127.0.0.1:8545', X402_RELAYER_PRIVATE_KEY: key })).toMatchObject({ config: { settlement: 'local', relayerPrivateKey: key } });
    const bad = loadX402Config({ X402_PAY_TO: 'nope', X402_RELAYER_PRIVATE_KEY: `${key}ff` });
    expect(bad.state).toBe('misconfigured');
    expect(JSON.stringify(bad)).toContain('X402_PAY_TO');
    expect(JSON.stringify(bad)).not.toContain(key.slice(2));
  });

  it('reports its state for /status: off, misconfigured, settlement disabled, or settled by whom', () => {
    expect(x402Status({})).toEqual([{ label: 'x402 pay-per-request', value: 'off (X402_PAY_TO is not set)', ok: true }]);
    expect(x402Status({ X402_PAY_TO: 'nope' })).toEqual([{ label: 'x402 pay-per-request', value: expect.stringMatching(/^misconfigured: X402_PAY_TO/), ok: false }]);
    const off = x402Status({ X402_PAY_TO: PAY_TO });
    expect(off[0]).toMatchObject({ ok: true, value: expect.stringContaining('eip155:84532') });
    expect(off[1]).toMatchObject({ label: 'x402 settlement', ok: false, value: expect.stringMatching(/^disabled \(X402_SETTLEMENT=off\)/) });
    expect(x402Status({ X402_PAY_TO: PAY_TO, X402_FACILITATOR_URL: 'https://facilitator.example' })[1]).toEqual({ label: 'x402 settlement', ok: true, value: 'facilitator at facilitator.example' });
    const local = x402Status({ X402_PAY_TO: PAY_TO, X402_SETTLEMENT: 'local', X402_RPC_URL: 'https://user:secret@rpc.example/key123', X402_RELAYER_PRIVATE_KEY: generatePrivateKey() });
    expect(local[1]).toEqual({ label: 'x402 settlement', ok: true, value: 'local relayer via rpc.example' });
  });

  it('converts micro-USD to atomic units rounding up, and back rounding down', () => {
    expect(microsToAtomic(1_234_567n, 6)).toBe(1_234_567n);
    expect(microsToAtomic(1n, 18)).toBe(1_000_000_000_000n);
    expect(microsToAtomic(10_001n, 2)).toBe(2n);
    expect(microsToAtomic(10_000n, 2)).toBe(1n);
    expect(atomicToMicros(1_999_999_999_999n, 18)).toBe(1n);
    expect(atomicToMicros(2n, 2)).toBe(20_000n);
  });
});

describe('a gateway with x402 challenges and settlement off (the default)', () => {
  let t: TestDatabase;
  let fake: FakeUpstream;
  let gw: X402Gateway;
  const payer = privateKeyToAccount(generatePrivateKey());

  beforeAll(async () => {
    t = await createTestDatabase();
    fake = await startFakeUpstream();
    gw = await startX402Gateway({ db: t.db, env: upstreamEnv(fake.url, { X402_PAY_TO: PAY_TO }) });
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await t?.close();
  });
  beforeEach(() => fake.reset());

  const post = (headers: Record<string, string> = {}, body: unknown = BODY) =>
    fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  /** The maximum cost of BODY, as the gateway holds it for a key that may use every model. */
  async function holdOfBody(): Promise<bigint> {
    const customer = await createCustomer(t.db, 1_000_000n);
    const response = await post({ authorization: `Bearer ${customer.secret}` });
    expect(response.status).toBe(200);
    const hold = await t.db.hold.findFirstOrThrow({ where: { memo: { contains: response.headers.get('x-request-id')! } } });
    return hold.amount;
  }

  async function nothingCharged() {
    expect(await t.db.x402Payment.count()).toBe(0);
    expect(await t.db.user.count({ where: { walletAddress: { not: null } } })).toBe(0);
    expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment' } })).toBe(0);
    expect(fake.requests).toHaveLength(0);
    expect((await auditLedger(t.db)).problems).toEqual([]);
  }

  it('answers a keyless call with a 402 that x402 v1 and v2 clients and OpenAI SDKs all read, for the call’s maximum cost', async () => {
    const maxCost = await holdOfBody();
    fake.reset();
    const response = await post();
    expect(response.status).toBe(402);
    const body = (await response.json()) as { x402Version: number; accepts: Record<string, unknown>[]; error: Record<string, unknown> };
    // v1: the body, exactly as x402-fetch parses each entry. Its `error` is OpenAI's error object
    // rather than the specification's string (x402 clients do not read it; OpenAI SDKs do).
    expect(PaymentRequiredV1Schema.safeParse({ ...body, error: body.error.message }).success).toBe(true);
    const v1 = V1RequirementsSchema.parse(body.accepts[0]);
    expect(v1).toMatchObject({ scheme: 'exact', network: 'base-sepolia', maxAmountRequired: maxCost.toString(), payTo: PAY_TO, asset: USDC_SEPOLIA.asset, maxTimeoutSeconds: 300, extra: { name: 'USDC', version: '2' } });
    expect(v1.resource).toBe(`${gw.url}/v1/chat/completions`);
    // OpenAI SDKs: an error object with a message.
    expect(body.error).toMatchObject({ type: 'insufficient_credits', code: 'payment_required', message: expect.stringContaining('x402') });
    // v2: the PAYMENT-REQUIRED header, base64 JSON.
    const v2 = PaymentRequiredV2Schema.parse(decodeHeader(response.headers.get(HEADERS.paymentRequired)!));
    expect(v2.accepts[0]).toMatchObject({ scheme: 'exact', network: 'eip155:84532', amount: maxCost.toString(), payTo: PAY_TO, asset: USDC_SEPOLIA.asset, extra: { name: 'USDC', version: '2' } });
    expect(v2.resource).toMatchObject({ url: `${gw.url}/v1/chat/completions`, mimeType: 'application/json' });
    // A streamed call is challenged for the same maximum, as an event stream.
    const streamed = (await (await post({}, { ...BODY, stream: true })).json()) as { accepts: { mimeType: string; maxAmountRequired: string }[] };
    expect(streamed.accepts[0]).toMatchObject({ mimeType: 'text/event-stream', maxAmountRequired: maxCost.toString() });
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses every bad payment with 402 and its reason; nothing is served or charged', async () => {
    const maxCost = await holdOfBody();
    fake.reset();
    const now = BigInt(Math.floor(Date.now() / 1000));
    const good = { to: PAY_TO, value: maxCost } as const;
    const stranger = privateKeyToAccount(generatePrivateKey());
    const tampered = await signAuthorization(payer, DOMAIN, good);
    tampered.authorization.value = maxCost * 100n; // signed for maxCost, claims more
    const otherSigner = await signAuthorization(stranger, DOMAIN, good);
    otherSigner.authorization.from = payer.address; // someone else's signature for this payer
    const v2accepted = { network: 'eip155:84532', asset: USDC_SEPOLIA.asset, payTo: PAY_TO, amount: maxCost.toString() };

    const cases: [string, Record<string, string>, string][] = [
      ['tampered value', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', tampered) }, 'invalid_exact_evm_payload_signature'],
      ['signature by another key', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', otherSigner) }, 'invalid_exact_evm_payload_signature'],
      ['signed for another token', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(payer, { ...DOMAIN, verifyingContract: PAY_TO }, good)) }, 'invalid_exact_evm_payload_signature'],
      ['signed for another chain', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(payer, { ...DOMAIN, chainId: 8453 }, good)) }, 'invalid_exact_evm_payload_signature'],
      ['wrong pay-to', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(payer, DOMAIN, { ...good, to: payer.address })) }, 'invalid_exact_evm_payload_recipient_mismatch'],
      ['short value', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(payer, DOMAIN, { ...good, value: maxCost - 1n })) }, 'invalid_exact_evm_payload_authorization_value'],
      ['expired', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(payer, DOMAIN, { ...good, validBefore: now - 1n })) }, 'invalid_exact_evm_payload_authorization_valid_before'],
      ['not valid yet', { 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(payer, DOMAIN, { ...good, validAfter: now + 600n })) }, 'invalid_exact_evm_payload_authorization_valid_after'],
      ['wrong network (v1)', { 'X-PAYMENT': v1PaymentHeader('base', await signAuthorization(payer, DOMAIN, good)) }, 'invalid_network'],
      ['wrong network (v2)', { 'PAYMENT-SIGNATURE': v2PaymentHeader({ ...v2accepted, network: 'eip155:8453' }, await signAuthorization(payer, DOMAIN, good)) }, 'invalid_network'],
      ['wrong asset (v2)', { 'PAYMENT-SIGNATURE': v2PaymentHeader({ ...v2accepted, asset: PAY_TO }, await signAuthorization(payer, DOMAIN, good)) }, 'invalid_payment_requirements'],
      ['not base64 JSON', { 'X-PAYMENT': 'not a payment!' }, 'invalid_payload'],
      ['unknown version', { 'X-PAYMENT': Buffer.from(JSON.stringify({ x402Version: 9 })).toString('base64') }, 'invalid_x402_version'],
      ['no signature', { 'X-PAYMENT': Buffer.from(JSON.stringify({ x402Version: 1, scheme: 'exact', network: 'base-sepolia', payload: {} })).toString('base64') }, 'invalid_payload'],
    ];
    for (const [name, headers, reason] of cases) {
      const response = await post(headers);
      const body = (await response.json()) as { error: { code: string; reason: string; message: string }; accepts: unknown[] };
      expect({ name, status: response.status, reason: body.error.reason, code: body.error.code }).toEqual({ name, status: 402, reason, code: 'payment_invalid' });
      expect(body.error.message).toContain('Nothing was charged');
      // The refusal is itself a challenge a client can pay, naming the reason in v2's `error`.
      expect(body.accepts).toHaveLength(1);
      expect(decodeHeader(response.headers.get(HEADERS.paymentRequired)!)).toMatchObject({ x402Version: 2, error: reason });
    }
    await nothingCharged();
  });

  it('verifies a good payment (v1 and v2), then refuses it with 503 because settlement is off; nothing charged', async () => {
    const maxCost = await holdOfBody();
    fake.reset();
    const signed = await signAuthorization(payer, DOMAIN, { to: PAY_TO, value: maxCost });
    for (const headers of [
      { 'X-PAYMENT': v1PaymentHeader('base-sepolia', signed) },
      { 'PAYMENT-SIGNATURE': v2PaymentHeader({ network: 'eip155:84532', asset: USDC_SEPOLIA.asset, payTo: PAY_TO, amount: maxCost.toString() }, signed) },
    ] as Record<string, string>[]) {
      const response = await post(headers);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'x402_settlement_disabled', message: expect.stringContaining('X402_SETTLEMENT=off') } });
    }
    await nothingCharged();
  });

  it('refuses the wallet of a suspended account with 403 before settling anything', async () => {
    const maxCost = await holdOfBody();
    fake.reset();
    const suspended = privateKeyToAccount(generatePrivateKey());
    await t.db.user.create({ data: { id: 'usr_x402suspended', walletAddress: suspended.address, suspended: true } });
    const response = await post({ 'X-PAYMENT': v1PaymentHeader('base-sepolia', await signAuthorization(suspended, DOMAIN, { to: PAY_TO, value: maxCost })) });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: 'account_suspended' } });
    await t.db.user.delete({ where: { id: 'usr_x402suspended' } });
    await nothingCharged();
  });

  it('keeps API keys first: a keyed call never looks at x402', async () => {
    const customer = await createCustomer(t.db, 1_000_000n);
    const response = await post({ authorization: `Bearer ${customer.secret}`, 'X-PAYMENT': 'garbage' });
    expect(response.status).toBe(200);
    expect(response.headers.get(HEADERS.paymentResponse)).toBeNull();
  });

  it('the probe shows a sample challenge and the settlement state, and verifies (never settles) a payment', async () => {
    const challenge = await fetch(`${gw.url}/api/x402/probe?amount_usd=0.25`);
    expect(challenge.status).toBe(402);
    const body = (await challenge.json()) as { accepts: { maxAmountRequired: string }[]; settlement: unknown };
    expect(body.accepts[0]!.maxAmountRequired).toBe('250000');
    expect(body.settlement).toEqual({ mode: 'off', enabled: false });
    expect(PaymentRequiredV2Schema.safeParse(decodeHeader(challenge.headers.get(HEADERS.paymentRequired)!)).success).toBe(true);

    const good = await signAuthorization(payer, DOMAIN, { to: PAY_TO, value: 250_000n });
    const verified = await fetch(`${gw.url}/api/x402/probe?amount_usd=0.25`, { headers: { 'X-PAYMENT': v1PaymentHeader('base-sepolia', good) } });
    expect(await verified.json()).toEqual({ verified: true, payer: payer.address, settled: false, settlement: { mode: 'off', enabled: false } });
    const short = await signAuthorization(payer, DOMAIN, { to: PAY_TO, value: 1n });
    const refused = await fetch(`${gw.url}/api/x402/probe?amount_usd=0.25`, { headers: { 'X-PAYMENT': v1PaymentHeader('base-sepolia', short) } });
    expect(await refused.json()).toMatchObject({ verified: false, reason: 'invalid_exact_evm_payload_authorization_value', settled: false });
    await nothingCharged();
  });
});

describe('a gateway whose facilitator is unreachable', () => {
  it('refuses the payment with 402 unexpected_verify_error; nothing is served or charged', async () => {
    const t = await createTestDatabase();
    const fake = await startFakeUpstream();
    const gw = await startX402Gateway({ db: t.db, env: upstreamEnv(fake.url, { X402_PAY_TO: PAY_TO, X402_FACILITATOR_URL: 'http://127.0.0.1:9' }) });
    try {
      const payer = privateKeyToAccount(generatePrivateKey());
      const challenge = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
      const amount = BigInt(((await challenge.json()) as { accepts: { maxAmountRequired: string }[] }).accepts[0]!.maxAmountRequired);
      const signed = await signAuthorization(payer, DOMAIN, { to: PAY_TO, value: amount });
      const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-PAYMENT': v1PaymentHeader('base-sepolia', signed) }, body: JSON.stringify(BODY) });
      expect(response.status).toBe(402);
      expect(await response.json()).toMatchObject({ error: { reason: 'unexpected_verify_error', message: expect.stringContaining('Nothing was charged') } });
      expect(await t.db.x402Payment.findFirstOrThrow({ where: { payer: payer.address } })).toMatchObject({ status: 'FAILED', txHash: null });
      expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment' } })).toBe(0);
      expect(fake.requests).toHaveLength(0);
    } finally {
      await gw.close();
      await fake.close();
      await t.close();
    }
  });
});

describe('a payment settled on chain whose credit failed', () => {
  it('is not lost: the hash is kept, and reconcile() credits it to the payer once', async () => {
    const t = await createTestDatabase();
    const fake = await startFakeUpstream();
    const transaction = `0x${'ab'.repeat(32)}` as const;
    // A settlement that succeeds on chain (the relayer's part is tested against a real chain in x402-chain.test.ts).
    const settler = { mode: 'local' as const, settle: async () => ({ ok: true as const, transaction }) };
    const gw = await startX402Gateway({ db: t.db, env: upstreamEnv(fake.url, { X402_PAY_TO: PAY_TO }), settler });
    try {
      const payer = privateKeyToAccount(generatePrivateKey());
      const challenge = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
      const amount = BigInt(((await challenge.json()) as { accepts: { maxAmountRequired: string }[] }).accepts[0]!.maxAmountRequired);
      const signed = await signAuthorization(payer, DOMAIN, { to: PAY_TO, value: amount });
      // The database refuses the credit just then (the one ledger transfer of this request).
      const transfer = vi.spyOn(Ledger.prototype, 'transfer').mockRejectedValueOnce(new Error('database unreachable'));
      const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-PAYMENT': v1PaymentHeader('base-sepolia', signed) }, body: JSON.stringify(BODY) });
      transfer.mockRestore();
      expect(response.status).toBe(500);
      expect(fake.requests).toHaveLength(0);
      expect(await t.db.x402Payment.findFirstOrThrow({ where: { payer: payer.address } })).toMatchObject({ status: 'VERIFIED', txHash: transaction });
      expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment' } })).toBe(0);

      // Recent rows are left to the request that may still be crediting them.
      expect(await gw.x402.reconcile()).toBe(0);
      expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(1);
      expect(await gw.x402.reconcile({ olderThanMs: 0 })).toBe(0);
      const row = await t.db.x402Payment.findFirstOrThrow({ where: { payer: payer.address } });
      expect(row.status).toBe('SETTLED');
      // The whole payment (USDC has 6 decimals: atomic units are micro-USD) is the payer's balance, once.
      const wallet = await t.db.ledgerAccount.findFirstOrThrow({ where: { userId: row.userId!, kind: 'USER_WALLET' } });
      expect(wallet.balance).toBe(amount);
      expect(await t.db.ledgerTransaction.count({ where: { kind: 'x402_payment' } })).toBe(1);
      expect((await auditLedger(t.db)).problems).toEqual([]);
    } finally {
      await gw.close();
      await fake.close();
      await t.close();
    }
  });
});

describe('a gateway without x402 configured', () => {
  it('answers a keyless call 401 as before, and the probe says x402 is off', async () => {
    const t = await createTestDatabase();
    const fake = await startFakeUpstream();
    const gw = await startX402Gateway({ db: t.db, env: upstreamEnv(fake.url) });
    try {
      const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: { code: 'missing_api_key' } });
      expect(await (await fetch(`${gw.url}/api/x402/probe`)).json()).toEqual({ enabled: false, state: 'disabled', reason: 'X402_PAY_TO is not set' });
      expect(fake.requests).toHaveLength(0);
    } finally {
      await gw.close();
      await fake.close();
      await t.close();
    }
  });
});
