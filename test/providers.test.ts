import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { decode, encode } from 'gpt-tokenizer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnthropicProvider, toAnthropicParams } from '../lib/providers/anthropic';
import { createDeepSeekProvider } from '../lib/providers/deepseek';
import { createGoogleProvider } from '../lib/providers/google';
import { countPromptTokens, createLocalProvider, localReplyText } from '../lib/providers/local';
import { createOpenAIProvider } from '../lib/providers/openai';
import { toUpstreamUsage } from '../lib/providers/openai-compatible';
import {
  UpstreamError,
  type ChatProvider,
  type ProviderConnection,
  type UpstreamChatRequest,
  type UpstreamErrorKind,
  type UpstreamStreamEvent,
} from '../lib/providers/types';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';

const API_KEY = 'sk-test-tollgate-SECRET-0123456789abcdef';

let fake: FakeUpstream;

beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

function openAIConnection(overrides: Partial<ProviderConnection> = {}): ProviderConnection {
  return { apiKey: API_KEY, baseURL: `${fake.url}/v1`, timeoutMs: 5_000, ...overrides };
}

function anthropicConnection(overrides: Partial<ProviderConnection> = {}): ProviderConnection {
  return { apiKey: API_KEY, baseURL: fake.url, timeoutMs: 5_000, ...overrides };
}

function request(overrides: Partial<UpstreamChatRequest> = {}): UpstreamChatRequest {
  return { model: 'test-model', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }], ...overrides };
}

const noSignal = () => new AbortController().signal;

async function collect(events: AsyncIterable<UpstreamStreamEvent>): Promise<UpstreamStreamEvent[]> {
  const out: UpstreamStreamEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

/** Calls next() once and returns what it threw; fails the test if it yielded instead. */
async function firstNextError(events: AsyncIterable<UpstreamStreamEvent>): Promise<UpstreamError> {
  const iterator = events[Symbol.asyncIterator]();
  return rejection(iterator.next());
}

function contentOf(events: UpstreamStreamEvent[]): string {
  return events.map((e) => e.chunk.choices[0]?.delta.content ?? '').join('');
}

function finishReasons(events: UpstreamStreamEvent[]): string[] {
  return events.flatMap((e) => e.chunk.choices.flatMap((c) => (c.finish_reason ? [c.finish_reason] : [])));
}

/** Reassembles streamed tool-call deltas the way an OpenAI client does. */
function toolCallsOf(events: UpstreamStreamEvent[]) {
  const calls: Array<{ id?: string; name?: string; arguments: string }> = [];
  for (const event of events) {
    for (const delta of event.chunk.choices[0]?.delta.tool_calls ?? []) {
      const call = (calls[delta.index] ??= { arguments: '' });
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) call.name = delta.function.name;
      call.arguments += delta.function?.arguments ?? '';
    }
  }
  return calls;
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

type RecordedBody = Record<string, unknown> & { messages?: unknown[] };
const lastBody = (): RecordedBody => fake.requests.at(-1)?.body as RecordedBody;

// -------------------------------------------------------------------------------------------------

describe('OpenAI-compatible adapters', () => {
  it('completes, sends the request in OpenAI format and maps usage with cached tokens', async () => {
    fake.setBehavior({ text: 'Bonjour tout le monde.', usage: { prompt_tokens: 20, completion_tokens: 7, cached_tokens: 8 } });
    const provider = createOpenAIProvider(openAIConnection());
    expect(provider.id).toBe('openai');

    const result = await provider.complete(request({ user: 'u-1', temperature: 0.3 }), { signal: noSignal() });

    expect(result.completion.object).toBe('chat.completion');
    expect(result.completion.choices[0]?.message.content).toBe('Bonjour tout le monde.');
    expect(result.completion.choices[0]?.finish_reason).toBe('stop');
    expect(result.usage).toEqual({ prompt_tokens: 20, completion_tokens: 7, total_tokens: 27, cached_tokens: 8 });

    const recorded = fake.requests.at(-1);
    expect(recorded?.path).toBe('/v1/chat/completions');
    expect(recorded?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(recorded?.body).toMatchObject({ model: 'test-model', max_tokens: 64, stream: false, user: 'u-1', temperature: 0.3 });
  });

  it('sends max_completion_tokens instead of max_tokens to OpenAI reasoning models', async () => {
    const provider = createOpenAIProvider(openAIConnection());
    for (const model of ['o3-mini', 'o1', 'gpt-5-mini']) {
      await provider.complete(request({ model, max_tokens: 99 }), { signal: noSignal() });
      expect(lastBody()).toMatchObject({ model, max_completion_tokens: 99 });
      expect(lastBody()).not.toHaveProperty('max_tokens');
    }
  });

  it('keeps max_tokens for Google and DeepSeek, which only know that name', async () => {
    for (const provider of [createGoogleProvider(openAIConnection()), createDeepSeekProvider(openAIConnection())]) {
      fake.reset();
      const result = await provider.complete(request({ model: 'o3-lookalike' }), { signal: noSignal() });
      expect(result.completion.choices[0]?.message.content).toBe('Hello from the fake upstream.');
      expect(lastBody()).toMatchObject({ max_tokens: 64 });
      expect(lastBody()).not.toHaveProperty('max_completion_tokens');
    }
    expect(createGoogleProvider(openAIConnection()).id).toBe('google');
    expect(createDeepSeekProvider(openAIConnection()).id).toBe('deepseek');
  });

  it('streams chunks, asks for usage and reports it only on the chunk that carries it', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 6, cached_tokens: 10 } });
    const provider = createDeepSeekProvider(openAIConnection());

    const events = await collect(provider.stream(request(), { signal: noSignal() }));

    expect(lastBody()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(events.length).toBeGreaterThan(4);
    expect(contentOf(events)).toBe('Hello from the fake upstream.');
    expect(events.filter((e) => (e.chunk.choices[0]?.delta.content ?? '') !== '').length).toBeGreaterThan(1);
    expect(finishReasons(events)).toEqual(['stop']);
    const withUsage = events.filter((e) => e.usage !== null);
    expect(withUsage).toHaveLength(1);
    expect(withUsage[0]).toBe(events.at(-1));
    expect(withUsage[0]?.chunk.choices).toEqual([]);
    expect(withUsage[0]?.usage).toEqual({ prompt_tokens: 30, completion_tokens: 6, total_tokens: 36, cached_tokens: 10 });
  });

  it('returns null usage when the upstream sends none', async () => {
    fake.setBehavior({ omitUsage: true });
    const provider = createOpenAIProvider(openAIConnection());
    expect((await provider.complete(request(), { signal: noSignal() })).usage).toBeNull();
    const events = await collect(provider.stream(request(), { signal: noSignal() }));
    expect(contentOf(events)).toBe('Hello from the fake upstream.');
    expect(events.every((e) => e.usage === null)).toBe(true);
  });

  it('round-trips a tool call, streamed and not', async () => {
    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: { city: 'Paris' } } });
    const provider = createOpenAIProvider(openAIConnection());
    const tools: UpstreamChatRequest['tools'] = [
      { type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ];

    const { completion } = await provider.complete(request({ tools, tool_choice: 'auto' }), { signal: noSignal() });
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect(lastBody()).toMatchObject({ tools, tool_choice: 'auto' });

    // The client answers the call; the follow-up reaches the upstream unchanged.
    fake.setBehavior({ toolCall: undefined, text: 'It is sunny in Paris.' });
    const followUp = request({
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: call?.id ?? '', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: call?.id ?? '', content: '{"sky":"clear"}' },
      ],
    });
    const answer = await provider.complete(followUp, { signal: noSignal() });
    expect(answer.completion.choices[0]?.message.content).toBe('It is sunny in Paris.');
    expect(lastBody().messages).toEqual(followUp.messages);

    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: { city: 'Paris' } } });
    const events = await collect(provider.stream(request({ tools }), { signal: noSignal() }));
    expect(toolCallsOf(events)).toEqual([{ id: expect.stringMatching(/^call_/), name: 'get_weather', arguments: '{"city":"Paris"}' }]);
    expect(finishReasons(events)).toEqual(['tool_calls']);
  });

  it('reads DeepSeek cache hits and OpenAI cache writes from usage', () => {
    const deepSeekUsage = { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, prompt_cache_hit_tokens: 64, prompt_cache_miss_tokens: 36 };
    expect(toUpstreamUsage(deepSeekUsage)).toEqual({ prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, cached_tokens: 64 });
    expect(
      toUpstreamUsage({ prompt_tokens: 50, completion_tokens: 5, total_tokens: 55, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 40 } }),
    ).toEqual({ prompt_tokens: 50, completion_tokens: 5, total_tokens: 55, cache_creation_tokens: 40 });
    expect(toUpstreamUsage(null)).toBeNull();
  });

  it('refuses to call without an API key', async () => {
    const provider = createOpenAIProvider(openAIConnection({ apiKey: undefined }));
    const error = await rejection(provider.complete(request(), { signal: noSignal() }));
    expect(error.kind).toBe('auth');
    expect(fake.requests).toHaveLength(0);
  });
});

// -------------------------------------------------------------------------------------------------

describe('Anthropic adapter', () => {
  it('lifts system prompts, merges turns, maps stop/user and drops sampling parameters', async () => {
    fake.setBehavior({ text: 'Hi there.', usage: { prompt_tokens: 10, completion_tokens: 4, cache_read_input_tokens: 30, cache_creation_input_tokens: 5 } });
    const provider = createAnthropicProvider(anthropicConnection());
    expect(provider.id).toBe('anthropic');

    const result = await provider.complete(
      request({
        model: 'claude-test',
        max_tokens: 100,
        temperature: 0.2,
        top_p: 0.9,
        presence_penalty: 0.5,
        seed: 7,
        response_format: { type: 'json_object' },
        stop: 'END',
        user: 'user-42',
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'developer', content: [{ type: 'text', text: 'Answer in English.' }] },
          { role: 'user', content: 'First.' },
          { role: 'user', content: [{ type: 'text', text: 'Second.' }] },
          { role: 'assistant', content: 'Ok.' },
          { role: 'user', content: 'Third.' },
        ],
      }),
      { signal: noSignal() },
    );

    const recorded = fake.requests.at(-1);
    expect(recorded?.path).toBe('/v1/messages');
    expect(recorded?.headers['anthropic-version']).toBeTruthy();
    expect(recorded?.headers['x-api-key']).toBe(API_KEY);
    expect(recorded?.headers.authorization).toBeUndefined();
    expect(recorded?.body).toEqual({
      model: 'claude-test',
      max_tokens: 100,
      system: 'You are terse.\n\nAnswer in English.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'First.' }, { type: 'text', text: 'Second.' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Ok.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Third.' }] },
      ],
      stop_sequences: ['END'],
      metadata: { user_id: 'user-42' },
      stream: false,
    });

    const { completion, usage } = result;
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('claude-test');
    expect(completion.created).toBeGreaterThan(1_600_000_000);
    expect(completion.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: 'Hi there.', refusal: null }, finish_reason: 'stop', logprobs: null },
    ]);
    expect(usage).toEqual({ prompt_tokens: 45, completion_tokens: 4, total_tokens: 49, cached_tokens: 30, cache_creation_tokens: 5 });
    expect(completion.usage).toMatchObject({ prompt_tokens: 45, completion_tokens: 4, total_tokens: 49 });
  });

  it('translates tools, tool calls, tool results and images into Anthropic blocks', async () => {
    const provider = createAnthropicProvider(anthropicConnection());
    await provider.complete(
      request({
        tools: [
          { type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
          { type: 'function', function: { name: 'now' } },
        ],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Compare these.' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            ],
          },
          {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '12:00' }] },
          { role: 'user', content: 'Thanks, and?' },
        ],
      }),
      { signal: noSignal() },
    );

    const body = lastBody();
    expect(body.tools).toEqual([
      { name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'now', input_schema: { type: 'object' } },
    ]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare these.' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'now', input: {} },
        ],
      },
      {
        // Tool results and the next user message share one user turn, results first.
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '12:00' },
          { type: 'text', text: 'Thanks, and?' },
        ],
      },
    ]);
  });

  it('maps tool_choice and parallel_tool_calls, and rejects what Anthropic cannot do', () => {
    const tools: UpstreamChatRequest['tools'] = [{ type: 'function', function: { name: 'f' } }];
    expect(toAnthropicParams(request({ tools, tool_choice: 'auto' })).tool_choice).toEqual({ type: 'auto' });
    expect(toAnthropicParams(request({ tools, tool_choice: 'required' })).tool_choice).toEqual({ type: 'any' });
    expect(toAnthropicParams(request({ tools, tool_choice: 'none' })).tool_choice).toEqual({ type: 'none' });
    expect(toAnthropicParams(request({ tools, parallel_tool_calls: false })).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(toAnthropicParams(request({ tools })).tool_choice).toBeUndefined();
    expect(toAnthropicParams(request({ stop: ['a', 'b'] })).stop_sequences).toEqual(['a', 'b']);

    const badArguments = request({
      messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{nope' } }] }],
    });
    expect(() => toAnthropicParams(badArguments)).toThrow(UpstreamError);
    expect(() => toAnthropicParams(request({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }))).toThrow(
      /image_url/,
    );
  });

  it('rejects n > 1 as a bad request without calling the upstream', async () => {
    const provider = createAnthropicProvider(anthropicConnection());
    const error = await rejection(provider.complete(request({ n: 2 }), { signal: noSignal() }));
    expect(error.kind).toBe('bad_request');
    expect(error.message).toBe('n > 1 is not supported by anthropic');
    expect(error.retryable).toBe(false);
    expect((await firstNextError(provider.stream(request({ n: 3 }), { signal: noSignal() }))).kind).toBe('bad_request');
    expect(fake.requests).toHaveLength(0);
  });

  it('maps tool_use responses to tool_calls', async () => {
    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: { city: 'Paris', days: 2 } } });
    const provider = createAnthropicProvider(anthropicConnection());
    const { completion } = await provider.complete(request({ tools: [{ type: 'function', function: { name: 'get_weather' } }] }), { signal: noSignal() });
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    expect(choice?.message.tool_calls).toEqual([
      { id: expect.stringMatching(/^toolu_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' } },
    ]);
  });

  it('maps stop sequences and max_tokens to finish reasons', async () => {
    const provider = createAnthropicProvider(anthropicConnection());
    const stopped = await provider.complete(request({ stop: [' fake'] }), { signal: noSignal() });
    expect(lastBody().stop_sequences).toEqual([' fake']);
    expect(stopped.completion.choices[0]?.message.content).toBe('Hello from the');
    expect(stopped.completion.choices[0]?.finish_reason).toBe('stop');

    fake.setBehavior({ finishReason: 'length' });
    const truncated = await provider.complete(request(), { signal: noSignal() });
    expect(truncated.completion.choices[0]?.finish_reason).toBe('length');
    const streamed = await collect(provider.stream(request(), { signal: noSignal() }));
    expect(finishReasons(streamed)).toEqual(['length']);
  });

  it('streams text as OpenAI chunks with one id, a role first, a finish chunk and a usage chunk', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 9, completion_tokens: 5, cache_read_input_tokens: 3 } });
    const provider = createAnthropicProvider(anthropicConnection());
    const events = await collect(provider.stream(request({ model: 'claude-test' }), { signal: noSignal() }));

    expect(lastBody()).toMatchObject({ stream: true, model: 'claude-test' });
    const ids = new Set(events.map((e) => e.chunk.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^chatcmpl-/);
    expect(events.every((e) => e.chunk.object === 'chat.completion.chunk' && e.chunk.model === 'claude-test')).toBe(true);
    expect(events[0]?.chunk.choices[0]?.delta.role).toBe('assistant');
    expect(contentOf(events)).toBe('Hello from the fake upstream.');
    expect(events.filter((e) => (e.chunk.choices[0]?.delta.content ?? '') !== '').length).toBe(5);
    expect(finishReasons(events)).toEqual(['stop']);

    const last = events.at(-1);
    expect(last?.chunk.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, cached_tokens: 3 });
    expect(last?.chunk.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 });
    expect(events.filter((e) => e.usage !== null)).toHaveLength(1);
  });

  it('streams tool_use blocks as tool_calls deltas', async () => {
    fake.setBehavior({ toolCall: { name: 'lookup', arguments: { query: 'tollgate pricing', limit: 3 } } });
    const provider = createAnthropicProvider(anthropicConnection());
    const events = await collect(provider.stream(request({ tools: [{ type: 'function', function: { name: 'lookup' } }] }), { signal: noSignal() }));

    const start = events.find((e) => e.chunk.choices[0]?.delta.tool_calls?.[0]?.id);
    expect(start?.chunk.choices[0]?.delta.tool_calls).toEqual([
      { index: 0, id: expect.stringMatching(/^toolu_/), type: 'function', function: { name: 'lookup', arguments: '' } },
    ]);
    const fragments = events.filter((e) => e.chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments);
    expect(fragments.length).toBeGreaterThan(1);
    expect(toolCallsOf(events)).toEqual([{ id: expect.stringMatching(/^toolu_/), name: 'lookup', arguments: '{"query":"tollgate pricing","limit":3}' }]);
    expect(finishReasons(events)).toEqual(['tool_calls']);
    expect(events.at(-1)?.usage).not.toBeNull();
  });

  // The SDK's own stream drops Claude's pings; the relay's idle timer must see them.
  it('passes Claude’s pings on, and reports the prompt (cache split included) from message_start on', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 9, completion_tokens: 5, cache_read_input_tokens: 300 } });
    const provider = createAnthropicProvider(anthropicConnection());
    const silent = { model: 'claude-test', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Think. [[fault:stall_ms=300,stall_after=3,ping_ms=50]]' }] };
    const reported = { prompt_tokens: 309, completion_tokens: 1, total_tokens: 310, cached_tokens: 300 };

    const native: Array<{ type: string; partialUsage: unknown; usage: unknown }> = [];
    for await (const { event, usage, partialUsage } of provider.messages!.stream(silent, { signal: noSignal(), headers: {} })) native.push({ type: event.type, partialUsage, usage });
    // The fake's ping after content_block_start, and about six during the silence.
    expect(native.filter((e) => e.type === 'ping').length).toBeGreaterThanOrEqual(4);
    expect(native[0]).toMatchObject({ type: 'message_start', partialUsage: reported, usage: null });
    expect(native.every((e) => e.partialUsage !== undefined)).toBe(true);
    expect(native.at(-1)).toMatchObject({ type: 'message_stop', usage: { prompt_tokens: 309, completion_tokens: 5, cached_tokens: 300 } });

    const translated = await collect(provider.stream({ ...silent, messages: [...silent.messages] }, { signal: noSignal() }));
    const keepAlives = translated.filter((e) => e.chunk.choices.length === 0 && e.usage === null);
    expect(keepAlives.length).toBeGreaterThanOrEqual(4);
    expect(translated[0]?.partialUsage).toEqual(reported);
    expect(contentOf(translated)).toBe('Hello from the fake upstream.');
  });

  it('drops a ping before message_start (it would end failover), and leaves a prompt a proxy did not report unreported, not zero', async () => {
    const frame = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(frame('ping', {}));
      res.write(frame('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', content: [], stop_reason: null, stop_sequence: null } }));
      res.write(frame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
      res.write(frame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } }));
      res.write(frame('content_block_stop', { index: 0 }));
      res.write(frame('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }));
      res.end(frame('message_stop', {}));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const provider = createAnthropicProvider(anthropicConnection({ baseURL: `http://127.0.0.1:${port}` }));
      const seen: Array<{ type: string; usage: unknown }> = [];
      for await (const { event, usage } of provider.messages!.stream({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }, { signal: noSignal(), headers: {} })) seen.push({ type: event.type, usage });
      expect(seen[0]?.type).toBe('message_start');
      expect(seen.at(-1)).toEqual({ type: 'message_stop', usage: null });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('an error event mid-stream is the upstream’s in-band failure, after what came before it', async () => {
    const frame = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(frame('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 4, output_tokens: 1 } } }));
      res.end(frame('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const provider = createAnthropicProvider(anthropicConnection({ baseURL: `http://127.0.0.1:${port}` }));
      const seen: string[] = [];
      const error = await rejection(
        (async () => {
          for await (const { event } of provider.messages!.stream({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }, { signal: noSignal(), headers: {} })) seen.push(event.type);
        })(),
      );
      expect(seen).toEqual(['message_start']);
      expect(error).toMatchObject({ kind: 'server_error', message: 'anthropic reported an error mid-stream (overloaded_error)' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

// -------------------------------------------------------------------------------------------------

type Family = { name: string; create: (connection?: Partial<ProviderConnection>) => ChatProvider };
const FAMILIES: Family[] = [
  { name: 'openai SDK', create: (c) => createOpenAIProvider(openAIConnection(c)) },
  { name: 'anthropic SDK', create: (c) => createAnthropicProvider(anthropicConnection(c)) },
];

const STATUS_TABLE: Array<{ status: number; kind: UpstreamErrorKind; retryable: boolean }> = [
  { status: 429, kind: 'rate_limited', retryable: true },
  { status: 500, kind: 'server_error', retryable: true },
  { status: 503, kind: 'server_error', retryable: true },
  { status: 529, kind: 'server_error', retryable: true },
  { status: 401, kind: 'auth', retryable: true },
  { status: 403, kind: 'auth', retryable: true },
  { status: 400, kind: 'bad_request', retryable: false },
  { status: 404, kind: 'bad_request', retryable: false },
];

describe.each(FAMILIES)('error mapping ($name)', ({ create }) => {
  const messages: string[] = [];
  afterAll(() => {
    // Whatever went wrong, no message handed to a client may contain the provider key.
    expect(messages.length).toBeGreaterThan(10);
    for (const message of messages) expect(message).not.toContain(API_KEY);
  });
  const record = (error: UpstreamError) => {
    messages.push(error.message);
    return error;
  };

  it.each(STATUS_TABLE)('maps $status to $kind from complete() and from the first next() of a stream', async ({ status, kind, retryable }) => {
    fake.setBehavior({ failStatus: status });
    const provider = create();

    const error = record(await rejection(provider.complete(request(), { signal: noSignal() })));
    expect(error.kind).toBe(kind);
    expect(error.status).toBe(status);
    expect(error.retryable).toBe(retryable);
    expect(error.providerId).toBe(provider.id);
    if (status === 429) {
      expect(error.retryAfterSeconds).toBe(1);
      expect(error.message).toBe(`${provider.id} returned 429 (rate limited)`);
    }

    const streamError = record(await firstNextError(provider.stream(request(), { signal: noSignal() })));
    expect(streamError.kind).toBe(kind);
    expect(streamError.status).toBe(status);
    // No SDK retries: the gateway does its own failover.
    expect(fake.requests).toHaveLength(2);
  });

  it('passes the upstream message of a 400 on, with the key redacted', async () => {
    fake.setBehavior({ failStatus: 400, errorMessage: `max_tokens is too large (key ${API_KEY} was used)` });
    const error = record(await rejection(create().complete(request(), { signal: noSignal() })));
    expect(error.kind).toBe('bad_request');
    expect(error.message).toContain('max_tokens is too large');
    expect(error.message).not.toContain(API_KEY);
  });

  it('does not echo a rejected key', async () => {
    // The fake, like real providers, quotes the presented key in its 401 body.
    fake.setBehavior({ requireApiKey: 'sk-the-right-one' });
    const error = record(await rejection(create().complete(request(), { signal: noSignal() })));
    expect(error.kind).toBe('auth');
    expect(error.message).not.toContain(API_KEY);
  });

  it('fails only as many times as told, then answers', async () => {
    fake.setBehavior({ failStatus: 500, failTimes: 1 });
    const provider = create();
    expect(record(await rejection(provider.complete(request(), { signal: noSignal() }))).kind).toBe('server_error');
    const ok = await provider.complete(request(), { signal: noSignal() });
    expect(ok.completion.choices[0]?.message.content).toBe('Hello from the fake upstream.');
  });

  it('maps a refused connection to connection', async () => {
    const provider = create({ baseURL: await closedPortUrl() });
    const error = record(await rejection(provider.complete(request(), { signal: noSignal() })));
    expect(error.kind).toBe('connection');
    expect(error.retryable).toBe(true);
    expect(record(await firstNextError(provider.stream(request(), { signal: noSignal() }))).kind).toBe('connection');
  });

  it('maps a slow upstream to timeout', async () => {
    fake.setBehavior({ latencyMs: 2_000 });
    const provider = create({ timeoutMs: 200 });
    const started = Date.now();
    const error = record(await rejection(provider.complete(request(), { signal: noSignal() })));
    expect(error.kind).toBe('timeout');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('throws an UpstreamError after some chunks when the stream dies midway', async () => {
    fake.setBehavior({ dieAfterChunks: 4 });
    const received: UpstreamStreamEvent[] = [];
    const error = await rejection(
      (async () => {
        for await (const event of create().stream(request(), { signal: noSignal() })) received.push(event);
      })(),
    );
    record(error);
    expect(received.length).toBeGreaterThan(0);
    expect(error.kind).toBe('connection');
    expect(received.some((e) => e.usage !== null)).toBe(false);
  });

  it('maps an abort by the caller to aborted, before and during a stream', async () => {
    fake.setBehavior({ latencyMs: 1_000 });
    const early = new AbortController();
    setTimeout(() => early.abort(), 50);
    expect(record(await rejection(create().complete(request(), { signal: early.signal }))).kind).toBe('aborted');

    fake.setBehavior({ latencyMs: 0, chunkDelayMs: 100 });
    const late = new AbortController();
    const received: UpstreamStreamEvent[] = [];
    const error = await rejection(
      (async () => {
        for await (const event of create().stream(request(), { signal: late.signal })) {
          received.push(event);
          late.abort();
        }
      })(),
    );
    expect(record(error).kind).toBe('aborted');
    expect(received.length).toBeGreaterThanOrEqual(1);
  });
});

// -------------------------------------------------------------------------------------------------

describe('local model', () => {
  const local = createLocalProvider({ tokenDelayMs: 0 });
  const conversation = (text: string): UpstreamChatRequest =>
    request({ model: 'tollgate-local', max_tokens: 500, messages: [{ role: 'system', content: 'Be nice.' }, { role: 'user', content: text }] });

  it('is deterministic, varies with the input and quotes the user', async () => {
    const a1 = await local.complete(conversation('What does Tollgate do?'), { signal: noSignal() });
    const a2 = await local.complete(conversation('What does Tollgate do?'), { signal: noSignal() });
    const b = await local.complete(conversation('Tell me about prepaid credits and failover.'), { signal: noSignal() });

    const text = a1.completion.choices[0]?.message.content ?? '';
    expect(a2.completion.choices[0]?.message.content).toBe(text);
    expect(b.completion.choices[0]?.message.content).not.toBe(text);
    expect(text).toContain('What does Tollgate do?');
    expect(a1.completion.choices[0]?.finish_reason).toBe('stop');
    expect(a1.usage?.completion_tokens).toBe(encode(text).length);
    expect(a1.usage?.completion_tokens).toBeGreaterThanOrEqual(40);
    expect(a1.usage?.completion_tokens).toBeLessThanOrEqual(120);
    expect(a1.completion.model).toBe('tollgate-local');
    expect(local.id).toBe('local');
  });

  it('counts prompt tokens as message text + 3 per message + 3', async () => {
    const req = conversation('Count me, please.');
    const { usage } = await local.complete(req, { signal: noSignal() });
    const expected = encode('Be nice.').length + encode('Count me, please.').length + 3 * 2 + 3;
    expect(usage?.prompt_tokens).toBe(expected);
    expect(countPromptTokens(req.messages)).toBe(expected);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
  });

  it('truncates to max_tokens with finish_reason length', async () => {
    const req = { ...conversation('Truncate this answer.'), max_tokens: 5 };
    const { completion, usage } = await local.complete(req, { signal: noSignal() });
    const full = localReplyText(req.messages);
    expect(usage?.completion_tokens).toBe(5);
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.choices[0]?.message.content).toBe(decode(encode(full).slice(0, 5)));
  });

  it('cuts at a stop sequence with finish_reason stop', async () => {
    const req = { ...conversation('Stop early.'), stop: ['Stop early'] };
    const { completion, usage } = await local.complete(req, { signal: noSignal() });
    expect(completion.choices[0]?.message.content).toBe('You said: "');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(usage?.completion_tokens).toBe(encode('You said: "').length);
  });

  it('streams one chunk per token and reports the counted usage', async () => {
    const req = conversation('Stream it, one token at a time.');
    const { completion, usage } = await local.complete(req, { signal: noSignal() });
    const events = await collect(local.stream(req, { signal: noSignal() }));

    expect(events[0]?.chunk.choices[0]?.delta.role).toBe('assistant');
    const tokenChunks = events.filter((e) => (e.chunk.choices[0]?.delta.content ?? '') !== '');
    expect(tokenChunks).toHaveLength(usage?.completion_tokens ?? -1);
    expect(contentOf(events)).toBe(completion.choices[0]?.message.content);
    expect(finishReasons(events)).toEqual(['stop']);
    const last = events.at(-1);
    expect(last?.chunk.choices).toEqual([]);
    expect(last?.usage).toEqual(usage);
    expect(events.filter((e) => e.usage !== null)).toHaveLength(1);
    expect(new Set(events.map((e) => e.chunk.id)).size).toBe(1);
  });

  it('waits tokenDelayMs between tokens and stops when aborted', async () => {
    const slow = createLocalProvider({ tokenDelayMs: 20 });
    const controller = new AbortController();
    const received: UpstreamStreamEvent[] = [];
    const started = Date.now();
    const error = await rejection(
      (async () => {
        for await (const event of slow.stream(conversation('Abort me.'), { signal: controller.signal })) {
          received.push(event);
          if (received.length === 4) controller.abort();
        }
      })(),
    );
    expect(error.kind).toBe('aborted');
    expect(received).toHaveLength(4);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(50);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('calls the requested tool with empty arguments', async () => {
    const tools: UpstreamChatRequest['tools'] = [
      { type: 'function', function: { name: 'first' } },
      { type: 'function', function: { name: 'second' } },
    ];
    const named = await local.complete(request({ tools, tool_choice: { type: 'function', function: { name: 'second' } } }), { signal: noSignal() });
    expect(named.completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(named.completion.choices[0]?.message.tool_calls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'second', arguments: '{}' } }]);

    const events = await collect(local.stream(request({ tools, tool_choice: 'required' }), { signal: noSignal() }));
    expect(toolCallsOf(events)).toEqual([{ id: expect.stringMatching(/^call_/), name: 'first', arguments: '{}' }]);
    expect(finishReasons(events)).toEqual(['tool_calls']);

    const auto = await local.complete(request({ tools, tool_choice: 'auto' }), { signal: noSignal() });
    expect(auto.completion.choices[0]?.finish_reason).toBe('stop');
  });

  it('returns n identical choices, but refuses n > 1 when streaming', async () => {
    const single = await local.complete(conversation('Twice?'), { signal: noSignal() });
    const { completion, usage } = await local.complete({ ...conversation('Twice?'), n: 2 }, { signal: noSignal() });
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(completion.choices[1]?.message.content).toBe(completion.choices[0]?.message.content);
    expect(usage?.completion_tokens).toBe((single.usage?.completion_tokens ?? 0) * 2);
    expect((await firstNextError(local.stream({ ...conversation('Twice?'), n: 2 }, { signal: noSignal() }))).kind).toBe('bad_request');
  });
});
