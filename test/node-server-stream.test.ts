// How the Node server sends a pushed body: what the relay writes in one turn of the event loop
// leaves as one chunk of the chunked encoding, and nothing waits for a later turn or the end, but
// for the upstream's last events, which leave with the stream's end once the call is settled.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ApiResponse, type StreamSink } from '../lib/http/api-response';
import { createCustomer, gatewayHarness } from './helpers/gateway';
import { nodeServerPerTest } from './helpers/node-server';

const EMPTY_REQUEST = { path: '/v1/stream', headers: {}, body: '' };

/** The chunks of a chunked HTTP/1.1 body as they arrive on the socket; once it closes, the status line and whether the body's last chunk came. */
function readChunks(
  port: number,
  onChunk: (text: string) => void,
  { path, headers, body }: { path: string; headers: Record<string, string>; body: string } = EMPTY_REQUEST,
  hangUp?: AbortSignal,
): Promise<{ status: string; complete: boolean }> {
  const head = [`POST ${path} HTTP/1.1`, 'host: localhost', `content-length: ${Buffer.byteLength(body)}`, 'connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head.join('\r\n')}\r\n\r\n${body}`));
    hangUp?.addEventListener('abort', () => socket.destroy());
    let raw = Buffer.alloc(0);
    let bodyAt = -1;
    let complete = false;
    socket.on('data', (data: Buffer) => {
      raw = Buffer.concat([raw, data]);
      if (bodyAt === -1) {
        const end = raw.indexOf('\r\n\r\n');
        if (end === -1) return;
        bodyAt = end + 4;
      }
      // Each chunk: its size in hex, CRLF, the bytes, CRLF (RFC 9112 §7.1).
      for (;;) {
        const line = raw.indexOf('\r\n', bodyAt);
        if (line === -1) return;
        const size = parseInt(raw.subarray(bodyAt, line).toString('latin1'), 16);
        if (raw.length < line + 2 + size + 2) return;
        if (size === 0) {
          complete = true;
          socket.end();
          return;
        }
        onChunk(raw.subarray(line + 2, line + 2 + size).toString('utf8'));
        bodyAt = line + 2 + size + 2;
      }
    });
    socket.on('close', () => resolve({ status: raw.subarray(0, raw.indexOf('\r\n')).toString('latin1'), complete }));
    socket.on('error', reject);
  });
}

describe('the Node server, sending a pushed body', () => {
  const servers = nodeServerPerTest();

  /** A server whose every answer is a pushed body; `sink` is the one the first request started, `nextSink` each later one's in turn. */
  async function pushedBodyServer(): Promise<{ port: number; sink: Promise<StreamSink>; nextSink: () => Promise<StreamSink> }> {
    const started: StreamSink[] = [];
    const waiting: Array<(sink: StreamSink) => void> = [];
    const nextSink = () => new Promise<StreamSink>((resolve) => {
      const sink = started.shift();
      if (sink) resolve(sink);
      else waiting.push(resolve);
    });
    const port = await servers.listen(
      async () =>
        new ApiResponse(200, { 'content-type': 'text/event-stream' }, {
          start: (sink) => {
            const waiter = waiting.shift();
            if (waiter) waiter(sink);
            else started.push(sink);
          },
          cancel: () => undefined,
        }),
    );
    return { port, sink: nextSink(), nextSink };
  }

  it('sends what one turn wrote as one chunk, each turn when it ends, the last with the end', async () => {
    const served = await pushedBodyServer();
    const arrived: string[] = [];
    const waiters: Array<() => void> = [];
    const done = readChunks(served.port, (text) => {
      arrived.push(text);
      waiters.shift()?.();
    });
    const nextChunk = () => new Promise<void>((resolve) => waiters.push(resolve));
    const sink = await served.sink;

    // One turn, three events, two of them after a microtask: one chunk.
    let chunk = nextChunk();
    sink.write('data: 1\n\n');
    await Promise.resolve();
    sink.write('data: 2\n\n');
    await Promise.resolve();
    sink.write('data: 3\n\n');
    await chunk;
    // It arrived before anything else was written: nothing waits for the stream's end.
    expect(arrived).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n']);

    chunk = nextChunk();
    sink.write('data: 4\n\n');
    await chunk;
    expect(arrived).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\n']);

    // The closing events go out with the end.
    chunk = nextChunk();
    sink.write('data: usage\n\n');
    sink.write('data: [DONE]\n\n');
    sink.close();
    await chunk;
    expect(await done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
    expect(arrived).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\n', 'data: usage\n\ndata: [DONE]\n\n']);
    // Written after the end: refused, and nothing more is sent.
    expect(sink.write('data: late\n\n')).toBe(false);
  });

  it('sizes each chunk in bytes: text beyond ASCII arrives whole, and the stream ends where it should', async () => {
    const served = await pushedBodyServer();
    const arrived: string[] = [];
    const done = readChunks(served.port, (text) => arrived.push(text));
    const sink = await served.sink;
    // Two, three and four bytes a character: a chunk sized in characters would end early and the
    // next size line would be read from inside the text.
    sink.write('data: {"content":"é€🙂"}\n\n');
    await new Promise((resolve) => setTimeout(resolve, 10));
    sink.write('data: 日本語\n\n');
    sink.write('data: [DONE]\n\n');
    sink.close();
    expect(await done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
    expect(arrived).toEqual(['data: {"content":"é€🙂"}\n\n', 'data: 日本語\n\ndata: [DONE]\n\n']);
  });

  /** A stream's chunks as they arrive, and a promise of the first. */
  function collect(port: number) {
    const arrived: string[] = [];
    let firstChunk!: () => void;
    const first = new Promise<void>((resolve) => (firstChunk = resolve));
    const done = readChunks(port, (text) => {
      arrived.push(text);
      firstChunk();
    });
    return { arrived, first, done };
  }

  it('while other requests are being answered, keeps what a finishing stream queued for its end: one chunk, however many turns the settlement takes', async () => {
    const served = await pushedBodyServer();
    // Another response in flight: its stream stays open until the end of the test.
    const other = collect(served.port);
    const otherSink = await served.sink;
    otherSink.write('data: other\n\n');
    await other.first;

    const stream = collect(served.port);
    const sink = await served.nextSink();
    sink.write('data: 1\n\n');
    await stream.first;
    expect(stream.arrived).toEqual(['data: 1\n\n']);

    // The upstream's last read, then word that it ended, in the same turn.
    sink.write('data: 2\n\n');
    sink.write('data: 3\n\n');
    sink.finishing();
    // The settlement's turns pass: nothing more is sent meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stream.arrived).toEqual(['data: 1\n\n']);

    sink.write('data: usage\n\n');
    sink.write('data: [DONE]\n\n');
    sink.close();
    expect(await stream.done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
    expect(stream.arrived).toEqual(['data: 1\n\n', 'data: 2\n\ndata: 3\n\ndata: usage\n\ndata: [DONE]\n\n']);
    otherSink.close();
    expect(await other.done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
  });

  it('alone, sends what a finishing stream queued at the end of its turn, as before: nobody waits for the CPU a write costs', async () => {
    const served = await pushedBodyServer();
    // A response served and closed before: no longer in flight.
    const earlier = collect(served.port);
    (await served.sink).close();
    expect(await earlier.done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });

    const stream = collect(served.port);
    const sink = await served.nextSink();
    sink.write('data: 1\n\n');
    sink.write('data: 2\n\n');
    sink.finishing();
    await stream.first;
    expect(stream.arrived).toEqual(['data: 1\n\ndata: 2\n\n']);
    sink.write('data: [DONE]\n\n');
    sink.close();
    expect(await stream.done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
    expect(stream.arrived).toEqual(['data: 1\n\ndata: 2\n\n', 'data: [DONE]\n\n']);
  });

  it('leaves the response of a pipelined request out of what is in flight, so that a connection dying under it leaves nothing counted', async () => {
    const served = await pushedBodyServer();
    // Two requests in one write: the second's response waits behind the first's. The connection
    // then dies with both open; Node closes only the first response.
    const socket = connect(served.port, '127.0.0.1', () =>
      socket.write('POST /v1/stream HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\nPOST /v1/stream HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n'),
    );
    socket.on('error', () => undefined);
    await served.sink;
    await served.nextSink();
    await new Promise<void>((resolve) => {
      socket.on('close', () => resolve());
      socket.destroy();
    });
    // Until the server has seen the connection close (and closed what it will).
    await new Promise<void>((resolve) => {
      const check = () => servers.server().getConnections((_, open) => (open === 0 ? resolve() : setTimeout(check, 5)));
      check();
    });

    // Alone again: a finishing stream's events leave at once.
    const stream = collect(served.port);
    const sink = await served.nextSink();
    sink.write('data: 1\n\n');
    sink.finishing();
    // Held, it would wait for close(): the test would time out here.
    await stream.first;
    expect(stream.arrived).toEqual(['data: 1\n\n']);
    sink.close();
    expect(await stream.done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
  });

  it('breaks a failed body off: neither what its turn wrote before the failure nor the end reaches the client', async () => {
    const served = await pushedBodyServer();
    const arrived: string[] = [];
    const done = readChunks(served.port, (text) => arrived.push(text));
    const sink = await served.sink;
    sink.write('data: 1\n\n');
    await new Promise((resolve) => setTimeout(resolve, 20));
    sink.write('data: 2\n\n');
    sink.fail();
    // The client must not take the answer for complete.
    expect(await done).toEqual({ status: 'HTTP/1.1 200 OK', complete: false });
    expect(arrived).toEqual(['data: 1\n\n']);
    expect(sink.write('data: 3\n\n')).toBe(false);
  });
});

describe('a streamed chat completion, as the Node server sends it', () => {
  const harness = gatewayHarness();

  /** The body's chunks, each with when it arrived (ms after the first); `onFirst` hears the first, `hangUp` closes the connection. */
  async function streamedChunks(content: string, onFirst?: () => void, hangUp?: AbortSignal): Promise<Array<{ text: string; at: number }>> {
    const { t, gw } = harness;
    const customer = await createCustomer(t.db, 1_000_000n);
    const chunks: Array<{ text: string; at: number }> = [];
    let start: number | undefined;
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content }] });
    const done = await readChunks(
      Number(new URL(gw.url).port),
      (text) => {
        if (start === undefined) onFirst?.();
        start ??= performance.now();
        chunks.push({ text, at: performance.now() - start });
      },
      { path: '/v1/chat/completions', headers: { authorization: `Bearer ${customer.secret}`, 'content-type': 'application/json' }, body },
      hangUp,
    );
    if (!hangUp) expect(done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
    return chunks;
  }

  it('from an upstream that answered in one read, leaves in one chunk while other calls are answered: its events wait for the settled end', async () => {
    harness.fake.reset();
    // Another call in flight meanwhile: a stream whose upstream pauses 10 s after its first event,
    // whose client hangs up once this test has what it needs.
    let otherStarted!: () => void;
    const started = new Promise<void>((resolve) => (otherStarted = resolve));
    const hangUp = new AbortController();
    const other = streamedChunks('Wait for me. [[fault:stall_ms=10000,stall_after=1]]', otherStarted, hangUp.signal);
    await started;
    // The fake upstream writes this whole stream at once, and the gateway reads it in one read.
    const chunks = await streamedChunks('Say hello.').finally(async () => {
      hangUp.abort();
      await other;
    });
    expect(chunks).toHaveLength(1);
    const events = chunks[0]!.text.split('\n\n').filter(Boolean);
    // The upstream's events (a role, words, the finish), the settled usage, then [DONE].
    expect(events.length).toBeGreaterThanOrEqual(4);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.at(-2)).toContain('"billing"');
    expect(events.some((event) => event.includes('"content"'))).toBe(true);
  });

  it('from an upstream that answered in one read, sends its events at once when answered alone, and the settled end after', async () => {
    harness.fake.reset();
    // One read, as above: the events then go in the turn they arrived, the end after the settlement.
    const chunks = await streamedChunks('Say hello.');
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.text).toContain('"content"');
    expect(chunks[0]!.text).not.toContain('"billing"');
    expect(chunks[1]!.text).toContain('"billing"');
    expect(chunks[1]!.text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('still streams what an upstream sends over time: its first events leave long before the end', async () => {
    harness.fake.reset();
    const chunks = await streamedChunks('Say hello slowly. [[fault:chunk_ms=40]]');
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks[0]!.text).not.toContain('[DONE]');
    expect(chunks.at(-1)!.text).toContain('data: [DONE]');
    // The fake sends an event every 40 ms: the end comes at least a few events after the start.
    expect(chunks.at(-1)!.at).toBeGreaterThan(80);
  });
});
