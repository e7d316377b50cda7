/**
 * What the gateway answers on its hot path, the response-side twin of ApiRequest: a status, plain
 * headers and a body that is text or a stream pushed to a sink. The Node server writes it to the
 * socket as it is; Next's route handlers and the tests get a Web `Response` made from it at the
 * edge (`toWebResponse`). Measured on /v1: building a Web Response and reading it back (its
 * Headers, its body stream, `arrayBuffer()`) cost about a tenth of a call's CPU, a streamed one's
 * ReadableStream as much again.
 */
export class ApiResponse {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: string | PushStream,
  ) {}
}

/**
 * Where a streamed body goes, as text: a stream of server-sent events is UTF-8 text, encoded where
 * it meets the socket (a turn's writes at once on the Node server, each write on the Web path).
 * `write` answers false once the client is gone (the text is dropped); `close` ends the body,
 * `fail` breaks it (the client must not take it for complete).
 * `finishing` says the upstream is done: what follows is the stream's end (after the settlement)
 * or an error event, then `close` or `fail`, always; a sink may keep what it has not sent yet until then.
 */
export type StreamSink = { write(text: string): boolean; finishing(): void; close(): void; fail(): void };

/** A body produced by pushing: started once with its sink; `cancel` when the client leaves first. */
export type PushStream = { start(sink: StreamSink): void; cancel(): void };

export type AnyResponse = Response | ApiResponse;

const utf8 = new TextEncoder();

export function toWebResponse(response: AnyResponse): Response {
  if (response instanceof Response) return response;
  const { status, headers, body } = response;
  if (typeof body === 'string') return new Response(body, { status, headers });
  const stream = new ReadableStream<Uint8Array>({
    start: (controller) =>
      body.start({
        write(text) {
          try {
            controller.enqueue(utf8.encode(text));
            return true;
          } catch {
            return false;
          }
        },
        finishing() {
          // The reader pulls what is enqueued when it will: nothing to hold back here.
        },
        close() {
          try {
            controller.close();
          } catch {
            // already closed or cancelled by the client
          }
        },
        fail() {
          try {
            controller.error(new Error('the stream failed'));
          } catch {
            // already closed or cancelled by the client
          }
        },
      }),
    cancel: () => body.cancel(),
  });
  return new Response(stream, { status, headers });
}
