import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { responsesRequestSchema } from '../lib/gateway/responses-schema';
import { ChatToResponsesStream, completionOutput, planningRequest, toChatRequest } from '../lib/gateway/responses-translate';
import { countPrompt } from '../lib/gateway/tokens';

const parse = (body: Record<string, unknown>) => responsesRequestSchema.parse({ model: 'claude-haiku-4-5', ...body });

describe('Responses request → chat request', () => {
  it('maps instructions, roles, images, function calls and their outputs, tools and settings', () => {
    const chat = toChatRequest(
      parse({
        instructions: 'Be brief.',
        input: [
          { role: 'developer', content: 'No emojis.' },
          { role: 'user', content: [{ type: 'input_text', text: 'Look:' }, { type: 'input_image', image_url: 'https://example.test/a.png', detail: 'low' }] },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.', annotations: [] }] },
          { type: 'function_call', call_id: 'c1', name: 'zoom', arguments: '{"x":1}' },
          { type: 'function_call', call_id: 'c2', name: 'zoom', arguments: '{"x":2}' },
          { type: 'reasoning', summary: [{ type: 'summary_text', text: 'secret plan' }], encrypted_content: 'enc' },
          { type: 'function_call_output', call_id: 'c1', output: 'zoomed' },
          { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'here' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] },
        ],
        tools: [{ type: 'function', name: 'zoom', parameters: { type: 'object' }, strict: true }],
        tool_choice: { type: 'function', name: 'zoom' },
        parallel_tool_calls: false,
        max_output_tokens: 77,
        temperature: 0.2,
        reasoning: { effort: 'high', summary: 'auto' },
        text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true }, verbosity: 'low' },
        metadata: { a: 'b' },
        prompt_cache_key: 'p',
        user: 'u1',
      }),
    );
    expect(chat).toEqual({
      model: 'claude-haiku-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'No emojis.' },
        { role: 'user', content: [{ type: 'text', text: 'Look:' }, { type: 'image_url', image_url: { url: 'https://example.test/a.png', detail: 'low' } }] },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'zoom', arguments: '{"x":1}' } },
            { id: 'c2', type: 'function', function: { name: 'zoom', arguments: '{"x":2}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'zoomed' },
        { role: 'tool', tool_call_id: 'c2', content: 'here' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      ],
      max_tokens: 77,
      temperature: 0.2,
      user: 'u1',
      reasoning_effort: 'high',
      tools: [{ type: 'function', function: { name: 'zoom', parameters: { type: 'object' }, strict: true } }],
      parallel_tool_calls: false,
      tool_choice: { type: 'function', function: { name: 'zoom' } },
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } },
    });
  });

  it('sizes the hold with the reasoning that only OpenAI reads, appended last', () => {
    const body = parse({ input: [{ role: 'user', content: 'hi' }, { type: 'reasoning', summary: [{ type: 'summary_text', text: 'thought' }], encrypted_content: 'x'.repeat(5_000) }] });
    const chat = toChatRequest(body);
    const planned = planningRequest(body, chat);
    expect(planned.messages.slice(0, chat.messages.length)).toEqual(chat.messages);
    expect(countPrompt(planned).tokens - countPrompt(chat).tokens).toBeGreaterThan(5_000 / 8);
  });

  it('refuses an input with nothing but reasoning', () => {
    expect(() => toChatRequest(parse({ input: [{ type: 'reasoning', summary: [] }] }))).toThrow(/nothing a model can read/);
  });
});

describe('chat completions → Responses output', () => {
  const chunk = (delta: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk => ({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });

  it('streams text then a tool call as a message item and a function_call item, each closed before the next opens', () => {
    const stream = new ChatToResponsesStream();
    const events = [
      ...stream.chunk(chunk({ role: 'assistant', content: 'Let me ' })).events,
      ...stream.chunk(chunk({ content: 'check.' })).events,
      ...stream.chunk(chunk({ tool_calls: [{ index: 0, id: 'call_9', type: 'function', function: { name: 'zoom', arguments: '' } }] })).events,
      ...stream.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] })).events,
      ...stream.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] })).events,
      ...stream.chunk(chunk({}, 'tool_calls')).events,
      ...stream.close(),
    ];
    expect(events.map((e) => e.type)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
    ]);
    expect(stream.output).toMatchObject([
      { type: 'message', status: 'completed', content: [{ type: 'output_text', text: 'Let me check.' }] },
      { type: 'function_call', status: 'completed', call_id: 'call_9', name: 'zoom', arguments: '{"x":1}' },
    ]);
    expect(events.filter((e) => e.type === 'response.output_item.added').map((e) => e.output_index)).toEqual([0, 1]);
  });

  it('a completion cut by the token limit is incomplete, its items too', () => {
    const { output, status, incomplete_details } = completionOutput({
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Half a', refusal: null }, finish_reason: 'length', logprobs: null }],
    });
    expect(status).toBe('incomplete');
    expect(incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(output).toMatchObject([{ type: 'message', status: 'incomplete', content: [{ type: 'output_text', text: 'Half a' }] }]);
  });
});
