import type { ApiRequest } from '../http/api-request';
import { bearerToken } from '../http/credentials';
import { isPaymentCredential } from '../http/payment-credential';
import { clientAddress } from '../http/client-address';
import { HttpError, tooManyRequests, unauthorized } from '../http/errors';
import { authenticateApiKey, loadKeyContext, type KeyContext } from './auth';
import { withHeader } from './call';
import type { CallPayment, GatewayContext, PayPerRequest } from './context';
import type { RoutePlan } from './routing';
import type { ChatCompletionRequest } from './schema';
import { currentCounters, quotaHeaders } from './limits';

/** Who pays for a call: its key, once known (a keyless call's payer is known only after it pays). */
export type Caller = { key: KeyContext | null };

/**
 * Step one of every paid call. With an API key (or a key the playground has already authorized):
 * the key, then its rate limit. Without one, and with pay-per-request configured: the client
 * address's rate limit, and the payment step to run once the call is priced (returned).
 */
export async function authenticate(ctx: GatewayContext, request: ApiRequest, caller: Caller, keyId: string | undefined): Promise<PayPerRequest | undefined> {
  // A session's `Authorization: Payment` credential is a payment, not a malformed key.
  const payPerRequest = keyId === undefined && ((ctx.payPerRequest && isPaymentCredential(request)) || !bearerToken(request)) ? ctx.payPerRequest : undefined;
  if (!payPerRequest) {
    caller.key = keyId !== undefined ? await loadKeyContext(ctx.db, { id: keyId }) : await authenticateApiKey(ctx.db, request, ctx.keyCache);
    await takeRateLimit(ctx, caller.key);
    return undefined;
  }
  // Keyless calls cost parsing and token counting before anyone has paid: a bucket per client
  // address (one shared, larger bucket when the server cannot tell who the client is).
  const client = clientAddress(request, ctx.trustedProxies);
  const limit = client ? ctx.keylessRateLimit : { burst: ctx.keylessRateLimit.burst * 10, perSecond: ctx.keylessRateLimit.perSecond * 10 };
  await takeRateLimit(ctx, { rateLimitId: `client:${client ?? 'unknown'}`, rateLimit: limit }, 'Calls without an API key are rate limited per client address');
  return payPerRequest;
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

/** Every /v1 answer carries the key's daily counters, refusals included: added to an error on its way out. */
export function withQuotaHeaders(error: unknown, caller: Caller): void {
  if (!(error instanceof HttpError) || !caller.key) return;
  for (const [name, value] of Object.entries(quotaHeaders(caller.key, currentCounters(caller.key)))) error.headers[name] ??= value;
}

/**
 * Step one of a call that only an API key may pay for (pay-per-request is not offered there): a
 * keyless call is still rate limited per client address, then refused with a 401 saying so.
 */
export async function authenticateKey(ctx: GatewayContext, request: ApiRequest, caller: Caller, howToSend: string): Promise<void> {
  if (await authenticate(ctx, request, caller, undefined)) {
    throw unauthorized('missing_api_key', `This endpoint needs an API key: ${howToSend}. Pay-per-request (x402) is offered on /v1/chat/completions and /v1/responses.`);
  }
}

/**
 * The payment step of a keyless call, once it is priced: the payer becomes the call's principal,
 * and a payment that follows the call (a session) may start it on a smaller hold. A Response to
 * send as it is otherwise (a challenge, a refusal).
 */
export async function payKeyless(
  payPerRequest: PayPerRequest,
  caller: Caller,
  input: { request: ApiRequest; requestId: string; body: ChatCompletionRequest; plan: RoutePlan },
): Promise<{ plan: RoutePlan; principalHeaders: Record<string, string>; payment: CallPayment | null } | Response> {
  const { plan } = input;
  const outcome = await payPerRequest.authorize({ request: input.request, requestId: input.requestId, body: input.body, maxCost: plan.holdAmount, promptCost: plan.promptHold, modelId: plan.model.id });
  if (outcome.kind === 'respond') return withHeader(outcome.response, 'x-request-id', input.requestId);
  caller.key = outcome.key;
  const holdAmount = outcome.payment?.holdAmount;
  return {
    plan: holdAmount !== undefined && holdAmount < plan.holdAmount ? { ...plan, holdAmount } : plan,
    principalHeaders: outcome.headers,
    payment: outcome.payment ?? null,
  };
}

/**
 * HEAD of a paid route with a payment credential and no call (the spec's voucher-only update: a
 * session's voucher asked for mid-stream, a top-up, a close). Rate limited like any keyless call;
 * a 405 where no rail takes such credentials.
 */
export async function handleCredentialOnly(ctx: GatewayContext, request: ApiRequest): Promise<Response> {
  const payPerRequest = isPaymentCredential(request) ? await authenticate(ctx, request, { key: null }, undefined) : undefined;
  const answer = payPerRequest?.credentialOnly ? await payPerRequest.credentialOnly(request) : null;
  if (answer) return answer;
  throw new HttpError({ status: 405, type: 'invalid_request_error', code: 'method_not_allowed', message: 'HEAD here carries a payment session credential (Authorization: Payment …), and this instance takes none. Use POST.', headers: { allow: 'POST' } });
}
