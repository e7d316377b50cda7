import { z } from 'zod';
import type { Db } from '../db/client';
import type { DepositIntent } from '../db/generated/sqlite/client';
import { conflict, invalidRequest, notFound, unavailable, parseOrThrow } from '../http/errors';
import { createGuards, type Principal } from '../http/guards';
import { json, readJsonBody } from '../http/json';
import { newId } from '../ids';
import { logger } from '../logger';
import { ceilDiv, formatUsd, microsToUsdNumber, type Micros } from '../money';
import { usdAmount } from '../money-schema';
import { ASSETS, TOKEN_DECIMALS, findNetwork, type Asset, type PaymentsConfig } from './networks';
import { REVIEW_REASONS, verifyIntent, type ReviewReason, type VerifyDeps } from './verify';

/** Fee math: the fee is on top of the credit, rounded up to the micro-dollar; gross = credit + fee. */
export function depositQuote(credit: Micros, feeBps: bigint) {
  const fee = ceilDiv(credit * feeBps, 10_000n);
  const gross = credit + fee;
  // 6-decimal tokens: one atomic unit is one micro-dollar (a dollar-pegged token at par).
  const grossAtomic = gross * 10n ** BigInt(TOKEN_DECIMALS - 6);
  return { credit, fee, gross, grossAtomic };
}

export const createDepositSchema = z.strictObject({
  asset: z.string().trim().toUpperCase().pipe(z.enum(ASSETS, { message: 'must be USDC or USDT' })),
  network: z.string().trim().min(1, 'is required'),
  credit_usd: usdAmount,
});

export const attachTxSchema = z.strictObject({
  tx_hash: z
    .string()
    .trim()
    .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte transaction hash')
    .transform((hash) => hash.toLowerCase()),
});

const listQuerySchema = z.strictObject({
  status: z
    .enum(['awaiting_payment', 'verifying', 'credited', 'needs_review', 'rejected', 'expired'])
    .transform((s) => s.toUpperCase() as DepositIntent['status'])
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** What the buyer (and the admin, with more) sees of an intent. Money in USD numbers, atomic amounts as strings. */
export function depositView(intent: DepositIntent, config: PaymentsConfig | null) {
  const network = config ? findNetwork(config, intent.network) : undefined;
  const required = network?.confirmations ?? null;
  const reason = intent.reviewReason as ReviewReason | null;
  return {
    id: intent.id,
    object: 'deposit',
    status: intent.status.toLowerCase(),
    asset: intent.asset,
    network: intent.network,
    network_name: network?.name ?? intent.network,
    chain_id: intent.chainId,
    credit_usd: microsToUsdNumber(intent.credit),
    fee_usd: microsToUsdNumber(intent.fee),
    gross_usd: microsToUsdNumber(intent.credit + intent.fee),
    gross_atomic: intent.grossAtomic.toString(),
    decimals: TOKEN_DECIMALS,
    token_address: intent.tokenAddress,
    treasury: intent.treasury,
    tx_hash: intent.txHash,
    explorer_url: intent.txHash && network?.explorerTxUrl ? `${network.explorerTxUrl}${intent.txHash}` : null,
    confirmations: { seen: intent.confirmations, required },
    review: intent.reviewReason
      ? { reason: intent.reviewReason, message: (reason && REVIEW_REASONS[reason]) ?? intent.reviewReason, note: intent.reviewNote, reviewed_at: intent.reviewedAt?.toISOString() ?? null }
      : null,
    expires_at: intent.expiresAt.toISOString(),
    created_at: intent.createdAt.toISOString(),
    credited_at: intent.creditedAt?.toISOString() ?? null,
    next_check_at: intent.nextCheckAt?.toISOString() ?? null,
  };
}

/** The networks and assets a buyer can choose from, with the fee: what the deposit page needs. */
export function depositOptions(config: PaymentsConfig) {
  return {
    fee_percent: Number(config.feeBps) / 100,
    min_credit_usd: microsToUsdNumber(config.minCredit),
    max_credit_usd: microsToUsdNumber(config.maxCredit),
    intent_ttl_hours: config.intentTtlMs / 3_600_000,
    networks: config.networks
      .filter((n) => n.acceptsDeposits)
      .map((n) => ({
        id: n.id,
        name: n.name,
        chain_id: n.chainId,
        testnet: n.testnet,
        treasury: n.treasury!,
        confirmations: n.confirmations,
        automatic_verification: n.autoVerify,
        assets: ASSETS.filter((a) => n.tokens[a]).map((a) => ({ asset: a, token_address: n.tokens[a]!, decimals: TOKEN_DECIMALS })),
      })),
  };
}

export async function createDepositIntent({ db, config, userId, asset, networkId, credit, now = new Date() }: { db: Db; config: PaymentsConfig; userId: string; asset: Asset; networkId: string; credit: Micros; now?: Date }) {
  const network = findNetwork(config, networkId);
  if (!network || !network.acceptsDeposits) {
    const offered = config.networks.filter((n) => n.acceptsDeposits).map((n) => n.id);
    throw invalidRequest(`Deposits are not accepted on '${networkId}'. Available: ${offered.join(', ') || 'none (no treasury configured)'}.`, 'network', 'unsupported_network');
  }
  const token = network.tokens[asset];
  if (!token) throw invalidRequest(`${asset} is not available on ${network.name}.`, 'asset', 'unsupported_asset');
  if (credit < config.minCredit || credit > config.maxCredit) {
    throw invalidRequest(`The credit must be between ${formatUsd(config.minCredit)} and ${formatUsd(config.maxCredit)}.`, 'credit_usd', 'invalid_amount');
  }
  const quote = depositQuote(credit, config.feeBps);
  return db.depositIntent.create({
    data: {
      id: newId('dep'),
      userId,
      asset,
      network: network.id,
      chainId: network.chainId,
      tokenAddress: token,
      treasury: network.treasury!,
      credit: quote.credit,
      fee: quote.fee,
      grossAtomic: quote.grossAtomic,
      expiresAt: new Date(now.getTime() + config.intentTtlMs),
    },
  });
}

/**
 * Attaches the payment's transaction hash (from the connected wallet, or pasted) and starts
 * verification. An intent still waiting for payment, or expired unpaid, takes a hash; one still
 * verifying may take a corrected one. A hash already attached to another intent is refused.
 */
export async function attachTransaction({ db, userId, intentId, txHash, now = new Date() }: { db: Db; userId: string; intentId: string; txHash: string; now?: Date }) {
  const intent = await db.depositIntent.findFirst({ where: { id: intentId, userId } });
  if (!intent) throw notFound('deposit_not_found', `No deposit with id '${intentId}'.`);
  if (intent.txHash === txHash) return intent;
  if (!['AWAITING_PAYMENT', 'EXPIRED', 'VERIFYING'].includes(intent.status)) {
    throw conflict('deposit_not_open', `This deposit is ${intent.status.toLowerCase().replace('_', ' ')}; its transaction can no longer change.`);
  }
  const taken = await db.depositIntent.findFirst({ where: { chainId: intent.chainId, txHash, NOT: { id: intent.id } }, select: { id: true } });
  if (taken) throw conflict('tx_already_used', 'This transaction is already attached to another deposit.');
  const facts = JSON.stringify({ submitted_at: now.toISOString() });
  const { count } = await db.depositIntent.updateMany({
    where: { id: intent.id, userId, status: intent.status, txHash: intent.txHash },
    data: { txHash, status: 'VERIFYING', attempts: 0, confirmations: 0, nextCheckAt: now, facts },
  });
  if (count !== 1) throw conflict('deposit_changed', 'This deposit changed meanwhile; reload it and try again.');
  return db.depositIntent.findUniqueOrThrow({ where: { id: intent.id } });
}

type Handler = (args: { request: Request; principal: Principal; params: Record<string, string>; config: PaymentsConfig }) => Promise<Response>;

/**
 * The buyer's deposit API (management key or session): create an intent with its fee math, list
 * and read one's own, attach a transaction hash. Ownership is part of every query.
 */
export function createDepositApi({ db, getConfig, verify }: { db: Db; getConfig: () => PaymentsConfig; verify?: Omit<VerifyDeps, 'db' | 'config'> }) {
  const config = () => {
    try {
      return getConfig();
    } catch (error) {
      logger.error('payment configuration is invalid', { error });
      throw unavailable('deposits_unavailable', 'Deposits are not available: the payment configuration is invalid.');
    }
  };
  const guards = createGuards({ db });
  const guard = (handler: Handler) => guards.principal(({ request, principal, params }) => handler({ request, principal, params, config: config() }));

  // GET /api/deposits/options — public: networks, assets, fee.
  const options = guards.public(async () => json(depositOptions(config())));

  // POST /api/deposits {asset, network, credit_usd}
  const create = guard(async ({ request, principal, config }) => {
    const input = parseOrThrow(createDepositSchema, await readJsonBody(request));
    const intent = await createDepositIntent({ db, config, userId: principal.userId, asset: input.asset, networkId: input.network, credit: input.credit_usd });
    return json(depositView(intent, config), { status: 201 });
  });

  // GET /api/deposits
  const list = guard(async ({ request, principal, config }) => {
    const query = parseOrThrow(listQuerySchema, Object.fromEntries(new URL(request.url).searchParams));
    const rows = await db.depositIntent.findMany({
      where: { userId: principal.userId, ...(query.status ? { status: query.status } : {}) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: query.limit,
    });
    return json({ object: 'list', data: rows.map((row) => depositView(row, config)) });
  });

  // GET /api/deposits/:id
  const get = guard(async ({ principal, params, config }) => {
    const intent = await db.depositIntent.findFirst({ where: { id: params.id!, userId: principal.userId } });
    if (!intent) throw notFound('deposit_not_found', `No deposit with id '${params.id}'.`);
    return json(depositView(intent, config));
  });

  // POST /api/deposits/:id/tx {tx_hash} — checks at once; the worker retries until it is decided.
  const attachTx = guard(async ({ request, principal, params, config }) => {
    const { tx_hash } = parseOrThrow(attachTxSchema, await readJsonBody(request));
    const attached = await attachTransaction({ db, userId: principal.userId, intentId: params.id!, txHash: tx_hash });
    if (attached.status === 'VERIFYING') {
      await verifyIntent({ db, config, ...verify }, attached.id).catch((error: unknown) => logger.warn('first deposit check failed', { error }));
    }
    const intent = await db.depositIntent.findFirstOrThrow({ where: { id: attached.id, userId: principal.userId } });
    return json(depositView(intent, config), { status: 202 });
  });

  return { options, create, list, get, attachTx };
}
