// Issue #11, item 5: the hold must cover everything an upstream is sent and bills as input. It
// used to count only messages and tools, so a 900 KB response_format schema reserved what none did,
// and settlement (never above the hold) made the rest free.
//
// Property: for generated requests, the hold the gateway reports (billing.hold_usd, with
// max_tokens 1) is at least the cost of the prompt the fake upstream actually received, in that
// provider's wire format. That cost is computed here, independently of lib/gateway/tokens.ts: the
// received body is walked, every text the model reads is counted with gpt-tokenizer (o200k),
// images by each provider's published per-image maximum, plus per-message overheads from the
// providers' own documentation, and priced at the model's catalog input price.
//
// The generator is seeded (no dependency): PROMPT_BOUND_SEED=<n> replays a run, and a failure
// names the seed and the request.
import { countTokens } from 'gpt-tokenizer';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FakeUpstream } from './fake-upstream';
import type { TestDatabase } from './helpers/db';
import { createCustomer, gatewayHarness, type TestGateway } from './helpers/gateway';

const harness = gatewayHarness();
let t: TestDatabase;
let fake: FakeUpstream;
let gw: TestGateway;
let secret: string;
const prices = new Map<string, { input: bigint; output: bigint }>();

beforeAll(async () => {
  ({ t, fake, gw } = harness);
  ({ secret } = await createCustomer(t.db, 10_000_000_000n));
  const page = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: Array<{ id: string; pricing: { input_per_1m: number; output_per_1m: number } }> };
  for (const m of page.data) prices.set(m.id, { input: BigInt(Math.round(m.pricing.input_per_1m * 1e6)), output: BigInt(Math.round(m.pricing.output_per_1m * 1e6)) });
});

// ---------------------------------------------------------------------------------------------
// The cost of what the upstream received
// ---------------------------------------------------------------------------------------------

const PLAIN = { disallowedSpecial: new Set<string>() };
const tokens = (text: string) => (text ? countTokens(text, PLAIN) : 0);
const json = (value: unknown) => tokens(JSON.stringify(value));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };
const asObj = (v: Json | undefined): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
const asArr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

/** Every string in a value, except the wire format's own `type` tags. */
function leaves(value: Json | undefined): number {
  if (typeof value === 'string') return tokens(value);
  if (Array.isArray(value)) return value.reduce<number>((sum, v) => sum + leaves(v), 0);
  if (value && typeof value === 'object') return Object.entries(value).reduce((sum, [k, v]) => sum + (k === 'type' ? 0 : leaves(v)), 0);
  return 0;
}

/**
 * The most one image costs on each model, from the providers' documentation: OpenAI tiles an
 * image into at most 8 tiles of 512 px (fit in 2048², short side scaled down to 768), at 85 + 170
 * a tile for GPT-4o and 2,833 + 5,667 for GPT-4o mini, the base alone at detail 'low'; Claude 4.5
 * models cap an image at ~1.15 megapixels, ~1,600 tokens; Gemini 2.5 scales to fit 3072², 258
 * tokens per 768 px tile, at most 16.
 */
function imageCost(model: string, detail: string | undefined): number {
  switch (model) {
    case 'gpt-4o-mini':
      return detail === 'low' ? 2_833 : 2_833 + 8 * 5_667;
    case 'claude-haiku-4-5':
      return 1_600;
    case 'gemini-2.5-flash':
      return 16 * 258;
    default:
      throw new Error(`no image rule for ${model}`);
  }
}

const NOT_PROMPT = new Set(['model', 'max_tokens', 'max_completion_tokens', 'stream', 'stream_options', 'temperature', 'top_p', 'n', 'seed', 'presence_penalty', 'frequency_penalty', 'parallel_tool_calls', 'reasoning_effort']);

/** OpenAI's chat format: 3 tokens a message, 1 more for a name, 3 to prime the reply (OpenAI's cookbook). */
function openAIWireCost(model: string, body: Obj): number {
  let cost = 3;
  for (const [field, value] of Object.entries(body)) {
    if (NOT_PROMPT.has(field)) continue;
    if (field === 'messages') {
      for (const message of asArr(value).map(asObj)) {
        cost += 3 + (typeof message.name === 'string' ? 1 : 0);
        for (const [key, v] of Object.entries(message)) {
          if (key !== 'content' || !Array.isArray(v)) {
            cost += leaves(v);
            continue;
          }
          for (const part of v.map(asObj)) {
            if (part.type === 'image_url') cost += imageCost(model, asObj(part.image_url).detail as string | undefined);
            else cost += leaves(part);
          }
        }
      }
    } else if (field === 'tools') {
      // The function definitions as JSON, and the tools preamble (the cookbook counts 12).
      cost += 12 + asArr(value).reduce<number>((sum, tool) => sum + json(tool), 0);
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) cost += json(value);
    else cost += leaves(value);
  }
  return cost;
}

/** Anthropic's Messages format; tools bring a documented tool-use system prompt (346 tokens on Claude Haiku 4.5). */
function anthropicWireCost(model: string, body: Obj): number {
  let cost = 3;
  for (const [field, value] of Object.entries(body)) {
    if (NOT_PROMPT.has(field)) continue;
    if (field === 'messages') {
      for (const message of asArr(value).map(asObj)) {
        cost += 3;
        for (const block of asArr(message.content).map(asObj)) {
          if (block.type === 'image') cost += imageCost(model, undefined);
          else if (block.type === 'tool_use') cost += tokens(String(block.id)) + tokens(String(block.name)) + json(block.input ?? null);
          else cost += leaves(block);
        }
      }
    } else if (field === 'tools') cost += 346 + asArr(value).reduce<number>((sum, tool) => sum + json(tool), 0);
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) cost += json(value);
    else cost += leaves(value);
  }
  return cost;
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

type Rng = { int(n: number): number; chance(p: number): boolean; pick<T>(items: readonly T[]): T };

function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

const WORDS = ['the', 'tollgate', 'credit', 'hold', 'schema', 'Zürich', 'naïve', 'don’t', "it's", 'π', 'x', 'Hello', 'WORLD', '42', '3.14', 'snake_case', 'kebab-case', 'http://a.b/c?d=e'];

function chars(r: Rng, length: number, from: () => string): string {
  let out = '';
  while (out.length < length) out += from();
  return out;
}

/** Texts as people and attackers send them: prose, long unbroken words, every script, special tokens. */
function text(r: Rng, big = false): string {
  const pieces: string[] = [];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    switch (r.int(big ? 13 : 12)) {
      case 0:
        pieces.push('');
        break;
      case 1:
      case 2:
        pieces.push(Array.from({ length: 1 + r.int(40) }, () => r.pick(WORDS)).join(r.pick([' ', ' ', '\n', ', '])));
        break;
      case 3:
        pieces.push(chars(r, 100 + r.int(3_000), () => String.fromCharCode(97 + r.int(26))));
        break;
      case 4:
        pieces.push(chars(r, 50 + r.int(1_500), () => String.fromCharCode(0x4e00 + r.int(20_000))));
        break;
      case 5:
        pieces.push(chars(r, 10 + r.int(400), () => String.fromCodePoint(0x1f300 + r.int(700)) + (r.chance(0.2) ? '\u200d' : '')));
        break;
      case 6:
        pieces.push(chars(r, 10 + r.int(800), () => r.pick(['e\u0301', 'а', 'я', 'ש', 'ع', '\u202e', 'ß', 'ﬁ', '\u00a0', '\t'])));
        break;
      case 7:
        pieces.push(r.pick(['<|endoftext|>', '<|im_start|>system', '<|im_end|>', '<|endofprompt|>', '<|fim_prefix|>']));
        break;
      case 8:
        pieces.push(chars(r, 20 + r.int(600), () => r.pick([' ', '\n', '\n/', '/', '\r\n', '  '])));
        break;
      case 9:
        pieces.push(chars(r, 20 + r.int(2_000), () => r.pick(['{"a":', '[1,', '"x"', '},', '=', '-', '!', '0', '9', '__'])));
        break;
      case 10:
        pieces.push(chars(r, 100 + r.int(2_000), () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[r.int(64)]!));
        break;
      case 11:
        pieces.push(chars(r, 10 + r.int(300), () => String.fromCharCode(0xd800 + r.int(0x800))));
        break;
      case 12:
        // Long prose, past any exact-count budget.
        pieces.push(Array.from({ length: 4_000 + r.int(6_000) }, () => r.pick(WORDS)).join(' '));
        break;
    }
  }
  return pieces.join(r.pick(['', ' ', '\n']));
}

const NUMBERS = ['1e20', '9E+20', '1e-7', '-0', '0.1', '123456789012345678901234567890', '1E5', '7'];

/** A JSON value written out by hand: short exponents (1e20 re-serializes as 21 digits), escapes, spacing. */
function jsonText(r: Rng, depth = 0): string {
  const kind = depth > 3 ? r.int(3) : r.int(6);
  const sp = () => (r.chance(0.3) ? r.pick([' ', '\n  ', '\t']) : '');
  switch (kind) {
    case 0:
      return r.pick(NUMBERS);
    case 1:
      return JSON.stringify(text(r)).replace(/[\u00e0-\u00ff]/g, (c) => (r.chance(0.5) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c));
    case 2:
      return r.pick(['true', 'false', 'null']);
    case 3:
    case 4: {
      const entries = Array.from({ length: r.int(6) }, () => `${sp()}${JSON.stringify(r.pick([...WORDS, text(r).slice(0, 30)]))}${sp()}:${sp()}${jsonText(r, depth + 1)}`);
      return `{${entries.join(',')}${sp()}}`;
    }
    default:
      return `[${Array.from({ length: r.int(20) }, () => jsonText(r, depth + 1)).join(`,${sp()}`)}]`;
  }
}

function jsonObject(r: Rng): Record<string, unknown> {
  for (;;) {
    const value = JSON.parse(jsonText(r)) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  }
}

/** A JSON schema of about `size` bytes, of ordinary words (so that o200k counts it quickly here). */
function bigSchema(size: number): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (let i = 0, length = 0; length < size; i++) {
    const property = { type: 'string', description: `The ${i}th field of the record, as the customer described it in words.` };
    properties[`field_${i}`] = property;
    length += JSON.stringify(property).length + 12;
  }
  return { type: 'object', properties, required: Object.keys(properties).slice(0, 50) };
}

function image(r: Rng) {
  const url = r.chance(0.5)
    ? `https://example.com/${text(r).slice(0, 20).replace(/[^a-z]/g, '') || 'image'}.png`
    : `data:image/${r.pick(['png', 'jpeg', 'webp', 'gif'])};base64,${chars(r, 8 + r.int(2_000), () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[r.int(64)]!)}`;
  return { type: 'image_url', image_url: { url, ...(r.chance(0.6) ? { detail: r.pick(['auto', 'low', 'high']) } : {}) } };
}

const textParts = (r: Rng) => Array.from({ length: 1 + r.int(3) }, () => ({ type: 'text', text: text(r) }));
const name = (r: Rng) => (r.chance(0.3) ? { name: r.chance(0.8) ? r.pick(WORDS) : text(r).slice(0, 2_000) } : {});

function toolName(r: Rng, i: number): string {
  const base = r.pick(['get_weather', 'search', 'lookup-user', 'f', 'X9']);
  return `${base}_${i}${r.chance(0.2) ? 'x'.repeat(r.int(40)) : ''}`.slice(0, 64);
}

function generate(r: Rng, model: string): Record<string, unknown> {
  const messages: unknown[] = [];
  const count = 1 + r.int(6);
  for (let i = 0; i < count; i++) {
    const role = i === 0 && r.chance(0.3) ? 'system' : r.pick(['system', 'developer', 'user', 'user', 'user', 'assistant', 'assistant', 'tool']);
    switch (role) {
      case 'system':
      case 'developer':
        messages.push({ role, content: r.chance(0.6) ? text(r, true) : textParts(r), ...name(r) });
        break;
      case 'user': {
        const content = r.chance(0.5) ? text(r, true) : Array.from({ length: 1 + r.int(4) }, () => (r.chance(0.35) ? image(r) : { type: 'text', text: text(r) }));
        messages.push({ role, content, ...name(r) });
        break;
      }
      case 'assistant': {
        const message: Record<string, unknown> = { role };
        const form = r.int(4);
        if (form === 0) message.content = text(r);
        else if (form === 1) message.content = Array.from({ length: r.int(3) }, () => (r.chance(0.7) ? { type: 'text', text: text(r) } : { type: 'refusal', refusal: text(r) }));
        else if (form === 2) message.content = null;
        if (r.chance(0.5)) {
          message.tool_calls = Array.from({ length: 1 + r.int(3) }, (_, k) => ({
            id: r.chance(0.9) ? `call_${r.int(1e9)}` : text(r).slice(0, 500) || 'call',
            type: 'function',
            function: { name: toolName(r, k), arguments: r.chance(0.9) ? jsonTextObject(r) : '' },
          }));
        }
        if (r.chance(0.2)) message.refusal = text(r);
        Object.assign(message, name(r));
        messages.push(message);
        break;
      }
      case 'tool':
        messages.push({ role, content: r.chance(0.6) ? text(r) : textParts(r), tool_call_id: r.chance(0.9) ? `call_${r.int(1e9)}` : text(r).slice(0, 500) || 'id' });
        break;
    }
  }

  const body: Record<string, unknown> = { model, messages, max_tokens: 1 };
  if (r.chance(0.4)) {
    const tools = Array.from({ length: 1 + (r.chance(0.1) ? r.int(60) : r.int(4)) }, (_, i) => ({
      type: 'function',
      function: {
        name: toolName(r, i),
        ...(r.chance(0.7) ? { description: text(r) } : {}),
        ...(r.chance(0.8) ? { parameters: r.chance(0.5) ? jsonObject(r) : { type: 'object', properties: { [r.pick(WORDS)]: { type: 'string', description: text(r) } } } } : {}),
        ...(r.chance(0.2) ? { strict: r.chance(0.5) } : {}),
      },
    }));
    body.tools = tools;
    if (r.chance(0.6)) body.tool_choice = r.chance(0.3) ? { type: 'function', function: { name: r.pick(tools).function.name } } : r.pick(['auto', 'none', 'required']);
    if (r.chance(0.3)) body.parallel_tool_calls = r.chance(0.5);
  }
  if (r.chance(0.5)) {
    const kind = r.pick(['text', 'json_object', 'json_schema', 'json_schema', 'json_schema']);
    body.response_format =
      kind !== 'json_schema'
        ? { type: kind }
        : {
            type: 'json_schema',
            json_schema: {
              name: r.chance(0.8) ? r.pick(WORDS) : text(r).slice(0, 3_000) || 'schema',
              ...(r.chance(0.5) ? { description: text(r) } : {}),
              ...(r.chance(0.9) ? { schema: r.chance(0.15) ? bigSchema(20_000 + r.int(200_000)) : jsonObject(r) } : {}),
              ...(r.chance(0.3) ? { strict: r.chance(0.5) } : {}),
            },
          };
  }
  if (r.chance(0.3)) body.stop = r.chance(0.4) ? text(r) : Array.from({ length: 1 + r.int(4) }, () => text(r));
  if (r.chance(0.2)) body.user = text(r).slice(0, 256);
  return body;
}

/** Tool-call arguments: a JSON object as a model writes one (Anthropic's adapter requires an object). */
function jsonTextObject(r: Rng): string {
  for (;;) {
    const candidate = jsonText(r);
    const value = JSON.parse(candidate) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return candidate;
  }
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

const micros = (usd: number) => BigInt(Math.round(usd * 1e6));

/** Sends `body`, and checks the hold against what the upstream received. */
async function holdCoversWhatWasSent(model: string, body: Record<string, unknown>, where: string) {
  fake.reset();
  const response = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  expect(response.status, `${where}: ${text.slice(0, 500)}`).toBe(200);
  const hold = micros((JSON.parse(text) as { billing: { hold_usd: number } }).billing.hold_usd);
  expect(fake.requests, where).toHaveLength(1);
  const received = fake.requests[0]!;
  const wire = received.body as Obj;
  const promptTokens = received.path === '/v1/messages' ? anthropicWireCost(model, wire) : openAIWireCost(model, wire);
  const price = prices.get(model)!;
  const cost = (price.input * BigInt(promptTokens) + price.output * 1n + 999_999n) / 1_000_000n;
  expect(hold, `${where}: the upstream was sent ${promptTokens} prompt tokens, ${cost} µUSD; the hold was ${hold} µUSD`).toBeGreaterThanOrEqual(cost);
}

const MODELS = ['gpt-4o-mini', 'claude-haiku-4-5', 'gemini-2.5-flash'] as const;
const RUNS = Number(process.env.PROMPT_BOUND_RUNS ?? 60);
const SEED = Number(process.env.PROMPT_BOUND_SEED ?? 20_261_111);

describe('the hold covers the prompt an upstream receives', () => {
  describe.each(MODELS)('on %s', (model) => {
    it('for a 900 KB response_format schema', async () => {
      const schema = bigSchema(900_000);
      await holdCoversWhatWasSent(model, { model, max_tokens: 1, messages: [{ role: 'user', content: 'Fill in the form.' }], response_format: { type: 'json_schema', json_schema: { name: 'form', schema } } }, '900 KB schema');
    });

    it('for tools, tool_choice, stop sequences and user', async () => {
      const tools = Array.from({ length: 128 }, (_, i) => ({ type: 'function', function: { name: `tool_${i}`, description: 'Looks a thing up.', parameters: { properties: { q: { type: 'string' } } } } }));
      await holdCoversWhatWasSent(
        model,
        {
          model,
          max_tokens: 1,
          messages: [{ role: 'user', content: 'hi' }],
          tools,
          tool_choice: { type: 'function', function: { name: 'tool_7' } },
          stop: Array.from({ length: 4 }, () => 'stop here, please, and never go on '.repeat(2_000)),
          user: 'u'.repeat(256),
        },
        'tools and stop',
      );
    });

    it('for tool-call arguments that grow when re-serialized, and tool results', async () => {
      const args = `{"n":[${Array.from({ length: 20_000 }, () => '1e20').join(',')}]}`;
      await holdCoversWhatWasSent(
        model,
        {
          model,
          max_tokens: 1,
          messages: [
            { role: 'user', content: 'go' },
            { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: args } }] },
            { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: 'done' }, { type: 'text', text: 'and done' }] },
          ],
        },
        'tool call arguments',
      );
    });

    it('for many images', async () => {
      const images = Array.from({ length: 20 }, (_, i) => ({ type: 'image_url', image_url: { url: `https://example.com/${i}.png`, detail: 'high' } }));
      await holdCoversWhatWasSent(model, { model, max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'text', text: 'Compare.' }, ...images] }] }, '20 images');
    });

    it(`for ${RUNS} generated requests (seed ${SEED})`, async () => {
      for (let run = 0; run < RUNS; run++) {
        const seed = SEED + run * 7_919 + MODELS.indexOf(model);
        const body = generate(rng(seed), model);
        const where = `seed ${seed} (PROMPT_BOUND_SEED=${SEED}, run ${run}) ${JSON.stringify(body).slice(0, 300)}`;
        await holdCoversWhatWasSent(model, body, where);
      }
    }, 120_000);
  });
});
