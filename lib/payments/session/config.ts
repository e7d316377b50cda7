import { getAddress, isAddress, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import { usdToMicros, type Micros } from '../../money';

/**
 * Pay-per-token sessions, from the environment. On when SESSION_ESCROW is set. The payee is the
 * account of SESSION_PAYEE_PRIVATE_KEY: the escrow lets only the payee close a channel, so the
 * server holds that key (it pays the close's gas too). The token must be a 6-decimal USD
 * stablecoin (USDC, USDT): one atomic unit is one micro-dollar, the ledger's unit, so vouchers,
 * holds and receipts count the same thing and nothing is ever rounded.
 */
export type SessionConfig = {
  chainId: number;
  rpcUrl: string;
  escrow: Address;
  token: Address;
  payee: Address;
  payeePrivateKey: Hex;
  /** Binds challenges to this server: the HMAC key of their ids (the spec's stateless challenge). */
  secret: string;
  /** The least unspent deposit a channel must have to be opened here. */
  minDeposit: Micros;
  /** Suggested to clients in the challenge. */
  suggestedDeposit: Micros;
  confirmations: number;
  /** How long a challenge may be echoed; a client then takes the fresh one from the 402. */
  challengeTtlMs: number;
  /** How long a stream waits for the voucher it asked for before it ends, billed for what was produced. */
  voucherTimeoutMs: number;
  /** An open channel unused this long is closed by the sweeper with its highest voucher. */
  idleCloseMs: number;
};

const address = z
  .string()
  .trim()
  .refine((value) => isAddress(value, { strict: false }), 'must be a 0x-prefixed 20-byte address')
  .transform((value) => getAddress(value));
const usd = z
  .string()
  .trim()
  .transform((value, ctx) => {
    try {
      const micros = usdToMicros(value);
      if (micros > 0n) return micros;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'must be a positive dollar amount such as 1.00' });
    return z.NEVER;
  });
const positiveInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z.object({
  SESSION_ESCROW: address,
  SESSION_TOKEN: address,
  SESSION_CHAIN_ID: positiveInt(1, Number.MAX_SAFE_INTEGER),
  SESSION_RPC_URL: z.url({ protocol: /^https?$/ }),
  SESSION_PAYEE_PRIVATE_KEY: z
    .string()
    .trim()
    .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key')
    .transform((value) => value as Hex),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters'),
  SESSION_MIN_DEPOSIT_USD: usd.default(usdToMicros('1')),
  SESSION_SUGGESTED_DEPOSIT_USD: usd.default(usdToMicros('5')),
  SESSION_CONFIRMATIONS: positiveInt(1, 1000).default(1),
  SESSION_CHALLENGE_TTL_SECONDS: positiveInt(60, 7 * 24 * 3600).default(3600),
  SESSION_VOUCHER_TIMEOUT_MS: positiveInt(100, 10 * 60_000).default(15_000),
  SESSION_IDLE_CLOSE_MINUTES: positiveInt(1, 30 * 24 * 60).default(60),
});

export type SessionConfigState = { state: 'disabled'; reason: string } | { state: 'misconfigured'; reason: string } | { state: 'enabled'; config: SessionConfig };

/**
 * Reads the SESSION_* variables (SESSION_SECRET falls back to NEXTAUTH_SECRET / AUTH_SECRET, which
 * several instances already share). Problems are named by variable, never with a value.
 */
export function loadSessionConfig(env: Record<string, string | undefined> = process.env): SessionConfigState {
  const raw: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (name.startsWith('SESSION_') && value !== undefined && value.trim() !== '') raw[name] = value.trim();
  if (!raw.SESSION_ESCROW) return { state: 'disabled', reason: 'SESSION_ESCROW is not set' };
  raw.SESSION_SECRET ??= env.NEXTAUTH_SECRET?.trim() || env.AUTH_SECRET?.trim() || '';
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    return { state: 'misconfigured', reason: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'SESSION'}: ${issue.message}`).join('; ') };
  }
  const e = parsed.data;
  if (e.SESSION_SUGGESTED_DEPOSIT_USD < e.SESSION_MIN_DEPOSIT_USD) return { state: 'misconfigured', reason: 'SESSION_SUGGESTED_DEPOSIT_USD: must not be below SESSION_MIN_DEPOSIT_USD' };
  return {
    state: 'enabled',
    config: {
      chainId: e.SESSION_CHAIN_ID,
      rpcUrl: e.SESSION_RPC_URL,
      escrow: e.SESSION_ESCROW,
      token: e.SESSION_TOKEN,
      payee: privateKeyToAccount(e.SESSION_PAYEE_PRIVATE_KEY).address,
      payeePrivateKey: e.SESSION_PAYEE_PRIVATE_KEY,
      secret: e.SESSION_SECRET,
      minDeposit: e.SESSION_MIN_DEPOSIT_USD,
      suggestedDeposit: e.SESSION_SUGGESTED_DEPOSIT_USD,
      confirmations: e.SESSION_CONFIRMATIONS,
      challengeTtlMs: e.SESSION_CHALLENGE_TTL_SECONDS * 1000,
      voucherTimeoutMs: e.SESSION_VOUCHER_TIMEOUT_MS,
      idleCloseMs: e.SESSION_IDLE_CLOSE_MINUTES * 60_000,
    },
  };
}
