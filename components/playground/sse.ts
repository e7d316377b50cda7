/**
 * Server-sent events from a fetch body: yields each event's data (the `data:` lines joined), as the
 * bytes arrive. Handles events split across chunks, several events per chunk, CRLF line ends and
 * comment lines. Stops at the end of the body; `[DONE]` is yielded like any other payload.
 * `onRead` hears every read from the body, before it is parsed: a comment or heartbeat is a sign
 * of life too, though it yields no data.
 */
export async function* readSseData(body: ReadableStream<Uint8Array>, { onRead }: { onRead?: () => void } = {}): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      onRead?.();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n?/g, '\n');
      let boundary: number;
      while ((boundary = buffer.indexOf('\n\n')) !== -1) {
        const data = dataOf(buffer.slice(0, boundary));
        buffer = buffer.slice(boundary + 2);
        if (data !== null) yield data;
      }
      if (done) {
        const data = dataOf(buffer);
        if (data !== null) yield data;
        return;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function dataOf(event: string): string | null {
  const lines = event.split('\n').filter((line) => line.startsWith('data:'));
  if (lines.length === 0) return null;
  return lines.map((line) => line.slice(line.startsWith('data: ') ? 6 : 5)).join('\n');
}

/** The parts of an OpenAI chat.completion.chunk (plus Tollgate's billing) the playground reads. */
export type ChatChunk = {
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number; cost?: number } | null;
  billing?: {
    charged_usd?: number;
    balance_usd?: number | null;
    /** The first lot that paid (a pack, or the welcome credit), with what is left in it. */
    pack?: { id: string; status: 'ACTIVE' | 'EXHAUSTED' | 'EXPIRED'; remaining_usd: number } | null;
  } | null;
  error?: { message?: string; code?: string; type?: string };
};
