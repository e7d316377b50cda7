import type { ApiRequest } from '../http/api-request';
import { ApiResponse, type AnyResponse } from '../http/api-response';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CatalogOffering } from '../catalog/catalog';
import type { CallSurface } from '../ledger/lots';
import { extended } from '../extend';
import { microsToUsdNumber, type Micros } from '../money';
import type { UpstreamChatRequest, UpstreamStreamEvent, UpstreamUsage } from '../providers/types';
import { invalidRequest, parseOrThrow } from '../http/errors';
import { readJsonBody } from '../http/json';
import { authenticate, payKeyless, withQuotaHeaders, type Caller } from './caller';
import { beginCall, streamHeaders, failedCall, runCall, settledJson, type Call } from './call';
import type { GatewayContext } from './context';
import { withFailover } from './failover';
import { planRoute } from './routing';
import { chatCompletionRequestSchema, type ChatCompletionRequest } from './schema';
import { billingForClient, estimatedUsage, producedByCompletion, release, settle, type Billing } from './settle';
import { SSE_DONE, sseData, sseHeaders } from './sse';
import { relayStream, type StreamDialect } from './stream';
import { nowMs } from '../clock';

/**
 * POST /v1/chat/completions, the OpenAI dialect: authenticate → validate → plan the route and the
 * maximum cost → reserve it → call the upstream (failing over before the first byte) → settle the
 * actual cost. Reserve, settle and the stream relay are shared with every dialect (call.ts,
 * settle.ts, stream.ts); this file is the translation at the edges.
 *
 * `keyId` is for callers that have already authorized the key (the web playground). Without a key
 * and with pay-per-request configured (x402), the payment is the principal. `surface` says where
 * the call comes from: only 'playground' (set by the playground's own entry, never derived from
 * the key) may draw playground-only lots such as the welcome credit.
 */
export async function handleChatCompletions(ctx: GatewayContext, request: ApiRequest, requestId: string, keyId?: string, surface: CallSurface = 'api'): Promise<AnyResponse> {
  const caller: Caller = { key: null };
  try {
    const startedAt = performance.now();
    const payPerRequest = await authenticate(ctx, request, caller, keyId);
    const raw = await readJsonBody(request);
    const body = parseOrThrow(chatCompletionRequestSchema, raw);
    const plan = planRoute(await ctx.catalog.get(), caller.key ?? { allowedModels: null }, body);
    if (body.stream && (body.n ?? 1) > 1) throw invalidRequest("'n' greater than 1 is not supported with stream: true.", 'n');

    let paid: Exclude<Awaited<ReturnType<typeof payKeyless>>, Response> = { plan, principalHeaders: {}, payment: null };
    if (payPerRequest) {
      // Nothing is reserved or charged before the payment is made and the payer known.
      const outcome = await payKeyless(payPerRequest, caller, { request, requestId, body: body, plan });
      if (outcome instanceof Response) return outcome;
      paid = outcome;
    }
    const call = await beginCall(ctx, { request, requestId, startedAt, key: caller.key!, plan: paid.plan, body: raw, stream: body.stream === true, surface, principalHeaders: paid.principalHeaders, payment: paid.payment });
    if (call instanceof Response) return call;
    return runCall(call, () => body.stream ? streamChat(ctx, call, body) : completeChat(ctx, call, body));
  } catch (error) {
    withQuotaHeaders(error, caller);
    throw error;
  }
}

/** The client's body as the upstream gets it: its own model name, max_tokens always set (the hold counts exactly that many). */
export function upstreamChatRequest(call: Call, body: ChatCompletionRequest, offering: CatalogOffering): UpstreamChatRequest {
  const { provider: _provider, stream: _stream, stream_options: _streamOptions, max_completion_tokens: _maxCompletion, ...rest } = body;
  return extended(rest as Omit<UpstreamChatRequest, 'model' | 'max_tokens'>, { model: offering.upstreamModel, max_tokens: call.plan.maxOutputTokens });
}

async function completeChat(ctx: GatewayContext, call: Call, body: ChatCompletionRequest): Promise<AnyResponse> {
  let outcome;
  try {
    outcome = await withFailover(ctx, call, (provider, offering) => provider.complete(upstreamChatRequest(call, body, offering), { signal: call.upstreamAbort.signal }));
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const { offering, result } = outcome;
  const completion = result.completion;
  const usage = result.usage ?? estimatedUsage(call, producedByCompletion(completion));
  const billing = await settle(ctx, call, offering, usage, 'SUCCESS');
  const payload = extended(completion, { model: call.plan.model.id, usage: usageForClient(usage, billing.cost), billing: billingForClient(call, billing) });
  return settledJson(ctx, call, billing, payload);
}

async function streamChat(ctx: GatewayContext, call: Call, body: ChatCompletionRequest): Promise<AnyResponse> {
  let opened;
  try {
    opened = await withFailover(ctx, call, async (provider, offering) => {
      const iterator = provider.stream(upstreamChatRequest(call, body, offering), { signal: call.upstreamAbort.signal })[Symbol.asyncIterator]();
      return { iterator, first: await iterator.next() };
    });
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const stream = relayStream(ctx, call, { offering: opened.offering, ...opened.result }, chatStreamDialect(call, body.stream_options?.include_usage === true));
  return new ApiResponse(200, sseHeaders(await streamHeaders(call)), stream);
}

/** OpenAI's chunks, renamed to the model asked for; the upstream's usage chunk is replaced by ours, which carries the cost. */
function chatStreamDialect(call: Call, includeUsage: boolean): StreamDialect<UpstreamStreamEvent> {
  let last: ChatCompletionChunk | null = null;
  return {
    read({ chunk, usage, partialUsage, text }) {
      if (chunk.choices.length === 0) return { send: null, produced: '', usage, partialUsage };
      last = chunk;
      let produced = '';
      for (const choice of chunk.choices) {
        produced += choice.delta.content ?? '';
        for (const toolCall of choice.delta.tool_calls ?? []) produced += (toolCall.function?.name ?? '') + (toolCall.function?.arguments ?? '');
      }
      const renamed = text === undefined ? null : withModel(text, chunk.model, call.plan.model.id);
      return { send: sseData(renamed ?? { ...chunk, model: call.plan.model.id }), produced, usage, partialUsage };
    },
    finish(usage: UpstreamUsage, billing: Billing) {
      if (!includeUsage) return [SSE_DONE];
      const base = last ?? { id: `chatcmpl-${call.requestId}`, created: Math.floor(nowMs() / 1000) };
      const usageChunk = {
        id: base.id,
        object: 'chat.completion.chunk',
        created: base.created,
        model: call.plan.model.id,
        choices: [],
        usage: usageForClient(usage, billing.cost),
        billing: billingForClient(call, billing),
      };
      return [sseData(usageChunk), SSE_DONE];
    },
    error(error) {
      return sseData(error.toJSON());
    },
  };
}

/**
 * An upstream chunk's own text with its model renamed, or null when that cannot be done safely (the
 * caller then serializes the parsed chunk). Serializing each chunk again was the largest cost of
 * relaying a stream after parsing it (~4 µs a chunk). The text is JSON whose top-level `model` is
 * `upstream`, so the top level's key appears in it as `"model"` unless written with a \u escape
 * (such text is refused). Every other `"model"` in it is another key, a string equal to "model",
 * or the end of a string with an escaped quote (`\"model"`); so when `"model"` occurs exactly once,
 * as `"model":"<upstream>"`, it is the top level's key and value. Text spread over several `data:`
 * lines (a newline in it) would break the event it is sent in: never passed on.
 */
export function withModel(text: string, upstream: unknown, model: string): string | null {
  if (typeof upstream !== 'string' || text.includes('\n') || text.includes('\r') || text.includes('\\u')) return null;
  if (upstream === model) return text;
  const at = text.indexOf('"model"');
  const needle = `"model":${JSON.stringify(upstream)}`;
  if (at === -1 || !text.startsWith(needle, at) || text.includes('"model"', at + 1)) return null;
  return `${text.slice(0, at)}"model":${JSON.stringify(model)}${text.slice(at + needle.length)}`;
}

/** The usage object clients get, with what the call cost; spelled out, not spread (lib/extend.ts says why). */
function usageForClient(usage: UpstreamUsage, cost: Micros) {
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens,
    ...(usage.cached_tokens !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cached_tokens } } : {}),
    cost: microsToUsdNumber(cost),
  };
}
