// The Node server writes the gateway's answers (ApiResponse) as they are and anything else as a Web
// Response. Under `npm start` the gateway may come from Next's bundle (instrumentation.ts makes it
// when it runs first), whose copy of lib/http/api-response.ts has an ApiResponse class of its own:
// the server must serve that copy's answers too, or every /v1 call would be a 500.
import { describe, expect, it } from 'vitest';
import type { AnyResponse, PushStream } from '../lib/http/api-response';
import { nodeServerPerTest } from './helpers/node-server';

/** Another module's ApiResponse: the same shape, another class. */
class BundledApiResponse {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: string | PushStream,
  ) {}
}

describe('the Node server, answers of either kind', () => {
  const servers = nodeServerPerTest();

  async function serving(answer: (path: string) => AnyResponse): Promise<string> {
    const port = await servers.listen(async (request) => answer(new URL(request.url).pathname));
    return `http://127.0.0.1:${port}`;
  }

  it("writes another copy's ApiResponse, text or pushed, as it writes its own; a Web Response as a Response", async () => {
    const base = await serving((path) => {
      if (path === '/v1/text') return new BundledApiResponse(201, { 'content-type': 'application/json', 'x-from': 'bundle' }, '{"ok":true}') as unknown as AnyResponse;
      if (path === '/v1/pushed') {
        const body: PushStream = {
          start(sink) {
            sink.write('data: one\n\n');
            sink.finishing();
            sink.write('data: [DONE]\n\n');
            sink.close();
          },
          cancel() {},
        };
        return new BundledApiResponse(200, { 'content-type': 'text/event-stream' }, body) as unknown as AnyResponse;
      }
      return new Response('web', { status: 202, headers: { 'x-from': 'web' } });
    });

    const text = await fetch(`${base}/v1/text`, { method: 'POST', body: '{}' });
    expect(text.status).toBe(201);
    expect(text.headers.get('x-from')).toBe('bundle');
    expect(text.headers.get('content-length')).toBe('11');
    expect(await text.text()).toBe('{"ok":true}');

    const pushed = await fetch(`${base}/v1/pushed`, { method: 'POST', body: '{}' });
    expect(pushed.status).toBe(200);
    expect(pushed.headers.get('content-type')).toBe('text/event-stream');
    expect(await pushed.text()).toBe('data: one\n\ndata: [DONE]\n\n');

    const web = await fetch(`${base}/v1/web`, { method: 'POST', body: '{}' });
    expect(web.status).toBe(202);
    expect(web.headers.get('x-from')).toBe('web');
    expect(await web.text()).toBe('web');
  });
});
