import { getAddress, isAddress, type Address, type Hex } from 'viem';
import { z } from 'zod';

/**
 * x402 configuration, from the environment. Pay-per-request is on when `X402_PAY_TO` is set;
 * settlement is a separate switch that stays off unless asked for, so a fresh instance can show a
 * challenge to a client under test without ever moving money.
 */

/** A network Tollgate knows the USDC contract of, with the EIP-712 domain that contract signs with. */
type KnownNetwork = { caip2: string; chainId: number; v1Name: string; asset: Address; assetName: string; assetVersion: string };

// The names differ on purpose: Circle's Base mainnet contract says "USD Coin", the Base Sepolia one
// "USDC" (both version "2"); a signature over the wrong name recovers to a stranger's address.
export const KNOWN_NETWORKS: Record<string, KnownNetwork> = {
  base: { caip2: 'eip155:8453', chainId: 8453, v1Name: 'base', asset: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', assetName: 'USD Coin', assetVersion: '2' },
  'base-sepolia': { caip2: 'eip155:84532', chainId: 84532, v1Name: 'base-sepolia', asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e', assetName: 'USDC', assetVersion: '2' },
};

export type SettlementMode = 'off' | 'facilitator' | 'local';

export type X402Config = {
  payTo: Address;
  /** CAIP-2 id, as v2 names networks (`eip155:84532`). */
  network: string;
  chainId: number;
  /** The v1 name of the network (`base-sepolia`), or null on a chain v1 has no name for. */
  v1Network: string | null;
  asset: Address;
  assetName: string;
  assetVersion: string;
  assetDecimals: number;
  maxTimeoutSeconds: number;
  settlement: SettlementMode;
  facilitatorUrl: string | null;
  rpcUrl: string | null;
  relayerPrivateKey: Hex | null;
};

const address = z
  .string()
  .trim()
  .refine((value) => isAddress(value, { strict: false }), 'must be a 0x-prefixed 20-byte address')
  .transform((value) => getAddress(value));

const optional = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

const envSchema = z
  .object({
    X402_PAY_TO: address,
    X402_NETWORK: z.string().trim().default('base-sepolia'),
    X402_ASSET: address.optional(),
    X402_ASSET_NAME: z.string().min(1).optional(),
    X402_ASSET_VERSION: z.string().min(1).optional(),
    X402_ASSET_DECIMALS: z.coerce.number().int().min(0).max(36).default(6),
    X402_MAX_TIMEOUT_SECONDS: z.coerce.number().int().min(10).max(3600).default(300),
    X402_SETTLEMENT: z.enum(['off', 'facilitator', 'local']).optional(),
    X402_FACILITATOR_URL: z.url({ protocol: /^https?$/ }).optional(),
    X402_RPC_URL: z.url({ protocol: /^https?$/ }).optional(),
    X402_RELAYER_PRIVATE_KEY: z
      .string()
      .trim()
      .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key')
      .transform((value) => value as Hex)
      .optional(),
  })
  .transform((env, ctx): X402Config => {
    const known = KNOWN_NETWORKS[env.X402_NETWORK];
    const caip = /^(?:eip155:)?(\d{1,12})$/.exec(env.X402_NETWORK);
    if (!known && !caip) {
      ctx.addIssue({ code: 'custom', path: ['X402_NETWORK'], message: `must be ${Object.keys(KNOWN_NETWORKS).join(' or ')}, or a chain id (CAIP-2 eip155:31337, or 31337)` });
      return z.NEVER;
    }
    const chainId = known?.chainId ?? Number(caip![1]);
    const sameKnown = known ?? Object.values(KNOWN_NETWORKS).find((n) => n.chainId === chainId);
    const asset = env.X402_ASSET ?? sameKnown?.asset;
    const assetName = env.X402_ASSET_NAME ?? (env.X402_ASSET ? undefined : sameKnown?.assetName);
    const assetVersion = env.X402_ASSET_VERSION ?? (env.X402_ASSET ? undefined : sameKnown?.assetVersion);
    if (!asset || !assetName || !assetVersion) {
      ctx.addIssue({ code: 'custom', path: ['X402_ASSET'], message: 'this network has no default token: set X402_ASSET, X402_ASSET_NAME and X402_ASSET_VERSION (its EIP-712 domain)' });
      return z.NEVER;
    }
    const settlement: SettlementMode = env.X402_SETTLEMENT ?? (env.X402_FACILITATOR_URL ? 'facilitator' : 'off');
    if (settlement === 'facilitator' && !env.X402_FACILITATOR_URL) {
      ctx.addIssue({ code: 'custom', path: ['X402_FACILITATOR_URL'], message: 'X402_SETTLEMENT=facilitator needs X402_FACILITATOR_URL' });
      return z.NEVER;
    }
    if (settlement === 'local' && (!env.X402_RPC_URL || !env.X402_RELAYER_PRIVATE_KEY)) {
      ctx.addIssue({ code: 'custom', path: ['X402_RPC_URL'], message: 'X402_SETTLEMENT=local needs X402_RPC_URL and X402_RELAYER_PRIVATE_KEY' });
      return z.NEVER;
    }
    return {
      payTo: env.X402_PAY_TO,
      network: `eip155:${chainId}`,
      chainId,
      v1Network: sameKnown?.v1Name ?? null,
      asset,
      assetName,
      assetVersion,
      assetDecimals: env.X402_ASSET_DECIMALS,
      maxTimeoutSeconds: env.X402_MAX_TIMEOUT_SECONDS,
      settlement,
      facilitatorUrl: env.X402_FACILITATOR_URL?.replace(/\/+$/, '') ?? null,
      rpcUrl: env.X402_RPC_URL ?? null,
      relayerPrivateKey: env.X402_RELAYER_PRIVATE_KEY ?? null,
    };
  });

export type X402ConfigState =
  | { state: 'disabled'; reason: string }
  | { state: 'misconfigured'; reason: string }
  | { state: 'enabled'; config: X402Config };

/** Reads the X402_* variables. Problems are reported by variable name, never with a value (the relayer key is a secret). */
export function loadX402Config(env: Record<string, string | undefined> = process.env): X402ConfigState {
  const raw = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('X402_')).map(([name, value]) => [name, optional(value)]));
  if (!raw.X402_PAY_TO) return { state: 'disabled', reason: 'X402_PAY_TO is not set' };
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'X402'}: ${issue.message}`).join('; ');
    return { state: 'misconfigured', reason };
  }
  return { state: 'enabled', config: parsed.data };
}

/** micro-USD → the token's atomic units, rounded up (the payer covers at least the cost). */
export function microsToAtomic(micros: bigint, decimals: number): bigint {
  if (decimals >= 6) return micros * 10n ** BigInt(decimals - 6);
  const divisor = 10n ** BigInt(6 - decimals);
  return micros <= 0n ? 0n : (micros + divisor - 1n) / divisor;
}

/** The token's atomic units → micro-USD, rounded down (never credit more than was paid). */
export function atomicToMicros(atomic: bigint, decimals: number): bigint {
  if (decimals >= 6) return atomic / 10n ** BigInt(decimals - 6);
  return atomic * 10n ** BigInt(6 - decimals);
}
