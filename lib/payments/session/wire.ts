import { createHmac, timingSafeEqual } from 'node:crypto';
import { getAddress, type Address, type Hex } from 'viem';
import { z } from 'zod';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from '../../http/json';
import { UINT128_MAX } from './voucher';

/**
 * The wire formats of the "Payment" HTTP authentication scheme for the session intent with the
 * "evm" method (tempoxyz/mpp-specs: specs/core/draft-httpauth-payment-00.md, the session intent
 * draft, specs/methods/evm/draft-evm-session-00.md, and its SSE events):
 * - the challenge: `WWW-Authenticate: Payment id=…, realm=…, method="evm", intent="session",
 *   request=<base64url JCS JSON>[, expires=…][, digest=…][, description=…][, opaque=…]`;
 * - the credential: `Authorization: Payment <base64url JSON { challenge, source?, payload }>`;
 * - the receipt: `Payment-Receipt: <base64url JSON>`, and the same JSON in `event: payment-receipt`;
 * - `event: payment-need-voucher` when a stream runs out of covered value.
 * Every parse either returns typed data or throws SessionWireError naming the field at fault.
 */

export const PAYMENT_SCHEME = 'Payment';
export const SESSION_METHOD = 'evm';
export const SESSION_INTENT = 'session';
export const RECEIPT_HEADER = 'Payment-Receipt';
export const SSE_EVENTS = { needVoucher: 'payment-need-voucher', receipt: 'payment-receipt' } as const;

/** The problem types a server answers with (core spec "Error Codes" and EVM session "Error Responses"). */
export type SessionProblem = 'malformed-credential' | 'invalid-challenge' | 'method-unsupported';

export class SessionWireError extends Error {
  readonly field: string;
  readonly problem: SessionProblem;
  constructor(field: string, message: string, problem: SessionProblem = 'malformed-credential') {
    super(`${field}: ${message}`);
    this.name = 'SessionWireError';
    this.field = field;
    this.problem = problem;
  }
}

// Headers are small; anything bigger is not a payment header (and would be a cheap way to burn CPU).
const MAX_HEADER_CHARS = 16_384;

// ---------------------------------------------------------------------------------------------
// Encodings

const BASE64URL_NOPAD = /^[A-Za-z0-9_-]+$/;

export function base64urlEncode(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function base64urlJson(value: string, field: string): unknown {
  if (value.length > MAX_HEADER_CHARS) throw new SessionWireError(field, 'is too long');
  if (!BASE64URL_NOPAD.test(value)) throw new SessionWireError(field, 'must be base64url without padding');
  const text = Buffer.from(value, 'base64url').toString('utf8');
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) throw new SessionWireError(field, 'is nested too deeply');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SessionWireError(field, 'is not base64url-encoded JSON');
  }
}

/**
 * JSON Canonicalization Scheme (RFC 8785) for the values these messages hold: object keys sorted by
 * UTF-16 code units (what Array.prototype.sort compares), no whitespace, ECMAScript number and
 * string serialization (JSON.stringify's). The challenge binding hashes the encoded request, so two
 * implementations must produce the same bytes.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('JCS cannot encode a non-finite number');
    if (value === undefined || typeof value === 'bigint' || typeof value === 'function') throw new TypeError(`JCS cannot encode ${typeof value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// Field schemas (EVM session "Encoding Conventions")

const uintString = z.string().regex(/^(0|[1-9][0-9]*)$/, 'must be a non-negative integer as a decimal string');
const uint128String = uintString.refine((s) => BigInt(s) <= UINT128_MAX, 'must fit in uint128');
// The session intent: a price is a positive integer, no sign, exponent or fraction.
const positiveString = z.string().regex(/^[1-9][0-9]*$/, 'must be a positive integer as a decimal string');
// Addresses compare by value, not spelling: any case is accepted and normalized to EIP-55.
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => getAddress(a.toLowerCase()));
// channelId, hashes and signatures are lowercase hex on the wire (spec); uppercase is refused, not fixed.
const bytes32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 0x-prefixed lowercase hex of 32 bytes').transform((s) => s as Hex);
const signature = z.string().regex(/^0x[0-9a-f]{130}$/, 'must be a 65-byte signature as 0x-prefixed lowercase hex').transform((s) => s as Hex);
const rfc3339 = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, 'must be an RFC 3339 date-time');
const chainId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** The decoded `request` of a session challenge (EVM session "Request Schema"). */
export const sessionRequestSchema = z.strictObject({
  amount: positiveString,
  unitType: z.string().min(1).max(64).optional(),
  suggestedDeposit: positiveString.optional(),
  currency: address,
  recipient: address,
  description: z.string().max(1024).optional(),
  externalId: z.string().max(256).optional(),
  methodDetails: z.strictObject({
    chainId,
    escrowContract: address,
    channelId: bytes32.optional(),
    minVoucherDelta: uintString.optional(),
    feePayer: z.boolean().optional(),
    credentialTypes: z.array(z.enum(['hash', 'authorization', 'permit2'])).min(1).optional(),
    permit2Contract: address.optional(),
  }),
});
export type SessionRequest = z.output<typeof sessionRequestSchema>;
export type SessionRequestInput = z.input<typeof sessionRequestSchema>;

/** The challenge as echoed in a credential (core spec, "Credentials"): `request` stays the wire string. */
const echoedChallengeSchema = z.strictObject({
  id: z.string().min(1),
  realm: z.string().min(1),
  method: z.literal(SESSION_METHOD),
  intent: z.literal(SESSION_INTENT),
  request: z.string().min(1),
  description: z.string().optional(),
  opaque: z.string().optional(),
  digest: z.string().optional(),
  expires: z.string().optional(),
});
export type EchoedChallenge = z.output<typeof echoedChallengeSchema>;

const openPayload = z.strictObject({
  action: z.literal('open'),
  // Only the client-broadcast open: this escrow has no openWithAuthorization / openWithPermit2.
  type: z.literal('hash'),
  channelId: bytes32,
  hash: bytes32,
  cumulativeAmount: uint128String,
  signature,
  authorizedSigner: address.optional(),
  salt: bytes32,
});
const topUpPayload = z.strictObject({
  action: z.literal('topUp'),
  type: z.literal('hash'),
  channelId: bytes32,
  hash: bytes32,
  additionalDeposit: positiveString.refine((s) => BigInt(s) <= UINT128_MAX, 'must fit in uint128'),
});
const voucherPayload = z.strictObject({ action: z.literal('voucher'), channelId: bytes32, cumulativeAmount: uint128String, signature });
const closePayload = z.strictObject({ action: z.literal('close'), channelId: bytes32, cumulativeAmount: uint128String, signature });

export const sessionPayloadSchema = z.discriminatedUnion('action', [openPayload, topUpPayload, voucherPayload, closePayload]);
export type SessionPayload = z.output<typeof sessionPayloadSchema>;
export type SessionPayloadInput = z.input<typeof sessionPayloadSchema>;

const credentialSchema = z
  .strictObject({
    challenge: echoedChallengeSchema,
    source: z.string().optional(),
    payload: sessionPayloadSchema,
  })
  .superRefine((credential, ctx) => {
    // A hash credential names no payer inside the payload: the server needs it to check the deposit.
    if ((credential.payload.action === 'open' || credential.payload.action === 'topUp') && credential.source === undefined) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'is required for a "hash" open or topUp (did:pkh:eip155:<chainId>:<payer>)' });
    }
  });
export type SessionCredential = z.output<typeof credentialSchema>;

/** The EVM session receipt (EVM session "Receipt Generation"); `reference` is always the channel id. */
export const sessionReceiptSchema = z
  .strictObject({
    method: z.literal(SESSION_METHOD),
    intent: z.literal(SESSION_INTENT),
    status: z.literal('success'),
    timestamp: rfc3339,
    reference: bytes32,
    challengeId: z.string().min(1),
    channelId: bytes32,
    chainId,
    acceptedCumulative: uint128String,
    spent: uint128String,
    units: z.number().int().nonnegative().optional(),
    txHash: bytes32.optional(),
    confirmations: z.number().int().nonnegative().optional(),
  })
  .refine((r) => r.reference === r.channelId, { path: ['reference'], message: 'must equal channelId' });
export type SessionReceipt = z.output<typeof sessionReceiptSchema>;

export const needVoucherSchema = z.strictObject({
  channelId: bytes32,
  requiredCumulative: uint128String,
  acceptedCumulative: uint128String,
  deposit: uint128String,
});
export type NeedVoucher = z.output<typeof needVoucherSchema>;

function parseWith<T extends z.ZodType>(schema: T, value: unknown, field: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // Unknown keys come back as one issue at the parent path listing them; name the first one.
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const path = [field, ...issue.path.map(String), ...keys.slice(0, 1)].join('.');
  throw new SessionWireError(path, issue.code === 'unrecognized_keys' ? 'is not a recognized field' : issue.message);
}

// ---------------------------------------------------------------------------------------------
// Challenge (WWW-Authenticate)

export type SessionChallenge = {
  id: string;
  realm: string;
  method: typeof SESSION_METHOD;
  intent: typeof SESSION_INTENT;
  request: SessionRequest;
  /** The `request` parameter exactly as sent: the credential echoes it, and the binding hashes it. */
  requestEncoded: string;
  expires?: string;
  digest?: string;
  description?: string;
  opaque?: string;
};

/** The request's wire form: JCS then base64url without padding (core spec, `request`). */
export function encodeSessionRequest(request: SessionRequestInput): string {
  return base64urlEncode(canonicalJson(parseWith(sessionRequestSchema, request, 'request')));
}

/**
 * The spec's recommended stateless challenge id: base64url(HMAC-SHA256(secret, realm|method|intent|
 * request|expires|digest|opaque)), absent optional slots empty. The server recomputes it to know a
 * credential echoes a challenge it issued, unmodified.
 */
export function challengeId(
  secret: string | Buffer,
  p: { realm: string; method: string; intent: string; request: string; expires?: string; digest?: string; opaque?: string },
): string {
  const input = [p.realm, p.method, p.intent, p.request, p.expires ?? '', p.digest ?? '', p.opaque ?? ''].join('|');
  return createHmac('sha256', secret).update(input, 'utf8').digest('base64url');
}

function quoted(value: string): string {
  // Header values are byte strings: a challenge with characters a header cannot carry is a bug here.
  if (/[\u0000-\u001f\u007f-\uffff]/.test(value)) throw new TypeError('challenge parameters must be printable ASCII');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Builds a session challenge. `id` is the HMAC binding above unless given; `expires` is an
 * RFC 3339 instant (servers SHOULD send one).
 */
export function buildSessionChallenge(input: {
  realm: string;
  request: SessionRequestInput;
  secret: string | Buffer;
  expires?: Date;
  digest?: string;
  description?: string;
}): { header: string; challenge: SessionChallenge } {
  const request = parseWith(sessionRequestSchema, input.request, 'request');
  const requestEncoded = base64urlEncode(canonicalJson(request));
  // Whole seconds: a shorter form clients and servers are likelier to parse identically.
  const expires = input.expires?.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const id = challengeId(input.secret, {
    realm: input.realm,
    method: SESSION_METHOD,
    intent: SESSION_INTENT,
    request: requestEncoded,
    expires,
    digest: input.digest,
  });
  const challenge: SessionChallenge = {
    id,
    realm: input.realm,
    method: SESSION_METHOD,
    intent: SESSION_INTENT,
    request,
    requestEncoded,
    ...(expires !== undefined && { expires }),
    ...(input.digest !== undefined && { digest: input.digest }),
    ...(input.description !== undefined && { description: input.description }),
  };
  const params: [string, string][] = [
    ['id', id],
    ['realm', input.realm],
    ['method', SESSION_METHOD],
    ['intent', SESSION_INTENT],
    ['request', requestEncoded],
  ];
  if (expires !== undefined) params.push(['expires', expires]);
  if (input.digest !== undefined) params.push(['digest', input.digest]);
  if (input.description !== undefined) params.push(['description', input.description]);
  return { header: `${PAYMENT_SCHEME} ${params.map(([k, v]) => `${k}=${quoted(v)}`).join(', ')}`, challenge };
}

type RawChallenge = { scheme: string; params: Record<string, string> };

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Splits a WWW-Authenticate value into its challenges (RFC 9110 §11.6.1: several may share one
 * field, and fetch joins repeated fields with ", "). Auth-params only; a token68 credential of
 * another scheme is skipped.
 */
export function parseAuthChallenges(header: string): RawChallenge[] {
  if (header.length > MAX_HEADER_CHARS) throw new SessionWireError('WWW-Authenticate', 'is too long');
  const out: RawChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (chars: string) => {
    while (i < n && chars.includes(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && TOKEN.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skip(' \t,');
    if (i >= n) break;
    const scheme = token();
    if (!scheme) throw new SessionWireError('WWW-Authenticate', `unexpected character ${JSON.stringify(header[i])} at ${i}`);
    const current: RawChallenge = { scheme, params: {} };
    out.push(current);
    skip(' \t');
    // token68 (e.g. `Bearer abc==`): another scheme's credential-like value; skip it.
    const segment = header.slice(i).split(',')[0]!.trim();
    if (/^[A-Za-z0-9\-._~+/]+=*$/.test(segment)) {
      i += header.slice(i).indexOf(segment) + segment.length;
      continue;
    }
    // Auth-params until a comma followed by something that is not `token =` (the next scheme).
    for (;;) {
      const mark = i;
      skip(' \t,');
      const name = token();
      skip(' \t');
      if (!name || header[i] !== '=') {
        i = mark;
        break;
      }
      i++;
      skip(' \t');
      let value: string;
      if (header[i] === '"') {
        i++;
        value = '';
        for (;;) {
          if (i >= n) throw new SessionWireError(`WWW-Authenticate.${name}`, 'has an unterminated quoted string');
          const c = header[i]!;
          if (c === '"') {
            i++;
            break;
          }
          if (c === '\\') {
            i++;
            if (i >= n) throw new SessionWireError(`WWW-Authenticate.${name}`, 'has an unterminated quoted string');
          }
          value += header[i]!;
          i++;
        }
      } else {
        value = token();
        if (!value) throw new SessionWireError(`WWW-Authenticate.${name}`, 'has no value');
      }
      const key = name.toLowerCase();
      if (key in current.params) throw new SessionWireError(`WWW-Authenticate.${name}`, 'appears twice');
      current.params[key] = value;
      skip(' \t');
      if (i < n && header[i] !== ',') throw new SessionWireError(`WWW-Authenticate.${name}`, 'must be followed by a comma');
    }
  }
  return out;
}

/** Parses one Payment challenge's auth-params into a typed session challenge. */
function toSessionChallenge(params: Record<string, string>): SessionChallenge {
  const field = (name: string) => `WWW-Authenticate.${name}`;
  for (const name of ['id', 'realm', 'method', 'intent', 'request']) {
    if (!params[name]) throw new SessionWireError(field(name), 'is required and must not be empty', 'invalid-challenge');
  }
  if (params.method !== SESSION_METHOD) throw new SessionWireError(field('method'), `must be "${SESSION_METHOD}"`, 'method-unsupported');
  if (params.intent !== SESSION_INTENT) throw new SessionWireError(field('intent'), `must be "${SESSION_INTENT}"`, 'method-unsupported');
  const request = parseWith(sessionRequestSchema, base64urlJson(params.request!, field('request')), field('request'));
  if (params.expires !== undefined) parseWith(rfc3339, params.expires, field('expires'));
  // Unknown auth-params are ignored: the core spec says clients MUST ignore them.
  return {
    id: params.id!,
    realm: params.realm!,
    method: SESSION_METHOD,
    intent: SESSION_INTENT,
    request,
    requestEncoded: params.request!,
    ...(params.expires !== undefined && { expires: params.expires }),
    ...(params.digest !== undefined && { digest: params.digest }),
    ...(params.description !== undefined && { description: params.description }),
    ...(params.opaque !== undefined && { opaque: params.opaque }),
  };
}

/**
 * The evm/session challenge among a WWW-Authenticate value's challenges. Payment challenges of
 * other methods or intents are passed over; throws when there is none, or when the one there is
 * malformed.
 */
export function parseSessionChallenge(header: string): SessionChallenge {
  const payments = parseAuthChallenges(header).filter((c) => c.scheme.toLowerCase() === PAYMENT_SCHEME.toLowerCase());
  if (payments.length === 0) throw new SessionWireError('WWW-Authenticate', 'has no Payment challenge', 'invalid-challenge');
  const sessions = payments.filter((c) => c.params.method === SESSION_METHOD && c.params.intent === SESSION_INTENT);
  return toSessionChallenge((sessions[0] ?? payments[0]!).params);
}

// ---------------------------------------------------------------------------------------------
// Credential (Authorization)

/** A credential's `source` for a payer address: did:pkh (EVM session, "Credential Structure"). */
export function didPkh(chainIdValue: number, payer: Address): string {
  return `did:pkh:eip155:${chainIdValue}:${payer.toLowerCase()}`;
}

/** The payer address a did:pkh source names, checked against the challenge's chain. */
export function parseDidPkh(source: string, expectedChainId: number): Address {
  const match = /^did:pkh:eip155:([1-9][0-9]*):(0x[0-9a-fA-F]{40})$/.exec(source);
  if (!match) throw new SessionWireError('source', 'must be did:pkh:eip155:<chainId>:<address>');
  if (Number(match[1]) !== expectedChainId) throw new SessionWireError('source', `names chain ${match[1]}, not ${expectedChainId}`);
  return getAddress(match[2]!.toLowerCase());
}

/** Builds the Authorization header value for a challenge and a payload. */
export function buildSessionCredential(input: { challenge: SessionChallenge; payload: SessionPayloadInput; source?: string }): string {
  const { challenge } = input;
  const echoed: EchoedChallenge = {
    id: challenge.id,
    realm: challenge.realm,
    method: challenge.method,
    intent: challenge.intent,
    request: challenge.requestEncoded,
    ...(challenge.description !== undefined && { description: challenge.description }),
    ...(challenge.opaque !== undefined && { opaque: challenge.opaque }),
    ...(challenge.digest !== undefined && { digest: challenge.digest }),
    ...(challenge.expires !== undefined && { expires: challenge.expires }),
  };
  const credential = parseWith(credentialSchema, { challenge: echoed, ...(input.source !== undefined && { source: input.source }), payload: input.payload }, 'credential');
  return `${PAYMENT_SCHEME} ${base64urlEncode(JSON.stringify(credential))}`;
}

/**
 * Parses an Authorization header value carrying a Payment credential. The echoed `request` is
 * decoded too (so a tampered echo fails here with a named field); whether the challenge is one this
 * server issued is the caller's check (verifyChallengeBinding).
 */
export function parseSessionCredential(header: string): SessionCredential & { request: SessionRequest } {
  const match = /^\s*Payment +([^\s]+)\s*$/i.exec(header);
  if (!match) throw new SessionWireError('Authorization', 'must be "Payment <base64url credential>"');
  const credential = parseWith(credentialSchema, base64urlJson(match[1]!, 'Authorization'), 'credential');
  const request = parseWith(sessionRequestSchema, base64urlJson(credential.challenge.request, 'credential.challenge.request'), 'credential.challenge.request');
  return { ...credential, request };
}

/** True when the echoed challenge carries the id this server's secret gives its parameters. */
export function verifyChallengeBinding(secret: string | Buffer, echoed: EchoedChallenge): boolean {
  const expected = Buffer.from(challengeId(secret, echoed));
  const given = Buffer.from(echoed.id);
  // Equal length first: timingSafeEqual throws otherwise.
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// ---------------------------------------------------------------------------------------------
// Receipt (Payment-Receipt header and payment-receipt event)

export type SessionReceiptInput = z.input<typeof sessionReceiptSchema>;

export function buildSessionReceipt(receipt: SessionReceiptInput): string {
  return base64urlEncode(JSON.stringify(parseWith(sessionReceiptSchema, receipt, 'receipt')));
}

export function parseSessionReceipt(header: string): SessionReceipt {
  return parseWith(sessionReceiptSchema, base64urlJson(header.trim(), RECEIPT_HEADER), 'receipt');
}

// ---------------------------------------------------------------------------------------------
// SSE events

/** `event: payment-need-voucher` with single-line JSON data, ready to write to the stream. */
export function formatNeedVoucherEvent(need: z.input<typeof needVoucherSchema>): string {
  return `event: ${SSE_EVENTS.needVoucher}\ndata: ${JSON.stringify(parseWith(needVoucherSchema, need, 'payment-need-voucher'))}\n\n`;
}

/** `event: payment-receipt`: the receipt JSON itself, not base64url (EVM session, "Receipt Generation"). */
export function formatReceiptEvent(receipt: SessionReceiptInput): string {
  return `event: ${SSE_EVENTS.receipt}\ndata: ${JSON.stringify(parseWith(sessionReceiptSchema, receipt, 'payment-receipt'))}\n\n`;
}

export type SessionEvent = { event: typeof SSE_EVENTS.needVoucher; data: NeedVoucher } | { event: typeof SSE_EVENTS.receipt; data: SessionReceipt };

/** A parsed SSE event's payment meaning; null for any other event (the model's own chunks). */
export function parseSessionEvent(event: string | undefined, data: string): SessionEvent | null {
  if (event !== SSE_EVENTS.needVoucher && event !== SSE_EVENTS.receipt) return null;
  let json: unknown;
  try {
    json = JSON.parse(data) as unknown;
  } catch {
    throw new SessionWireError(event, 'data is not JSON');
  }
  return event === SSE_EVENTS.needVoucher
    ? { event, data: parseWith(needVoucherSchema, json, event) }
    : { event, data: parseWith(sessionReceiptSchema, json, event) };
}
