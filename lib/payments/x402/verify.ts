import { getAddress, isAddressEqual, recoverTypedDataAddress, type Address } from 'viem';
import type { X402Config } from './config';
import type { PaymentPayload } from './wire';

/** EIP-3009's typed data, as USDC (FiatTokenV2) defines it. */
export const TRANSFER_WITH_AUTHORIZATION_TYPES = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
} as const;

export function authorizationDomain(config: X402Config) {
  return { name: config.assetName, version: config.assetVersion, chainId: config.chainId, verifyingContract: config.asset } as const;
}

/** Seconds the authorization must stay valid for after verification: room to settle it on chain. */
export const SETTLEMENT_MARGIN_SECONDS = 6;

/** 10^18 atomic units (a trillion USDC): anything above is a mistake, and would not fit a 64-bit column. */
const MAX_VALUE = 10n ** 18n;

export type Verified = { ok: true; payer: Address };
export type Refused = { ok: false; reason: string; message: string };

/**
 * Everything that can be checked without the chain or the database, in the order a client most
 * needs to hear about it. The reasons are the x402 specification's own codes.
 */
export async function verifyPayment(config: X402Config, payment: PaymentPayload, required: bigint, now = new Date()): Promise<Verified | Refused> {
  const refuse = (reason: string, message: string): Refused => ({ ok: false, reason, message });
  if (payment.scheme !== 'exact') return refuse('invalid_scheme', `Only the "exact" scheme is accepted, not "${payment.scheme}".`);
  const expectedNetwork = payment.version === 1 ? (config.v1Network ?? config.network) : config.network;
  if (payment.network !== expectedNetwork) return refuse('invalid_network', `This instance is paid on ${expectedNetwork}, not ${payment.network}.`);
  if (payment.asset !== null && !sameAddress(payment.asset, config.asset)) return refuse('invalid_payment_requirements', `This instance is paid in the token at ${config.asset}, not ${payment.asset}.`);
  const auth = payment.authorization;
  if (!sameAddress(auth.to, config.payTo) || (payment.payTo !== null && !sameAddress(payment.payTo, config.payTo))) {
    return refuse('invalid_exact_evm_payload_recipient_mismatch', `The authorization pays ${auth.to}; this instance is paid at ${config.payTo}.`);
  }
  if (auth.value > MAX_VALUE) return refuse('invalid_exact_evm_payload_authorization_value', 'The authorization is for an implausibly large amount.');
  if (auth.value < required) {
    return refuse('invalid_exact_evm_payload_authorization_value', `The authorization is for ${auth.value} atomic units; this request needs ${required}.`);
  }
  const seconds = BigInt(Math.floor(now.getTime() / 1000));
  if (auth.validAfter > seconds) return refuse('invalid_exact_evm_payload_authorization_valid_after', 'The authorization is not valid yet (validAfter is in the future).');
  if (auth.validBefore <= seconds + BigInt(SETTLEMENT_MARGIN_SECONDS)) {
    return refuse('invalid_exact_evm_payload_authorization_valid_before', 'The authorization has expired (validBefore has passed or leaves no time to settle).');
  }
  if (auth.validBefore > seconds + BigInt(config.maxTimeoutSeconds) + 60n) {
    return refuse('invalid_exact_evm_payload_authorization_valid_before', `The authorization is valid for longer than this instance's ${config.maxTimeoutSeconds} s timeout.`);
  }
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({
      domain: authorizationDomain(config),
      types: TRANSFER_WITH_AUTHORIZATION_TYPES,
      primaryType: 'TransferWithAuthorization',
      message: { from: getAddress(auth.from), to: getAddress(auth.to), value: auth.value, validAfter: auth.validAfter, validBefore: auth.validBefore, nonce: auth.nonce as `0x${string}` },
      signature: payment.signature,
    });
  } catch {
    return refuse('invalid_exact_evm_payload_signature', 'The signature is not a valid secp256k1 signature.');
  }
  if (!isAddressEqual(signer, getAddress(auth.from))) {
    return refuse('invalid_exact_evm_payload_signature', `The signature does not recover to the payer ${auth.from} over this token's TransferWithAuthorization.`);
  }
  return { ok: true, payer: getAddress(auth.from) };
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
