import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { toolCallNormalizer } from '../lib/providers/openai-compatible';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

// Gemini's OpenAI-compatible endpoint streams each tool call whole, with its own id and no
// `index`, and ends with finish_reason 'stop'. Through each of the gateway's dialects, with the
// unmodified official clients, two parallel calls must stay two calls and be reported as tool
// calls, and each call is billed from the catalog's list prices.

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const ONE_DOLLAR = 1_000_000n;
const MODEL = 'gemini-2.5-flash';
const CALLS = [
  { name: 'get_weather', arguments: { city: 'Paris' } },
  { name: 'get_time', arguments: { zone: 'Europe/Paris' } },
];
const USAGE = { prompt_tokens: 1_000, completion_tokens: 40 };
// gemini-2.5-flash lists at $0.30 / $2.50 per 1M, sold at +10%: $0.33 / $2.75.
// 1,000 × 0.33 + 40 × 2.75 = 330 + 110 = 440 micro-USD a call.
const CALL_COST = 440n;

async function expectBilled(customer: { user: { id: string }; keyId: string }, calls: number, stream: boolean) {
  const wallet = await t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(customer.user.id) }, select: { balance: true, available: true } });
  expect(wallet).toEqual({ balance: ONE_DOLLAR - BigInt(calls) * CALL_COST, available: ONE_DOLLAR - BigInt(calls) * CALL_COST });
  const rows = await t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId }, orderBy: { createdAt: 'asc' } });
  expect(rows).toHaveLength(calls);
  for (const row of rows) expect(row).toMatchObject({ status: 'SUCCESS', providerId: 'google', promptTokens: 1_000, completionTokens: 40, cost: CALL_COST, stream });
  expect((await auditLedger(t.db)).problems).toEqual([]);
}

describe("Gemini's indexless tool calls", () => {
  it('reach a chat completions stream as two calls with their own indexes and finish_reason tool_calls', async () => {
    fake.setBehavior({ geminiToolCalls: CALLS, usage: USAGE });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = await gw.client(customer.secret).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
      tools: CALLS.map((call) => ({ type: 'function' as const, function: { name: call.name, parameters: { type: 'object' } } })),
      stream: true,
    });
    const deltas: ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    const finishes: string[] = [];
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        deltas.push(...(choice.delta.tool_calls ?? []));
        if (choice.finish_reason) finishes.push(choice.finish_reason);
      }
    }
    expect(deltas.map((d) => ({ index: d.index, name: d.function?.name, arguments: d.function?.arguments }))).toEqual([
      { index: 0, name: 'get_weather', arguments: '{"city":"Paris"}' },
      { index: 1, name: 'get_time', arguments: '{"zone":"Europe/Paris"}' },
    ]);
    expect(new Set(deltas.map((d) => d.id)).size).toBe(2);
    expect(finishes).toEqual(['tool_calls']);
    await expectBilled(customer, 1, true);
  });

  it('come back from a chat completion (not streamed) with finish_reason tool_calls', async () => {
    fake.setBehavior({ geminiToolCalls: CALLS, usage: USAGE });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const completion = await gw.client(customer.secret).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Weather and time in Paris?' }] });
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(completion.choices[0]?.message.tool_calls?.map((call) => ('function' in call ? call.function.name : null))).toEqual(['get_weather', 'get_time']);
    await expectBilled(customer, 1, false);
  });

  it('reach a Responses stream as two function_call items with their names, call_ids and arguments', async () => {
    fake.setBehavior({ geminiToolCalls: CALLS, usage: USAGE });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = await gw.client(customer.secret).responses.create({
      model: MODEL,
      input: 'Weather and time in Paris?',
      tools: CALLS.map((call) => ({ type: 'function' as const, name: call.name, parameters: { type: 'object' }, strict: false })),
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.type).toBe('response.completed');
    expect(completed.response.output).toMatchObject([
      { type: 'function_call', status: 'completed', name: 'get_weather', call_id: expect.stringMatching(/^function-call-fake\d+-0$/), arguments: '{"city":"Paris"}' },
      { type: 'function_call', status: 'completed', name: 'get_time', call_id: expect.stringMatching(/^function-call-fake\d+-1$/), arguments: '{"zone":"Europe/Paris"}' },
    ]);
    const done = events.filter((e) => e.type === 'response.function_call_arguments.done');
    expect(done.map((e) => [e.name, e.arguments])).toEqual([
      ['get_weather', '{"city":"Paris"}'],
      ['get_time', '{"zone":"Europe/Paris"}'],
    ]);
    await expectBilled(customer, 1, true);
  });

  it('reach an Anthropic messages stream as two tool_use blocks with stop_reason tool_use', async () => {
    fake.setBehavior({ geminiToolCalls: CALLS, usage: USAGE });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = new Anthropic({ apiKey: customer.secret, baseURL: gw.url, maxRetries: 0 });
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 200,
      tools: CALLS.map((call) => ({ name: call.name, input_schema: { type: 'object' as const } })),
      messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
    });
    const message = await stream.finalMessage();
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([
      { type: 'tool_use', id: expect.stringMatching(/^function-call-fake\d+-0$/), name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: expect.stringMatching(/^function-call-fake\d+-1$/), name: 'get_time', input: { zone: 'Europe/Paris' } },
    ]);
    await expectBilled(customer, 1, true);
  });

  it('come back from an Anthropic message (not streamed) as two tool_use blocks with stop_reason tool_use', async () => {
    fake.setBehavior({ geminiToolCalls: CALLS, usage: USAGE });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = new Anthropic({ apiKey: customer.secret, baseURL: gw.url, maxRetries: 0 });
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 200,
      tools: CALLS.map((call) => ({ name: call.name, input_schema: { type: 'object' as const } })),
      messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
    });
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content.map((block) => (block.type === 'tool_use' ? [block.name, block.input] : block.type))).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', { zone: 'Europe/Paris' }],
    ]);
    await expectBilled(customer, 1, false);
  });
});

describe('toolCallNormalizer', () => {
  const chunk = (toolCalls: unknown[], finish: string | null = null) =>
    ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { tool_calls: toolCalls }, finish_reason: finish }] }) as unknown as ChatCompletionChunk;
  const indexes = (c: ChatCompletionChunk) => c.choices[0]!.delta.tool_calls!.map((call) => call.index);

  it("leaves OpenAI's own chunks as they are", () => {
    const normalize = toolCallNormalizer();
    const chunks = [chunk([{ index: 0, id: 'call_a', function: { name: 'a', arguments: '' } }]), chunk([{ index: 0, function: { arguments: '{}' } }]), chunk([{ index: 1, id: 'call_b', function: { name: 'b', arguments: '{}' } }]), chunk([], 'tool_calls')];
    const before = structuredClone(chunks);
    // Unchanged, and it says so: the relay may send such chunks on as the upstream wrote them.
    expect(chunks.map((c) => normalize(c))).toEqual([false, false, false, false]);
    expect(chunks).toEqual(before);
  });

  it('numbers indexless calls by id; a delta with neither continues the last call; stop after calls is tool_calls', () => {
    const normalize = toolCallNormalizer();
    const chunks = [
      chunk([{ id: 'x', function: { name: 'a', arguments: '{"p":' } }]),
      chunk([{ function: { arguments: '1}' } }]),
      chunk([{ id: 'y', function: { name: 'b', arguments: '{}' } }, { id: 'x', function: { arguments: '' } }]),
      chunk([], 'stop'),
    ];
    // Every chunk changed (an index given, a finish reason renamed): none may be sent on as written.
    expect(chunks.map((c) => normalize(c))).toEqual([true, true, true, true]);
    expect(chunks.slice(0, 3).map(indexes)).toEqual([[0], [0], [1, 0]]);
    expect(chunks[3]!.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('tells apart parallel calls that share an index by their ids (Ollama), and keeps a repeated id on its call (vLLM)', () => {
    const normalize = toolCallNormalizer();
    const chunks = [
      chunk([{ index: 0, id: 'a', function: { name: 'read', arguments: '{"path":"a"}' } }]),
      chunk([{ index: 0, id: 'b', function: { name: 'read', arguments: '{"path":' } }]),
      chunk([{ index: 0, function: { arguments: '"b"}' } }]),
      chunk([{ index: 0, id: 'b', function: { arguments: '' } }]),
    ];
    // The first keeps its index 0; the others are renumbered from 0 to 1.
    expect(chunks.map((c) => normalize(c))).toEqual([false, true, true, true]);
    expect(chunks.map(indexes)).toEqual([[0], [1], [1], [1]]);
  });

  it('opens a new call for an indexless delta that names a function without an id', () => {
    const normalize = toolCallNormalizer();
    const chunks = [chunk([{ function: { name: 'a', arguments: '{}' } }]), chunk([{ function: { name: 'b', arguments: '{' } }]), chunk([{ function: { arguments: '}' } }])];
    expect(chunks.map((c) => normalize(c))).toEqual([true, true, true]);
    expect(chunks.map(indexes)).toEqual([[0], [1], [1]]);
  });

  it("keeps 'stop' when no tool call came", () => {
    const normalize = toolCallNormalizer();
    const c = { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'stop' }] } as unknown as ChatCompletionChunk;
    expect(normalize(c)).toBe(false);
    expect(c.choices[0]!.finish_reason).toBe('stop');
  });
});
