// A body over the API's limit is read no further and answered 413; its connection then closes,
// since the unread rest of the upload could not carry another request. Kept alive, it lingered
// until the server's keep-alive timeout with the client's upload stalled on it.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../lib/http/json';
import { createCustomer, gatewayHarness } from './helpers/gateway';

type Exchange = { head: string; closedAfterMs: number | null };

/**
 * One keep-alive request on a raw socket: the response's status line and headers, and how long after
 * they arrived the server closed the connection (null if it was still open after `waitMs`).
 */
function exchange(port: number, secret: string, body: string, waitMs: number): Promise<Exchange> {
  const head = ['POST /v1/chat/completions HTTP/1.1', 'host: localhost', 'content-type: application/json', `authorization: Bearer ${secret}`, `content-length: ${Buffer.byteLength(body)}`];
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head.join('\r\n')}\r\n\r\n${body}`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while the rest of an oversized upload is still being written.
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    let raw = '';
    let answeredAt: number | null = null;
    let timer: NodeJS.Timeout | undefined;
    const done = (closedAfterMs: number | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ head: raw.slice(0, raw.indexOf('\r\n\r\n')), closedAfterMs });
    };
    socket.on('data', (data: Buffer) => {
      raw += data.toString('latin1');
      if (answeredAt === null && raw.includes('\r\n\r\n')) {
        answeredAt = performance.now();
        timer = setTimeout(() => done(null), waitMs);
      }
    });
    socket.on('close', () => {
      if (answeredAt === null) reject(new Error(`the connection closed before an answer: ${JSON.stringify(raw.slice(0, 200))}`));
      else done(performance.now() - answeredAt);
    });
  });
}

describe('the Node server, a body over the limit', () => {
  const harness = gatewayHarness();

  it('answers 413 with Connection: close and closes the connection at once; an ordinary 4xx keeps it alive', async () => {
    const { t, gw } = harness;
    const customer = await createCustomer(t.db, 1_000_000n);
    const port = Number(new URL(gw.url).port);

    const huge = await exchange(port, customer.secret, JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY_BYTES + 1_000) }] }), 2_000);
    expect(huge.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(huge.head.toLowerCase()).toContain('\r\nconnection: close');
    expect(huge.closedAfterMs).not.toBeNull();
    expect(huge.closedAfterMs!).toBeLessThan(1_000);

    const invalid = await exchange(port, customer.secret, '{"model": ', 500);
    expect(invalid.head).toMatch(/^HTTP\/1\.1 400 /);
    expect(invalid.head.toLowerCase()).toContain('\r\nconnection: keep-alive');
    expect(invalid.closedAfterMs).toBeNull();
  });
});
