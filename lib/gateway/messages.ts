import type Anthropic from '@anthropic-ai/sdk';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { extended } from '../extend';
import type { ApiRequest } from '../http/api-request';
import { logger } from '../logger';
import { ApiResponse, type AnyResponse } from '../http/api-response';
import type { CatalogOffering } from '../catalog/catalog';
import { microsToUsdNumber } from '../money';
import { UpstreamError, type ChatProvider, type NativeMessagesParams, type NativeStreamEvent, type UpstreamChatRequest, type UpstreamStreamEvent, type UpstreamUsage } from '../providers/types';
import { HttpError, invalidRequest, parseOrThrow, toAnthropicJSON } from '../http/errors';
import { json, readJsonBody } from '../http/json';
import { authenticateKey, withQuotaHeaders, type Caller } from './caller';
import { beginCall, callHeaders, failedCall, runCall, settledJson, type Call } from './call';
import type { GatewayContext } from './context';
import { currentCounters, quotaHeaders } from './limits';
import { withFailover } from './failover';
import { planRoute, type RoutePlan } from './routing';
import { countTokensRequestSchema, messagesRequestSchema, refuseUnsupportedFields, type MessagesRequest } from './messages-schema';
import { ChatToMessagesStream, marksCache, sseEvents, toAnthropicMessage, toAnthropicUsage, toChatRequest, type AnthropicEvent } from './messages-translate';
import { billingForClient, estimatedUsage, producedByCompletion, release, settle, toHttpError, type Billing } from './settle';
import { sseHeaders } from './sse';
import { relayStream, type StreamDialect } from './stream';

const KEY_HEADERS = "send it as 'x-api-key: tg_…' or 'Authorization: Bearer tg_…'";

/**
 * POST /v1/messages, the Anthropic dialect, on the same pipeline as chat.ts: authenticate →
 * validate → plan the route and the maximum cost → reserve it → call the upstream (failing over
 * before the first byte) → settle. An Anthropic upstream gets the request nearly as it came
 * (its adapter's native Messages call, with the client's anthropic-version and anthropic-beta);
 * every other upstream gets it translated to chat completions and back (messages-translate.ts).
 *
 * Only API keys pay here (x-api-key or Authorization: Bearer): pay-per-request (x402) is
 * offered on /v1/chat/completions and /v1/responses.
 */
export async function handleMessages(ctx: GatewayContext, request: ApiRequest, requestId: string): Promise<AnyResponse> {
  const caller: Caller = { key: null };
  try {
    const startedAt = performance.now();
    await authenticateKey(ctx, request, caller, KEY_HEADERS);
    const upstreamHeaders = anthropicHeaders(request);
    const raw = await readJsonBody(request);
    refuseUnsupportedFields(raw);
    const body = parseOrThrow(messagesRequestSchema, raw);
    // The hold counts the translation, which holds every text either kind of upstream reads; a
    // request that may write Anthropic's cache is bounded at the cache-write price.
    const plan = planRoute(await ctx.catalog.get(), caller.key!, { ...toChatRequest(body, 'planning'), model: body.model }, { cacheWrites: marksCache(body) });
    refuseWhatTranslationCannotCarry(ctx, body, plan);

    const call = await beginCall(ctx, { request, requestId, startedAt, key: caller.key!, plan, body: raw, stream: body.stream === true, surface: 'api', principalHeaders: {} });
    if (call instanceof Response) return call;
    return runCall(call, () => body.stream ? streamMessages(ctx, call, body, upstreamHeaders) : completeMessages(ctx, call, body, upstreamHeaders));
  } catch (error) {
    withQuotaHeaders(error, caller);
    throw error;
  }
}

/**
 * POST /v1/messages/count_tokens — what a prompt would count as input, free of charge (a key is
 * still needed, and its rate limit applies). An Anthropic upstream counts it itself; any other
 * model is counted by Tollgate, the way the hold counts it (o200k tokens for ASCII text, bytes
 * otherwise, images at the most the model bills for one), and so is an Anthropic model whose
 * upstream cannot count right now (rate limited, down): a count is an estimate, not worth a 502.
 */
export async function handleCountTokens(ctx: GatewayContext, request: ApiRequest, requestId: string): Promise<Response> {
  const caller: Caller = { key: null };
  try {
    await authenticateKey(ctx, request, caller, KEY_HEADERS);
    const upstreamHeaders = anthropicHeaders(request);
    const raw = await readJsonBody(request);
    refuseUnsupportedFields(raw);
    const body = parseOrThrow(countTokensRequestSchema, raw);
    const plan = planRoute(await ctx.catalog.get(), caller.key!, { ...toChatRequest(body, 'upstream'), model: body.model });
    const offering = plan.candidates[0]!;
    const native = ctx.providers(offering.providerId).messages;
    let inputTokens = plan.countedPromptTokens;
    if (native) {
      try {
        inputTokens = await native.countTokens({ ...(body as Anthropic.Messages.MessageCountTokensParams), model: offering.upstreamModel }, { signal: request.signal, headers: upstreamHeaders });
      } catch (error) {
        // The request itself refused (the upstream's 400) is the caller's to hear; anything else is ours.
        if (!(error instanceof UpstreamError) || error.kind === 'bad_request' || error.kind === 'aborted') throw toHttpError(error);
        logger.warn('count_tokens: the upstream could not count; answered with our own count', { requestId, provider: offering.providerId, kind: error.kind });
      }
    }
    const headers = { 'x-request-id': requestId, 'request-id': requestId, ...quotaHeaders(caller.key!, currentCounters(caller.key!)) };
    return json({ input_tokens: inputTokens }, { headers });
  } catch (error) {
    withQuotaHeaders(error, caller);
    throw error;
  }
}

/**
 * The client's Anthropic headers, for an Anthropic upstream: the API version it was written for
 * (older versions accept temperature, top_p and top_k) and its betas. The 1M-token context beta
 * is refused: Anthropic bills prompts past 200k tokens at a premium that the catalog's prices do
 * not include.
 */
function anthropicHeaders(request: ApiRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  const version = request.headers.get('anthropic-version');
  const beta = request.headers.get('anthropic-beta');
  if (version) headers['anthropic-version'] = version;
  if (beta) {
    if (/(^|,)\s*context-1m-/i.test(beta)) throw invalidRequest("The anthropic-beta 'context-1m-…' is not supported by Tollgate: long-context pricing is not offered.", 'anthropic-beta', 'unsupported_parameter');
    headers['anthropic-beta'] = beta;
  }
  return headers;
}

/**
 * What only an Anthropic upstream can honour, refused before anything is reserved when the model
 * may be served by another: extended thinking (no other upstream returns thinking blocks with
 * signatures, and silently answering without it would be a different request) and top_k.
 */
function refuseWhatTranslationCannotCarry(ctx: GatewayContext, body: MessagesRequest, plan: RoutePlan): void {
  const other = plan.candidates.find((offering) => !ctx.providers(offering.providerId).messages);
  if (!other) return;
  if (body.thinking && body.thinking.type !== 'disabled') {
    throw invalidRequest(`'thinking' is only supported on Anthropic models; '${plan.model.id}' is served by ${other.providerId}. Leave it out or set {"type": "disabled"}.`, 'thinking', 'unsupported_parameter');
  }
  if (body.top_k !== undefined) throw invalidRequest(`'top_k' is only supported on Anthropic models; '${plan.model.id}' is served by ${other.providerId}.`, 'top_k', 'unsupported_parameter');
}

/** The request as an Anthropic upstream gets it: the client's body, the upstream's model name, max_tokens as held. */
function nativeParams(call: Call, body: MessagesRequest, offering: CatalogOffering): NativeMessagesParams {
  const { stream: _stream, ...rest } = body;
  return { ...(rest as unknown as NativeMessagesParams), model: offering.upstreamModel, max_tokens: call.plan.maxOutputTokens };
}

/** The request translated for an OpenAI-compatible upstream. */
function chatParams(call: Call, body: MessagesRequest, offering: CatalogOffering): UpstreamChatRequest {
  return { ...(toChatRequest(body, 'upstream') as Omit<UpstreamChatRequest, 'model' | 'max_tokens'>), model: offering.upstreamModel, max_tokens: call.plan.maxOutputTokens };
}

function messageId(call: Call): string {
  return `msg_${call.requestId.replace(/^req_/, '')}`;
}

type Completed = { native: true; message: Anthropic.Messages.Message; usage: UpstreamUsage | null } | { native: false; completion: ChatCompletion; usage: UpstreamUsage | null };

async function completeMessages(ctx: GatewayContext, call: Call, body: MessagesRequest, headers: Record<string, string>): Promise<AnyResponse> {
  const options = { signal: call.upstreamAbort.signal, headers };
  let outcome;
  try {
    outcome = await withFailover(ctx, call, async (provider: ChatProvider, offering): Promise<Completed> => {
      if (provider.messages) return { native: true, ...(await provider.messages.create(nativeParams(call, body, offering), options)) };
      return { native: false, ...(await provider.complete(chatParams(call, body, offering), options)) };
    });
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const { offering, result } = outcome;
  // An upstream that reports no usage is billed the counted prompt and what it produced.
  const usage = result.usage ?? estimatedUsage(call, result.native ? producedByMessage(result.message) : producedByCompletion(result.completion));
  const billing = await settle(ctx, call, offering, usage, 'SUCCESS');
  const message = result.native ? result.message : toAnthropicMessage(result.completion, usage, { id: messageId(call), model: call.plan.model.id });
  const payload = extended(message, {
    model: call.plan.model.id,
    // An upstream that reported no usage sent none: the cost still goes in one.
    usage: extended(message.usage ?? {}, { cost_usd: microsToUsdNumber(billing.cost) }),
    billing: billingForClient(call, billing),
  });
  return settledJson(ctx, call, billing, payload, { 'request-id': call.requestId });
}

function producedByMessage(message: Anthropic.Messages.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : block.type === 'thinking' ? block.thinking : block.type === 'tool_use' ? block.name + JSON.stringify(block.input) : '')).join('');
}

type Opened = { native: true; iterator: AsyncIterator<NativeStreamEvent>; first: IteratorResult<NativeStreamEvent> } | { native: false; iterator: AsyncIterator<UpstreamStreamEvent>; first: IteratorResult<UpstreamStreamEvent> };

async function streamMessages(ctx: GatewayContext, call: Call, body: MessagesRequest, headers: Record<string, string>): Promise<AnyResponse> {
  const options = { signal: call.upstreamAbort.signal, headers };
  let opened;
  try {
    opened = await withFailover(ctx, call, async (provider: ChatProvider, offering): Promise<Opened> => {
      if (provider.messages) {
        const iterator = provider.messages.stream(nativeParams(call, body, offering), options)[Symbol.asyncIterator]();
        return { native: true, iterator, first: await iterator.next() };
      }
      const iterator = provider.stream(chatParams(call, body, offering), options)[Symbol.asyncIterator]();
      return { native: false, iterator, first: await iterator.next() };
    });
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const { offering, result } = opened;
  const stream = result.native ? relayStream(ctx, call, { offering, ...result }, nativeStreamDialect(call)) : relayStream(ctx, call, { offering, ...result }, translatedStreamDialect(call));
  return new ApiResponse(200, sseHeaders({ 'request-id': call.requestId, ...callHeaders(call, null) }), stream);
}

/** The closing message_delta carries Tollgate's cost beside the usage, and the billing object chat.ts adds. */
function closingEvents(call: Call, delta: AnthropicEvent & { usage?: object }, billing: Billing): string[] {
  const closing: AnthropicEvent = extended(delta, { usage: extended(delta.usage ?? {}, { cost_usd: microsToUsdNumber(billing.cost) }), billing: billingForClient(call, billing) });
  return [sseEvents([closing, { type: 'message_stop' }])!];
}

const errorEvent = (error: HttpError) => sseEvents([{ type: 'error', error: toAnthropicJSON(error).error }])!;

/**
 * An Anthropic upstream's events, passed on as they came (the model renamed to the catalog's; its
 * pings too, which keep a silent connection open through proxies), except its message_delta and
 * message_stop: held back until the call is settled, so that the last message_delta can say what
 * it cost.
 */
function nativeStreamDialect(call: Call): StreamDialect<NativeStreamEvent> {
  let delta: Anthropic.Messages.RawMessageDeltaEvent | null = null;
  return {
    read({ event, usage, partialUsage }) {
      switch (event.type) {
        case 'message_start':
          return { send: sseEvents([{ ...event, message: { ...event.message, model: call.plan.model.id } }]), produced: '', usage, partialUsage };
        case 'message_delta':
          delta = event;
          return { send: null, produced: '', usage, partialUsage };
        case 'message_stop':
          return { send: null, produced: '', usage, partialUsage };
        case 'ping':
          return { send: sseEvents([event]), produced: '', usage, partialUsage };
        default:
          return { send: sseEvents([event as unknown as AnthropicEvent]), produced: producedBy(event), usage, partialUsage };
      }
    },
    finish(usage, billing) {
      const fallback = { type: 'message_delta' as const, delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.completion_tokens } };
      return closingEvents(call, (delta ?? fallback) as AnthropicEvent, billing);
    },
    error: errorEvent,
  };
}

/** The output tokens an event carries, to bill a stream its client left: text, thinking, tool names and inputs. */
function producedBy(event: Anthropic.Messages.RawMessageStreamEvent): string {
  if (event.type === 'content_block_start') {
    const block = event.content_block;
    return block.type === 'text' ? block.text : block.type === 'tool_use' ? block.name : block.type === 'thinking' ? block.thinking : '';
  }
  if (event.type !== 'content_block_delta') return '';
  const delta = event.delta;
  return delta.type === 'text_delta' ? delta.text : delta.type === 'input_json_delta' ? delta.partial_json : delta.type === 'thinking_delta' ? delta.thinking : '';
}

/** An OpenAI-compatible upstream's chunks, as Anthropic's events (messages-translate.ts). */
function translatedStreamDialect(call: Call): StreamDialect<UpstreamStreamEvent> {
  const translator = new ChatToMessagesStream({ id: messageId(call), model: call.plan.model.id });
  return {
    read({ chunk, usage, partialUsage }) {
      const { events, produced } = translator.read(chunk);
      return { send: sseEvents(events), produced, usage, partialUsage };
    },
    finish(usage, billing) {
      const delta = { type: 'message_delta', delta: { stop_reason: translator.stopReason, stop_sequence: null }, usage: toAnthropicUsage(usage) };
      const before = sseEvents(translator.end());
      return [...(before ? [before] : []), ...closingEvents(call, delta, billing)];
    },
    error: errorEvent,
  };
}

