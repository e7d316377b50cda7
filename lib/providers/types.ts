import type Anthropic from '@anthropic-ai/sdk';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { UpstreamSignal } from './upstream-signal';

export type ProviderId = 'anthropic' | 'google' | 'openai' | 'deepseek' | 'local';

/**
 * The request an upstream receives: the client's OpenAI-shaped body (already validated by the
 * gateway), with `model` replaced by the provider's own model name and `max_tokens` always set
 * (the gateway reserves credit for exactly that many output tokens). Tollgate-only fields such
 * as `provider` are removed before it gets here.
 */
export type UpstreamChatRequest = Omit<ChatCompletionCreateParams, 'stream' | 'stream_options' | 'max_completion_tokens'> & {
  model: string;
  max_tokens: number;
};

/** OpenAI's usage shape; every adapter reports usage this way (Anthropic's is translated). */
export type UpstreamUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Input tokens read from the provider's prompt cache (Anthropic cache_read, OpenAI cached_tokens). */
  cached_tokens?: number;
  /** Input tokens written to the provider's prompt cache (Anthropic cache_creation_input_tokens). */
  cache_creation_tokens?: number;
};

export type UpstreamCompletion = {
  /** An OpenAI chat.completion object; `usage` may be missing if the upstream sent none. */
  completion: ChatCompletion;
  usage: UpstreamUsage | null;
};

/**
 * One event of a streamed completion, already in OpenAI's chunk shape. The final event of a
 * stream carries `usage` when the upstream reported it (chunk with empty `choices`). A chunk with
 * empty `choices` and no usage is a keep-alive: the upstream is working but has nothing to show
 * (a ping, a thinking block), and it tells the relay so.
 */
export type UpstreamStreamEvent = {
  chunk: ChatCompletionChunk;
  usage: UpstreamUsage | null;
  partialUsage?: PartialUsage;
  /**
   * The chunk as the upstream wrote it (an event's `data`), when that text is still exactly `chunk`:
   * an OpenAI-compatible upstream's chunk that normalization left alone. The relay may send it on
   * with only the model renamed, instead of serializing `chunk` again.
   */
  text?: string;
};

/**
 * What an upstream reported of a stream before its end (Anthropic's message_start and
 * message_delta): the prompt, with its cache split, and the output so far. It bills a stream that
 * ended without its final usage (its client left): see usageSoFar in lib/gateway/settle.ts.
 */
export type PartialUsage = UpstreamUsage;

export type UpstreamCallOptions = {
  signal: UpstreamSignal;
};

export type UpstreamErrorKind =
  | 'rate_limited' // 429
  | 'server_error' // 5xx
  | 'timeout'
  | 'connection' // refused, reset, DNS: nothing came back
  | 'bad_request' // 400/404/422 from the upstream: the request itself is the problem
  | 'auth' // 401/403: our provider key is wrong
  | 'aborted'; // the caller's signal fired

/**
 * Every adapter throws only this. `message` is safe to show a client: no provider key, no raw
 * upstream body. `retryable` means another provider may succeed (429, 5xx, timeout, connection, a rejected provider key or unpaid provider account).
 */
export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly status: number | undefined;
  readonly providerId: ProviderId;
  readonly retryAfterSeconds: number | undefined;

  constructor(init: { kind: UpstreamErrorKind; providerId: ProviderId; message: string; status?: number; retryAfterSeconds?: number }) {
    super(init.message);
    this.name = 'UpstreamError';
    this.kind = init.kind;
    this.status = init.status;
    this.providerId = init.providerId;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  get retryable(): boolean {
    // 'auth' too: a rejected key or an unpaid account is one provider's trouble, not the request's.
    return this.kind === 'rate_limited' || this.kind === 'server_error' || this.kind === 'timeout' || this.kind === 'connection' || this.kind === 'auth';
  }
}

export interface ChatProvider {
  readonly id: ProviderId;
  /** Non-streaming completion. */
  complete(request: UpstreamChatRequest, options: UpstreamCallOptions): Promise<UpstreamCompletion>;
  /**
   * Streaming completion. Connection-level failures (refused, 429, 5xx before any event) must be
   * thrown by the first `next()` of the iterator, so the gateway can still fail over; a failure
   * after events were yielded is thrown from a later `next()`.
   */
  stream(request: UpstreamChatRequest, options: UpstreamCallOptions): AsyncIterable<UpstreamStreamEvent>;
  /** Embeddings, for providers that make them (not Anthropic, not DeepSeek). */
  embed?(request: UpstreamEmbeddingRequest, options: UpstreamCallOptions): Promise<UpstreamEmbeddings>;
  /** The upstream's own Responses API (OpenAI), when it has one: /v1/responses uses it instead of translating. */
  readonly responses?: NativeResponses;
  /** Anthropic's Messages API spoken natively, for /v1/messages: only the Anthropic adapter has it. */
  readonly messages?: NativeMessagesApi;
}

/** A /v1/messages request as the upstream gets it: the client's body, its own model name, no `stream`. */
export type NativeMessagesParams = Omit<Anthropic.Messages.MessageCreateParamsNonStreaming, 'stream'>;

/** The client's `anthropic-version` and `anthropic-beta` headers, forwarded as they came. */
export type NativeCallOptions = UpstreamCallOptions & { headers: Record<string, string> };

/**
 * One raw Messages stream event (Claude's keep-alive `ping` included); `usage` is set on
 * message_stop, from the whole stream's counters, and `partialUsage` from message_start on.
 */
export type NativeStreamEvent = { event: Anthropic.Messages.RawMessageStreamEvent | { type: 'ping' }; usage: UpstreamUsage | null; partialUsage?: PartialUsage };

export interface NativeMessagesApi {
  create(params: NativeMessagesParams, options: NativeCallOptions): Promise<{ message: Anthropic.Messages.Message; usage: UpstreamUsage | null }>;
  /** Failures before the first event are thrown by the first `next()`, as for ChatProvider.stream. */
  stream(params: NativeMessagesParams, options: NativeCallOptions): AsyncIterable<NativeStreamEvent>;
  countTokens(params: Anthropic.Messages.MessageCountTokensParams, options: NativeCallOptions): Promise<number>;
}

/**
 * An embeddings request as an upstream receives it: OpenAI's body with the provider's model name.
 * Vectors are always asked for as floats; the gateway encodes base64 itself, so every upstream
 * (Gemini's compatibility layer included) answers in one format.
 */
export type UpstreamEmbeddingRequest = {
  model: string;
  /** One input per item: a text, or token ids. */
  input: Array<string | number[]>;
  dimensions?: number;
  user?: string;
};

export type UpstreamEmbeddings = {
  /** One vector per input, in input order. */
  vectors: number[][];
  /** The upstream's usage.prompt_tokens; null when it reported none. */
  promptTokens: number | null;
};

/** Where a provider is and how to authenticate, read from the environment. */
export type ProviderConnection = {
  apiKey: string | undefined;
  baseURL: string;
  timeoutMs: number;
};

/**
 * A native OpenAI Responses call (POST /responses): the client's validated Responses body with
 * `model` replaced by the provider's model name and `max_output_tokens` always set (the hold
 * counts exactly that many output tokens, reasoning included). Only OpenAI has one; every other
 * upstream is reached through the chat completions translation (lib/gateway/responses-translate.ts).
 */
export type UpstreamResponsesRequest = { model: string; max_output_tokens: number } & Record<string, unknown>;

/** An OpenAI `response` object, as the upstream sent it; `usage` as every adapter reports it. */
export type UpstreamResponse = { response: { usage?: unknown; output?: unknown } & Record<string, unknown>; usage: UpstreamUsage | null };

/** One Responses stream event as the upstream sent it; `usage` on the terminal response.completed / response.incomplete. */
export type UpstreamResponseEvent = { event: { type: string; response?: Record<string, unknown> } & Record<string, unknown>; usage: UpstreamUsage | null };

export interface NativeResponses {
  create(request: UpstreamResponsesRequest, options: UpstreamCallOptions): Promise<UpstreamResponse>;
  /** As ChatProvider.stream: failures before the first event are thrown by the first next(). Ends only after a terminal event. */
  stream(request: UpstreamResponsesRequest, options: UpstreamCallOptions): AsyncIterable<UpstreamResponseEvent>;
}
