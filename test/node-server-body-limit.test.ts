// A body over the API's 1 MB limit is refused with a 413 in its surface's error shape, and the
// client gets to read it: a body declared too large is refused before any of it is read (with
// `Expect: 100-continue` it is never sent), the rest of one on its way is read and dropped so that
// the connection is not reset under the client's answer, and the connection then serves its next
// request. Past the drop's bound (17 MB in all) the connection is closed instead; so it is for a
// body sent with a GET.
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../lib/http/json';
import { UNREAD_BODY_LIMIT_BYTES } from '../lib/server/node-server';
import { createCustomer, gatewayHarness } from './helpers/gateway';

/** A raw HTTP/1.1 connection: what the server sends, as text, and whether it has closed. */
class RawConnection {
  readonly socket: Socket;
  received = '';
  closed = false;
  /** Bytes the server had let the client write when the connection ended. */
  written = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (data: Buffer) => {
      this.received += data.toString('latin1');
    });
    // The server may close or reset while the client is still writing: that is what some tests wait for.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.written = socket.bytesWritten;
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || !this.socket.write(text)) this.socket.once('drain', resolve).once('close', resolve);
      else resolve();
    });
  }

  /** Waits until `test` holds of what was received (or the connection closed), at most `ms`. */
  async until(test: (received: string) => boolean, ms = 5_000): Promise<string> {
    const deadline = performance.now() + ms;
    while (!test(this.received) && !this.closed && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    return this.received;
  }

  /** The n-th complete response (head and body), once it has arrived. */
  async response(n: number): Promise<{ head: string; body: string }> {
    const responses = () => splitResponses(this.received);
    await this.until(() => responses().length > n);
    const found = responses()[n];
    if (!found) throw new Error(`response ${n} never came; received ${JSON.stringify(this.received.slice(0, 300))}`);
    return found;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Complete responses with a Content-Length body, in order; interim 100 responses skipped. */
function splitResponses(text: string): Array<{ head: string; body: string }> {
  const out: Array<{ head: string; body: string }> = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return out;
    const head = rest.slice(0, end);
    if (/^HTTP\/1\.1 100 /.test(head)) {
      rest = rest.slice(end + 4);
      continue;
    }
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(length) || rest.length < end + 4 + length) return out;
    out.push({ head, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
}

/** Runs `exchange` on a new connection to `port`, closed afterwards whatever `exchange` did. */
async function onConnection(port: number, exchange: (connection: RawConnection) => Promise<void>): Promise<void> {
  const connection = await RawConnection.open(port);
  try {
    await exchange(connection);
  } finally {
    connection.close();
  }
}

function requestHead(path: string, secret: string, headers: string[], method = 'POST', version = '1.1'): string {
  return [`${method} ${path} HTTP/${version}`, 'host: localhost', 'content-type: application/json', `authorization: Bearer ${secret}`, ...headers].join('\r\n') + '\r\n\r\n';
}

const oversized = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY_BYTES + 1_000) }] });
const INVALID = '{"model": ';
const CHUNK = Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`);

/** The n-th answer on the connection is a 400 for an invalid body sent now: the connection still serves requests. */
async function expectServesNext(connection: RawConnection, secret: string, n: number): Promise<void> {
  await connection.send(requestHead('/v1/chat/completions', secret, [`content-length: ${INVALID.length}`]) + INVALID);
  const next = await connection.response(n);
  expect(next.head).toMatch(/^HTTP\/1\.1 400 /);
  expect(JSON.parse(next.body)).toMatchObject({ error: { code: 'invalid_json' } });
}

/** Sends 64 KiB chunks until the server closes the connection or `most` bytes have gone; returns how many went. */
async function sendChunksUntilClosed(connection: RawConnection, most: number): Promise<number> {
  let sent = 0;
  while (!connection.closed && sent < most) {
    await connection.send(CHUNK);
    sent += 0x10000;
  }
  await connection.until(() => connection.closed, 2_000);
  return sent;
}

describe('the Node server, a body over the limit', () => {
  const harness = gatewayHarness();
  const port = () => Number(new URL(harness.gw.url).port);

  it('answers 413, drops the rest of the body, declared or chunked, and serves the next request on the connection', async () => {
    const customer = await createCustomer(harness.t.db, 1_000_000n);
    const uploads = [
      { name: 'declared', head: [`content-length: ${Buffer.byteLength(oversized)}`], body: oversized },
      { name: 'chunked', head: ['transfer-encoding: chunked'], body: Buffer.concat([...Array.from({ length: 32 }, () => CHUNK), Buffer.from('0\r\n\r\n')]) },
    ];
    for (const upload of uploads) {
      await onConnection(port(), async (connection) => {
        await connection.send(requestHead('/v1/chat/completions', customer.secret, upload.head));
        await connection.send(upload.body);
        const refused = await connection.response(0);
        expect(refused.head, upload.name).toMatch(/^HTTP\/1\.1 413 /);
        expect(refused.head.toLowerCase(), upload.name).toContain('\r\nconnection: keep-alive');
        expect(JSON.parse(refused.body), upload.name).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_too_large' } });
        await expectServesNext(connection, customer.secret, 1);
      });
    }
  });

  it('refuses a body by its declared length before it arrives, in the surface’s error shape', async () => {
    const customer = await createCustomer(harness.t.db, 1_000_000n);
    for (const [path, shape] of [
      ['/v1/chat/completions', { error: { type: 'invalid_request_error', code: 'request_too_large' } }],
      ['/v1/messages', { type: 'error', error: { type: 'request_too_large' } }],
    ] as const) {
      await onConnection(port(), async (connection) => {
        // Five megabytes declared, 64 KiB sent: the answer comes while the client is still uploading.
        const declared = 5 * MAX_BODY_BYTES;
        await connection.send(requestHead(path, customer.secret, [`content-length: ${declared}`, 'anthropic-version: 2023-06-01']) + 'x'.repeat(65_536));
        const refused = await connection.response(0);
        expect(refused.head, path).toMatch(/^HTTP\/1\.1 413 /);
        expect(JSON.parse(refused.body), path).toMatchObject(shape);
        // The rest of the upload, then the connection's next request.
        await connection.send('x'.repeat(declared - 65_536));
        await expectServesNext(connection, customer.secret, 1);
      });
    }
  });

  it('with Expect: 100-continue, refuses an oversized body without asking for it and continues a small one', async () => {
    const customer = await createCustomer(harness.t.db, 1_000_000n);

    await onConnection(port(), async (big) => {
      await big.send(requestHead('/v1/chat/completions', customer.secret, [`content-length: ${2 * MAX_BODY_BYTES}`, 'expect: 100-continue']));
      const refused = await big.response(0);
      expect(big.received).not.toMatch(/^HTTP\/1\.1 100 /);
      expect(refused.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(refused.head.toLowerCase()).toContain('\r\nconnection: close');
      await big.until(() => big.closed);
      expect(big.closed).toBe(true);
    });

    await onConnection(port(), async (small) => {
      await small.send(requestHead('/v1/chat/completions', customer.secret, [`content-length: ${INVALID.length}`, 'expect: 100-continue']));
      await small.until((received) => received.includes('\r\n\r\n'));
      expect(small.received).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
      await small.send(INVALID);
      expect((await small.response(0)).head).toMatch(/^HTTP\/1\.1 400 /);
    });
  });

  it('drops up to 17 MB of a body in all and keeps the connection; past that, declared or sent, it closes', async () => {
    const customer = await createCustomer(harness.t.db, 1_000_000n);

    // Declared just within the bound: read to its end, and the connection serves on.
    await onConnection(port(), async (within) => {
      const declared = UNREAD_BODY_LIMIT_BYTES - 1_000;
      await within.send(requestHead('/v1/chat/completions', customer.secret, [`content-length: ${declared}`]));
      await within.send(Buffer.alloc(declared, 'x'));
      const refused = await within.response(0);
      expect(refused.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(refused.head.toLowerCase()).toContain('\r\nconnection: keep-alive');
      await expectServesNext(within, customer.secret, 1);
    });

    // Declared past it, over HTTP/1.1 or over HTTP/1.0 with Expect (which Node serves without asking
    // the server whether to continue): answered at once, and the connection goes with the answer.
    for (const [version, extra] of [['1.1', []], ['1.0', ['connection: keep-alive', 'expect: 100-continue']]] as const) {
      await onConnection(port(), async (declared) => {
        await declared.send(requestHead('/v1/chat/completions', customer.secret, [`content-length: ${UNREAD_BODY_LIMIT_BYTES + 1}`, ...extra], 'POST', version) + 'x'.repeat(65_536));
        const refused = await declared.response(0);
        expect(refused.head, version).toMatch(/^HTTP\/1\.[01] 413 /);
        expect(refused.head.toLowerCase(), version).toContain('\r\nconnection: close');
        await declared.until(() => declared.closed);
        expect(declared.closed, version).toBe(true);
      });
    }

    // Chunked, no length declared, on a POST and on a GET: read up to the bound, then closed.
    for (const [method, path] of [['POST', '/v1/chat/completions'], ['GET', '/v1/models']] as const) {
      await onConnection(port(), async (chunked) => {
        await chunked.send(requestHead(path, customer.secret, ['transfer-encoding: chunked'], method));
        const most = 4 * UNREAD_BODY_LIMIT_BYTES;
        const sent = await sendChunksUntilClosed(chunked, most);
        expect(chunked.closed, method).toBe(true);
        expect(sent, method).toBeGreaterThan(UNREAD_BODY_LIMIT_BYTES);
        expect(sent, method).toBeLessThan(most);
      });
    }
  });
});
