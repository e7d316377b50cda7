import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { messagesRequestSchema } from '../lib/gateway/messages-schema';
import { ChatToMessagesStream, marksCache, toAnthropicMessage, toChatRequest } from '../lib/gateway/messages-translate';

// The translation between Anthropic's Messages API and chat completions, case by case, without a
// server (test/messages.test.ts runs it end to end through the official clients).

const parse = (body: Record<string, unknown>) => messagesRequestSchema.parse({ model: 'gpt-4o-mini', max_tokens: 100, ...body });

describe('Anthropic request → chat completions request', () => {
  it('tool results become tool messages ahead of the rest of their turn; their images follow in a user message; errors say so', () => {
    const body = parse({
      messages: [
        { role: 'user', content: 'Show me the chart.' },
        { role: 'assistant', content: [{ type: 'text', text: 'Fetching.' }, { type: 'tool_use', id: 'toolu_1', name: 'chart', input: { q: 1 } }, { type: 'tool_use', id: 'toolu_2', name: 'chart', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Here.' },
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'line 1' }, { type: 'text', text: 'line 2' }, { type: 'image', source: { type: 'url', url: 'https://example.test/c.png' } }] },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: 'no data', is_error: true },
          ],
        },
      ],
    });
    expect(toChatRequest(body, 'upstream').messages).toEqual([
      { role: 'user', content: 'Show me the chart.' },
      {
        role: 'assistant',
        content: 'Fetching.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'chart', arguments: '{"q":1}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'chart', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'line 1\nline 2' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: no data' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.test/c.png' } }, { type: 'text', text: 'Here.' }] },
    ]);
  });

  it('thinking blocks are dropped for the upstream but counted for the hold', () => {
    const body = parse({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'secret reasoning', signature: 'c2ln' }, { type: 'redacted_thinking', data: 'ZW5j' }] },
        { role: 'user', content: 'Go on' },
      ],
    });
    expect(toChatRequest(body, 'upstream').messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'user', content: 'Go on' },
    ]);
    expect(toChatRequest(body, 'planning').messages[1]).toEqual({ role: 'assistant', content: 'secret reasoning\nc2ln\nZW5j' });
  });

  it('tool_choice and its parallelism, stop sequences, user and sampling map one to one', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const cases = [
      [{ type: 'auto' }, 'auto', undefined],
      [{ type: 'any', disable_parallel_tool_use: true }, 'required', false],
      [{ type: 'tool', name: 'f' }, { type: 'function', function: { name: 'f' } }, undefined],
      [{ type: 'none' }, 'none', undefined],
    ] as const;
    for (const [choice, expected, parallel] of cases) {
      const request = toChatRequest(parse({ tools, tool_choice: choice, messages: [{ role: 'user', content: 'x' }], stop_sequences: ['Z'], metadata: { user_id: 'u' }, top_p: 0.9 }), 'upstream');
      expect(request).toMatchObject({ tool_choice: expected, stop: ['Z'], user: 'u', top_p: 0.9, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
      expect(request.parallel_tool_calls).toBe(parallel);
    }
  });

  it('finds a cache_control marker wherever it is', () => {
    const base = { messages: [{ role: 'user', content: 'x' }] };
    expect(marksCache(parse(base))).toBe(false);
    expect(marksCache(parse({ ...base, cache_control: { type: 'ephemeral' } }))).toBe(true);
    expect(marksCache(parse({ ...base, system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral' } }] }))).toBe(true);
    expect(marksCache(parse({ ...base, tools: [{ name: 'f', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }] }))).toBe(true);
    expect(
      marksCache(
        parse({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'r', cache_control: { type: 'ephemeral' } }] }] }] }),
      ),
    ).toBe(true);
  });
});

describe('chat completion → Anthropic message', () => {
  it('maps finish reasons, tool calls (arguments that are not an object kept whole) and cache usage', () => {
    const completion = {
      id: 'chatcmpl-1',
      object: 'chat.completion' as const,
      created: 0,
      model: 'm',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls' as const,
          logprobs: null,
          message: {
            role: 'assistant' as const,
            content: null,
            refusal: null,
            tool_calls: [
              { id: 'call_1', type: 'function' as const, function: { name: 'a', arguments: '{"x":1}' } },
              { id: 'call_2', type: 'function' as const, function: { name: 'b', arguments: '[1,2]' } },
            ],
          },
        },
      ],
    };
    const message = toAnthropicMessage(completion, { prompt_tokens: 100, completion_tokens: 9, total_tokens: 109, cached_tokens: 40 }, { id: 'msg_1', model: 'gpt-4o-mini' });
    expect(message).toMatchObject({ id: 'msg_1', model: 'gpt-4o-mini', stop_reason: 'tool_use', usage: { input_tokens: 60, cache_read_input_tokens: 40, cache_creation_input_tokens: 0, output_tokens: 9 } });
    expect(message.content).toEqual([
      { type: 'tool_use', id: 'call_1', name: 'a', input: { x: 1 }, caller: { type: 'direct' } },
      { type: 'tool_use', id: 'call_2', name: 'b', input: { _arguments: '[1,2]' }, caller: { type: 'direct' } },
    ]);
    for (const [finish, stop] of [['stop', 'end_turn'], ['length', 'max_tokens'], ['content_filter', 'refusal']] as const) {
      const choice = { ...completion.choices[0]!, finish_reason: finish, message: { role: 'assistant' as const, content: 'ok', refusal: null } };
      expect(toAnthropicMessage({ ...completion, choices: [choice] }, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, { id: 'msg_2', model: 'm' }).stop_reason).toBe(stop);
    }
  });
});

describe('chat completion chunks → Anthropic events', () => {
  const chunk = (delta: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk => ({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'm',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });

  it('one block per text run and per tool call, indexed in order, each closed before the next opens', () => {
    const stream = new ChatToMessagesStream({ id: 'msg_x', model: 'gpt-4o-mini' });
    const events = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Let me check.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
    ].flatMap((c) => stream.read(c).events);
    expect([...events, ...stream.end()].map((e) => [e.type, e.index ?? null, (e.delta as { type?: string } | undefined)?.type ?? (e.content_block as { type?: string } | undefined)?.type ?? null])).toEqual([
      ['message_start', null, null],
      ['ping', null, null],
      ['content_block_start', 0, 'text'],
      ['content_block_delta', 0, 'text_delta'],
      ['content_block_stop', 0, null],
      ['content_block_start', 1, 'tool_use'],
      ['content_block_delta', 1, 'input_json_delta'],
      ['content_block_delta', 1, 'input_json_delta'],
      ['content_block_stop', 1, null],
      ['content_block_start', 2, 'tool_use'],
      ['content_block_delta', 2, 'input_json_delta'],
      ['content_block_stop', 2, null],
    ]);
    expect(events[5]).toMatchObject({ content_block: { type: 'tool_use', id: 'call_a', name: 'f', input: {} } });
    expect(stream.stopReason).toBe('tool_use');
  });

  it('a stream with no chunks still starts, and ends on max_tokens when cut by length', () => {
    const empty = new ChatToMessagesStream({ id: 'msg_y', model: 'm' });
    expect(empty.end().map((e) => e.type)).toEqual(['message_start', 'ping']);
    const cut = new ChatToMessagesStream({ id: 'msg_z', model: 'm' });
    cut.read(chunk({ content: 'abc' }));
    cut.read(chunk({}, 'length'));
    expect(cut.stopReason).toBe('max_tokens');
    expect(cut.end()).toEqual([]);
  });
});
