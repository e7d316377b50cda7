import { hashTypedData, isAddressEqual, recoverAddress, type Address, type Hex, type LocalAccount } from 'viem';

/**
 * Vouchers (EVM session spec, "Voucher Signing Format"): EIP-712 typed data over a channel id and a
 * cumulative amount, under the domain ("EVM Payment Channel", "1", chainId, escrow contract).
 * The client signs with signVoucher; the server checks with verifyVoucher the same things the
 * escrow's _checkVoucher enforces on chain, so a voucher the server accepts is one it can settle.
 */

export const VOUCHER_DOMAIN_NAME = 'EVM Payment Channel';
export const VOUCHER_DOMAIN_VERSION = '1';
export const VOUCHER_TYPES = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint128' },
  ],
} as const;

export const UINT128_MAX = (1n << 128n) - 1n;
// secp256k1n / 2 (spec, Signature Verification): a larger s is the malleable twin of a valid signature.
const HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

export type VoucherContext = { chainId: number; escrowContract: Address };
export type Voucher = { channelId: Hex; cumulativeAmount: bigint };

export function voucherDomain({ chainId, escrowContract }: VoucherContext) {
  return { name: VOUCHER_DOMAIN_NAME, version: VOUCHER_DOMAIN_VERSION, chainId, verifyingContract: escrowContract } as const;
}

/** The EIP-712 signing hash the escrow's voucherDigest() returns. */
export function voucherDigest(context: VoucherContext, voucher: Voucher): Hex {
  return hashTypedData({ domain: voucherDomain(context), types: VOUCHER_TYPES, primaryType: 'Voucher', message: voucher });
}

/** Signs a cumulative voucher; returns the 65-byte r || s || v signature (v 27/28) as lowercase hex. */
export async function signVoucher(account: LocalAccount, context: VoucherContext, voucher: Voucher): Promise<Hex> {
  if (voucher.cumulativeAmount < 0n || voucher.cumulativeAmount > UINT128_MAX) throw new RangeError('cumulativeAmount is outside uint128');
  const signature = await account.signTypedData({ domain: voucherDomain(context), types: VOUCHER_TYPES, primaryType: 'Voucher', message: voucher });
  return signature.toLowerCase() as Hex;
}

export type VoucherCheck =
  | { ok: true; signer: Address }
  | { ok: false; problem: 'invalid-signature' | 'signer-mismatch'; message: string };

/**
 * Checks a voucher's signature against the channel's expected signer (its authorizedSigner, or the
 * payer when that is zero). Format and canonical-s checks come before recovery (spec, DoS).
 */
export async function verifyVoucher(
  context: VoucherContext,
  voucher: Voucher & { signature: string },
  expectedSigner: Address,
): Promise<VoucherCheck> {
  if (!SIGNATURE.test(voucher.signature)) {
    return { ok: false, problem: 'invalid-signature', message: 'signature must be 65 bytes (r || s || v) as 0x-prefixed hex' };
  }
  if (voucher.cumulativeAmount < 0n || voucher.cumulativeAmount > UINT128_MAX) {
    return { ok: false, problem: 'invalid-signature', message: 'cumulativeAmount is outside uint128' };
  }
  const signature = voucher.signature as Hex;
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  if (s > HALF_ORDER) return { ok: false, problem: 'invalid-signature', message: 'signature has a non-canonical (high) s value' };
  if (v !== 27 && v !== 28) return { ok: false, problem: 'invalid-signature', message: 'signature v must be 27 or 28' };
  let signer: Address;
  try {
    signer = await recoverAddress({ hash: voucherDigest(context, voucher), signature });
  } catch {
    return { ok: false, problem: 'invalid-signature', message: 'signature could not be recovered' };
  }
  if (!isAddressEqual(signer, expectedSigner)) {
    return { ok: false, problem: 'signer-mismatch', message: 'voucher is not signed by the channel signer' };
  }
  return { ok: true, signer };
}
