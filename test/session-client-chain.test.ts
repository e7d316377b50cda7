// The session client (lib/payments/session/client.ts) through the real openai client, on a local
// chain with the real escrow, against a small stand-in server built from the session library's own
// server checks (verifyOpen, decideVoucher): the channel is really opened, every request is paid by
// a voucher, a stream's payment-need-voucher is answered mid-stream, and the close refunds
// deposit − spent on chain. The real gateway's end-to-end test replaces the stand-in when it lands.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { parseEventLogs, type Address, type Hex, type PrivateKeyAccount } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SESSION_ESCROW_ABI,
  buildSessionChallenge,
  buildSessionReceipt,
  decideVoucher,
  formatNeedVoucherEvent,
  formatReceiptEvent,
  parseDidPkh,
  parseSessionCredential,
  readChannel,
  verifyChallengeBinding,
  verifyOpen,
  verifyVoucher,
  type SessionChallenge,
} from '../lib/payments/session';
import { createSessionClient } from '../lib/payments/session/client';
import { runSessionDemo } from '../scripts/session-demo';
import { startTestChain, type DeployedStablecoin, type TestChain } from './helpers/chain';

const PRICE = 300n; // atomic units per request, and per half of a stream
const SECRET = 'session-client-test';

let chain: TestChain;
let token: DeployedStablecoin;
let escrow: Address;
let payee: PrivateKeyAccount;
let server: Server;
let baseURL: string;

type ServerChannel = { payer: Address; accepted: bigint; spent: bigint };
const channels = new Map<Hex, ServerChannel>();
const revoked = new Set<string>();
// Every Authorization header the server saw, to check the SDK's placeholder key never arrives.
const seenAuthorization: string[] = [];
let currentChallenge: SessionChallenge;
// The challenge the last credential echoed: the one to revoke to make the client adopt a new one.
let lastEchoedChallengeId = '';
// The id is an HMAC of the parameters and expires has whole seconds: a counter keeps each one new.
let issued = 0;

function issueChallenge() {
  const built = buildSessionChallenge({
    realm: 'tollgate-test',
    secret: SECRET,
    expires: new Date(Date.now() + 600_000),
    request: {
      amount: '1',
      unitType: 'microdollar',
      externalId: `challenge-${++issued}`,
      suggestedDeposit: '1000000',
      currency: token.address,
      recipient: payee.address,
      methodDetails: { chainId: chain.chainId, escrowContract: escrow },
    },
  });
  currentChallenge = built.challenge;
  return built.header;
}

const context = () => ({ chainId: chain.chainId, escrowContract: escrow });

function receiptOf(channelId: Hex, state: ServerChannel, txHash?: Hex) {
  return {
    method: 'evm',
    intent: 'session',
    status: 'success',
    timestamp: new Date().toISOString(),
    reference: channelId,
    challengeId: currentChallenge.id,
    channelId,
    chainId: chain.chainId,
    acceptedCumulative: String(state.accepted),
    spent: String(state.spent),
    ...(txHash && { txHash }),
  } as const;
}

function paymentRequired(res: ServerResponse, requiredCumulative: bigint, problem = 'payment-required') {
  // An x402 offer beside the session challenge, as the gateway sends both: the client must pick its own.
  res.writeHead(402, { 'content-type': 'application/json', 'www-authenticate': `Bearer realm="x402", ${issueChallenge()}` });
  res.end(JSON.stringify({ type: `https://paymentauth.org/problems/session/${problem}`, requiredCumulative: String(requiredCumulative), x402Version: 1, accepts: [] }));
}

function refuse(res: ServerResponse, status: number, message: string) {
  res.writeHead(status, { 'x-tollgate-error': message, 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message } }));
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean; messages?: unknown[] }) : {};
  const authorization = req.headers.authorization;
  seenAuthorization.push(authorization ?? '');
  if (!authorization) return paymentRequired(res, PRICE);
  const credential = parseSessionCredential(authorization);
  if (!verifyChallengeBinding(SECRET, credential.challenge)) return refuse(res, 402, 'challenge not issued here');
  const p = credential.payload;
  lastEchoedChallengeId = credential.challenge.id;
  let state = channels.get(p.channelId);
  if (revoked.has(credential.challenge.id)) return paymentRequired(res, (state?.spent ?? 0n) + PRICE, 'challenge-not-found');

  if (p.action === 'open') {
    const payer = parseDidPkh(credential.source!, chain.chainId);
    const opened = await verifyOpen({
      client: chain.publicClient,
      context: context(),
      payee: payee.address,
      token: token.address,
      payer,
      payload: { ...p, cumulativeAmount: BigInt(p.cumulativeAmount) },
      minAvailable: 1n,
      highestAccepted: state?.accepted ?? 0n,
    });
    if (!opened.ok) return refuse(res, 402, opened.message);
    // Read again after the awaits: a concurrent open of the same channel may have recorded it.
    state = channels.get(p.channelId) ?? { payer, accepted: 0n, spent: 0n };
    if (opened.acceptedCumulative > state.accepted) state.accepted = opened.acceptedCumulative;
    channels.set(p.channelId, state);
  } else if (p.action === 'voucher') {
    if (!state) return refuse(res, 410, 'unknown channel');
    const onChain = (await readChannel(chain.publicClient, escrow, p.channelId))!;
    const decision = await decideVoucher({
      context: context(),
      channel: onChain,
      highestAccepted: state.accepted,
      voucher: { channelId: p.channelId, cumulativeAmount: BigInt(p.cumulativeAmount), signature: p.signature },
    });
    if (!decision.ok) return refuse(res, 402, decision.message);
    if (decision.advanced) state.accepted = decision.cumulativeAmount;
  } else if (p.action === 'close') {
    if (!state || req.method !== 'HEAD') return refuse(res, 400, 'close is a HEAD with a known channel');
    const amount = BigInt(p.cumulativeAmount);
    const check = await verifyVoucher(context(), { channelId: p.channelId, cumulativeAmount: amount, signature: p.signature }, state.payer);
    if (!check.ok || amount !== state.spent) return refuse(res, 402, 'close voucher must be signed for exactly what was spent');
    const hash = await chain.walletClient(payee).writeContract({ address: escrow, abi: SESSION_ESCROW_ABI, functionName: 'close', args: [p.channelId, amount, p.signature] });
    await chain.publicClient.waitForTransactionReceipt({ hash });
    res.writeHead(200, { 'payment-receipt': buildSessionReceipt(receiptOf(p.channelId, state, hash)) });
    return res.end();
  } else {
    return refuse(res, 400, 'unexpected action');
  }

  if (req.method === 'HEAD') {
    res.writeHead(200, { 'payment-receipt': buildSessionReceipt(receiptOf(p.channelId, state)) });
    return res.end();
  }
  if (state.accepted < state.spent + PRICE) return paymentRequired(res, state.spent + PRICE);
  state.spent += PRICE;
  const completion = (content: string) => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'tollgate-local', choices: [{ index: 0, delta: { content }, finish_reason: null }] });
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'payment-receipt': buildSessionReceipt(receiptOf(p.channelId, state)) });
    return res.end(
      JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'tollgate-local', choices: [{ index: 0, message: { role: 'assistant', content: 'paid' }, finish_reason: 'stop' }] }),
    );
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(`data: ${JSON.stringify(completion('Hello'))}\n\n`);
  // The first half is spent; the second half needs a voucher the client has not signed yet.
  const required = state.spent + PRICE;
  res.write(formatNeedVoucherEvent({ channelId: p.channelId, requiredCumulative: String(required), acceptedCumulative: String(state.accepted), deposit: '0' }));
  for (let waited = 0; state.accepted < required; waited += 10) {
    if (waited > 5_000) return res.end('data: {"error":"no voucher"}\n\n');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  state.spent += PRICE;
  res.write(`data: ${JSON.stringify(completion(' world'))}\n\n`);
  res.write(formatReceiptEvent(receiptOf(p.channelId, state)));
  res.end('data: [DONE]\n\n');
}

beforeAll(async () => {
  chain = await startTestChain();
  token = await chain.deployStablecoin({ name: 'Test USD Coin', symbol: 'tUSDC', domainName: 'USD Coin', version: '2' });
  escrow = await chain.deploy('SessionEscrow');
  payee = chain.accounts[2];
  for (const payer of chain.accounts.slice(3, 6)) await token.mint(payer.address, 10_000_000n);
  server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'x-tollgate-error': String(error) });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}, 180_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await chain?.stop();
});

function sessionFor(payer: PrivateKeyAccount, deposit: bigint) {
  return createSessionClient({ account: payer, walletClient: chain.walletClient(payer), publicClient: chain.publicClient, deposit });
}

async function openedChannels(payer: Address) {
  const logs = await chain.publicClient.getLogs({ address: escrow, fromBlock: 0n });
  return parseEventLogs({ abi: SESSION_ESCROW_ABI, logs, eventName: 'ChannelOpened' }).filter((l) => l.args.payer === payer);
}

describe('session client', () => {
  it('runs the demo: opens, streams with a mid-stream voucher, closes and refunds deposit − spent', async () => {
    const payer = chain.accounts[3];
    const before = await token.balanceOf(payer.address);
    const payeeBefore = await token.balanceOf(payee.address);
    const result = await runSessionDemo({ baseURL, rpcUrl: chain.rpcUrl, privateKey: chain.privateKeys[3]!, deposit: 1_000_000n, model: 'tollgate-local', prompt: 'hi' });
    expect(result.text).toBe('Hello world');
    expect(result.spent).toBe(2n * PRICE);
    expect(result.closeTxHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await token.balanceOf(payer.address)).toBe(before - 2n * PRICE);
    expect(await token.balanceOf(payee.address)).toBe(payeeBefore + 2n * PRICE);
    expect(seenAuthorization.filter((a) => /bearer/i.test(a))).toEqual([]);
    const channel = (await readChannel(chain.publicClient, escrow, result.channelId))!;
    expect(channel.finalized).toBe(true);
  }, 60_000);

  it('pays later requests with vouchers, adopts a fresh challenge, opens once for concurrent first requests', async () => {
    const payer = chain.accounts[4];
    const session = sessionFor(payer, 1_000_000n);
    const openai = new OpenAI({ apiKey: 'unused', baseURL, fetch: session.fetch, maxRetries: 0 });
    const ask = () => openai.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }] });
    const answers = await Promise.all([ask(), ask()]);
    expect(answers.map((a) => a.choices[0]!.message.content)).toEqual(['paid', 'paid']);
    expect(await openedChannels(payer.address)).toHaveLength(1);
    expect(session.spent).toBe(2n * PRICE);
    revoked.add(lastEchoedChallengeId);
    expect((await ask()).choices[0]!.message.content).toBe('paid');
    expect(session.spent).toBe(3n * PRICE);
    expect(session.signed).toBe(3n * PRICE);
    const receipt = await session.close();
    expect(receipt.spent).toBe(String(3n * PRICE));
    expect(receipt.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    // The SDK reports an error thrown by its fetch as a connection error, the original as its cause.
    await expect(ask()).rejects.toMatchObject({ cause: { message: 'the session is closed' } });
  }, 60_000);

  it('returns the 402 when the deposit cannot cover the next request, never signing above it', async () => {
    const payer = chain.accounts[5];
    const session = sessionFor(payer, 500n);
    const openai = new OpenAI({ apiKey: 'unused', baseURL, fetch: session.fetch, maxRetries: 0 });
    const ask = () => openai.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hi' }] });
    await ask();
    await expect(ask()).rejects.toMatchObject({ status: 402 });
    expect(session.signed).toBe(500n);
    expect(session.spent).toBe(PRICE);
    const receipt = await session.close();
    expect(receipt.spent).toBe(String(PRICE));
  }, 60_000);
});
