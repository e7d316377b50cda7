import { countTokens } from 'gpt-tokenizer';
import type { ChatCompletionRequest } from './schema';

/**
 * Prompt tokens, estimated before the call to size the hold. o200k (GPT-4o's encoding) counts the
 * text; other providers' tokenizers can count the same text higher (Claude's by up to ~25%), so
 * the estimate is padded: the hold must cover what the upstream will report, because settlement
 * never charges more than the hold.
 */
const MESSAGE_OVERHEAD_TOKENS = 4;
const IMAGE_TOKENS = 1_600; // the upper end of what one image costs on any of the upstreams
// Anthropic adds a tool-use system prompt of ~350 tokens whenever tools are present.
const TOOLS_OVERHEAD_TOKENS = 400;
const SAFETY_NUMERATOR = 5n; // × 5/4
const SAFETY_DENOMINATOR = 4n;
const SAFETY_FLOOR = 16;

export function countText(text: string): number {
  return text ? countTokens(text) : 0;
}

export function countPromptTokens(body: Pick<ChatCompletionRequest, 'messages' | 'tools'>): number {
  let tokens = 3;
  for (const message of body.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    const content = 'content' in message ? message.content : null;
    if (typeof content === 'string') tokens += countText(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (part.type === 'text') tokens += countText(part.text);
        else if (part.type === 'refusal') tokens += countText(part.refusal);
        else tokens += IMAGE_TOKENS;
      }
    }
    if (message.role === 'assistant' && message.tool_calls) {
      for (const call of message.tool_calls) tokens += countText(call.function.name) + countText(call.function.arguments) + 3;
    }
  }
  if (body.tools?.length) tokens += TOOLS_OVERHEAD_TOKENS + countText(JSON.stringify(body.tools));
  return tokens;
}

/** The padded estimate the hold is sized from. */
export function promptTokensUpperBound(counted: number): number {
  return Number((BigInt(counted) * SAFETY_NUMERATOR + SAFETY_DENOMINATOR - 1n) / SAFETY_DENOMINATOR) + SAFETY_FLOOR;
}
