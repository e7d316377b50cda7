import type { IncomingMessage } from 'node:http';
import type { ClientPresence } from './client-presence';

/**
 * What the gateway reads from a request. A Web `Request` is one (Next's route handlers, the
 * tests); the Node server passes a lighter one over the socket's own request, with the body
 * already read (`bufferedBody`): on the hot path a Web Request, its Headers and its body stream
 * cost more than the rest of the gateway's own work.
 */
export type ApiRequest = {
  readonly method: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null; has(name: string): boolean };
  readonly signal: AbortSignal;
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body, when the server has read it already (at most the body limit plus one byte). */
  readonly bufferedBody?: Uint8Array;
  /** What `signal` tells, without making one: the Node server's requests (client-presence.ts). */
  onClientGone?(listener: () => void): void;
};

/** Calls `listener` once if the request's client leaves before its answer is written, at once if it already has. */
export function whenClientGone(request: ApiRequest, listener: () => void): void {
  if (request.onClientGone) {
    request.onClientGone(listener);
    return;
  }
  if (request.signal.aborted) listener();
  else request.signal.addEventListener('abort', listener, { once: true });
}

/** A Node request as an ApiRequest: header names lower case, as node:http gives them; `peer` replaces any client-sent PEER header. */
export function nodeApiRequest(req: IncomingMessage, body: Uint8Array | undefined, presence: ClientPresence, peerHeader: string, peer: string | null): ApiRequest {
  return new NodeApiRequest(req, body, presence, peerHeader, peer);
}

/**
 * A class, not an object literal with a getter: made per request, such a literal (its getter
 * defined on each object as it is made) kept each finished request's objects alive through the next
 * scavenges on Node 20 (measured: 0.65 KB promoted per request from this object alone; none as a
 * class). lib/extend.ts tells the same of literals that open with a spread.
 */
class NodeApiRequest implements ApiRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: NodeHeaders;
  readonly body = null;
  readonly bufferedBody: Uint8Array | undefined;
  readonly #presence: ClientPresence;

  constructor(req: IncomingMessage, body: Uint8Array | undefined, presence: ClientPresence, peerHeader: string, peer: string | null) {
    this.method = req.method ?? 'GET';
    this.url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
    this.headers = new NodeHeaders(req.headers, peerHeader, peer);
    this.bufferedBody = body;
    this.#presence = presence;
  }

  get signal(): AbortSignal {
    return this.#presence.signal;
  }

  onClientGone(listener: () => void): void {
    this.#presence.onGone(listener);
  }
}

class NodeHeaders {
  readonly #raw: IncomingMessage['headers'];
  readonly #peerHeader: string;
  readonly #peer: string | null;

  constructor(raw: IncomingMessage['headers'], peerHeader: string, peer: string | null) {
    this.#raw = raw;
    this.#peerHeader = peerHeader;
    this.#peer = peer;
  }

  get(name: string): string | null {
    const key = name.toLowerCase();
    if (key === this.#peerHeader) return this.#peer;
    const value = this.#raw[key];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }
}
