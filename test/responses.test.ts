import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLedger, walletAccountId } from '../lib/ledger';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { PROVIDER_SECRETS, createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

// POST /v1/responses through the unmodified `openai` SDK and the Vercel AI SDK's default openai()
// model, against the fake upstream: OpenAI models on its native /responses, the rest translated.

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const ONE_DOLLAR = 1_000_000n;

// Sell prices are the list prices in lib/catalog/seed-data.ts plus the default 10% markup, per 1M
// tokens, in micro-USD; one rounding, up, per call.
const PRICES = {
  'gpt-4o-mini': { input: 165_000, output: 660_000 }, // $0.15 / $0.60 list
  'claude-haiku-4-5': { input: 1_100_000, output: 5_500_000 }, // $1 / $5 list
  'tollgate-local': { input: 110_000, output: 440_000 }, // $0.10 / $0.40 list
} as const;

function costOf(model: keyof typeof PRICES, prompt: number, completion: number): bigint {
  const price = PRICES[model];
  return BigInt(Math.ceil((prompt * price.input + completion * price.output) / 1_000_000));
}

async function walletBalance(userId: string) {
  return t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) }, select: { balance: true, available: true } });
}

async function expectLedgerClean() {
  expect((await auditLedger(t.db)).problems).toEqual([]);
}

async function usageRows(keyId: string) {
  return t.db.usageRecord.findMany({ where: { apiKeyId: keyId }, orderBy: { createdAt: 'asc' } });
}

async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const events: ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

type Billed = { usage: { cost: number }; billing: { charged_usd: number; balance_usd: number | null; hold_usd: number } };

async function waitFor<T>(read: () => Promise<T | null>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('POST /v1/responses on an OpenAI model (native /responses upstream)', () => {
  it('answers responses.create and charges exactly the usage the upstream reported', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 20, completion_tokens: 500 }, text: 'Hello from Responses.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const { data, response } = await gw
      .client(customer.secret)
      .responses.create({ model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'Say hello.', max_output_tokens: 600, metadata: { run: 'a' }, prompt_cache_key: 'k1' })
      .withResponse();
    const expected = costOf('gpt-4o-mini', 20, 500);
    expect(data.object).toBe('response');
    expect(data.id).toMatch(/^resp_/);
    expect(data.status).toBe('completed');
    expect(data.model).toBe('gpt-4o-mini');
    expect(data.output_text).toBe('Hello from Responses.');
    expect(data.usage).toMatchObject({ input_tokens: 20, output_tokens: 500, total_tokens: 520, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } });
    const billed = data as unknown as Billed;
    expect(billed.usage.cost).toBe(Number(expected) / 1e6);
    expect(billed.billing).toMatchObject({ charged_usd: Number(expected) / 1e6, balance_usd: Number(ONE_DOLLAR - expected) / 1e6 });
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((Number(expected) / 1e6).toFixed(6));

    // Native: the upstream got the Responses body, our key, its model name, the planned maximum and store: false.
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/responses');
    expect(sent.headers.authorization).toBe(`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`);
    expect(sent.body).toMatchObject({ model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'Say hello.', max_output_tokens: 600, store: false, metadata: { run: 'a' }, prompt_cache_key: 'k1' });
    expect(JSON.stringify(sent)).not.toContain(customer.secret);
    // Without a limit, the upstream is held to the model's maximum, the one the hold counted.
    await gw.client(customer.secret).responses.create({ model: 'gpt-4o-mini', input: 'Again.' });
    expect(fake.requests.at(-1)!.body).toMatchObject({ max_output_tokens: 16_384 });

    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR - 2n * expected, available: ONE_DOLLAR - 2n * expected });
    expect(await usageRows(customer.keyId)).toMatchObject([
      { status: 'SUCCESS', modelId: 'gpt-4o-mini', providerId: 'openai', promptTokens: 20, completionTokens: 500, cost: expected, stream: false },
      { status: 'SUCCESS', promptTokens: 20, completionTokens: 500, cost: expected },
    ]);
    await expectLedgerClean();
  });

  it('streams the upstream events renumbered, with reasoning passed through both ways, ending in response.completed with the cost', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 40, completion_tokens: 9 }, text: 'one two three four five' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const input: OpenAI.Responses.ResponseInput = [
      { role: 'user', content: [{ type: 'input_text', text: 'Count.' }] },
      { type: 'reasoning', id: 'rs_prev', summary: [{ type: 'summary_text', text: 'Earlier thought.' }], encrypted_content: 'gAAAA-previous-turn' },
      { role: 'assistant', content: [{ type: 'output_text', text: 'Sure.', annotations: [] }], id: 'msg_prev', status: 'completed', type: 'message' },
      { role: 'user', content: 'Go on.' },
    ];
    const stream = await gw.client(customer.secret).responses.create({
      model: 'gpt-4o-mini',
      input,
      stream: true,
      store: false,
      reasoning: { effort: 'low', summary: 'auto' },
      include: ['reasoning.encrypted_content'],
      max_output_tokens: 100,
    });
    const events = await collect(stream);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(types).toEqual(expect.arrayContaining(['response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done']));
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe('one two three four five');
    const reasoning = events.find((e) => e.type === 'response.output_item.done' && e.item.type === 'reasoning');
    expect(reasoning && 'item' in reasoning ? reasoning.item : null).toMatchObject({ type: 'reasoning', encrypted_content: expect.stringContaining('fake-encrypted') });

    const last = events.at(-1)!;
    expect(last.type).toBe('response.completed');
    const expected = costOf('gpt-4o-mini', 40, 9);
    const completed = (last as OpenAI.Responses.ResponseCompletedEvent).response;
    expect(completed.model).toBe('gpt-4o-mini');
    expect(completed.usage).toMatchObject({ input_tokens: 40, output_tokens: 9, output_tokens_details: { reasoning_tokens: 2 } });
    expect((completed as unknown as Billed).usage.cost).toBe(Number(expected) / 1e6);
    expect((completed as unknown as Billed).billing.charged_usd).toBe(Number(expected) / 1e6);

    // The reasoning item reached OpenAI as it was sent.
    const sent = fake.requests.at(-1)!.body as { input: unknown[]; include: string[]; reasoning: unknown; stream: boolean };
    expect(sent.input[1]).toEqual({ type: 'reasoning', id: 'rs_prev', summary: [{ type: 'summary_text', text: 'Earlier thought.' }], encrypted_content: 'gAAAA-previous-turn' });
    expect(sent).toMatchObject({ include: ['reasoning.encrypted_content'], reasoning: { effort: 'low', summary: 'auto' }, stream: true });

    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - expected);
    expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'SUCCESS', promptTokens: 40, completionTokens: 9, cost: expected, stream: true }]);
    await expectLedgerClean();
  });

  it('ends with response.incomplete when max_output_tokens is reached, and charges it', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 16 }, finishReason: 'length' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    for (const model of ['gpt-4o-mini', 'claude-haiku-4-5'] as const) {
      const events = await collect(await gw.client(customer.secret).responses.create({ model, input: 'Talk.', max_output_tokens: 16, stream: true }));
      const last = events.at(-1) as OpenAI.Responses.ResponseIncompleteEvent;
      expect(last.type).toBe('response.incomplete');
      expect(last.response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
      const plain = await gw.client(customer.secret).responses.create({ model, input: 'Talk.', max_output_tokens: 16 });
      expect(plain.status).toBe('incomplete');
      expect(plain.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    }
    const expected = 2n * costOf('gpt-4o-mini', 10, 16) + 2n * costOf('claude-haiku-4-5', 10, 16);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - expected);
    await expectLedgerClean();
  });
});

describe('POST /v1/responses on other upstreams (translated to chat completions)', () => {
  it('an Anthropic model, streaming and not: instructions become the system prompt, output and events are Responses', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 200, completion_tokens: 20 }, text: 'Bonjour from Claude.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const input: OpenAI.Responses.ResponseInput = [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Bonjour' },
      { role: 'developer', content: 'Stay polite.' },
      { role: 'user', content: [{ type: 'input_text', text: 'Again' }] },
    ];
    const { data, response } = await client.responses.create({ model: 'claude-haiku-4-5', instructions: 'Answer in French.', input, max_output_tokens: 100 }).withResponse();
    expect(data.output_text).toBe('Bonjour from Claude.');
    expect(data).toMatchObject({ object: 'response', status: 'completed', model: 'claude-haiku-4-5', incomplete_details: null, instructions: 'Answer in French.' });
    expect(data.id).toMatch(/^resp_/);
    expect(data.output).toMatchObject([{ type: 'message', role: 'assistant', status: 'completed', id: expect.stringMatching(/^msg_/), content: [{ type: 'output_text', text: 'Bonjour from Claude.', annotations: [] }] }]);
    expect(data.usage).toMatchObject({ input_tokens: 200, output_tokens: 20, total_tokens: 220 });
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.body).toMatchObject({ model: 'claude-haiku-4-5', system: 'Answer in French.\n\nStay polite.', max_tokens: 100 });
    expect((sent.body as { messages: unknown[] }).messages).toHaveLength(3);
    // 200 × 1.10 + 20 × 5.50 = 330 micro-USD.
    const expected = costOf('claude-haiku-4-5', 200, 20);
    expect(expected).toBe(330n);
    expect((data as unknown as Billed).usage.cost).toBe(0.00033);
    expect(response.headers.get('x-tollgate-cost-usd')).toBe('0.000330');

    const events = await collect(await client.responses.create({ model: 'claude-haiku-4-5', instructions: 'Answer in French.', input, stream: true }));
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const done = events.find((e) => e.type === 'response.output_text.done') as OpenAI.Responses.ResponseTextDoneEvent;
    expect(done.text).toBe('Bonjour from Claude.');
    const completed = (events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response;
    expect(completed.output_text ?? completed.output).toBeTruthy();
    expect(completed.output).toMatchObject([{ type: 'message', content: [{ type: 'output_text', text: 'Bonjour from Claude.' }] }]);
    expect(completed.usage).toMatchObject({ input_tokens: 200, output_tokens: 20 });
    expect((completed as unknown as Billed).usage.cost).toBe(0.00033);

    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR - 2n * expected, available: ONE_DOLLAR - 2n * expected });
    expect(await usageRows(customer.keyId)).toMatchObject([
      { status: 'SUCCESS', providerId: 'anthropic', promptTokens: 200, completionTokens: 20, cost: expected, stream: false },
      { status: 'SUCCESS', providerId: 'anthropic', promptTokens: 200, completionTokens: 20, cost: expected, stream: true },
    ]);
    await expectLedgerClean();
  });

  it('a function call round trip: function_call out, function_call_output back in, streaming and not', async () => {
    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}' }, usage: { prompt_tokens: 600, completion_tokens: 30 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false }];
    const first = await client.responses.create({ model: 'claude-haiku-4-5', input: 'Weather in Paris?', tools, tool_choice: 'required', parallel_tool_calls: false, max_output_tokens: 200 });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' });
    expect(call.call_id).toMatch(/^toolu_fake/);
    expect(fake.requests.at(-1)!.body).toMatchObject({
      tools: [{ name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });

    // The same call streamed: a function_call item with its argument deltas.
    const events = await collect(await client.responses.create({ model: 'claude-haiku-4-5', input: 'Weather in Paris?', tools, stream: true, max_output_tokens: 200 }));
    const args = events.flatMap((e) => (e.type === 'response.function_call_arguments.delta' ? [e.delta] : [])).join('');
    expect(args).toBe('{"city":"Paris"}');
    const argsDone = events.find((e) => e.type === 'response.function_call_arguments.done') as OpenAI.Responses.ResponseFunctionCallArgumentsDoneEvent;
    expect(argsDone).toMatchObject({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect((events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response.output).toMatchObject([{ type: 'function_call', name: 'get_weather', arguments: '{"city":"Paris"}' }]);

    // The result goes back: Claude gets the tool_use and its tool_result.
    fake.setBehavior({ toolCall: undefined, text: 'It is sunny in Paris.', usage: { prompt_tokens: 700, completion_tokens: 8 } });
    const second = await client.responses.create({
      model: 'claude-haiku-4-5',
      tools,
      max_output_tokens: 200,
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments, id: call.id, status: 'completed' },
        { type: 'function_call_output', call_id: call.call_id, output: '{"sky":"sunny"}' },
      ],
    });
    expect(second.output_text).toBe('It is sunny in Paris.');
    expect((fake.requests.at(-1)!.body as { messages: unknown[] }).messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: call.call_id, name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.call_id, content: '{"sky":"sunny"}' }] },
    ]);
    const expected = 2n * costOf('claude-haiku-4-5', 600, 30) + costOf('claude-haiku-4-5', 700, 8);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - expected);
    expect((await usageRows(customer.keyId)).map((u) => u.cost)).toEqual([costOf('claude-haiku-4-5', 600, 30), costOf('claude-haiku-4-5', 600, 30), costOf('claude-haiku-4-5', 700, 8)]);
    await expectLedgerClean();
  });

  it('the built-in local model, streaming and not, billed at the tokens it reported', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const plain = await client.responses.create({ model: 'tollgate-local', input: 'What is Tollgate?' });
    expect(plain.output_text).toContain('You said: "What is Tollgate?"');
    const events = await collect(await client.responses.create({ model: 'tollgate-local', input: 'What is Tollgate?', stream: true }));
    const streamed = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(streamed).toBe(plain.output_text);
    const completed = (events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response;
    expect(completed.usage).toEqual(expect.objectContaining({ input_tokens: plain.usage!.input_tokens, output_tokens: plain.usage!.output_tokens }));
    expect(fake.requests).toHaveLength(0);
    const one = costOf('tollgate-local', plain.usage!.input_tokens, plain.usage!.output_tokens);
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(2n * one);
    expect((await usageRows(customer.keyId)).map((u) => [u.promptTokens, u.completionTokens, u.cost])).toEqual([
      [plain.usage!.input_tokens, plain.usage!.output_tokens, one],
      [plain.usage!.input_tokens, plain.usage!.output_tokens, one],
    ]);
    await expectLedgerClean();
  });
});

describe('a request shaped as Codex CLI sends it (wire_api = "responses")', () => {
  /** Codex's ResponsesApiRequest as it serializes it (codex-rs/codex-api): every field present, store false, stream true. */
  const codexBody = (model: string) => ({
    model,
    instructions: 'You are Codex, a coding agent.',
    input: [
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions>workspace-write</permissions>' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'List the files.' }] },
      { type: 'reasoning', summary: [{ type: 'summary_text', text: 'Use ls.' }], content: null, encrypted_content: 'gAAAA-codex-turn-1' },
      { type: 'function_call', name: 'shell', arguments: '{"command":["ls"]}', call_id: 'call_1' },
      { type: 'function_call_output', call_id: 'call_1', output: 'README.md\npackage.json' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Two files.' }], end_turn: true },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Thanks.' }] },
    ],
    tools: [{ type: 'function', name: 'shell', description: 'Runs a shell command', strict: false, parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } } }, required: ['command'] } }],
    tool_choice: 'auto',
    parallel_tool_calls: false,
    reasoning: null,
    store: false,
    stream: true,
    include: [],
    prompt_cache_key: '0199a1b2-thread',
  });

  it.each(['gpt-4o-mini', 'claude-haiku-4-5'] as const)('streams SSE that Codex reads: typed events with sequence numbers, ending in response.completed with an id and usage (%s)', async (model) => {
    fake.setBehavior({ usage: { prompt_tokens: 900, completion_tokens: 12 }, text: 'You are welcome.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const response = await fetch(`${gw.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(codexBody(model)),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = (await response.text()).split('\n\n').filter(Boolean);
    const events = frames.map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      const data = JSON.parse(dataLine!.replace(/^data: /, '')) as { type: string; sequence_number: number; response?: { id: string; usage: Record<string, unknown> } };
      expect(eventLine).toBe(`event: ${data.type}`);
      return data;
    });
    expect(events[0]!.type).toBe('response.created');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const last = events.at(-1)!;
    expect(last.type).toBe('response.completed');
    expect(last.response!.id).toMatch(/^resp_/);
    expect(last.response!.usage).toMatchObject({ input_tokens: 900, output_tokens: 12, total_tokens: 912, input_tokens_details: { cached_tokens: 0 } });

    const sent = fake.requests.at(-1)!.body as Record<string, unknown>;
    if (model === 'gpt-4o-mini') {
      // Passed through as Codex sent it, reasoning included.
      expect(sent).toMatchObject({ input: codexBody(model).input, prompt_cache_key: '0199a1b2-thread', store: false, max_output_tokens: 16_384 });
    } else {
      // Translated: the reasoning item is dropped; the call and its output become tool_use and tool_result.
      expect(sent.system).toBe('You are Codex, a coding agent.\n\n<permissions>workspace-write</permissions>');
      expect(sent.messages).toEqual([
        { role: 'user', content: [{ type: 'text', text: 'List the files.' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'shell', input: { command: ['ls'] } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'README.md\npackage.json' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Two files.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Thanks.' }] },
      ]);
      expect(JSON.stringify(sent)).not.toContain('gAAAA-codex-turn-1');
    }
    const expected = costOf(model, 900, 12);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - expected);
    await expectLedgerClean();
  });
});

describe('POST /v1/responses refusals (400 naming the field, nothing charged, nothing sent upstream)', () => {
  let customer: Awaited<ReturnType<typeof createCustomer>>;
  beforeAll(async () => {
    customer = await createCustomer(t.db, ONE_DOLLAR);
  });

  const cases: Array<{ name: string; body: Record<string, unknown>; param: string; code: string; message: RegExp }> = [
    {
      name: 'a built-in tool (web_search, as Codex sends it by default)',
      body: { tools: [{ type: 'web_search', external_web_access: false }] },
      param: 'tools[0].type',
      code: 'unsupported_tool',
      message: /'web_search' is not supported.*web_search = "disabled"/,
    },
    { name: 'a built-in tool (code_interpreter)', body: { tools: [{ type: 'function', name: 'f' }, { type: 'code_interpreter', container: { type: 'auto' } }] }, param: 'tools[1].type', code: 'unsupported_tool', message: /'code_interpreter'/ },
    { name: 'an unknown field', body: { temperatur: 0.5 }, param: 'temperatur', code: 'unknown_parameter', message: /Unrecognized field 'temperatur'/ },
    { name: 'an unknown field in an input item', body: { input: [{ role: 'user', content: 'x', colour: 'red' }] }, param: 'input[0].colour', code: 'unknown_parameter', message: /colour/ },
    { name: 'previous_response_id', body: { previous_response_id: 'resp_123' }, param: 'previous_response_id', code: 'unsupported_parameter', message: /statelessly.*whole conversation/ },
    { name: 'store: true', body: { store: true }, param: 'store', code: 'unsupported_parameter', message: /stores no responses/ },
    { name: 'background: true', body: { background: true }, param: 'background', code: 'unsupported_parameter', message: /'background' is not supported by Tollgate: .*stored responses/ },
    { name: 'top_logprobs above 0', body: { top_logprobs: 5 }, param: 'top_logprobs', code: 'unsupported_parameter', message: /'top_logprobs' is not supported by Tollgate/ },
    { name: 'an item_reference', body: { input: [{ type: 'item_reference', id: 'msg_1' }] }, param: 'input[0].type', code: 'unsupported_parameter', message: /item_reference.*statelessly/ },
    { name: 'service_tier priority', body: { service_tier: 'priority' }, param: 'service_tier', code: 'unsupported_parameter', message: /'service_tier: priority' is not supported: .*priced differently/ },
    { name: 'max_output_tokens above the model cap', body: { max_output_tokens: 1_000_000 }, param: 'max_output_tokens', code: 'invalid_request', message: /'max_output_tokens' is 1000000/ },
    { name: 'a tool_choice naming no tool', body: { tool_choice: { type: 'function', name: 'nope' } }, param: 'tool_choice.name', code: 'invalid_request', message: /not in tools/ },
  ];

  it.each(cases)('$name → 400 $code ($param)', async ({ body, param, code, message }) => {
    const before = await walletBalance(customer.user.id);
    const error = (await gw
      .client(customer.secret)
      .responses.create({ model: 'gpt-4o-mini', input: 'hi', ...body } as never)
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.code).toBe(code);
    expect(error.param).toBe(param);
    expect(error.message).toMatch(message);
    expect(fake.requests).toHaveLength(0);
    expect(await walletBalance(customer.user.id)).toEqual(before);
  });

  it('an unknown key is the SDK’s AuthenticationError', async () => {
    const error = await gw.client('tg_nope').responses.create({ model: 'gpt-4o-mini', input: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('a refused field left at its documented default asks for nothing, and is served', async () => {
    const response = await gw.client(customer.secret).responses.create({ model: 'gpt-4o-mini', input: 'hi', background: false, top_logprobs: 0, previous_response_id: null } as never);
    expect(response.status).toBe('completed');
  });
});

describe('POST /v1/responses failures are free, and a client that leaves pays only for what it got', () => {
  it.each(['gpt-4o-mini', 'claude-haiku-4-5'])('an upstream that dies mid-stream ends the stream with response.failed and charges nothing (%s)', async (model) => {
    fake.setBehavior({ dieAfterChunks: 5, text: 'a b c d e f g h i j' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const events = await collect(await gw.client(customer.secret).responses.create({ model, input: 'hi', stream: true }));
    expect(events.some((e) => e.type === 'response.output_text.delta')).toBe(true);
    const last = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
    expect(last.type).toBe('response.failed');
    expect(last.response.status).toBe('failed');
    expect(last.response.error).toMatchObject({ code: 'server_error', message: expect.stringContaining('You were not charged') });
    expect((last.response as unknown as Billed).billing.charged_usd).toBe(0);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'UPSTREAM_ERROR', cost: 0n }]);
    await expectLedgerClean();
  });

  it('an upstream that fails before the first byte is a 502, not charged', async () => {
    fake.setBehavior({ failStatus: 500 });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const error = (await gw.client(customer.secret).responses.create({ model: 'gpt-4o-mini', input: 'hi' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(502);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'UPSTREAM_ERROR', cost: 0n }]);
    await expectLedgerClean();
  });

  it.each(['gpt-4o-mini', 'claude-haiku-4-5'] as const)('a client that hangs up mid-stream is billed only what was produced (%s)', async (model) => {
    fake.setBehavior({ chunkDelayMs: 40, text: Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ') });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await gw.client(customer.secret).responses.create({ model, input: 'Talk.', stream: true, max_output_tokens: 1_000 }, { signal: controller.signal });
    let deltas = 0;
    await (async () => {
      for await (const event of stream) {
        if (event.type === 'response.output_text.delta') deltas += 1;
        if (deltas >= 3) controller.abort();
      }
    })().catch(() => undefined);
    const usage = await waitFor(() => t.db.usageRecord.findFirst({ where: { apiKeyId: customer.keyId } }));
    expect(usage.status).toBe('CLIENT_ABORTED');
    expect(usage.completionTokens).toBeGreaterThan(0);
    expect(usage.completionTokens).toBeLessThan(40);
    // Priced independently from the list prices and the tokens recorded as produced.
    expect(usage.cost).toBe(costOf(model, usage.promptTokens, usage.completionTokens));
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - usage.cost);
    await expectLedgerClean();
  });
});

describe('POST /v1/responses shares the pipeline: failover, Idempotency-Key, daily limits', () => {
  it('fails over from OpenAI’s native /responses (a 500) to a translated provider before the first byte, and charges once', async () => {
    await t.db.modelOffering.create({
      data: { id: 'off_deepseek_gpt-4o-mini_resp', modelId: 'gpt-4o-mini', providerId: 'deepseek', upstreamModel: 'gpt-4o-mini-alt', upstreamInputPer1M: 200_000n, upstreamOutputPer1M: 800_000n, sellInputPer1M: 220_000n, sellOutputPer1M: 880_000n },
    });
    try {
      fake.setBehavior({ failStatus: 500, failTimes: 1, usage: { prompt_tokens: 10, completion_tokens: 10 }, text: 'Served by the second.' });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const client = gw.client(customer.secret);
      const answer = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 20 });
      expect(answer.output_text).toBe('Served by the second.');
      fake.setBehavior({ failStatus: 500, failTimes: 1 });
      const events = await collect(await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 20, stream: true }));
      expect(events.at(-1)!.type).toBe('response.completed');
      expect(fake.requests.map((r) => r.path)).toEqual(['/v1/responses', '/v1/chat/completions', '/v1/responses', '/v1/chat/completions']);
      // Charged once per call, at the provider that served: 10 × 0.22 + 10 × 0.88 = 11 micro-USD.
      expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - 22n);
      expect((await usageRows(customer.keyId)).map((u) => [u.providerId, u.status, u.cost])).toEqual([
        ['deepseek', 'SUCCESS', 11n],
        ['deepseek', 'SUCCESS', 11n],
      ]);
      await expectLedgerClean();
    } finally {
      await t.db.modelOffering.delete({ where: { id: 'off_deepseek_gpt-4o-mini_resp' } });
    }
  });

  it('replays an Idempotency-Key and charges once; the daily request quota refuses with 429', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 10 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR, { dailyRequestLimit: 1 });
    const client = gw.client(customer.secret);
    const body = { model: 'gpt-4o-mini', input: 'once', max_output_tokens: 20 };
    const first = await client.responses.create(body, { headers: { 'Idempotency-Key': 'resp-1' } });
    const again = await client.responses.create(body, { headers: { 'Idempotency-Key': 'resp-1' } });
    expect(again.id).toBe(first.id);
    expect(fake.requests).toHaveLength(1);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - costOf('gpt-4o-mini', 10, 10));
    const refused = (await client.responses.create({ ...body, input: 'twice' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused.code).toBe('daily_request_limit_reached');
    expect(fake.requests).toHaveLength(1);
    await expectLedgerClean();
  });
});

describe('the Vercel AI SDK 5 default openai() model (Responses) against Tollgate', () => {
  it.each(['gpt-4o-mini', 'claude-haiku-4-5'] as const)('generateText and streamText (%s), each billed exactly', async (model) => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 6 }, text: 'Hi from the AI SDK path.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const openai = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: customer.secret });
    const generated = await generateText({ model: openai(model), prompt: 'Say hi.', maxOutputTokens: 50, maxRetries: 0 });
    expect(generated.text).toBe('Hi from the AI SDK path.');
    expect(generated.usage).toMatchObject({ inputTokens: 30, outputTokens: 6 });
    expect(fake.requests.at(-1)!.path).toBe(model === 'gpt-4o-mini' ? '/v1/responses' : '/v1/messages');

    const streamed = streamText({ model: openai(model), prompt: 'Say hi.', maxOutputTokens: 50, maxRetries: 0 });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    expect(text).toBe('Hi from the AI SDK path.');
    expect(await streamed.usage).toMatchObject({ inputTokens: 30, outputTokens: 6 });

    const one = costOf(model, 30, 6);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - 2n * one);
    expect((await usageRows(customer.keyId)).map((u) => [u.status, u.stream, u.cost])).toEqual([
      ['SUCCESS', false, one],
      ['SUCCESS', true, one],
    ]);
    await expectLedgerClean();
  });
});
