import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamAbort, abortSignalOf } from '../lib/providers/upstream-signal';

describe('UpstreamAbort', () => {
  it('tells each listener once, on the first abort only, with an AbortError as the reason', () => {
    const abort = new UpstreamAbort();
    const heard: string[] = [];
    const first = () => heard.push('first');
    const second = () => heard.push('second');
    abort.addEventListener('abort', first);
    abort.addEventListener('abort', first); // as EventTarget: the same listener twice is one listener
    abort.addEventListener('abort', second, { once: true });
    expect(abort.aborted).toBe(false);
    expect(abort.reason).toBeUndefined();
    abort.abort();
    abort.abort(new Error('later'));
    expect(heard).toEqual(['first', 'second']);
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBeInstanceOf(DOMException);
    expect((abort.reason as DOMException).name).toBe('AbortError');
  });

  it('keeps a given reason, forgets removed listeners, and ignores listeners added after the abort', () => {
    const abort = new UpstreamAbort();
    const heard: string[] = [];
    const removed = () => heard.push('removed');
    abort.addEventListener('abort', removed);
    abort.removeEventListener('abort', removed);
    const reason = new Error('client gone');
    abort.abort(reason);
    abort.addEventListener('abort', () => heard.push('late'));
    expect(heard).toEqual([]);
    expect(abort.reason).toBe(reason);
  });

  it('still tells the other listeners when one throws', () => {
    const abort = new UpstreamAbort();
    const heard: string[] = [];
    abort.addEventListener('abort', () => {
      throw new Error('listener failed');
    });
    abort.addEventListener('abort', () => heard.push('second'));
    abort.abort();
    expect(heard).toEqual(['second']);
  });

  it('makes a real AbortSignal only when asked, aborting with it (before or after it was made)', () => {
    const early = new UpstreamAbort();
    const signal = abortSignalOf(early);
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(abortSignalOf(early)).toBe(signal);
    expect(signal.aborted).toBe(false);
    const reason = new Error('stop');
    early.abort(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);

    const late = new UpstreamAbort();
    late.abort();
    const made = late.toAbortSignal();
    expect(made.aborted).toBe(true);
    expect(made.reason).toBe(late.reason);

    const real = AbortSignal.timeout(1_000);
    expect(abortSignalOf(real)).toBe(real);
  });
});

describe('UpstreamAbort as an undici request signal', () => {
  let server: Server;
  let url: string;
  const closed: Array<Promise<void>> = [];

  beforeAll(async () => {
    // A server that never answers: only the signal can end the request.
    server = createServer((req) => {
      closed.push(new Promise((resolve) => req.socket.once('close', () => resolve())));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('cuts a request in flight, which rejects with the abort reason, and the server sees the connection close', async () => {
    const abort = new UpstreamAbort();
    const pending = request(url, { method: 'POST', body: '{}', signal: abort.signal });
    await expect.poll(() => closed.length).toBe(1);
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await closed[0];
  });

  it('refuses to start a request whose call was aborted already', async () => {
    const abort = new UpstreamAbort();
    abort.abort(new Error('gone before the call'));
    await expect(request(url, { signal: abort.signal })).rejects.toThrow('gone before the call');
  });
});
