import { createPublicClient, createWalletClient, decodeEventLog, defineChain, http, isAddressEqual, type Address, type Chain, type Hex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { CallPayment, PayPerRequest } from '../../gateway/context';
import { payerKeyContext } from '../../gateway/auth';
import type { ApiRequest } from '../../http/api-request';
import { json } from '../../http/json';
import { sqlFor, type Db } from '../../db/client';
import { read, sql, statement } from '../../db/sql';
import { Ledger } from '../../ledger/ledger';
import { SETTLED_HOLD_POSTS } from '../../ledger/holds';
import { logger } from '../../logger';
import { formatUsd, type Micros } from '../../money';
import { payerUserId } from '../x402/x402';
import { acceptVoucher, channelAccountId, loadChannel, markClosing, noteCloseError, pendingHolds, recordChannel, reopen, setDeposit, squareClose, takeOverClosing, touchChannel, type ChannelRow } from './channels';
import { loadSessionConfig, type SessionConfig, type SessionConfigState } from './config';
import { SESSION_ESCROW_ABI } from './escrow';
import { decideVoucher, problemDetails, readChannel, verifyOpen, type Refusal, type SessionProblemType } from './verify';
import { verifyVoucher, type VoucherContext } from './voucher';
import type { UpstreamSignal } from '../../providers/upstream-signal';
import {
  RECEIPT_HEADER,
  SessionWireError,
  buildSessionChallenge,
  buildSessionReceipt,
  formatNeedVoucherEvent,
  formatReceiptEvent,
  parseDidPkh,
  parseSessionCredential,
  verifyChallengeBinding,
  type SessionCredential,
  type SessionReceiptInput,
} from './wire';

/**
 * Pay-per-token sessions (issue #15): the MPP session intent with the EVM method, served next to
 * x402. A keyless call's 402 carries a `WWW-Authenticate: Payment` challenge; the client opens a
 * channel on the escrow and sends `Authorization: Payment` credentials (open, voucher, topUp) on
 * its calls, or alone on a HEAD of the same URL (a voucher asked for mid-stream, a close).
 *
 * Money: each voucher accepted credits the channel's ledger account (channels.ts), calls hold and
 * settle on it through the gateway's own pipeline, and the close squares it with the chain. A
 * stream whose payer covered less than its maximum starts on what is covered, asks for a voucher
 * (`payment-need-voucher`) as it nears it, and pauses there until one comes or the wait ends.
 */
export type Sessions = PayPerRequest & {
  readonly state: SessionConfigState;
  /** The WWW-Authenticate value offering a session for this request's resource. */
  challenge(request: ApiRequest): string;
  /** A HEAD with a credential and no call: a voucher, a topUp, an open or a close. */
  credentialOnly(request: ApiRequest): Promise<Response>;
  /** The sweeper: closes idle channels and those whose payer asked to close, finishes closes left half done. */
  sweep(options?: { now?: Date }): Promise<number>;
  /** Closes a channel with its highest voucher (or a close voucher the payer signed). */
  close(channelId: Hex, voucher?: { cumulativeAmount: bigint; signature: Hex }): Promise<{ ok: true; channel: ChannelRow; spent: bigint } | { ok: false; status: number; problem: SessionProblemType | 'close-pending'; message: string }>;
};

type Outcome = Awaited<ReturnType<PayPerRequest['authorize']>>;

const ZERO: Address = '0x0000000000000000000000000000000000000000';
/** How often a paused stream, or a close waiting for calls in flight, looks at the database. */
const POLL_MS = 50;
/** How long a close waits for the calls still holding the channel's money to settle. */
const CLOSE_WAIT_MS = 10_000;
/** A CLOSING row this old was left by a close that did not finish (the instance died): the sweeper finishes it. */
const STALE_CLOSING_MS = 2 * 60_000;
/** The spec's least forced-close grace period an escrow may have for its channels to be accepted. */
const MIN_GRACE_SECONDS = 600n;

export function createSessions(options: { db: Db; env?: NodeJS.ProcessEnv }): Sessions {
  const state = loadSessionConfig(options.env ?? process.env);
  const db = options.db;
  const ledger = new Ledger(db);
  if (state.state === 'misconfigured') logger.error('pay-per-token sessions are misconfigured: session credentials are refused', { reason: state.reason });
  const config = state.state === 'enabled' ? state.config : null;
  const chain = config ? sessionChain(config) : null;
  const publicClient = config ? (createPublicClient({ chain: chain!, transport: http(config.rpcUrl, { retryCount: 1 }) }) as PublicClient) : null;
  const payee = config ? createWalletClient({ chain: chain!, account: privateKeyToAccount(config.payeePrivateKey), transport: http(config.rpcUrl, { retryCount: 0 }) }) : null;
  const context: VoucherContext | null = config ? { chainId: config.chainId, escrowContract: config.escrow } : null;

  /**
   * The escrow's forced-close grace period, read once: the spec forbids accepting channels on an
   * escrow whose grace is under ten minutes (the server must have time to close before a withdraw).
   */
  let grace: Promise<bigint> | null = null;
  function escrowGrace(): Promise<bigint> {
    grace ??= publicClient!.readContract({ address: config!.escrow, abi: SESSION_ESCROW_ABI, functionName: 'CLOSE_GRACE_PERIOD' }).then(
      (value) => BigInt(value),
      (error: unknown) => {
        grace = null; // an RPC hiccup is asked again next time
        throw error;
      },
    );
    return grace;
  }

  function realmOf(request: ApiRequest): string {
    return new URL(request.url).host;
  }

  function challenge(request: ApiRequest): string {
    if (!config) throw new Error('sessions are not enabled');
    return buildSessionChallenge({
      realm: realmOf(request),
      secret: config.secret,
      expires: new Date(Date.now() + config.challengeTtlMs),
      description: 'Pay per token from a USDC payment channel: 1 unit = 1 micro-dollar',
      request: {
        amount: '1',
        unitType: 'microdollar',
        suggestedDeposit: String(config.suggestedDeposit),
        currency: config.token,
        recipient: config.payee,
        methodDetails: { chainId: config.chainId, escrowContract: config.escrow },
      },
    }).header;
  }

  /**
   * A refusal in both shapes a client may read: RFC 9457 problem fields (what MPP clients read)
   * and OpenAI's `error` object (what the OpenAI SDKs raise), with a fresh challenge on a 402.
   */
  function refusal(request: ApiRequest, problem: SessionProblemType, message: string, extra: Record<string, unknown> = {}, channelId?: Hex): Response {
    const details = problemDetails({ ok: false, problem, message }, channelId);
    const body = {
      ...details,
      ...extra,
      error: { message: `${details.title}: ${message} Nothing was charged.`, type: details.status === 402 ? 'insufficient_credits' : 'invalid_request_error', code: `session_${problem.replace(/-/g, '_')}`, param: null },
    };
    const headers: Record<string, string> = { 'access-control-expose-headers': 'WWW-Authenticate, Payment-Receipt' };
    if (details.status === 402 && config) headers['www-authenticate'] = challenge(request);
    return json(body, { status: details.status, headers });
  }

  function malformed(request: ApiRequest, message: string): Response {
    return json(
      {
        type: 'https://paymentauth.org/problems/malformed-credential',
        title: 'Malformed Credential',
        status: 402,
        detail: message,
        error: { message: `Malformed payment credential: ${message}. Nothing was charged.`, type: 'invalid_request_error', code: 'session_malformed_credential', param: null },
      },
      { status: 402, headers: config ? { 'www-authenticate': challenge(request) } : {} },
    );
  }

  type Handled = { ok: true; channel: ChannelRow; credential: SessionCredential } | { ok: false; response: Response };

  /**
   * Reads, checks and applies the request's credential: the challenge is ours and current, then
   * the open, topUp or voucher it carries is verified on chain and accepted. A close is the
   * caller's to run (it ends the channel, it does not pay for a call).
   */
  async function handleCredential(request: ApiRequest, forCall: boolean): Promise<Handled> {
    if (!config || !context || !publicClient) {
      return { ok: false, response: json({ error: { message: 'Pay-per-token sessions are not configured on this instance.', type: 'service_unavailable', code: 'sessions_disabled', param: null } }, { status: 503 }) };
    }
    let credential: ReturnType<typeof parseSessionCredential>;
    try {
      credential = parseSessionCredential(request.headers.get('authorization') ?? '');
    } catch (error) {
      if (error instanceof SessionWireError) return { ok: false, response: malformed(request, error.message) };
      throw error;
    }
    const echoed = credential.challenge;
    if (!verifyChallengeBinding(config.secret, echoed) || echoed.realm !== realmOf(request)) {
      return { ok: false, response: refusal(request, 'challenge-not-found', 'the credential does not echo a challenge this server issued; use the one in WWW-Authenticate.') };
    }
    if (echoed.expires !== undefined && Date.parse(echoed.expires) <= Date.now()) {
      return { ok: false, response: refusal(request, 'challenge-not-found', 'the challenge has expired; use the fresh one in WWW-Authenticate.') };
    }
    const offered = credential.request;
    if (
      offered.methodDetails.chainId !== config.chainId ||
      !isAddressEqual(offered.methodDetails.escrowContract, config.escrow) ||
      !isAddressEqual(offered.currency, config.token) ||
      !isAddressEqual(offered.recipient, config.payee)
    ) {
      return { ok: false, response: refusal(request, 'challenge-not-found', 'the challenge names another chain, escrow, token or payee than this server now uses; use the fresh one in WWW-Authenticate.') };
    }

    const payload = credential.payload;
    const channelId = payload.channelId;
    // A call is paid by a voucher (or the open's first one). A topUp carries no signature and a
    // close ends the channel: both are sent alone, on HEAD, and neither pays for anything.
    if (forCall && (payload.action === 'topUp' || payload.action === 'close')) {
      return { ok: false, response: json({ error: { message: `A "${payload.action}" credential pays for no call: send it alone as a HEAD of this URL, then pay calls with a voucher. Nothing was charged.`, type: 'invalid_request_error', code: 'session_credential_not_for_calls', param: null } }, { status: 400 }) };
    }
    if (payload.action === 'open') {
      const grace = await escrowGrace();
      if (grace < MIN_GRACE_SECONDS) {
        logger.error('the session escrow has a close grace period under the spec minimum: channels are refused', { escrow: config.escrow, graceSeconds: String(grace) });
        return { ok: false, response: json({ error: { message: 'Pay-per-token sessions are misconfigured on this instance (the escrow’s close grace period is too short); nothing was charged.', type: 'service_unavailable', code: 'sessions_misconfigured', param: null } }, { status: 503 }) };
      }
      let payer: Address;
      try {
        payer = parseDidPkh(credential.source ?? '', config.chainId);
      } catch (error) {
        if (error instanceof SessionWireError) return { ok: false, response: malformed(request, error.message) };
        throw error;
      }
      const existing = await loadChannel(db, channelId);
      const verified = await verifyOpen({
        client: publicClient,
        context,
        payee: config.payee,
        token: config.token,
        payer,
        payload: { ...payload, cumulativeAmount: BigInt(payload.cumulativeAmount) },
        minAvailable: existing ? 0n : config.minDeposit,
        confirmations: config.confirmations,
        highestAccepted: existing?.acceptedCumulative ?? 0n,
      });
      if (!verified.ok) {
        if ('pending' in verified) {
          return { ok: false, response: json({ error: { message: `The channel is not open yet: ${verified.message}. Retry shortly; nothing was charged.`, type: 'service_unavailable', code: 'session_open_pending', param: null } }, { status: 503, headers: { 'retry-after': '2' } }) };
        }
        return { ok: false, response: refusal(request, verified.problem, verified.message, {}, channelId) };
      }
      if (!existing) {
        const userId = await payerUserId(db, payer);
        await recordChannel(db, {
          id: channelId,
          chainId: config.chainId,
          escrow: config.escrow,
          token: config.token,
          payer,
          payee: config.payee,
          authorizedSigner: verified.channel.authorizedSigner,
          userId,
          deposit: verified.channel.deposit,
          openTxHash: payload.hash,
        });
      } else {
        await setDeposit(db, channelId, verified.channel.deposit);
      }
      if (verified.acceptedCumulative > (existing?.acceptedCumulative ?? 0n)) {
        await acceptVoucher(db, ledger, channelId, { cumulativeAmount: verified.acceptedCumulative, signature: payload.signature });
      }
    }

    const row = await loadChannel(db, channelId);
    if (!row) return { ok: false, response: refusal(request, 'channel-not-found', 'this server has no open channel with that id; open it first.', {}, channelId) };
    if (row.status !== 'OPEN' && payload.action !== 'close') return { ok: false, response: refusal(request, 'channel-finalized', 'the channel is closed or closing.', {}, channelId) };
    if (await payerSuspended(db, row.userId)) {
      return { ok: false, response: json({ error: { message: 'The account of this wallet is suspended. Nothing was charged.', type: 'permission_error', code: 'account_suspended', param: null } }, { status: 403 }) };
    }

    if (payload.action === 'topUp') {
      const receipt = await publicClient.getTransactionReceipt({ hash: payload.hash }).catch(() => null);
      if (!receipt) return { ok: false, response: json({ error: { message: 'The top-up transaction is not mined yet. Retry shortly; nothing was charged.', type: 'service_unavailable', code: 'session_topup_pending', param: null } }, { status: 503, headers: { 'retry-after': '2' } }) };
      if (receipt.status !== 'success') return { ok: false, response: refusal(request, 'transaction-reverted', 'the top-up transaction reverted.', {}, channelId) };
      const toppedUp = receipt.logs.some((log) => {
        if (!isAddressEqual(log.address, config.escrow)) return false;
        try {
          const event = decodeEventLog({ abi: SESSION_ESCROW_ABI, data: log.data, topics: log.topics });
          return event.eventName === 'ChannelToppedUp' && event.args.channelId === channelId;
        } catch {
          return false;
        }
      });
      if (!toppedUp) return { ok: false, response: refusal(request, 'channel-not-found', 'the transaction did not top up this channel on the escrow.', {}, channelId) };
      const onChain = await readChannel(publicClient, config.escrow, channelId);
      if (onChain) await setDeposit(db, channelId, onChain.deposit);
    }

    if (payload.action === 'voucher') {
      const decided = await judgeVoucher(row, { cumulativeAmount: BigInt(payload.cumulativeAmount), signature: payload.signature });
      if (!decided.ok) return { ok: false, response: refusal(request, decided.problem, decided.message, {}, channelId) };
    }
    const current = await loadChannel(db, channelId);
    return { ok: true, channel: current!, credential };
  }

  /** The spec's voucher checks against the channel as the chain has it now, then its acceptance. */
  async function judgeVoucher(row: ChannelRow, voucher: { cumulativeAmount: bigint; signature: Hex }): Promise<{ ok: true } | Refusal> {
    // The signature first, against the signer recorded at open: a forged voucher costs no RPC call.
    const signed = await verifyVoucher(context!, { channelId: row.id, ...voucher }, signerOf(row));
    if (!signed.ok) return { ok: false, problem: signed.problem, message: signed.message };
    const onChain = await readChannel(publicClient!, config!.escrow, row.id);
    if (!onChain) return { ok: false, problem: 'channel-not-found', message: 'the escrow has no such channel.' };
    if (onChain.deposit > row.deposit) await setDeposit(db, row.id, onChain.deposit);
    const decided = await decideVoucher({ context: context!, channel: onChain, highestAccepted: row.acceptedCumulative, voucher: { channelId: row.id, ...voucher } });
    if (!decided.ok) return decided;
    if (decided.advanced) await acceptVoucher(db, ledger, row.id, { cumulativeAmount: decided.cumulativeAmount, signature: voucher.signature });
    else await touchChannel(db, row.id);
    return { ok: true };
  }

  async function receiptOf(channelId: Hex, challengeId: string, extra: Partial<SessionReceiptInput> = {}): Promise<SessionReceiptInput> {
    const row = await loadChannel(db, channelId);
    const accepted = row?.acceptedCumulative ?? 0n;
    return {
      method: 'evm',
      intent: 'session',
      status: 'success',
      timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reference: channelId,
      challengeId,
      channelId,
      chainId: config!.chainId,
      acceptedCumulative: String(accepted),
      // Everything accepted is either spent or still on the channel's account (held or not).
      spent: String(row ? accepted - row.balance : 0n),
      ...extra,
    };
  }

  async function authorize(input: Parameters<PayPerRequest['authorize']>[0]): Promise<Outcome> {
    const handled = await handleCredential(input.request, true);
    if (!handled.ok) return { kind: 'respond', response: handled.response };
    const { channel, credential } = handled;
    const stream = input.body.stream === true;
    // A stream may start on less than its maximum: it can pause and ask for more. The least it
    // starts on is its prompt and a sixteenth of its output, so that the first tokens flow.
    const floor = input.promptCost + ceilDiv(input.maxCost - input.promptCost, 16n);
    const minimum = stream ? (floor < input.maxCost ? floor : input.maxCost) : input.maxCost;
    const insufficient = (now: ChannelRow) => {
      const required = now.acceptedCumulative + (input.maxCost - now.available);
      return refusal(
        input.request,
        'insufficient-balance',
        `this call may cost up to ${formatUsd(input.maxCost)} (${input.maxCost} units) and the channel covers ${now.available} units not already spent or held. Sign a voucher for ${required}${required > now.deposit ? ', after a topUp: it is above the deposit' : ''}.`,
        { requiredCumulative: String(required), acceptedCumulative: String(now.acceptedCumulative), deposit: String(now.deposit) },
        now.id,
      );
    };
    if (channel.available < minimum) return { kind: 'respond', response: insufficient(channel) };
    const holdAmount = channel.available >= input.maxCost ? undefined : channel.available;
    const challengeId = credential.challenge.id;
    const payment: CallPayment = {
      ...(holdAmount !== undefined && { holdAmount }),
      maxCost: input.maxCost,
      shortOfFunds: async () => insufficient((await loadChannel(db, channel.id)) ?? channel),
      confirm: async () => {
        // Reserved after a close began: the close waits for no call it has not seen, so this one
        // must not be served (the gateway releases its hold).
        const now = await loadChannel(db, channel.id);
        return now?.status === 'OPEN' ? null : refusal(input.request, 'channel-finalized', 'the channel is closing.', {}, channel.id);
      },
      receiptHeaders: async () => ({ [RECEIPT_HEADER]: buildSessionReceipt(await receiptOf(channel.id, challengeId)), 'access-control-expose-headers': RECEIPT_HEADER }),
      receiptEvent: async () => formatReceiptEvent(await receiptOf(channel.id, challengeId)),
      askForMore: async (more: Micros) => {
        // Required: what the payer must have signed for this call to go on, over what others hold.
        const now = await loadChannel(db, channel.id);
        const accepted = now?.acceptedCumulative ?? channel.acceptedCumulative;
        const free = now?.available ?? 0n;
        const required = accepted + (more > free ? more - free : 0n);
        const event = formatNeedVoucherEvent({ channelId: channel.id, requiredCumulative: String(required), acceptedCumulative: String(accepted), deposit: String(now?.deposit ?? channel.deposit) });
        return { event, covered: (signal: UpstreamSignal) => waitForCover(channel.id, config!.voucherTimeoutMs, signal) };
      },
    };
    return { kind: 'paid', key: { ...payerKeyContext(channel.userId), name: 'session', walletAccountId: channel.accountId }, headers: {}, payment };
  }

  /** Resolves true once the channel's account has money no call holds, false after `timeoutMs`. */
  async function waitForCover(channelId: Hex, timeoutMs: number, signal: UpstreamSignal): Promise<boolean> {
    const accountId = channelAccountId(channelId);
    const deadline = Date.now() + timeoutMs;
    // A client gone while waiting takes nothing more from the channel.
    while (Date.now() < deadline && !signal.aborted) {
      const [row] = await sqlFor(db).query(sql`SELECT "available" FROM "LedgerAccount" WHERE "id" = ${accountId}`);
      if (row && read.bigint(row.available) > 0n) return true;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return false;
  }

  async function credentialOnly(request: ApiRequest): Promise<Response> {
    const handled = await handleCredential(request, false);
    if (!handled.ok) return headOnly(handled.response);
    const { channel, credential } = handled;
    const payload = credential.payload;
    if (payload.action === 'close') {
      const closed = await close(channel.id, { cumulativeAmount: BigInt(payload.cumulativeAmount), signature: payload.signature });
      if (!closed.ok) {
        return headOnly(closed.problem === 'close-pending' ? json({ error: { message: closed.message, type: 'service_unavailable', code: 'session_close_pending', param: null } }, { status: closed.status, headers: { 'retry-after': '5' } }) : refusal(request, closed.problem, closed.message, {}, channel.id));
      }
      const receipt = await receiptOf(channel.id, credential.challenge.id, { txHash: closed.channel.closeTxHash!, acceptedCumulative: String(closed.channel.acceptedCumulative), spent: String(closed.spent) });
      return new Response(null, { status: 200, headers: { [RECEIPT_HEADER]: buildSessionReceipt(receipt), 'access-control-expose-headers': RECEIPT_HEADER } });
    }
    return new Response(null, { status: 200, headers: { [RECEIPT_HEADER]: buildSessionReceipt(await receiptOf(channel.id, credential.challenge.id)), 'access-control-expose-headers': RECEIPT_HEADER } });
  }

  /**
   * Closes a channel on chain and squares the ledger with it. No new call starts once it is
   * CLOSING; the calls still holding its money are waited for. The close voucher is the payer's
   * when it covers what was spent, else the highest accepted (spec, "Cooperative Close").
   */
  async function close(channelId: Hex, voucher?: { cumulativeAmount: bigint; signature: Hex }, { takeOver = false }: { takeOver?: boolean } = {}): ReturnType<Sessions['close']> {
    if (!config || !context || !publicClient || !payee) return { ok: false, status: 503, problem: 'close-pending', message: 'sessions are not configured on this instance' };
    const first = await loadChannel(db, channelId);
    if (!first) return { ok: false, status: 410, problem: 'channel-not-found', message: 'no such channel' };
    if (first.status === 'CLOSED') return { ok: true, channel: first, spent: await spentOf(first) };
    // The payer's close voucher is checked before anything changes: a forged one closes nothing.
    if (voucher) {
      if (voucher.cumulativeAmount > first.deposit) return { ok: false, status: 402, problem: 'amount-exceeds-deposit', message: `the close voucher exceeds the channel deposit of ${first.deposit}` };
      const check = await verifyVoucher(context, { channelId, ...voucher }, signerOf(first));
      if (!check.ok) return { ok: false, status: 402, problem: check.problem, message: check.message };
    }
    // One close at a time: this one owns the channel only if it moved it to CLOSING (or, the
    // sweeper, took over a close left unfinished long enough ago).
    const owned = takeOver ? await takeOverClosing(db, channelId, new Date(Date.now() - STALE_CLOSING_MS)) : await markClosing(db, channelId);
    if (!owned) {
      const again = await loadChannel(db, channelId);
      if (again?.status === 'CLOSED') return { ok: true, channel: again, spent: await spentOf(again) };
      return { ok: false, status: 409, problem: 'close-pending', message: 'another close of this channel is under way; retry in a few seconds' };
    }
    // Calls that reserved before the channel was CLOSING end first (those after it release at once, see confirmOpen).
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while ((await pendingHolds(db, first.accountId)) > 0) {
      if (Date.now() > deadline) {
        await reopen(db, channelId, 'close waited too long for calls in flight');
        return { ok: false, status: 409, problem: 'close-pending', message: 'calls on this channel are still in flight; retry the close once they end' };
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const channel = (await loadChannel(db, channelId))!;
    const spent = channel.acceptedCumulative - channel.balance;
    // The payer's close voucher when it covers what was spent, else the highest accepted (spec, Cooperative Close).
    let amount = channel.acceptedCumulative;
    let signature: Hex | null = channel.voucherSignature;
    if (voucher && voucher.cumulativeAmount >= spent) {
      amount = voucher.cumulativeAmount;
      signature = voucher.signature;
    }
    const onChain = await readChannel(publicClient, config.escrow, channelId);
    if (onChain?.finalized) {
      // Closed already (an earlier attempt whose answer was lost, or the payer's withdraw): the
      // chain's `settled` is what was paid.
      await squareCloseRetrying(channel, onChain.settled, channel.closeTxHash ?? (`0x${'0'.repeat(64)}` as Hex));
      return { ok: true, channel: (await loadChannel(db, channelId))!, spent };
    }
    if (onChain && amount <= onChain.settled) {
      amount = onChain.settled;
      signature = null;
    }
    let hash: Hex;
    try {
      hash = await payeeTransactions.run(() => payee.writeContract({ address: config.escrow, abi: SESSION_ESCROW_ABI, functionName: 'close', args: [channelId, amount, signature ?? '0x'] }));
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      logger.error('session close could not be submitted; the sweeper will retry', { channelId, error: message });
      await noteCloseError(db, channelId, message);
      return { ok: false, status: 503, problem: 'close-pending', message: 'the close could not be submitted to the chain; the sweeper retries it' };
    }
    await noteCloseError(db, channelId, `close ${hash} submitted`);
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 }).catch(() => null);
    if (!receipt) return { ok: false, status: 503, problem: 'close-pending', message: `the close ${hash} is submitted but not confirmed yet; the sweeper finishes it` };
    if (receipt.status !== 'success') {
      // Reverted: if the channel is finalized anyway (another close landed first), square with it.
      const now = await readChannel(publicClient, config.escrow, channelId);
      if (now?.finalized) {
        await squareCloseRetrying(channel, now.settled, hash);
        return { ok: true, channel: (await loadChannel(db, channelId))!, spent };
      }
      await reopen(db, channelId, `close ${hash} reverted`);
      return { ok: false, status: 409, problem: 'transaction-reverted', message: `the close transaction ${hash} reverted` };
    }
    await squareCloseRetrying(channel, amount, hash);
    logger.info('session channel closed', { channelId, paid: String(amount), spent: String(spent), transaction: hash });
    return { ok: true, channel: (await loadChannel(db, channelId))!, spent };
  }

  /**
   * Squares the ledger, trying again for a moment if a call that reserved as the channel turned
   * CLOSING still holds part of it (it releases at once: confirmOpen); the chain has paid already.
   */
  async function squareCloseRetrying(channel: ChannelRow, amount: bigint, hash: Hex): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await squareClose(db, ledger, (await loadChannel(db, channel.id)) ?? channel, amount, hash);
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /**
   * What a closed channel's calls spent: its settlements, as posted to the ledger (the settled
   * holds that post themselves, and settle transactions: late ones, and any from before).
   */
  async function spentOf(channel: ChannelRow): Promise<bigint> {
    const [row] = await sqlFor(db).query(
      statement(
        `SELECT (SELECT COALESCE(SUM("settledAmount"), 0) FROM "Hold" WHERE "debitAccountId" = ? AND ${SETTLED_HOLD_POSTS})
              - (SELECT COALESCE(SUM(e."amount"), 0) FROM "LedgerEntry" e JOIN "LedgerTransaction" t ON t."id" = e."transactionId" WHERE e."accountId" = ? AND t."kind" IN ('settle', 'settle_late')) AS "spent"`,
        [channel.accountId, channel.accountId],
      ),
    );
    return read.bigint(row!.spent);
  }

  async function sweep({ now = new Date() }: { now?: Date } = {}): Promise<number> {
    if (!config || !publicClient) return 0;
    let closed = 0;
    const idleBefore = new Date(now.getTime() - config.idleCloseMs);
    // Closes left unfinished (an instance died, the chain did not answer): taken over and finished.
    const stale = await db.sessionChannel.findMany({ where: { status: 'CLOSING', updatedAt: { lte: new Date(now.getTime() - STALE_CLOSING_MS) } }, select: { id: true }, take: 100 });
    for (const row of stale) {
      const result = await close(row.id as Hex, undefined, { takeOver: true }).catch((error: unknown) => {
        logger.error('session sweep could not finish a close', { channelId: row.id, error });
        return null;
      });
      if (result?.ok) closed++;
    }
    // Every open channel, page by page: one idle too long is closed; one whose payer asked the
    // escrow to close is closed at once, or the withdraw after the grace period takes back what
    // its vouchers paid.
    for (let cursor: string | undefined; ; ) {
      const page = await db.sessionChannel.findMany({ where: { status: 'OPEN' }, select: { id: true, lastUsedAt: true }, orderBy: { id: 'asc' }, take: 100, ...(cursor && { cursor: { id: cursor }, skip: 1 }) });
      if (page.length === 0) break;
      cursor = page.at(-1)!.id;
      for (const row of page) {
        const channelId = row.id as Hex;
        try {
          let due = row.lastUsedAt <= idleBefore;
          if (!due) {
            const onChain = await readChannel(publicClient, config.escrow, channelId);
            due = onChain !== null && (onChain.finalized || onChain.closeRequestedAt !== 0n);
          }
          if (due && (await close(channelId)).ok) closed++;
        } catch (error) {
          logger.error('session sweep could not close a channel', { channelId, error });
        }
      }
    }
    return closed;
  }

  return {
    state,
    challenge,
    authorize,
    credentialOnly,
    close,
    sweep,
    reconcile: async () => sweep(),
  };

}

function ceilDiv(a: bigint, b: bigint): bigint {
  return a <= 0n ? 0n : (a + b - 1n) / b;
}

function signerOf(row: Pick<ChannelRow, 'authorizedSigner' | 'payer'>): Address {
  return isAddressEqual(row.authorizedSigner, ZERO) ? row.payer : row.authorizedSigner;
}

/** The payee's transactions one at a time in this process: two closes at once must not race for a nonce. */
const payeeTransactions = (() => {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(work: () => Promise<T>): Promise<T> {
      const next = tail.then(work, work);
      tail = next.catch(() => undefined);
      return next;
    },
  };
})();

/** A HEAD answer carries no body: its error's message goes in `x-tollgate-error`, and the status says the rest. */
async function headOnly(response: Response): Promise<Response> {
  const headers = new Headers(response.headers);
  headers.delete('content-type');
  const body = (await response.json().catch(() => null)) as { error?: { message?: unknown } } | null;
  const message = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${response.status}`;
  // Header values are bytes: anything outside printable ASCII is dropped, not mangled.
  headers.set('x-tollgate-error', message.replace(/[^\x20-\x7e]/g, '').slice(0, 1000));
  headers.set('access-control-expose-headers', 'WWW-Authenticate, Payment-Receipt, x-tollgate-error');
  return new Response(null, { status: response.status, headers });
}

async function payerSuspended(db: Db, userId: string): Promise<boolean> {
  const [row] = await sqlFor(db).query(sql`SELECT "suspended" FROM "User" WHERE "id" = ${userId}`);
  return row ? read.bool(row.suspended) : false;
}

function sessionChain(config: SessionConfig): Chain {
  return defineChain({ id: config.chainId, name: `session chain ${config.chainId}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [config.rpcUrl] } } });
}
