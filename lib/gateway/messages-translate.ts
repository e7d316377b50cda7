import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { sseNamedEvents } from './sse';
import type { UpstreamUsage } from '../providers/types';
import type { CountTokensRequest, ImageBlock, MessageParam, MessagesRequest, TextBlock } from './messages-schema';
import type { ChatCompletionRequest, ChatMessage } from './schema';
import { ToolCallStream } from './tool-call-stream';

/*
 * Anthropic's Messages API ⇄ the gateway's OpenAI-shaped chat request, for the upstreams that speak
 * OpenAI's chat completions (OpenAI, Gemini, DeepSeek, the local model), and for planning: the
 * hold of every /v1/messages call is sized by planRoute from this translation.
 *
 * What becomes what (README, "Anthropic Messages API", has the table):
 * - system (string or text blocks) → one system message; text blocks → text joined by newlines,
 *   or content parts beside images (a base64 image becomes a data: URL); tool_use → the assistant's tool_calls (input as JSON
 *   arguments); each tool_result → a tool message before the rest of its user turn (its text
 *   joined by newlines, `is_error` as an "Error: " prefix; its images move to the user message
 *   that follows, since a tool message carries only text); tools → function tools (input_schema
 *   as parameters); tool_choice auto/any/tool/none → auto/required/function/none, and
 *   disable_parallel_tool_use → parallel_tool_calls: false; stop_sequences → stop;
 *   metadata.user_id → user; temperature and top_p as they are.
 * - cache_control markers are dropped: these upstreams cache on their own, and their cache reads
 *   are still billed at their discount from the usage they report.
 * - context_management (Anthropic's server-side clearing of old tool results and thinking, which
 *   Claude Code sends unasked) is not applied: the context goes whole, billed at what the upstream
 *   counts. Refusing it would refuse every Claude Code call to these models.
 * - thinking and redacted_thinking blocks of earlier assistant turns are dropped: they are
 *   Claude's own reasoning, which no other model can read or verify (Anthropic itself leaves
 *   earlier turns' thinking out of the context). They are counted for the hold all the same.
 *   The `thinking` parameter itself is refused on these upstreams (messages.ts).
 */

type Mode = 'upstream' | 'planning';
type Prompt = Pick<CountTokensRequest, 'messages' | 'system' | 'tools' | 'tool_choice'> & Partial<Pick<MessagesRequest, 'max_tokens' | 'stop_sequences' | 'metadata' | 'temperature' | 'top_p'>>;
type UserPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/**
 * The request in the chat completions shape. 'planning' keeps what only an Anthropic upstream
 * reads (thinking text and signatures, as assistant text) so that the count bounds both kinds.
 */
export function toChatRequest(body: Prompt, mode: Mode): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) {
    const text = typeof body.system === 'string' ? body.system : joinText(body.system);
    if (text.length > 0) messages.push({ role: 'system', content: text });
  }
  for (const message of body.messages) messages.push(...toChatMessages(message, mode));

  const request: ChatCompletionRequest = { model: '', messages, max_tokens: body.max_tokens };
  if (body.tools?.length) {
    request.tools = body.tools.map((tool) => ({
      type: 'function' as const,
      function: {
        name: tool.name,
        ...(tool.description !== undefined ? { description: tool.description } : {}),
        parameters: tool.input_schema,
        ...(tool.strict !== undefined ? { strict: tool.strict } : {}),
      },
    }));
    const choice = body.tool_choice;
    if (choice) {
      request.tool_choice = choice.type === 'auto' ? 'auto' : choice.type === 'any' ? 'required' : choice.type === 'none' ? 'none' : { type: 'function', function: { name: choice.name } };
      if (choice.type !== 'none' && choice.disable_parallel_tool_use) request.parallel_tool_calls = false;
    }
  }
  if (body.stop_sequences?.length) request.stop = body.stop_sequences;
  if (body.metadata?.user_id) request.user = body.metadata.user_id;
  if (body.temperature !== undefined) request.temperature = body.temperature;
  if (body.top_p !== undefined) request.top_p = body.top_p;
  return request;
}

function textPart(block: TextBlock) {
  return { type: 'text' as const, text: block.text };
}

/**
 * Text blocks as one string, as the Anthropic adapter joins them the other way: not every
 * OpenAI-compatible upstream takes content parts in system and assistant messages (DeepSeek).
 */
function joinText(blocks: Array<{ text: string }>): string {
  return blocks.map((block) => block.text).join('\n');
}

function imagePart(block: ImageBlock): UserPart {
  const url = block.source.type === 'url' ? block.source.url : `data:${block.source.media_type};base64,${block.source.data}`;
  return { type: 'image_url', image_url: { url } };
}

function toChatMessages(message: MessageParam, mode: Mode): ChatMessage[] {
  if (typeof message.content === 'string') return [{ role: message.role, content: message.content }];
  if (message.role === 'user') {
    const out: ChatMessage[] = [];
    const toolImages: UserPart[] = [];
    const parts: UserPart[] = [];
    for (const block of message.content) {
      if (block.type === 'text') parts.push(textPart(block));
      else if (block.type === 'image') parts.push(imagePart(block));
      else {
        const content = typeof block.content === 'string' ? block.content : (block.content ?? []).flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('\n');
        for (const b of typeof block.content === 'string' ? [] : (block.content ?? [])) if (b.type === 'image') toolImages.push(imagePart(b));
        out.push({ role: 'tool', tool_call_id: block.tool_use_id, content: block.is_error ? `Error: ${content}` : content });
      }
    }
    const rest = [...toolImages, ...parts];
    if (rest.length > 0) out.push({ role: 'user', content: rest.every((part) => part.type === 'text') ? joinText(rest as Array<{ text: string }>) : rest });
    return out;
  }
  const text: Array<{ text: string }> = [];
  const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const block of message.content) {
    if (block.type === 'text') text.push(textPart(block));
    else if (block.type === 'tool_use') toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input) } });
    else if (mode === 'planning') {
      if (block.type === 'thinking') text.push({ text: block.thinking }, { text: block.signature });
      else text.push({ text: block.data });
    }
  }
  if (text.length === 0 && toolCalls.length === 0) return [];
  return [{ role: 'assistant', content: text.length > 0 ? joinText(text) : null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) }];
}

/** Whether the request may write Anthropic's prompt cache: any cache_control marker, anywhere. */
export function marksCache(body: Pick<CountTokensRequest, 'messages' | 'system' | 'tools' | 'cache_control'>): boolean {
  const marked = (block: { cache_control?: unknown }) => block.cache_control !== undefined && block.cache_control !== null;
  if (marked(body)) return true;
  if (Array.isArray(body.system) && body.system.some(marked)) return true;
  if (body.tools?.some(marked)) return true;
  return body.messages.some(
    (message) =>
      typeof message.content !== 'string' &&
      message.content.some((block) => ('cache_control' in block && marked(block)) || (block.type === 'tool_result' && Array.isArray(block.content) && block.content.some(marked))),
  );
}

// ---------------------------------------------------------------------------------------------
// Answers: chat completion → Anthropic message
// ---------------------------------------------------------------------------------------------

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

/**
 * OpenAI's finish_reason as Anthropic's stop_reason. 'stop' is end_turn: these upstreams do not say
 * whether a stop sequence ended the text, so stop_sequence is never reported for them.
 */
export function toStopReason(finishReason: string | null | undefined): StopReason {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Anthropic's usage from the gateway's: its input_tokens leaves out cache reads and writes (the inverse of anthropic.ts's toUpstreamUsage). */
export function toAnthropicUsage(usage: UpstreamUsage) {
  const cacheRead = usage.cached_tokens ?? 0;
  const cacheWrite = usage.cache_creation_tokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - cacheRead - cacheWrite),
    output_tokens: usage.completion_tokens,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
  };
}

/** A tool call's arguments as tool_use input, which must be an object: anything else is kept whole under `_arguments`. */
function toolInput(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: kept as sent, below
  }
  return { _arguments: args };
}

export type AnthropicContentBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown>; caller: { type: 'direct' } };

export function toAnthropicMessage(completion: ChatCompletion, usage: UpstreamUsage, { id, model }: { id: string; model: string }) {
  const choice = completion.choices[0];
  const content: AnthropicContentBlock[] = [];
  const text = (choice?.message.content ?? '') || (choice?.message.refusal ?? '');
  if (text) content.push({ type: 'text', text });
  for (const call of choice?.message.tool_calls ?? []) {
    if (call.type === 'function') content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call.function.arguments), caller: { type: 'direct' } });
  }
  const stopReason = choice?.message.refusal && !choice.message.content ? 'refusal' : toStopReason(choice?.finish_reason);
  return { id, type: 'message' as const, role: 'assistant' as const, model, content, stop_reason: stopReason, stop_sequence: null, usage: toAnthropicUsage(usage) };
}

// ---------------------------------------------------------------------------------------------
// Streams: chat completion chunks → Anthropic events
// ---------------------------------------------------------------------------------------------

export type AnthropicEvent = { type: string } & Record<string, unknown>;

/**
 * Turns OpenAI chunks into Anthropic's event sequence: message_start and a ping first, then one
 * content block per text run or tool call (content_block_start, text_delta / input_json_delta,
 * content_block_stop). message_delta and message_stop are the caller's, once the call is settled.
 * message_start reports 0 input tokens: these upstreams count them only at the end, and the
 * closing message_delta carries them.
 */
export class ChatToMessagesStream {
  private started = false;
  private index = -1;
  private open: 'text' | 'tool' | null = null;
  private readonly toolCalls = new ToolCallStream();
  private finishReason: string | null = null;
  private refused = false;

  constructor(private readonly message: { id: string; model: string }) {}

  get stopReason(): StopReason {
    return this.refused && this.finishReason === 'stop' ? 'refusal' : toStopReason(this.finishReason);
  }

  /** The events one chunk makes, and the text it produced (for a bill when the client leaves). */
  read(chunk: ChatCompletionChunk): { events: AnthropicEvent[]; produced: string } {
    const events = this.start();
    let produced = '';
    const choice = chunk.choices[0];
    if (!choice) return { events, produced };
    const { delta } = choice;
    const text = (delta.content ?? '') + (delta.refusal ?? '');
    if (delta.refusal) this.refused = true;
    if (text) {
      if (this.open !== 'text') events.push(...this.close(), this.openBlock({ type: 'text', text: '' }, 'text'));
      events.push({ type: 'content_block_delta', index: this.index, delta: { type: 'text_delta', text } });
      produced += text;
    }
    for (const toolDelta of delta.tool_calls ?? []) {
      const { call, opened, args } = this.toolCalls.read(toolDelta, (index) => `toolu_${this.message.id.replace(/^msg_/, '')}_${index}`);
      if (opened || this.open !== 'tool') {
        events.push(...this.closeBlock(), this.openBlock({ type: 'tool_use', id: call.id, name: call.name, input: {} }, 'tool'));
        produced += call.name;
      }
      if (args) {
        events.push({ type: 'content_block_delta', index: this.index, delta: { type: 'input_json_delta', partial_json: args } });
        produced += args;
      }
    }
    if (choice.finish_reason) {
      this.finishReason = choice.finish_reason;
      events.push(...this.close());
    }
    return { events, produced };
  }

  /** What must still be sent before message_delta: the start (a stream with no chunks) and the open block's stop. */
  end(): AnthropicEvent[] {
    return [...this.start(), ...this.close()];
  }

  private start(): AnthropicEvent[] {
    if (this.started) return [];
    this.started = true;
    const usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const message = { id: this.message.id, type: 'message', role: 'assistant', model: this.message.model, content: [], stop_reason: null, stop_sequence: null, usage };
    return [{ type: 'message_start', message }, { type: 'ping' }];
  }

  private openBlock(block: Record<string, unknown>, open: NonNullable<ChatToMessagesStream['open']>): AnthropicEvent {
    this.index += 1;
    this.open = open;
    return { type: 'content_block_start', index: this.index, content_block: block };
  }

  /** Ends the open block, and the tool call in it. */
  private close(): AnthropicEvent[] {
    this.toolCalls.end();
    return this.closeBlock();
  }

  /** Ends the open block only: a delta that opens a tool call has already begun it in the ToolCallStream. */
  private closeBlock(): AnthropicEvent[] {
    if (!this.open) return [];
    this.open = null;
    return [{ type: 'content_block_stop', index: this.index }];
  }
}

/** Server-sent events as Anthropic names them (nothing for no events). */
export function sseEvents(events: AnthropicEvent[]): string | null {
  return events.length === 0 ? null : sseNamedEvents(events);
}
