// How the Node server sends a pushed body: what the relay writes in one turn of the event loop
// leaves as one chunk of the chunked encoding, and nothing waits for a later turn or the end.
import { connect, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiResponse, type StreamSink } from '../lib/http/api-response';
import { createNodeServer } from '../lib/server/node-server';

/** The chunks of a chunked HTTP/1.1 body as they arrive on the socket; once it closes, the status line and whether the body's last chunk came. */
function readChunks(port: number, onChunk: (text: string) => void): Promise<{ status: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('POST /v1/stream HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
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

const utf8 = new TextEncoder();

describe('the Node server, sending a pushed body', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A server whose one answer is a pushed body, and the sink it was started with. */
  async function pushedBodyServer(): Promise<{ port: number; sink: Promise<StreamSink> }> {
    let started!: (sink: StreamSink) => void;
    const sink = new Promise<StreamSink>((resolve) => (started = resolve));
    server = createNodeServer(
      () => Promise.reject(new Error('not the gateway')),
      async () => new ApiResponse(200, { 'content-type': 'text/event-stream' }, { start: (s) => started(s), cancel: () => undefined }),
    );
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, sink };
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
    sink.write(utf8.encode('data: 1\n\n'));
    await Promise.resolve();
    sink.write(utf8.encode('data: 2\n\n'));
    await Promise.resolve();
    sink.write(utf8.encode('data: 3\n\n'));
    await chunk;
    // It arrived before anything else was written: nothing waits for the stream's end.
    expect(arrived).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n']);

    chunk = nextChunk();
    sink.write(utf8.encode('data: 4\n\n'));
    await chunk;
    expect(arrived).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\n']);

    // The closing events go out with the end.
    chunk = nextChunk();
    sink.write(utf8.encode('data: usage\n\n'));
    sink.write(utf8.encode('data: [DONE]\n\n'));
    sink.close();
    await chunk;
    expect(await done).toEqual({ status: 'HTTP/1.1 200 OK', complete: true });
    expect(arrived).toEqual(['data: 1\n\ndata: 2\n\ndata: 3\n\n', 'data: 4\n\n', 'data: usage\n\ndata: [DONE]\n\n']);
    // Written after the end: refused, and nothing more is sent.
    expect(sink.write(utf8.encode('data: late\n\n'))).toBe(false);
  });

  it('breaks a failed body off: neither what its turn wrote before the failure nor the end reaches the client', async () => {
    const served = await pushedBodyServer();
    const arrived: string[] = [];
    const done = readChunks(served.port, (text) => arrived.push(text));
    const sink = await served.sink;
    sink.write(utf8.encode('data: 1\n\n'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    sink.write(utf8.encode('data: 2\n\n'));
    sink.fail();
    // The client must not take the answer for complete.
    expect(await done).toEqual({ status: 'HTTP/1.1 200 OK', complete: false });
    expect(arrived).toEqual(['data: 1\n\n']);
    expect(sink.write(utf8.encode('data: 3\n\n'))).toBe(false);
  });
});
