import { extended } from '../extend';

// Text, not bytes: the sink joins a turn's events and the socket's write encodes them once.
export function sseData(payload: unknown): string {
  return `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;
}

export const SSE_DONE = sseData('[DONE]');

/** Events named by their `type` on an `event:` line of their own, as Anthropic's and the Responses API's streams are. */
export function sseNamedEvents(events: ReadonlyArray<{ type: string }>): string {
  return events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/** A stream's headers: SSE_HEADERS and the call's, the call's winning (copied, not spread: lib/extend.ts says why). */
export function sseHeaders(call: Record<string, string>): Record<string, string> {
  return extended(SSE_HEADERS, call);
}
