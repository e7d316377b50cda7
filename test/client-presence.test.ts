// A client that hangs up must reach the call it started, however early it leaves: the Node
// server tells its gateway requests through ClientPresence (no AbortSignal unless one is asked for).
import { request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { whenClientGone, type ApiRequest } from '../lib/http/api-request';
import { ApiResponse } from '../lib/http/api-response';
import { ClientPresence } from '../lib/http/client-presence';
import { logger } from '../lib/logger';
import { createNodeServer } from '../lib/server/node-server';

describe('ClientPresence', () => {
  it('tells each listener once, when the client leaves', () => {
    const presence = new ClientPresence();
    const heard: string[] = [];
    presence.onGone(() => heard.push('a'));
    presence.onGone(() => heard.push('b'));
    expect(heard).toEqual([]);
    presence.leave();
    presence.leave();
    expect(heard).toEqual(['a', 'b']);
    expect(presence.gone).toBe(true);
  });

  it('tells a listener that comes after the client left at once', () => {
    const presence = new ClientPresence();
    presence.leave();
    let heard = 0;
    presence.onGone(() => heard++);
    expect(heard).toBe(1);
  });

  it('makes a signal only when asked, aborted already if the client has left', () => {
    const before = new ClientPresence();
    const signal = before.signal;
    expect(before.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    before.leave();
    expect(signal.aborted).toBe(true);

    const after = new ClientPresence();
    after.leave();
    expect(after.signal.aborted).toBe(true);
  });
});

describe('whenClientGone', () => {
  it('reads a Web Request by its signal, before and after the abort', () => {
    const controller = new AbortController();
    const request = new Request('http://localhost/v1/models', { signal: controller.signal });
    let heard = 0;
    whenClientGone(request, () => heard++);
    controller.abort();
    expect(heard).toBe(1);
    whenClientGone(request, () => heard++);
    expect(heard).toBe(2);
  });
});

describe('the Node server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function listen(api: (request: ApiRequest) => Promise<ApiResponse>): Promise<string> {
    server = createNodeServer(async () => new Response('not the gateway', { status: 404 }), api);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Sends a request and hangs up once the handler has it; resolves when the socket is closed. */
  function hangUpAfter(url: string, arrived: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      const req = httpRequest(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => undefined);
      req.on('close', () => resolve());
      req.end('{}');
      void arrived.then(() => req.destroy());
    });
  }

  it('tells a gateway request whose client hung up mid-call, and one that asks only after it left', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const told: string[] = [];
    let abortedLate: boolean | undefined;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const url = await listen(async (request) => {
      const gone = new Promise<void>((resolve) => whenClientGone(request, resolve));
      whenClientGone(request, () => told.push('during'));
      arrived();
      // The hang-up has landed before the late listener registers.
      await gone;
      whenClientGone(request, () => told.push('after'));
      abortedLate = request.signal.aborted;
      finish();
      return new ApiResponse(200, { 'content-type': 'application/json' }, '{}');
    });
    await hangUpAfter(url, arrival);
    await finished;
    expect(told).toEqual(['during', 'after']);
    // A signal asked for after the hang-up is born aborted.
    expect(abortedLate).toBe(true);
  });

  it('runs nothing and logs no fault for a client that hangs up before its body ends, and serves the next one', async () => {
    const errors = vi.spyOn(logger, 'error');
    const left = vi.spyOn(logger, 'debug');
    onTestFinished(() => {
      errors.mockRestore();
      left.mockRestore();
    });
    let handled = 0;
    const url = await listen(async () => {
      handled++;
      return new ApiResponse(200, { 'content-type': 'application/json' }, '{"ok":true}');
    });
    const { port } = new URL(url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":');
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    // The server has seen the hang-up (and taken the quiet way) before anything is asserted.
    await vi.waitFor(() => expect(left).toHaveBeenCalledWith('node server: the client left before its request body ended', expect.anything()));
    expect(handled).toBe(0);
    expect(errors).not.toHaveBeenCalled();
    const next = await fetch(`${url}/v1/models`, { method: 'POST', body: '{}' });
    expect(await next.json()).toEqual({ ok: true });
    expect(handled).toBe(1);
  });

  it('tells nobody when the answer was written', async () => {
    const told: string[] = [];
    let request!: ApiRequest;
    const url = await listen(async (received) => {
      request = received;
      whenClientGone(received, () => told.push('gone'));
      return new ApiResponse(200, { 'content-type': 'application/json' }, '{"ok":true}');
    });
    const response = await fetch(`${url}/v1/models`);
    expect(await response.json()).toEqual({ ok: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(told).toEqual([]);
    expect(request.signal.aborted).toBe(false);
  });
});
