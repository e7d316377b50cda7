import type { ApiRequest } from '../../http/api-request';
import { z } from 'zod';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from '../../http/json';
import type { X402Config } from './config';

/**
 * The x402 wire formats, both versions (github.com/coinbase/x402, specs/x402-specification-v1.md
 * and -v2.md, as the official clients x402-fetch 1.x and @x402/fetch 2.x read and write them):
 * - v1: the 402 body `{ x402Version: 1, accepts: [requirements], error }`; the client pays in the
 *   `X-PAYMENT` header; the receipt comes back in `X-PAYMENT-RESPONSE`. Networks by name.
 * - v2: the requirements in a `PAYMENT-REQUIRED` header; the client pays in `PAYMENT-SIGNATURE`;
 *   the receipt is `PAYMENT-RESPONSE`. Networks as CAIP-2 ids (`eip155:84532`).
 * Every header is base64 of UTF-8 JSON.
 */

export const HEADERS = {
  paymentRequired: 'PAYMENT-REQUIRED',
  paymentSignature: 'PAYMENT-SIGNATURE',
  paymentResponse: 'PAYMENT-RESPONSE',
  xPayment: 'X-PAYMENT',
  xPaymentResponse: 'X-PAYMENT-RESPONSE',
} as const;

export function encodeHeader(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** base64 (standard or URL-safe) JSON → value; null when it is neither. */
export function decodeHeader(value: string): unknown {
  const text = value.trim();
  if (!text || text.length > 16_384 || !BASE64.test(text)) return null;
  try {
    const json = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    // A payment header is a few levels deep; deeper nesting is an attack on whatever walks it next.
    if (jsonDepthExceeds(json, MAX_JSON_DEPTH)) return null;
    return JSON.parse(json) as unknown;
  } catch {
    return null;
  }
}

export type RequirementsV1 = {
  scheme: 'exact';
  network: string;
  maxAmountRequired: string;
  resource: string;
  description: string;
  mimeType: string;
  payTo: string;
  maxTimeoutSeconds: number;
  asset: string;
  extra: { name: string; version: string };
};

export type RequirementsV2 = {
  scheme: 'exact';
  network: string;
  amount: string;
  asset: string;
  payTo: string;
  maxTimeoutSeconds: number;
  extra: { name: string; version: string };
};

export type PaymentRequiredV2 = {
  x402Version: 2;
  error?: string;
  resource: { url: string; description: string; mimeType: string };
  accepts: RequirementsV2[];
};

/** What one request costs and where it is paid to, in both versions' shapes. */
export function paymentRequirements(config: X402Config, input: { atomic: bigint; resource: string; description: string; mimeType: string }) {
  const extra = { name: config.assetName, version: config.assetVersion };
  const v1: RequirementsV1 = {
    scheme: 'exact',
    // A chain v1 has no name for is still described, by its CAIP-2 id: v1 clients cannot pay it
    // (their network list is closed), v2 clients read the header instead.
    network: config.v1Network ?? config.network,
    maxAmountRequired: input.atomic.toString(),
    resource: input.resource,
    description: input.description,
    mimeType: input.mimeType,
    payTo: config.payTo,
    maxTimeoutSeconds: config.maxTimeoutSeconds,
    asset: config.asset,
    extra,
  };
  const v2: RequirementsV2 = {
    scheme: 'exact',
    network: config.network,
    amount: input.atomic.toString(),
    asset: config.asset,
    payTo: config.payTo,
    maxTimeoutSeconds: config.maxTimeoutSeconds,
    extra,
  };
  return { v1, v2 };
}

const uint = z.union([z.string().regex(/^\d{1,78}$/), z.number().int().nonnegative()]).transform((value) => BigInt(value));
const hexAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte hex address');

export const authorizationSchema = z.object({
  from: hexAddress,
  to: hexAddress,
  value: uint,
  validAfter: uint,
  validBefore: uint,
  nonce: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 32 bytes of hex'),
});

const exactEvmPayload = z.object({
  signature: z.string().regex(/^0x[0-9a-fA-F]+$/, 'must be hex'),
  authorization: authorizationSchema,
});

const paymentV1Schema = z.object({
  x402Version: z.literal(1),
  scheme: z.string(),
  network: z.string(),
  payload: exactEvmPayload,
});

const paymentV2Schema = z.object({
  x402Version: z.literal(2),
  accepted: z.object({
    scheme: z.string(),
    network: z.string(),
    amount: z.string(),
    asset: z.string(),
    payTo: z.string(),
  }),
  payload: exactEvmPayload,
});

export type Authorization = z.infer<typeof authorizationSchema>;

/** A decoded payment, the same shape whichever version carried it. */
export type PaymentPayload = {
  version: 1 | 2;
  scheme: string;
  network: string;
  /** v2 names the asset and pay-to it accepted; v1 leaves them implicit in the signature. */
  asset: string | null;
  payTo: string | null;
  signature: `0x${string}`;
  authorization: Authorization;
  /** As received, for a facilitator. */
  raw: unknown;
};

export type DecodeResult = { ok: true; payment: PaymentPayload } | { ok: false; reason: string; message: string };

/** The payment a request carries, if any: `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1). */
export function readPaymentHeader(request: ApiRequest): { header: string; value: string } | null {
  for (const header of [HEADERS.paymentSignature, HEADERS.xPayment]) {
    const value = request.headers.get(header);
    if (value) return { header, value };
  }
  return null;
}

export function decodePayment(value: string): DecodeResult {
  const json = decodeHeader(value);
  if (json === null) return { ok: false, reason: 'invalid_payload', message: 'The payment header is not base64-encoded JSON.' };
  const version = typeof json === 'object' && json !== null && 'x402Version' in json ? (json as { x402Version: unknown }).x402Version : undefined;
  if (version !== 1 && version !== 2) return { ok: false, reason: 'invalid_x402_version', message: 'The payment names no supported x402Version (1 or 2).' };
  const parsed = version === 1 ? paymentV1Schema.safeParse(json) : paymentV2Schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: 'invalid_payload', message: `The payment is malformed at ${issue.path.join('.') || 'its root'}: ${issue.message}.` };
  }
  const data = parsed.data;
  const signature = data.payload.signature as `0x${string}`;
  if (data.x402Version === 1) {
    return { ok: true, payment: { version: 1, scheme: data.scheme, network: data.network, asset: null, payTo: null, signature, authorization: data.payload.authorization, raw: json } };
  }
  return {
    ok: true,
    payment: { version: 2, scheme: data.accepted.scheme, network: data.accepted.network, asset: data.accepted.asset, payTo: data.accepted.payTo, signature, authorization: data.payload.authorization, raw: json },
  };
}

/** The receipt a paid response carries (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`). */
export function settlementHeaders(input: { transaction: string; network: string; payer: string }): Record<string, string> {
  const encoded = encodeHeader({ success: true, transaction: input.transaction, network: input.network, payer: input.payer });
  return { [HEADERS.paymentResponse]: encoded, [HEADERS.xPaymentResponse]: encoded, 'access-control-expose-headers': `${HEADERS.paymentResponse}, ${HEADERS.xPaymentResponse}` };
}
