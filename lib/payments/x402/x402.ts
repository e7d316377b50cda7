import type { ApiRequest } from '../../http/api-request';
import { getAddress, type Address, type Hex } from 'viem';
import { sqlFor, type Db } from '../../db/client';
import { driverErrorKind, read, sql } from '../../db/sql';
import { payerKeyContext } from '../../gateway/auth';
import type { PayPerRequest } from '../../gateway/context';
import { json } from '../../http/json';
import { newId, randomBase62 } from '../../ids';
import { Ledger } from '../../ledger/ledger';
import { SYSTEM_ACCOUNTS, getOrCreateWalletAccount } from '../../ledger/accounts';
import { logger } from '../../logger';
import { formatUsd, usdToMicros, type Micros } from '../../money';
import { atomicToMicros, loadX402Config, microsToAtomic, type X402Config, type X402ConfigState } from './config';
import { onchainReader, type Authorization, type Onchain } from './onchain';
import { SETTLEMENT_LOOKBACK_MS, facilitatorSettler, localSettler, type Settler } from './settle';
import { verifyPayment } from './verify';
import { HEADERS, decodePayment, encodeHeader, paymentRequirements, readPaymentHeader, settlementHeaders, type PaymentRequiredV2 } from './wire';

export type X402 = PayPerRequest & {
  readonly state: X402ConfigState;
  /** GET /api/x402/probe: a sample challenge; with a payment, what verification says of it (nothing is settled). */
  probe(request: Request): Promise<Response>;
  reconcile(options?: { olderThanMs?: number; now?: Date }): Promise<number>;
};

type Refusal = { reason: string; message: string; pending?: boolean };

/**
 * How long after its payment was made an authorization the token marks used, with no log of it
 * at all, stays open before reconcile() fails it. An RPC's log index can lag its state (a load
 * balancer's nodes differ, logs are indexed after the block, and some such RPCs answer [] rather
 * than an error), and failing a paid authorization loses the payer's money, while leaving one
 * open costs only a look at the chain now and then (NO_LOG_BACKOFF_MAX_MS at most apart). A day
 * is far past any log lag; a row failed so is logged as an error, for an operator to check.
 */
export const NO_LOG_OPEN_MS = 24 * 60 * 60_000;
/** Such a row is looked at again after a quarter of its age, up to this: the payer waits no longer for a late credit. */
export const NO_LOG_BACKOFF_MAX_MS = 60 * 60_000;

/**
 * Pay-per-request for callers without an account (x402, "exact" scheme over EIP-3009). Verifies a
 * payment locally, settles it (facilitator or Tollgate's own relayer), credits the paid amount to
 * the payer's own balance in one ledger transaction, and hands the payer back to the gateway as
 * the call's principal: the pipeline then holds and settles the actual cost from that balance, so
 * what the call does not use (all of it, if the upstream fails) stays the payer's.
 */
export function createX402(options: { db: Db; env?: NodeJS.ProcessEnv; settler?: Settler }): X402 {
  const state = loadX402Config(options.env ?? process.env);
  const db = options.db;
  const ledger = new Ledger(db);
  if (state.state === 'misconfigured') logger.error('x402 is misconfigured: keyless calls are refused', { reason: state.reason });
  // What reconcile() asks the chain; any settlement mode can have it (a facilitator's too).
  const onchain = state.state === 'enabled' && state.config.rpcUrl ? onchainReader({ ...state.config, rpcUrl: state.config.rpcUrl }) : null;
  const settler: Settler | null =
    state.state !== 'enabled' ? null : (options.settler ?? (state.config.settlement === 'local' ? localSettler(state.config) : state.config.settlement === 'facilitator' ? facilitatorSettler(state.config) : null));

  async function authorize(input: Parameters<PayPerRequest['authorize']>[0]): ReturnType<PayPerRequest['authorize']> {
    if (state.state === 'disabled') {
      return respond(json(openAiError('authentication_error', 'missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer tg_…'."), { status: 401 }));
    }
    if (state.state === 'misconfigured') {
      return respond(json(openAiError('service_unavailable', 'x402_misconfigured', 'Pay-per-request (x402) is misconfigured on this instance; send an API key instead.'), { status: 503 }));
    }
    const config = state.config;
    const challenge = buildChallenge(config, {
      maxCost: input.maxCost,
      resource: resourceUrl(input.request),
      description: `A call to ${input.modelId}, at most ${formatUsd(input.maxCost)}`,
      mimeType: input.body.stream ? 'text/event-stream' : 'application/json',
    });
    const header = readPaymentHeader(input.request);
    if (!header) return respond(challenge.response(null));

    const decoded = decodePayment(header.value);
    if (!decoded.ok) return respond(challenge.response(decoded));
    const payment = decoded.payment;
    const verified = await verifyPayment(config, payment, challenge.atomic);
    if (!verified.ok) return respond(challenge.response(verified));
    const nonce = payment.authorization.nonce.toLowerCase();
    if (await nonceSeen(db, config, nonce)) return respond(challenge.response(NONCE_USED));
    if (await payerSuspended(db, verified.payer)) {
      return respond(json(openAiError('permission_error', 'account_suspended', 'The account of this wallet is suspended. Nothing was charged.'), { status: 403 }));
    }

    if (!settler) {
      return respond(
        json(openAiError('service_unavailable', 'x402_settlement_disabled', 'x402 payments are verified but not settled on this instance (X402_SETTLEMENT=off), so nothing was charged. Send an API key instead.'), {
          status: 503,
        }),
      );
    }

    // Claiming the nonce is the replay guard: the unique (network, asset, nonce) row is inserted
    // before any settlement, so two requests carrying one authorization cannot both be served.
    const paymentId = `x402_${randomBase62(20)}`;
    const paid = atomicToMicros(payment.authorization.value, config.assetDecimals);
    try {
      await sqlFor(db).execute(
        sql`INSERT INTO "X402Payment" ("id", "version", "network", "asset", "nonce", "payer", "payTo", "valueAtomic", "amount", "validAfter", "validBefore", "status", "requestId", "createdAt", "updatedAt") VALUES (${paymentId}, ${payment.version}, ${config.network}, ${config.asset}, ${nonce}, ${verified.payer}, ${config.payTo}, ${payment.authorization.value}, ${paid}, ${secondsToDate(payment.authorization.validAfter)}, ${secondsToDate(payment.authorization.validBefore)}, 'VERIFIED', ${input.requestId}, ${new Date()}, ${new Date()})`,
      );
    } catch (error) {
      if (driverErrorKind(error) === 'UniqueConstraintViolation') return respond(challenge.response(NONCE_USED));
      throw error;
    }

    const requirements = payment.version === 1 ? challenge.v1 : challenge.v2;
    const settled = await settler.settle({ payment, requirements });
    if (!settled.ok) {
      const error = `${settled.reason}: ${settled.message}`.slice(0, 500);
      if (settled.pending) {
        // The money may have moved: the row stays VERIFIED for reconcile() to settle from the chain.
        await sqlFor(db).execute(sql`UPDATE "X402Payment" SET "error" = ${error}, "updatedAt" = ${new Date()} WHERE "id" = ${paymentId}`);
      } else {
        await sqlFor(db).execute(sql`UPDATE "X402Payment" SET "status" = 'FAILED', "error" = ${error}, "updatedAt" = ${new Date()} WHERE "id" = ${paymentId}`);
      }
      return respond(challenge.response(settled));
    }
    // The money has moved: the hash is recorded before anything else can fail, for reconciliation.
    await sqlFor(db).execute(sql`UPDATE "X402Payment" SET "txHash" = ${settled.transaction}, "updatedAt" = ${new Date()} WHERE "id" = ${paymentId}`);

    let userId: string;
    try {
      ({ userId } = await creditPayment({ paymentId, network: config.network, payer: verified.payer, amount: paid, transaction: settled.transaction }));
    } catch (error) {
      // Paid on chain but not credited: the row keeps the hash, and reconcile() credits it later.
      logger.error('x402 payment settled but not credited; reconcile() will credit it', { paymentId, transaction: settled.transaction, payer: verified.payer, error });
      throw error;
    }
    const network = payment.version === 1 ? (config.v1Network ?? config.network) : config.network;
    return { kind: 'paid', key: payerKeyContext(userId), headers: settlementHeaders({ transaction: settled.transaction, network, payer: verified.payer }) };
  }

  /**
   * Credits a settled payment to its payer's balance, in one ledger transaction keyed by the
   * settlement's transaction hash (so crediting twice credits once), marking the row SETTLED.
   */
  async function creditPayment(payment: { paymentId: string; network: string; payer: string; amount: Micros; transaction: string }): Promise<{ userId: string; replayed: boolean }> {
    const idempotencyKey = `x402:${payment.network}:${payment.transaction}`;
    const userId = await payerUserId(db, payment.payer as Address);
    const wallet = await walletAccountOf(db, userId);
    const { replayed } = await ledger.transfer(
      {
        idempotencyKey,
        kind: 'x402_payment',
        entries: [
          { accountId: SYSTEM_ACCOUNTS.deposits.id, amount: -payment.amount },
          { accountId: wallet.id, amount: payment.amount },
        ],
        memo: `x402 payment ${payment.transaction} on ${payment.network} from ${payment.payer}`,
        actor: `x402:${payment.payer}`,
      },
      (tx) =>
        tx.execute(
          sql`UPDATE "X402Payment" SET "status" = 'SETTLED', "userId" = ${userId}, "ledgerTransactionId" = (SELECT "id" FROM "LedgerTransaction" WHERE "idempotencyKey" = ${idempotencyKey}), "updatedAt" = ${new Date()} WHERE "id" = ${payment.paymentId}`,
        ),
    );
    return { userId, replayed };
  }

  /**
   * Settles what a request could not: run by every instance's sweeper, idempotent, and it returns
   * how many payments it credited. Rows untouched for `olderThanMs` only, so a call still settling
   * is left alone; oldest first, and a row it cannot finish goes to the back of the queue.
   * - Settled on chain but not credited (a transaction hash is recorded; the database failed just
   *   then): credited to the payer, as a balance.
   * - Settlement outcome unknown (no hash: the RPC or the facilitator went silent, or the instance
   *   died, after the transfer may have left): the chain decides. This very transfer found on chain
   *   is credited once, whoever submitted it; an authorization that can no longer land (the chain's
   *   clock is past its validBefore, or its log shows it used for another transfer, or canceled)
   *   fails, and the payer kept their tokens. Marked used with no log of it at all, it stays open,
   *   looked at less and less often, for NO_LOG_OPEN_MS, in case the logs lag. Needs X402_RPC_URL;
   *   without it such rows wait for an operator.
   */
  async function reconcile({ olderThanMs = 60_000, now = new Date() }: { olderThanMs?: number; now?: Date } = {}): Promise<number> {
    const cutoff = new Date(now.getTime() - olderThanMs);
    if (!onchain) {
      const unchecked = await db.x402Payment.count({ where: { status: 'VERIFIED', txHash: null, updatedAt: { lte: cutoff } } });
      if (unchecked > 0) logger.error('x402 payments whose settlement is unknown wait for a look at the chain: set X402_RPC_URL, or settle them by hand', { payments: unchecked });
    }
    const stranded = await db.x402Payment.findMany({
      // Without a chain to ask, only the rows with a hash can be finished here.
      where: { status: 'VERIFIED', updatedAt: { lte: cutoff }, ...(onchain ? {} : { txHash: { not: null } }) },
      select: { id: true, network: true, payer: true, payTo: true, nonce: true, valueAtomic: true, amount: true, validBefore: true, txHash: true, createdAt: true },
      orderBy: { updatedAt: 'asc' },
      take: 100,
    });
    let credited = 0;
    for (const row of stranded) {
      try {
        let transaction = row.txHash;
        if (!transaction) {
          if (!onchain) continue;
          const authorization = { from: row.payer as Address, to: row.payTo as Address, value: row.valueAtomic, nonce: row.nonce as Hex };
          const outcome = await settlementOnChain(onchain, authorization, row.validBefore, new Date(row.createdAt.getTime() - SETTLEMENT_LOOKBACK_MS));
          if (outcome.kind === 'open') {
            await db.x402Payment.updateMany({ where: { id: row.id, status: 'VERIFIED' }, data: { updatedAt: new Date() } });
            continue;
          }
          const age = now.getTime() - row.createdAt.getTime();
          if (outcome.kind === 'no-log' && age < NO_LOG_OPEN_MS) {
            logger.warn('x402 authorization used on chain, no log of it yet; left open', { paymentId: row.id, block: outcome.block });
            // Not looked at again before then: updatedAt is what the sweep's cutoff reads.
            const next = new Date(now.getTime() + Math.min(NO_LOG_BACKOFF_MAX_MS, Math.floor(age / 4)));
            await db.x402Payment.updateMany({ where: { id: row.id, status: 'VERIFIED' }, data: { updatedAt: next } });
            continue;
          }
          if (outcome.kind !== 'settled') {
            const why = outcome.kind === 'failed' ? outcome.why : `the authorization was used on chain, but no log of it showed in ${NO_LOG_OPEN_MS / 3_600_000} h`;
            await db.x402Payment.updateMany({ where: { id: row.id, status: 'VERIFIED', txHash: null }, data: { status: 'FAILED', error: `not settled: ${why}` } });
            if (outcome.kind === 'no-log') {
              logger.error('x402 payment failed with its authorization used on chain but no log of it: check it on chain, and credit the payer by hand if it paid', { paymentId: row.id, payer: row.payer, nonce: row.nonce, block: outcome.block });
            } else {
              logger.warn('x402 payment whose settlement was unknown never landed; failed', { paymentId: row.id, why });
            }
            continue;
          }
          transaction = outcome.transaction;
          await db.x402Payment.updateMany({ where: { id: row.id, status: 'VERIFIED' }, data: { txHash: transaction } });
        }
        const { replayed } = await creditPayment({ paymentId: row.id, network: row.network, payer: row.payer, amount: row.amount, transaction });
        if (replayed) continue;
        credited += 1;
        logger.warn('x402 payment credited late', { paymentId: row.id, transaction });
      } catch (error) {
        logger.error('x402 payment still not credited', { paymentId: row.id, transaction: row.txHash, error });
        // To the back of the queue, so that rows that keep failing do not starve the others.
        await db.x402Payment.updateMany({ where: { id: row.id, status: 'VERIFIED' }, data: { updatedAt: new Date() } }).catch(() => undefined);
      }
    }
    return credited;
  }

  async function probe(request: Request): Promise<Response> {
    if (state.state !== 'enabled') {
      return json({ enabled: false, state: state.state, reason: state.reason }, { status: state.state === 'misconfigured' ? 503 : 200 });
    }
    const config = state.config;
    const url = new URL(request.url);
    const sample = parseSampleMicros(url.searchParams.get('amount_usd'));
    const challenge = buildChallenge(config, { maxCost: sample, resource: resourceUrl(request), description: `Sample challenge for ${formatUsd(sample)} (probe: verified, never settled)`, mimeType: 'application/json' });
    const header = readPaymentHeader(request);
    if (!header) return challenge.response(null, { settlement: settlementState(config) });
    const decoded = decodePayment(header.value);
    const result = decoded.ok ? await verifyPayment(config, decoded.payment, challenge.atomic) : decoded;
    const seen = decoded.ok && result.ok ? await nonceSeen(db, config, decoded.payment.authorization.nonce.toLowerCase()) : false;
    const outcome = !result.ok ? result : seen ? { ...NONCE_USED, ok: false as const } : result;
    return json({
      verified: outcome.ok,
      ...(outcome.ok ? { payer: outcome.payer } : { reason: outcome.reason, message: outcome.message }),
      settled: false,
      settlement: settlementState(config),
    });
  }

  return { state, authorize, probe, reconcile };
}

const NONCE_USED: Refusal = { reason: 'invalid_exact_evm_nonce_already_used', message: 'This authorization (its nonce) has already been used.' };

function respond(response: Response) {
  return { kind: 'respond' as const, response };
}

function openAiError(type: string, code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { message, type, code, param: null, ...extra } };
}

/** What /status and the probe show of settlement. */
export function settlementState(config: X402Config) {
  return {
    mode: config.settlement,
    enabled: config.settlement !== 'off',
    ...(config.settlement === 'facilitator' ? { facilitator: new URL(config.facilitatorUrl!).host } : {}),
  };
}

/**
 * The 402 challenge for one request, readable by both client generations at once: the v1 body
 * (`x402Version`, `accepts`) and the v2 `PAYMENT-REQUIRED` header. The body's `error` is an
 * OpenAI-style object so OpenAI SDKs raise a readable error; x402 clients ignore it.
 */
export function buildChallenge(config: X402Config, input: { maxCost: Micros; resource: string; description: string; mimeType: string }) {
  const atomic = microsToAtomic(input.maxCost, config.assetDecimals);
  const { v1, v2 } = paymentRequirements(config, { atomic, resource: input.resource, description: input.description, mimeType: input.mimeType });
  const response = (refusal: Refusal | null, extra: Record<string, unknown> = {}) => {
    const message = refusal
      ? `Payment refused (${refusal.reason}): ${refusal.message} ${refusal.pending ? 'The call was not served and nothing was charged for it; if the transfer lands on chain, its amount is credited to this wallet’s balance (sign in with the wallet to use it).' : 'Nothing was charged.'}`
      : `This call costs at most ${formatUsd(input.maxCost)}. Send an API key, or pay for this request with x402 (${config.network}, ${config.assetName} at ${config.asset}).`;
    const paymentRequired: PaymentRequiredV2 = {
      x402Version: 2,
      ...(refusal ? { error: refusal.reason } : {}),
      resource: { url: input.resource, description: input.description, mimeType: input.mimeType },
      accepts: [v2],
    };
    return json(
      {
        x402Version: 1,
        accepts: [v1],
        error: { message, type: 'insufficient_credits', code: refusal ? 'payment_invalid' : 'payment_required', param: null, ...(refusal ? { reason: refusal.reason } : {}) },
        ...extra,
      },
      { status: 402, headers: { [HEADERS.paymentRequired]: encodeHeader(paymentRequired), 'access-control-expose-headers': HEADERS.paymentRequired } },
    );
  };
  return { atomic, v1, v2, response };
}

/** The resource a payment is for: this request's own URL, without its query. */
function resourceUrl(request: ApiRequest): string {
  const url = new URL(request.url);
  return `${url.origin}${url.pathname}`;
}

/** `?amount_usd=` of the probe (at most $1,000), or a cent. */
function parseSampleMicros(value: string | null): Micros {
  try {
    const micros = value ? usdToMicros(value) : 0n;
    return micros > 0n && micros <= 1_000_000_000n ? micros : 10_000n;
  } catch {
    return 10_000n;
  }
}

function secondsToDate(seconds: bigint): Date {
  // Far-future validBefore values (uint256 max) still have to fit a timestamp column.
  const capped = seconds > 253_402_300_799n ? 253_402_300_799n : seconds;
  return new Date(Number(capped) * 1000);
}

/** The payer's wallet account; two first payments racing both try to create it (on PostgreSQL the loser's upsert fails). */
async function walletAccountOf(db: Db, userId: string) {
  try {
    return await getOrCreateWalletAccount({ db, userId });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'P2002') throw error;
    return getOrCreateWalletAccount({ db, userId });
  }
}

/**
 * What the chain says of a payment whose settlement is unknown: settled (this very transfer, by
 * whoever submitted it), failed (it can never pay us: the logs show it used for another transfer
 * or canceled, or it expired unused), no-log (marked used, but no log of it: logs that lag) or
 * still open. Read at one block: block timestamps only grow, so an authorization unused at a
 * block already at or past its validBefore can never land.
 *
 * A transfer found is credited without waiting for confirmations: a request's own settlement is
 * served on its receipt (x402 has no confirmation count; deposits' CONFIRMATIONS_<NETWORK> is for
 * a transfer the payer made alone, before any service), and a late credit is held to the same rule.
 */
async function settlementOnChain(
  onchain: Onchain,
  authorization: Authorization,
  validBefore: Date,
  notBefore: Date,
): Promise<{ kind: 'settled'; transaction: Hex } | { kind: 'failed'; why: string } | { kind: 'no-log'; block: string } | { kind: 'open' }> {
  const lookup = await onchain.lookupSettlement(authorization, notBefore);
  switch (lookup.kind) {
    case 'settled':
      return { kind: 'settled', transaction: lookup.transaction };
    case 'used-elsewhere':
      return { kind: 'failed', why: `the authorization was used for another transfer, in ${lookup.transaction}` };
    case 'canceled':
      return { kind: 'failed', why: `the authorization was canceled, in ${lookup.transaction}` };
    case 'no-log':
      return { kind: 'no-log', block: lookup.block.number.toString() };
    case 'unused':
      return Number(lookup.block.timestamp) * 1000 >= validBefore.getTime() ? { kind: 'failed', why: 'the authorization expired unused' } : { kind: 'open' };
  }
}

async function payerSuspended(db: Db, payer: Address): Promise<boolean> {
  const [row] = await sqlFor(db).query(sql`SELECT "suspended" FROM "User" WHERE lower("walletAddress") = ${payer.toLowerCase()}`);
  return row ? read.bool(row.suspended) : false;
}

async function nonceSeen(db: Db, config: X402Config, nonce: string): Promise<boolean> {
  const rows = await sqlFor(db).query(sql`SELECT 1 AS "seen" FROM "X402Payment" WHERE "network" = ${config.network} AND "asset" = ${config.asset} AND "nonce" = ${nonce}`);
  return rows.length > 0;
}

/**
 * The user that owns the paying address's balance, created (without an email) on its first
 * payment. Addresses are stored checksummed (EIP-55), as Sign-In with Ethereum stores them, so the
 * wallet finds this balance when it signs in; they are matched without regard to case.
 */
export async function payerUserId(db: Db, payer: Address): Promise<string> {
  const address = getAddress(payer);
  const find = async () => {
    const [row] = await sqlFor(db).query(sql`SELECT "id" FROM "User" WHERE lower("walletAddress") = ${address.toLowerCase()}`);
    return row ? read.string(row.id) : null;
  };
  const existing = await find();
  if (existing) return existing;
  try {
    const user = await db.user.create({ data: { id: newId('usr'), walletAddress: address }, select: { id: true } });
    return user.id;
  } catch (error) {
    // Another request from the same wallet created it first.
    const raced = await find();
    if (raced) return raced;
    throw error;
  }
}

