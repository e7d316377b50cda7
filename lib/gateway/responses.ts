import { extended } from '../extend';
import type { ApiRequest } from '../http/api-request';
import { ApiResponse, type AnyResponse } from '../http/api-response';
import type { CatalogOffering } from '../catalog/catalog';
import { microsToUsdNumber } from '../money';
import type { UpstreamResponseEvent, UpstreamResponsesRequest, UpstreamStreamEvent, UpstreamUsage } from '../providers/types';
import { HttpError, invalidRequest, parseOrThrow } from '../http/errors';
import { readJsonBody } from '../http/json';
import { authenticate, payKeyless, withQuotaHeaders, type Caller } from './caller';
import { upstreamChatRequest } from './chat';
import { beginCall, streamHeaders, failedCall, runCall, settledJson, type Call } from './call';
import type { GatewayContext } from './context';
import { withFailover } from './failover';
import { planRoute, type RoutePlan } from './routing';
import { refuseUnsupported, responsesRequestSchema, type ResponsesRequest } from './responses-schema';
import {
  ChatToResponsesStream,
  completionOutput,
  newResponseId,
  planningRequest,
  responseEnvelope,
  responsesUsage,
  statusOf,
  toChatRequest,
  type ResponseEvent,
} from './responses-translate';
import type { ChatCompletionRequest } from './schema';
import { billingForClient, estimatedUsage, release, settle, type Billing } from './settle';
import { sseHeaders, sseNamedEvents } from './sse';
import { relayStream, type StreamDialect } from './stream';
import { nowMs } from '../clock';

/**
 * POST /v1/responses, the OpenAI Responses dialect, on the same pipeline as chat completions
 * (chat.ts): authenticate → validate → plan the route and the maximum cost → reserve → call the
 * upstream (failing over before the first byte) → settle. OpenAI upstreams get the request on their
 * native /responses; every other upstream gets it translated to chat completions and its answer
 * translated back (responses-translate.ts). Stateless: nothing is stored (responses-schema.ts).
 */
export async function handleResponses(ctx: GatewayContext, request: ApiRequest, requestId: string): Promise<AnyResponse> {
  const caller: Caller = { key: null };
  try {
    const startedAt = performance.now();
    const payPerRequest = await authenticate(ctx, request, caller, undefined);
    const raw = await readJsonBody(request);
    refuseUnsupported(raw);
    const body = parseOrThrow(responsesRequestSchema, raw);
    const chat = toChatRequest(body);
    const planned = planningRequest(body, chat);
    const plan = planResponses(await ctx.catalog.get(), caller.key ?? { allowedModels: null }, planned);

    let paid: Exclude<Awaited<ReturnType<typeof payKeyless>>, Response> = { plan, principalHeaders: {}, payment: null };
    if (payPerRequest) {
      // Nothing is reserved or charged before the payment is made and the payer known.
      const outcome = await payKeyless(payPerRequest, caller, { request, requestId, body: { ...planned, stream: body.stream ?? null }, plan });
      if (outcome instanceof Response) return outcome;
      paid = outcome;
    }
    const call = await beginCall(ctx, { request, requestId, startedAt, key: caller.key!, plan: paid.plan, body: raw, stream: body.stream === true, surface: 'api', principalHeaders: paid.principalHeaders, payment: paid.payment });
    if (call instanceof Response) return call;
    return runCall(call, () => body.stream ? streamResponses(ctx, call, body, chat) : completeResponses(ctx, call, body, chat));
  } catch (error) {
    withQuotaHeaders(error, caller);
    throw error;
  }
}

/** planRoute, with its refusal of too many output tokens naming this API's parameter. */
function planResponses(...args: Parameters<typeof planRoute>): RoutePlan {
  try {
    return planRoute(...args);
  } catch (error) {
    if (error instanceof HttpError && error.param === 'max_tokens') throw invalidRequest(error.message.replace("'max_tokens'", "'max_output_tokens'"), 'max_output_tokens');
    throw error;
  }
}

/** The client's body as OpenAI's /responses gets it: its model name, max_output_tokens always set, nothing stored. */
function nativeRequest(call: Call, body: ResponsesRequest, offering: CatalogOffering): UpstreamResponsesRequest {
  // `stream` is set by the provider call; stream_options (include_obfuscation) go with it.
  const { provider: _provider, stream: _stream, ...rest } = body;
  return extended(rest, { model: offering.upstreamModel, max_output_tokens: call.plan.maxOutputTokens, store: false });
}

function clientUsage(usage: UpstreamUsage, billing: Billing, reported: unknown) {
  // OpenAI's own usage object is kept as it came (it has details the chat usage lacks); the cost is ours.
  const base = reported && typeof reported === 'object' ? (reported as Record<string, unknown>) : responsesUsage(usage);
  return extended(base, { cost: microsToUsdNumber(billing.cost) });
}

async function completeResponses(ctx: GatewayContext, call: Call, body: ResponsesRequest, chat: ChatCompletionRequest): Promise<AnyResponse> {
  let outcome;
  try {
    outcome = await withFailover(ctx, call, async (provider, offering) => {
      const signal = call.upstreamAbort.signal;
      if (provider.responses) return { native: await provider.responses.create(nativeRequest(call, body, offering), { signal }) };
      return { chat: await provider.complete(upstreamChatRequest(call, chat, offering), { signal }) };
    });
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const { offering, result } = outcome;
  let answer: Record<string, unknown>;
  let usage: UpstreamUsage;
  let reported: unknown = null;
  if (result.native) {
    answer = result.native.response;
    reported = answer.usage;
    usage = result.native.usage ?? estimatedUsage(call, producedByOutput(answer.output));
  } else {
    const completion = result.chat!.completion;
    const { output, status, incomplete_details } = completionOutput(completion);
    answer = responseEnvelope(body, { id: newResponseId('resp'), createdAt: completion.created || Math.floor(nowMs() / 1000), model: call.plan.model.id, status, output, incomplete_details });
    usage = result.chat!.usage ?? estimatedUsage(call, producedByOutput(output));
  }
  const billing = await settle(ctx, call, offering, usage, 'SUCCESS');
  const payload = extended(answer, { model: call.plan.model.id, usage: clientUsage(usage, billing, reported), billing: billingForClient(call, billing) });
  return settledJson(ctx, call, billing, payload);
}

/** The text a response's output items hold, for billing an answer whose upstream reported no usage. */
function producedByOutput(output: unknown): string {
  if (!Array.isArray(output)) return '';
  let text = '';
  for (const item of output as Array<Record<string, unknown>>) {
    if (item.type === 'function_call') text += String(item.name ?? '') + String(item.arguments ?? '');
    for (const part of Array.isArray(item.content) ? (item.content as Array<Record<string, unknown>>) : []) text += String(part.text ?? part.refusal ?? '');
    for (const part of Array.isArray(item.summary) ? (item.summary as Array<Record<string, unknown>>) : []) text += String(part.text ?? '');
  }
  return text;
}

async function streamResponses(ctx: GatewayContext, call: Call, body: ResponsesRequest, chat: ChatCompletionRequest): Promise<AnyResponse> {
  let opened;
  try {
    opened = await withFailover(ctx, call, async (provider, offering) => {
      const signal = call.upstreamAbort.signal;
      if (provider.responses) {
        const iterator = provider.responses.stream(nativeRequest(call, body, offering), { signal })[Symbol.asyncIterator]();
        return { native: { iterator, first: await iterator.next() } };
      }
      const iterator = provider.stream(upstreamChatRequest(call, chat, offering), { signal })[Symbol.asyncIterator]();
      return { chat: { iterator, first: await iterator.next() } };
    });
  } catch (error) {
    throw failedCall(call, await release(ctx, call, error));
  }
  const { offering, result } = opened;
  const stream = result.native
    ? relayStream(ctx, call, { offering, ...result.native }, nativeDialect(call))
    : relayStream(ctx, call, { offering, ...result.chat! }, translatedDialect(call, body));
  return new ApiResponse(200, sseHeaders(await streamHeaders(call)), stream);
}

/** Numbers the events of one stream as OpenAI does, and writes each with its `event:` line. */
function eventWriter() {
  let sequence = 0;
  return (events: ResponseEvent[]): string => sseNamedEvents(events.map((event) => extended(event, { sequence_number: sequence++ })));
}

function failedEvent(call: Call, response: Record<string, unknown>, error: HttpError): ResponseEvent {
  return {
    type: 'response.failed',
    // Nothing is charged for a failed call: the hold was released before this event was written.
    response: { ...response, status: 'failed', model: call.plan.model.id, error: { code: 'server_error', message: error.message }, usage: null, billing: billingForClient(call, { cost: 0n, balance: null, pack: null }) },
  };
}

/**
 * OpenAI's own events, passed on: renumbered (a terminal event the client gets is ours), the model
 * renamed to the one asked for, and the terminal response.completed / response.incomplete held
 * back until the call is settled, then sent with the cost in its usage and the billing.
 */
function nativeDialect(call: Call): StreamDialect<UpstreamResponseEvent> {
  const write = eventWriter();
  let latest: Record<string, unknown> = { id: newResponseId('resp'), object: 'response', created_at: Math.floor(nowMs() / 1000), output: [] };
  let terminal: ResponseEvent | null = null;
  return {
    read({ event, usage }) {
      if (event.response) latest = { ...event.response, model: call.plan.model.id };
      if (event.type === 'response.completed' || event.type === 'response.incomplete') {
        terminal = { ...event, response: latest };
        return { send: null, produced: '', usage };
      }
      const delta = event.type.endsWith('.delta') && typeof event.delta === 'string' ? event.delta : '';
      const send = write([event.response ? { ...event, response: latest } : event]);
      return { send, produced: delta, usage };
    },
    finish(usage, billing) {
      const last = terminal ?? { type: 'response.completed', response: { ...latest, status: 'completed' } };
      const response = last.response as Record<string, unknown>;
      return [write([extended(last, { response: extended(response, { usage: clientUsage(usage, billing, response.usage), billing: billingForClient(call, billing) }) })])];
    },
    error: (error) => write([failedEvent(call, latest, error)]),
  };
}

/** Chat chunks from any other upstream, as Responses events (ChatToResponsesStream), opened by response.created. */
function translatedDialect(call: Call, body: ResponsesRequest): StreamDialect<UpstreamStreamEvent> {
  const write = eventWriter();
  const translator = new ChatToResponsesStream();
  const envelope = (status: 'in_progress' | 'completed' | 'incomplete' | 'failed', incomplete_details: { reason: string } | null = null) =>
    responseEnvelope(body, { id, createdAt, model: call.plan.model.id, status, output: structuredClone(translator.output), incomplete_details });
  const id = newResponseId('resp');
  const createdAt = Math.floor(nowMs() / 1000);
  let started = false;
  const opening = (): ResponseEvent[] => {
    if (started) return [];
    started = true;
    return [
      { type: 'response.created', response: envelope('in_progress') },
      { type: 'response.in_progress', response: envelope('in_progress') },
    ];
  };
  return {
    read({ chunk, usage, partialUsage }) {
      const { events, produced } = translator.chunk(chunk);
      const all = [...opening(), ...events];
      return { send: all.length > 0 ? write(all) : null, produced, usage, partialUsage };
    },
    finish(usage, billing) {
      const closing = [...opening(), ...translator.close()];
      const { status, incomplete_details } = statusOf(translator.finishReason);
      const response = extended(envelope(status, incomplete_details), { usage: clientUsage(usage, billing, null), billing: billingForClient(call, billing) });
      return [write([...closing, { type: status === 'incomplete' ? 'response.incomplete' : 'response.completed', response }])];
    },
    error: (error) => write([...opening(), failedEvent(call, envelope('failed'), error)]),
  };
}

