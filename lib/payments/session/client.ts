import {
  erc20Abi,
  isAddressEqual,
  toHex,
  zeroAddress,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { z } from 'zod';
import { SESSION_ESCROW_ABI, computeChannelId } from './escrow';
import { signVoucher } from './voucher';
import {
  PAYMENT_SCHEME,
  RECEIPT_HEADER,
  buildSessionCredential,
  didPkh,
  parseAuthChallenges,
  parseSessionChallenge,
  parseSessionEvent,
  parseSessionReceipt,
  type SessionChallenge,
  type SessionEvent,
  type SessionPayloadInput,
  type SessionReceipt,
} from './wire';

/**
 * A keyless client for pay-per-token sessions (MPP session intent, evm method). It is a `fetch`
 * to hand to any HTTP SDK (the `openai` client's `fetch` option): on the first 402 it opens a USDC
 * channel on the escrow the challenge names, then pays every request with a cumulative EIP-712
 * voucher, answers the server's `payment-need-voucher` SSE events mid-stream, and closes the
 * channel cooperatively so the payer gets back deposit − spent.
 */

export type SessionClientOptions = {
  /** The payer: signs the approve/open transactions and the vouchers. */
  account: LocalAccount;
  /** Sends approve and open; its chain must be the challenge's (checked before any transaction). */
  walletClient: WalletClient<Transport, Chain>;
  publicClient: PublicClient;
  /** Atomic token units (6 decimals: 1 = one micro-USD) locked at open; vouchers never exceed it. */
  deposit: bigint;
  fetch?: typeof fetch;
  /** How long a mid-stream voucher (HEAD) may take before the stream fails; default 30 s. */
  voucherTimeoutMs?: number;
};

export type SessionClient = {
  /** A fetch for `new OpenAI({ apiKey: 'unused', baseURL, fetch: session.fetch })`. */
  fetch: typeof fetch;
  /** Cooperative close at `url` (default: the last URL requested); resolves to the server's receipt. */
  close(url?: string): Promise<SessionReceipt>;
  readonly channelId: Hex | null;
  readonly lastReceipt: SessionReceipt | null;
  /** `spent` of the last receipt, 0 before any. */
  readonly spent: bigint;
  /** The highest cumulative amount signed so far. */
  readonly signed: bigint;
};

const DEFAULT_VOUCHER_TIMEOUT_MS = 30_000;
const ERROR_HEADER = 'x-tollgate-error';

// The 402 body fields this client acts on; everything else in it (an x402 offer, prose) is ignored.
const paymentRequiredBody = z.object({
  type: z.string().optional(),
  requiredCumulative: z
    .string()
    .regex(/^(0|[1-9][0-9]*)$/)
    .optional(),
});

type Channel = { id: Hex; chainId: number; escrowContract: Hex; currency: Hex; recipient: Hex; salt: Hex; openTxHash: Hex };

/** How many times one request is sent again after a 402 that changed what to pay with. */
const MAX_RETRIES = 3;

export function createSessionClient(options: SessionClientOptions): SessionClient {
  const { account, walletClient, publicClient, deposit } = options;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const voucherTimeoutMs = options.voucherTimeoutMs ?? DEFAULT_VOUCHER_TIMEOUT_MS;
  if (deposit <= 0n) throw new RangeError('deposit must be positive');

  let challenge: SessionChallenge | null = null;
  let channel: Channel | null = null;
  // Shared by concurrent first requests: one channel per client, opened once.
  let opening: Promise<Channel> | null = null;
  // Until a response to an open credential succeeds, every credential re-sends the open (the server
  // may not have seen it); after that, plain vouchers.
  let openAccepted = false;
  let latest: { amount: bigint; signature: Hex } | null = null;
  let lastReceipt: SessionReceipt | null = null;
  let lastUrl: string | null = null;
  let closed = false;
  const inFlightVouchers = new Set<Promise<void>>();

  function voucherContext(c: Channel) {
    return { chainId: c.chainId, escrowContract: c.escrowContract };
  }

  /** Signs `amount` unless a voucher at least as high exists; returns the highest voucher. */
  async function signUpTo(c: Channel, amount: bigint): Promise<{ amount: bigint; signature: Hex }> {
    if (latest && amount <= latest.amount) return latest;
    const signature = await signVoucher(account, voucherContext(c), { channelId: c.id, cumulativeAmount: amount });
    // Another caller may have signed higher while this one awaited: never move backwards.
    if (!latest || amount > latest.amount) latest = { amount, signature };
    return latest;
  }

  function recordReceipt(receipt: SessionReceipt): void {
    if (channel && receipt.channelId !== channel.id) throw new Error(`session receipt names channel ${receipt.channelId}, not ${channel.id}`);
    // Concurrent requests' receipts may arrive out of order; spent only grows on the server.
    if (!lastReceipt || BigInt(receipt.spent) >= BigInt(lastReceipt.spent)) lastReceipt = receipt;
  }

  function recordReceiptHeader(response: Response): void {
    const header = response.headers.get(RECEIPT_HEADER);
    if (header !== null) recordReceipt(parseSessionReceipt(header));
  }

  /** The session challenge in a 402, or null when the 402 carries no Payment challenge at all. */
  function challengeOf(response: Response): SessionChallenge | null {
    const header = response.headers.get('www-authenticate');
    if (header === null) return null;
    const hasPayment = parseAuthChallenges(header).some((c) => c.scheme.toLowerCase() === PAYMENT_SCHEME.toLowerCase());
    // A malformed Payment challenge throws here: paying against a guess is worse than failing.
    return hasPayment ? parseSessionChallenge(header) : null;
  }

  async function openChannel(from: SessionChallenge): Promise<Channel> {
    const { currency, recipient, methodDetails } = from.request;
    const { chainId, escrowContract } = methodDetails;
    if (walletClient.chain.id !== chainId) {
      throw new Error(`the server asks for chain ${chainId}, the wallet client is on chain ${walletClient.chain.id}`);
    }
    const salt = toHex(crypto.getRandomValues(new Uint8Array(32)));
    // Approve exactly the deposit: a wrong escrow address in a challenge can take no more than that.
    const approveHash = await walletClient.writeContract({
      account,
      chain: walletClient.chain,
      address: currency,
      abi: erc20Abi,
      functionName: 'approve',
      args: [escrowContract, deposit],
    });
    await mined(approveHash, 'approve');
    const openTxHash = await walletClient.writeContract({
      account,
      chain: walletClient.chain,
      address: escrowContract,
      abi: SESSION_ESCROW_ABI,
      functionName: 'open',
      args: [recipient, currency, deposit, salt, zeroAddress],
    });
    await mined(openTxHash, 'open');
    const id = computeChannelId({ payer: account.address, payee: recipient, token: currency, salt, authorizedSigner: zeroAddress, escrowContract, chainId });
    return { id, chainId, escrowContract, currency, recipient, salt, openTxHash };
  }

  async function mined(hash: Hex, what: string): Promise<void> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`session ${what} transaction ${hash} reverted`);
  }

  async function ensureChannel(from: SessionChallenge): Promise<Channel> {
    if (channel) return channel;
    opening ??= openChannel(from).then(
      (c) => (channel = c),
      (error: unknown) => {
        // A failed open may be retried by the next request (approving again is harmless).
        opening = null;
        throw error;
      },
    );
    return opening;
  }

  /** The challenge a 402 brings, kept only when it still describes this client's channel. */
  function adopt(next: SessionChallenge): void {
    if (channel) {
      const { currency, recipient, methodDetails } = next.request;
      const same =
        methodDetails.chainId === channel.chainId &&
        isAddressEqual(methodDetails.escrowContract, channel.escrowContract) &&
        isAddressEqual(currency, channel.currency) &&
        isAddressEqual(recipient, channel.recipient);
      if (!same) throw new Error('the server now asks for a different chain, escrow, token or payee than the open channel');
    }
    challenge = next;
  }

  function credential(c: Channel, payload: SessionPayloadInput): string {
    if (!challenge) throw new Error('no session challenge yet');
    const source = payload.action === 'open' ? didPkh(c.chainId, account.address) : undefined;
    return buildSessionCredential({ challenge, payload, ...(source !== undefined && { source }) });
  }

  function paymentCredential(c: Channel): string {
    if (!latest) throw new Error('no voucher signed yet');
    const cumulativeAmount = String(latest.amount);
    return openAccepted
      ? credential(c, { action: 'voucher', channelId: c.id, cumulativeAmount, signature: latest.signature })
      : credential(c, { action: 'open', type: 'hash', channelId: c.id, hash: c.openTxHash, cumulativeAmount, signature: latest.signature, salt: c.salt });
  }

  /** What the server asks for in a 402, clamped to the deposit; null when the body does not say. */
  function required(body: z.infer<typeof paymentRequiredBody> | null): bigint | null {
    if (body?.requiredCumulative === undefined) return null;
    return atMostDeposit(BigInt(body.requiredCumulative));
  }

  function atMostDeposit(amount: bigint): bigint {
    return amount < deposit ? amount : deposit;
  }

  async function sendVoucher(url: string, amount: bigint): Promise<void> {
    const c = channel;
    if (!c) throw new Error('payment-need-voucher before the channel is open');
    const before = latest?.amount ?? 0n;
    const target = atMostDeposit(amount);
    if (target <= before) return;
    await signUpTo(c, target);
    const response = await baseFetch(url, {
      method: 'HEAD',
      headers: { Authorization: paymentCredential(c) },
      signal: AbortSignal.timeout(voucherTimeoutMs),
    });
    if (response.status !== 200) throw new Error(`voucher refused: ${response.status} ${response.headers.get(ERROR_HEADER) ?? ''}`.trim());
    recordReceiptHeader(response);
  }

  function onEvent(url: string, event: SessionEvent): void | Promise<void> {
    if (event.event === 'payment-receipt') return recordReceipt(event.data);
    if (channel && event.data.channelId !== channel.id) throw new Error(`payment-need-voucher names channel ${event.data.channelId}, not ${channel.id}`);
    const sending = sendVoucher(url, BigInt(event.data.requiredCumulative));
    inFlightVouchers.add(sending);
    const forget = () => void inFlightVouchers.delete(sending);
    sending.then(forget, forget);
    return sending;
  }

  function finish(url: string, response: Response): Response {
    recordReceiptHeader(response);
    const type = response.headers.get('content-type') ?? '';
    if (!response.body || !type.toLowerCase().startsWith('text/event-stream')) return response;
    const body = response.body.pipeThrough(paymentEventFilter((event) => onEvent(url, event)));
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }

  async function readPaymentRequired(response: Response): Promise<{ text: string; body: z.infer<typeof paymentRequiredBody> | null }> {
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      return { text, body: null };
    }
    const parsed = paymentRequiredBody.safeParse(json);
    return { text, body: parsed.success ? parsed.data : null };
  }

  const sessionFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (closed) throw new Error('the session is closed');
    const request = input instanceof Request ? input : null;
    const url = request ? request.url : String(input);
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const headers = new Headers(request?.headers);
    new Headers(init?.headers).forEach((value, key) => headers.set(key, value));
    // The SDK's placeholder API key must not reach the server: the payment is the credential.
    headers.delete('authorization');
    headers.delete('x-api-key');
    // Read once so every attempt can send the same bytes.
    let body: ArrayBuffer | null = null;
    if (init?.body != null) body = await new Response(init.body).arrayBuffer();
    else if (request && method !== 'GET' && method !== 'HEAD') body = await request.arrayBuffer();
    const signal = init?.signal ?? request?.signal ?? null;
    lastUrl = url;

    const attempt = (authorization: string | null): Promise<Response> => {
      const h = new Headers(headers);
      if (authorization !== null) h.set('Authorization', authorization);
      return baseFetch(url, { method, headers: h, body, signal, redirect: init?.redirect ?? 'follow' });
    };

    let response: Response;
    if (!channel && !opening) {
      // No channel yet: ask without paying; a session server answers 402 with its challenge.
      response = await attempt(null);
      if (response.status !== 402) return finish(url, response);
      const offered = challengeOf(response);
      // Not a session server (or an x402-only offer): the caller sees the 402 unchanged.
      if (!offered) return response;
      const { body: asked } = await readPaymentRequired(response);
      // A concurrent first request may have started the open meanwhile: its challenge stands.
      if (!channel && !opening) adopt(offered);
      const opened = await ensureChannel(offered);
      await signUpTo(opened, required(asked) ?? atMostDeposit(BigInt(offered.request.amount)));
    }
    const c = channel ?? (await opening);
    if (!c || !challenge) throw new Error('session channel is not open');
    // Joined an open another request started: pay at least one unit; a 402 says if more is needed.
    if (!latest) await signUpTo(c, atMostDeposit(BigInt(challenge.request.amount)));

    // A few tries, each only after something changed (a fresh challenge, a higher voucher): another
    // instance's challenge and then a voucher, or a concurrent call taking the money first.
    let retries = 0;
    for (;;) {
      const sentOpen = !openAccepted;
      response = await attempt(paymentCredential(c));
      if (response.status !== 402) {
        if (sentOpen && response.ok) openAccepted = true;
        return finish(url, response);
      }
      const { text, body: asked } = await readPaymentRequired(response);
      const replay = () => new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
      if (retries >= MAX_RETRIES) return replay();
      retries++;
      let changed = false;
      const offered = challengeOf(response);
      if (offered && offered.id !== challenge?.id) {
        adopt(offered);
        changed = true;
      }
      const need = required(asked);
      if (need !== null && need > (latest?.amount ?? 0n)) {
        await signUpTo(c, need);
        changed = true;
      }
      if (!changed) return replay();
    }
  };

  async function close(url?: string): Promise<SessionReceipt> {
    const c = channel;
    const target = url ?? lastUrl;
    if (!c || !challenge) throw new Error('no open session channel to close');
    if (!target) throw new Error('close needs a URL: no request was made through this session');
    // A voucher still in flight would race the close on the server.
    await Promise.allSettled([...inFlightVouchers]);
    const spent = lastReceipt ? BigInt(lastReceipt.spent) : 0n;
    // Signed for exactly what was spent, not the highest voucher: the difference goes back to the payer.
    const signature = await signVoucher(account, voucherContext(c), { channelId: c.id, cumulativeAmount: spent });
    const send = () => baseFetch(target, { method: 'HEAD', headers: { Authorization: credential(c, { action: 'close', channelId: c.id, cumulativeAmount: String(spent), signature }) } });
    let response = await send();
    // Closing through another instance than the last call went to: its challenge is the one to echo.
    const fresh = response.status === 402 ? challengeOf(response) : null;
    if (fresh && fresh.id !== challenge.id) {
      adopt(fresh);
      response = await send();
    }
    if (response.status !== 200) throw new Error(`session close refused: ${response.status} ${response.headers.get(ERROR_HEADER) ?? ''}`.trim());
    const header = response.headers.get(RECEIPT_HEADER);
    if (header === null) throw new Error(`session close answered 200 without a ${RECEIPT_HEADER} header`);
    const receipt = parseSessionReceipt(header);
    recordReceipt(receipt);
    closed = true;
    return receipt;
  }

  return {
    fetch: sessionFetch as typeof fetch,
    close,
    get channelId() {
      return channel?.id ?? null;
    },
    get lastReceipt() {
      return lastReceipt;
    },
    get spent() {
      return lastReceipt ? BigInt(lastReceipt.spent) : 0n;
    },
    get signed() {
      return latest?.amount ?? 0n;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SSE: strip the payment events, pass everything else through byte for byte

const LF = 0x0a;
const CR = 0x0d;

/**
 * A TransformStream over an SSE body that hands `payment-need-voucher` and `payment-receipt` events
 * to `onEvent` and drops them (an SDK would yield their data as model chunks), passing every other
 * event through with its original bytes, blank line included. A malformed payment event errors the
 * stream; so does a rejected `onEvent` promise, at once if the stream is still open and at the
 * latest before it ends, so a failed mid-stream payment never looks like a complete answer.
 */
export function paymentEventFilter(onEvent: (event: SessionEvent) => void | Promise<void>): TransformStream<Uint8Array, Uint8Array> {
  let buffer: Uint8Array = new Uint8Array(0);
  // Scanning resumes here: bytes before it hold no complete event.
  let scanFrom = 0;
  let lineStart = 0;
  const pending: Promise<void>[] = [];
  let failure: { error: unknown } | null = null;
  const decoder = new TextDecoder();

  function handle(bytes: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>): void {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of decoder.decode(bytes).split(/\r\n|\r|\n/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    const parsed = parseSessionEvent(event, data.join('\n'));
    if (!parsed) {
      controller.enqueue(bytes);
      return;
    }
    const result = onEvent(parsed);
    if (result) {
      pending.push(
        result.catch((error: unknown) => {
          failure ??= { error };
          try {
            controller.error(error);
          } catch {
            // Already closed or errored: flush reports it, or the stream's outcome already did.
          }
        }),
      );
    }
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const joined = new Uint8Array(buffer.length + chunk.length);
      joined.set(buffer);
      joined.set(chunk, buffer.length);
      buffer = joined;
      let i = scanFrom;
      let eventStart = 0;
      while (i < buffer.length) {
        const byte = buffer[i]!;
        if (byte !== LF && byte !== CR) {
          i++;
          continue;
        }
        // A CR at the end of the data may be the first half of CRLF: wait for the next byte.
        if (byte === CR && i + 1 === buffer.length) break;
        const width = byte === CR && buffer[i + 1] === LF ? 2 : 1;
        const emptyLine = i === lineStart;
        i += width;
        lineStart = i;
        if (emptyLine) {
          handle(buffer.subarray(eventStart, i), controller);
          eventStart = i;
        }
      }
      buffer = buffer.slice(eventStart);
      scanFrom = i - eventStart;
      lineStart -= eventStart;
    },
    async flush(controller) {
      // An unterminated last event is no event to an SSE parser; its bytes still pass unchanged.
      if (buffer.length > 0) controller.enqueue(buffer);
      await Promise.all(pending);
      if (failure) throw failure.error;
    },
  });
}
