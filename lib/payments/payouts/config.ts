import { type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import { usdToMicros, type Micros } from '../../money';
import { loadPaymentsConfig, NETWORK_IDS, PaymentsConfigError, type NetworkConfig } from '../networks';

/**
 * Seller earnings and payouts, from the environment.
 *
 * Earnings states need no chain: SELLER_HOLDING_DAYS and SELLER_PAYOUT_MIN_USD always apply.
 * Paying out needs SELLER_PAYOUT_NETWORK (one of the deposit networks, so its RPC, USDC contract
 * and confirmations are the ones deposits already use: RPC_URL_<NETWORK>, DEV_CHAIN_* for the
 * local chain) and SELLER_PAYOUT_PRIVATE_KEY, the hot wallet that holds the USDC to pay with.
 *
 * The key deliberately does NOT default to SESSION_PAYEE_PRIVATE_KEY: a payout is made exactly
 * once by signing it at a nonce of our choosing and storing it before it is sent, which only holds
 * if nothing else sends from that account. The session payee sends channel closes whenever a
 * payer asks; sharing the key would let a close take a payout's nonce.
 */
export type PayoutPolicy = {
  holdingMs: number;
  minimum: Micros;
};

export type PayoutChainConfig = {
  network: NetworkConfig;
  rpcUrl: string;
  chainId: number;
  token: Address;
  signerKey: Hex;
  signer: Address;
  confirmations: number;
};

export type PayoutConfigState =
  | { state: 'disabled'; policy: PayoutPolicy; reason: string }
  | { state: 'misconfigured'; policy: PayoutPolicy; reason: string }
  | { state: 'enabled'; policy: PayoutPolicy; chain: PayoutChainConfig };

const blank = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const policySchema = z.object({
  SELLER_HOLDING_DAYS: z.preprocess(blank, z.coerce.number().int().min(0).max(365).default(7)),
  SELLER_PAYOUT_MIN_USD: z.preprocess(
    blank,
    z
      .string()
      .trim()
      .default('10')
      .transform((value, ctx) => {
        try {
          const micros = usdToMicros(value);
          if (micros > 0n) return micros;
        } catch {
          // reported below
        }
        ctx.addIssue({ code: 'custom', message: 'must be a positive dollar amount such as 10' });
        return z.NEVER;
      }),
  ),
});

const chainSchema = z.object({
  SELLER_PAYOUT_NETWORK: z.enum(NETWORK_IDS),
  SELLER_PAYOUT_PRIVATE_KEY: z
    .string()
    .trim()
    .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key')
    .transform((value) => value as Hex),
});

const DEFAULT_POLICY: PayoutPolicy = { holdingMs: 7 * 86_400_000, minimum: 10_000_000n };

const issues = (error: z.ZodError) => error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');

/** Problems are named by variable, never with a value (the key is a secret). */
export function loadPayoutConfig(env: Record<string, string | undefined> = process.env): PayoutConfigState {
  const parsedPolicy = policySchema.safeParse(env);
  if (!parsedPolicy.success) return { state: 'misconfigured', policy: DEFAULT_POLICY, reason: issues(parsedPolicy.error) };
  const policy = { holdingMs: parsedPolicy.data.SELLER_HOLDING_DAYS * 86_400_000, minimum: parsedPolicy.data.SELLER_PAYOUT_MIN_USD };
  if (!blank(env.SELLER_PAYOUT_NETWORK) && !blank(env.SELLER_PAYOUT_PRIVATE_KEY)) {
    return { state: 'disabled', policy, reason: 'SELLER_PAYOUT_NETWORK and SELLER_PAYOUT_PRIVATE_KEY are not set' };
  }
  const parsed = chainSchema.safeParse({ SELLER_PAYOUT_NETWORK: blank(env.SELLER_PAYOUT_NETWORK)?.toString().trim(), SELLER_PAYOUT_PRIVATE_KEY: blank(env.SELLER_PAYOUT_PRIVATE_KEY) });
  if (!parsed.success) return { state: 'misconfigured', policy, reason: issues(parsed.error) };
  let network: NetworkConfig | undefined;
  try {
    network = loadPaymentsConfig(env).networks.find((n) => n.id === parsed.data.SELLER_PAYOUT_NETWORK);
  } catch (error) {
    if (error instanceof PaymentsConfigError) return { state: 'misconfigured', policy, reason: error.message };
    throw error;
  }
  const id = parsed.data.SELLER_PAYOUT_NETWORK;
  if (!network) return { state: 'misconfigured', policy, reason: `SELLER_PAYOUT_NETWORK: ${id} is not configured (set ${id === 'dev' ? 'DEV_CHAIN_RPC_URL' : `RPC_URL_${id.toUpperCase().replace(/-/g, '_')}`})` };
  if (!network.rpcUrl) return { state: 'misconfigured', policy, reason: `SELLER_PAYOUT_NETWORK: set ${network.rpcEnv} so payouts can be sent` };
  const token = network.tokens.USDC;
  if (!token) return { state: 'misconfigured', policy, reason: `SELLER_PAYOUT_NETWORK: ${network.name} has no USDC contract${id === 'dev' ? ' (set DEV_CHAIN_USDC)' : ''}` };
  const signerKey = parsed.data.SELLER_PAYOUT_PRIVATE_KEY;
  return {
    state: 'enabled',
    policy,
    chain: { network, rpcUrl: network.rpcUrl, chainId: network.chainId, token, signerKey, signer: privateKeyToAccount(signerKey).address, confirmations: network.confirmations },
  };
}
