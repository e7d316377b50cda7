import OpenAI from 'openai';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dailyLimitError } from '../lib/gateway/limits';
import { DailyQuotaRefused } from '../lib/ledger/holds';
import { countTokens } from 'gpt-tokenizer';
import { countText } from '../lib/gateway/tokens';
import { Ledger, SYSTEM_ACCOUNTS, auditLedger, walletAccountId } from '../lib/ledger';
import { usdToMicros } from '../lib/money';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { ADMIN_TOKEN, PROVIDER_SECRETS, createCustomer, startTestGateway, upstreamEnv, gatewayHarness, type TestGateway } from './helpers/gateway';

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const ONE_DOLLAR = 1_000_000n;

async function walletBalance(userId: string) {
  return t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) }, select: { balance: true, available: true } });
}

async function expectLedgerClean() {
  expect((await auditLedger(t.db)).problems).toEqual([]);
}

/** gpt-4o-mini sells at $0.165 / $0.66 per 1M (list price + 10%). */
function gpt4oMiniCost(prompt: number, completion: number) {
  return BigInt(Math.ceil((prompt * 165_000 + completion * 660_000) / 1_000_000));
}

function noSecretsIn(text: string) {
  for (const secret of [...Object.values(PROVIDER_SECRETS), ADMIN_TOKEN]) expect(text).not.toContain(secret);
}

describe('GET /v1/models', () => {
  it('lists the catalog in the OpenAI shape with status and prices, without a key', async () => {
    const page = (await (await fetch(`${gw.url}/v1/models`)).json()) as { object: string; data: Array<{ id: string }> };
    expect(page.object).toBe('list');
    const ids = page.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['claude-haiku-4-5', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'gemini-2.5-pro', 'gpt-4o-mini', 'gpt-4o', 'o3-mini', 'deepseek-chat', 'tollgate-local']));
    const mini = page.data.find((m) => m.id === 'gpt-4o-mini') as unknown as Record<string, unknown>;
    expect(mini).toMatchObject({
      object: 'model',
      owned_by: 'openai',
      provider: 'openai',
      status: 'live',
      context_length: 128_000,
      pricing: { input_per_1m: 0.165, output_per_1m: 0.66, list_input_per_1m: 0.15, list_output_per_1m: 0.6, markup_pct: 10, currency: 'USD' },
      input_price_per_1m_tokens: 0.165,
      output_price_per_1m_tokens: 0.66,
    });
  });

  it("shows each provider's list price beside ours, ours being the list price plus exactly the 10% markup", async () => {
    type Pricing = { input_per_1m: number; output_per_1m: number; list_input_per_1m: number; list_output_per_1m: number; markup_pct: number };
    const page = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: Array<{ id: string; pricing: Pricing }> };
    // The providers' public list prices per 1M tokens (input, output), as seeded; written out here, not read from the seed.
    const list: Record<string, [string, string]> = {
      'claude-haiku-4-5': ['1', '5'],
      'claude-sonnet-4-5': ['3', '15'],
      'gemini-2.5-flash': ['0.3', '2.5'],
      'gemini-2.5-pro': ['1.25', '10'],
      'gpt-4o-mini': ['0.15', '0.6'],
      'gpt-4o': ['2.5', '10'],
      'o3-mini': ['1.1', '4.4'],
      'deepseek-chat': ['0.28', '0.42'],
      'tollgate-local': ['0.1', '0.4'],
    };
    for (const [id, [input, output]] of Object.entries(list)) {
      const pricing = page.data.find((m) => m.id === id)?.pricing;
      expect(pricing, id).toMatchObject({ list_input_per_1m: Number(input), list_output_per_1m: Number(output), markup_pct: 10 });
      // Ours × 10 = list × 11 in integer micro-USD: exactly 10% more, no rounding hidden anywhere.
      expect(usdToMicros(pricing!.input_per_1m) * 10n, id).toBe(usdToMicros(input) * 11n);
      expect(usdToMicros(pricing!.output_per_1m) * 10n, id).toBe(usdToMicros(output) * 11n);
    }
  });

  it('with a key, lists only the models that key may use', async () => {
    const customer = await createCustomer(t.db, 0n, { models: ['tollgate-local', 'gpt-4o'] });
    const page = await gw.client(customer.secret).models.list();
    expect(page.data.map((m) => m.id).sort()).toEqual(['gpt-4o', 'tollgate-local']);
  });

  it('marks a provider without an API key unavailable, with the reason, and refuses calls to it with 503', async () => {
    const env = upstreamEnv(fake.url, { DEEPSEEK_API_KEY: '' });
    const other = await startTestGateway({ db: t.db, env });
    try {
      const response = await fetch(`${other.url}/v1/models`);
      const body = (await response.json()) as { data: Array<{ id: string; status: string; reason?: string }> };
      expect(body.data.find((m) => m.id === 'deepseek-chat')).toMatchObject({ status: 'unavailable', reason: 'DEEPSEEK_API_KEY is not set' });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const error = await other
        .client(customer.secret)
        .chat.completions.create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.InternalServerError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('model_unavailable');
      expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR);
    } finally {
      await other.close();
    }
  });
});

describe('POST /v1/chat/completions', () => {
  it('completes through the official client and charges exactly the settled cost', async () => {
    // Reported usage stays within what the gateway reserved (a tiny prompt, max_tokens 600).
    fake.setBehavior({ usage: { prompt_tokens: 20, completion_tokens: 500 }, text: 'Hello from OpenAI.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const { data, response } = await gw
      .client(customer.secret)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }], max_tokens: 600 })
      .withResponse();
    const expected = gpt4oMiniCost(20, 500);
    expect(data.choices[0]?.message.content).toBe('Hello from OpenAI.');
    expect(data.model).toBe('gpt-4o-mini');
    const extra = data as unknown as { usage: { cost: number }; billing: { charged_usd: number; balance_usd: number; hold_usd: number } };
    expect(extra.usage.cost).toBe(Number(expected) / 1e6);
    expect(extra.billing.charged_usd).toBe(Number(expected) / 1e6);
    expect(extra.billing.balance_usd).toBe(Number(ONE_DOLLAR - expected) / 1e6);
    expect(extra.billing.hold_usd).toBeGreaterThan(extra.billing.charged_usd);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((Number(expected) / 1e6).toFixed(6));

    // The upstream got our provider key and the upstream model name, never the Tollgate key.
    const upstream = fake.requests.at(-1)!;
    expect(upstream.headers.authorization).toBe(`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`);
    expect(upstream.body).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 600 });
    expect(JSON.stringify(upstream)).not.toContain(customer.secret);

    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR - expected, available: ONE_DOLLAR - expected });
    const usage = await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } });
    expect(usage).toMatchObject({ status: 'SUCCESS', modelId: 'gpt-4o-mini', providerId: 'openai', promptTokens: 20, completionTokens: 500, cost: expected, stream: false });
    await expectLedgerClean();
  });

  it("prices prompt-cache reads at the provider's discount: OpenAI at half the input price, Anthropic at a tenth", async () => {
    // gpt-4o-mini sells at $0.165 / $0.66 per 1M: 400 uncached × 0.165 + 600 cached × 0.0825 + 100 × 0.66
    // = 66 + 49.5 + 66 = 181.5 → 182 micro-USD (one rounding, up).
    fake.setBehavior({ usage: { prompt_tokens: 1_000, completion_tokens: 100, cached_tokens: 600 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const completion = await gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'cached' }], max_tokens: 1_000 });
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).toBe(600);
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(182n);
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } })).toMatchObject({ promptTokens: 1_000, cachedTokens: 600, cost: 182n });

    // claude-haiku-4-5 sells at $1.10 / $5.50 per 1M; Anthropic reports input_tokens beside the cache reads:
    // 500 × 1.10 + 3,000 cache reads × 0.11 + 100 × 5.50 = 550 + 330 + 550 = 1,430 micro-USD.
    fake.setBehavior({ usage: { prompt_tokens: 500, completion_tokens: 100, cache_read_input_tokens: 3_000 } });
    const claude = await createCustomer(t.db, ONE_DOLLAR);
    const answer = await gw.client(claude.secret).chat.completions.create({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'cached' }], max_tokens: 1_000 });
    expect(answer.usage).toMatchObject({ prompt_tokens: 3_500, completion_tokens: 100, prompt_tokens_details: { cached_tokens: 3_000 } });
    expect(ONE_DOLLAR - (await walletBalance(claude.user.id)).balance).toBe(1_430n);
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: claude.keyId } })).toMatchObject({ promptTokens: 3_500, cachedTokens: 3_000, cost: 1_430n });
    await expectLedgerClean();
  });

  it('never charges more than the hold, even when the upstream reports more than was reserved', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 50_000, completion_tokens: 10 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const completion = (await gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 })) as unknown as {
      billing: { charged_usd: number; hold_usd: number };
    };
    expect(completion.billing.charged_usd).toBe(completion.billing.hold_usd);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - BigInt(Math.round(completion.billing.hold_usd * 1e6)));
    await expectLedgerClean();
  });

  it('streams chunks through the official client; the final usage chunk carries the cost', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 40, completion_tokens: 9 }, text: 'one two three four five' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = await gw.client(customer.secret).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Count.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usageChunk: Record<string, unknown> | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunk = chunk as unknown as Record<string, unknown>;
    }
    const expected = gpt4oMiniCost(40, 9);
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe('one two three four five');
    expect(usageChunk).toMatchObject({ choices: [], usage: { prompt_tokens: 40, completion_tokens: 9, cost: Number(expected) / 1e6 }, billing: { charged_usd: Number(expected) / 1e6 } });
    expect((fake.requests.at(-1)!.body as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - expected);
    await expectLedgerClean();
  });

  it('when the upstream reports no usage, bills the counted tokens of what it streamed', async () => {
    const text = 'alpha beta gamma delta epsilon';
    fake.setBehavior({ omitUsage: true, text });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = await gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Five words.' }], stream: true, max_tokens: 50 });
    let received = '';
    for await (const chunk of stream) received += chunk.choices[0]?.delta.content ?? '';
    expect(received).toBe(text);
    const usage = await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } });
    // The completion is counted with the gateway's tokenizer; the prompt is the gateway's own count.
    expect(usage.completionTokens).toBe(countText(text));
    expect(usage.promptTokens).toBeGreaterThan(0);
    expect(usage.cost).toBe(gpt4oMiniCost(usage.promptTokens, usage.completionTokens));
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - usage.cost);
    await expectLedgerClean();
  });

  it('translates Anthropic both ways, streaming and not', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 200, completion_tokens: 20 }, text: 'Bonjour from Claude.' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const messages = [
      { role: 'system' as const, content: 'Answer in French.' },
      { role: 'user' as const, content: 'Hello' },
      { role: 'assistant' as const, content: 'Bonjour' },
      { role: 'user' as const, content: 'Again' },
    ];
    const completion = await client.chat.completions.create({ model: 'anthropic/claude-haiku-4-5', messages, max_tokens: 100, stop: ['END'] });
    expect(completion.choices[0]?.message.content).toBe('Bonjour from Claude.');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe(PROVIDER_SECRETS.ANTHROPIC_API_KEY);
    expect(sent.body).toMatchObject({ model: 'claude-haiku-4-5', system: 'Answer in French.', max_tokens: 100, stop_sequences: ['END'] });
    expect((sent.body as { messages: unknown[] }).messages).toHaveLength(3);

    const stream = await client.chat.completions.create({ model: 'claude-haiku-4-5', messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let cost = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) cost = (chunk.usage as unknown as { cost: number }).cost;
    }
    expect(text).toBe('Bonjour from Claude.');
    // claude-haiku-4-5 sells at $1.10 / $5.50 per 1M: 200 × 1.1 + 20 × 5.5 = 330 micro-USD.
    expect(cost).toBe(0.00033);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - 330n - 330n);
    await expectLedgerClean();
  });

  it('passes tool calls through', async () => {
    fake.setBehavior({ toolCall: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    for (const model of ['gpt-4o-mini', 'claude-sonnet-4-5']) {
      const completion = await gw.client(customer.secret).chat.completions.create({ model, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, tool_choice: 'auto', max_tokens: 50 });
      const call = completion.choices[0]?.message.tool_calls?.[0];
      expect(call && 'function' in call ? call.function : null).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
      expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    }
  });

  it('serves the built-in local model with no upstream at all', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const before = fake.requests.length;
    const client = gw.client(customer.secret);
    const first = await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'What is Tollgate?' }] });
    const second = await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'What is Tollgate?' }] });
    expect(first.choices[0]?.message.content).toBeTruthy();
    expect(second.choices[0]?.message.content).toBe(first.choices[0]?.message.content);
    expect(first.usage?.completion_tokens).toBeGreaterThan(0);
    expect(fake.requests.length).toBe(before);
    const spent = ONE_DOLLAR - (await walletBalance(customer.user.id)).balance;
    expect(spent).toBeGreaterThan(0n);
    await expectLedgerClean();
  });

  it('fails over to the next provider on a 5xx before the first byte, and charges once', async () => {
    await t.db.modelOffering.create({
      data: { id: 'off_deepseek_gpt-4o-mini', modelId: 'gpt-4o-mini', providerId: 'deepseek', upstreamModel: 'gpt-4o-mini-alt', upstreamInputPer1M: 200_000n, upstreamOutputPer1M: 800_000n, sellInputPer1M: 220_000n, sellOutputPer1M: 880_000n },
    });
    try {
      fake.setBehavior({ failStatus: 500, failTimes: 1, usage: { prompt_tokens: 10, completion_tokens: 10 } });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const completion = await gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });
      expect(completion.choices[0]?.message.content).toBeTruthy();
      expect(fake.requests.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o-mini', 'gpt-4o-mini-alt']);
      // Charged once, at the provider that served: 10 × 0.22 + 10 × 0.88 = 11 micro-USD.
      expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - 11n);
      expect(await t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId }, select: { providerId: true, status: true } })).toEqual([{ providerId: 'deepseek', status: 'SUCCESS' }]);

      // Streaming fails over the same way on a 429.
      fake.setBehavior({ failStatus: 429, failTimes: 1 });
      const stream = await gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, stream: true });
      let text = '';
      const models = new Set<string>();
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        models.add(chunk.model);
      }
      expect(text).toBeTruthy();
      // DeepSeek answered as gpt-4o-mini-alt (the fake echoes the model it was asked for): the client sees the model it asked for.
      expect(fake.requests.at(-1)?.body).toMatchObject({ model: 'gpt-4o-mini-alt' });
      expect([...models]).toEqual(['gpt-4o-mini']);
      await expectLedgerClean();
    } finally {
      await t.db.modelOffering.delete({ where: { id: 'off_deepseek_gpt-4o-mini' } });
    }
  });

  it('charges nothing when the upstream fails, and says so', async () => {
    fake.setBehavior({ failStatus: 500 });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const error = (await gw
      .client(customer.secret)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_error');
    noSecretsIn(JSON.stringify(error.error));
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } })).toMatchObject({ status: 'UPSTREAM_ERROR', cost: 0n });
    await expectLedgerClean();
  });

  it.each(['gpt-4o-mini', 'claude-haiku-4-5'])('charges nothing when the stream dies midway (%s: OpenAI and Anthropic wire formats)', async (model) => {
    fake.setBehavior({ dieAfterChunks: 3, text: 'a b c d e f g h i j' });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const stream = await gw.client(customer.secret).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let received = 0;
    const error = await (async () => {
      for await (const chunk of stream) received += chunk.choices.length;
    })().catch((e: unknown) => e);
    expect(received).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } })).toMatchObject({ status: 'UPSTREAM_ERROR', cost: 0n });
    await expectLedgerClean();
  });

  it('a stream that stalls past the idle timeout fails and is not charged', async () => {
    const impatient = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url, { UPSTREAM_IDLE_TIMEOUT_MS: '150' }) });
    try {
      fake.setBehavior({ chunkDelayMs: 600, text: 'slow words here' });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const stream = await impatient.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
      const error = await (async () => {
        for await (const chunk of stream) void chunk;
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect(String((error as Error).message)).toContain('sent nothing for 150 ms');
      expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
      expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } })).toMatchObject({ status: 'UPSTREAM_ERROR', cost: 0n });
      await expectLedgerClean();
    } finally {
      await impatient.close();
    }
  });

  it('when the client hangs up mid-stream, aborts the upstream and bills only what was produced', async () => {
    fake.setBehavior({ chunkDelayMs: 40, text: Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ') });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Talk.' }], stream: true, max_tokens: 1_000 }, { signal: controller.signal });
    let received = 0;
    await (async () => {
      for await (const chunk of stream) {
        received += chunk.choices.length;
        if (received >= 3) controller.abort();
      }
    })().catch(() => undefined);
    const usage = await waitFor(() => t.db.usageRecord.findFirst({ where: { apiKeyId: customer.keyId } }));
    expect(usage.status).toBe('CLIENT_ABORTED');
    expect(usage.completionTokens).toBeGreaterThan(0);
    expect(usage.completionTokens).toBeLessThan(40);
    const hold = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(customer.user.id) } });
    expect(hold.status).toBe('SETTLED');
    expect(hold.settledAmount).toBe(usage.cost);
    expect(usage.cost).toBeLessThanOrEqual(hold.amount);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - usage.cost);
    await expectLedgerClean();
  });

  it.each([
    { when: 'while a non-streaming call waits for the upstream', stream: false },
    { when: 'before the first byte of a stream', stream: true },
  ])('a client that hangs up $when is not charged, and the upstream call is cut', async ({ stream }) => {
    fake.setBehavior({ latencyMs: 400 });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const outcome = await gw
      .client(customer.secret)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, stream }, { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(OpenAI.APIUserAbortError);
    const usage = await waitFor(() => t.db.usageRecord.findFirst({ where: { apiKeyId: customer.keyId } }));
    expect(usage).toMatchObject({ status: 'CLIENT_ABORTED', cost: 0n });
    expect(fake.requests).toHaveLength(1);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect((await t.db.hold.findFirstOrThrow({ where: { quotaKeyId: customer.keyId } })).status).toBe('RELEASED');
    await expectLedgerClean();
  });

  it('a client that hangs up after the last word but before the usage chunk pays for the words it got, counted', async () => {
    // The fake sends each word, the finishing chunk, then usage: 150 ms apart.
    fake.setBehavior({ chunkDelayMs: 150, text: 'one two three', usage: { prompt_tokens: 9, completion_tokens: 3 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const controller = new AbortController();
    const stream = await gw
      .client(customer.secret)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count' }], max_tokens: 20, stream: true, stream_options: { include_usage: true } }, { signal: controller.signal });
    let text = '';
    await (async () => {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.choices[0]?.finish_reason) controller.abort();
      }
    })().catch(() => undefined);
    expect(text).toBe('one two three');
    const usage = await waitFor(() => t.db.usageRecord.findFirst({ where: { apiKeyId: customer.keyId } }));
    // Billed on what was produced, as counted here (gpt-4o-mini's tokenizer): the upstream's own count never arrived.
    const completion = countTokens(text);
    expect(usage).toMatchObject({ status: 'CLIENT_ABORTED', completionTokens: completion });
    expect(usage.cost).toBe(gpt4oMiniCost(usage.promptTokens, completion));
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(usage.cost);
    await expectLedgerClean();
  });

  it('a client that left before its reservation was made is not served nor charged', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const gone = new AbortController();
    gone.abort();
    const request = new Request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 }),
      signal: gone.signal,
    });
    const response = await gw.gateway.chatCompletions(request);
    expect(response.status).toBe(499);
    expect(fake.requests).toHaveLength(0);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } })).toMatchObject({ status: 'CLIENT_ABORTED', cost: 0n });
    await expectLedgerClean();
  });

  it('replays an Idempotency-Key with the same body and charges once; another body is a 409', async () => {
    fake.setBehavior({ usage: { prompt_tokens: 10, completion_tokens: 10 } });
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'once' }], max_tokens: 20 };
    const first = await client.chat.completions.create(body, { headers: { 'Idempotency-Key': 'abc-1' } });
    const second = await client.chat.completions.create(body, { headers: { 'Idempotency-Key': 'abc-1' } });
    expect(second.id).toBe(first.id);
    expect(fake.requests).toHaveLength(1);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR - gpt4oMiniCost(10, 10));
    const error = await client.chat.completions.create({ ...body, max_tokens: 21 }, { headers: { 'Idempotency-Key': 'abc-1' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.ConflictError);
  });

  it('100 parallel calls from a wallet that can afford 20 holds: exactly 20 served, never negative', async () => {
    // Every reservation is made long before the first settlement gives anything back.
    fake.setBehavior({ latencyMs: 1_000, usage: { prompt_tokens: 10, completion_tokens: 100 } });
    const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'go' }], max_tokens: 100 };
    // The hold for this request shape, as the ledger recorded it for one probe call; then fund exactly 20 of them.
    const probe = await createCustomer(t.db, ONE_DOLLAR);
    await gw.client(probe.secret).chat.completions.create(params);
    const { amount: hold } = await t.db.hold.findFirstOrThrow({ where: { debitAccountId: walletAccountId(probe.user.id) } });
    const customer = await createCustomer(t.db, hold * 20n);
    const client = gw.client(customer.secret);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => client.chat.completions.create(params)));
    const served = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as InstanceType<typeof OpenAI.APIError>).status === 402).length;
    expect(served).toBe(20);
    expect(served + refused).toBe(100);
    const wallet = await walletBalance(customer.user.id);
    expect(wallet.balance).toBeGreaterThanOrEqual(0n);
    expect(wallet.balance).toBe(hold * 20n - BigInt(served) * gpt4oMiniCost(10, 100));
    await expectLedgerClean();
  });
});

describe('errors map to the OpenAI SDK’s classes, and nothing is charged', () => {
  let customer: Awaited<ReturnType<typeof createCustomer>>;
  beforeAll(async () => {
    customer = await createCustomer(t.db, ONE_DOLLAR, { models: ['gpt-4o-mini', 'tollgate-local'] });
  });

  const cases: Array<{ name: string; status: number; code: string; errorClass: unknown; param?: string; run: () => Promise<unknown> }> = [
    { name: 'missing messages', status: 400, code: 'invalid_request', param: 'messages', errorClass: OpenAI.BadRequestError, run: () => gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini' } as never) },
    {
      name: 'a bad role',
      status: 400,
      code: 'invalid_request',
      param: 'messages[0].role',
      errorClass: OpenAI.BadRequestError,
      run: () => gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'x' }] } as never),
    },
    {
      name: 'max_tokens above the model cap',
      status: 400,
      code: 'invalid_request',
      param: 'max_tokens',
      errorClass: OpenAI.BadRequestError,
      run: () => gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 1_000_000 }),
    },
    { name: 'an unknown API key', status: 401, code: 'invalid_api_key', errorClass: OpenAI.AuthenticationError, run: () => gw.client('tg_nope').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }) },
    {
      name: 'a model the key may not use',
      status: 403,
      code: 'model_not_allowed',
      errorClass: OpenAI.PermissionDeniedError,
      run: () => gw.client(customer.secret).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    },
    {
      name: 'an unknown model',
      status: 404,
      code: 'model_not_found',
      param: 'model',
      errorClass: OpenAI.NotFoundError,
      run: () => gw.client(customer.secret).chat.completions.create({ model: 'gpt-17', messages: [{ role: 'user', content: 'x' }] }),
    },
  ];

  it.each(cases)('$name → $status $code', async ({ status, code, param, errorClass, run }) => {
    const before = await walletBalance(customer.user.id);
    const error = (await run().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(errorClass as typeof OpenAI.APIError);
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    if (param) expect(error.param).toBe(param);
    expect(error.message).not.toMatch(/at .*\.ts:\d+/);
    expect(await walletBalance(customer.user.id)).toEqual(before);
  });

  it('401 without a key, 400 on invalid JSON, 413 over 1 MB: all in the OpenAI shape', async () => {
    const post = (body: string, headers: Record<string, string> = { authorization: `Bearer ${customer.secret}` }) =>
      fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const missing = await post('{}', {});
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { code: 'missing_api_key', type: 'authentication_error', param: null } });
    const invalid = await post('{"model": ');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'invalid_json', type: 'invalid_request_error' } });
    const huge = await post(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('402 when the balance cannot cover the maximum cost, naming both amounts', async () => {
    const poor = await createCustomer(t.db, 10n);
    const error = (await gw
      .client(poor.secret)
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(402);
    expect(error.code).toBe('insufficient_credits');
    expect(error.message).toMatch(/may cost up to \$0\.\d+.*available balance is \$0\.00001/);
    expect(fake.requests).toHaveLength(0);
  });

  it('401 for a revoked key on its next request; 403 for a suspended account', async () => {
    const other = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(other.secret);
    await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'x' }] });
    await t.db.apiKey.update({ where: { id: other.keyId }, data: { revokedAt: new Date() } });
    const revoked = (await client.chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(revoked).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(revoked.code).toBe('api_key_revoked');

    const suspended = await createCustomer(t.db, ONE_DOLLAR);
    await t.db.user.update({ where: { id: suspended.user.id }, data: { suspended: true } });
    const error = (await gw.client(suspended.secret).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error.code).toBe('account_suspended');
  });

  it('daily request quota: 429 with Retry-After once used up; daily budget: 402', async () => {
    const limited = await createCustomer(t.db, ONE_DOLLAR, { dailyRequestLimit: 2 });
    const client = gw.client(limited.secret);
    const params = { model: 'tollgate-local', messages: [{ role: 'user' as const, content: 'x' }], max_tokens: 10 };
    const { response } = await client.chat.completions.create(params).withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests-day')).toBe('2');
    expect(response.headers.get('x-ratelimit-remaining-requests-day')).toBe('1');
    await client.chat.completions.create(params);
    const error = (await client.chat.completions.create(params).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe('daily_request_limit_reached');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);

    const budgeted = await createCustomer(t.db, ONE_DOLLAR, { dailyBudget: 1_000n });
    const refused = (await gw.client(budgeted.secret).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused.status).toBe(402);
    expect(refused.code).toBe('daily_budget_exhausted');
  });
});

describe('daily counters when the UTC day turns mid-request', () => {
  it('a reservation refused only because the day moved on is not blamed on a limit', async () => {
    const unlimited = await createCustomer(t.db, ONE_DOLLAR);
    const key = { keyId: unlimited.keyId, dailyRequestLimit: null, dailyBudget: null } as unknown as Parameters<typeof dailyLimitError>[1];
    // Another instance already rolled the key into the next day.
    await t.db.apiKey.update({ where: { id: unlimited.keyId }, data: { usageDay: '2999-01-01' } });
    const refused = await new Ledger(t.db)
      .reserve({ idempotencyKey: `late-${unlimited.keyId}`, sources: [unlimited.wallet.id], creditAccountId: SYSTEM_ACCOUNTS.revenue.id, amount: 100n, ttlMs: 60_000, quota: { keyId: unlimited.keyId, day: '2998-12-31' } })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DailyQuotaRefused);
    // Nothing was held.
    expect(await t.db.hold.count({ where: { idempotencyKey: `late-${unlimited.keyId}` } })).toBe(0);
    expect(await dailyLimitError(t.db, key, 100n)).toBeNull();

    const limited = await createCustomer(t.db, ONE_DOLLAR, { dailyRequestLimit: 1 });
    await t.db.apiKey.update({ where: { id: limited.keyId }, data: { requestsToday: 1, usageDay: new Date().toISOString().slice(0, 10) } });
    const limitedKey = { keyId: limited.keyId, dailyRequestLimit: 1, dailyBudget: null } as unknown as Parameters<typeof dailyLimitError>[1];
    expect((await dailyLimitError(t.db, limitedKey, 100n))?.code).toBe('daily_request_limit_reached');
  });
});

describe('GET /v1/key', () => {
  it('returns the key’s name, limits, today’s usage and the balance', async () => {
    const customer = await createCustomer(t.db, 2_500_000n, { dailyRequestLimit: 100, dailyBudget: 5_000_000n, name: 'ci bot' });
    await gw.client(customer.secret).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 });
    const response = await fetch(`${gw.url}/v1/key`, { headers: { authorization: `Bearer ${customer.secret}` } });
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ object: 'key', id: customer.keyId, name: 'ci bot', limits: { daily_requests: 100, daily_budget_usd: 5 }, usage_today: { requests: 1, remaining_requests: 99 } });
    expect(body.balance_usd).toBeLessThan(2.5);
  });
});

describe('admin API', () => {
  const admin = (path: string, body: unknown, method = 'POST', token = ADMIN_TOKEN) =>
    fetch(`${gw.url}/api/admin${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('creates a user, credits it, issues a key shown once, and audits each action', async () => {
    const created = await admin('/users', { email: `Buyer-${Date.now()}@Example.com` });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const credit = await admin(`/users/${id}/credit`, { amount_usd: '12.5', note: 'pilot' });
    expect(credit.status).toBe(201);
    expect(await credit.json()).toMatchObject({ balance_usd: 12.5 });
    const keyResponse = await admin(`/users/${id}/keys`, { name: 'agent', models: ['tollgate-local'], daily_requests: 50, daily_budget_usd: 2 });
    expect(keyResponse.status).toBe(201);
    const { key, id: keyId } = (await keyResponse.json()) as { key: string; id: string };
    expect(key).toMatch(/^tg_[0-9A-Za-z]{43}$/);
    const stored = await t.db.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    expect(JSON.stringify(stored, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(key.slice(3));
    const completion = await gw.client(key).chat.completions.create({ model: 'tollgate-local', messages: [{ role: 'user', content: 'hello' }] });
    expect(completion.choices[0]?.message.content).toBeTruthy();
    const actions = (await t.db.auditLog.findMany({ where: { OR: [{ targetId: id }, { targetId: keyId }] }, orderBy: { createdAt: 'asc' } })).map((a) => a.action);
    expect(actions).toEqual(['user.create', 'user.credit', 'key.create']);
    await expectLedgerClean();
  });

  it.each([
    ['/users', { email: 'not-an-email' }, 400, 'email'],
    ['/users/usr_missing/credit', { amount_usd: '1', note: 'x' }, 404, null],
    ['/users/usr_missing/credit', { amount_usd: '-1', note: 'x' }, 400, 'amount_usd'],
    ['/users/usr_missing/credit', { amount_usd: '0.0000001', note: 'x' }, 400, 'amount_usd'],
  ])('%s %j → %i', async (path, body, status, param) => {
    const response = await admin(path, body);
    expect(response.status).toBe(status);
    const json = (await response.json()) as { error: { param: string | null } };
    if (param) expect(json.error.param).toBe(param);
  });

  it('rejects a wrong token and disappears without ADMIN_TOKEN', async () => {
    expect((await admin('/users', { email: 'a@b.co' }, 'POST', 'wrong')).status).toBe(401);
    const bare = await startTestGateway({ db: t.db, env: upstreamEnv(fake.url, { ADMIN_TOKEN: '' }) });
    try {
      const response = await fetch(`${bare.url}/api/admin/users`, { method: 'POST', headers: { authorization: 'Bearer anything' }, body: '{}' });
      expect(response.status).toBe(404);
    } finally {
      await bare.close();
    }
  });

  it('disabling a provider makes its models unavailable with the reason (503), and audits it', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const disabled = await admin('/providers/google', { status: 'disabled', reason: 'quota exceeded upstream' }, 'PATCH');
    expect(disabled.status).toBe(200);
    try {
      const models = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: Array<{ id: string; status: string; reason?: string }> };
      expect(models.data.find((m) => m.id === 'gemini-2.5-flash')).toMatchObject({ status: 'unavailable', reason: 'quota exceeded upstream' });
      const error = (await gw.client(customer.secret).chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error.status).toBe(503);
      expect(error.message).toContain('quota exceeded upstream');
      expect(await t.db.auditLog.count({ where: { action: 'provider.update', targetId: 'google' } })).toBe(1);
    } finally {
      await admin('/providers/google', { status: 'live' }, 'PATCH');
    }
  });
});

async function waitFor<T>(read: () => Promise<T | null>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
