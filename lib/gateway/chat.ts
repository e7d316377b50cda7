import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CatalogOffering } from '../catalog/catalog';
import { newId } from '../ids';
import { SYSTEM_ACCOUNTS } from '../ledger/accounts';
import { LedgerError } from '../ledger/errors';
import type { AccountState, Hold } from '../ledger/ledger';
import { fundingLots, lotStatus, markExhaustedLots, type CallSurface, type FundingLot } from '../packs/lots';
import { logger } from '../logger';
import { formatUsd, microsToUsd, microsToUsdNumber, type Micros } from '../money';
import { UpstreamError, type ChatProvider, type UpstreamChatRequest, type UpstreamStreamEvent, type UpstreamUsage } from '../providers/types';
import { clientAddress } from '../http/client-address';
import { json, readJsonBody } from '../http/json';
import type { KeyContext } from './auth';
import { bearerToken } from '../http/credentials';
import { authenticateApiKey, loadKeyContext } from './auth';
import type { GatewayContext } from './context';
import { HttpError, invalidRequest, paymentRequired, tooManyRequests, unavailable, upstreamFailed, parseOrThrow } from '../http/errors';
import type { SqlExecutor } from '../db/sql';
import { abandonIdempotencyKey, claimIdempotencyKey, completeIdempotencyKey, requestHash } from './idempotency';
import { usageCost } from './pricing';
import { planRoute, type RoutePlan } from './routing';
import { chatCompletionRequestSchema, type ChatCompletionRequest } from './schema';
import { SSE_DONE, SSE_HEADERS, sseData } from './sse';
import { countText } from './tokens';
import { utcDay } from './day';
import { currentCounters, DailyQuotaRefused, dailyLimitError, quotaHeaders, releaseDailyQuota, reserveDailyQuota, rollDailyCounters, settleDailyQuota, type DailyCounters } from './limits';
import { insertUsage, type UsageRow } from './usage';

/** Everything one request carries through the pipeline. */
type Call = {
  requestId: string;
  startedAt: number;
  key: KeyContext;
  body: ChatCompletionRequest;
  plan: RoutePlan;
  /** One hold on the wallet, or one per source when pack lots pay first (lots, then the wallet). */
  holds: Hold[];
  /** The lots among the holds' accounts, by account id. */
  lots: Map<string, FundingLot>;
  /** The UTC day the daily quota was reserved on, and the key's counters right after. */
  day: string;
  counters: DailyCounters;
  idempotencyRecordId: string | null;
  /** Aborted when the client goes away; passed to the upstream call. */
  upstreamAbort: AbortController;
  /** Headers the principal adds to the response (an x402 settlement receipt). */
  principalHeaders: Record<string, string>;
};

type PackBilling = { id: string; status: 'ACTIVE' | 'EXHAUSTED' | 'EXPIRED'; remaining: Micros; remainingTokensEstimate: number };

type Billing = { cost: Micros; balance: Micros | null; pack: PackBilling | null };

/**
 * POST /v1/chat/completions. Authenticate → validate → plan the route and the maximum cost →
 * reserve it → call the upstream (failing over before the first byte) → settle the actual cost
 * with the usage row in the same database transaction. Three round trips on the hot path:
 * the key lookup, the reservation and the settlement.
 *
 * `keyId` is for callers that have already authorized the key (the web playground). Without a key
 * and with pay-per-request configured (x402), the payment is the principal. `surface` says where
 * the call comes from: only 'playground' (set by the playground's own entry, never derived from
 * the key) may draw playground-only lots such as the welcome credit.
 */
export async function handleChatCompletions(ctx: GatewayContext, request: Request, requestId: string, keyId?: string, surface: CallSurface = 'api'): Promise<Response> {
  const principal: { key: KeyContext | null } = { key: null };
  try {
    return await runChatCompletion(ctx, request, requestId, keyId, principal, surface);
  } catch (error) {
    // Every /v1 answer carries the key's daily counters, refusals included.
    if (error instanceof HttpError && principal.key) {
      for (const [name, value] of Object.entries(quotaHeaders(principal.key, currentCounters(principal.key)))) error.headers[name] ??= value;
    }
    throw error;
  }
}

async function runChatCompletion(ctx: GatewayContext, request: Request, requestId: string, keyId: string | undefined, principal: { key: KeyContext | null }, surface: CallSurface): Promise<Response> {
  const startedAt = performance.now();
  const payPerRequest = keyId === undefined && !bearerToken(request) ? ctx.payPerRequest : undefined;
  if (!payPerRequest) {
    principal.key = keyId !== undefined ? await loadKeyContext(ctx.db, { id: keyId }) : await authenticateApiKey(ctx.db, request);
    await takeRateLimit(ctx, principal.key);
  } else {
    // Keyless calls cost parsing and token counting before anyone has paid: a bucket per client
    // address (one shared, larger bucket when the server cannot tell who the client is).
    const client = clientAddress(request, ctx.trustedProxies);
    const limit = client ? ctx.keylessRateLimit : { burst: ctx.keylessRateLimit.burst * 10, perSecond: ctx.keylessRateLimit.perSecond * 10 };
    await takeRateLimit(ctx, { rateLimitId: `client:${client ?? 'unknown'}`, rateLimit: limit }, 'Calls without an API key are rate limited per client address');
  }
  const raw = await readJsonBody(request);
  const body = parseOrThrow(chatCompletionRequestSchema, raw);
  const plan = planRoute(await ctx.catalog.get(), principal.key ?? { allowedModels: null }, body);
  if (body.stream && (body.n ?? 1) > 1) throw invalidRequest("'n' greater than 1 is not supported with stream: true.", 'n');

  let principalHeaders: Record<string, string> = {};
  if (!principal.key) {
    // Nothing is reserved or charged before the payment is settled and the payer known.
    const outcome = await payPerRequest!.authorize({ request, requestId, body, maxCost: plan.holdAmount, modelId: plan.model.id });
    if (outcome.kind === 'respond') return withHeader(outcome.response, 'x-request-id', requestId);
    principal.key = outcome.key;
    principalHeaders = outcome.headers;
  }
  const key: KeyContext = principal.key;

  let idempotencyRecordId: string | null = null;
  const idempotencyKey = request.headers.get('idempotency-key');
  if (idempotencyKey) {
    const claim = await claimIdempotencyKey({ db: ctx.db, scope: key.keyId ?? key.rateLimitId, key: idempotencyKey, hash: requestHash(raw) });
    if (claim.kind === 'replay') return withHeader(claim.response, 'x-request-id', requestId);
    idempotencyRecordId = claim.recordId;
  }

  let reservation: Awaited<ReturnType<typeof reserve>>;
  try {
    reservation = await reserve(ctx, key, plan, requestId, surface);
  } catch (error) {
    if (idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: idempotencyRecordId });
    throw error;
  }

  const upstreamAbort = new AbortController();
  const onClientGone = () => upstreamAbort.abort();
  request.signal.addEventListener('abort', onClientGone, { once: true });
  const call: Call = { requestId, startedAt, key, body, plan, ...reservation, idempotencyRecordId, upstreamAbort, principalHeaders };
  return body.stream ? streamCompletion(ctx, call) : completeCompletion(ctx, call);
}

async function takeRateLimit(ctx: GatewayContext, key: Pick<KeyContext, 'rateLimitId' | 'rateLimit'>, who = 'This key is rate limited'): Promise<void> {
  const bucket = await ctx.rateLimiter.take(key.rateLimitId, key.rateLimit);
  if (!bucket.allowed) {
    throw tooManyRequests(
      'rate_limited',
      `${who} to bursts of ${key.rateLimit.burst} requests refilled at ${key.rateLimit.perSecond} per second. Retry in ${bucket.retryAfterSeconds} s.`,
      bucket.retryAfterSeconds,
    );
  }
}

const MAX_QUOTA_ATTEMPTS = 3;

/**
 * The money and the key's daily quota, reserved together in one database transaction. The money
 * comes from the user's matching pack lots first (most specific, then earliest expiry), then from
 * the wallet: one hold per source.
 */
async function reserve(ctx: GatewayContext, key: KeyContext, plan: RoutePlan, requestId: string, surface: CallSurface): Promise<{ holds: Hold[]; lots: Map<string, FundingLot>; counters: DailyCounters; day: string }> {
  if (key.dailyBudget !== null && plan.holdAmount > key.dailyBudget) {
    throw paymentRequired(
      'daily_budget_exhausted',
      `This request may cost up to ${formatUsd(plan.holdAmount)}, more than this key's whole daily budget of ${formatUsd(key.dailyBudget)}. Lower max_tokens or raise the budget.`,
    );
  }
  // hasActiveLots counts lots an API call may spend; the playground (not the hot path) always looks,
  // since its welcome lot is left out of that probe so new users' API calls skip the lookup.
  const lots = key.hasActiveLots || key.packsOnly || surface === 'playground' ? await fundingLots(ctx.db, { userId: key.userId, modelId: plan.model.id, providerIds: plan.candidates.map((c) => c.providerId), surface }) : [];
  if (key.packsOnly && lots.length === 0) {
    throw paymentRequired('no_active_pack', `This key spends pack credit only, and no active pack covers ${plan.model.id}. Buy a pack that does, or turn off "packs only" for this key.`);
  }
  const sources = [...lots.map((lot) => lot.accountId), ...(key.packsOnly ? [] : [key.walletAccountId])];
  const lotsByAccount = new Map(lots.map((lot) => [lot.accountId, lot]));
  const memo = `${plan.model.id} ${requestId}`;

  // A refused reservation left nothing behind, so it may simply be tried again when no limit
  // refuses it on a second look: the UTC day turned between rolling the key's counters and
  // reserving, or concurrent calls settled below their holds meanwhile. A few attempts at most.
  for (let attempt = 0; ; attempt++) {
    const day = utcDay(new Date());
    await rollDailyCounters(ctx.db, key, day, attempt > 0);
    const takeQuota = (tx: SqlExecutor) => reserveDailyQuota(tx, key, day, plan.holdAmount);
    try {
      // The common case, the wallet alone, skips the group's per-source balance reads: one
      // conditional UPDATE. Settlement and release follow the same split (on `call.lots`).
      if (sources.length === 1 && lots.length === 0) {
        const hold = await ctx.ledger.reserve(
          { idempotencyKey: `hold:${requestId}`, debitAccountId: key.walletAccountId, creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: plan.holdAmount, ttlMs: ctx.holdTtlMs, memo },
          takeQuota,
        );
        return { holds: [hold], lots: lotsByAccount, counters: hold.also!, day };
      }
      const group = await ctx.ledger.reserveGroup(
        { groupId: requestId, idempotencyKey: `hold:${requestId}`, sources, creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: plan.holdAmount, ttlMs: ctx.holdTtlMs, memo },
        takeQuota,
      );
      return { holds: group.holds, lots: lotsByAccount, counters: group.also!, day };
    } catch (error) {
      if (error instanceof DailyQuotaRefused) {
        const final = attempt === MAX_QUOTA_ATTEMPTS - 1;
        const limitError = await dailyLimitError(ctx.db, key, plan.holdAmount, { final });
        if (limitError) throw limitError;
        if (!final) continue;
        throw unavailable('daily_counters_busy', 'The daily counters of this key changed while reserving this request. Retry it.');
      }
      if (error instanceof LedgerError && (error.code === 'insufficient_funds' || error.code === 'account_not_found')) {
        throw await insufficientCredits(ctx, key, plan, lots, surface);
      }
      throw error;
    }
  }
}

async function insufficientCredits(ctx: GatewayContext, key: KeyContext, plan: RoutePlan, lots: FundingLot[], surface: CallSurface) {
  const cost = `This request may cost up to ${formatUsd(plan.holdAmount)} (prompt plus ${plan.maxOutputTokens} output tokens on ${plan.model.id})`;
  const inLots = lots.reduce((sum, lot) => sum + lot.available, 0n);
  if (key.packsOnly) {
    return paymentRequired('insufficient_credits', `${cost}; this key spends pack credit only, and the packs that cover it have ${formatUsd(inLots)} left. Lower max_tokens or buy a pack.`);
  }
  const wallet = await ctx.db.ledgerAccount.findUnique({ where: { id: key.walletAccountId }, select: { available: true } });
  const available = (wallet?.available ?? 0n) + inLots;
  // A new account's welcome credit is for the playground: say so, or "$0 available" looks like a bug.
  const playgroundOnly =
    surface === 'api'
      ? await ctx.db.packLot.findFirst({ where: { userId: key.userId, playgroundOnly: true, status: 'ACTIVE', expiresAt: { gt: new Date() } }, select: { account: { select: { available: true } } } })
      : null;
  const note = playgroundOnly && playgroundOnly.account.available > 0n ? ` (Your welcome credit of ${formatUsd(playgroundOnly.account.available)} pays for playground calls only.)` : '';
  return paymentRequired('insufficient_credits', `${cost}; the available balance is ${formatUsd(available)}. Add credits or lower max_tokens.${note}`);
}

function upstreamRequest(call: Call, offering: CatalogOffering): UpstreamChatRequest {
  const { provider: _provider, stream: _stream, stream_options: _streamOptions, max_completion_tokens: _maxCompletion, ...rest } = call.body;
  return { ...(rest as Omit<UpstreamChatRequest, 'model' | 'max_tokens'>), model: offering.upstreamModel, max_tokens: call.plan.maxOutputTokens };
}

/** Tries each candidate in order; only failures before anything reached the client move on. */
async function withFailover<T>(ctx: GatewayContext, call: Call, attempt: (provider: ChatProvider, offering: CatalogOffering) => Promise<T>) {
  let lastError: unknown;
  for (const offering of call.plan.candidates) {
    try {
      return { offering, result: await attempt(ctx.providers(offering.providerId), offering) };
    } catch (error) {
      lastError = error;
      const retryable = error instanceof UpstreamError && error.retryable && !call.upstreamAbort.signal.aborted;
      const detail = error instanceof UpstreamError ? { kind: error.kind, status: error.status, message: error.message } : { error };
      logger.warn('upstream call failed', { requestId: call.requestId, provider: offering.providerId, ...detail, willFailOver: retryable });
      if (!retryable) break;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// Non-streaming
// ---------------------------------------------------------------------------------------------

async function completeCompletion(ctx: GatewayContext, call: Call): Promise<Response> {
  let outcome;
  try {
    outcome = await withFailover(ctx, call, (provider, offering) => provider.complete(upstreamRequest(call, offering), { signal: call.upstreamAbort.signal }));
  } catch (error) {
    return failCall(ctx, call, error);
  }
  const { offering, result } = outcome;
  const completion = result.completion;
  const usage =
    result.usage ??
    estimatedUsage(
      call,
      completion.choices.map((c) => (c.message.content ?? '') + (c.message.tool_calls ?? []).map((t) => ('function' in t ? t.function.arguments : '')).join('')).join(''),
    );
  const billing = await settleCall(ctx, call, offering, usage, 'SUCCESS');
  // The headers go out after settlement here, so they count the actual cost rather than the hold.
  // (A stream's headers leave before its cost is known: they count the hold.)
  call.counters = { ...call.counters, committedToday: call.counters.committedToday - (call.plan.holdAmount - billing.cost), spentToday: call.counters.spentToday + billing.cost };
  const payload = {
    ...completion,
    model: call.plan.model.id,
    usage: { ...usageForClient(usage), cost: microsToUsdNumber(billing.cost) },
    billing: billingForClient(call, billing),
  };
  const text = JSON.stringify(payload);
  if (call.idempotencyRecordId) {
    await completeIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId, statusCode: 200, body: text, contentType: 'application/json' });
  }
  return new Response(text, { status: 200, headers: { 'content-type': 'application/json', ...callHeaders(call, billing.cost) } });
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

async function streamCompletion(ctx: GatewayContext, call: Call): Promise<Response> {
  let opened;
  try {
    opened = await withFailover(ctx, call, async (provider, offering) => {
      const iterator = provider.stream(upstreamRequest(call, offering), { signal: call.upstreamAbort.signal })[Symbol.asyncIterator]();
      const first = await iterator.next();
      return { iterator, first };
    });
  } catch (error) {
    return failCall(ctx, call, error);
  }
  const { offering } = opened;
  const { iterator, first } = opened.result;
  const includeUsage = call.body.stream_options?.include_usage === true;
  const transcript: Uint8Array[] = [];
  let produced = '';
  let usage: UpstreamUsage | null = null;
  let lastChunk: ChatCompletionChunk | null = null;
  let clientGone = false;

  const stream = new ReadableStream<Uint8Array>({
    start: async (controller) => {
      const send = (bytes: Uint8Array) => {
        if (clientGone) return;
        if (call.idempotencyRecordId) transcript.push(bytes);
        try {
          controller.enqueue(bytes);
        } catch {
          clientGone = true;
        }
      };
      const forward = (event: UpstreamStreamEvent) => {
        if (event.usage) usage = event.usage;
        // The upstream's own usage chunk is replaced by ours, which carries the cost.
        if (event.chunk.choices.length === 0) return;
        lastChunk = event.chunk;
        for (const choice of event.chunk.choices) {
          produced += choice.delta.content ?? '';
          for (const toolCall of choice.delta.tool_calls ?? []) produced += (toolCall.function?.name ?? '') + (toolCall.function?.arguments ?? '');
        }
        send(sseData({ ...event.chunk, model: call.plan.model.id }));
      };

      let stalled = false;
      try {
        if (!first.done) forward(first.value);
        for (;;) {
          const next = await withinIdleTimeout(iterator.next(), ctx.streamIdleTimeoutMs, offering, () => {
            stalled = true;
            call.upstreamAbort.abort();
          });
          if (next.done) break;
          forward(next.value);
        }
      } catch (error) {
        if (!stalled && (clientGone || call.upstreamAbort.signal.aborted)) {
          // The client left: bill what was produced up to now, never more than the hold.
          await settleCall(ctx, call, offering, estimatedUsage(call, produced), 'CLIENT_ABORTED').catch(logSettleFailure(call));
          if (call.idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId }).catch(() => undefined);
          closeQuietly(controller);
          return;
        }
        // The upstream failed mid-stream: the call failed, so nothing is charged.
        const httpError = await failCallQuietly(ctx, call, error);
        send(sseData(httpError.toJSON()));
        closeQuietly(controller);
        return;
      }

      const finalUsage = usage ?? estimatedUsage(call, produced);
      const billing = await settleCall(ctx, call, offering, finalUsage, 'SUCCESS');
      if (includeUsage) {
        const base = lastChunk ?? { id: `chatcmpl-${call.requestId}`, created: Math.floor(Date.now() / 1000), object: 'chat.completion.chunk' as const };
        send(
          sseData({
            id: base.id,
            object: 'chat.completion.chunk',
            created: base.created,
            model: call.plan.model.id,
            choices: [],
            usage: { ...usageForClient(finalUsage), cost: microsToUsdNumber(billing.cost) },
            billing: billingForClient(call, billing),
          }),
        );
      }
      send(SSE_DONE);
      closeQuietly(controller);
      if (call.idempotencyRecordId) {
        await completeIdempotencyKey({
          db: ctx.db,
          recordId: call.idempotencyRecordId,
          statusCode: 200,
          body: Buffer.concat(transcript).toString('utf8'),
          contentType: SSE_HEADERS['content-type'],
        });
      }
    },
    cancel: () => {
      clientGone = true;
      call.upstreamAbort.abort();
    },
  });
  return new Response(stream, { status: 200, headers: { ...SSE_HEADERS, ...callHeaders(call, null) } });
}

/**
 * The SDKs stop timing a call once its headers arrive, so a stream that stalls would hang (and
 * outlive its hold). Each event must come within the idle timeout; otherwise the upstream call
 * is aborted and counted as the upstream's failure.
 */
function withinIdleTimeout<T>(next: Promise<T>, ms: number, offering: CatalogOffering, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new UpstreamError({ kind: 'timeout', providerId: offering.providerId, message: `${offering.providerId} sent nothing for ${ms} ms mid-stream` }));
    }, ms);
  });
  // The abandoned next() rejects once the upstream is aborted; nobody awaits it any more.
  next.catch(() => undefined);
  return Promise.race([next, timeout]).finally(() => clearTimeout(timer));
}

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>) {
  try {
    controller.close();
  } catch {
    // already closed or cancelled by the client
  }
}

// ---------------------------------------------------------------------------------------------
// Settlement
// ---------------------------------------------------------------------------------------------

/** When an upstream reports no usage: the counted prompt and the tokens of what was produced. */
function estimatedUsage(call: Call, producedText: string): UpstreamUsage {
  const completion = countText(producedText);
  return { prompt_tokens: call.plan.countedPromptTokens, completion_tokens: completion, total_tokens: call.plan.countedPromptTokens + completion };
}

async function settleCall(ctx: GatewayContext, call: Call, offering: CatalogOffering, usage: UpstreamUsage, status: 'SUCCESS' | 'CLIENT_ABORTED'): Promise<Billing> {
  const fullCost = usageCost(offering, usage);
  const held = call.plan.holdAmount;
  // The hold is the promise made to the buyer: a call never costs more than it reserved.
  const cost = fullCost > held ? held : fullCost;
  if (fullCost > held) logger.warn('usage exceeded the hold; charged the hold', { requestId: call.requestId, fullCost, hold: held });
  const memo = `${call.plan.model.id} via ${offering.providerId}`;
  const recordUsage = async (tx: SqlExecutor) => {
    await insertUsage(tx, usageRow(call, offering, usage, cost, status, null));
    await settleDailyQuota(tx, call.key, call.day, held, cost);
  };
  try {
    if (call.lots.size === 0) {
      const resolution = await ctx.ledger.settle({ hold: call.holds[0]!, amount: cost, idempotencyKey: `settle:${call.requestId}`, memo }, recordUsage);
      return { cost, balance: resolution.debitAccount?.balance ?? null, pack: null };
    }
    const settled = await ctx.ledger.settleGroup({ holds: call.holds, amount: cost, idempotencyKey: `settle:${call.requestId}`, memo }, async (tx) => {
      await recordUsage(tx);
      await markExhaustedLots(tx, [...call.lots.keys()]);
    });
    return { cost, ...groupBilling(call, offering, settled.accounts, settled.shares) };
  } catch (error) {
    // The response is already owed to the client; the sweeper will release the hold. Loud log.
    logSettleFailure(call)(error);
    return { cost: 0n, balance: null, pack: null };
  }
}

/** The wallet's balance and the first lot that paid, after a group settlement. */
function groupBilling(call: Call, offering: CatalogOffering, accounts: AccountState[], shares: Micros[]): Omit<Billing, 'cost'> {
  let balance: Micros | null = null;
  let pack: PackBilling | null = null;
  for (const [index, account] of accounts.entries()) {
    const lot = call.lots.get(account.id);
    if (!lot) {
      balance = account.balance;
      continue;
    }
    if (pack || shares[index] === 0n) continue;
    const perToken = offering.sellOutputPer1M > 0n ? offering.sellOutputPer1M : 1n;
    pack = {
      id: lot.id,
      status: lotStatus({ status: 'ACTIVE', expiresAt: lot.expiresAt }, account.balance),
      remaining: account.balance,
      // What is left, in output tokens of the model that just served: the conservative estimate.
      remainingTokensEstimate: Number((account.balance * 1_000_000n) / perToken),
    };
  }
  return { balance, pack };
}

function usageRow(call: Call, offering: CatalogOffering | null, usage: UpstreamUsage | null, cost: Micros, status: 'SUCCESS' | 'CLIENT_ABORTED' | 'UPSTREAM_ERROR', errorCode: string | null): UsageRow {
  return {
    id: newId('usg'),
    requestId: call.requestId,
    userId: call.key.userId,
    apiKeyId: call.key.keyId,
    modelId: call.plan.model.id,
    providerId: offering?.providerId ?? null,
    stream: call.body.stream === true,
    promptTokens: usage?.prompt_tokens ?? 0,
    completionTokens: usage?.completion_tokens ?? 0,
    cachedTokens: usage?.cached_tokens ?? 0,
    cost,
    latencyMs: Math.round(performance.now() - call.startedAt),
    status,
    errorCode,
    createdAt: new Date(),
  };
}

/** A failed or abandoned call: release the hold and record why, in one transaction; nothing is charged. */
async function failCallQuietly(ctx: GatewayContext, call: Call, error: unknown): Promise<HttpError> {
  const httpError = toHttpError(error);
  try {
    const recordFailure = async (tx: SqlExecutor) => {
      // A client that hung up before anything was produced owes nothing either; say which it was.
      const status = httpError.code === 'client_closed_request' ? 'CLIENT_ABORTED' : 'UPSTREAM_ERROR';
      await insertUsage(tx, usageRow(call, null, null, 0n, status, httpError.code));
      await releaseDailyQuota(tx, call.key, call.day, call.plan.holdAmount);
    };
    if (call.holds.length === 1) await ctx.ledger.release({ hold: call.holds[0]!, idempotencyKey: `release:${call.requestId}` }, recordFailure);
    else await ctx.ledger.releaseGroup({ holds: call.holds, idempotencyKey: `release:${call.requestId}` }, recordFailure);
  } catch (releaseError) {
    logger.error('could not release a hold after an upstream failure; the sweeper will', { requestId: call.requestId, error: releaseError });
  }
  if (call.idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId }).catch(() => undefined);
  return httpError;
}

async function failCall(ctx: GatewayContext, call: Call, error: unknown): Promise<Response> {
  const httpError = await failCallQuietly(ctx, call, error);
  return json(httpError.toJSON(), { status: httpError.status, headers: { ...callHeaders(call, 0n), ...httpError.headers } });
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof UpstreamError) {
    if (error.kind === 'aborted') return new HttpError({ status: 499, type: 'api_error', code: 'client_closed_request', message: 'The client closed the request.' });
    // The request itself is the problem (refused by the upstream, or not expressible to it): the caller's 400.
    if (error.kind === 'bad_request') return invalidRequest(`The upstream provider refused this request: ${error.message}. You were not charged.`, null, 'upstream_rejected_request');
    return upstreamFailed(`The upstream provider failed: ${error.message}. You were not charged.`);
  }
  logger.error('unexpected error during an upstream call', { error });
  return upstreamFailed('The upstream call failed. You were not charged.');
}

function logSettleFailure(call: Call) {
  return (error: unknown) => logger.error('settlement failed', { requestId: call.requestId, holdIds: call.holds.map((h) => h.id), error });
}

// ---------------------------------------------------------------------------------------------
// Response shaping
// ---------------------------------------------------------------------------------------------

function usageForClient(usage: UpstreamUsage) {
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens,
    ...(usage.cached_tokens !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cached_tokens } } : {}),
  };
}

function billingForClient(call: Call, billing: Billing) {
  return {
    charged_usd: microsToUsdNumber(billing.cost),
    balance_usd: billing.balance === null ? null : microsToUsdNumber(billing.balance),
    hold_usd: microsToUsdNumber(call.plan.holdAmount),
    ...(billing.pack
      ? {
          pack: {
            id: billing.pack.id,
            status: billing.pack.status,
            remaining_usd: microsToUsdNumber(billing.pack.remaining),
            remaining_tokens_est: billing.pack.remainingTokensEstimate,
          },
        }
      : {}),
  };
}

function callHeaders(call: Call, cost: Micros | null): Record<string, string> {
  return {
    ...call.principalHeaders,
    ...quotaHeaders(call.key, call.counters),
    'x-request-id': call.requestId,
    ...(cost !== null ? { 'x-tollgate-cost-usd': microsToUsd(cost) } : {}),
  };
}

function withHeader(response: Response, name: string, value: string): Response {
  const headers = new Headers(response.headers);
  headers.set(name, value);
  return new Response(response.body, { status: response.status, headers });
}
