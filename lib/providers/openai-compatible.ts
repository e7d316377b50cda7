import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { Agent, type Dispatcher } from 'undici';
import type { CompletionUsage } from 'openai/resources/completions';
import { extended } from '../extend';
import type { UpstreamSignal } from './upstream-signal';
import { serverSentEventBatches } from './server-sent-events';
import {
  UpstreamError,
  type ChatProvider,
  type NativeResponses,
  type ProviderConnection,
  type ProviderId,
  type UpstreamChatRequest,
  type UpstreamEmbeddings,
  type UpstreamResponseEvent,
  type UpstreamResponsesRequest,
  type UpstreamStreamEvent,
  type UpstreamUsage,
} from './types';

/**
 * An SDK failure reduced to what the gateway needs to decide on failover. Both SDK families
 * (openai, @anthropic-ai/sdk) have the same error shapes; each adapter classifies its own
 * SDK's classes into this, and `toUpstreamError` turns it into a client-safe UpstreamError.
 */
export type SdkFailure =
  | { type: 'aborted' }
  | { type: 'timeout' }
  | { type: 'connection' }
  | { type: 'status'; status: number; headers: Headers | undefined; upstreamMessage: string | null }
  /** An error the upstream reported inside a 200 response (an SSE error event). */
  | { type: 'in_band'; errorType: string | null }
  | { type: 'other'; error: unknown };

export type ErrorContext = {
  providerId: ProviderId;
  /** Redacted from any upstream text that ends up in a message. */
  apiKey: string | undefined;
  timeoutMs: number;
  /** Whether events were already being received: a lost connection then is not a refused one. */
  midStream: boolean;
};

const MAX_UPSTREAM_MESSAGE_LENGTH = 300;
const OPENAI_REASONING_MODEL = /^(o\d|gpt-5)/;

export function toUpstreamError(failure: SdkFailure, ctx: ErrorContext): UpstreamError {
  const providerId = ctx.providerId;
  switch (failure.type) {
    case 'aborted':
      return new UpstreamError({ kind: 'aborted', providerId, message: `request to ${providerId} was aborted` });
    case 'timeout':
      return new UpstreamError({ kind: 'timeout', providerId, message: `${providerId} did not answer within ${ctx.timeoutMs} ms` });
    case 'connection':
      return connectionLost(ctx);
    case 'status':
      return fromStatus(failure.status, failure.headers, failure.upstreamMessage, ctx);
    case 'in_band':
      return fromInBandError(failure.errorType, ctx);
    case 'other':
      // A chunk that is not JSON means the upstream (or a proxy in front of it) is broken.
      if (failure.error instanceof SyntaxError) {
        return new UpstreamError({ kind: 'server_error', providerId, message: `${providerId} sent a malformed response` });
      }
      // Anything else (undici's "terminated", ECONNRESET while reading the body) is a lost connection.
      return connectionLost(ctx);
  }
}

function connectionLost(ctx: ErrorContext): UpstreamError {
  return new UpstreamError({
    kind: 'connection',
    providerId: ctx.providerId,
    message: ctx.midStream ? `the connection to ${ctx.providerId} was lost mid-stream` : `could not connect to ${ctx.providerId}`,
  });
}

function fromStatus(status: number, headers: Headers | undefined, upstreamMessage: string | null, ctx: ErrorContext): UpstreamError {
  const providerId = ctx.providerId;
  if (status === 429) {
    return new UpstreamError({
      kind: 'rate_limited',
      providerId,
      status,
      retryAfterSeconds: parseRetryAfter(headers),
      message: `${providerId} returned 429 (rate limited)`,
    });
  }
  if (status >= 500) {
    const what = status === 529 ? 'overloaded' : 'server error';
    return new UpstreamError({ kind: 'server_error', providerId, status, message: `${providerId} returned ${status} (${what})` });
  }
  // 402 is the provider account being out of funds: the operator's problem, like a bad key, and
  // the client must not learn about the operator's billing from the upstream's text.
  if (status === 401 || status === 403 || status === 402) {
    const what = status === 402 ? 'provider account needs attention' : 'provider credentials rejected';
    return new UpstreamError({ kind: 'auth', providerId, status, message: `${providerId} returned ${status} (${what})` });
  }
  if (status === 408) {
    return new UpstreamError({ kind: 'timeout', providerId, status, message: `${providerId} returned 408 (request timeout)` });
  }
  // Anthropic says its account is out of credit with a 400 invalid_request_error (OpenAI with a 429
  // insufficient_quota): the operator's problem like a 402, never the caller's 400, and never its text.
  if (upstreamMessage && OPERATOR_BILLING.test(upstreamMessage)) {
    return new UpstreamError({ kind: 'auth', providerId, status, message: `${providerId} returned ${status} (provider account needs attention)` });
  }
  const detail = upstreamMessage ? sanitizeUpstreamMessage(upstreamMessage, ctx.apiKey) : '';
  return new UpstreamError({
    kind: 'bad_request',
    providerId,
    status,
    message: detail ? `${providerId} returned ${status}: ${detail}` : `${providerId} returned ${status} (bad request)`,
  });
}

// Exact phrases only: an upstream's 400 echoes the caller's own names (a tool called get_billing_info).
const OPERATOR_BILLING = /credit balance is too low|insufficient_quota|exceeded your current quota/i;

function fromInBandError(errorType: string | null, ctx: ErrorContext): UpstreamError {
  const providerId = ctx.providerId;
  // Only a short machine identifier is echoed; anything else from the body stays out of the message.
  const label = errorType && /^[a-z_]{1,40}$/.test(errorType) ? ` (${errorType})` : '';
  const message = `${providerId} reported an error${ctx.midStream ? ' mid-stream' : ''}${label}`;
  const type = errorType ?? '';
  if (type.includes('rate_limit')) return new UpstreamError({ kind: 'rate_limited', providerId, message });
  if (type.includes('authentication') || type.includes('permission')) return new UpstreamError({ kind: 'auth', providerId, message });
  if (type.includes('invalid_request')) return new UpstreamError({ kind: 'bad_request', providerId, message });
  return new UpstreamError({ kind: 'server_error', providerId, message });
}

/** Upstream validation messages are useful to the client, but may echo secrets or be huge. */
function sanitizeUpstreamMessage(message: string, apiKey: string | undefined): string {
  let text = message;
  if (apiKey && apiKey.length >= 4) text = text.split(apiKey).join('[redacted]');
  // Partially masked keys ("sk-proj-abc***xyz") and Google keys ("AIza...") are secrets too.
  text = text.replace(/\bsk-[A-Za-z0-9_\-*.]{6,}/g, '[redacted]').replace(/\bAIza[0-9A-Za-z_\-]{20,}/g, '[redacted]');
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > MAX_UPSTREAM_MESSAGE_LENGTH ? `${text.slice(0, MAX_UPSTREAM_MESSAGE_LENGTH)}…` : text;
}

/** Retry-After as seconds (delta-seconds or HTTP date), falling back to the non-standard retry-after-ms. */
export function parseRetryAfter(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const value = headers.get('retry-after')?.trim();
  if (value) {
    if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  }
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms) / 1000);
  return undefined;
}

/**
 * A failure of the HTTP client (undici) reduced to what the gateway needs. The caller's abort can
 * surface as an AbortError, a socket error or a quiet end; the signal is the truth.
 */
function describeHttpError(error: unknown, signal: UpstreamSignal): SdkFailure {
  if (signal.aborted) return { type: 'aborted' };
  if (error instanceof SyntaxError) return { type: 'other', error };
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return { type: 'timeout' };
  if (error instanceof Error && error.name === 'AbortError') return { type: 'aborted' };
  return { type: 'connection' };
}

/** OpenAI's error body is `{ error: { message, type, code, param } }`. */
function errorMessageOf(text: string): string | null {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (body.error && typeof body.error === 'object' && typeof body.error.message === 'string') return body.error.message;
    if (typeof body.error === 'string') return body.error;
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: the status alone says what happened
  }
  return null;
}

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

/**
 * Maps OpenAI's usage. Cache counters are only reported when the cache was actually used, so a
 * provider that always sends `cached_tokens: 0` and one that omits it look the same downstream.
 */
export function toUpstreamUsage(usage: CompletionUsage | null | undefined): UpstreamUsage | null {
  if (!usage) return null;
  const result: UpstreamUsage = {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
  };
  // DeepSeek reports its context cache as top-level prompt_cache_hit_tokens instead.
  const deepSeek = usage as CompletionUsage & { prompt_cache_hit_tokens?: number };
  const cached = usage.prompt_tokens_details?.cached_tokens ?? deepSeek.prompt_cache_hit_tokens;
  if (typeof cached === 'number' && cached > 0) result.cached_tokens = cached;
  const written = usage.prompt_tokens_details?.cache_write_tokens;
  if (typeof written === 'number' && written > 0) result.cache_creation_tokens = written;
  return result;
}

/**
 * OpenAI's chat completions API and the providers that speak it (Gemini's and DeepSeek's
 * compatibility endpoints), over a keep-alive undici connection pool. The validated body goes out
 * as one JSON string and the answer is parsed once: the official SDK's per-call work (headers,
 * retries, fetch's Request/Response objects, its SSE classes) cost more than the gateway itself on
 * the hot path. The SDK still checks this wire format in the tests, as the clients' side.
 */
export function createOpenAICompatibleProvider({ id, connection, nativeResponses = false }: { id: ProviderId; connection: ProviderConnection; nativeResponses?: boolean }): ChatProvider {
  const base = new URL(connection.baseURL.endsWith('/') ? connection.baseURL : `${connection.baseURL}/`);
  const url = new URL('chat/completions', base);
  const embeddingsUrl = new URL('embeddings', base);
  const pool = new Agent({ keepAliveTimeout: 60_000, connect: { timeout: connection.timeoutMs } });
  const headers = connection.apiKey ? { authorization: `Bearer ${connection.apiKey}`, 'content-type': 'application/json', accept: 'application/json' } : null;

  function fail(error: unknown, signal: UpstreamSignal, midStream: boolean): UpstreamError {
    if (error instanceof UpstreamError) return error;
    return toUpstreamError(describeHttpError(error, signal), { providerId: id, apiKey: connection.apiKey, timeoutMs: connection.timeoutMs, midStream });
  }

  function toParams(request: UpstreamChatRequest): Omit<ChatCompletionCreateParamsNonStreaming, 'stream'> {
    // OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) answer 400 to max_tokens and need
    // max_completion_tokens. Other models, and Google's and DeepSeek's compatibility layers, get
    // max_tokens as the client sent it.
    if (id === 'openai' && OPENAI_REASONING_MODEL.test(request.model)) {
      const { max_tokens, ...rest } = request;
      return extended(rest, { max_completion_tokens: max_tokens });
    }
    return request;
  }

  /** Sends the request and returns the response once its headers are in: anything but a 2xx is thrown. */
  async function send(body: unknown, signal: UpstreamSignal, target: URL = url) {
    if (!headers) throw new UpstreamError({ kind: 'auth', providerId: id, message: `${id} has no API key configured` });
    let response: Dispatcher.ResponseData;
    try {
      response = await pool.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal,
        headersTimeout: connection.timeoutMs,
        bodyTimeout: connection.timeoutMs,
      });
    } catch (error) {
      throw fail(error, signal, false);
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      const text = await response.body.text().catch(() => '');
      throw fail(toUpstreamError({ type: 'status', status: response.statusCode, headers: toHeaders(response.headers), upstreamMessage: errorMessageOf(text) }, { providerId: id, apiKey: connection.apiKey, timeoutMs: connection.timeoutMs, midStream: false }), signal, false);
    }
    return response;
  }

  async function* streamCompletion(request: UpstreamChatRequest, signal: UpstreamSignal): AsyncGenerator<UpstreamStreamEvent> {
    // Awaiting the response before the first yield makes connect/429/5xx failures surface on the
    // first next(), while the gateway can still fail over.
    const response = await send(extended(toParams(request), { stream: true, stream_options: { include_usage: true } }), signal);
    let finished = false;
    const normalize = toolCallNormalizer();
    try {
      // Not destroyed when the loop stops at [DONE]: see the finally below.
      read: for await (const events of serverSentEventBatches(response.body.iterator({ destroyOnReturn: false }))) {
        for (const event of events) {
          if (event.data === '[DONE]') break read;
          const chunk = JSON.parse(event.data) as ChatCompletionChunk & { error?: { type?: unknown } };
          if (event.event === 'error' || chunk.error) {
            const errorType = chunk.error && typeof chunk.error.type === 'string' ? chunk.error.type : null;
            throw toUpstreamError({ type: 'in_band', errorType }, { providerId: id, apiKey: connection.apiKey, timeoutMs: connection.timeoutMs, midStream: true });
          }
          if (chunk.choices.some((choice) => choice.finish_reason !== null && choice.finish_reason !== undefined)) finished = true;
          const changed = normalize(chunk);
          yield { chunk, usage: toUpstreamUsage(chunk.usage), text: changed ? undefined : event.data };
        }
      }
    } catch (error) {
      throw fail(error, signal, true);
    } finally {
      // Stopped at [DONE] (the body's end is normally right behind it) or on an in-band error:
      // the rest is read and dropped in the background, which keeps the pooled connection and
      // costs no AbortError (destroying a body makes one, stack and all, on every call). An
      // aborted call's body was destroyed with its request.
      if (!response.body.readableEnded && !signal.aborted) void response.body.dump().catch(() => undefined);
    }
    if (signal.aborted) throw fail(null, signal, true);
    if (!finished) {
      throw new UpstreamError({ kind: 'connection', providerId: id, message: `the stream from ${id} ended before the completion finished` });
    }
  }

  return {
    id,
    ...(nativeResponses ? { responses: createNativeResponses(new URL('responses', base), send, fail, { id, connection }) } : {}),
    async complete(request, { signal }) {
      const response = await send(extended(toParams(request), { stream: false }), signal);
      let completion: ChatCompletion;
      try {
        completion = (await response.body.json()) as ChatCompletion;
      } catch (error) {
        throw fail(error, signal, true);
      }
      // A 200 without choices (an error object, a proxy's page) is the upstream's failure: fail over.
      if (!completion || !Array.isArray(completion.choices)) {
        throw new UpstreamError({ kind: 'server_error', providerId: id, message: `${id} sent a malformed response` });
      }
      normalizeFinishReasons(completion);
      return { completion, usage: toUpstreamUsage(completion.usage) };
    },
    stream(request, { signal }) {
      return streamCompletion(request, signal);
    },
    async embed(request, { signal }) {
      const response = await send({ ...request, encoding_format: 'float' }, signal, embeddingsUrl);
      let body: unknown;
      try {
        body = await response.body.json();
      } catch (error) {
        throw fail(error, signal, true);
      }
      const embeddings = toUpstreamEmbeddings(body, request.input.length);
      // A 200 that is not one vector per input (an error object, a proxy's page) is the upstream's failure: fail over.
      if (!embeddings) throw new UpstreamError({ kind: 'server_error', providerId: id, message: `${id} sent a malformed embeddings response` });
      return embeddings;
    },
  };
}

/**
 * OpenAI's contract, which the chat clients and the gateway's translators rely on, joins a tool
 * call's deltas by `index`, a new call taking the next, and ends a turn with tool calls with
 * finish_reason 'tool_calls'. OpenAI-compatible servers bend it: Gemini streams each call whole
 * with its own id and no index, and says 'stop'; Ollama gives every parallel call index 0, told
 * apart only by its id; vLLM repeats the id on every delta. Read as they come, parallel calls would
 * merge into one and an agent loop would stop. So each choice's calls are renumbered: a delta with
 * an id seen before joins that call; a new id opens a new call (even on an index already taken); a
 * delta without an id continues the call its index names, or, without an index either, the last
 * call (a new one if it names a function). 'stop' after tool calls becomes 'tool_calls'. OpenAI's
 * own deltas keep their indexes.
 */
export function toolCallNormalizer(): (chunk: ChatCompletionChunk) => boolean {
  type State = { byId: Map<string, number>; byGiven: Map<number, number>; last: number; next: number };
  const choices = new Map<number, State>();
  // Returns whether it changed the chunk (an index renumbered or given, a finish reason renamed).
  return (chunk) => {
    let changed = false;
    for (const choice of chunk.choices) {
      let state = choices.get(choice.index);
      for (const call of choice.delta.tool_calls ?? []) {
        state ??= { byId: new Map(), byGiven: new Map(), last: -1, next: 0 };
        const given = typeof (call as { index?: unknown }).index === 'number' ? call.index : null;
        const known = call.id ? state.byId.get(call.id) : undefined;
        let index: number;
        if (known !== undefined) index = known;
        else if (call.id || (given === null ? call.function?.name || state.last < 0 : !state.byGiven.has(given))) index = state.next;
        else index = given === null ? state.last : state.byGiven.get(given)!;
        if (call.id) state.byId.set(call.id, index);
        if (given !== null) state.byGiven.set(given, index);
        if (call.index !== index) changed = true;
        call.index = index;
        state.last = index;
        state.next = Math.max(state.next, index + 1);
      }
      if (state) choices.set(choice.index, state);
      if (choice.finish_reason === 'stop' && state) {
        choice.finish_reason = 'tool_calls';
        changed = true;
      }
    }
    return changed;
  };
}

/** The same for a whole completion: a message with tool calls that finished with 'stop' finished for them. */
function normalizeFinishReasons(completion: ChatCompletion): void {
  for (const choice of completion.choices) {
    if (choice.finish_reason === 'stop' && choice.message?.tool_calls?.length) choice.finish_reason = 'tool_calls';
  }
}

/** OpenAI's embeddings list (`data[].index`, `data[].embedding`, `usage.prompt_tokens`), or null if it is not one vector of numbers per input. */
export function toUpstreamEmbeddings(body: unknown, inputs: number): UpstreamEmbeddings | null {
  const list = body as { data?: unknown; usage?: { prompt_tokens?: unknown } } | null;
  if (!list || !Array.isArray(list.data) || list.data.length !== inputs) return null;
  const vectors: number[][] = new Array<number[]>(inputs);
  for (const [position, item] of (list.data as Array<{ index?: unknown; embedding?: unknown } | null>).entries()) {
    const index = typeof item?.index === 'number' ? item.index : position;
    // Asked for floats; an upstream that sends base64 anyway is read as OpenAI's little-endian float32s.
    const vector = typeof item?.embedding === 'string' ? fromFloat32Base64(item.embedding) : item?.embedding;
    if (!Number.isInteger(index) || index < 0 || index >= inputs || vectors[index] || !Array.isArray(vector) || !vector.every((x) => typeof x === 'number')) return null;
    vectors[index] = vector as number[];
  }
  const reported = list.usage?.prompt_tokens;
  return { vectors, promptTokens: typeof reported === 'number' && Number.isInteger(reported) && reported >= 0 ? reported : null };
}

function fromFloat32Base64(text: string): number[] | null {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) return null;
  const vector: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) vector.push(bytes.readFloatLE(i));
  return vector;
}

/** Responses' usage as every adapter reports it: reasoning tokens are part of output_tokens, and billed so. */
export function fromResponsesUsage(usage: unknown): UpstreamUsage | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as { input_tokens?: unknown; output_tokens?: unknown; total_tokens?: unknown; input_tokens_details?: { cached_tokens?: unknown } | null };
  if (typeof u.input_tokens !== 'number' || typeof u.output_tokens !== 'number') return null;
  const result: UpstreamUsage = { prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens, total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.input_tokens + u.output_tokens };
  const cached = u.input_tokens_details?.cached_tokens;
  if (typeof cached === 'number' && cached > 0) result.cached_tokens = cached;
  return result;
}

const TERMINAL_RESPONSE_EVENTS = new Set(['response.completed', 'response.incomplete']);

/**
 * OpenAI's own Responses API (POST /responses) over the same pool, for /v1/responses: no
 * translation, so reasoning items, encrypted reasoning and every event reach the client as OpenAI
 * sent them. A stream is complete only once its response.completed or response.incomplete came;
 * response.failed and error events are the upstream's failure.
 */
function createNativeResponses(
  url: URL,
  send: (body: unknown, signal: UpstreamSignal, target: URL) => Promise<Dispatcher.ResponseData>,
  fail: (error: unknown, signal: UpstreamSignal, midStream: boolean) => UpstreamError,
  { id, connection }: { id: ProviderId; connection: ProviderConnection },
): NativeResponses {
  const inBand = (errorType: string | null, midStream = true) => toUpstreamError({ type: 'in_band', errorType }, { providerId: id, apiKey: connection.apiKey, timeoutMs: connection.timeoutMs, midStream });

  async function* streamResponse(request: UpstreamResponsesRequest, signal: UpstreamSignal): AsyncGenerator<UpstreamResponseEvent> {
    const response = await send(extended(request, { stream: true }), signal, url);
    let finished = false;
    try {
      read: for await (const events of serverSentEventBatches(response.body.iterator({ destroyOnReturn: false }))) {
        for (const sse of events) {
          if (sse.data === '[DONE]') break read;
          const event = JSON.parse(sse.data) as UpstreamResponseEvent['event'];
          if (event.type === 'error') throw inBand(typeof event.code === 'string' ? event.code : null);
          if (event.type === 'response.failed') {
            const error = event.response?.error as { code?: unknown } | null | undefined;
            throw inBand(typeof error?.code === 'string' ? error.code : null);
          }
          const terminal = TERMINAL_RESPONSE_EVENTS.has(event.type);
          yield { event, usage: terminal ? fromResponsesUsage(event.response?.usage) : null };
          if (terminal) {
            finished = true;
            break read;
          }
        }
      }
    } catch (error) {
      throw fail(error, signal, true);
    } finally {
      if (!response.body.readableEnded && !signal.aborted) void response.body.dump().catch(() => undefined);
    }
    if (signal.aborted) throw fail(null, signal, true);
    if (!finished) throw new UpstreamError({ kind: 'connection', providerId: id, message: `the stream from ${id} ended before the response finished` });
  }

  return {
    async create(request, { signal }) {
      const response = await send(extended(request, { stream: false }), signal, url);
      let body: Record<string, unknown>;
      try {
        body = (await response.body.json()) as Record<string, unknown>;
      } catch (error) {
        throw fail(error, signal, true);
      }
      if (!body || !Array.isArray(body.output)) throw new UpstreamError({ kind: 'server_error', providerId: id, message: `${id} sent a malformed response` });
      if (body.status === 'failed') {
        const error = body.error as { code?: unknown } | null | undefined;
        throw inBand(typeof error?.code === 'string' ? error.code : null, false);
      }
      return { response: body, usage: fromResponsesUsage(body.usage) };
    },
    stream(request, { signal }) {
      return streamResponse(request, signal);
    },
  };
}
