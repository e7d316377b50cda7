import { extended } from '../extend';

// Buffer.from, not TextEncoder: every event of a stream is encoded here, and on Node 20 a short
// string costs ~0.2 µs that way against ~0.65 µs through TextEncoder.encode (a fresh ArrayBuffer
// each time, where Buffer.from slices its shared pool). A Buffer is a Uint8Array.
export function sseData(payload: unknown): Uint8Array {
  return Buffer.from(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
}

export const SSE_DONE = sseData('[DONE]');

/** Events named by their `type` on an `event:` line of their own, as Anthropic's and the Responses API's streams are. */
export function sseNamedEvents(events: ReadonlyArray<{ type: string }>): Uint8Array {
  return Buffer.from(events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join(''));
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
