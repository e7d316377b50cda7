import { randomBytes } from 'node:crypto';
import { decode, encode as encodeTokens } from 'gpt-tokenizer';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { TokenCounter } from '../gateway/tokens';
import { localEmbeddings } from './local-embedding';
import { UpstreamError, type ChatProvider, type UpstreamChatRequest, type UpstreamStreamEvent, type UpstreamUsage } from './types';
import type { UpstreamSignal } from './upstream-signal';
import { nowMs } from '../clock';

/*
 * A built-in model that needs no network: it answers every conversation with a reproducible
 * reply, counts tokens with gpt-tokenizer's default encoding (o200k_base, GPT-4o and newer) and
 * streams one token at a time. It lets the gateway be tried, tested and benchmarked for free.
 *
 * Its work is linear in the prompt: the prompt is counted the way the gateway counts it for the
 * hold (exactly while cheap, otherwise by bytes: lib/gateway/tokens.ts), and the reply quotes a
 * few words of bounded length, so it stays short whatever was sent.
 */

const PROVIDER_ID = 'local';

const SENTENCES = [
  'Tollgate routes each request to a provider that can serve it and bills only the tokens that were used.',
  'Credits are reserved before a request starts and settled as soon as the final usage is known.',
  'When an upstream is rate limited or down, Tollgate fails over to the next one before your client sees a byte.',
  'This reply comes from the built-in local model, so it needs no network and no provider key.',
  'The same conversation always produces the same reply, which makes this model handy for tests.',
  'Streaming responses arrive one token at a time, just as they would from a hosted model.',
  'Token counts come from the same tokenizer family that recent OpenAI models use.',
  'Switching to a hosted model is a matter of changing the model name in the request.',
  'Provider keys stay on the gateway; clients only ever see their own Tollgate key.',
  'Prepaid credit keeps spending predictable: a request that cannot be paid for is refused up front.',
] as const;

const QUOTE_WORDS = 12;
/** A longer quoted word is cut, so that one unbroken 1 MB word is not echoed (and tokenized) whole. */
const QUOTE_WORD_CHARS = 40;
/** The words to quote are looked for in this much of the message. */
const QUOTE_SCAN_CHARS = 4_096;
/** Special-token text such as '<|endoftext|>' is plain text here, as it is to hosted models. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const encode = (text: string) => encodeTokens(text, PLAIN_TEXT);
const PER_MESSAGE_OVERHEAD = 3;
const REPLY_PRIMING = 3;

type Reply =
  | { kind: 'text'; pieces: string[]; finishReason: 'stop' | 'length' }
  | { kind: 'tool_call'; id: string; name: string; arguments: string };

function aborted(): UpstreamError {
  return new UpstreamError({ kind: 'aborted', providerId: PROVIDER_ID, message: 'request to local was aborted' });
}

function badRequest(message: string): UpstreamError {
  return new UpstreamError({ kind: 'bad_request', providerId: PROVIDER_ID, message });
}

function messageText(message: ChatCompletionMessageParam): string {
  const content = message.content;
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  const texts: string[] = [];
  for (const part of content) {
    if (part.type === 'text') texts.push(part.text);
    else if (part.type === 'refusal') texts.push(part.refusal);
  }
  return texts.join('\n');
}

/** FNV-1a: tiny, stable across processes and platforms, good enough to pick sentences. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * gpt-tokenizer decodes through one shared streaming TextDecoder, so decoding a token that ends
 * inside a multi-byte character corrupts the next decode anywhere in the process. Keeping the
 * reply ASCII makes every token a whole string, so per-token decoding is exact and side-effect free.
 */
function toAscii(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/"/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Message text + 3 per message + 3. Each text (a string content, or each text or refusal part) is
 * counted in order with one request-wide TokenCounter, as the gateway's hold counts the same texts
 * first: this usage never exceeds the hold.
 */
export function countPromptTokens(messages: ChatCompletionMessageParam[]): number {
  const counter = new TokenCounter();
  let total = REPLY_PRIMING;
  for (const message of messages) {
    total += PER_MESSAGE_OVERHEAD;
    const content = message.content;
    if (typeof content === 'string') total += counter.text(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (part.type === 'text') total += counter.text(part.text);
        else if (part.type === 'refusal') total += counter.text(part.refusal);
      }
    }
  }
  return total;
}

/** [...text].length without building the array (1 MB of CJK took 0.3 s that way). */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

function quoted(word: string): string {
  return word.length > QUOTE_WORD_CHARS ? `${word.slice(0, QUOTE_WORD_CHARS)}...` : word;
}

/** The untruncated reply text: a pure function of the conversation. */
export function localReplyText(messages: ChatCompletionMessageParam[]): string {
  const seed = hash32(JSON.stringify(messages.map((m) => [m.role, messageText(m)])));
  let lastUser: string | undefined;
  for (let i = messages.length - 1; i >= 0 && lastUser === undefined; i--) {
    const message = messages[i];
    if (message?.role === 'user') lastUser = messageText(message);
  }
  const scanned = lastUser ?? '';
  const words = toAscii(scanned.slice(0, QUOTE_SCAN_CHARS)).split(' ').filter(Boolean);
  const more = words.length > QUOTE_WORDS || scanned.length > QUOTE_SCAN_CHARS;
  let opening: string;
  if (words.length > 0) opening = `You said: "${words.slice(0, QUOTE_WORDS).map(quoted).join(' ')}${more ? ' ...' : ''}".`;
  else if (lastUser && lastUser.trim()) opening = `You sent me ${codePoints(lastUser.trim())} characters that I can only acknowledge, not quote.`;
  else opening = 'Hello! I am the local model built into Tollgate.';

  // Three distinct sentences, chosen and ordered by the seed.
  const order = SENTENCES.map((_, i) => i);
  let state = seed || 1;
  for (let i = order.length - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    const a = order[i] as number;
    order[i] = order[j] as number;
    order[j] = a;
  }
  const picked = order.slice(0, 3).map((i) => SENTENCES[i]);
  return [opening, ...picked].join(' ');
}

function stopSequences(stop: UpstreamChatRequest['stop']): string[] {
  if (stop === null || stop === undefined) return [];
  return (typeof stop === 'string' ? [stop] : stop).filter((s) => s.length > 0);
}

function forcedTool(request: UpstreamChatRequest): string | null {
  const functions = (request.tools ?? []).flatMap((tool) => (tool.type === 'function' ? [tool.function.name] : []));
  if (functions.length === 0) return null;
  const choice = request.tool_choice;
  if (choice === 'required') return functions[0] ?? null;
  if (choice && typeof choice === 'object' && choice.type === 'function') return choice.function.name;
  return null;
}

function buildReply(request: UpstreamChatRequest): { reply: Reply; completionTokens: number } {
  const tool = forcedTool(request);
  if (tool !== null) {
    const id = `call_${hash32(`${tool}:${JSON.stringify(request.messages)}`).toString(36)}`;
    return { reply: { kind: 'tool_call', id, name: tool, arguments: '{}' }, completionTokens: encode(tool).length + encode('{}').length };
  }

  let text = localReplyText(request.messages);
  let finishReason: 'stop' | 'length' = 'stop';
  let cut = -1;
  for (const stop of stopSequences(request.stop)) {
    const at = text.indexOf(stop);
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  if (cut !== -1) text = text.slice(0, cut);

  let tokens = encode(text);
  const limit = Math.max(0, Math.floor(request.max_tokens));
  if (tokens.length > limit) {
    tokens = tokens.slice(0, limit);
    finishReason = 'length';
  }
  return { reply: { kind: 'text', pieces: tokens.map((token) => decode([token])), finishReason }, completionTokens: tokens.length };
}

function usageOf(promptTokens: number, completionTokens: number): UpstreamUsage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

function newCompletionId(): string {
  return `chatcmpl-local-${randomBytes(12).toString('hex')}`;
}

/** Resolves after `ms`, or rejects with an 'aborted' UpstreamError as soon as the signal fires. */
function sleep(ms: number, signal: UpstreamSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function createLocalProvider({ tokenDelayMs }: { tokenDelayMs: number }): ChatProvider {
  const delay = Number.isFinite(tokenDelayMs) && tokenDelayMs > 0 ? tokenDelayMs : 0;

  async function* streamCompletion(request: UpstreamChatRequest, signal: UpstreamSignal): AsyncGenerator<UpstreamStreamEvent> {
    if (signal.aborted) throw aborted();
    if (typeof request.n === 'number' && request.n > 1) throw badRequest('n > 1 is not supported when streaming from the local model');
    const { reply, completionTokens } = buildReply(request);
    const usage = usageOf(countPromptTokens(request.messages), completionTokens);
    const base = { id: newCompletionId(), object: 'chat.completion.chunk' as const, created: Math.floor(nowMs() / 1000), model: request.model };
    const event = (delta: ChatCompletionChunk.Choice.Delta, finishReason: ChatCompletionChunk.Choice['finish_reason'] = null): UpstreamStreamEvent => ({
      chunk: { ...base, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] },
      usage: null,
    });
    const pause = async () => {
      if (delay > 0) await sleep(delay, signal);
      else if (signal.aborted) throw aborted();
    };

    if (reply.kind === 'tool_call') {
      yield event({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: reply.id, type: 'function', function: { name: reply.name, arguments: '' } }] });
      await pause();
      yield event({ tool_calls: [{ index: 0, function: { arguments: reply.arguments } }] });
      yield event({}, 'tool_calls');
    } else {
      yield event({ role: 'assistant', content: '' });
      for (const piece of reply.pieces) {
        await pause();
        yield event({ content: piece });
      }
      yield event({}, reply.finishReason);
    }
    yield { chunk: { ...base, choices: [], usage: { ...usage } }, usage };
  }

  return {
    id: PROVIDER_ID,
    async complete(request, { signal }) {
      if (signal.aborted) throw aborted();
      const n = typeof request.n === 'number' && request.n > 1 ? Math.floor(request.n) : 1;
      const { reply, completionTokens } = buildReply(request);
      // Like OpenAI, n choices cost n times the output.
      const usage = usageOf(countPromptTokens(request.messages), completionTokens * n);
      const message: ChatCompletion.Choice['message'] =
        reply.kind === 'tool_call'
          ? { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: reply.id, type: 'function', function: { name: reply.name, arguments: reply.arguments } }] }
          : { role: 'assistant', content: reply.pieces.join(''), refusal: null };
      const finishReason = reply.kind === 'tool_call' ? 'tool_calls' : reply.finishReason;
      const completion: ChatCompletion = {
        id: newCompletionId(),
        object: 'chat.completion',
        created: Math.floor(nowMs() / 1000),
        model: request.model,
        choices: Array.from({ length: n }, (_, index) => ({ index, message: structuredClone(message), finish_reason: finishReason, logprobs: null })),
        usage: { ...usage },
      };
      return { completion, usage };
    },
    stream(request, { signal }) {
      return streamCompletion(request, signal);
    },
    async embed(request, { signal }) {
      if (signal.aborted) throw aborted();
      return localEmbeddings(request);
    },
  };
}
