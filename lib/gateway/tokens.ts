import { countTokens } from 'gpt-tokenizer';
import type { CatalogOffering } from '../catalog/catalog';
import type { ChatCompletionRequest } from './schema';

/*
 * Prompt tokens, bounded before the call to size the hold. The hold must cover whatever the
 * upstream will bill, because settlement never charges more than the hold; so every number here
 * is an upper bound, and it has to be cheap: it is computed for calls nobody has paid for yet.
 *
 * Text is counted in one of two ways, both upper bounds of o200k (GPT-4o's encoding):
 *
 * - exactly, with gpt-tokenizer, when the text is ASCII and that is cheap. Its byte-pair merge is quadratic in the length
 *   of one pre-tokenizer piece (one unbroken 100 KB word took 4.8 s; 900 KB froze the server for
 *   minutes), and even short pieces of unusual text cost about a microsecond a character. So only
 *   text whose pieces are all short (see `piecesAreShort`) is handed to it, and at most
 *   EXACT_BUDGET_BYTES per request; everything else is
 * - bounded by its UTF-8 length: a byte-level BPE (o200k, cl100k) turns every token into at least
 *   one byte of the text, so it never makes more tokens than the text has bytes. Claude's and
 *   Gemini's tokenizers are not published, but both are subword tokenizers that fall back to bytes
 *   (SentencePiece's byte fallback, for Gemini), so the same holds for them, give or take a leading
 *   marker token that the padding below covers.
 *
 * Other providers' tokenizers can count the same text higher than o200k (Claude's by up to ~25%),
 * so the total is padded by 5/4 plus a floor (promptTokensUpperBound).
 */

/** The longest run of one character class handed to the tokenizer (see piecesAreShort). */
const MAX_RUN = 64;
/**
 * UTF-8 bytes of text counted exactly per request. Novel text costs the tokenizer up to ~2 µs a
 * byte even in short pieces (random Cyrillic, CJK, letters): at most ~40 ms a request.
 */
export const EXACT_BUDGET_BYTES = 16_384;
/** Special-token text such as '<|endoftext|>' in a prompt is plain text to the upstream, and must not throw. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

const MESSAGE_OVERHEAD_TOKENS = 4; // role and delimiters: OpenAI documents 3 per message, plus 1 for a name
const PART_SEPARATOR_TOKENS = 1; // adapters join a message's text parts with '\n' (Anthropic's system and tool results)
const NAME_TOKENS = 1;
const TOOL_CALL_OVERHEAD_TOKENS = 3;
const REPLY_PRIMING_TOKENS = 3;
// Anthropic adds a tool-use system prompt of ~350 tokens whenever tools are present.
const TOOLS_OVERHEAD_TOKENS = 400;
// Per tool: the wrapper each provider renders a definition in (Anthropic adds `"type": "object"`).
const TOOL_OVERHEAD_TOKENS = 8;
const SAFETY_NUMERATOR = 5n; // × 5/4
const SAFETY_DENOMINATOR = 4n;
const SAFETY_FLOOR = 16;

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

const LETTER = 1; // \p{L} or \p{M}: the letters of o200k's word pieces
const NUMBER = 2; // \p{N}: pieces of at most 3
const SPACE = 4; // \s
const OTHER = 8; // everything else: punctuation and symbols
let classes: Uint8Array | null = null;

/**
 * The class of every UTF-16 code unit, built once (a few milliseconds) by running each class's
 * regex over the whole Basic Multilingual Plane. A surrogate is half of an astral character,
 * which may be a letter or a symbol: it counts as both, which only ever makes the runs below
 * longer (and an exact count rarer).
 */
function classTable(): Uint8Array {
  if (classes) return classes;
  const table = new Uint8Array(0x10000).fill(OTHER);
  const units: number[] = [];
  for (let code = 0; code < 0x10000; code++) units.push(code >= 0xd800 && code <= 0xdfff ? 0 : code);
  let plane = '';
  for (let i = 0; i < units.length; i += 4096) plane += String.fromCharCode(...units.slice(i, i + 4096));
  const mark = (pattern: RegExp, kind: number) => {
    for (const match of plane.matchAll(pattern)) table.fill(kind, match.index, match.index + match[0].length);
  };
  mark(/[\p{L}\p{M}]+/gu, LETTER);
  mark(/\p{N}+/gu, NUMBER);
  mark(/\s+/gu, SPACE);
  table.fill(LETTER | OTHER, 0xd800, 0xe000);
  classes = table;
  return table;
}

/**
 * Whether every piece o200k's pre-tokenizer can cut from `text` is short, so that its byte-pair
 * merge costs O(MAX_RUN) per piece. Its pieces are: optionally one leading character, a run of
 * letters, and an optional contraction ('ll); up to 3 digits; optionally a space, a run of
 * punctuation and a tail of [\r\n/]*; or a run of whitespace. So when no run of letters, no run
 * of punctuation-or-\r\n, and no run of whitespace exceeds MAX_RUN, no piece exceeds MAX_RUN + 5.
 * (This decides only how a count is made, never whether it is an upper bound.)
 */
function piecesAreShort(text: string): boolean {
  const classOf = classTable();
  let letters = 0;
  let others = 0;
  let spaces = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const kind = classOf[code]!;
    letters = kind & LETTER ? letters + 1 : 0;
    others = kind & OTHER || code === 10 || code === 13 ? others + 1 : 0;
    spaces = kind & SPACE ? spaces + 1 : 0;
    if (letters > MAX_RUN || others > MAX_RUN || spaces > MAX_RUN) return false;
  }
  return true;
}

/** The UTF-8 length of `text` as it is sent (a lone surrogate becomes U+FFFD, 3 bytes). */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Counts texts within one request: each exactly while the request's budget lasts and the text is
 * cheap to count, otherwise by its bytes. Linear in the total length, whatever the text.
 */
export class TokenCounter {
  private budget: number;

  constructor(budgetBytes = EXACT_BUDGET_BYTES) {
    this.budget = budgetBytes;
  }

  /** An upper bound of the o200k tokens of `text`; exact when it was cheap to count. */
  text(text: string): number {
    if (!text) return 0;
    const bytes = utf8Bytes(text);
    // Only ASCII text is counted exactly: for other scripts the providers' tokenizers part ways
    // (Claude's and Gemini's can make 1.5-3x o200k's count of Indic, Arabic or Thai text, beyond
    // the padding), while none makes more tokens than the text has bytes.
    if (bytes === text.length && bytes <= this.budget && piecesAreShort(text)) {
      this.budget -= bytes;
      return countTokens(text, PLAIN_TEXT);
    }
    return bytes;
  }

  /** JSON as the SDKs send it (JSON.stringify of the parsed value). */
  json(value: unknown): number {
    return value === undefined ? 0 : this.text(JSON.stringify(value));
  }
}

/** One text on its own: exact when cheap, else its bytes (an upper bound, for holds). */
export function countText(text: string): number {
  return new TokenCounter().text(text);
}

/** Characters of an output counted to estimate its tokens; the rest is billed at the sample's rate. */
const OUTPUT_SAMPLE_CHARS = 8_192;

/**
 * The tokens an upstream produced, for billing output it did not report (a stream whose client
 * left, an answer without usage): an estimate, not a bound. Billing it by its bytes, the bound a
 * hold needs, would charge 3-5 times what was produced for long or non-ASCII text. The first
 * OUTPUT_SAMPLE_CHARS are counted in o200k with every unbroken run cut at MAX_RUN characters (the
 * tokenizer is quadratic in a run's length; a cut adds at most a token per MAX_RUN characters), and
 * the rest at the sample's tokens per byte: linear, and a few milliseconds at most.
 */
export function estimateOutputTokens(text: string): number {
  if (!text) return 0;
  const sample = text.length > OUTPUT_SAMPLE_CHARS ? text.slice(0, OUTPUT_SAMPLE_CHARS) : text;
  const cut = sample.replace(/\S{64}(?=\S)/g, '$& ').replace(/\s{64,}/g, (run) => run.slice(0, MAX_RUN));
  const counted = countTokens(cut, PLAIN_TEXT);
  if (sample === text) return counted;
  return Math.ceil((counted * utf8Bytes(text)) / utf8Bytes(sample));
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

type Field = keyof ChatCompletionRequest;

/**
 * Every request field, by whether an upstream model reads it as prompt. A field added to the
 * request schema fails to compile here until it is sorted; at run time, a field missing from
 * this list is counted as JSON.
 */
const FIELDS = {
  messages: 'prompt',
  tools: 'prompt',
  tool_choice: 'prompt',
  response_format: 'prompt',
  // Stop sequences and `user` are not billed as input by any upstream today; they are counted
  // anyway (OpenAI's API used to inject some of these), so nothing forwarded goes uncounted.
  stop: 'prompt',
  user: 'prompt',
  model: 'not prompt',
  provider: 'not prompt',
  temperature: 'not prompt',
  top_p: 'not prompt',
  max_tokens: 'not prompt',
  max_completion_tokens: 'not prompt',
  n: 'not prompt',
  presence_penalty: 'not prompt',
  frequency_penalty: 'not prompt',
  seed: 'not prompt',
  parallel_tool_calls: 'not prompt',
  reasoning_effort: 'not prompt',
  stream: 'not prompt',
  stream_options: 'not prompt',
} as const satisfies Record<Field, 'prompt' | 'not prompt'>;

export type ImageDetail = 'auto' | 'low' | 'high';

export type PromptCount = {
  /** Upper bound of the (o200k) tokens of everything but images, unpadded. */
  tokens: number;
  /** One entry per image part: what an image costs depends on the model that reads it. */
  images: ImageDetail[];
};

/**
 * Counts everything an upstream reads: the messages (every role, every content part, names,
 * refusals, tool calls and their ids, tool results), the tools, tool_choice, response_format (its
 * whole json_schema: name, description, schema), stop sequences, and the images, which are
 * returned for pricing per model (`imageTokens`).
 *
 * The messages come first, in order and part by part, the way the local model counts them
 * (lib/providers/local.ts): it spends the same budget on a subset of the same texts, so each text
 * it counts exactly is counted exactly here too, and its usage never exceeds this count.
 */
export function countPrompt(body: ChatCompletionRequest): PromptCount {
  const counter = new TokenCounter();
  const images: ImageDetail[] = [];
  let tokens = REPLY_PRIMING_TOKENS;

  for (const message of body.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    const content = message.content;
    if (typeof content === 'string') tokens += counter.text(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        tokens += PART_SEPARATOR_TOKENS;
        if (part.type === 'text') tokens += counter.text(part.text);
        else if (part.type === 'refusal') tokens += counter.text(part.refusal);
        else images.push(part.image_url.detail ?? 'auto');
      }
    }
    if ('name' in message && message.name) tokens += NAME_TOKENS + counter.text(message.name);
    if (message.role === 'assistant') {
      if (message.refusal) tokens += counter.text(message.refusal);
      for (const call of message.tool_calls ?? []) {
        tokens += TOOL_CALL_OVERHEAD_TOKENS + counter.text(call.id) + counter.text(call.function.name) + toolArgumentTokens(counter, call.function.arguments);
      }
    }
    if (message.role === 'tool') tokens += counter.text(message.tool_call_id);
  }

  for (const [field, value] of Object.entries(body) as Array<[string, unknown]>) {
    if (field === 'messages' || value === undefined || value === null) continue;
    const kind = (FIELDS as Record<string, string>)[field];
    if (kind === 'not prompt') continue;
    if (field === 'tools' && Array.isArray(value) && value.length > 0) tokens += TOOLS_OVERHEAD_TOKENS + value.length * TOOL_OVERHEAD_TOKENS;
    if (typeof value === 'string') tokens += counter.text(value);
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      for (const item of value as string[]) tokens += PART_SEPARATOR_TOKENS + counter.text(item);
    } else tokens += counter.json(value);
  }
  return { tokens, images };
}

/**
 * Tool-call arguments as the adapters forward them: OpenAI-compatible upstreams get the string;
 * Anthropic's adapter parses it and the SDK re-serializes the object, which can be longer (the
 * number 1e20 comes back as 21 digits). Both are counted; the larger one is the bound.
 */
function toolArgumentTokens(counter: TokenCounter, args: string): number {
  const asSent = counter.text(args);
  let reserialized: string | undefined;
  try {
    reserialized = JSON.stringify(JSON.parse(args));
  } catch {
    return asSent;
  }
  return reserialized === undefined || reserialized === args ? asSent : Math.max(asSent, counter.text(reserialized));
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/*
 * The most one image can cost, in input tokens of the model that reads it, by each provider's
 * published rule (the gateway cannot see an image's size: a URL is fetched by the upstream).
 *
 * - OpenAI, tile models: the image is scaled down to fit 2048×2048, then down so its short side
 *   is at most 768 px, and cut into 512 px tiles: at most 2×4 = 8 tiles. GPT-4o, GPT-4.1 and
 *   GPT-4 Turbo cost 85 + 170 per tile (≤ 1,445); o1 and o3 75 + 150 (≤ 1,275); GPT-4o mini bills
 *   images at 33× the tokens, 2,833 + 5,667 per tile (≤ 48,169). Detail 'low' is the base alone.
 *   Any other OpenAI model (patch-based models cap at 1,536 patches × a multiplier ≤ 2.46 ≈ 3,779)
 *   gets the largest of these, 48,169, whatever the detail.
 * - Anthropic: tokens ≈ width × height / 750, after scaling to a long edge of 1568 px and ~1.15
 *   megapixels: ≤ ~1,600 for Claude 3, 4, 4.1 and 4.5 models. Later models reportedly read up to
 *   2576 px on the long edge (~4,784 tokens): 4,800 for any model not known to have the smaller cap.
 * - Google: Gemini 2.x scales an image to fit 3072×3072 and bills 258 tokens per 768 px tile: at
 *   most 16 tiles (4,128), and one more tile of margin, 4,386 (Google publishes the tile rule, not
 *   a maximum); Gemini 3 bills at most 2,240 (its ultra-high resolution). 4,386 for every Gemini.
 * - OpenAI's rule assumes an image is only ever scaled down, as in every published example.
 * - DeepSeek's chat models take no images (the upstream refuses the call); the largest rule
 *   above, in case that changes.
 * - The local model reads no images.
 */
const OPENAI_MAX_TILES = 8;
const OPENAI_TILE_RULES: Array<{ model: RegExp; base: number; tile: number }> = [
  { model: /^gpt-4o-mini(-|$)/, base: 2_833, tile: 5_667 },
  { model: /^(gpt-4o|chatgpt-4o|gpt-4-turbo|gpt-4\.1|gpt-4\.5)(-\d{4}-\d{2}-\d{2}|-preview|-latest)?$/, base: 85, tile: 170 },
  { model: /^(o1|o3)(-\d{4}-\d{2}-\d{2})?$/, base: 75, tile: 150 },
];
const LARGEST_IMAGE_TOKENS = 2_833 + OPENAI_MAX_TILES * 5_667;
const ANTHROPIC_1568PX_MODELS = /^claude-(3[-.]|(opus|sonnet|haiku)-4(-[015])?(-\d{8})?$)/;
const ANTHROPIC_LEGACY_IMAGE_TOKENS = 1_600;
const ANTHROPIC_IMAGE_TOKENS = 4_800;
const GEMINI_IMAGE_TOKENS = 17 * 258;

export function imageTokens(offering: Pick<CatalogOffering, 'providerId' | 'upstreamModel'>, detail: ImageDetail): number {
  switch (offering.providerId) {
    case 'local':
      return 0;
    case 'anthropic':
      return ANTHROPIC_1568PX_MODELS.test(offering.upstreamModel) ? ANTHROPIC_LEGACY_IMAGE_TOKENS : ANTHROPIC_IMAGE_TOKENS;
    case 'google':
      return GEMINI_IMAGE_TOKENS;
    case 'openai': {
      const rule = OPENAI_TILE_RULES.find((r) => r.model.test(offering.upstreamModel));
      if (!rule) return LARGEST_IMAGE_TOKENS;
      return detail === 'low' ? rule.base : rule.base + OPENAI_MAX_TILES * rule.tile;
    }
    default:
      return LARGEST_IMAGE_TOKENS;
  }
}

/** The prompt's tokens on one offering: its text, and its images by that model's rule; unpadded. */
export function promptTokensOn(offering: Pick<CatalogOffering, 'providerId' | 'upstreamModel'>, prompt: PromptCount): number {
  let tokens = prompt.tokens;
  for (const detail of prompt.images) tokens += imageTokens(offering, detail);
  return tokens;
}

/** The padded estimate the hold is sized from. */
export function promptTokensUpperBound(counted: number): number {
  return Number((BigInt(counted) * SAFETY_NUMERATOR + SAFETY_DENOMINATOR - 1n) / SAFETY_DENOMINATOR) + SAFETY_FLOOR;
}
