// Pay-per-token sessions end to end (issue #15), on a local hardhat chain with the real escrow
// (contracts/SessionEscrow.sol) and a 6-decimal test stablecoin: the gateway's 402 offers a session
// beside x402, a payer with no account opens a channel, pays calls with vouchers (streams asking
// for more mid-way), and the close pays the payee what the usage rows say and refunds the rest.
import OpenAI from 'openai';
import type { Address, Hex, PrivateKeyAccount } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLedger } from '../lib/ledger';
import { writeSettleEntries } from '../lib/ledger/settle-entries';
import { SESSION_ESCROW_ABI } from '../lib/payments/session/escrow';
import { createSessionClient } from '../lib/payments/session/client';
import { channelAccountId } from '../lib/payments/session/channels';
import { signVoucher } from '../lib/payments/session/voucher';
import { RECEIPT_HEADER, buildSessionCredential, parseSessionEvent, parseSessionReceipt } from '../lib/payments/session/wire';
import { HEADERS } from '../lib/payments/x402';
import { runSessionDemo } from '../scripts/session-demo';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { upstreamEnv } from './helpers/gateway';
import { openChannel, sessionChallenge, startSessionGateway, type SessionGateway } from './helpers/sessions';

// gpt-4o-mini in the seeded catalog: $0.15 / $0.60 per million at list, sold at +10%.
const SELL_INPUT_PER_1M = 165_000n;
const SELL_OUTPUT_PER_1M = 660_000n;
const costOf = (prompt: number, completion: number) => (SELL_INPUT_PER_1M * BigInt(prompt) + SELL_OUTPUT_PER_1M * BigInt(completion) + 999_999n) / 1_000_000n;

const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 200 };
const LONG_TEXT = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
const DEPOSIT = 2_000_000n; // two test dollars

let chain: TestChain;
let token: DeployedStablecoin;
let escrow: Address;
let t: TestDatabase;
let fake: FakeUpstream;
let gw: SessionGateway;
let payee: PrivateKeyAccount;
let env: NodeJS.ProcessEnv;
let nextPayer = 4;

beforeAll(async () => {
  [chain, t, fake] = await Promise.all([startTestChain(), createTestDatabase(), startFakeUpstream()]);
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  escrow = await chain.deploy('SessionEscrow');
  payee = chain.accounts[2];
  env = upstreamEnv(fake.url, {
    SESSION_ESCROW: escrow,
    SESSION_TOKEN: token.address,
    SESSION_CHAIN_ID: '31337',
    SESSION_RPC_URL: chain.rpcUrl,
    SESSION_PAYEE_PRIVATE_KEY: chain.privateKeys[2]!,
    SESSION_SECRET: 'a test secret of at least thirty-two characters',
    SESSION_MIN_DEPOSIT_USD: '0.50',
    SESSION_VOUCHER_TIMEOUT_MS: '1500',
    // Every call here comes from 127.0.0.1: the per-address keyless bucket is not what is tested.
    KEYLESS_RATE_LIMIT_BURST: '100000',
  });
  gw = await startSessionGateway({ db: t.db, env });
}, 180_000);
afterAll(async () => {
  await gw?.close();
  await fake?.close();
  await t?.close();
  await chain?.stop();
});
beforeEach(() => fake.reset());

/** A wallet with test dollars and no Tollgate account (Hardhat accounts 4–9 and 1, each used once). */
async function newPayer(amount = 10_000_000n): Promise<PrivateKeyAccount> {
  const index = nextPayer <= 9 ? nextPayer++ : 1;
  const account = chain.accounts[index]!;
  await token.mint(account.address, amount);
  return account;
}

const post = (authorization: string | null, body: unknown = BODY) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(body) });
const head = (authorization: string) => fetch(`${gw.url}/v1/chat/completions`, { method: 'HEAD', headers: { authorization } });

async function usageOf(channelId: Hex) {
  const account = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: channelAccountId(channelId) } });
  // The calls this channel paid for: those whose hold was on its account (a payer may have several channels).
  const holds = await t.db.hold.findMany({ where: { debitAccountId: account.id }, select: { idempotencyKey: true } });
  const requestIds = holds.map((h) => h.idempotencyKey.slice('hold:'.length));
  const rows = await t.db.usageRecord.findMany({ where: { requestId: { in: requestIds } }, orderBy: { createdAt: 'asc' } });
  return { rows, cost: rows.reduce((sum, row) => sum + row.cost, 0n), account };
}

async function expectAuditClean() {
  const audit = await auditLedger(t.db);
  expect(audit.problems).toEqual([]);
}

/** Reads an SSE answer to the end: the raw text, and the payment events in it. */
async function readSse(response: Response, onNeedVoucher?: (required: bigint) => Promise<void>) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let text = '';
  const events: { event: string; data: string }[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      text += `${raw}\n\n`;
      const event = /^event: (.*)$/m.exec(raw)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(raw)?.[1] ?? '';
      events.push({ event, data });
      const parsed = parseSessionEvent(event, data);
      if (parsed?.event === 'payment-need-voucher' && onNeedVoucher) await onNeedVoucher(BigInt(parsed.data.requiredCumulative));
    }
  }
  return { text, events };
}

describe('the challenge', () => {
  it('a keyless call is answered 402 with a session challenge naming chain, token, escrow, payee, price basis and deposit; x402 beside it when on', async () => {
    const before = fake.requests.length;
    const { challenge, required, response } = await sessionChallenge(gw.url, BODY);
    expect(response.status).toBe(402);
    expect(challenge).toMatchObject({ method: 'evm', intent: 'session', realm: new URL(gw.url).host });
    expect(challenge.request).toMatchObject({ amount: '1', unitType: 'microdollar', currency: token.address, recipient: payee.address, methodDetails: { chainId: 31337, escrowContract: escrow } });
    expect(BigInt(challenge.request.suggestedDeposit!)).toBe(5_000_000n);
    expect(Date.parse(challenge.expires!)).toBeGreaterThan(Date.now());
    // What a new channel must cover for this call: its maximum, the prompt counted and 200 output tokens.
    expect(required).toBeGreaterThanOrEqual(costOf(1, 200));
    const body = (await response.json()) as { error: { code: string } };
    expect(body.error.code).toBe('payment_required');

    const both = await startSessionGateway({ db: t.db, env: { ...env, X402_PAY_TO: payee.address, X402_NETWORK: 'eip155:31337', X402_ASSET: token.address, X402_ASSET_NAME: 'USD Coin', X402_ASSET_VERSION: '2' }, x402: true });
    try {
      const offered = await sessionChallenge(both.url, BODY);
      expect(offered.response.status).toBe(402);
      expect(offered.response.headers.get(HEADERS.paymentRequired)).toBeTruthy();
      expect(offered.challenge.request.methodDetails.escrowContract).toBe(escrow);
      expect(((await offered.response.json()) as { x402Version: number }).x402Version).toBe(1);
    } finally {
      await both.close();
    }
    expect(fake.requests.length).toBe(before);
  });

  it('refuses channels on an escrow whose forced-close grace period is under the spec’s ten minutes', async () => {
    const shortGrace = await chain.deploy('ShortGraceEscrow');
    const other = await startSessionGateway({ db: t.db, env: { ...env, SESSION_ESCROW: shortGrace } });
    try {
      const payer = await newPayer();
      const { challenge, required } = await sessionChallenge(other.url, BODY);
      // The payer opens on the real escrow (the stand-in has no open); the server looks at its own escrow first.
      const channel = await openChannel(chain, token, { ...challenge, request: { ...challenge.request, methodDetails: { ...challenge.request.methodDetails, escrowContract: escrow } } }, payer, DEPOSIT);
      const credential = buildSessionCredential({ challenge, source: `did:pkh:eip155:31337:${payer.address.toLowerCase()}`, payload: { action: 'open', type: 'hash', channelId: channel.channelId, hash: channel.hash, cumulativeAmount: String(required), signature: await channel.sign(required), salt: channel.salt } });
      const before = fake.requests.length;
      const response = await fetch(`${other.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: credential }, body: JSON.stringify(BODY) });
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('sessions_misconfigured');
      expect(fake.requests.length).toBe(before);
      expect(await t.db.sessionChannel.findUnique({ where: { id: channel.channelId } })).toBeNull();
    } finally {
      await other.close();
    }
  });
});

describe('a session, by hand', () => {
  it('opens, serves a call paid by the open voucher, closes with a voucher for exactly what was spent: the payer gets the rest back on chain', async () => {
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    const payerAfterOpen = await token.balanceOf(payer.address);
    const payeeBefore = await token.balanceOf(payee.address);

    const response = await post(await channel.open(required));
    expect(response.status).toBe(200);
    const completion = (await response.json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(completion.choices[0]!.message.content).toBe('Hello from the fake upstream.');
    const receipt = parseSessionReceipt(response.headers.get(RECEIPT_HEADER)!);
    const cost = costOf(completion.usage.prompt_tokens, completion.usage.completion_tokens);
    expect(receipt).toMatchObject({ channelId: channel.channelId, reference: channel.channelId, acceptedCumulative: String(required), spent: String(cost), chainId: 31337, challengeId: challenge.id });

    // A second call on the same voucher: the channel still covers it (required was the first call's maximum).
    const usage = await usageOf(channel.channelId);
    expect(usage.cost).toBe(cost);
    expect(usage.account.balance).toBe(required - cost);

    const closed = await head(await channel.close(cost));
    expect(closed.status).toBe(200);
    const closeReceipt = parseSessionReceipt(closed.headers.get(RECEIPT_HEADER)!);
    expect(closeReceipt.spent).toBe(String(cost));
    expect(closeReceipt.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    // The chain and the ledger agree to the micro-dollar: payee got the usage rows' total, payer the rest.
    expect(await token.balanceOf(payee.address)).toBe(payeeBefore + cost);
    expect(await token.balanceOf(payer.address)).toBe(payerAfterOpen + DEPOSIT - cost);
    const onChain = await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'getChannel', args: [channel.channelId] });
    expect(onChain).toMatchObject({ finalized: true, settled: cost });
    const row = await t.db.sessionChannel.findUniqueOrThrow({ where: { id: channel.channelId } });
    expect(row).toMatchObject({ status: 'CLOSED', closeAmount: cost, closeTxHash: closeReceipt.txHash });
    // Closing again is answered from the ledger: what the channel's settled holds posted.
    const again = await head(await channel.close(cost));
    expect(again.status).toBe(200);
    expect(parseSessionReceipt(again.headers.get(RECEIPT_HEADER)!)).toMatchObject({ spent: String(cost), txHash: closeReceipt.txHash });
    // And with the channel's settled holds recorded the older way as well: counted once.
    await writeSettleEntries(t.db);
    const third = await head(await channel.close(cost));
    expect(parseSessionReceipt(third.headers.get(RECEIPT_HEADER)!)).toMatchObject({ spent: String(cost) });
    expect((await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: channelAccountId(channel.channelId) } })).balance).toBe(0n);
    // Closed is closed: a voucher on it now is refused, nothing served.
    const after = fake.requests.length;
    expect((await post(await channel.voucher(required))).status).toBe(410);
    expect(fake.requests.length).toBe(after);
    await expectAuditClean();
  });

  it('refuses a replayed voucher, a forged signature, a lower amount, an amount over the deposit, a wrong channel and a tampered challenge: nothing served, nothing charged', async () => {
    const payer = await newPayer();
    const stranger = chain.accounts[3];
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    // Pay exactly one call's maximum, then spend it.
    const first = await post(await channel.open(required));
    expect(first.status).toBe(200);
    const { cost: spent } = await usageOf(channel.channelId);
    // Two calls' worth of headroom gone: the channel has `required - spent` left, under a call's maximum.
    const before = { upstream: fake.requests.length, usage: await t.db.usageRecord.count(), ledger: await t.db.ledgerTransaction.count() };

    const expectRefused = async (authorization: string, status: number, type: string) => {
      const response = await post(authorization);
      expect(response.status).toBe(status);
      const body = (await response.json()) as { type: string; error: { message: string } };
      expect(body.type).toBe(`https://paymentauth.org/problems/${type}`);
      expect(body.error.message).toMatch(/Nothing was charged/);
      return response;
    };
    // The same voucher again covers nothing new: the rest of the channel is below this call's maximum.
    const replay = await expectRefused(await channel.voucher(required), 402, 'session/insufficient-balance');
    expect(replay.headers.get('www-authenticate')).toMatch(/^Payment /);
    await expectRefused(await channel.voucher(required - 1n), 402, 'session/insufficient-balance');
    await expectRefused(await channel.voucher(required * 2n, stranger), 402, 'session/signer-mismatch');
    await expectRefused(await channel.voucher(DEPOSIT + 1n), 402, 'session/amount-exceeds-deposit');
    const unknown = `0x${'ab'.repeat(32)}` as Hex;
    await expectRefused(await channel.voucher(required * 2n, payer, unknown), 410, 'session/channel-not-found');
    const tampered = (await channel.voucher(required * 2n)).replace(/^Payment /, '');
    const decoded = JSON.parse(Buffer.from(tampered, 'base64url').toString()) as { challenge: { id: string } };
    // Another first character, whatever it was (an id starting with 'x' stays changed).
    decoded.challenge.id = `${decoded.challenge.id.startsWith('x') ? 'y' : 'x'}${decoded.challenge.id.slice(1)}`;
    await expectRefused(`Payment ${Buffer.from(JSON.stringify(decoded)).toString('base64url')}`, 402, 'session/challenge-not-found');
    const malformed = await post('Payment not-base64!');
    expect(malformed.status).toBe(402);
    expect(((await malformed.json()) as { type: string }).type).toBe('https://paymentauth.org/problems/malformed-credential');

    expect(fake.requests.length).toBe(before.upstream);
    expect(await t.db.usageRecord.count()).toBe(before.usage);
    expect(await t.db.ledgerTransaction.count()).toBe(before.ledger);
    expect((await t.db.sessionChannel.findUniqueOrThrow({ where: { id: channel.channelId } })).acceptedCumulative).toBe(required);

    // And a voucher that does cover the call is served.
    const ok = await post(await channel.voucher(required * 2n));
    expect(ok.status).toBe(200);
    expect(spent).toBeGreaterThan(0n);
    await expectAuditClean();
  });

  it('parallel calls on one channel never overspend it: the served ones fit what the vouchers cover', async () => {
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    // Three calls' maximum covered, twelve sent at once.
    const covered = required * 3n;
    expect((await head(await channel.open(covered))).status).toBe(200);
    const credential = await channel.voucher(covered);
    fake.setBehavior({ latencyMs: 50 });
    const responses = await Promise.all(Array.from({ length: 12 }, () => post(credential)));
    const served = responses.filter((r) => r.status === 200).length;
    expect(served).toBeGreaterThanOrEqual(3);
    expect(responses.every((r) => r.status === 200 || r.status === 402)).toBe(true);
    const { rows, cost, account } = await usageOf(channel.channelId);
    expect(rows.filter((r) => r.status === 'SUCCESS')).toHaveLength(served);
    expect(cost).toBeLessThanOrEqual(covered);
    expect(account.balance).toBe(covered - cost);
    expect(account.available).toBe(account.balance);
    await expectAuditClean();
  });
});

describe('streams', () => {
  const STREAM_BODY = { ...BODY, max_tokens: 2000, stream: true };

  it('a stream that nears what is covered asks for a voucher mid-stream, waits for it, and goes on; it ends with a receipt', async () => {
    fake.setBehavior({ text: LONG_TEXT, usage: { prompt_tokens: 9, completion_tokens: 400 } });
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, STREAM_BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    // Cover a fifth of the call's maximum: more than its floor (prompt + 1/16 of the output), far below 400 tokens.
    const start = required / 5n;
    const asked: bigint[] = [];
    const response = await post(await channel.open(start), STREAM_BODY);
    expect(response.status).toBe(200);
    expect(parseSessionReceipt(response.headers.get(RECEIPT_HEADER)!).acceptedCumulative).toBe(String(start));
    const { text, events } = await readSse(response, async (requiredCumulative) => {
      asked.push(requiredCumulative);
      const paid = await head(await channel.voucher(requiredCumulative));
      expect(paid.status).toBe(200);
    });
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(text).toContain('word399');
    expect(events.at(-1)!.event).toBe('payment-receipt');
    const receipt = JSON.parse(events.at(-1)!.data) as { spent: string; acceptedCumulative: string };
    const { rows, cost } = await usageOf(channel.channelId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'SUCCESS', completionTokens: 400 });
    expect(cost).toBe(costOf(9, 400));
    expect(receipt.spent).toBe(String(cost));
    expect(BigInt(receipt.acceptedCumulative)).toBe(asked.at(-1));
    await expectAuditClean();
  });

  it('a stream whose voucher never comes ends at what was covered, billed for what it delivered', async () => {
    fake.setBehavior({ text: LONG_TEXT, usage: { prompt_tokens: 9, completion_tokens: 400 } });
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, STREAM_BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    const start = required / 5n;
    const response = await post(await channel.open(start), STREAM_BODY);
    expect(response.status).toBe(200);
    const { text, events } = await readSse(response);
    expect(events.some((e) => e.event === 'payment-need-voucher')).toBe(true);
    expect(text).not.toContain('word399');
    expect(text).toMatch(/session_voucher_timeout/);
    expect(events.at(-1)!.event).toBe('payment-receipt');
    const { rows, cost, account } = await usageOf(channel.channelId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('CLIENT_ABORTED');
    // Billed for the words delivered, never beyond what the vouchers covered.
    const delivered = (text.match(/word\d+/g) ?? []).length;
    expect(delivered).toBeGreaterThan(10);
    expect(cost).toBeGreaterThan(0n);
    expect(cost).toBeLessThanOrEqual(start);
    expect(account.balance).toBe(start - cost);
    await expectAuditClean();
  });

  it('a client that disconnects mid-stream pays only for what was produced', async () => {
    fake.setBehavior({ text: LONG_TEXT, chunkDelayMs: 5, usage: { prompt_tokens: 9, completion_tokens: 400 } });
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, STREAM_BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    const abort = new AbortController();
    const response = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: await channel.open(required) }, body: JSON.stringify(STREAM_BODY), signal: abort.signal });
    const reader = response.body!.getReader();
    let seen = '';
    while (!seen.includes('word20')) seen += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    await expect.poll(async () => (await usageOf(channel.channelId)).rows.length, { timeout: 5000 }).toBe(1);
    const { rows, cost } = await usageOf(channel.channelId);
    expect(rows[0]!.status).toBe('CLIENT_ABORTED');
    expect(cost).toBeGreaterThan(0n);
    expect(cost).toBeLessThan(costOf(9, 400));
    await expectAuditClean();
  });
});

describe('closing', () => {
  it('a topUp or close credential pays for no call, and a forged close closes nothing', async () => {
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    expect((await head(await channel.open(required * 3n))).status).toBe(200);
    const before = fake.requests.length;
    const topUp = buildSessionCredential({ challenge, source: `did:pkh:eip155:31337:${payer.address.toLowerCase()}`, payload: { action: 'topUp', type: 'hash', channelId: channel.channelId, hash: channel.hash, additionalDeposit: '1' } });
    const viaTopUp = await post(topUp);
    expect(viaTopUp.status).toBe(400);
    expect(((await viaTopUp.json()) as { error: { code: string } }).error.code).toBe('session_credential_not_for_calls');
    expect((await post(await channel.close(0n))).status).toBe(400);
    // A close signed by someone else, or for more than the deposit: refused, and the channel stays open.
    const forged = buildSessionCredential({ challenge, payload: { action: 'close', channelId: channel.channelId, cumulativeAmount: '5', signature: await signVoucher(chain.accounts[3], { chainId: 31337, escrowContract: escrow }, { channelId: channel.channelId, cumulativeAmount: 5n }) } });
    const refused = await head(forged);
    expect(refused.status).toBe(402);
    expect(refused.headers.get('x-tollgate-error')).toMatch(/not signed by the channel signer/);
    const over = buildSessionCredential({ challenge, payload: { action: 'close', channelId: channel.channelId, cumulativeAmount: String(DEPOSIT + 1n), signature: await channel.sign(DEPOSIT + 1n) } });
    expect((await head(over)).status).toBe(402);
    expect(fake.requests.length).toBe(before);
    expect(await t.db.sessionChannel.findUniqueOrThrow({ where: { id: channel.channelId } })).toMatchObject({ status: 'OPEN', closeTxHash: null });
    const onChain = await chain.publicClient.readContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'getChannel', args: [channel.channelId] });
    expect(onChain.finalized).toBe(false);
    expect((await post(await channel.voucher(required * 3n))).status).toBe(200);
    await expectAuditClean();
  });

  it('a close waits for a stream in flight and counts it; a call after the close began is refused', async () => {
    fake.setBehavior({ text: LONG_TEXT, chunkDelayMs: 2, usage: { prompt_tokens: 9, completion_tokens: 400 } });
    const payer = await newPayer();
    const body = { ...BODY, max_tokens: 2000, stream: true };
    const { challenge, required } = await sessionChallenge(gw.url, body);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    const streaming = await post(await channel.open(required), body);
    expect(streaming.status).toBe(200);
    const reading = readSse(streaming);
    // Close for what the stream will cost once done (the fake reports 9 + 400 tokens).
    const closing = head(await channel.close(costOf(9, 400)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const late = await post(await channel.voucher(required), BODY);
    expect([402, 410]).toContain(late.status);
    const { text } = await reading;
    expect(text).toContain('word399');
    const closed = await closing;
    expect(closed.status).toBe(200);
    expect(parseSessionReceipt(closed.headers.get(RECEIPT_HEADER)!).spent).toBe(String(costOf(9, 400)));
    const { rows, cost } = await usageOf(channel.channelId);
    expect(rows.filter((r) => r.status === 'SUCCESS')).toHaveLength(1);
    expect(cost).toBe(costOf(9, 400));
    await expectAuditClean();
  });

  it('the sweeper closes a channel whose payer asked the escrow to close, with the highest voucher, before the grace period ends', async () => {
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    expect((await post(await channel.open(required))).status).toBe(200);
    const { cost } = await usageOf(channel.channelId);
    const payerBefore = await token.balanceOf(payer.address);
    await chain.walletClient(payer).writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'requestClose', args: [channel.channelId] });
    expect(await gw.sessions.sweep()).toBe(1);
    // Closed with the highest voucher (`required`): the payer gets deposit − required on chain, and
    // what it paid beyond what was spent is its Tollgate balance, exactly.
    expect(await token.balanceOf(payer.address)).toBe(payerBefore + DEPOSIT - required);
    const row = await t.db.sessionChannel.findUniqueOrThrow({ where: { id: channel.channelId } });
    expect(row).toMatchObject({ status: 'CLOSED', closeAmount: required });
    const wallet = await t.db.ledgerAccount.findFirstOrThrow({ where: { userId: row.userId, kind: 'USER_WALLET' } });
    expect(wallet.balance).toBe(required - cost);
    await expectAuditClean();
  });

  it('server gone: the payer recovers its whole deposit through requestClose, the grace period and withdraw', async () => {
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    expect((await post(await channel.open(required))).status).toBe(200);
    const payerBefore = await token.balanceOf(payer.address);
    const wallet = chain.walletClient(payer);
    await wallet.writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'requestClose', args: [channel.channelId] });
    await chain.increaseTime(15 * 60);
    const hash = await wallet.writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'withdraw', args: [channel.channelId] });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');
    expect(await token.balanceOf(payer.address)).toBe(payerBefore + DEPOSIT);
    // The server, back, finds the channel finalized with nothing settled: what it served is lost to it, and the books say so.
    await gw.sessions.sweep();
    const row = await t.db.sessionChannel.findUniqueOrThrow({ where: { id: channel.channelId } });
    expect(row).toMatchObject({ status: 'CLOSED', closeAmount: 0n });
    await expectAuditClean();
  });

  it('an idle channel is closed by the sweeper with its highest voucher', async () => {
    const payer = await newPayer();
    const { challenge, required } = await sessionChallenge(gw.url, BODY);
    const channel = await openChannel(chain, token, challenge, payer, DEPOSIT);
    expect((await post(await channel.open(required))).status).toBe(200);
    expect(await gw.sessions.sweep()).toBe(0);
    // An hour idle (the default): this channel, and any other test's left open, are closed.
    expect(await gw.sessions.sweep({ now: new Date(Date.now() + 61 * 60_000) })).toBeGreaterThanOrEqual(1);
    expect(await t.db.sessionChannel.findUniqueOrThrow({ where: { id: channel.channelId } })).toMatchObject({ status: 'CLOSED', closeAmount: required });
    await expectAuditClean();
  });
});

describe('the session client', () => {
  it('with no account and no key: opens a session, streams through the openai client, closes, and gets back exactly its deposit minus what the usage rows say', async () => {
    fake.setBehavior({ text: LONG_TEXT, usage: { prompt_tokens: 12, completion_tokens: 400 } });
    const payer = await newPayer();
    const before = await token.balanceOf(payer.address);
    const result = await runSessionDemo({ baseURL: `${gw.url}/v1`, rpcUrl: chain.rpcUrl, privateKey: chain.privateKeys[chain.accounts.indexOf(payer)]!, deposit: DEPOSIT, model: 'gpt-4o-mini', prompt: 'Tell me a long story' });
    expect(result.text).toBe(LONG_TEXT);
    const { rows, cost } = await usageOf(result.channelId);
    expect(rows).toHaveLength(1);
    expect(cost).toBe(costOf(12, 400));
    expect(result.spent).toBe(cost);
    expect(await token.balanceOf(payer.address)).toBe(before - cost);
    await expectAuditClean();
  });

  it('plugs into the openai client through fetch for plain calls too, with receipts it keeps', async () => {
    const payer = await newPayer();
    const walletClient = chain.walletClient(payer);
    const session = createSessionClient({ account: payer, walletClient, publicClient: chain.publicClient, deposit: DEPOSIT });
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, fetch: session.fetch, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Hello ${i}` }], max_tokens: 100 });
      expect(completion.choices[0]!.message.content).toBe('Hello from the fake upstream.');
    }
    const { rows, cost } = await usageOf(session.channelId!);
    expect(rows).toHaveLength(3);
    expect(session.spent).toBe(cost);
    const receipt = await session.close();
    expect(BigInt(receipt.spent)).toBe(cost);
    await expectAuditClean();
  });

  it('opens one channel for concurrent first requests, never sends the SDK’s key, and adopts a fresh challenge from another instance', async () => {
    const payer = await newPayer();
    const fromBlock = await chain.publicClient.getBlockNumber();
    const seen: string[] = [];
    const recording: typeof fetch = (input, init) => {
      seen.push(new Headers(init?.headers).get('authorization') ?? '');
      return fetch(input, init);
    };
    const session = createSessionClient({ account: payer, walletClient: chain.walletClient(payer), publicClient: chain.publicClient, deposit: DEPOSIT, fetch: recording });
    const openai = new OpenAI({ apiKey: 'sk-placeholder', baseURL: `${gw.url}/v1`, fetch: session.fetch, maxRetries: 0 });
    const ask = (client = openai) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 });
    const answers = await Promise.all([ask(), ask()]);
    expect(answers.map((a) => a.choices[0]!.message.content)).toEqual(['Hello from the fake upstream.', 'Hello from the fake upstream.']);
    const opened = await chain.publicClient.getContractEvents({ address: escrow, abi: SESSION_ESCROW_ABI, eventName: 'ChannelOpened', args: { payer: payer.address }, fromBlock });
    expect(opened).toHaveLength(1);
    expect(seen.filter((a) => /bearer|sk-placeholder/i.test(a))).toEqual([]);

    // Another instance, same database and chain, another challenge secret: the first credential
    // there is refused (challenge-not-found) and the client signs again with the fresh challenge.
    const other = await startSessionGateway({ db: t.db, env: { ...env, SESSION_SECRET: 'another secret, also thirty-two characters or more' } });
    try {
      const there = new OpenAI({ apiKey: 'unused', baseURL: `${other.url}/v1`, fetch: session.fetch, maxRetries: 0 });
      expect((await ask(there)).choices[0]!.message.content).toBe('Hello from the fake upstream.');
    } finally {
      await other.close();
    }
    const { rows, cost } = await usageOf(session.channelId!);
    expect(rows.filter((r) => r.status === 'SUCCESS')).toHaveLength(3);
    expect(session.spent).toBe(cost);
    // The other instance is gone: close through the first (the client would use the last URL it called).
    expect(BigInt((await session.close(`${gw.url}/v1/chat/completions`)).spent)).toBe(cost);
    await expectAuditClean();
  });

  it('returns the 402 when the deposit cannot cover the next call, never signing above the deposit', async () => {
    // Claude Sonnet 4.5 at $16.50 per million output (sold): 27,000 tokens may cost about $0.45, and each call costs about $0.10.
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 6000 } });
    const payer = await newPayer();
    const deposit = 500_000n;
    const session = createSessionClient({ account: payer, walletClient: chain.walletClient(payer), publicClient: chain.publicClient, deposit });
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, fetch: session.fetch, maxRetries: 0 });
    const ask = () => openai.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }], max_tokens: 27_000 });
    await ask();
    const served = fake.requests.length;
    await expect(ask()).rejects.toMatchObject({ status: 402 });
    expect(fake.requests.length).toBe(served);
    expect(session.signed).toBe(deposit);
    const { cost } = await usageOf(session.channelId!);
    expect(session.spent).toBe(cost);
    const payerBefore = await token.balanceOf(payer.address);
    expect(BigInt((await session.close()).spent)).toBe(cost);
    expect(await token.balanceOf(payer.address)).toBe(payerBefore + deposit - cost);
    await expectAuditClean();
  });
});
