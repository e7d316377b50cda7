import Anthropic from '@anthropic-ai/sdk';
import { createAnthropic } from '@ai-sdk/anthropic';
import { generateText, streamText } from 'ai';
import { countTokens } from 'gpt-tokenizer';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditLedger, walletAccountId } from '../lib/ledger';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { PROVIDER_SECRETS, createCustomer, gatewayHarness, startTestGateway, upstreamEnv, type TestGateway } from './helpers/gateway';

// POST /v1/messages and /v1/messages/count_tokens through the unmodified @anthropic-ai/sdk and the
// Vercel AI SDK's Anthropic provider. Every paid call checks the ledger: the wallet moves by the
// cost computed here from the catalog's list prices (lib/catalog/seed-data.ts, sold at +10%) and
// the tokens the fake upstream reported, the call has its usage row, and the audit is clean.

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const ONE_DOLLAR = 1_000_000n;

/** micro-USD per 1M tokens at sell prices: list × 1.1. */
const SELL = {
  // claude-haiku-4-5: $1 / $5 list.
  haiku: { input: 1_100_000, output: 5_500_000 },
  // gpt-4o-mini: $0.15 / $0.60 list.
  mini: { input: 165_000, output: 660_000 },
  // tollgate-local: $0.10 / $0.40 list.
  local: { input: 110_000, output: 440_000 },
  // claude-sonnet-4-5: $3 / $15 list.
  sonnet: { input: 3_300_000, output: 16_500_000 },
};

/** Cost in micro-USD, one rounding up; Anthropic's cache reads at 10% and 5-minute writes at 125% of the input price. */
function cost(price: { input: number; output: number }, usage: { input: number; output: number; cacheRead?: number; cacheWrite?: number }): bigint {
  const inputTenths = usage.input * 100 + (usage.cacheRead ?? 0) * 10 + (usage.cacheWrite ?? 0) * 125;
  const numerator = BigInt(price.input) * BigInt(inputTenths) + BigInt(price.output) * BigInt(usage.output) * 100n;
  const denominator = 1_000_000n * 100n;
  return (numerator + denominator - 1n) / denominator;
}

const usd = (micros: bigint) => Number(micros) / 1e6;

function anthropic(secret: string, options: { bearer?: boolean } = {}) {
  return new Anthropic({ ...(options.bearer ? { authToken: secret } : { apiKey: secret }), baseURL: gw.url, maxRetries: 0 });
}

async function walletBalance(userId: string) {
  return t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) }, select: { balance: true, available: true } });
}

async function spent(userId: string, funded = ONE_DOLLAR) {
  const wallet = await walletBalance(userId);
  expect(wallet.available).toBe(wallet.balance);
  return funded - wallet.balance;
}

async function expectLedgerClean() {
  expect((await auditLedger(t.db)).problems).toEqual([]);
}

async function usageRows(keyId: string) {
  return t.db.usageRecord.findMany({ where: { apiKeyId: keyId }, orderBy: { createdAt: 'asc' } });
}

async function waitFor<T>(read: () => Promise<T | null>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The SSE event names of a raw /v1/messages stream, as sent (the SDK drops pings before anyone sees them). */
async function wireEvents(secret: string, body: Record<string, unknown>): Promise<string[]> {
  const response = await fetch(`${gw.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': secret, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return [...(await response.text()).matchAll(/^event: (.+)$/gm)].map((m) => m[1]!);
}

type WithCost = { usage: { cost_usd: number }; billing: { charged_usd: number; hold_usd: number } };

describe('POST /v1/messages to an Anthropic upstream (near-passthrough)', () => {
  it('messages.create: cache_control, thinking and betas go through; the cache is billed at its rates', async () => {
    fake.setBehavior({
      usage: { prompt_tokens: 40, completion_tokens: 30, cache_read_input_tokens: 200, cache_creation_input_tokens: 100 },
      text: 'Hello from Claude.',
      thinking: { text: 'The user greets me.', signature: 'sig-abc123' },
    });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const { data, response } = await anthropic(customer.secret)
      .messages.create(
        {
          model: 'claude-haiku-4-5',
          max_tokens: 2_000,
          system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
          thinking: { type: 'enabled', budget_tokens: 1_024 },
          metadata: { user_id: 'user-42' },
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'assistant', content: [{ type: 'thinking', thinking: 'Earlier thought.', signature: 'sig-old' }, { type: 'text', text: 'Hello.' }] },
            { role: 'user', content: [{ type: 'text', text: 'Greet me again.', cache_control: { type: 'ephemeral', ttl: '5m' } }] },
          ],
        },
        { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } },
      )
      .withResponse();

    // 40 × 1.1 + 200 cache reads × 0.11 + 100 cache writes × 1.375 + 30 × 5.5 = 44 + 22 + 137.5 + 165 = 368.5 → 369.
    const expected = cost(SELL.haiku, { input: 40, output: 30, cacheRead: 200, cacheWrite: 100 });
    expect(expected).toBe(369n);
    expect(data.content).toEqual([
      { type: 'thinking', thinking: 'The user greets me.', signature: 'sig-abc123' },
      { type: 'text', text: 'Hello from Claude.'},
    ]);
    expect(data).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-haiku-4-5', stop_reason: 'end_turn' });
    expect(data.usage).toMatchObject({ input_tokens: 40, output_tokens: 30, cache_read_input_tokens: 200, cache_creation_input_tokens: 100 });
    expect((data as unknown as WithCost).usage.cost_usd).toBe(usd(expected));
    expect((data as unknown as WithCost).billing.charged_usd).toBe(usd(expected));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe(usd(expected).toFixed(6));
    expect(response.headers.get('request-id')).toMatch(/^req_/);
    expect((data as unknown as { _request_id: string })._request_id).toBe(response.headers.get('request-id'));

    // The upstream got the client's request as written, with our key and the client's headers.
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe(PROVIDER_SECRETS.ANTHROPIC_API_KEY);
    expect(sent.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14');
    expect(sent.headers['anthropic-version']).toBe('2026-10-21');
    expect(JSON.stringify(sent)).not.toContain(customer.secret);
    expect(sent.body).toMatchObject({
      model: 'claude-haiku-4-5',
      max_tokens: 2_000,
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      thinking: { type: 'enabled', budget_tokens: 1_024 },
      metadata: { user_id: 'user-42' },
    });
    expect((sent.body as { messages: unknown[] }).messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'thinking', thinking: 'Earlier thought.', signature: 'sig-old' }, { type: 'text', text: 'Hello.' }],
    });
    expect(sent.body).not.toHaveProperty('stream', true);

    expect(await spent(customer.user.id)).toBe(expected);
    const [row] = await usageRows(customer.keyId);
    expect(row).toMatchObject({ status: 'SUCCESS', modelId: 'claude-haiku-4-5', providerId: 'anthropic', promptTokens: 340, completionTokens: 30, cachedTokens: 200, cost: expected, stream: false });
    await expectLedgerClean();
  });

  it('a prompt marked for caching is held at the cache-write price, so a bill of cache writes is never cut at the hold', async () => {
    const prompt = 'Summarize the plot of a long novel about a lighthouse keeper, chapter by chapter. '.repeat(3);
    const request = (cached: boolean): Anthropic.MessageCreateParamsNonStreaming => ({
      model: 'claude-haiku-4-5',
      max_tokens: 1,
      messages: [{ role: 'user', content: [{ type: 'text', text: prompt, ...(cached ? { cache_control: { type: 'ephemeral' as const } } : {}) }] }],
    });
    const plain = await createCustomer(t.db, ONE_DOLLAR);
    await anthropic(plain.secret).messages.create(request(false));
    const { amount: plainHold } = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(plain.user.id) } });

    // The most tokens whose plain input the plain hold covers (one output token at 5.5 aside),
    // reported as cache writes: 1.25x their input price, more than the plain hold.
    const writes = Math.floor((Number(plainHold) - 6) / 1.1);
    const expected = cost(SELL.haiku, { input: 0, output: 1, cacheWrite: writes });
    expect(expected).toBeGreaterThan(plainHold);
    fake.setBehavior({ usage: { prompt_tokens: 0, completion_tokens: 1, cache_creation_input_tokens: writes } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const message = await anthropic(customer.secret).messages.create(request(true));
    const { amount: hold, settledAmount } = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(customer.user.id) } });
    expect(hold).toBeGreaterThanOrEqual(expected);
    expect(settledAmount).toBe(expected);
    expect((message as unknown as WithCost).usage.cost_usd).toBe(usd(expected));
    expect(await spent(customer.user.id)).toBe(expected);
    await expectLedgerClean();
  });

  it('messages.stream: Anthropic’s event sequence, thinking and signature included; the cost in the last message_delta', async () => {
    fake.setBehavior({
      usage: { prompt_tokens: 25, completion_tokens: 12, cache_read_input_tokens: 50 },
      text: 'one two three',
      thinking: { text: 'Counting slowly.', signature: 'sig-stream' },
    });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = anthropic(customer.secret).messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 2_000,
      thinking: { type: 'enabled', budget_tokens: 1_024 },
      messages: [{ role: 'user', content: 'Count to three.' }],
    });
    const events: Array<{ type: string; [key: string]: unknown }> = [];
    stream.on('streamEvent', (event) => events.push(event as unknown as { type: string }));
    const final = await stream.finalMessage();

    // 25 × 1.1 + 50 × 0.11 + 12 × 5.5 = 27.5 + 5.5 + 66 = 99.
    const expected = cost(SELL.haiku, { input: 25, output: 12, cacheRead: 50 });
    expect(expected).toBe(99n);
    expect(final.content).toEqual([
      { type: 'thinking', thinking: 'Counting slowly.', signature: 'sig-stream' },
      { type: 'text', text: 'one two three'},
    ]);
    expect(final.usage).toMatchObject({ input_tokens: 25, output_tokens: 12, cache_read_input_tokens: 50 });
    const types = events.map((e) => (e.type === 'content_block_delta' ? `delta:${(e.delta as { type: string }).type}` : e.type));
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'delta:thinking_delta',
      'delta:thinking_delta',
      'delta:signature_delta',
      'content_block_stop',
      'content_block_start',
      'delta:text_delta',
      'delta:text_delta',
      'delta:text_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[0]).toMatchObject({ message: { model: 'claude-haiku-4-5', usage: { input_tokens: 25, cache_read_input_tokens: 50 } } });
    const delta = events.find((e) => e.type === 'message_delta')!;
    expect(delta).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 12, cost_usd: usd(expected) }, billing: { charged_usd: usd(expected) } });
    expect(fake.requests.at(-1)!.body).toMatchObject({ stream: true, thinking: { type: 'enabled', budget_tokens: 1_024 } });
    expect(await spent(customer.user.id)).toBe(expected);

    // On the wire, with the upstream's ping where it sent it (which the SDK drops before anyone sees it).
    const wire = await wireEvents(customer.secret, { model: 'claude-haiku-4-5', max_tokens: 2_000, messages: [{ role: 'user', content: 'Again.' }] });
    const delta3 = ['content_block_delta', 'content_block_delta', 'content_block_delta'];
    expect(wire).toEqual(['message_start', 'content_block_start', ...delta3, 'content_block_stop', 'content_block_start', 'ping', ...delta3, 'content_block_stop', 'message_delta', 'message_stop']);
    expect(await spent(customer.user.id)).toBe(expected * 2n);
    expect((await usageRows(customer.keyId))[0]).toMatchObject({ status: 'SUCCESS', stream: true, promptTokens: 75, completionTokens: 12, cachedTokens: 50, cost: expected });
    expect(await usageRows(customer.keyId)).toHaveLength(2);
    await expectLedgerClean();
  });

  it('countTokens: asks the Anthropic upstream, needs a key, and is never billed', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 1_234, completion_tokens: 0 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const counted = await anthropic(customer.secret).messages.countTokens({
      model: 'claude-haiku-4-5',
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'How many tokens is this?' }],
    });
    expect(counted.input_tokens).toBe(1_234);
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/messages/count_tokens');
    expect(sent.body).toEqual({ model: 'claude-haiku-4-5', system: 'Be brief.', messages: [{ role: 'user', content: 'How many tokens is this?' }] });
    expect(sent.headers['x-api-key']).toBe(PROVIDER_SECRETS.ANTHROPIC_API_KEY);
    expect(await spent(customer.user.id)).toBe(0n);
    expect(await usageRows(customer.keyId)).toEqual([]);

    const error = await anthropic('tg_not_a_key').messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it('an Idempotency-Key replays the message and charges once; another body under it is a 409', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 4 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = anthropic(customer.secret);
    const body = { model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user' as const, content: 'once' }] };
    const first = await client.messages.create(body, { headers: { 'Idempotency-Key': 'msg-key-1' } });
    const second = await client.messages.create(body, { headers: { 'Idempotency-Key': 'msg-key-1' } });
    expect(second.id).toBe(first.id);
    expect(fake.requests).toHaveLength(1);
    const conflict = await client.messages.create({ ...body, max_tokens: 21 }, { headers: { 'Idempotency-Key': 'msg-key-1' } }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(Anthropic.ConflictError);
    expect(await spent(customer.user.id)).toBe(cost(SELL.haiku, { input: 10, output: 4 }));
    expect(await usageRows(customer.keyId)).toHaveLength(1);
    await expectLedgerClean();
  });

  it('fails over before the first byte from Anthropic to an OpenAI-compatible offering of the same model, and charges once, there', async () => {
    await t.db.modelOffering.create({
      data: { id: 'off_deepseek_haiku', modelId: 'claude-haiku-4-5', providerId: 'deepseek', upstreamModel: 'haiku-alt', upstreamInputPer1M: 2_000_000n, upstreamOutputPer1M: 10_000_000n, sellInputPer1M: 2_200_000n, sellOutputPer1M: 11_000_000n },
    });
    try {
      fake.setBehavior({ failStatus: 529, failTimes: 1, usage: { prompt_tokens: 10, completion_tokens: 10 }, text: 'From the second provider.' });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const client = anthropic(customer.secret);
      const message = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
      expect(message.content).toEqual([{ type: 'text', text: 'From the second provider.' }]);
      fake.setBehavior({ failStatus: 529, failTimes: 1 });
      const stream = client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
      expect((await stream.finalMessage()).content).toEqual([{ type: 'text', text: 'From the second provider.' }]);
      expect(fake.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/chat/completions', '/v1/messages', '/v1/chat/completions']);
      // Each charged once, at the offering that served: 10 × 2.2 + 10 × 11 = 132 micro-USD.
      expect(await spent(customer.user.id)).toBe(132n * 2n);
      expect(await usageRows(customer.keyId)).toMatchObject([
        { providerId: 'deepseek', status: 'SUCCESS', cost: 132n },
        { providerId: 'deepseek', status: 'SUCCESS', cost: 132n },
      ]);
      await expectLedgerClean();
    } finally {
      await t.db.modelOffering.delete({ where: { id: 'off_deepseek_haiku' } });
    }
  });

  it.each([
    { model: 'claude-haiku-4-5', stream: false },
    { model: 'gpt-4o-mini', stream: true },
  ])('an upstream that reports no usage ($model, stream: $stream) is billed the counted tokens of what it produced', async ({ model, stream }) => {
    const text = 'alpha beta gamma delta epsilon';
    fake.setBehavior({ omitUsage: true, text });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const params = { model, max_tokens: 50, messages: [{ role: 'user' as const, content: 'Five words.' }] };
    const client = anthropic(customer.secret);
    const message = stream ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
    expect(message.content).toEqual([{ type: 'text', text }]);
    const [row] = await usageRows(customer.keyId);
    expect(row).toMatchObject({ status: 'SUCCESS', completionTokens: countTokens(text) });
    expect(row!.promptTokens).toBeGreaterThan(countTokens('Five words.'));
    const price = model === 'gpt-4o-mini' ? SELL.mini : SELL.haiku;
    expect(row!.cost).toBe(cost(price, { input: row!.promptTokens, output: row!.completionTokens }));
    expect(await spent(customer.user.id)).toBe(row!.cost);
    await expectLedgerClean();
  });

  it('charges nothing when the stream dies midway: the client gets an error event', async () => {
    fake.setBehavior({ dieAfterChunks: 4, text: 'a b c d e f g h' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = anthropic(customer.secret).messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Letters.' }] });
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const error = await stream.finalMessage().catch((e: unknown) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(String((error as Error).message)).toContain('You were not charged');
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'UPSTREAM_ERROR', cost: 0n }]);
    await expectLedgerClean();
  });
});

describe('a request shaped the way Claude Code sends one', () => {
  const claudeCode = (secret: string, body: Record<string, unknown>) =>
    fetch(`${gw.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${secret}`,
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27',
        'anthropic-dangerous-direct-browser-access': 'true',
        'x-app': 'cli',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        max_tokens: 32_000,
        stream: true,
        temperature: 1,
        system: [
          { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'Work in /tmp/project.', cache_control: { type: 'ephemeral' } },
        ],
        messages: [{ role: 'user', content: [{ type: 'text', text: '<system-reminder>Be careful.</system-reminder>' }, { type: 'text', text: 'List the files.', cache_control: { type: 'ephemeral' } }] }],
        tools: [
          {
            name: 'Bash',
            description: 'Runs a shell command.',
            input_schema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { command: { type: 'string' } }, required: ['command'], additionalProperties: false },
          },
        ],
        metadata: { user_id: 'user_0123abcd_account__session_5f0c7a2e' },
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        ...body,
      }),
    });

  it('is served from Claude, thinking, context editing and betas through; and from gpt-4o-mini, translated', async () => {
    fake.setBehavior({
      toolCall: { name: 'Bash', arguments: { command: 'ls' } },
      thinking: { text: 'I should list them.', signature: 'sig-cc' },
      usage: { prompt_tokens: 300, completion_tokens: 40, cache_creation_input_tokens: 900 },
    });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const claude = await claudeCode(customer.secret, { model: 'claude-sonnet-4-5', thinking: { type: 'enabled', budget_tokens: 31_999 } });
    expect(claude.status).toBe(200);
    const text = await claude.text();
    expect(text).toContain('"type":"tool_use"');
    expect(text).toContain('"type":"input_json_delta"');
    expect(text).toContain('"type":"signature_delta","signature":"sig-cc"');
    const sent = fake.requests.at(-1)!;
    expect(sent.headers['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27');
    expect(sent.body).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 32_000, temperature: 1, context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] } });
    // 300 × 3.3 + 900 cache writes × 4.125 + 40 × 16.5 = 990 + 3,712.5 + 660 = 5,362.5 → 5,363.
    const claudeCost = cost(SELL.sonnet, { input: 300, output: 40, cacheWrite: 900 });
    expect(claudeCost).toBe(5_363n);
    expect(await spent(customer.user.id)).toBe(claudeCost);

    fake.setBehavior({ toolCall: { name: 'Bash', arguments: { command: 'ls' } }, thinking: undefined, usage: { prompt_tokens: 500, completion_tokens: 20 } });
    const openai = await claudeCode(customer.secret, { model: 'gpt-4o-mini', max_tokens: 16_000 });
    expect(openai.status).toBe(200);
    expect(await openai.text()).toContain('"stop_reason":"tool_use"');
    const translated = fake.requests.at(-1)!;
    expect(translated.path).toBe('/v1/chat/completions');
    expect(translated.body).not.toHaveProperty('context_management');
    expect(translated.body).toMatchObject({ temperature: 1, user: 'user_0123abcd_account__session_5f0c7a2e', tools: [{ type: 'function', function: { name: 'Bash' } }] });
    expect(await spent(customer.user.id)).toBe(claudeCost + cost(SELL.mini, { input: 500, output: 20 }));
    await expectLedgerClean();
  });
});

describe('POST /v1/messages to OpenAI-compatible upstreams (translated both ways)', () => {
  it('messages.create on gpt-4o-mini: the request arrives as a chat completion, the answer as a message', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 8, cached_tokens: 10 }, text: 'Hello from OpenAI.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const { data, response } = await anthropic(customer.secret)
      .messages.create({
        model: 'gpt-4o-mini',
        max_tokens: 300,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        stop_sequences: ['END'],
        temperature: 0.5,
        metadata: { user_id: 'user-7' },
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello.' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] }],
      } as Anthropic.MessageCreateParamsNonStreaming)
      .withResponse();
    // OpenAI's prompt_tokens include its cache reads, billed at half: 20 × 0.165 + 10 × 0.0825 + 8 × 0.66 = 3.3 + 0.825 + 5.28 → 10.
    const expected = BigInt(Math.ceil((20 * 165_000 + 10 * 82_500 + 8 * 660_000) / 1e6));
    expect(expected).toBe(10n);
    expect(data).toMatchObject({ type: 'message', role: 'assistant', model: 'gpt-4o-mini', stop_reason: 'end_turn', stop_sequence: null });
    expect(data.id).toMatch(/^msg_/);
    expect(data.content).toEqual([{ type: 'text', text: 'Hello from OpenAI.'}]);
    expect(data.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 10, cache_creation_input_tokens: 0, output_tokens: 8 });
    expect(response.headers.get('x-tollgate-cost-usd')).toBe(usd(expected).toFixed(6));

    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe(`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`);
    expect(sent.body).toEqual({
      model: 'gpt-4o-mini',
      max_tokens: 300,
      stream: false,
      stop: ['END'],
      temperature: 0.5,
      user: 'user-7',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Say hello.' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      ],
    });
    expect(await spent(customer.user.id)).toBe(expected);
    expect((await usageRows(customer.keyId))[0]).toMatchObject({ status: 'SUCCESS', providerId: 'openai', promptTokens: 30, completionTokens: 8, cachedTokens: 10, cost: expected });
    await expectLedgerClean();
  });

  it('a tool-use round trip: tool_calls out as a tool_use block, the tool_result back in as a tool message', async () => {
    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}' }, usage: { prompt_tokens: 60, completion_tokens: 15 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = anthropic(customer.secret);
    const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
    const question: Anthropic.MessageParam = { role: 'user', content: 'Weather in Paris?' };
    const first = await client.messages.create({ model: 'gpt-4o-mini', max_tokens: 200, tools, tool_choice: { type: 'any', disable_parallel_tool_use: true }, messages: [question] });
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(/^call_fake/), name: 'get_weather', input: { city: 'Paris' }, caller: { type: 'direct' } }]);
    expect(fake.requests.at(-1)!.body).toMatchObject({
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: tools[0]!.input_schema } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    const toolUse = first.content[0] as Anthropic.ToolUseBlock;

    fake.setBehavior({ toolCall: undefined, text: 'It is sunny in Paris.', usage: { prompt_tokens: 90, completion_tokens: 7 } });
    const second = await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 200,
      tools,
      messages: [
        question,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: [{ type: 'text', text: '22°C, sunny' }] }, { type: 'text', text: 'Answer in one line.' }] },
      ],
    });
    expect(second.content).toEqual([{ type: 'text', text: 'It is sunny in Paris.'}]);
    expect(second.stop_reason).toBe('end_turn');
    expect((fake.requests.at(-1)!.body as { messages: unknown[] }).messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: toolUse.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: toolUse.id, content: '22°C, sunny' },
      { role: 'user', content: 'Answer in one line.' },
    ]);

    // And streamed: the tool call's arguments arrive as input_json_delta events.
    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: '{"city":"Lyon"}' }, usage: { prompt_tokens: 60, completion_tokens: 15 } });
    const stream = client.messages.stream({ model: 'gpt-4o-mini', max_tokens: 200, tools, messages: [{ role: 'user', content: 'Weather in Lyon?' }] });
    const deltas: string[] = [];
    stream.on('inputJson', (partial) => deltas.push(partial));
    const streamed = await stream.finalMessage();
    expect(deltas.join('')).toBe('{"city":"Lyon"}');
    expect(deltas.length).toBeGreaterThan(1);
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content).toMatchObject([{ type: 'tool_use', name: 'get_weather', input: { city: 'Lyon' } }]);

    const expected = cost(SELL.mini, { input: 60, output: 15 }) * 2n + cost(SELL.mini, { input: 90, output: 7 });
    expect(await spent(customer.user.id)).toBe(expected);
    expect(await usageRows(customer.keyId)).toHaveLength(3);
    await expectLedgerClean();
  });

  it('messages.stream on gpt-4o-mini: chunks become Anthropic’s events; the usage and cost come in message_delta', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 14, completion_tokens: 5 }, text: 'alpha beta gamma' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = anthropic(customer.secret).messages.stream({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Three words.' }] });
    const events: Array<{ type: string; [key: string]: unknown }> = [];
    stream.on('streamEvent', (event) => events.push(event as unknown as { type: string }));
    const final = await stream.finalMessage();
    const expected = cost(SELL.mini, { input: 14, output: 5 });
    expect(final.content).toEqual([{ type: 'text', text: 'alpha beta gamma'}]);
    expect(final.usage).toMatchObject({ input_tokens: 14, output_tokens: 5 });
    expect(final.stop_reason).toBe('end_turn');
    const sequence = [
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ];
    expect(events.map((e) => e.type)).toEqual(sequence.filter((type) => type !== 'ping'));
    expect(events.at(-2)).toMatchObject({ usage: { input_tokens: 14, output_tokens: 5, cost_usd: usd(expected) }, billing: { charged_usd: usd(expected) } });
    expect(fake.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 100 });
    expect(await spent(customer.user.id)).toBe(expected);
    expect((await usageRows(customer.keyId))[0]).toMatchObject({ status: 'SUCCESS', stream: true, promptTokens: 14, completionTokens: 5, cost: expected });
    expect(await wireEvents(customer.secret, { model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Again.' }] })).toEqual(sequence);
    expect(await spent(customer.user.id)).toBe(expected * 2n);
    await expectLedgerClean();
  });

  it('the built-in local model answers a message, billed at its own token counts', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const before = fake.requests.length;
    const message = await anthropic(customer.secret).messages.create({ model: 'tollgate-local', max_tokens: 200, messages: [{ role: 'user', content: 'What is Tollgate?' }] });
    const text = (message.content[0] as Anthropic.TextBlock).text;
    expect(text).toContain('You said: "What is Tollgate?"');
    expect(fake.requests.length).toBe(before);
    // The local model counts 3 to prime the reply, 3 per message and the o200k tokens of each text.
    const prompt = 3 + 3 + countTokens('What is Tollgate?');
    const completion = countTokens(text);
    expect(message.usage).toMatchObject({ input_tokens: prompt, output_tokens: completion });
    const expected = cost(SELL.local, { input: prompt, output: completion });
    expect(await spent(customer.user.id)).toBe(expected);
    expect((await usageRows(customer.keyId))[0]).toMatchObject({ status: 'SUCCESS', providerId: 'local', promptTokens: prompt, completionTokens: completion, cost: expected });
    await expectLedgerClean();
  });

  it('a dated snapshot name, as Claude Code sends it, is the catalog model it dates; an undated or other-format one is not', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const message = await anthropic(customer.secret).messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] });
    expect(message.model).toBe('claude-haiku-4-5');
    expect((fake.requests.at(-1)!.body as { model: string }).model).toBe('claude-haiku-4-5');
    expect((await usageRows(customer.keyId))[0]).toMatchObject({ status: 'SUCCESS', modelId: 'claude-haiku-4-5' });
    for (const model of ['claude-haiku-4-5-2025', 'claude-haiku-4-5-2025-10-01', 'claude-haiku-4-20251001']) {
      const refused = (await anthropic(customer.secret).messages.create({ model, max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
      expect(refused, model).toBeInstanceOf(Anthropic.NotFoundError);
    }
    await expectLedgerClean();
  });

  it('countTokens on a model without Anthropic’s endpoint is counted by Tollgate, free', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const before = fake.requests.length;
    const text = 'Count these words for me, please.';
    const counted = await anthropic(customer.secret).messages.countTokens({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });
    expect(fake.requests.length).toBe(before);
    // At least the text itself, plus a few tokens of message framing.
    expect(counted.input_tokens).toBeGreaterThanOrEqual(countTokens(text) + 3);
    expect(counted.input_tokens).toBeLessThanOrEqual(countTokens(text) + 12);
    expect(await spent(customer.user.id)).toBe(0n);
    expect(await usageRows(customer.keyId)).toEqual([]);
  });

  it('charges nothing when the translated stream dies midway', async () => {
    fake.setBehavior({ dieAfterChunks: 3, text: 'a b c d e f g h' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = anthropic(customer.secret).messages.stream({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Letters.' }] });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const error = await stream.finalMessage().catch((e: unknown) => e);
    expect(types).toContain('content_block_delta');
    expect(types).not.toContain('message_stop');
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'UPSTREAM_ERROR', cost: 0n }]);
    await expectLedgerClean();
  });

  it.each(['gpt-4o-mini', 'claude-haiku-4-5'])('a client that leaves mid-stream (%s) pays only for what was produced, never more than the hold', async (model) => {
    fake.setBehavior({ chunkDelayMs: 40, text: Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ') });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await anthropic(customer.secret).messages.create({ model, max_tokens: 1_000, stream: true, messages: [{ role: 'user', content: 'Talk.' }] }, { signal: controller.signal });
    let text = '';
    await (async () => {
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
        if (text.split(' ').length >= 4) controller.abort();
      }
    })().catch(() => undefined);
    const usage = await waitFor(() => t.db.usageRecord.findFirst({ where: { apiKeyId: customer.keyId } }));
    expect(usage.status).toBe('CLIENT_ABORTED');
    expect(usage.completionTokens).toBeGreaterThan(0);
    // word0 … word39 is 80 tokens in o200k: far fewer were produced.
    expect(usage.completionTokens).toBeLessThan(40);
    const price = model === 'gpt-4o-mini' ? SELL.mini : SELL.haiku;
    expect(usage.cost).toBe(cost(price, { input: usage.promptTokens, output: usage.completionTokens }));
    const hold = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(customer.user.id) } });
    expect(hold).toMatchObject({ status: 'SETTLED', settledAmount: usage.cost });
    expect(usage.cost).toBeLessThanOrEqual(hold.amount);
    expect(await spent(customer.user.id)).toBe(usage.cost);
    await expectLedgerClean();
  });
});

describe('errors in Anthropic’s shape, so that the SDK raises its own classes; nothing is charged', () => {
  it('AuthenticationError on a bad key, with the request id', async () => {
    const error = (await anthropic('tg_wrong').messages.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.error).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'Incorrect API key provided.' } });
    expect(error.requestID).toMatch(/^req_/);
    expect(fake.requests).toHaveLength(0);
  });

  it('Bearer auth (ANTHROPIC_AUTH_TOKEN, as Claude Code sends it) and x-api-key both work; ?beta=true is accepted', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 2 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const viaToken = await anthropic(customer.secret, { bearer: true }).beta.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], betas: ['fine-grained-tool-streaming-2025-05-14'] });
    expect(viaToken.content[0]).toMatchObject({ type: 'text' });
    expect(fake.requests.at(-1)!.headers['anthropic-beta']).toBe('fine-grained-tool-streaming-2025-05-14');
    const viaHeader = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': customer.secret, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 10, temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(viaHeader.status).toBe(200);
    expect(fake.requests.at(-1)!.headers['anthropic-version']).toBe('2023-06-01');
    expect(fake.requests.at(-1)!.body).toMatchObject({ temperature: 0.2 });
    expect(await spent(customer.user.id)).toBe(cost(SELL.haiku, { input: 10, output: 2 }) * 2n);
    await expectLedgerClean();
  });

  it.each([
    { name: 'an unknown field', body: { bogus_field: 1 }, param: 'bogus_field', message: /Unrecognized field 'bogus_field'/ },
    { name: 'an unknown field in a block', body: { messages: [{ role: 'user', content: [{ type: 'text', text: 'x', flavour: 'salty' }] }] }, message: /'flavour' in 'messages\[0\]\.content\[0\]'/ },
    { name: 'a documented field Tollgate cannot honour', body: { service_tier: 'auto' }, message: /'service_tier' is not supported by Tollgate/ },
    { name: 'a server tool', body: { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, message: /tools\[0\]\.type.*server tools are not offered/ },
    { name: 'a 1-hour cache write', body: { system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: '1h' } }] }, message: /system\[0\]\.cache_control\.ttl.*5-minute/ },
    { name: 'max_tokens missing', body: { max_tokens: undefined }, message: /'max_tokens'/ },
    { name: 'thinking on a model Anthropic does not serve', body: { model: 'gpt-4o-mini', thinking: { type: 'enabled', budget_tokens: 2_000 } }, message: /'thinking' is only supported on Anthropic models/ },
    { name: 'top_k on a model Anthropic does not serve', body: { model: 'gpt-4o-mini', top_k: 5 }, message: /'top_k' is only supported on Anthropic models/ },
    { name: 'the long-context beta', body: {}, headers: { 'anthropic-beta': 'context-1m-2025-08-07' }, message: /'context-1m-…' is not supported/ },
  ] as Array<{ name: string; body: Record<string, unknown>; message: RegExp; headers?: Record<string, string> }>)('BadRequestError for $name, naming it', async ({ body, message, headers }) => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const request = { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], ...body };
    const error = (await anthropic(customer.secret).messages.create(request as never, { headers }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(message) } });
    expect(error.requestID).toMatch(/^req_/);
    expect(fake.requests).toHaveLength(0);
    expect(await spent(customer.user.id)).toBe(0n);
  });

  it('402 billing_error when the balance cannot cover the hold; 404 not_found_error for an unknown model', async () => {
    const poor = await createCustomer(t.db, 1n);
    const broke = (await anthropic(poor.secret).messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(broke).toBeInstanceOf(Anthropic.APIError);
    expect(broke.status).toBe(402);
    expect(broke.error).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
    const missing = (await anthropic(poor.secret).messages.create({ model: 'claude-17', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
    expect(missing.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(await walletBalance(poor.user.id)).toEqual({ balance: 1n, available: 1n });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('what an Anthropic client must never see in another shape, or at all', () => {
  it('answers an unknown method or path under /v1/messages in Anthropic’s error shape', async () => {
    const wrongMethod = await fetch(`${gw.url}/v1/messages`, { method: 'GET' });
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const unknown = await fetch(`${gw.url}/v1/messages/batches`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    // Elsewhere under /v1, OpenAI's shape as before.
    expect(await (await fetch(`${gw.url}/v1/nothing-here`)).json()).toMatchObject({ error: { code: 'unknown_url' } });
  });

  it('an upstream out of credit (Anthropic says so in a 400) is the operator’s 502, its text kept from the caller, nothing charged', async () => {
    fake.setBehavior({ failStatus: 400, errorMessage: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const error = (await anthropic(customer.secret).messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error.status).toBe(502);
    expect(JSON.stringify(error.error)).not.toMatch(/credit balance|Plans & Billing/i);
    expect(await spent(customer.user.id)).toBe(0n);
    await expectLedgerClean();
  });

  it('count_tokens answers with Tollgate’s own count when Anthropic cannot count right now, and passes on a refusal of the request', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const params = { model: 'claude-haiku-4-5', messages: [{ role: 'user' as const, content: 'How many tokens is this?' }] };
    fake.setBehavior({ failStatus: 529 });
    const counted = await anthropic(customer.secret).messages.countTokens(params);
    // The local count, as for a model without Anthropic's endpoint: positive, and what a gpt-4o-mini count of the same says.
    const local = await anthropic(customer.secret).messages.countTokens({ ...params, model: 'gpt-4o-mini' });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(counted.input_tokens).toBe(local.input_tokens);
    fake.setBehavior({ failStatus: 400, errorMessage: 'messages: roles must alternate' });
    const refused = await anthropic(customer.secret).messages.countTokens(params).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect(await spent(customer.user.id)).toBe(0n);
  });

  it('a dated name is Anthropic’s snapshot only for a model Anthropic offers', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const refused = (await anthropic(customer.secret).messages.create({ model: 'gpt-4o-mini-20240718', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(refused).toBeInstanceOf(Anthropic.NotFoundError);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('the Web handlers the Next routes call (app/v1/messages/**)', () => {
  it('answer a message and a count as Web Responses, errors in Anthropic’s shape', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 8, completion_tokens: 3 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const post = (path: string, body: unknown, key = customer.secret) =>
      new Request(`${gw.url}${path}`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await gw.gateway.messages(post('/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }));
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ type: 'message', content: [{ type: 'text' }] });
    const counted = await gw.gateway.countTokens(post('/v1/messages/count_tokens', { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] }));
    expect(await counted.json()).toEqual({ input_tokens: 8 });
    const refused = await gw.gateway.countTokens(post('/v1/messages/count_tokens', { model: 'claude-haiku-4-5', messages: [] }, 'tg_nope'));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('request-id')).toMatch(/^req_/);
    expect(await refused.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'Incorrect API key provided.' } });
    expect(await spent(customer.user.id)).toBe(cost(SELL.haiku, { input: 8, output: 3 }));
    await expectLedgerClean();
  });
});

describe('GET /v1/models with anthropic-version', () => {
  it('answers Anthropic’s list shape, which the SDK pages through', async () => {
    const customer = await createCustomer(t.db, 0n, { models: ['claude-haiku-4-5', 'gpt-4o-mini'] });
    const models = [];
    for await (const model of anthropic(customer.secret).models.list()) models.push(model);
    expect(models.map((m) => m.id).sort()).toEqual(['claude-haiku-4-5', 'gpt-4o-mini']);
    expect(models.find((m) => m.id === 'claude-haiku-4-5')).toMatchObject({ type: 'model', display_name: 'Claude Haiku 4.5', created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    const openAIShape = (await (await fetch(`${gw.url}/v1/models`)).json()) as { object: string };
    expect(openAIShape.object).toBe('list');
  });
});

describe('the Vercel AI SDK’s Anthropic provider against the gateway', () => {
  it('generateText and streamText, billed exactly', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 21, completion_tokens: 6 }, text: 'Hello from the AI SDK.' });
    const customer = await createCustomer(t.db, 5n * ONE_DOLLAR);
    const provider = createAnthropic({ baseURL: `${gw.url}/v1`, apiKey: customer.secret });
    const generated = await generateText({ model: provider('claude-haiku-4-5'), prompt: 'Say hello.', maxOutputTokens: 200, maxRetries: 0 });
    expect(generated.text).toBe('Hello from the AI SDK.');
    expect(generated.usage).toMatchObject({ inputTokens: 21, outputTokens: 6 });
    const sent = fake.requests.at(-1)!;
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.body).toMatchObject({ model: 'claude-haiku-4-5', max_tokens: 200 });

    const streamed = streamText({ model: provider('claude-haiku-4-5'), prompt: 'Say hello again.', maxOutputTokens: 200, maxRetries: 0 });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    expect(text).toBe('Hello from the AI SDK.');
    expect(await streamed.usage).toMatchObject({ inputTokens: 21, outputTokens: 6 });

    expect(await spent(customer.user.id, 5n * ONE_DOLLAR)).toBe(cost(SELL.haiku, { input: 21, output: 6 }) * 2n);
    expect(await usageRows(customer.keyId)).toMatchObject([
      { status: 'SUCCESS', stream: false },
      { status: 'SUCCESS', stream: true },
    ]);
    await expectLedgerClean();
  });
});

describe('Claude streams: keep-alive pings and the bill of a client that leaves', () => {
  // A 150 ms idle timeout and a 600 ms silence after the third event: long enough to be a stall,
  // unless Claude's pings (every 50 ms here) say it is still working.
  const SILENCE = 'stall_ms=600,stall_after=3';
  const text = 'Thought about it for a while.';

  async function withImpatientGateway(run: (impatient: TestGateway) => Promise<void>) {
    const impatient = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url, { UPSTREAM_IDLE_TIMEOUT_MS: '150' }) });
    try {
      await run(impatient);
    } finally {
      await impatient.close();
    }
  }

  it('a silent Claude that pings is not a stall: /v1/messages completes, gets the pings, and is billed in full', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 9 }, text });
    await withImpatientGateway(async (impatient) => {
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const response = await fetch(`${impatient.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': customer.secret, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: `Think. [[fault:${SILENCE},ping_ms=50]]` }] }),
      });
      const wire = [...(await response.text()).matchAll(/^event: (.+)$/gm)].map((m) => m[1]!);
      expect(wire).not.toContain('error');
      expect(wire.at(-1)).toBe('message_stop');
      // The fake's own ping after content_block_start, and the ones during the silence, passed on.
      expect(wire.filter((name) => name === 'ping').length).toBeGreaterThanOrEqual(5);
      const expected = cost(SELL.haiku, { input: 30, output: 9 });
      expect(await spent(customer.user.id)).toBe(expected);
      expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'SUCCESS', stream: true, promptTokens: 30, completionTokens: 9, cost: expected }]);
      await expectLedgerClean();
    });
  });

  it('the same through /v1/chat/completions on Claude: completes and is billed in full', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 9 }, text });
    await withImpatientGateway(async (impatient) => {
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const stream = await impatient.client(customer.secret).chat.completions.create({ model: 'claude-haiku-4-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: `Think. [[fault:${SILENCE},ping_ms=50]]` }] });
      let received = '';
      for await (const chunk of stream) received += chunk.choices[0]?.delta.content ?? '';
      expect(received).toBe(text);
      const expected = cost(SELL.haiku, { input: 30, output: 9 });
      expect(await spent(customer.user.id)).toBe(expected);
      expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'SUCCESS', stream: true, cost: expected }]);
      await expectLedgerClean();
    });
  });

  it('a silent Claude that does not ping is still a stall: an error event, and nothing charged', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 9 }, text });
    await withImpatientGateway(async (impatient) => {
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const client = new Anthropic({ apiKey: customer.secret, baseURL: impatient.url, maxRetries: 0 });
      const stream = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: `Think. [[fault:${SILENCE}]]` }] });
      const error = await (async () => {
        for await (const event of stream) void event;
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect(String((error as Error).message)).toContain('sent nothing for 150 ms');
      expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
      expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'UPSTREAM_ERROR', cost: 0n }]);
      await expectLedgerClean();
    });
  });

  it('pings alone keep a stream open only so long: ten idle timeouts of nothing else is a stall, and nothing is charged', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 30, completion_tokens: 9 }, text });
    await withImpatientGateway(async (impatient) => {
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const client = new Anthropic({ apiKey: customer.secret, baseURL: impatient.url, maxRetries: 0 });
      const stream = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: 'Think. [[fault:stall_ms=3000,stall_after=3,ping_ms=50]]' }] });
      const error = await (async () => {
        for await (const event of stream) void event;
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect(String((error as Error).message)).toContain('sent only keep-alives for 1500 ms');
      expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
      expect(await usageRows(customer.keyId)).toMatchObject([{ status: 'UPSTREAM_ERROR', cost: 0n }]);
      await expectLedgerClean();
    });
  });

  // Claude Code's Esc with 150k tokens read from the cache: Anthropic bills them at 10%, and so must
  // the client's bill, from what message_start reported, not the planned count at the full price.
  const CACHED = { prompt_tokens: 20, completion_tokens: 500, cache_read_input_tokens: 150_000 };
  const longText = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');

  async function expectBilledAsReported(keyId: string, userId: string, receivedText: string) {
    const usage = await waitFor(() => t.db.usageRecord.findFirst({ where: { apiKeyId: keyId } }));
    expect(usage).toMatchObject({ status: 'CLIENT_ABORTED', promptTokens: 150_020, cachedTokens: 150_000 });
    // What the client saw was produced; the whole text (80 tokens) was not.
    expect(usage.completionTokens).toBeGreaterThanOrEqual(countTokens(receivedText));
    expect(usage.completionTokens).toBeLessThan(40);
    expect(usage.cost).toBe(cost(SELL.sonnet, { input: 20, cacheRead: 150_000, output: usage.completionTokens }));
    const hold = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(userId) } });
    expect(hold).toMatchObject({ status: 'SETTLED', settledAmount: usage.cost });
    expect(await spent(userId)).toBe(usage.cost);
    await expectLedgerClean();
  }

  it('a client that leaves a /v1/messages stream on Claude pays the prompt as message_start reported it, cache reads at 10%', async () => {
    fake.setBehavior({ chunkDelayMs: 40, usage: CACHED, text: longText });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await anthropic(customer.secret).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 4_000, stream: true, messages: [{ role: 'user', content: 'Talk.' }] }, { signal: controller.signal });
    let received = '';
    await (async () => {
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') received += event.delta.text;
        if (received.split(' ').length >= 4) controller.abort();
      }
    })().catch(() => undefined);
    await expectBilledAsReported(customer.keyId, customer.user.id, received);
  });

  it('the same for a /v1/chat/completions stream on Claude', async () => {
    fake.setBehavior({ chunkDelayMs: 40, usage: CACHED, text: longText });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await gw.client(customer.secret).chat.completions.create({ model: 'claude-sonnet-4-5', max_tokens: 4_000, stream: true, messages: [{ role: 'user', content: 'Talk.' }] }, { signal: controller.signal });
    let received = '';
    await (async () => {
      for await (const chunk of stream) {
        received += chunk.choices[0]?.delta.content ?? '';
        if (received.split(' ').length >= 4) controller.abort();
      }
    })().catch(() => undefined);
    await expectBilledAsReported(customer.keyId, customer.user.id, received);
  });

  it('the same for a /v1/responses stream on Claude (translated)', async () => {
    fake.setBehavior({ chunkDelayMs: 40, usage: CACHED, text: longText });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await gw.client(customer.secret).responses.create({ model: 'claude-sonnet-4-5', max_output_tokens: 4_000, stream: true, input: 'Talk.' }, { signal: controller.signal });
    let received = '';
    await (async () => {
      for await (const event of stream) {
        if (event.type === 'response.output_text.delta') received += event.delta;
        if (received.split(' ').length >= 4) controller.abort();
      }
    })().catch(() => undefined);
    await expectBilledAsReported(customer.keyId, customer.user.id, received);
  });
});
