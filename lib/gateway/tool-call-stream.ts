import type { ChatCompletionChunk } from 'openai/resources/chat/completions';

type ToolCallDelta = ChatCompletionChunk.Choice.Delta.ToolCall;

export type StreamedToolCall = { index: number; id: string; name: string; arguments: string };

/**
 * Streamed tool-call deltas gathered into calls, for the translators that turn chat chunks into
 * another dialect's items (Responses' function_call, Anthropic's tool_use): one notion of "the same
 * call" for both. A delta belongs to the open call when it carries the open call's index, and
 * opens the next call otherwise. The index alone decides, because the OpenAI-compatible adapter
 * has already renumbered the calls of servers that bend the contract (toolCallNormalizer: Gemini's
 * indexless calls, Ollama's shared index, vLLM's repeated ids).
 */
export class ToolCallStream {
  private current: StreamedToolCall | null = null;

  /** The call a delta belongs to, whether the delta opened it (ending the one before), and the arguments it added. */
  read(delta: ToolCallDelta, newId: (index: number) => string): { call: StreamedToolCall; opened: boolean; args: string } {
    let opened = false;
    if (this.current?.index !== delta.index) {
      this.current = { index: delta.index, id: delta.id || newId(delta.index), name: delta.function?.name ?? '', arguments: '' };
      opened = true;
    }
    const args = delta.function?.arguments ?? '';
    this.current.arguments += args;
    return { call: this.current, opened, args };
  }

  /** Ends the open call (text came, or the stream ended): a later delta opens a new one. Returns the call ended, if any. */
  end(): StreamedToolCall | null {
    const ended = this.current;
    this.current = null;
    return ended;
  }
}
