import OpenAI from 'openai';
import { countTokens } from 'gpt-tokenizer';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seed } from '../lib/db/seed';
import { float32Base64 } from '../lib/gateway/embeddings';
import { auditLedger, walletAccountId } from '../lib/ledger';
import { toUpstreamEmbeddings } from '../lib/providers/openai-compatible';
import { fakeVector, type FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { PROVIDER_SECRETS, createCustomer, gatewayHarness, startTestGateway, upstreamEnv, type TestGateway } from './helpers/gateway';

// POST /v1/embeddings through the unmodified openai SDK, against the fake upstream and the
// built-in local model, with the ledger checked to the micro-dollar.

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
beforeAll(() => {
  ({ t, fake, gw } = harness);
});
beforeEach(() => fake.reset());

const ONE_DOLLAR = 1_000_000n;

// Sell prices in micro-USD per 1M input tokens: the list prices of lib/catalog/seed-data.ts plus
// the default 10% markup, worked out by hand.
const SELL_PER_1M = {
  'text-embedding-3-small': 22_000n, // $0.02 list
  'text-embedding-3-large': 143_000n, // $0.13 list
  'gemini-embedding-001': 165_000n, // $0.15 list
  'tollgate-embed-local': 11_000n, // $0.01 list
} as const;

/** One rounding, up, to the micro-USD. */
function inputCost(model: keyof typeof SELL_PER_1M, tokens: number): bigint {
  const scaled = BigInt(tokens) * SELL_PER_1M[model];
  return (scaled + 999_999n) / 1_000_000n;
}

async function walletBalance(userId: string) {
  return t.db.ledgerAccount.findUniqueOrThrow({ where: { id: walletAccountId(userId) }, select: { balance: true, available: true } });
}

async function expectLedgerClean() {
  expect((await auditLedger(t.db)).problems).toEqual([]);
}

type Extras = { usage: { prompt_tokens: number; total_tokens: number; cost: number }; billing: { charged_usd: number; balance_usd: number; hold_usd: number } };

/** What the SDK hands back after decoding base64: float32 values. */
const asFloat32 = (vector: number[]) => vector.map((x) => Math.fround(x));

const norm = (vector: number[]) => Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0) / (norm(a) * norm(b));

/** About a hundred words of English prose, different for each seed. */
function paragraph(seed: number): string {
  const words = ['ledger', 'gateway', 'token', 'credit', 'provider', 'settle', 'reserve', 'vector', 'search', 'index', 'model', 'budget', 'stream', 'answer', 'query', 'document'];
  const out: string[] = [];
  for (let i = 0; i < 100; i++) out.push(words[(seed * 7 + i * 3 + ((i * seed) % 5)) % words.length]!);
  return `${out.join(' ')}.`;
}

async function apiError(promise: Promise<unknown>) {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(OpenAI.APIError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

describe('POST /v1/embeddings: OpenAI upstream', () => {
  it('one string, with the SDK default (base64): the right floats come back, and the exact reported tokens are charged', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const input = `The quick brown fox jumps over the lazy dog. ${paragraph(0)} ${paragraph(1)} ${paragraph(2)}`;
    const { data, response } = await gw.client(customer.secret).embeddings.create({ model: 'text-embedding-3-small', input }).withResponse();

    // The SDK asked for base64 (its default) and decoded it; the upstream was asked for floats.
    const upstream = fake.requests.at(-1)!;
    expect(upstream.path).toBe('/v1/embeddings');
    expect(upstream.headers.authorization).toBe(`Bearer ${PROVIDER_SECRETS.OPENAI_API_KEY}`);
    expect(upstream.body).toEqual({ model: 'text-embedding-3-small', input: [input], encoding_format: 'float' });
    expect(JSON.stringify(upstream)).not.toContain(customer.secret);
    expect(data.object).toBe('list');
    expect(data.model).toBe('text-embedding-3-small');
    expect(data.data).toHaveLength(1);
    expect(data.data[0]!.index).toBe(0);
    expect(data.data[0]!.embedding).toEqual(asFloat32(fakeVector(JSON.stringify(input), 1536)));

    const tokens = countTokens(input);
    const expected = inputCost('text-embedding-3-small', tokens);
    expect(data.usage).toMatchObject({ prompt_tokens: tokens, total_tokens: tokens });
    const extras = data as unknown as Extras;
    expect(extras.usage.cost).toBe(Number(expected) / 1e6);
    expect(extras.billing.charged_usd).toBe(Number(expected) / 1e6);
    expect(extras.billing.balance_usd).toBe(Number(ONE_DOLLAR - expected) / 1e6);
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((Number(expected) / 1e6).toFixed(6));
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR - expected, available: ONE_DOLLAR - expected });
    await expectLedgerClean();
  });

  it('a batch, as floats: one vector per input in order, charged at the large model’s price for the tokens the upstream reported', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const input = Array.from({ length: 40 }, (_, i) => paragraph(i));
    const result = await gw.client(customer.secret).embeddings.create({ model: 'text-embedding-3-large', input, encoding_format: 'float' });
    expect(result.data.map((d) => d.index)).toEqual(input.map((_, i) => i));
    for (const [i, text] of input.entries()) expect(result.data[i]!.embedding).toEqual(fakeVector(JSON.stringify(text), 3072));

    const tokens = input.reduce((sum, text) => sum + countTokens(text), 0);
    expect(tokens).toBeGreaterThan(3_000);
    const expected = inputCost('text-embedding-3-large', tokens);
    expect(result.usage.prompt_tokens).toBe(tokens);
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(expected);
    const usage = await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } });
    expect(usage).toMatchObject({ status: 'SUCCESS', modelId: 'text-embedding-3-large', providerId: 'openai', promptTokens: tokens, completionTokens: 0, cost: expected, stream: false });
    await expectLedgerClean();
  });

  it('token-id input, as one array and as arrays of arrays, is forwarded as token ids and billed by its length', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const one = await client.embeddings.create({ model: 'text-embedding-3-small', input: [9906, 1917, 0] });
    expect(fake.requests.at(-1)!.body).toMatchObject({ input: [[9906, 1917, 0]] });
    expect(one.data).toHaveLength(1);
    expect(one.usage.prompt_tokens).toBe(3);
    const many = await client.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3, 4], [5, 6]] });
    expect(fake.requests.at(-1)!.body).toMatchObject({ input: [[1, 2, 3, 4], [5, 6]] });
    expect(many.data).toHaveLength(2);
    expect(many.usage.prompt_tokens).toBe(6);
    const expected = inputCost('text-embedding-3-small', 3) + inputCost('text-embedding-3-small', 6);
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(expected);
    await expectLedgerClean();
  });

  it('honours dimensions within the model’s range and refuses it outside', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'short', dimensions: 256 });
    expect(fake.requests.at(-1)!.body).toMatchObject({ dimensions: 256 });
    expect(result.data[0]!.embedding).toHaveLength(256);

    const before = fake.requestCount;
    for (const [model, dimensions] of [
      ['text-embedding-3-small', 1537],
      ['gemini-embedding-001', 64],
    ] as const) {
      const error = await apiError(client.embeddings.create({ model, input: 'x', dimensions }));
      expect(error.status).toBe(400);
      expect(error.param).toBe('dimensions');
      expect(error.message).toContain(model);
    }
    expect(fake.requestCount).toBe(before);
  });

  it('charges the counted tokens when the upstream reports no usage, and never more than the hold', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const quiet = `Embeddings without usage [[fault:no_usage]] ${paragraph(7)}`;
    const first = await client.embeddings.create({ model: 'gemini-embedding-001', input: quiet, encoding_format: 'float' });
    // Our own count: ASCII text this short is counted exactly (o200k).
    expect(first.usage.prompt_tokens).toBe(countTokens(quiet));
    const afterFirst = ONE_DOLLAR - inputCost('gemini-embedding-001', countTokens(quiet));
    expect((await walletBalance(customer.user.id)).balance).toBe(afterFirst);

    // The upstream claims ten million tokens for a few words: the hold is the most charged, i.e.
    // the counted tokens padded by 5/4 plus 16, at the input price.
    const greedy = `Embeddings with a huge usage [[fault:usage=10000000/0]] ${paragraph(8)}`;
    const second = (await client.embeddings.create({ model: 'gemini-embedding-001', input: greedy, encoding_format: 'float' })) as unknown as Extras;
    const hold = inputCost('gemini-embedding-001', Math.ceil((countTokens(greedy) * 5) / 4) + 16);
    expect(hold).toBeGreaterThan(inputCost('gemini-embedding-001', countTokens(greedy)));
    expect(second.billing.charged_usd).toBe(Number(hold) / 1e6);
    expect(second.billing.hold_usd).toBe(Number(hold) / 1e6);
    expect((await walletBalance(customer.user.id)).balance).toBe(afterFirst - hold);

    // A usage of 0 tokens for text that is never empty is a missing count, not a free call.
    const zero = `Embeddings with a zero usage [[fault:usage=0/0]] ${paragraph(3)}`;
    const third = await client.embeddings.create({ model: 'gemini-embedding-001', input: zero, encoding_format: 'float' });
    expect(third.usage.prompt_tokens).toBe(countTokens(zero));
    expect((await walletBalance(customer.user.id)).balance).toBe(afterFirst - hold - inputCost('gemini-embedding-001', countTokens(zero)));
    await expectLedgerClean();
  });
});

describe('POST /v1/embeddings: the built-in local model', () => {
  it('works offline: deterministic, unit length, 256 dimensions by default, dimensions honoured as a prefix, billed at its price', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const upstreamBefore = fake.requestCount;
    const input = ['the ledger settles every call', 'the ledger settles each call exactly', 'purple elephants dance at noon'];
    const first = await client.embeddings.create({ model: 'tollgate-embed-local', input, encoding_format: 'float' });
    const again = await client.embeddings.create({ model: 'tollgate-embed-local', input, encoding_format: 'float' });
    const encoded = await client.embeddings.create({ model: 'tollgate-embed-local', input });
    const short = await client.embeddings.create({ model: 'tollgate-embed-local', input, dimensions: 32, encoding_format: 'float' });
    expect(fake.requestCount).toBe(upstreamBefore);

    const vectors = first.data.map((d) => d.embedding);
    expect(again.data.map((d) => d.embedding)).toEqual(vectors);
    expect(encoded.data.map((d) => d.embedding)).toEqual(vectors.map(asFloat32));
    for (const vector of vectors) {
      expect(vector).toHaveLength(256);
      expect(norm(vector)).toBeCloseTo(1, 12);
    }
    // Texts that share words point closer together than unrelated ones (hashing, not meaning).
    expect(cosine(vectors[0]!, vectors[1]!)).toBeGreaterThan(cosine(vectors[0]!, vectors[2]!));
    expect(new Set(vectors.map((v) => v.join(','))).size).toBe(3);
    // `dimensions`: the first 32 values, scaled back to length 1.
    for (const [i, d] of short.data.entries()) {
      expect(d.embedding).toHaveLength(32);
      const prefix = vectors[i]!.slice(0, 32);
      const scale = norm(prefix);
      d.embedding.forEach((x, j) => expect(x).toBeCloseTo(prefix[j]! / scale, 12));
    }

    const tokens = input.reduce((sum, text) => sum + countTokens(text), 0);
    expect(first.usage.prompt_tokens).toBe(tokens);
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(4n * inputCost('tollgate-embed-local', tokens));
    await expectLedgerClean();
  });

  it('bills a large batch to the micro-dollar', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const input = Array.from({ length: 200 }, (_, i) => paragraph(i));
    const result = (await gw.client(customer.secret).embeddings.create({ model: 'tollgate-embed-local', input })) as unknown as Extras & { data: unknown[] };
    expect(result.data).toHaveLength(200);
    // Past the gateway's exact-count budget (16 KB a request) text is counted by its bytes, here ASCII: one token a byte.
    let budget = 16_384;
    let tokens = 0;
    for (const text of input) {
      if (text.length <= budget) {
        budget -= text.length;
        tokens += countTokens(text);
      } else tokens += text.length;
    }
    expect(result.usage.prompt_tokens).toBe(tokens);
    const expected = inputCost('tollgate-embed-local', tokens);
    expect(expected).toBeGreaterThan(100n);
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(expected);
    expect(await t.db.usageRecord.findFirstOrThrow({ where: { apiKeyId: customer.keyId } })).toMatchObject({ providerId: 'local', promptTokens: tokens, cost: expected });
    await expectLedgerClean();
  });
});

describe('POST /v1/embeddings: refusals', () => {
  it('refuses an unknown field, naming it, before anything is reserved or sent', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const before = fake.requestCount;
    const error = await apiError(gw.client(customer.secret).embeddings.create({ model: 'text-embedding-3-small', input: 'x', task_type: 'RETRIEVAL_QUERY' } as OpenAI.EmbeddingCreateParams));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.code).toBe('unknown_parameter');
    expect(error.param).toBe('task_type');
    expect(error.message).toContain("'task_type'");
    expect(fake.requestCount).toBe(before);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR);
  });

  it.each([
    ['more than 2048 inputs', { input: Array.from({ length: 2049 }, () => 'x') }, 'input', '2048'],
    ['an empty batch', { input: [] }, 'input', 'empty'],
    ['an empty string in a batch', { input: ['a', ''] }, 'input[1]', 'empty'],
    ['token ids over the per-input limit', { input: Array.from({ length: 8193 }, () => 1) }, 'input', '8192'],
    ['a text over the per-input limit', { model: 'gemini-embedding-001', input: ['fine', 'word '.repeat(2100)] }, 'input[1]', '2048'],
    ['a bad encoding_format', { encoding_format: 'int8' }, 'encoding_format', ''],
    ['an input of the wrong type', { input: [{ text: 'x' }] }, 'input', 'token ids'],
  ])('refuses %s with a 400 naming the field', async (_name, patch, param, words) => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const before = fake.requestCount;
    const body = { model: 'text-embedding-3-small', input: 'x', encoding_format: 'float', ...patch } as OpenAI.EmbeddingCreateParams;
    const error = await apiError(gw.client(customer.secret).embeddings.create(body));
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.message).toContain(words);
    expect(fake.requestCount).toBe(before);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR);
  });

  it('refuses a chat model on /v1/embeddings and an embedding model on /v1/chat/completions, naming the model; /v1/models says which is which', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const chat = await apiError(client.embeddings.create({ model: 'gpt-4o-mini', input: 'x' }));
    expect(chat.status).toBe(400);
    expect(chat.code).toBe('wrong_model_kind');
    expect(chat.param).toBe('model');
    expect(chat.message).toContain("'gpt-4o-mini' is a chat model");
    const embedding = await apiError(client.chat.completions.create({ model: 'text-embedding-3-small', messages: [{ role: 'user', content: 'hi' }] }));
    expect(embedding.status).toBe(400);
    expect(embedding.code).toBe('wrong_model_kind');
    expect(embedding.message).toContain("'text-embedding-3-small' is an embedding model");
    expect(fake.requests).toHaveLength(0);
    expect((await walletBalance(customer.user.id)).balance).toBe(ONE_DOLLAR);

    const models = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: Array<Record<string, unknown>> };
    expect(models.data.find((m) => m.id === 'text-embedding-3-small')).toMatchObject({
      kind: 'embedding',
      status: 'live',
      context_length: 8_192,
      max_output_tokens: null,
      dimensions: 1_536,
      min_dimensions: 1,
      pricing: { input_per_1m: 0.022, output_per_1m: null, currency: 'USD' },
    });
    expect(models.data.find((m) => m.id === 'tollgate-embed-local')).toMatchObject({ kind: 'embedding', dimensions: 256, pricing: { input_per_1m: 0.011, output_per_1m: null } });
    expect(models.data.find((m) => m.id === 'gemini-embedding-001')).toMatchObject({ kind: 'embedding', provider: 'google', context_length: 2_048, min_dimensions: 128 });
    expect(models.data.find((m) => m.id === 'gpt-4o-mini')).toMatchObject({ kind: 'chat', max_output_tokens: 16_384, pricing: { output_per_1m: 0.66 } });
    expect(models.data.find((m) => m.id === 'gpt-4o-mini')).not.toHaveProperty('dimensions');
  });

  it('refuses a key that may not use the model, a bad key, and a call it cannot pay for, with nothing charged', async () => {
    const limited = await createCustomer(t.db, ONE_DOLLAR, { models: ['tollgate-local'] });
    const forbidden = await apiError(gw.client(limited.secret).embeddings.create({ model: 'tollgate-embed-local', input: 'x' }));
    expect(forbidden.status).toBe(403);
    expect(forbidden.code).toBe('model_not_allowed');

    const bad = await apiError(gw.client('tg_not_a_real_key').embeddings.create({ model: 'tollgate-embed-local', input: 'x' }));
    expect(bad).toBeInstanceOf(OpenAI.AuthenticationError);

    const broke = await createCustomer(t.db, 0n);
    const poor = await apiError(gw.client(broke.secret).embeddings.create({ model: 'text-embedding-3-large', input: paragraph(1) }));
    expect(poor.status).toBe(402);
    expect(poor.message).toContain('its input tokens on text-embedding-3-large');
    expect(await t.db.usageRecord.count({ where: { apiKeyId: { in: [limited.keyId, broke.keyId] } } })).toBe(0);
    await expectLedgerClean();
  });

  it('asks for a key even where pay-per-request (x402) serves keyless chat calls', async () => {
    const paid = await startTestGateway({
      db: t.db,
      env: upstreamEnv(fake.url),
      payPerRequest: {
        authorize: () => Promise.reject(new Error('pay-per-request must not be consulted for embeddings')),
      },
    });
    try {
      const response = await fetch(`${paid.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tollgate-embed-local', input: 'x' }) });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { message: string } }).error.message).toContain('needs an API key');
    } finally {
      await paid.close();
    }
  });

  it('counts against the key’s daily request limit like any call', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR, { dailyRequestLimit: 1 });
    const client = gw.client(customer.secret);
    await client.embeddings.create({ model: 'tollgate-embed-local', input: 'one' });
    const error = await apiError(client.embeddings.create({ model: 'tollgate-embed-local', input: 'two' }));
    expect(error.status).toBe(429);
    expect(await t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(1);
  });
});

describe('POST /v1/embeddings: failures, failover, Idempotency-Key', () => {
  it('charges nothing when the upstream fails, whether told to or by a marker in the input', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    fake.setBehavior({ failStatus: 500 });
    const down = await apiError(client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }));
    expect(down).toBeInstanceOf(OpenAI.InternalServerError);
    expect(down.status).toBe(502);
    expect(down.code).toBe('upstream_error');
    for (const secret of Object.values(PROVIDER_SECRETS)) expect(JSON.stringify(down.error)).not.toContain(secret);
    fake.reset();
    const limited = await apiError(client.embeddings.create({ model: 'text-embedding-3-small', input: ['fine', 'busy [[fault:status=429]]'] }));
    expect(limited.status).toBe(502);
    expect(await walletBalance(customer.user.id)).toEqual({ balance: ONE_DOLLAR, available: ONE_DOLLAR });
    const rows = await t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId }, select: { status: true, cost: true } });
    expect(rows).toEqual([
      { status: 'UPSTREAM_ERROR', cost: 0n },
      { status: 'UPSTREAM_ERROR', cost: 0n },
    ]);
    await expectLedgerClean();
  });

  it('fails over to another offering on a 5xx before any answer, and charges once, at the provider that served', async () => {
    await t.db.modelOffering.create({
      data: { id: 'off_google_text-embedding-3-small', modelId: 'text-embedding-3-small', providerId: 'google', upstreamModel: 'text-embedding-3-small-alt', upstreamInputPer1M: 30_000n, upstreamOutputPer1M: 0n, sellInputPer1M: 33_000n, sellOutputPer1M: 0n },
    });
    try {
      fake.setBehavior({ failStatus: 503, failTimes: 1 });
      const customer = await createCustomer(t.db, ONE_DOLLAR);
      const input = paragraph(3);
      const result = await gw.client(customer.secret).embeddings.create({ model: 'text-embedding-3-small', input });
      expect(result.data[0]!.embedding).toEqual(asFloat32(fakeVector(JSON.stringify(input), 1536)));
      expect(fake.requests.map((r) => [r.path, (r.body as { model: string }).model])).toEqual([
        ['/v1/embeddings', 'text-embedding-3-small'],
        ['/v1beta/openai/embeddings', 'text-embedding-3-small-alt'],
      ]);
      // At Gemini's offering: $0.033 per 1M input tokens, by hand.
      const expected = (BigInt(countTokens(input)) * 33_000n + 999_999n) / 1_000_000n;
      expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(expected);
      expect(await t.db.usageRecord.findMany({ where: { apiKeyId: customer.keyId }, select: { providerId: true, status: true, cost: true } })).toEqual([{ providerId: 'google', status: 'SUCCESS', cost: expected }]);
      await expectLedgerClean();
    } finally {
      await t.db.modelOffering.delete({ where: { id: 'off_google_text-embedding-3-small' } });
    }
  });

  it('replays an Idempotency-Key without calling the upstream or charging twice', async () => {
    const customer = await createCustomer(t.db, ONE_DOLLAR);
    const client = gw.client(customer.secret);
    const body = { model: 'text-embedding-3-large', input: [paragraph(5), paragraph(6)] };
    const first = await client.embeddings.create(body, { headers: { 'Idempotency-Key': 'emb-1' } });
    const upstreamCalls = fake.requestCount;
    const second = await client.embeddings.create(body, { headers: { 'Idempotency-Key': 'emb-1' } });
    expect(fake.requestCount).toBe(upstreamCalls);
    expect(second).toEqual(first);
    const tokens = countTokens(paragraph(5)) + countTokens(paragraph(6));
    expect(ONE_DOLLAR - (await walletBalance(customer.user.id)).balance).toBe(inputCost('text-embedding-3-large', tokens));
    expect(await t.db.usageRecord.count({ where: { apiKeyId: customer.keyId } })).toBe(1);
    const conflict = await apiError(client.embeddings.create({ ...body, input: 'other' }, { headers: { 'Idempotency-Key': 'emb-1' } }));
    expect(conflict.status).toBe(409);
    await expectLedgerClean();
  });
});

describe('embeddings plumbing', () => {
  it('reads an upstream list in index order, base64 too, and calls anything but one vector of numbers per input malformed', () => {
    const usage = { prompt_tokens: 7, total_tokens: 7 };
    expect(toUpstreamEmbeddings({ data: [{ index: 1, embedding: [3, 4] }, { index: 0, embedding: [1, 2] }], usage }, 2)).toEqual({ vectors: [[1, 2], [3, 4]], promptTokens: 7 });
    expect(toUpstreamEmbeddings({ data: [{ index: 0, embedding: float32Base64([0.5, -2]) }] }, 1)).toEqual({ vectors: [[0.5, -2]], promptTokens: null });
    for (const body of [
      null,
      { error: { message: 'nope' } },
      { data: [{ index: 0, embedding: [1] }] },
      { data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [2] }] },
      { data: [{ index: 0, embedding: [1] }, { index: 2, embedding: [2] }] },
      { data: [{ index: 0, embedding: [1] }, { index: 1, embedding: ['2'] }] },
    ]) {
      expect(toUpstreamEmbeddings(body, 2)).toBeNull();
    }
  });

  it('seeds each model with its kind, again without change', async () => {
    await seed(t.db);
    const models = await t.db.model.findMany({ select: { id: true, kind: true, embeddingDimensions: true, embeddingMinDimensions: true, maxOutputTokens: true }, orderBy: { id: 'asc' } });
    const embedding = models.filter((m) => m.kind === 'embedding');
    expect(embedding).toEqual([
      { id: 'gemini-embedding-001', kind: 'embedding', embeddingDimensions: 3_072, embeddingMinDimensions: 128, maxOutputTokens: 0 },
      { id: 'text-embedding-3-large', kind: 'embedding', embeddingDimensions: 3_072, embeddingMinDimensions: 1, maxOutputTokens: 0 },
      { id: 'text-embedding-3-small', kind: 'embedding', embeddingDimensions: 1_536, embeddingMinDimensions: 1, maxOutputTokens: 0 },
      { id: 'tollgate-embed-local', kind: 'embedding', embeddingDimensions: 256, embeddingMinDimensions: 1, maxOutputTokens: 0 },
    ]);
    expect(models.filter((m) => m.kind === 'chat').map((m) => m.id)).toEqual(['claude-haiku-4-5', 'claude-sonnet-4-5', 'deepseek-chat', 'gemini-2.5-flash', 'gemini-2.5-pro', 'gpt-4o', 'gpt-4o-mini', 'o3-mini', 'tollgate-local']);
    expect(models.every((m) => m.kind === 'embedding' || (m.embeddingDimensions === null && m.maxOutputTokens > 0))).toBe(true);
    const offerings = await t.db.modelOffering.findMany({ where: { modelId: { in: embedding.map((m) => m.id) } }, select: { modelId: true, sellInputPer1M: true, sellOutputPer1M: true }, orderBy: { modelId: 'asc' } });
    expect(offerings).toEqual([
      { modelId: 'gemini-embedding-001', sellInputPer1M: 165_000n, sellOutputPer1M: 0n },
      { modelId: 'text-embedding-3-large', sellInputPer1M: 143_000n, sellOutputPer1M: 0n },
      { modelId: 'text-embedding-3-small', sellInputPer1M: 22_000n, sellOutputPer1M: 0n },
      { modelId: 'tollgate-embed-local', sellInputPer1M: 11_000n, sellOutputPer1M: 0n },
    ]);
  });
});
