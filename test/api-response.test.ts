import { describe, expect, it } from 'vitest';
import { ApiResponse, toWebResponse, type StreamSink } from '../lib/http/api-response';

/** A pushed body whose sink the test drives by hand. */
function manualStream() {
  const state: { sink: StreamSink | null; cancelled: number } = { sink: null, cancelled: 0 };
  const body = {
    start: (sink: StreamSink) => {
      state.sink = sink;
    },
    cancel: () => {
      state.cancelled++;
    },
  };
  return { state, body };
}

describe('toWebResponse', () => {
  it('keeps status, headers and a text body', async () => {
    const response = toWebResponse(new ApiResponse(201, { 'content-type': 'application/json', 'x-a': '1' }, '{"ok":true}'));
    expect(response.status).toBe(201);
    expect(response.headers.get('x-a')).toBe('1');
    expect(await response.json()).toEqual({ ok: true });
  });

  it('passes a Web Response through untouched', () => {
    const original = new Response('x', { status: 418 });
    expect(toWebResponse(original)).toBe(original);
  });

  it('streams what is pushed, in order, and ends on close', async () => {
    const { state, body } = manualStream();
    const response = toWebResponse(new ApiResponse(200, { 'content-type': 'text/event-stream' }, body));
    expect(state.sink!.write('data: 1\n\n')).toBe(true);
    expect(state.sink!.write('data: 2\n\n')).toBe(true);
    state.sink!.close();
    expect(await response.text()).toBe('data: 1\n\ndata: 2\n\n');
    expect(state.cancelled).toBe(0);
  });

  it('tells the producer when the client cancels, and refuses later writes', async () => {
    const { state, body } = manualStream();
    const response = toWebResponse(new ApiResponse(200, {}, body));
    const reader = response.body!.getReader();
    state.sink!.write('aé🙂');
    // UTF-8, as the bytes are written by hand here: a, é (C3 A9), 🙂 (F0 9F 99 82).
    expect((await reader.read()).value).toEqual(new Uint8Array([0x61, 0xc3, 0xa9, 0xf0, 0x9f, 0x99, 0x82]));
    await reader.cancel();
    expect(state.cancelled).toBe(1);
    expect(state.sink!.write('b')).toBe(false);
  });

  it('breaks the stream on fail, so the client cannot take it for complete', async () => {
    const { state, body } = manualStream();
    const response = toWebResponse(new ApiResponse(200, {}, body));
    state.sink!.write('partial');
    state.sink!.fail();
    await expect(response.text()).rejects.toThrow();
  });
});
