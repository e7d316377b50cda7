import { createPublicClient, defineChain, getAddress, http, isAddress, type Address, type Chain, type PublicClient } from 'viem';
import { arbitrum, base, baseSepolia, mainnet, polygon } from 'viem/chains';
import { z } from 'zod';

/**
 * Deposit networks and the payment configuration, validated in one place from the environment.
 *
 * Token contracts are the issuers' own (6 decimals each): Circle's native USDC and Tether's USDT.
 * Tether has no USDT contract on Base or Base Sepolia, so those networks accept USDC only; a local
 * development chain takes its token addresses from DEV_CHAIN_USDC / DEV_CHAIN_USDT.
 */

export const ASSETS = ['USDC', 'USDT'] as const;
export type Asset = (typeof ASSETS)[number];

export const NETWORK_IDS = ['ethereum', 'base', 'arbitrum', 'polygon', 'base-sepolia', 'dev'] as const;
export type NetworkId = (typeof NETWORK_IDS)[number];

/** Every accepted token has 6 decimals: one atomic unit is one micro-dollar. */
export const TOKEN_DECIMALS = 6;

type NetworkDefinition = {
  id: NetworkId;
  name: string;
  chain: Chain;
  testnet: boolean;
  tokens: Partial<Record<Asset, Address>>;
  /** Blocks on top of the transfer's block (the block itself counts as one) before it credits. */
  defaultConfirmations: number;
  explorerTxUrl: string | null;
};

const BUILT_IN: Record<Exclude<NetworkId, 'dev'>, NetworkDefinition> = {
  ethereum: {
    id: 'ethereum',
    name: 'Ethereum',
    chain: mainnet,
    testnet: false,
    tokens: { USDC: '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', USDT: '0xdAC17F958D2ee523a2206206994597C13D831ec7' },
    defaultConfirmations: 12,
    explorerTxUrl: 'https://etherscan.io/tx/',
  },
  base: {
    id: 'base',
    name: 'Base',
    chain: base,
    testnet: false,
    // No USDT: Tether does not issue USDT on Base.
    tokens: { USDC: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' },
    defaultConfirmations: 10,
    explorerTxUrl: 'https://basescan.org/tx/',
  },
  arbitrum: {
    id: 'arbitrum',
    name: 'Arbitrum One',
    chain: arbitrum,
    testnet: false,
    tokens: { USDC: '0xaf88d065e77c8cC2239327C5EDb3A432268e5831', USDT: '0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9' },
    defaultConfirmations: 10,
    explorerTxUrl: 'https://arbiscan.io/tx/',
  },
  polygon: {
    id: 'polygon',
    name: 'Polygon PoS',
    chain: polygon,
    testnet: false,
    tokens: { USDC: '0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359', USDT: '0xc2132D05D31c914a87C6611C10748AEb04B58e8F' },
    defaultConfirmations: 64,
    explorerTxUrl: 'https://polygonscan.com/tx/',
  },
  'base-sepolia': {
    id: 'base-sepolia',
    name: 'Base Sepolia (testnet)',
    chain: baseSepolia,
    testnet: true,
    // Circle's testnet USDC; there is no USDT on Base Sepolia.
    tokens: { USDC: '0x036CbD53842c5426634e7929541eC2318f3dCF7e' },
    defaultConfirmations: 3,
    explorerTxUrl: 'https://sepolia.basescan.org/tx/',
  },
};

/** RPC_URL_ETHEREUM, RPC_URL_BASE_SEPOLIA, … */
export const rpcEnvName = (id: NetworkId) => (id === 'dev' ? 'DEV_CHAIN_RPC_URL' : `RPC_URL_${id.toUpperCase().replace(/-/g, '_')}`);
const suffix = (id: NetworkId) => id.toUpperCase().replace(/-/g, '_');

export type NetworkConfig = NetworkDefinition & {
  chainId: number;
  rpcUrl: string | null;
  rpcEnv: string;
  treasury: Address | null;
  confirmations: number;
  /** Intents can be created: a treasury is configured (and, for the dev chain, an RPC). */
  acceptsDeposits: boolean;
  /** Transfers are verified on chain automatically: an RPC URL is configured. */
  autoVerify: boolean;
};

export type PaymentsConfig = {
  networks: NetworkConfig[];
  feeBps: bigint;
  intentTtlMs: number;
  overpayToleranceBps: bigint;
  requireLinkedWallet: boolean;
  /** A hash the chain does not know after this long goes to review. */
  txNotFoundTimeoutMs: number;
  minCredit: bigint;
  maxCredit: bigint;
  worker: { intervalMs: number; retryBaseMs: number; retryMaxMs: number };
  walletBudget: { network: NetworkId; asset: Asset; dailyFractionBps: bigint; snapshotMs: number } | null;
};

const text = z.string().trim();
const optionalAddress = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  text
    .refine((value) => isAddress(value, { strict: false }), 'must be a 0x-prefixed 20-byte address')
    .transform((value) => getAddress(value))
    .optional(),
);
const optionalUrl = z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), z.url({ protocol: /^https?$/ }).optional());
/** "10" or "2.5" (percent) → basis points. */
const percent = (fallback: string) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    text
      .default(fallback)
      .refine((value) => /^\d{1,3}(\.\d{1,2})?$/.test(value) && Number(value) <= 100, 'must be a percentage between 0 and 100 with at most 2 decimals')
      .transform((value) => BigInt(Math.round(Number(value) * 100))),
  );
const positiveInt = (fallback: number) =>
  z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), z.coerce.number().int().positive().default(fallback));
const boolean = z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), z.enum(['true', 'false', '1', '0']).default('false')).transform((v) => v === 'true' || v === '1');
const usd = (fallback: string) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    text
      .default(fallback)
      .refine((value) => /^\d{1,9}(\.\d{1,6})?$/.test(value), 'must be a USD amount')
      .transform((value) => {
        const [whole, fraction = ''] = value.split('.');
        return BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
      }),
  );

const confirmationsVar = z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.coerce.number().int().min(1).max(10_000).optional());

/** RPC_URL_<NETWORK>, TREASURY_ADDRESS_<NETWORK>, CONFIRMATIONS_<NETWORK>, read per built-in network. */
const perNetworkSchema = z.object({ rpcUrl: optionalUrl, treasury: optionalAddress, confirmations: confirmationsVar });

const envSchema = z.object({
  TREASURY_ADDRESS: optionalAddress,
  DEV_CHAIN_RPC_URL: optionalUrl,
  DEV_CHAIN_ID: positiveInt(31337),
  DEV_CHAIN_USDC: optionalAddress,
  DEV_CHAIN_USDT: optionalAddress,
  TREASURY_ADDRESS_DEV: optionalAddress,
  CONFIRMATIONS_DEV: confirmationsVar,
  DEPOSIT_FEE_PERCENT: percent('10'),
  DEPOSIT_INTENT_TTL_HOURS: positiveInt(24),
  DEPOSIT_OVERPAY_TOLERANCE_PERCENT: percent('1'),
  DEPOSIT_REQUIRE_LINKED_WALLET: boolean,
  DEPOSIT_TX_TIMEOUT_MINUTES: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.coerce.number().min(0).default(30)),
  DEPOSIT_MIN_CREDIT_USD: usd('1'),
  DEPOSIT_MAX_CREDIT_USD: usd('10000'),
  DEPOSIT_WORKER_INTERVAL_MS: positiveInt(10_000),
  DEPOSIT_RETRY_MAX_MS: positiveInt(300_000),
  WALLET_BUDGET_NETWORK: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.enum(NETWORK_IDS).optional()),
  WALLET_BUDGET_TOKEN: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v?.toString().toUpperCase()), z.enum(ASSETS).optional()),
  WALLET_BUDGET_DAILY_FRACTION: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    text
      .default('0.1')
      .refine((v) => /^(0(\.\d{1,4})?|1(\.0{1,4})?)$/.test(v), 'must be a fraction between 0 and 1 with at most 4 decimals')
      .transform((v) => BigInt(Math.round(Number(v) * 10_000))),
  ),
  WALLET_BUDGET_SNAPSHOT_MS: positiveInt(3_600_000),
});

export class PaymentsConfigError extends Error {}

/** The payment configuration from the environment; throws PaymentsConfigError naming the bad variables. */
export function loadPaymentsConfig(env: Record<string, string | undefined> = process.env): PaymentsConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new PaymentsConfigError(
      `Invalid payment configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`,
    );
  }
  const e = parsed.data;
  const networks: NetworkConfig[] = [];
  const problems: string[] = [];
  for (const id of NETWORK_IDS) {
    if (id === 'dev') {
      if (!e.DEV_CHAIN_RPC_URL) continue;
      const chainId = e.DEV_CHAIN_ID;
      const tokens: Partial<Record<Asset, Address>> = {};
      if (e.DEV_CHAIN_USDC) tokens.USDC = e.DEV_CHAIN_USDC;
      if (e.DEV_CHAIN_USDT) tokens.USDT = e.DEV_CHAIN_USDT;
      const chain = defineChain({
        id: chainId,
        name: 'Local development chain',
        nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
        rpcUrls: { default: { http: [e.DEV_CHAIN_RPC_URL] } },
        testnet: true,
      });
      const treasury = e.TREASURY_ADDRESS_DEV ?? e.TREASURY_ADDRESS ?? null;
      networks.push({
        id,
        name: 'Local development chain',
        chain,
        chainId,
        testnet: true,
        tokens,
        defaultConfirmations: 1,
        explorerTxUrl: null,
        rpcUrl: e.DEV_CHAIN_RPC_URL,
        rpcEnv: 'DEV_CHAIN_RPC_URL',
        treasury,
        confirmations: e.CONFIRMATIONS_DEV ?? 1,
        acceptsDeposits: !!treasury && Object.keys(tokens).length > 0,
        autoVerify: true,
      });
      continue;
    }
    const definition = BUILT_IN[id];
    const names = { rpcUrl: rpcEnvName(id), treasury: `TREASURY_ADDRESS_${suffix(id)}`, confirmations: `CONFIRMATIONS_${suffix(id)}` } as const;
    const own = perNetworkSchema.safeParse({ rpcUrl: env[names.rpcUrl], treasury: env[names.treasury], confirmations: env[names.confirmations] });
    if (!own.success) {
      problems.push(...own.error.issues.map((issue) => `${names[issue.path[0] as keyof typeof names]} ${issue.message}`));
      continue;
    }
    const rpcUrl = own.data.rpcUrl ?? null;
    const treasury = own.data.treasury ?? e.TREASURY_ADDRESS ?? null;
    networks.push({
      ...definition,
      chainId: definition.chain.id,
      rpcUrl,
      rpcEnv: names.rpcUrl,
      treasury,
      confirmations: own.data.confirmations ?? definition.defaultConfirmations,
      acceptsDeposits: !!treasury,
      autoVerify: !!rpcUrl,
    });
  }
  if (e.DEPOSIT_MIN_CREDIT_USD > e.DEPOSIT_MAX_CREDIT_USD) problems.push('DEPOSIT_MIN_CREDIT_USD is above DEPOSIT_MAX_CREDIT_USD');
  if (problems.length) throw new PaymentsConfigError(`Invalid payment configuration: ${problems.join('; ')}`);
  const budgetNetwork = e.WALLET_BUDGET_NETWORK;
  return {
    networks,
    feeBps: e.DEPOSIT_FEE_PERCENT,
    intentTtlMs: e.DEPOSIT_INTENT_TTL_HOURS * 3_600_000,
    overpayToleranceBps: e.DEPOSIT_OVERPAY_TOLERANCE_PERCENT,
    requireLinkedWallet: e.DEPOSIT_REQUIRE_LINKED_WALLET,
    txNotFoundTimeoutMs: e.DEPOSIT_TX_TIMEOUT_MINUTES * 60_000,
    minCredit: e.DEPOSIT_MIN_CREDIT_USD,
    maxCredit: e.DEPOSIT_MAX_CREDIT_USD,
    worker: { intervalMs: e.DEPOSIT_WORKER_INTERVAL_MS, retryBaseMs: Math.min(e.DEPOSIT_WORKER_INTERVAL_MS, 5_000), retryMaxMs: e.DEPOSIT_RETRY_MAX_MS },
    walletBudget:
      budgetNetwork && e.WALLET_BUDGET_TOKEN
        ? { network: budgetNetwork, asset: e.WALLET_BUDGET_TOKEN, dailyFractionBps: e.WALLET_BUDGET_DAILY_FRACTION, snapshotMs: e.WALLET_BUDGET_SNAPSHOT_MS }
        : null,
  };
}

export function findNetwork(config: PaymentsConfig, id: string): NetworkConfig | undefined {
  return config.networks.find((n) => n.id === id);
}

export function findNetworkByChainId(config: PaymentsConfig, chainId: number): NetworkConfig | undefined {
  return config.networks.find((n) => n.chainId === chainId);
}

/** One viem client per RPC URL, per process (the worker and the API share them). */
const clients = new Map<string, PublicClient>();

export function publicClientFor(network: NetworkConfig): PublicClient | null {
  if (!network.rpcUrl) return null;
  const key = `${network.chainId}:${network.rpcUrl}`;
  let client = clients.get(key);
  if (!client) {
    client = createPublicClient({ chain: network.chain, transport: http(network.rpcUrl, { timeout: 10_000, retryCount: 1 }) }) as PublicClient;
    clients.set(key, client);
  }
  return client;
}
