/*
 * A fake model provider for tests and benchmarks. It speaks OpenAI's chat completions wire format
 * on any POST path ending in /chat/completions (and its embeddings on one ending in /embeddings),
 * OpenAI's Responses wire format on any POST path ending in /responses, and Anthropic's Messages
 * wire format on POST /v1/messages (streaming or not, thinking blocks included) and
 * /v1/messages/count_tokens, and can be told to be slow, fail, or drop connections.
 * It does no logging and no work beyond JSON, so a benchmark measures the gateway, not this.
 *
 * Behavior is global (setBehavior), and a request can also carry faults of its own, for tests that
 * run many calls at once with different faults: a marker such as `[[fault:die_after=3,chunk_ms=10]]`
 * in the text of its last user message applies to that request only (faultDirective below lists them).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countTokens } from 'gpt-tokenizer';

export type FakeUsage = {
  prompt_tokens: number;
  completion_tokens: number;
  /** OpenAI format: reported as usage.prompt_tokens_details.cached_tokens. */
  cached_tokens?: number;
  /** Anthropic format: reported beside input_tokens (which stays prompt_tokens). */
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
};

export type FakeToolCall = { name: string; arguments: string | Record<string, unknown> };

export type FakeBehavior = {
  /** Delay before answering (before any header is sent). */
  latencyMs: number;
  /** Delay between SSE events. */
  chunkDelayMs: number;
  /** Answer with this status and a provider-shaped error body (429 adds `retry-after: 1`). */
  failStatus?: number;
  /** Fail only the next N requests, then behave; unset means fail every request while failStatus is set. */
  failTimes?: number;
  /** Destroy the socket after this many SSE events instead of finishing the stream. */
  dieAfterChunks?: number;
  /** Leave usage out (no usage chunk when streaming, no usage object otherwise). */
  omitUsage: boolean;
  usage: FakeUsage;
  text: string;
  /** Reply with this tool call instead of text. */
  toolCall?: FakeToolCall;
  /** Answer 401 unless the request presents this key (Authorization: Bearer, or x-api-key for Anthropic). */
  requireApiKey?: string;
  /** Answer 401 to a request presenting any of these keys (a seller's key revoked at the provider). */
  rejectApiKeys?: string[];
  /** Replaces the `message` of error bodies (e.g. to check that upstream text is sanitized). */
  errorMessage?: string;
  /** 'length' reports finish_reason 'length' / stop_reason 'max_tokens' instead of a normal stop. */
  finishReason: 'stop' | 'length';
  /** Record requests in `requests`; a long benchmark can turn this off to keep memory flat. */
  record: boolean;
  /** Pause this long once, after `stallAfterChunks` (default 2) SSE events: a stream that stalls mid-way. */
  stallMs?: number;
  stallAfterChunks?: number;
  /** Anthropic format: an extended-thinking block (thinking_delta, then signature_delta when streaming) before the reply. */
  thinking?: { text: string; signature: string };
  /**
   * OpenAI format: reply with these tool calls the way Gemini's OpenAI-compatible endpoint does:
   * each call whole in a chunk of its own with its own id and no `index`, and finish_reason 'stop'
   * (not 'tool_calls'), streaming or not.
   */
  geminiToolCalls?: FakeToolCall[];
  /** Anthropic format: during the stallMs pause, a `ping` every this many ms (Claude alive but silent, e.g. thinking). */
  stallPingMs?: number;
};

/**
 * A request's own faults, from `[[fault:name=value,...]]` markers in its last user message
 * (several markers, or several comma-separated directives in one, combine):
 * - `status=N`: answer N with a provider-shaped error (429 adds retry-after), whatever failStatus says;
 * - `die_after=N`: destroy the socket after N SSE events (dieAfterChunks);
 * - `stall_ms=N`, `stall_after=K`: pause N ms once after K events (stallMs, stallAfterChunks);
 * - `latency_ms=N`: wait N ms before answering (latencyMs); `chunk_ms=N`: between events (chunkDelayMs);
 * - `no_usage`: leave usage out (omitUsage); `usage=P/C`: report P prompt and C completion tokens;
 * - `ping_ms=N`: Anthropic format, a ping every N ms during the stall (stallPingMs).
 * Unknown directives are ignored. Null when the request carries none.
 */
export type FaultDirective = { behavior: Partial<FakeBehavior>; failStatus?: number };

export function faultDirective(body: unknown): FaultDirective | null {
  // A Responses request's conversation is its `input`: a string is one user message.
  const input = asObject(body).input;
  const messages = typeof input === 'string' ? [{ role: 'user', content: input }] : Array.isArray(input) ? input : asObject(body).messages;
  if (!Array.isArray(messages)) return null;
  const lastUser = [...messages].reverse().map(asObject).find((m) => m.role === 'user');
  if (!lastUser) return null;
  const content = lastUser.content;
  const text =
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? content.map((part) => asObject(part)).map((part) => (typeof part.text === 'string' ? part.text : '')).join(' ')
        : '';
  const markers = [...text.matchAll(/\[\[fault:([^\]]*)\]\]/g)];
  if (markers.length === 0) return null;
  const directive: FaultDirective = { behavior: {} };
  const b = directive.behavior;
  for (const item of markers.flatMap((m) => m[1]!.split(','))) {
    const [name, raw = ''] = item.trim().split('=', 2) as [string, string?];
    const n = Number(raw);
    const count = Number.isFinite(n) && n >= 0 ? n : undefined;
    if (name === 'status' && count !== undefined) directive.failStatus = count;
    else if (name === 'die_after' && count !== undefined) b.dieAfterChunks = count;
    else if (name === 'stall_ms' && count !== undefined) b.stallMs = count;
    else if (name === 'stall_after' && count !== undefined) b.stallAfterChunks = count;
    else if (name === 'latency_ms' && count !== undefined) b.latencyMs = count;
    else if (name === 'chunk_ms' && count !== undefined) b.chunkDelayMs = count;
    else if (name === 'no_usage') b.omitUsage = true;
    else if (name === 'ping_ms' && count !== undefined && count > 0) b.stallPingMs = count;
    else if (name === 'usage') {
      const [prompt, completion] = raw.split('/').map(Number);
      if (Number.isInteger(prompt) && Number.isInteger(completion)) b.usage = { prompt_tokens: prompt!, completion_tokens: completion! };
    }
  }
  return directive;
}

export type RecordedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
};

export type FakeUpstream = {
  /** e.g. http://127.0.0.1:54321 — OpenAI-style clients use `${url}/v1` as their base URL, Anthropic's use `url`. */
  url: string;
  /** Every recorded request, oldest first. The same array for the server's whole life. */
  requests: RecordedRequest[];
  /** Requests answered so far (also counted when `record` is off). */
  readonly requestCount: number;
  readonly behavior: Readonly<FakeBehavior>;
  /**
   * Merges into the current behavior; a key given as undefined returns to its default. Setting
   * failStatus without failTimes fails every request; with failTimes, only that many.
   */
  setBehavior(partial: Partial<FakeBehavior>): void;
  /** Clears recorded requests and restores the behavior given to startFakeUpstream. */
  reset(): void;
  close(): Promise<void>;
};

export const DEFAULT_BEHAVIOR: Readonly<FakeBehavior> = Object.freeze({
  latencyMs: 0,
  chunkDelayMs: 0,
  omitUsage: false,
  usage: { prompt_tokens: 12, completion_tokens: 5 },
  text: 'Hello from the fake upstream.',
  finishReason: 'stop',
  record: true,
});

type Flavor = 'openai' | 'anthropic' | 'responses';

type JsonObject = Record<string, unknown>;

function asObject(value: unknown): JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : {};
}

function stopSequencesOf(body: JsonObject, flavor: Flavor): string[] {
  const stop = flavor === 'openai' ? body.stop : flavor === 'anthropic' ? body.stop_sequences : undefined;
  if (typeof stop === 'string') return stop ? [stop] : [];
  return Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string' && s.length > 0) : [];
}

/** Word by word with the leading space kept, the way model tokens usually look. */
function splitText(text: string): string[] {
  return text.split(/(?=\s)/).filter((piece) => piece.length > 0);
}

function splitArguments(json: string): string[] {
  if (json.length < 4) return [json];
  const third = Math.ceil(json.length / 3);
  return [json.slice(0, third), json.slice(third, 2 * third), json.slice(2 * third)];
}

const OPENAI_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};
const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};
const DEFAULT_ERROR_MESSAGES: Record<number, string> = {
  400: 'Invalid request.',
  401: 'Invalid API key.',
  403: 'Permission denied.',
  404: 'Not found.',
  429: 'Rate limit reached. Please try again later.',
  529: 'Overloaded',
};

export async function startFakeUpstream(options: Partial<FakeBehavior> & { port?: number } = {}): Promise<FakeUpstream> {
  const { port = 0, ...initialPartial } = options;
  const initial = merge(DEFAULT_BEHAVIOR, initialPartial);
  let behavior: FakeBehavior = initial;
  let failuresLeft = initial.failTimes;
  let requestCount = 0;
  let seq = 0;
  let closed = false;
  const requests: RecordedRequest[] = [];
  const pending = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  function merge(base: Readonly<FakeBehavior>, partial: Partial<FakeBehavior>): FakeBehavior {
    const next: FakeBehavior = { ...base, ...partial };
    for (const key of Object.keys(partial) as Array<keyof FakeBehavior>) {
      if (partial[key] === undefined) (next as Record<string, unknown>)[key] = DEFAULT_BEHAVIOR[key];
    }
    return next;
  }

  function sleep(ms: number): Promise<void> {
    if (ms <= 0 || closed) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          pending.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      pending.add(entry);
    });
  }

  function shouldFail(b: FakeBehavior): boolean {
    if (b.failStatus === undefined) return false;
    if (failuresLeft === undefined) return true;
    if (failuresLeft <= 0) return false;
    failuresLeft -= 1;
    return true;
  }

  function presentedKey(req: IncomingMessage, flavor: Flavor): string | undefined {
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    if (flavor !== 'anthropic') return bearer;
    // The 2026-10-21 Anthropic SDKs send the key as a bearer token; older clients use x-api-key.
    const header = req.headers['x-api-key'];
    return (typeof header === 'string' ? header : undefined) ?? bearer;
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    if (res.destroyed) return;
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
    res.end(payload);
  }

  function sendError(res: ServerResponse, flavor: Flavor, status: number, b: FakeBehavior, presented: string | undefined) {
    let message = b.errorMessage ?? DEFAULT_ERROR_MESSAGES[status] ?? (status >= 500 ? 'Internal server error.' : `Request failed with status ${status}.`);
    // Real providers echo (part of) a wrong key; the adapters must never pass that on.
    if (status === 401 && b.errorMessage === undefined && presented) message = `Incorrect API key provided: ${presented}.`;
    const headers: Record<string, string> = status === 429 ? { 'retry-after': '1' } : {};
    if (flavor !== 'anthropic') {
      const type = OPENAI_ERROR_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
      sendJson(res, status, { error: { message, type, param: null, code: status === 401 ? 'invalid_api_key' : null } }, headers);
    } else {
      const type = ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
      sendJson(res, status, { type: 'error', error: { type, message }, request_id: `req_fake${seq}` }, headers);
    }
  }

  /** Writes SSE frames with chunkDelayMs between them, dropping the socket after dieAfterChunks. */
  async function sendEvents(res: ServerResponse, frames: string[], b: FakeBehavior, keepAlive?: string) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const limit = b.dieAfterChunks;
    const stallAfter = b.stallMs ? (b.stallAfterChunks ?? 2) : undefined;
    if (b.chunkDelayMs <= 0 && limit === undefined && stallAfter === undefined) {
      res.end(frames.join(''));
      return;
    }
    let sent = 0;
    for (const frame of frames) {
      if (res.destroyed || closed) return;
      if (sent > 0) await sleep(b.chunkDelayMs);
      if (sent > 0 && sent === stallAfter) await stall(res, b, keepAlive);
      if (res.destroyed || closed) return;
      sent += 1;
      if (limit !== undefined && sent >= limit) {
        // Destroy only once the frame is flushed, so the client really sees `limit` events first.
        res.write(frame, () => res.destroy());
        return;
      }
      res.write(frame);
    }
    if (limit !== undefined) {
      res.destroy();
      return;
    }
    res.end();
  }

  /** The stallMs pause, with a keep-alive frame every stallPingMs when the flavor has one. */
  async function stall(res: ServerResponse, b: FakeBehavior, keepAlive: string | undefined) {
    const every = keepAlive && b.stallPingMs ? b.stallPingMs : undefined;
    if (every === undefined) return sleep(b.stallMs!);
    const until = Date.now() + b.stallMs!;
    for (let left = b.stallMs!; left > 0; left = until - Date.now()) {
      await sleep(Math.min(every, left));
      if (res.destroyed || closed) return;
      if (until - Date.now() > 0) res.write(keepAlive);
    }
  }

  function replyOf(body: JsonObject, flavor: Flavor, b: FakeBehavior): { text: string; stopSequence: string | null } {
    let text = b.text;
    let stopSequence: string | null = null;
    let cut = -1;
    for (const stop of stopSequencesOf(body, flavor)) {
      const at = text.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) {
        cut = at;
        stopSequence = stop;
      }
    }
    if (cut !== -1) text = text.slice(0, cut);
    return { text, stopSequence };
  }

  function toolArguments(call: FakeToolCall): string {
    return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
  }

  // ---- OpenAI ------------------------------------------------------------------------------

  function openAIUsage(b: FakeBehavior) {
    const u = b.usage;
    return {
      prompt_tokens: u.prompt_tokens,
      completion_tokens: u.completion_tokens,
      total_tokens: u.prompt_tokens + u.completion_tokens,
      prompt_tokens_details: { cached_tokens: u.cached_tokens ?? 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
  }

  async function answerOpenAI(res: ServerResponse, body: JsonObject, b: FakeBehavior) {
    if (b.geminiToolCalls) return answerGeminiToolCalls(res, body, b, b.geminiToolCalls);
    const id = `chatcmpl-fake${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === 'string' ? body.model : 'fake-model';
    const { text } = replyOf(body, 'openai', b);
    const call = b.toolCall;
    const callId = `call_fake${seq}`;
    const finishReason = call ? 'tool_calls' : b.finishReason;

    if (body.stream !== true) {
      const message = call
        ? { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: [{ id: callId, type: 'function', function: { name: call.name, arguments: toolArguments(call) } }] }
        : { role: 'assistant', content: text, refusal: null, annotations: [] };
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
        ...(b.omitUsage ? {} : { usage: openAIUsage(b) }),
        service_tier: 'default',
        system_fingerprint: 'fp_fake',
      });
      return;
    }

    const includeUsage = asObject(body.stream_options).include_usage === true;
    // With include_usage, OpenAI sends `usage: null` on every chunk but the last.
    const usageField = includeUsage ? { usage: null } : {};
    const frame = (choices: unknown[], extra: JsonObject = usageField) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_fake', choices, ...extra })}\n\n`;
    const delta = (d: JsonObject, finish: string | null = null) => frame([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

    const frames: string[] = [];
    if (call) {
      frames.push(delta({ role: 'assistant', content: null, refusal: null, tool_calls: [{ index: 0, id: callId, type: 'function', function: { name: call.name, arguments: '' } }] }));
      for (const part of splitArguments(toolArguments(call))) frames.push(delta({ tool_calls: [{ index: 0, function: { arguments: part } }] }));
    } else {
      frames.push(delta({ role: 'assistant', content: '', refusal: null }));
      for (const piece of splitText(text)) frames.push(delta({ content: piece }));
    }
    frames.push(delta({}, finishReason));
    if (includeUsage && !b.omitUsage) frames.push(frame([], { usage: openAIUsage(b) }));
    frames.push('data: [DONE]\n\n');
    await sendEvents(res, frames, b);
  }

  /** Gemini's tool calls over its OpenAI-compatible endpoint (behavior.geminiToolCalls). */
  async function answerGeminiToolCalls(res: ServerResponse, body: JsonObject, b: FakeBehavior, calls: FakeToolCall[]) {
    const id = `chatcmpl-fake${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === 'string' ? body.model : 'fake-model';
    const toolCalls = calls.map((call, n) => ({ id: `function-call-fake${seq}-${n}`, type: 'function', function: { name: call.name, arguments: toolArguments(call) } }));
    if (body.stream !== true) {
      const message = { role: 'assistant', content: null, tool_calls: toolCalls };
      sendJson(res, 200, { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, finish_reason: 'stop' }], ...(b.omitUsage ? {} : { usage: openAIUsage(b) }) });
      return;
    }
    const frame = (chunk: JsonObject) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, ...chunk })}\n\n`;
    const frames = toolCalls.map((call, n) =>
      frame({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [call] }, ...(n === toolCalls.length - 1 ? { finish_reason: 'stop' } : {}) }] }),
    );
    if (asObject(body.stream_options).include_usage === true && !b.omitUsage) frames.push(frame({ choices: [], usage: openAIUsage(b) }));
    frames.push('data: [DONE]\n\n');
    await sendEvents(res, frames, b);
  }

  // ---- Anthropic ---------------------------------------------------------------------------

  function anthropicUsage(b: FakeBehavior, outputTokens: number) {
    const u = b.usage;
    return {
      input_tokens: u.prompt_tokens,
      output_tokens: outputTokens,
      cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
      service_tier: 'standard',
    };
  }

  async function answerAnthropic(res: ServerResponse, body: JsonObject, b: FakeBehavior) {
    const id = `msg_fake${++seq}`;
    const model = typeof body.model === 'string' ? body.model : 'fake-model';
    const { text, stopSequence } = replyOf(body, 'anthropic', b);
    const call = b.toolCall;
    const toolId = `toolu_fake${seq}`;
    const stopReason = call ? 'tool_use' : stopSequence !== null ? 'stop_sequence' : b.finishReason === 'length' ? 'max_tokens' : 'end_turn';
    const input = call ? (typeof call.arguments === 'string' ? (JSON.parse(call.arguments) as unknown) : call.arguments) : undefined;

    const thought = b.thinking;
    if (body.stream !== true) {
      const reply = call ? [{ type: 'tool_use', id: toolId, name: call.name, input, caller: { type: 'direct' } }] : [{ type: 'text', text }];
      const content = thought ? [{ type: 'thinking', thinking: thought.text, signature: thought.signature }, ...reply] : reply;
      sendJson(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: stopSequence,
        ...(b.omitUsage ? {} : { usage: anthropicUsage(b, b.usage.completion_tokens) }),
      });
      return;
    }

    const event = (type: string, data: JsonObject) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const frames: string[] = [
      event('message_start', {
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          ...(b.omitUsage ? {} : { usage: anthropicUsage(b, 1) }),
        },
      }),
    ];
    const index = thought ? 1 : 0;
    if (thought) {
      frames.push(event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }));
      for (const piece of splitText(thought.text)) frames.push(event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: piece } }));
      frames.push(event('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: thought.signature } }));
      frames.push(event('content_block_stop', { index: 0 }));
    }
    if (call) {
      frames.push(event('content_block_start', { index, content_block: { type: 'tool_use', id: toolId, name: call.name, input: {}, caller: { type: 'direct' } } }));
      frames.push(event('ping', {}));
      for (const part of splitArguments(JSON.stringify(input))) {
        frames.push(event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } }));
      }
    } else {
      frames.push(event('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      frames.push(event('ping', {}));
      for (const piece of splitText(text)) frames.push(event('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
    }
    frames.push(event('content_block_stop', { index }));
    frames.push(
      event('message_delta', {
        delta: { stop_reason: stopReason, stop_sequence: stopSequence },
        ...(b.omitUsage ? {} : { usage: { output_tokens: b.usage.completion_tokens } }),
      }),
    );
    frames.push(event('message_stop', {}));
    await sendEvents(res, frames, b, event('ping', {}));
  }

  // ---- OpenAI embeddings -------------------------------------------------------------------

  /**
   * OpenAI's embeddings list: one unit vector per input, of `dimensions` (or the model's native
   * length), as floats or base64 float32s as asked. usage.prompt_tokens is what OpenAI would
   * report: the inputs' tokens (o200k via gpt-tokenizer for text, the length of token-id input),
   * unless setBehavior or a `usage=P/C` marker gave a usage (its prompt_tokens then).
   */
  function answerEmbeddings(res: ServerResponse, body: JsonObject, b: FakeBehavior) {
    const inputs = fakeEmbeddingInputs(body.input);
    if (inputs.length === 0) return sendError(res, 'openai', 400, { ...b, errorMessage: "'input' is required." }, undefined);
    const model = typeof body.model === 'string' ? body.model : 'fake-embedding';
    const length = typeof body.dimensions === 'number' ? body.dimensions : model.includes('large') || model.startsWith('gemini') ? 3072 : 1536;
    const base64 = body.encoding_format === 'base64';
    const data = inputs.map((input, index) => {
      const vector = fakeVector(JSON.stringify(input), length);
      return { object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector };
    });
    const counted = inputs.reduce<number>((sum, input) => sum + (typeof input === 'string' ? countTokens(input) : input.length), 0);
    const prompt = b.usage === DEFAULT_BEHAVIOR.usage ? counted : b.usage.prompt_tokens;
    seq += 1;
    sendJson(res, 200, { object: 'list', data, model, ...(b.omitUsage ? {} : { usage: { prompt_tokens: prompt, total_tokens: prompt } }) });
  }

  // ---- OpenAI Responses --------------------------------------------------------------------

  function responsesUsage(b: FakeBehavior, reasoningTokens: number) {
    const u = b.usage;
    return {
      input_tokens: u.prompt_tokens,
      input_tokens_details: { cached_tokens: u.cached_tokens ?? 0 },
      output_tokens: u.completion_tokens,
      output_tokens_details: { reasoning_tokens: reasoningTokens },
      total_tokens: u.prompt_tokens + u.completion_tokens,
    };
  }

  /**
   * POST …/responses. A request with `reasoning` gets a reasoning item first (with encrypted
   * content when `include` asks for it), its tokens reported as part of the output tokens.
   */
  async function answerResponses(res: ServerResponse, body: JsonObject, b: FakeBehavior) {
    const n = ++seq;
    const id = `resp_fake${n}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const model = typeof body.model === 'string' ? body.model : 'fake-model';
    const { text } = replyOf(body, 'responses', b);
    const call = b.toolCall;
    const incomplete = !call && b.finishReason === 'length';
    const itemStatus = incomplete ? 'incomplete' : 'completed';
    const reasoning =
      body.reasoning && typeof body.reasoning === 'object'
        ? {
            id: `rs_fake${n}`,
            type: 'reasoning',
            summary: [{ type: 'summary_text', text: 'Thinking it over.' }],
            ...(Array.isArray(body.include) && body.include.includes('reasoning.encrypted_content') ? { encrypted_content: `gAAAA-fake-encrypted-${n}` } : {}),
          }
        : null;
    const reasoningTokens = reasoning ? Math.min(2, b.usage.completion_tokens) : 0;
    const message = { id: `msg_fake${n}`, type: 'message', status: itemStatus, role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] };
    const functionCall = call ? { id: `fc_fake${n}`, type: 'function_call', status: 'completed', call_id: `call_fake${n}`, name: call.name, arguments: toolArguments(call) } : null;
    const output = [...(reasoning ? [reasoning] : []), functionCall ?? message];
    const response = (status: string, items: unknown[], usage: unknown) => ({
      id,
      object: 'response',
      created_at: createdAt,
      status,
      background: false,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      model,
      output: items,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: body.store ?? true,
      temperature: body.temperature ?? 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: body.tools ?? [],
      top_p: body.top_p ?? 1,
      truncation: 'disabled',
      usage,
      user: null,
      metadata: body.metadata ?? {},
    });
    const usage = b.omitUsage ? null : responsesUsage(b, reasoningTokens);
    const finalStatus = incomplete ? 'incomplete' : 'completed';

    if (body.stream !== true) {
      sendJson(res, 200, response(finalStatus, output, usage));
      return;
    }

    let sequence = 0;
    const frames: string[] = [];
    const event = (type: string, data: JsonObject) => frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`);
    event('response.created', { response: response('in_progress', [], null) });
    event('response.in_progress', { response: response('in_progress', [], null) });
    let index = 0;
    if (reasoning) {
      event('response.output_item.added', { output_index: index, item: { ...reasoning, summary: [] } });
      event('response.output_item.done', { output_index: index, item: reasoning });
      index += 1;
    }
    if (functionCall) {
      event('response.output_item.added', { output_index: index, item: { ...functionCall, status: 'in_progress', arguments: '' } });
      for (const part of splitArguments(functionCall.arguments)) event('response.function_call_arguments.delta', { item_id: functionCall.id, output_index: index, delta: part });
      event('response.function_call_arguments.done', { item_id: functionCall.id, output_index: index, name: functionCall.name, arguments: functionCall.arguments });
      event('response.output_item.done', { output_index: index, item: functionCall });
    } else {
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      event('response.output_item.added', { output_index: index, item: { ...message, status: 'in_progress', content: [] } });
      event('response.content_part.added', { item_id: message.id, output_index: index, content_index: 0, part });
      for (const piece of splitText(text)) event('response.output_text.delta', { item_id: message.id, output_index: index, content_index: 0, delta: piece, logprobs: [] });
      event('response.output_text.done', { item_id: message.id, output_index: index, content_index: 0, text, logprobs: [] });
      event('response.content_part.done', { item_id: message.id, output_index: index, content_index: 0, part: { ...part, text } });
      event('response.output_item.done', { output_index: index, item: message });
    }
    event(incomplete ? 'response.incomplete' : 'response.completed', { response: response(finalStatus, output, usage) });
    await sendEvents(res, frames, b);
  }

  // ---- HTTP --------------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    const embeddings = req.method === 'POST' && path.endsWith('/embeddings');
    const countTokens = req.method === 'POST' && path === '/v1/messages/count_tokens';
    const flavor: Flavor | null =
      req.method !== 'POST'
        ? null
        : path.endsWith('/chat/completions') || embeddings
          ? 'openai'
          : path.endsWith('/responses')
            ? 'responses'
            : path === '/v1/messages' || countTokens
              ? 'anthropic'
              : null;

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (!flavor) {
      sendJson(res, 404, { error: { message: `No route for ${req.method} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    requestCount += 1;
    const raw = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = raw ? JSON.parse(raw) : {};
    } catch {
      parsed = undefined;
    }
    const directive = embeddings ? embeddingFaultDirective(parsed) : faultDirective(parsed);
    const b: FakeBehavior = directive ? { ...behavior, ...directive.behavior } : behavior;
    if (b.record) requests.push({ method: req.method ?? 'POST', path, headers: req.headers, body: parsed ?? raw });

    await sleep(b.latencyMs);
    if (closed || res.destroyed) return;

    const presented = presentedKey(req, flavor);
    if (b.requireApiKey !== undefined && presented !== b.requireApiKey) return sendError(res, flavor, 401, b, presented);
    if (presented !== undefined && b.rejectApiKeys?.includes(presented)) return sendError(res, flavor, 401, b, presented);
    if (directive?.failStatus !== undefined) return sendError(res, flavor, directive.failStatus, b, presented);
    if (shouldFail(b) && b.failStatus !== undefined) return sendError(res, flavor, b.failStatus, b, presented);
    if (parsed === undefined) return sendError(res, flavor, 400, { ...b, errorMessage: 'The request body is not valid JSON.' }, presented);

    const body = asObject(parsed);
    // Anthropic's token count: the prompt tokens this behavior reports for a call.
    if (countTokens) return sendJson(res, 200, { input_tokens: b.usage.prompt_tokens });
    if (embeddings) answerEmbeddings(res, body, b);
    else if (flavor === 'openai') await answerOpenAI(res, body, b);
    else if (flavor === 'responses') await answerResponses(res, body, b);
    else await answerAnthropic(res, body, b);
  }

  const server = createServer((req, res) => {
    // A client that hangs up mid-answer must not crash the server with an unhandled 'error'.
    res.on('error', () => {});
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: 'fake upstream failure', type: 'server_error' } });
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    get requestCount() {
      return requestCount;
    },
    get behavior() {
      return behavior;
    },
    setBehavior(partial) {
      const next = merge(behavior, partial);
      // A new failStatus without failTimes means "fail every request", not "fail the old count".
      if ('failStatus' in partial && !('failTimes' in partial)) next.failTimes = undefined;
      if ('failStatus' in partial || 'failTimes' in partial) failuresLeft = next.failTimes;
      behavior = next;
    },
    reset() {
      requests.length = 0;
      behavior = initial;
      failuresLeft = initial.failTimes;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const entry of pending) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      pending.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An embeddings body's inputs, one item each (a text or token ids); empty when `input` is not one of OpenAI's four forms. */
export function fakeEmbeddingInputs(input: unknown): Array<string | number[]> {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return [];
  if (input.every((x) => typeof x === 'number')) return [input as number[]];
  if (input.every((x) => typeof x === 'string' || (Array.isArray(x) && x.every((n) => typeof n === 'number')))) return input as Array<string | number[]>;
  return [];
}

/** An embeddings request's faults: the same `[[fault:...]]` markers, read from its text inputs. */
export function embeddingFaultDirective(body: unknown): FaultDirective | null {
  const texts = fakeEmbeddingInputs(asObject(body).input).filter((x): x is string => typeof x === 'string');
  return texts.length ? faultDirective({ messages: [{ role: 'user', content: texts.join(' ') }] }) : null;
}

/** A unit vector of `length` from a seed text: xorshift32 from its FNV-1a hash. */
export function fakeVector(seed: string, length: number): number[] {
  let state = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 0x01000193);
  state = state >>> 0 || 1;
  const vector: number[] = [];
  let norm = 0;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const x = ((state >>> 0) / 0xffffffff) * 2 - 1;
    vector.push(x);
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  return vector.map((x) => x / norm);
}
