// The session wire formats (lib/payments/session): challenge, credential, receipt and SSE events per
// the MPP core, session-intent and EVM session drafts; vouchers signed and checked with viem; and the
// cross-check that the library and the escrow on a local chain agree on channel ids, digests and
// signatures. Expected values are rebuilt here from the specs' definitions, not taken from the library.
import { createHmac } from 'node:crypto';
import {
  concat,
  encodeAbiParameters,
  getAddress,
  keccak256,
  parseSignature,
  recoverAddress,
  serializeSignature,
  toHex,
  type Address,
  type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SESSION_ESCROW_ABI,
  SessionWireError,
  buildSessionChallenge,
  buildSessionCredential,
  buildSessionReceipt,
  computeChannelId,
  didPkh,
  formatNeedVoucherEvent,
  formatReceiptEvent,
  parseDidPkh,
  parseSessionChallenge,
  parseSessionCredential,
  parseSessionEvent,
  parseSessionReceipt,
  signVoucher,
  verifyChallengeBinding,
  verifyVoucher,
  voucherDigest,
  type SessionChallenge,
} from '../lib/payments/session';
import { startTestChain, testStablecoinAbi, type TestChain } from './helpers/chain';

// Hardhat's well-known development keys #1 and #3: public, test-only.
const payer = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const stranger = privateKeyToAccount('0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6');
// The EVM session spec's example addresses, in their EIP-55 spelling.
const PAYEE: Address = getAddress('0x742d35cc6634c0532925a3b844bc9e7595f8fe00');
const TOKEN: Address = getAddress('0x74b7f16337b8972027f6196a17a631ac6de26d22');
const ESCROW: Address = getAddress('0x1234567890abcdef1234567890abcdef12345678');
const CHAIN_ID = 196;
const SECRET = 'test-challenge-secret';
const SALT: Hex = `0x${'ab'.repeat(32)}`;
const ZERO: Address = '0x0000000000000000000000000000000000000000';

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const unb64url = (text: string) => JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;

/** The spec's channel id formula, written out here. */
function specChannelId(p: { payer: Address; payee: Address; token: Address; salt: Hex; signer: Address; escrow: Address; chainId: number }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }],
      [p.payer, p.payee, p.token, p.salt, p.signer, p.escrow, BigInt(p.chainId)],
    ),
  );
}

/** The spec's "Signing Procedure", steps 1-3, written out here. */
function specDigest(chainId: number, escrow: Address, channelId: Hex, cumulativeAmount: bigint): Hex {
  const domain = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
      [
        keccak256(toHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)')),
        keccak256(toHex('EVM Payment Channel')),
        keccak256(toHex('1')),
        BigInt(chainId),
        escrow,
      ],
    ),
  );
  const struct = keccak256(
    encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint128' }], [keccak256(toHex('Voucher(bytes32 channelId,uint128 cumulativeAmount)')), channelId, cumulativeAmount]),
  );
  return keccak256(concat(['0x1901', domain, struct]));
}

const CHANNEL_ID = specChannelId({ payer: payer.address, payee: PAYEE, token: TOKEN, salt: SALT, signer: ZERO, escrow: ESCROW, chainId: CHAIN_ID });

const request = {
  amount: '1',
  unitType: 'microdollar',
  suggestedDeposit: '5000000',
  currency: TOKEN,
  recipient: PAYEE,
  methodDetails: { chainId: CHAIN_ID, escrowContract: ESCROW, minVoucherDelta: '10000' },
};

function challenge(): { header: string; challenge: SessionChallenge } {
  return buildSessionChallenge({ realm: 'tollgate.test', request, secret: SECRET, expires: new Date('2026-04-01T12:05:00.000Z') });
}

/** The thrown SessionWireError's field, or a failure if nothing or something else was thrown. */
function refusal(fn: () => unknown): { field: string; problem: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof SessionWireError) return { field: error.field, problem: error.problem, message: error.message };
    throw error;
  }
  throw new Error('accepted');
}

describe('challenge (WWW-Authenticate: Payment)', () => {
  it('encodes the request as JCS base64url and binds the id with the spec HMAC', () => {
    const { header, challenge: built } = challenge();
    // JCS by hand: keys sorted at every level, no whitespace, addresses as given (already EIP-55).
    const jcs =
      `{"amount":"1","currency":"${TOKEN}","methodDetails":{"chainId":196,"escrowContract":"${ESCROW}","minVoucherDelta":"10000"},` +
      `"recipient":"${PAYEE}","suggestedDeposit":"5000000","unitType":"microdollar"}`;
    expect(built.requestEncoded).toBe(b64url(jcs));
    expect(built.requestEncoded).not.toMatch(/=/);
    const id = createHmac('sha256', SECRET).update(['tollgate.test', 'evm', 'session', b64url(jcs), '2026-04-01T12:05:00Z', '', ''].join('|')).digest('base64url');
    expect(header).toBe(`Payment id="${id}", realm="tollgate.test", method="evm", intent="session", request="${b64url(jcs)}", expires="2026-04-01T12:05:00Z"`);
  });

  it('puts a body digest in the sixth HMAC slot and echoes it', () => {
    // The core spec's own digest example.
    const digest = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
    const { header, challenge: built } = buildSessionChallenge({ realm: 'tollgate.test', request, secret: SECRET, digest });
    const id = createHmac('sha256', SECRET).update(['tollgate.test', 'evm', 'session', built.requestEncoded, '', digest, ''].join('|')).digest('base64url');
    expect(built.id).toBe(id);
    expect(header).toContain(`digest="${digest}"`);
    const parsed = parseSessionChallenge(header);
    expect(parsed.digest).toBe(digest);
    expect(verifyChallengeBinding(SECRET, { ...parsed, request: parsed.requestEncoded })).toBe(true);
  });

  it('round-trips, also among other challenges in the same field', () => {
    const { header, challenge: built } = challenge();
    expect(parseSessionChallenge(header)).toEqual(built);
    expect(parseSessionChallenge(`Bearer realm="api", error="invalid_token", ${header}`)).toEqual(built);
    expect(parseSessionChallenge(`Basic abc==, ${header}, Payment id="x", realm="r", method="stripe", intent="charge", request="e30"`)).toEqual(built);
    // quoted-string escapes survive the trip; unknown auth-params are ignored, as the core spec requires.
    const described = buildSessionChallenge({ realm: 'tollgate.test', request, secret: SECRET, description: 'say "hi" \\ pay' });
    expect(described.header).toContain('description="say \\"hi\\" \\\\ pay"');
    expect(parseSessionChallenge(`${described.header}, future_param=1`)).toEqual(described.challenge);
    expect(described.challenge.description).toBe('say "hi" \\ pay');
  });

  it("parses the EVM session spec's example request, written by hand", () => {
    const spec = `{"amount":"100","unitType":"llm_token","suggestedDeposit":"5000000","currency":"0x74b7F16337b8972027F6196A17a631ac6dE26d22","recipient":"0x742d35cc6634c0532925a3b844bc9e7595f8fe00","methodDetails":{"escrowContract":"0x1234567890abcdef1234567890abcdef12345678","chainId":196,"minVoucherDelta":"10000"}}`;
    const parsed = parseSessionChallenge(`Payment id="kM9xPqWvT2nJrHsY4aDfEb", realm="api.llm-service.com", method="evm", intent="session", request="${b64url(spec)}", expires="2026-04-01T12:05:00Z"`);
    expect(parsed.request).toEqual({
      amount: '100',
      unitType: 'llm_token',
      suggestedDeposit: '5000000',
      currency: TOKEN,
      // Compared by value: lowercase on the wire, EIP-55 once parsed.
      recipient: PAYEE,
      methodDetails: { escrowContract: ESCROW, chainId: 196, minVoucherDelta: '10000' },
    });
  });

  const reqWith = (patch: Record<string, unknown>) => b64url(JSON.stringify({ ...request, ...patch }));
  const header = (params: string) => `Payment ${params}`;
  const base = (req: string) => `id="a", realm="r", method="evm", intent="session", request="${req}"`;
  it.each([
    ['no Payment challenge', 'Bearer realm="x"', 'WWW-Authenticate'],
    ['missing id', header(`realm="r", method="evm", intent="session", request="${reqWith({})}"`), 'WWW-Authenticate.id'],
    ['empty id', header(`id="", realm="r", method="evm", intent="session", request="${reqWith({})}"`), 'WWW-Authenticate.id'],
    ['another method', header(`id="a", realm="r", method="example", intent="charge", request="${reqWith({})}"`), 'WWW-Authenticate.method'],
    ['padded request', header(base(`${reqWith({})}==`)), 'WWW-Authenticate.request'],
    ['request not JSON', header(base(b64url('not json'))), 'WWW-Authenticate.request'],
    ['unknown request field', header(base(reqWith({ maxTotal: '5' }))), 'WWW-Authenticate.request.maxTotal'],
    ['zero amount', header(base(reqWith({ amount: '0' }))), 'WWW-Authenticate.request.amount'],
    ['fractional amount', header(base(reqWith({ amount: '1.5' }))), 'WWW-Authenticate.request.amount'],
    ['bad currency', header(base(reqWith({ currency: 'USDC' }))), 'WWW-Authenticate.request.currency'],
    ['chainId as a string', header(base(reqWith({ methodDetails: { ...request.methodDetails, chainId: '196' } }))), 'WWW-Authenticate.request.methodDetails.chainId'],
    ['no escrow', header(base(reqWith({ methodDetails: { chainId: 196 } }))), 'WWW-Authenticate.request.methodDetails.escrowContract'],
    ['bad expires', header(`${base(reqWith({}))}, expires="tomorrow"`), 'WWW-Authenticate.expires'],
    ['unterminated quote', header('id="abc'), 'WWW-Authenticate.id'],
    ['parameters without commas', header('id="a" realm="r"'), 'WWW-Authenticate.id'],
    ['duplicate parameter', header(`id="a", id="b", ${base(reqWith({})).slice(9)}`), 'WWW-Authenticate.id'],
  ])('refuses %s, naming the field', (_case, value, field) => {
    expect(refusal(() => parseSessionChallenge(value)).field).toBe(field);
  });
});

describe('credential (Authorization: Payment)', () => {
  it('round-trips a voucher credential with the challenge echoed unchanged', async () => {
    const { challenge: c } = challenge();
    const signature = await signVoucher(payer, { chainId: CHAIN_ID, escrowContract: ESCROW }, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n });
    const header = buildSessionCredential({ challenge: c, payload: { action: 'voucher', channelId: CHANNEL_ID, cumulativeAmount: '250000', signature } });
    expect(header).toMatch(/^Payment [A-Za-z0-9_-]+$/);
    // The JSON on the wire, decoded independently: the spec's example shape.
    expect(unb64url(header.slice('Payment '.length))).toEqual({
      challenge: { id: c.id, realm: 'tollgate.test', method: 'evm', intent: 'session', request: c.requestEncoded, expires: '2026-04-01T12:05:00Z' },
      payload: { action: 'voucher', channelId: CHANNEL_ID, cumulativeAmount: '250000', signature },
    });
    const parsed = parseSessionCredential(header);
    expect(parsed.payload).toEqual({ action: 'voucher', channelId: CHANNEL_ID, cumulativeAmount: '250000', signature });
    expect(parsed.request).toEqual(c.request);
    expect(verifyChallengeBinding(SECRET, parsed.challenge)).toBe(true);
  });

  it('refuses an echoed challenge that differs from the one issued', () => {
    const { challenge: c } = challenge();
    expect(verifyChallengeBinding(SECRET, { ...c, request: c.requestEncoded, realm: 'elsewhere' })).toBe(false);
    expect(verifyChallengeBinding(SECRET, { ...c, request: b64url(JSON.stringify({ ...request, amount: '0' })) })).toBe(false);
    expect(verifyChallengeBinding('another-secret', { ...c, request: c.requestEncoded })).toBe(false);
  });

  it('carries an open with its did:pkh source', async () => {
    const { challenge: c } = challenge();
    const signature = await signVoucher(payer, { chainId: CHAIN_ID, escrowContract: ESCROW }, { channelId: CHANNEL_ID, cumulativeAmount: 0n });
    const payload = { action: 'open' as const, type: 'hash' as const, channelId: CHANNEL_ID, hash: `0x${'9f'.repeat(32)}` as Hex, cumulativeAmount: '0', signature, salt: SALT };
    const source = didPkh(CHAIN_ID, payer.address);
    expect(source).toBe(`did:pkh:eip155:196:${payer.address.toLowerCase()}`);
    const parsed = parseSessionCredential(buildSessionCredential({ challenge: c, payload, source }));
    expect(parsed.payload).toEqual(payload);
    expect(parseDidPkh(parsed.source!, CHAIN_ID)).toBe(payer.address);
    expect(refusal(() => parseDidPkh(parsed.source!, 1)).field).toBe('source');
  });

  const echoed = () => {
    const { challenge: c } = challenge();
    return { id: c.id, realm: c.realm, method: 'evm', intent: 'session', request: c.requestEncoded };
  };
  const voucherPayload = { action: 'voucher', channelId: CHANNEL_ID, cumulativeAmount: '1', signature: `0x${'11'.repeat(65)}` };
  const encode = (value: unknown) => `Payment ${b64url(JSON.stringify(value))}`;
  it.each([
    ['another scheme', () => `Bearer ${b64url('{}')}`, 'Authorization'],
    ['padding', () => `${encode({ challenge: echoed(), payload: voucherPayload })}=`, 'Authorization'],
    ['not JSON', () => `Payment ${b64url('nope')}`, 'Authorization'],
    ['no payload', () => encode({ challenge: echoed() }), 'credential.payload'],
    ['unknown action', () => encode({ challenge: echoed(), payload: { ...voucherPayload, action: 'refund' } }), 'credential.payload.action'],
    ['a deposit merge (feePayer), not offered', () => encode({ challenge: echoed(), payload: { ...voucherPayload, deposit: {} } }), 'credential.payload.deposit'],
    ['uppercase channel id', () => encode({ challenge: echoed(), payload: { ...voucherPayload, channelId: CHANNEL_ID.toUpperCase().replace('0X', '0x') } }), 'credential.payload.channelId'],
    ['amount over uint128', () => encode({ challenge: echoed(), payload: { ...voucherPayload, cumulativeAmount: (1n << 128n).toString() } }), 'credential.payload.cumulativeAmount'],
    ['negative amount', () => encode({ challenge: echoed(), payload: { ...voucherPayload, cumulativeAmount: '-1' } }), 'credential.payload.cumulativeAmount'],
    ['a short signature', () => encode({ challenge: echoed(), payload: { ...voucherPayload, signature: `0x${'11'.repeat(64)}` } }), 'credential.payload.signature'],
    ['an open without source', () => encode({ challenge: echoed(), payload: { action: 'open', type: 'hash', channelId: CHANNEL_ID, hash: CHANNEL_ID, cumulativeAmount: '0', signature: voucherPayload.signature, salt: SALT } }), 'credential.source'],
    ['a charge challenge echoed', () => encode({ challenge: { ...echoed(), intent: 'charge' }, payload: voucherPayload }), 'credential.challenge.intent'],
    ['a tampered echoed request', () => encode({ challenge: { ...echoed(), request: b64url('{"amount":"1"}') }, payload: voucherPayload }), 'credential.challenge.request.currency'],
  ])('refuses %s, naming the field', (_case, make, field) => {
    expect(refusal(() => parseSessionCredential(make())).field).toBe(field);
  });
});

describe('receipts and SSE events', () => {
  const receipt = {
    method: 'evm' as const,
    intent: 'session' as const,
    status: 'success' as const,
    timestamp: '2026-04-01T12:08:30Z',
    challengeId: 'kM9xPqWvT2nJrHsY4aDfEb',
    reference: CHANNEL_ID,
    channelId: CHANNEL_ID,
    chainId: 196,
    acceptedCumulative: '250000',
    spent: '237500',
    units: 500,
  };

  it('round-trips Payment-Receipt as base64url JSON', () => {
    const header = buildSessionReceipt(receipt);
    expect(unb64url(header)).toEqual(receipt);
    expect(parseSessionReceipt(header)).toEqual(receipt);
    expect(refusal(() => buildSessionReceipt({ ...receipt, reference: `0x${'00'.repeat(32)}` })).field).toBe('receipt.reference');
    expect(refusal(() => parseSessionReceipt(b64url(JSON.stringify({ ...receipt, status: 'pending' })))).field).toBe('receipt.status');
  });

  it('writes payment-need-voucher and payment-receipt as the spec shows them, and reads them back', () => {
    const need = { channelId: CHANNEL_ID, requiredCumulative: '250025', acceptedCumulative: '250000', deposit: '500000' };
    const text = formatNeedVoucherEvent(need);
    expect(text).toBe(`event: payment-need-voucher\ndata: {"channelId":"${CHANNEL_ID}","requiredCumulative":"250025","acceptedCumulative":"250000","deposit":"500000"}\n\n`);
    expect(parseSessionEvent('payment-need-voucher', text.split('\n')[1]!.slice('data: '.length))).toEqual({ event: 'payment-need-voucher', data: need });
    const final = formatReceiptEvent(receipt);
    expect(final.startsWith('event: payment-receipt\ndata: {')).toBe(true);
    expect(final.split('\n').length).toBe(4); // event, one data line, blank, end
    expect(parseSessionEvent('payment-receipt', final.split('\n')[1]!.slice(6))).toEqual({ event: 'payment-receipt', data: receipt });
    expect(parseSessionEvent(undefined, '{"choices":[]}')).toBeNull();
    expect(refusal(() => parseSessionEvent('payment-need-voucher', '{"channelId":"0x1"}')).field).toBe('payment-need-voucher.channelId');
    expect(refusal(() => parseSessionEvent('payment-receipt', 'oops')).field).toBe('payment-receipt');
  });
});

describe('vouchers (EIP-712)', () => {
  const context = { chainId: CHAIN_ID, escrowContract: ESCROW };

  it('computes the channel id and the digest as the spec defines them', () => {
    expect(computeChannelId({ payer: payer.address, payee: PAYEE, token: TOKEN, salt: SALT, authorizedSigner: ZERO, escrowContract: ESCROW, chainId: CHAIN_ID })).toBe(CHANNEL_ID);
    expect(voucherDigest(context, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n })).toBe(specDigest(CHAIN_ID, ESCROW, CHANNEL_ID, 250_000n));
  });

  it('signs r || s || v over the spec digest, and verifies only the right signer and amount', async () => {
    const signature = await signVoucher(payer, context, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n });
    expect(signature).toMatch(/^0x[0-9a-f]{130}$/);
    expect([27, 28]).toContain(Number.parseInt(signature.slice(130), 16));
    expect(await recoverAddress({ hash: specDigest(CHAIN_ID, ESCROW, CHANNEL_ID, 250_000n), signature })).toBe(payer.address);

    expect(await verifyVoucher(context, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n, signature }, payer.address)).toEqual({ ok: true, signer: payer.address });
    expect(await verifyVoucher(context, { channelId: CHANNEL_ID, cumulativeAmount: 250_001n, signature }, payer.address)).toMatchObject({ ok: false, problem: 'signer-mismatch' });
    expect(await verifyVoucher({ ...context, chainId: 1 }, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n, signature }, payer.address)).toMatchObject({ ok: false, problem: 'signer-mismatch' });
    expect(await verifyVoucher(context, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n, signature }, stranger.address)).toMatchObject({ ok: false, problem: 'signer-mismatch' });
    const { r, s, yParity } = parseSignature(signature);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = serializeSignature({ r, s: toHex(n - BigInt(s), { size: 32 }), yParity: yParity === 0 ? 1 : 0 });
    expect(await verifyVoucher(context, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n, signature: highS }, payer.address)).toMatchObject({ ok: false, problem: 'invalid-signature' });
    expect(await verifyVoucher(context, { channelId: CHANNEL_ID, cumulativeAmount: 250_000n, signature: signature.slice(0, 130) }, payer.address)).toMatchObject({ ok: false, problem: 'invalid-signature' });
  });
});

describe('library and escrow agree on chain', () => {
  let chain: TestChain;
  beforeAll(async () => {
    chain = await startTestChain();
  }, 180_000);
  afterAll(async () => {
    await chain?.stop();
  });

  it('a voucher the library signs and accepts settles on chain; one it refuses, the escrow refuses too', async () => {
    const token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
    const escrow = await chain.deploy('SessionEscrow');
    const [, chainPayer, chainPayee, chainStranger] = chain.accounts;
    const context = { chainId: chain.chainId, escrowContract: escrow };
    await token.mint(chainPayer.address, 3_000_000n);
    const wallet = chain.walletClient(chainPayer);
    await chain.publicClient.waitForTransactionReceipt({ hash: await wallet.writeContract({ address: token.address, abi: testStablecoinAbi, functionName: 'approve', args: [escrow, 3_000_000n] }) });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await wallet.writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'open', args: [chainPayee.address, token.address, 3_000_000n, SALT, ZERO] }),
    });

    const channelId = computeChannelId({ payer: chainPayer.address, payee: chainPayee.address, token: token.address, salt: SALT, authorizedSigner: ZERO, escrowContract: escrow, chainId: chain.chainId });
    expect(channelId).toBe(specChannelId({ payer: chainPayer.address, payee: chainPayee.address, token: token.address, salt: SALT, signer: ZERO, escrow, chainId: chain.chainId }));
    expect((await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'getChannel', args: [channelId] })).deposit).toBe(3_000_000n);
    expect(await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'voucherDigest', args: [channelId, 1_750_000n] })).toBe(
      voucherDigest(context, { channelId, cumulativeAmount: 1_750_000n }),
    );

    const forged = await signVoucher(chainStranger, context, { channelId, cumulativeAmount: 1_750_000n });
    expect((await verifyVoucher(context, { channelId, cumulativeAmount: 1_750_000n, signature: forged }, chainPayer.address)).ok).toBe(false);
    await expect(
      chain.walletClient(chainPayee).writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'close', args: [channelId, 1_750_000n, forged] }),
    ).rejects.toThrow(/InvalidSignature/);

    const signature = await signVoucher(chainPayer, context, { channelId, cumulativeAmount: 1_750_000n });
    expect(await verifyVoucher(context, { channelId, cumulativeAmount: 1_750_000n, signature }, chainPayer.address)).toEqual({ ok: true, signer: chainPayer.address });
    const hash = await chain.walletClient(chainPayee).writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'close', args: [channelId, 1_750_000n, signature] });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');
    // 1.75 of 3 dollars to the payee, 1.25 back to the payer.
    expect(await token.balanceOf(chainPayee.address)).toBe(1_750_000n);
    expect(await token.balanceOf(chainPayer.address)).toBe(1_250_000n);
  });
});
