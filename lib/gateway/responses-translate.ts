import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { invalidRequest } from '../http/errors';
import { randomBase62 } from '../ids';
import type { UpstreamUsage } from '../providers/types';
import type { ResponsesInputItem, ResponsesRequest } from './responses-schema';
import type { ChatCompletionRequest, ChatMessage } from './schema';
import { ToolCallStream } from './tool-call-stream';

/*
 * The Responses API in terms of chat completions, both ways: a Responses request becomes the
 * OpenAI-shaped chat request that every upstream adapter takes (and that planRoute sizes the hold
 * from), and a chat completion or its chunks become a Responses object or its events. OpenAI
 * itself is called on its native /responses and needs none of this (lib/gateway/responses.ts).
 *
 * Dropped on the way to a translated upstream, on purpose: `reasoning` input items (another
 * model's reasoning, encrypted for OpenAI, means nothing to Claude or Gemini, and Codex sends it
 * back on every turn), `reasoning.summary`, `text.verbosity`, `prompt_cache_key`,
 * `safety_identifier`, `service_tier` (auto or default: the standard tier), `metadata`, `client_metadata` and messages' `phase` and `end_turn` (hints
 * and labels with no chat equivalent; `metadata` is echoed on the response), `include` (no
 * reasoning items come back), `stream_options.include_obfuscation` (the padding OpenAI adds to
 * its deltas against length side channels: translated streams carry none).
 */

type Part = Extract<ResponsesInputItem, { type: 'message' }>['content'];

/** The Responses request as a chat completions request (model, provider and limits included). */
export function toChatRequest(body: ResponsesRequest): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else body.input.forEach((item, index) => appendItem(messages, item, index));
  if (messages.length === 0) throw invalidRequest("'input' has nothing a model can read (only reasoning items).", 'input');

  const request: ChatCompletionRequest = { model: body.model, messages };
  if (body.provider !== undefined) request.provider = body.provider;
  if (body.max_output_tokens != null) request.max_tokens = body.max_output_tokens;
  if (body.temperature != null) request.temperature = body.temperature;
  if (body.top_p != null) request.top_p = body.top_p;
  if (body.user !== undefined) request.user = body.user;
  if (body.reasoning?.effort != null) request.reasoning_effort = body.reasoning.effort;
  if (body.tools && body.tools.length > 0) {
    request.tools = body.tools.map((tool) => ({
      type: 'function' as const,
      function: {
        name: tool.name,
        ...(tool.description != null ? { description: tool.description } : {}),
        ...(tool.parameters != null ? { parameters: tool.parameters } : {}),
        ...(tool.strict != null ? { strict: tool.strict } : {}),
      },
    }));
    if (body.parallel_tool_calls != null) request.parallel_tool_calls = body.parallel_tool_calls;
  }
  if (body.tool_choice !== undefined) {
    request.tool_choice = typeof body.tool_choice === 'string' ? body.tool_choice : { type: 'function', function: { name: body.tool_choice.name } };
  }
  const format = body.text?.format;
  if (format?.type === 'json_object') request.response_format = { type: 'json_object' };
  if (format?.type === 'json_schema') {
    request.response_format = {
      type: 'json_schema',
      json_schema: { name: format.name, schema: format.schema, ...(format.description !== undefined ? { description: format.description } : {}), ...(format.strict != null ? { strict: format.strict } : {}) },
    };
  }
  return request;
}

function appendItem(messages: ChatMessage[], item: ResponsesInputItem, index: number): void {
  switch (item.type) {
    case 'message': {
      if (item.role === 'user') {
        messages.push({ role: 'user', content: userContent(item.content) });
        return;
      }
      const text = textOf(item.content, item.role, index);
      if (item.role === 'assistant') {
        // Consecutive assistant items (text, then the function calls it made) are one chat message.
        const last = messages.at(-1);
        if (last?.role === 'assistant' && !last.tool_calls) last.content = `${typeof last.content === 'string' ? last.content : ''}${text}`;
        else messages.push({ role: 'assistant', content: text });
        return;
      }
      messages.push({ role: item.role, content: text });
      return;
    }
    case 'function_call': {
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      const last = messages.at(-1);
      if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      return;
    }
    case 'function_call_output': {
      if (typeof item.output === 'string') {
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
        return;
      }
      const texts = item.output.flatMap((part) => (part.type === 'input_text' ? [part.text] : []));
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: texts.join('\n') });
      // A chat tool message holds text only: the tool's images follow it as the user's, which
      // Anthropic's adapter folds into the same turn as the tool result.
      const images = item.output.flatMap((part) => (part.type === 'input_image' ? [part] : []));
      if (images.length > 0) messages.push({ role: 'user', content: userContent(images) });
      return;
    }
    case 'reasoning':
      return;
  }
}

function userContent(content: Part): Extract<ChatMessage, { role: 'user' }>['content'] {
  if (typeof content === 'string') return content;
  const parts = content.map((part) => {
    if (part.type === 'input_image') return { type: 'image_url' as const, image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } };
    return { type: 'text' as const, text: part.type === 'refusal' ? part.refusal : part.text };
  });
  return parts.length > 0 ? parts : '';
}

function textOf(content: Part, role: string, index: number): string {
  if (typeof content === 'string') return content;
  return content
    .map((part, partIndex) => {
      if (part.type === 'input_image') throw invalidRequest(`Images are only accepted in user messages, not in a ${role} message.`, `input[${index}].content[${partIndex}]`);
      return part.type === 'refusal' ? part.refusal : part.text;
    })
    .join('');
}

/**
 * What the hold is sized from: the chat request, plus the reasoning items that only OpenAI reads
 * (their summaries and encrypted content count as text, an upper bound of what they decrypt to),
 * appended last so that every other text is counted in the order the adapters send it.
 */
export function planningRequest(body: ResponsesRequest, chat: ChatCompletionRequest): ChatCompletionRequest {
  if (typeof body.input === 'string') return chat;
  const reasoning = body.input.flatMap((item) =>
    item.type === 'reasoning' ? [...item.summary.map((s) => s.text), ...(item.content ?? []).map((c) => c.text), item.encrypted_content ?? ''] : [],
  );
  const text = reasoning.filter(Boolean).join('\n');
  return text ? { ...chat, messages: [...chat.messages, { role: 'assistant', content: text }] } : chat;
}

// ---------------------------------------------------------------------------------------------
// Back: chat completions → Responses
// ---------------------------------------------------------------------------------------------

export const newResponseId = (prefix: 'resp' | 'msg' | 'fc') => `${prefix}_${randomBase62(24)}`;

export type OutputItem =
  | { id: string; type: 'message'; status: 'in_progress' | 'completed' | 'incomplete'; role: 'assistant'; content: Array<{ type: 'output_text'; text: string; annotations: unknown[] } | { type: 'refusal'; refusal: string }> }
  | { id: string; type: 'function_call'; status: 'in_progress' | 'completed' | 'incomplete'; call_id: string; name: string; arguments: string };

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** Responses' usage from the usage every adapter reports (reasoning tokens are in the output tokens). */
export function responsesUsage(usage: UpstreamUsage, reasoningTokens = 0) {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: usage.total_tokens,
  };
}

/** A chat finish reason as a response's status: only running out of tokens or a filter leaves it incomplete. */
export function statusOf(finishReason: string | null | undefined): { status: ResponseStatus; incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** The response object around its output: the request's settings echoed, as OpenAI does. */
export function responseEnvelope(
  body: ResponsesRequest,
  state: { id: string; createdAt: number; model: string; status: ResponseStatus; output: OutputItem[]; incomplete_details?: { reason: string } | null; error?: { code: string; message: string } | null },
) {
  return {
    id: state.id,
    object: 'response' as const,
    created_at: state.createdAt,
    status: state.status,
    background: false,
    error: state.error ?? null,
    incomplete_details: state.incomplete_details ?? null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: state.model,
    output: state.output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: false,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: 'text' }, verbosity: body.text?.verbosity ?? 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: (body.tools ?? []).map((t) => ({ type: 'function', name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    top_p: body.top_p ?? 1,
    truncation: 'disabled' as const,
    usage: null as ReturnType<typeof responsesUsage> | null,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

/** A chat completion's first choice as Responses output items, and the status it ended in. */
export function completionOutput(completion: ChatCompletion): { output: OutputItem[]; status: ResponseStatus; incomplete_details: { reason: string } | null } {
  const choice = completion.choices[0];
  const ended = statusOf(choice?.finish_reason);
  const itemStatus = ended.status === 'incomplete' ? 'incomplete' : 'completed';
  const output: OutputItem[] = [];
  const message = choice?.message;
  if (message?.content || message?.refusal) {
    const content: Extract<OutputItem, { type: 'message' }>['content'] = [];
    if (message.content) content.push({ type: 'output_text', text: message.content, annotations: [] });
    if (message.refusal) content.push({ type: 'refusal', refusal: message.refusal });
    output.push({ id: newResponseId('msg'), type: 'message', status: itemStatus, role: 'assistant', content });
  }
  for (const call of message?.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    output.push({ id: newResponseId('fc'), type: 'function_call', status: itemStatus, call_id: call.id, name: call.function.name, arguments: call.function.arguments });
  }
  return { output, ...ended };
}

export type ResponseEvent = { type: string } & Record<string, unknown>;

/**
 * Chat chunks → Responses stream events (without sequence numbers, which the stream stamps). Text
 * opens a message item with one output_text part; each tool call opens a function_call item; an
 * item is closed (its .done events) when the next one opens, or at the end.
 */
export class ChatToResponsesStream {
  readonly output: OutputItem[] = [];
  finishReason: string | null = null;
  private openMessage: { index: number; text: string } | null = null;
  private readonly toolCalls = new ToolCallStream();
  /** The output index of the open call's function_call item. */
  private openCall: number | null = null;

  /** The events of one chunk, and the text it produced (what a client that leaves is billed for). */
  chunk(chunk: ChatCompletionChunk): { events: ResponseEvent[]; produced: string } {
    const events: ResponseEvent[] = [];
    let produced = '';
    const choice = chunk.choices[0];
    if (!choice) return { events, produced };
    const text = (choice.delta.content ?? '') + (choice.delta.refusal ?? '');
    if (text) {
      this.toolCalls.end();
      this.closeCall(events);
      if (!this.openMessage) {
        const item: OutputItem = { id: newResponseId('msg'), type: 'message', status: 'in_progress', role: 'assistant', content: [] };
        this.output.push(item);
        this.openMessage = { index: this.output.length - 1, text: '' };
        events.push({ type: 'response.output_item.added', output_index: this.openMessage.index, item: structuredClone(item) });
        events.push({ type: 'response.content_part.added', item_id: item.id, output_index: this.openMessage.index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      }
      this.openMessage.text += text;
      events.push({ type: 'response.output_text.delta', item_id: this.output[this.openMessage.index]!.id, output_index: this.openMessage.index, content_index: 0, delta: text, logprobs: [] });
      produced += text;
    }
    for (const delta of choice.delta.tool_calls ?? []) {
      const { call, opened, args } = this.toolCalls.read(delta, () => `call_${randomBase62(24)}`);
      let index = this.openCall;
      if (opened || index === null) {
        this.closeMessage(events);
        this.closeCall(events);
        const item: OutputItem = { id: newResponseId('fc'), type: 'function_call', status: 'in_progress', call_id: call.id, name: call.name, arguments: '' };
        this.output.push(item);
        index = this.output.length - 1;
        this.openCall = index;
        events.push({ type: 'response.output_item.added', output_index: index, item: structuredClone(item) });
        produced += item.name;
      }
      const item = this.output[index] as Extract<OutputItem, { type: 'function_call' }>;
      if (args) {
        item.arguments = call.arguments;
        produced += args;
        events.push({ type: 'response.function_call_arguments.delta', item_id: item.id, output_index: index, delta: args });
      }
    }
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return { events, produced };
  }

  /** The .done events of every item still open. */
  close(): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    this.toolCalls.end();
    this.closeMessage(events);
    this.closeCall(events);
    return events;
  }

  private itemStatus(): 'completed' | 'incomplete' {
    return statusOf(this.finishReason).status === 'incomplete' ? 'incomplete' : 'completed';
  }

  private closeMessage(events: ResponseEvent[]): void {
    if (!this.openMessage) return;
    const { index, text } = this.openMessage;
    const item = this.output[index] as Extract<OutputItem, { type: 'message' }>;
    const part = { type: 'output_text' as const, text, annotations: [] };
    item.content = [part];
    item.status = this.itemStatus();
    events.push({ type: 'response.output_text.done', item_id: item.id, output_index: index, content_index: 0, text, logprobs: [] });
    events.push({ type: 'response.content_part.done', item_id: item.id, output_index: index, content_index: 0, part });
    events.push({ type: 'response.output_item.done', output_index: index, item: structuredClone(item) });
    this.openMessage = null;
  }

  /** Ends the open function_call item. Not the ToolCallStream's call: a delta that opens a call has already begun the next one there. */
  private closeCall(events: ResponseEvent[]): void {
    const index = this.openCall;
    if (index === null) return;
    const item = this.output[index] as Extract<OutputItem, { type: 'function_call' }>;
    item.status = this.itemStatus();
    events.push({ type: 'response.function_call_arguments.done', item_id: item.id, output_index: index, name: item.name, arguments: item.arguments });
    events.push({ type: 'response.output_item.done', output_index: index, item: structuredClone(item) });
    this.openCall = null;
  }
}
