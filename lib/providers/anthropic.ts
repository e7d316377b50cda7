import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/streaming';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionContentPart,
  ChatCompletionContentPartRefusal,
  ChatCompletionContentPartText,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { extended } from '../extend';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from '../http/json';
import { toUpstreamError, type SdkFailure } from './openai-compatible';
import { abortSignalOf, type UpstreamSignal } from './upstream-signal';
import {
  UpstreamError,
  type ChatProvider,
  type NativeCallOptions,
  type NativeMessagesApi,
  type NativeMessagesParams,
  type NativeStreamEvent,
  type PartialUsage,
  type ProviderConnection,
  type UpstreamChatRequest,
  type UpstreamStreamEvent,
  type UpstreamUsage,
} from './types';
import { nowMs } from '../clock';

type MessageParam = Anthropic.Messages.MessageParam;
type ContentBlockParam = Anthropic.Messages.ContentBlockParam;
/** The request without `stream`, which complete() and stream() each set. */
type MessageCreateParamsBase = Omit<Anthropic.Messages.MessageCreateParamsNonStreaming, 'stream'>;
type FinishReason = ChatCompletion.Choice['finish_reason'];

const PROVIDER_ID = 'anthropic';
const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;
type ImageMediaType = (typeof IMAGE_MEDIA_TYPES)[number];

function badRequest(message: string): UpstreamError {
  return new UpstreamError({ kind: 'bad_request', providerId: PROVIDER_ID, message });
}

// ---------------------------------------------------------------------------------------------
// Request: OpenAI chat completion -> Anthropic Messages
// ---------------------------------------------------------------------------------------------

/**
 * Translates the gateway's OpenAI-shaped request into Messages API parameters. Throws a
 * bad_request UpstreamError for what Anthropic cannot express, before anything is sent.
 *
 * temperature and top_p are dropped on purpose: API version 2026-10-21 (sent by this SDK
 * major) answers 400 to any sampling parameter, even at its default value.
 */
export function toAnthropicParams(request: UpstreamChatRequest): MessageCreateParamsBase {
  if (typeof request.n === 'number' && request.n > 1) throw badRequest('n > 1 is not supported by anthropic');

  const systemParts: string[] = [];
  const turns: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }> = [];
  const push = (role: 'user' | 'assistant', blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    const last = turns[turns.length - 1];
    // Anthropic requires strictly alternating roles; consecutive turns of one role become one.
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };

  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content);
        if (text) systemParts.push(text);
        break;
      }
      case 'user':
        push('user', userBlocks(message.content));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(message));
        break;
      case 'tool': {
        const text = textOf(message.content);
        push('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id, ...(text ? { content: text } : {}) }]);
        break;
      }
      case 'function':
        throw badRequest('legacy function messages are not supported by anthropic; use tool messages');
    }
  }

  const params: MessageCreateParamsBase = {
    model: request.model,
    max_tokens: request.max_tokens,
    messages: turns satisfies MessageParam[],
  };
  if (systemParts.length > 0) params.system = systemParts.join('\n\n');

  if (request.stop !== undefined && request.stop !== null) {
    const stops = (typeof request.stop === 'string' ? [request.stop] : request.stop).filter((s) => s.length > 0);
    if (stops.length > 0) params.stop_sequences = stops;
  }
  if (request.user) params.metadata = { user_id: request.user };

  const tools = toAnthropicTools(request.tools);
  if (tools.length > 0) {
    params.tools = tools;
    const choice = toAnthropicToolChoice(request.tool_choice, request.parallel_tool_calls);
    if (choice) params.tool_choice = choice;
  }
  return params;
}

type OpenAIContent = string | Array<ChatCompletionContentPartText | ChatCompletionContentPartRefusal> | null | undefined;

function textOf(content: OpenAIContent): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => (part.type === 'text' ? part.text : part.type === 'refusal' ? part.refusal : ''))
    .filter((text) => text.length > 0)
    .join('\n');
}

function textBlock(text: string): ContentBlockParam[] {
  // Anthropic rejects empty text blocks.
  return text.length > 0 ? [{ type: 'text', text }] : [];
}

function userBlocks(content: string | ChatCompletionContentPart[]): ContentBlockParam[] {
  if (typeof content === 'string') return textBlock(content);
  const blocks: ContentBlockParam[] = [];
  for (const part of content) {
    switch (part.type) {
      case 'text':
        blocks.push(...textBlock(part.text));
        break;
      case 'image_url':
        blocks.push(imageBlock(part.image_url.url));
        break;
      case 'file':
        blocks.push(fileBlock(part.file.file_data));
        break;
      case 'input_audio':
        throw badRequest('audio input is not supported by anthropic');
    }
  }
  return blocks;
}

function parseDataUrl(url: string): { mediaType: string; data: string } | null {
  const match = /^data:([^;,]+)(?:;[^;,]*)*;base64,(.*)$/s.exec(url);
  if (!match || match[1] === undefined || match[2] === undefined) return null;
  return { mediaType: match[1].toLowerCase(), data: match[2] };
}

function imageBlock(url: string): ContentBlockParam {
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  const parsed = parseDataUrl(url);
  if (!parsed) throw badRequest('image_url must be an http(s) URL or a base64 data: URL');
  const mediaType = parsed.mediaType === 'image/jpg' ? 'image/jpeg' : parsed.mediaType;
  if (!isImageMediaType(mediaType)) throw badRequest(`image type ${mediaType.slice(0, 40)} is not supported by anthropic`);
  return { type: 'image', source: { type: 'base64', media_type: mediaType, data: parsed.data } };
}

function isImageMediaType(value: string): value is ImageMediaType {
  return (IMAGE_MEDIA_TYPES as readonly string[]).includes(value);
}

function fileBlock(fileData: string | undefined): ContentBlockParam {
  const parsed = fileData ? parseDataUrl(fileData) : null;
  if (!parsed || parsed.mediaType !== 'application/pdf') {
    throw badRequest('only inline PDF files (file_data as a base64 data: URL) are supported by anthropic');
  }
  return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: parsed.data } };
}

function assistantBlocks(message: Extract<ChatCompletionMessageParam, { role: 'assistant' }>): ContentBlockParam[] {
  const blocks = textBlock(textOf(message.content));
  for (const call of message.tool_calls ?? []) {
    if (call.type !== 'function') throw badRequest('custom tool calls are not supported by anthropic');
    blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseToolArguments(call) });
  }
  return blocks;
}

function parseToolArguments(call: ChatCompletionMessageFunctionToolCall): Record<string, unknown> {
  const raw = call.function.arguments.trim();
  if (raw === '') return {};
  // The SDK walks the parsed value again to send it: nesting deeper than a request body may have
  // would overflow its stack (a 502) instead of being the caller's 400.
  if (jsonDepthExceeds(raw, MAX_JSON_DEPTH)) throw badRequest(`the arguments of tool call ${call.id.slice(0, 64)} nest more than ${MAX_JSON_DEPTH} levels deep`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest(`the arguments of tool call ${call.id.slice(0, 64)} are not valid JSON`);
  }
  // Anthropic's tool input must be an object.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badRequest(`the arguments of tool call ${call.id.slice(0, 64)} must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function toAnthropicTools(tools: UpstreamChatRequest['tools']): Anthropic.Messages.Tool[] {
  return (tools ?? []).map((tool) => {
    if (tool.type !== 'function') throw badRequest('custom tools are not supported by anthropic');
    const { name, description, parameters } = tool.function;
    return {
      name,
      ...(description ? { description } : {}),
      input_schema: { ...(parameters ?? {}), type: 'object' },
    };
  });
}

function toAnthropicToolChoice(
  choice: UpstreamChatRequest['tool_choice'],
  parallelToolCalls: UpstreamChatRequest['parallel_tool_calls'],
): Anthropic.Messages.ToolChoice | undefined {
  const noParallel = parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined) return parallelToolCalls === false ? { type: 'auto', ...noParallel } : undefined;
  if (choice === 'auto') return { type: 'auto', ...noParallel };
  if (choice === 'required') return { type: 'any', ...noParallel };
  if (choice === 'none') return { type: 'none' };
  if (choice.type === 'function') return { type: 'tool', name: choice.function.name, ...noParallel };
  throw badRequest(`tool_choice of type ${choice.type} is not supported by anthropic`);
}

// ---------------------------------------------------------------------------------------------
// Response: Anthropic Message -> OpenAI chat.completion
// ---------------------------------------------------------------------------------------------

export function toFinishReason(stopReason: Anthropic.Messages.StopReason | null): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn, or none given.
      return 'stop';
  }
}

type AnthropicUsageParts = {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
};

/** Anthropic's input_tokens excludes cached tokens; OpenAI's prompt_tokens includes them. */
export function toUpstreamUsage(usage: AnthropicUsageParts): UpstreamUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + cacheRead + cacheWrite;
  const completion = usage.output_tokens ?? 0;
  const result: UpstreamUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cacheRead > 0) result.cached_tokens = cacheRead;
  if (cacheWrite > 0) result.cache_creation_tokens = cacheWrite;
  return result;
}

/** message_delta counters are cumulative, so they replace what message_start said. */
function withDeltaUsage(parts: AnthropicUsageParts | null, delta: AnthropicUsageParts): AnthropicUsageParts {
  const next: AnthropicUsageParts = { ...(parts ?? {}) };
  for (const key of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const) {
    const value = delta[key];
    if (typeof value === 'number') next[key] = value;
  }
  return next;
}

function toCompletionUsage(usage: UpstreamUsage): NonNullable<ChatCompletion['usage']> {
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens,
    prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
  };
}

function completionId(messageId: string): string {
  return `chatcmpl-${messageId.replace(/^msg_/, '')}`;
}

export function toChatCompletion(message: Anthropic.Messages.Message, model: string): { completion: ChatCompletion; usage: UpstreamUsage | null } {
  let text = '';
  const toolCalls: ChatCompletionMessageFunctionToolCall[] = [];
  for (const block of message.content) {
    if (block.type === 'text') text += block.text;
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    }
    // Thinking and server-tool blocks have no OpenAI chat equivalent and are left out.
  }
  // A real response always carries usage; a missing one must not be billed as zero tokens.
  const usage = message.usage ? toUpstreamUsage(message.usage) : null;
  const completion: ChatCompletion = {
    id: completionId(message.id),
    object: 'chat.completion',
    created: Math.floor(nowMs() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && toolCalls.length > 0 ? null : text,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: toFinishReason(message.stop_reason),
        logprobs: null,
      },
    ],
    ...(usage ? { usage: toCompletionUsage(usage) } : {}),
  };
  return { completion, usage };
}

// ---------------------------------------------------------------------------------------------
// Streaming: Anthropic raw events -> OpenAI chunks
// ---------------------------------------------------------------------------------------------

/**
 * Stateful translator from Anthropic's raw stream events to OpenAI chunks. Exported so the
 * translation can be unit-tested without a server.
 */
export class AnthropicStreamTranslator {
  private id = 'chatcmpl-anthropic';
  private readonly created = Math.floor(nowMs() / 1000);
  private usageParts: AnthropicUsageParts | null = null;
  /** Anthropic content-block index -> OpenAI tool_calls index. */
  private readonly toolIndexes = new Map<number, number>();
  private sawMessageStop = false;

  constructor(private readonly model: string) {}

  /** Whether message_stop arrived; a stream that ends without it was cut off. */
  get completed(): boolean {
    return this.sawMessageStop;
  }

  /** What message_start and message_delta reported so far (undefined before message_start). */
  get partialUsage(): PartialUsage | undefined {
    return this.usageParts ? toUpstreamUsage(this.usageParts) : undefined;
  }

  /** An event with nothing to show (a ping, a thinking delta): the upstream is alive. */
  keepAlive(): UpstreamStreamEvent {
    return { chunk: this.chunk([]), usage: null };
  }

  translate(event: Anthropic.Messages.RawMessageStreamEvent): UpstreamStreamEvent[] {
    switch (event.type) {
      case 'message_start':
        this.id = completionId(event.message.id);
        if (event.message.usage) this.usageParts = { ...event.message.usage };
        return [this.event({ role: 'assistant', content: '' })];
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text') return block.text ? [this.event({ content: block.text })] : [];
        if (block.type === 'tool_use') {
          const index = this.toolIndexes.size;
          this.toolIndexes.set(event.index, index);
          return [this.event({ tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] })];
        }
        return [];
      }
      case 'content_block_delta': {
        const delta = event.delta;
        if (delta.type === 'text_delta') return delta.text ? [this.event({ content: delta.text })] : [];
        if (delta.type === 'input_json_delta') {
          const index = this.toolIndexes.get(event.index);
          if (index === undefined || !delta.partial_json) return [];
          return [this.event({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
        }
        return [];
      }
      case 'message_delta': {
        if (event.usage) this.usageParts = withDeltaUsage(this.usageParts, event.usage);
        if (!event.delta.stop_reason) return [];
        return [this.event({}, toFinishReason(event.delta.stop_reason))];
      }
      case 'message_stop': {
        this.sawMessageStop = true;
        if (!this.usageParts) return [];
        const usage = toUpstreamUsage(this.usageParts);
        return [{ chunk: this.chunk([], toCompletionUsage(usage)), usage }];
      }
      default:
        // content_block_stop, and event types newer than this adapter.
        return [];
    }
  }

  /** Spelled out, not `{ ...base, choices }`: one per upstream event (lib/extend.ts says why). */
  private chunk(choices: ChatCompletionChunk.Choice[], usage?: ChatCompletionChunk['usage']): ChatCompletionChunk {
    const chunk: ChatCompletionChunk = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices };
    if (usage !== undefined) chunk.usage = usage;
    return chunk;
  }

  private event(delta: ChatCompletionChunk.Choice.Delta, finishReason: FinishReason | null = null): UpstreamStreamEvent {
    return { chunk: this.chunk([{ index: 0, delta, finish_reason: finishReason, logprobs: null }]), usage: null };
  }
}

/**
 * A Messages stream's events as they came, pings included. The SDK still makes the request (its
 * headers, its errors before the first byte), but its own Stream drops `ping`, Claude's keep-alive
 * while it thinks or writes a large tool input: without it, a minute of working silence would look
 * like a stall, and the call would be released unpaid while Anthropic bills it in full.
 */
async function* messageStreamEvents(response: Response): AsyncGenerator<Anthropic.Messages.RawMessageStreamEvent | { type: 'ping' }> {
  let started = false;
  for await (const sse of Stream.rawEvents(response)) {
    if (sse.event === 'ping') {
      // Before message_start a ping would end failover (the first event does) and reach the client
      // ahead of message_start; no idle timer runs yet, so nothing needs it.
      if (started) yield { type: 'ping' };
      continue;
    }
    started = true;
    if (sse.event === null || !sse.data) continue;
    if (sse.event === 'error') {
      // As the SDK's Stream does: an APIError without a status is an in-band error (overloaded_error after the 200).
      let body: unknown = sse.data;
      try {
        body = JSON.parse(sse.data);
      } catch {
        // not JSON: no type to report
      }
      const type = (body as { error?: { type?: unknown } } | null)?.error?.type;
      throw new APIError(undefined, body as object, undefined, response.headers, typeof type === 'string' ? (type as Anthropic.ErrorType) : undefined);
    }
    yield JSON.parse(sse.data) as Anthropic.Messages.RawMessageStreamEvent;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors and the provider
// ---------------------------------------------------------------------------------------------

function describeAnthropicError(error: unknown, signal: UpstreamSignal): SdkFailure {
  if (signal.aborted || error instanceof APIUserAbortError) return { type: 'aborted' };
  if (error instanceof APIConnectionTimeoutError) return { type: 'timeout' };
  if (error instanceof APIConnectionError) return { type: 'connection' };
  if (error instanceof APIError) {
    if (typeof error.status === 'number') return { type: 'status', status: error.status, headers: error.headers, upstreamMessage: error.apiMessage };
    // An `event: error` in the stream (e.g. overloaded_error after the 200).
    return { type: 'in_band', errorType: error.type };
  }
  return { type: 'other', error };
}

export function createAnthropicProvider(connection: ProviderConnection): ChatProvider {
  // Without a key the SDK would fall back to its credential chain (environment, config files).
  const client = connection.apiKey
    ? new Anthropic({
        apiKey: connection.apiKey,
        baseURL: connection.baseURL,
        timeout: connection.timeoutMs,
        // The gateway fails over to another provider itself; SDK retries would only delay that.
        maxRetries: 0,
        // SDK 1.x sends the key as `Authorization: Bearer`. x-api-key is the header every Anthropic
        // API version and Anthropic-compatible proxy (a custom ANTHROPIC_BASE_URL) understands.
        defaultHeaders: { 'x-api-key': connection.apiKey, Authorization: null },
      })
    : null;

  function requireClient(): Anthropic {
    if (!client) throw new UpstreamError({ kind: 'auth', providerId: PROVIDER_ID, message: 'anthropic has no API key configured' });
    return client;
  }

  function fail(error: unknown, signal: UpstreamSignal, midStream: boolean): UpstreamError {
    if (error instanceof UpstreamError) return error;
    return toUpstreamError(describeAnthropicError(error, signal), {
      providerId: PROVIDER_ID,
      apiKey: connection.apiKey,
      timeoutMs: connection.timeoutMs,
      midStream,
    });
  }

  async function* streamCompletion(request: UpstreamChatRequest, signal: UpstreamSignal): AsyncGenerator<UpstreamStreamEvent> {
    const params = toAnthropicParams(request);
    const anthropic = requireClient();
    // Awaited before the first yield, so connect/429/5xx failures surface on the first next().
    let response: Response;
    try {
      response = await anthropic.messages.create(extended(params, { stream: true as const }), { signal: abortSignalOf(signal) }).asResponse();
    } catch (error) {
      throw fail(error, signal, false);
    }
    const translator = new AnthropicStreamTranslator(request.model);
    let yielded = false;
    try {
      for await (const event of messageStreamEvents(response)) {
        // Every upstream event yields at least a keep-alive: a long thinking block or a run of
        // pings shows nothing to an OpenAI client, but must not look like a stall to the relay.
        const out = event.type === 'ping' ? [] : translator.translate(event);
        if (out.length === 0) out.push(translator.keepAlive());
        const partialUsage = translator.partialUsage;
        for (const one of out) {
          yielded = true;
          yield partialUsage ? { chunk: one.chunk, usage: one.usage, partialUsage } : one;
        }
      }
    } catch (error) {
      throw fail(error, signal, yielded);
    }
    // A body cut by the abort may also just end.
    if (signal.aborted) throw fail(null, signal, true);
    if (!translator.completed) {
      throw new UpstreamError({ kind: 'connection', providerId: PROVIDER_ID, message: 'the stream from anthropic ended before the message was complete' });
    }
  }

  /**
   * The client's own Messages request (/v1/messages), through as it came: cache_control, thinking
   * and its signatures, betas. Only the model name and max_tokens are the gateway's, and the
   * client's anthropic-version and anthropic-beta headers replace the SDK's.
   */
  const messages: NativeMessagesApi = {
    async create(params, { signal, headers }) {
      const anthropic = requireClient();
      let message: Anthropic.Messages.Message;
      try {
        message = await anthropic.messages.create(extended(params, { stream: false as const }), { signal: abortSignalOf(signal), headers });
      } catch (error) {
        throw fail(error, signal, false);
      }
      return { message, usage: message.usage ? toUpstreamUsage(message.usage) : null };
    },
    stream(params, options) {
      return streamNative(params, options);
    },
    async countTokens(params, { signal, headers }) {
      const anthropic = requireClient();
      try {
        return (await anthropic.messages.countTokens(params, { signal: abortSignalOf(signal), headers })).input_tokens;
      } catch (error) {
        throw fail(error, signal, false);
      }
    },
  };

  async function* streamNative(params: NativeMessagesParams, { signal, headers }: NativeCallOptions): AsyncGenerator<NativeStreamEvent> {
    const anthropic = requireClient();
    let response: Response;
    try {
      response = await anthropic.messages.create(extended(params, { stream: true as const }), { signal: abortSignalOf(signal), headers }).asResponse();
    } catch (error) {
      throw fail(error, signal, false);
    }
    let usageParts: AnthropicUsageParts | null = null;
    let completed = false;
    let yielded = false;
    try {
      for await (const event of messageStreamEvents(response)) {
        let usage: UpstreamUsage | null = null;
        // A message_start without usage reports nothing: not a prompt of zero tokens.
        if (event.type === 'message_start') usageParts = event.message.usage ? { ...event.message.usage } : null;
        else if (event.type === 'message_delta' && event.usage) usageParts = withDeltaUsage(usageParts, event.usage);
        else if (event.type === 'message_stop') {
          completed = true;
          // A real stream always reports usage; a missing one (or one without its input tokens,
          // from a proxy that left message_start's out) must not be billed as zero tokens.
          usage = typeof usageParts?.input_tokens === 'number' ? toUpstreamUsage(usageParts) : null;
        }
        yielded = true;
        yield usageParts ? { event, usage, partialUsage: toUpstreamUsage(usageParts) } : { event, usage };
      }
    } catch (error) {
      throw fail(error, signal, yielded);
    }
    if (signal.aborted) throw fail(null, signal, true);
    if (!completed) throw new UpstreamError({ kind: 'connection', providerId: PROVIDER_ID, message: 'the stream from anthropic ended before the message was complete' });
  }

  return {
    id: PROVIDER_ID,
    messages,
    async complete(request, { signal }) {
      const params = toAnthropicParams(request);
      const anthropic = requireClient();
      let message: Anthropic.Messages.Message;
      try {
        message = await anthropic.messages.create(extended(params, { stream: false as const }), { signal: abortSignalOf(signal) });
      } catch (error) {
        throw fail(error, signal, false);
      }
      return toChatCompletion(message, request.model);
    },
    stream(request, { signal }) {
      return streamCompletion(request, signal);
    },
  };
}
