// Issue #11, item 1: counting the prompt before the key or payment is checked must cost linear,
// bounded time. gpt-tokenizer's byte-pair merge is quadratic in one unbroken word (100 KB took
// 4.8 s, 900 KB froze the server for minutes), and the local model tokenized the prompt again.
// Each check runs on a smaller word first: against quadratic code that round fails within seconds,
// instead of blocking the worker for many minutes on the 1 MB round.
import { countTokens } from 'gpt-tokenizer';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog, CatalogModel } from '../lib/catalog/catalog';
import { SEED_MODELS } from '../lib/catalog/seed-data';
import { planRoute } from '../lib/gateway/routing';
import type { ChatCompletionRequest } from '../lib/gateway/schema';
import { countText, estimateOutputTokens, promptTokensUpperBound } from '../lib/gateway/tokens';
import { countPromptTokens as localPromptTokens, createLocalProvider } from '../lib/providers/local';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createCustomer, upstreamEnv } from './helpers/gateway';
import { startX402Gateway, type X402Gateway } from './helpers/x402';

const PLAIN = { disallowedSpecial: new Set<string>() };

function random(seed: number) {
  let state = seed >>> 0 || 1;
  return (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

/**
 * One unbroken word of about `length` UTF-16 code units, of one kind of character. Each seed gives
 * a different word (a few units longer for the uniform kinds), so that no test is sped up by the
 * tokenizer's cache of words it has already merged.
 */
function word(kind: 'a' | 'letters' | 'cjk' | 'punctuation' | 'newline-slash' | 'spaces' | 'emoji', length: number, seed: number): string {
  const next = random(seed);
  const chars: string[] = [];
  for (let i = 0; i < length + (seed % 1_000); ) {
    let c: string;
    switch (kind) {
      case 'a':
        c = 'a';
        break;
      case 'letters':
        c = String.fromCharCode(97 + next(26));
        break;
      case 'cjk':
        c = String.fromCharCode(0x4e00 + next(20_000));
        break;
      case 'punctuation':
        c = '!#$%&()*+,-.:;<=>?@[]^_{|}~'[next(26)]!;
        break;
      case 'newline-slash':
        c = i % 2 ? '/' : '\n';
        break;
      case 'spaces':
        c = ' ';
        break;
      case 'emoji':
        c = String.fromCodePoint(0x1f300 + next(700));
        break;
    }
    chars.push(c);
    i += c.length;
  }
  // As a request body delivers it: parsed from JSON, one flat string.
  return JSON.parse(JSON.stringify(chars.join(''))) as string;
}

const KINDS = ['a', 'letters', 'cjk', 'punctuation', 'newline-slash', 'spaces', 'emoji'] as const;
/** UTF-16 code units; quadratic counting takes ~0.2 s on 20,000 (and ~440 s on 900,000). */
const ROUNDS = [20_000, 1_000_000] as const;
const LIMIT_MS = { 20_000: 50, 1_000_000: 500 } as const;

function timed<T>(run: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = run();
  return { value, ms: performance.now() - started };
}

function catalog(): Catalog {
  const models: CatalogModel[] = SEED_MODELS.map((m) => ({
    id: m.id,
    name: m.name,
    ownedBy: m.ownedBy,
    contextLength: m.contextLength,
    maxOutputTokens: m.maxOutputTokens,
    offerings: [
      {
        id: `off_${m.id}`,
        modelId: m.id,
        providerId: m.providerId,
        upstreamModel: m.upstreamModel,
        listInputPer1M: m.inputPer1M,
        listOutputPer1M: m.outputPer1M,
        sellInputPer1M: (m.inputPer1M * 11n) / 10n,
        sellOutputPer1M: (m.outputPer1M * 11n) / 10n,
        status: 'live',
        reason: null,
      },
    ],
    status: 'live',
    reason: null,
    createdAt: new Date(0),
  }));
  return { models, byId: new Map(models.map((m) => [m.id, m])), providers: [] };
}

const userPrompt = (model: string, content: string): ChatCompletionRequest => ({ model, messages: [{ role: 'user', content }], max_tokens: 16 });

describe('counting a prompt', () => {
  countText('warm up the tokenizer');

  it.each(KINDS)('bounds one unbroken word of %s in linear time, up to 1 MB, and so does planRoute', (kind) => {
    for (const size of ROUNDS) {
      const text = word(kind, size, 1);
      const counted = timed(() => countText(text));
      expect(counted.ms, `countText on ${size} characters of ${kind}`).toBeLessThan(LIMIT_MS[size]);
      // At least one token per UTF-8 byte of the word, which no tokenizer exceeds.
      expect(counted.value).toBeGreaterThanOrEqual(Buffer.byteLength(text));
      const planned = timed(() => planRoute(catalog(), { allowedModels: null }, userPrompt('claude-sonnet-4-5', text)));
      expect(planned.ms, `planRoute on ${size} characters of ${kind}`).toBeLessThan(LIMIT_MS[size]);
      expect(planned.value.countedPromptTokens).toBeGreaterThanOrEqual(Buffer.byteLength(text));
    }
  });

  it.each(KINDS)('never counts fewer tokens than o200k does (an unbroken word of %s)', (kind) => {
    for (const size of [300, 3_000, 12_000]) {
      const text = word(kind, size, size);
      const exact = countTokens(text, PLAIN);
      expect(countText(text), `${size} characters`).toBeGreaterThanOrEqual(exact);
      expect(planRoute(catalog(), { allowedModels: null }, userPrompt('gpt-4o-mini', text)).countedPromptTokens).toBeGreaterThanOrEqual(exact + 7);
    }
  });

  it('still counts ordinary prose exactly, and past its budget bounds the rest by bytes', () => {
    const prose = 'The quick brown fox jumps over the lazy dog, twice; then it rests. ';
    expect(countText(prose)).toBe(countTokens(prose));
    const long = prose.repeat(2_000); // 134 KB: over the exact-count budget
    const { value: tokens, ms } = timed(() => countText(long));
    expect(ms).toBeLessThan(100);
    expect(tokens).toBeGreaterThanOrEqual(countTokens(long));
    expect(tokens).toBeLessThanOrEqual(Buffer.byteLength(long));
  });

  it('counts special-token text as plain text instead of throwing', () => {
    const text = 'ignore this: <|endoftext|><|im_start|>system';
    expect(countText(text)).toBe(countTokens(text, PLAIN));
    expect(() => planRoute(catalog(), { allowedModels: null }, userPrompt('gpt-4o', text))).not.toThrow();
  });

  it('pads the bound: 5/4 plus a floor', () => {
    expect(promptTokensUpperBound(0)).toBe(16);
    expect(promptTokensUpperBound(1_000)).toBe(1_266);
  });
});

describe('the local model', () => {
  const local = createLocalProvider({ tokenDelayMs: 0 });

  it.each(KINDS)('answers one unbroken word of %s in linear time, up to 1 MB, quoting a bounded part of it', async (kind) => {
    for (const size of ROUNDS) {
      const text = word(kind, size, 2);
      const request = { model: 'tollgate-local', max_tokens: 1_024, messages: [{ role: 'user' as const, content: text }] };
      const started = performance.now();
      const { completion, usage } = await local.complete(request, { signal: new AbortController().signal });
      const ms = performance.now() - started;
      expect(ms, `local model on ${size} characters of ${kind}`).toBeLessThan(LIMIT_MS[size]);
      expect(completion.choices[0]!.message.content!.length).toBeLessThan(1_000);
      // Its usage stays within what the gateway held for the same prompt.
      expect(usage!.prompt_tokens).toBeLessThanOrEqual(planRoute(catalog(), { allowedModels: null }, userPrompt('tollgate-local', text)).countedPromptTokens);
      expect(localPromptTokens(request.messages)).toBe(usage!.prompt_tokens);
    }
  });
});

describe('the gateway under one-word 1 MB bodies', () => {
  const PAY_TO = '0x1111111111111111111111111111111111111111';
  let t: TestDatabase;
  let fake: FakeUpstream;
  let gw: X402Gateway;
  let secret: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    fake = await startFakeUpstream();
    // Keyless calls are challenged for payment (x402, settlement off): the prompt is counted first.
    gw = await startX402Gateway({ db: t.db, env: upstreamEnv(fake.url, { X402_PAY_TO: PAY_TO }) });
    ({ secret } = await createCustomer(t.db, 100_000_000n));
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await t?.close();
  });

  /** node:http rather than fetch: the client shares the test's event loop, and should cost it little. */
  function send(method: 'GET' | 'POST', path: string, body?: string, key?: string | null): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = key ? { authorization: `Bearer ${key}` } : {};
      if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      const req = request(`${gw.url}${path}`, { method, headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  type Call = { model: string; kind: Parameters<typeof word>[0]; key: string | null; status: number };

  /** The calls at once, with /health probed all along: how long each took. */
  async function round(calls: readonly Call[], content: (call: Call, i: number) => string) {
    const bodies = calls.map((call, i) => JSON.stringify(userPrompt(call.model, content(call, i))));
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1_048_576);
    const health: number[] = [];
    let running = true;
    const probing = (async () => {
      while (running) {
        const check = await send('GET', '/health');
        expect(check.status).toBe(200);
        health.push(check.ms);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const answers = await Promise.all(bodies.map((body, i) => send('POST', '/v1/chat/completions', body, calls[i]!.key)));
    running = false;
    await probing;
    return {
      calls: Math.max(...answers.map((a) => a.ms)),
      health: Math.max(...health),
      statuses: answers.map((a) => a.status),
      detail: { calls: answers.map((a) => Math.round(a.ms)), health: health.map(Math.round) },
    };
  }

  it('answers each call within a second, authenticated or keyless, and /health as fast as beside ordinary prose (+100 ms at most)', async () => {
    const calls: Call[] = [
      { model: 'tollgate-local', kind: 'letters', key: secret, status: 200 },
      { model: 'claude-haiku-4-5', kind: 'cjk', key: secret, status: 200 },
      { model: 'gpt-4o-mini', kind: 'a', key: null, status: 402 },
      { model: 'tollgate-local', kind: 'emoji', key: null, status: 402 },
    ];
    // Warm every path first: the first call through code costs its compilation.
    for (const call of calls) expect((await send('POST', '/v1/chat/completions', JSON.stringify(userPrompt(call.model, 'hello')), call.key)).status).toBe(call.status);

    // 100 KB first: quadratic counting takes seconds a call there (and minutes at 1 MB).
    for (const size of [100_000, 1_000_000]) {
      // The same number of bytes as ordinary prose first: what moving and parsing such a body costs
      // this (shared, possibly busy) machine anyway. One unbroken word may add little to that: each
      // call is answered within a second, and /health within 100 ms (or within 100 ms of how fast
      // it answered beside the prose, when the machine is too busy for 100 ms even then).
      const charsOf = (call: Call) => Math.floor((size === 1_000_000 ? 1_040_000 : size) / (call.kind === 'cjk' || call.kind === 'emoji' ? 3 : 1));
      const prose = (call: Call) => 'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(charsOf(call) / 45)).slice(0, charsOf(call) * (call.kind === 'cjk' || call.kind === 'emoji' ? 3 : 1));
      // Three tries at most, so that a burst of load from elsewhere does not fail the test; quadratic
      // counting fails every one (and takes seconds a call, so it stops at the first).
      const tries: unknown[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        const baseline = await round(calls, prose);
        const oneWord = await round(calls, (call, i) => word(call.kind, charsOf(call), 100 + 10 * attempt + i));
        tries.push({ baseline: baseline.detail, oneWord: oneWord.detail });
        expect(oneWord.calls, `one-word calls of ${size} bytes: ${JSON.stringify(tries)}`).toBeLessThan(3_000);
        const expected = calls.map((call) => call.status);
        expect(baseline.statuses).toEqual(expected);
        expect(oneWord.statuses).toEqual(expected);
        if (oneWord.calls < Math.min(1_000, baseline.calls + 500) && oneWord.health < Math.max(100, baseline.health + 100)) break;
        expect(attempt, `${size} bytes: ${JSON.stringify(tries)}`).toBeLessThan(2);
      }
      console.info(`${size}-byte bodies, ms (ordinary prose, then one word):`, JSON.stringify(tries));
    }
  }, 60_000);
});

describe('billing output an upstream did not count (estimateOutputTokens)', () => {
  it('is the o200k count of short ASCII text, near it for long or non-ASCII text (not its bytes, the hold’s bound), and linear in time', () => {
    const short = 'The answer is forty-two, as everybody knows.';
    expect(estimateOutputTokens(short)).toBe(countTokens(short));
    // 27 KB of English: a byte bound would bill ~4.5 times the tokens.
    const english = 'The quick brown fox jumps over the lazy dog. '.repeat(600);
    const exactEnglish = countTokens(english);
    expect(Math.abs(estimateOutputTokens(english) - exactEnglish)).toBeLessThanOrEqual(Math.ceil(exactEnglish * 0.01));
    expect(countText(english)).toBeGreaterThan(4 * exactEnglish);
    // Chinese, past the sample: within 10% of the exact count, where bytes are three times it.
    const chinese = '我们今天讨论一下这个问题的解决方案。'.repeat(600);
    const exactChinese = countTokens(chinese);
    expect(Math.abs(estimateOutputTokens(chinese) - exactChinese)).toBeLessThanOrEqual(Math.ceil(exactChinese * 0.1));
    // One unbroken 200 KB run (quadratic for the tokenizer as one piece): fast, and below its bytes.
    const run = 'a'.repeat(200_000);
    const started = performance.now();
    const estimate = estimateOutputTokens(run);
    expect(performance.now() - started).toBeLessThan(500);
    expect(estimate).toBeGreaterThan(0);
    expect(estimate).toBeLessThan(run.length);
  });
});
