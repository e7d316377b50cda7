import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { nodeApiRequest, type ApiRequest } from '../http/api-request';
import { extended } from '../extend';
import { ClientPresence } from '../http/client-presence';
import type { AnyResponse, ApiResponse, StreamSink } from '../http/api-response';
import { PEER_HEADER, normalizeAddress, trustPeerHeader } from '../http/client-address';
import { internalError } from '../http/errors';
import { MAX_BODY_BYTES } from '../http/json';
import { logger } from '../logger';

export type WebHandler = (request: Request) => Promise<Response>;
/** A handler that reads only what ApiRequest offers (the gateway's): served without building a Web Request or Response. */
export type ApiHandler = (request: ApiRequest) => Promise<AnyResponse>;

/**
 * Serves a Web-standard handler over node:http with no framework in between: the lean entry for
 * /v1 when Next's router is the ceiling. Bodies are buffered up to the API's 1 MB limit (one
 * byte more, so the handler can still answer 413), and a client that hangs up is told to the
 * handler (ClientPresence: the request's signal, or its onClientGone listeners) and cancels the
 * response stream.
 */
export function createNodeServer(handler: WebHandler, api?: ApiHandler): Server {
  trustPeerHeader();
  const route = (req: IncomingMessage, res: ServerResponse) => (api && isGatewayPath(req.url) ? serveApi(api, req, res) : serveWeb(handler, req, res));
  return createServer(route).on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    continueUnlessTooLarge(req, res);
    route(req, res);
  });
}

/**
 * For a server's 'checkContinue' event (an HTTP/1.1 request sent with `Expect: 100-continue`, as
 * curl does for bodies over 1 MB), before the request is served: a body declared over the API's
 * limit is not asked for, so the client never uploads it (the handler refuses the request from its
 * declared length: a 413, unless its key or route refuses it first), and the connection closes
 * after the answer, since the client may still send the body once it tires of waiting (Node would
 * close it anyway: no 100 was sent). Any other body is asked for.
 */
export function continueUnlessTooLarge(req: IncomingMessage, res: ServerResponse): void {
  if (declaredLength(req) > MAX_BODY_BYTES) res.shouldKeepAlive = false;
  else res.writeContinue();
}

/** The request's Content-Length, or 0 when it declares none (a chunked body, counted as it is read). */
function declaredLength(req: IncomingMessage): number {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) ? declared : 0;
}

/** Serves one request with a Web-standard handler; a failure is a JSON 500 without details. */
export function serveWeb(handler: WebHandler, req: IncomingMessage, res: ServerResponse): void {
  serveWith(handler, req, res, false);
}

/** The same for the gateway's handlers, which need no Web Request: the hot path. */
export function serveApi(handler: ApiHandler, req: IncomingMessage, res: ServerResponse): void {
  serveWith(handler as WebHandler, req, res, true);
}

function serveWith(handler: WebHandler, req: IncomingMessage, res: ServerResponse, light: boolean): void {
  serve(handler as ApiHandler, req, res, light).catch((error: unknown) => {
    logger.error('node server: unhandled error', { error });
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify(internalError().toJSON()));
  });
}

/** The paths the framework-free gateway answers itself: /v1 and everything under it, and /health. */
export function isGatewayPath(url: string | undefined): boolean {
  if (!url) return false;
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  return path === '/health' || path === '/v1' || path.startsWith('/v1/');
}

/**
 * Requests this process is answering through serve() (under scripts/server.ts: /v1 and /health,
 * not Next's pages), from arrival until the response closes: whether other calls may be waiting for
 * the CPU a socket write costs (ChunkPerTurnSink.finishing). A pipelined request, whose response
 * waits behind another on its connection, is not counted: Node 20 never closes that response if
 * the connection dies first, and the count would never come back down.
 */
let requestsInFlight = 0;

async function serve(handler: ApiHandler, req: IncomingMessage, res: ServerResponse, light: boolean) {
  // Read before the body: once the request is consumed the socket may already be detached.
  const peer = req.socket?.remoteAddress;
  const presence = new ClientPresence();
  // serve() runs inside the server's 'request' event: a response without its socket is a pipelined one.
  const counted = res.socket !== null && !res.destroyed;
  if (counted) requestsInFlight += 1;
  res.on('close', () => {
    if (counted) requestsInFlight -= 1;
    if (!res.writableFinished) presence.leave();
  });
  let body: Uint8Array<ArrayBuffer> | undefined;
  if (req.method === 'GET' || req.method === 'HEAD') {
    // A body on a GET or HEAD means nothing here; left to Node, it would be read to its end, however long.
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) dropUnreadBody(req, res, 0);
  } else if (declaredLength(req) > MAX_BODY_BYTES) {
    // Refused by its declared length before any of it is read: the handler answers 413 from the
    // header (readJsonBody), in its surface's error shape, while what the client sends is dropped.
    body = new Uint8Array(0);
    dropUnreadBody(req, res, 0);
  } else {
    try {
      body = await readBody(req, MAX_BODY_BYTES + 1);
    } catch {
      // Reading a body fails only when its connection does (the client left mid-upload, or Node gave
      // up on the request, a timeout or a malformed chunk, and closed the socket): there is no one
      // to answer, nothing ran, and it is no fault of ours to log with a stack.
      logger.debug('node server: the client left before its request body ended', { url: req.url });
      res.destroy();
      return;
    }
    if (body.byteLength > MAX_BODY_BYTES) dropUnreadBody(req, res, body.byteLength);
  }
  // The socket's address, replacing any value the client sent: rate limits and the mailbox trust it.
  const stamped = peer ? normalizeAddress(peer) : null;
  const response = await handler(light ? nodeApiRequest(req, body, presence, PEER_HEADER, stamped) : webRequest(req, body, presence.signal, stamped));
  // Told apart by the global Response, never by ApiResponse's class: under `npm start` the gateway
  // may come from Next's bundle (instrumentation.ts), a copy of lib/http whose ApiResponse is
  // another class than this module's, and `instanceof ApiResponse` would then fail every call.
  if (!(response instanceof Response)) {
    writeApiResponse(response, res);
    return;
  }
  const outHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    outHeaders[name] = value;
  });
  if (!response.body) {
    res.writeHead(response.status, outHeaders);
    res.end();
    return;
  }
  if (!outHeaders['content-type']?.startsWith('text/event-stream')) {
    // A whole answer (JSON): one write with its length, no chunked encoding.
    const bytes = Buffer.from(await response.arrayBuffer());
    outHeaders['content-length'] = String(bytes.byteLength);
    res.writeHead(response.status, outHeaders);
    res.end(bytes);
    return;
  }
  res.writeHead(response.status, outHeaders);
  const reader = response.body.getReader();
  presence.onGone(() => void reader.cancel().catch(() => undefined));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      if (presence.gone) return;
    }
  } catch (error) {
    if (!presence.gone) throw error;
  }
  res.end();
}

/** The gateway's own answer, written as it is: text in one write with its length, a stream as it is pushed. */
function writeApiResponse({ status, headers, body }: ApiResponse, res: ServerResponse): void {
  if (typeof body === 'string') {
    res.writeHead(status, extended(headers, { 'content-length': String(Buffer.byteLength(body)) }));
    res.end(body);
    return;
  }
  res.writeHead(status, headers);
  // When the client leaves, the call hears it (the 'close' handler above) and stops the
  // upstream call and the relay with it. Like a Web stream's start(), the relay pushes as the
  // upstream sends without waiting for the socket to drain: what a slow client has not read yet
  // waits in Node's buffer, bounded by the answer's max_tokens.
  body.start(new ChunkPerTurnSink(res));
}

/**
 * A stream's sink on a Node response. What the relay pushes in one turn (the events of one upstream
 * read, which arrive together) goes out as one chunk of the chunked encoding: Node would send them
 * in one system call anyway, but writes each as a chunk of its own, at four writes to the socket's
 * buffer apiece. The exception: once the upstream has ended, its last read's events may wait and
 * leave with the stream's end (finishing). A class rather than closures: under tsx (both servers'
 * entry) esbuild's keepNames gives every closure made per call an Object.defineProperty of its name
 * (~0.35 µs each on Node 20).
 */
class ChunkPerTurnSink implements StreamSink {
  readonly #res: ServerResponse;
  #queued: string[] = [];
  /** Set by finishing() while another request is in flight: what is queued waits for close() and leaves with the end, in one write. */
  #holdForEnd = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  write(text: string): boolean {
    const res = this.#res;
    if (res.destroyed || res.writableEnded) return false;
    // Flushed at the end of this turn, as Node uncorks a socket: after the microtasks already
    // queued when written from one (as the relay writes, after an await), before them otherwise.
    if (this.#queued.push(text) === 1) process.nextTick(flushSink, this);
    return true;
  }

  /**
   * The upstream ended. While other requests are being answered, its last read's events wait for
   * the stream's end (after the settlement: a batched database write), so that both leave in one
   * socket write instead of two. A write costs tens of µs of CPU that those requests wait for, and
   * the client cannot finish the stream before the settlement anyway. Alone, they leave at once:
   * nobody waits for that CPU, and a stream that came in one read keeps its time to first byte.
   */
  finishing(): void {
    if (requestsInFlight > 1) this.#holdForEnd = true;
  }

  close(): void {
    if (!this.#res.writableEnded) this.#res.end(this.#queued.length > 0 ? this.#joined() : undefined);
  }

  /**
   * Once ended, what is written is the whole answer: nothing left to break. Before, what is queued
   * (held for the end included) is dropped with the broken stream.
   */
  fail(): void {
    this.#queued = [];
    if (!this.#res.writableEnded) this.#res.destroy();
  }

  /** Writes what this turn queued (flushSink, on process.nextTick). */
  flush(): void {
    const res = this.#res;
    if (this.#queued.length > 0 && !this.#holdForEnd && !res.destroyed && !res.writableEnded) res.write(this.#joined());
  }

  /** One string, encoded by the socket's write (Node sizes each chunk of the chunked encoding in bytes). */
  #joined(): string {
    const queued = this.#queued;
    this.#queued = [];
    return queued.length === 1 ? queued[0]! : queued.join('');
  }
}

function flushSink(sink: ChunkPerTurnSink): void {
  sink.flush();
}

function webRequest(req: IncomingMessage, body: Uint8Array<ArrayBuffer> | undefined, signal: AbortSignal, peer: string | null): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  headers.delete(PEER_HEADER);
  if (peer) headers.set(PEER_HEADER, peer);
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: req.method, headers, body, signal });
}

/** The most of a body the server reads when it does not use it (one refused for its size, one on a GET): 17 MB. */
export const UNREAD_BODY_LIMIT_BYTES = 17 * MAX_BODY_BYTES;

/**
 * The rest of a body the server does not use (about `read` bytes of it already read), read and dropped
 * while the answer goes out. A client uploading it reads the answer only once it has sent
 * everything, and closing the connection on unread bytes makes the kernel reset it, which can
 * discard the answer before the client reads it (RFC 9112 §9.6); once the body ends, the connection
 * serves its next request. A body that runs past UNREAD_BODY_LIMIT_BYTES in all, or declares it
 * will, closes its connection instead: reading it would only feed whoever sends it.
 */
function dropUnreadBody(req: IncomingMessage, res: ServerResponse, read: number): void {
  if (declaredLength(req) > UNREAD_BODY_LIMIT_BYTES) res.shouldKeepAlive = false;
  let left = UNREAD_BODY_LIMIT_BYTES - read;
  const drop = (chunk: Buffer) => {
    left -= chunk.length;
    if (left >= 0) return;
    req.off('data', drop);
    req.socket.destroy();
  };
  req.on('data', drop).resume();
}

/**
 * A request's body, buffered up to `limit` bytes. Read from the stream's events rather than with
 * `for await`: the async iterator makes a few promises a chunk, and while anything in the process
 * uses AsyncLocalStorage (Next, around the pages it serves) Node 20 and 22 run hooks on every promise.
 * A body that reaches the limit is read no further here (the request is paused, for the caller to
 * drop the rest: dropUnreadBody), and a request that ends early (the client left) is an error.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => new BodyReader(req, limit, resolve, reject).listen());
}

/** One body being read. A class whose listeners are bound methods, not closures: `bind` makes no `__name` call, where tsx's keepNames names each closure as it is made (test/hot-path-costs.test.ts). */
class BodyReader {
  readonly #req: IncomingMessage;
  readonly #limit: number;
  readonly #resolve: (body: Uint8Array<ArrayBuffer>) => void;
  readonly #reject: (error: Error) => void;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  readonly #onData = this.#data.bind(this);
  readonly #onEnd = this.#end.bind(this);
  readonly #onError = this.#error.bind(this);
  readonly #onClose = this.#close.bind(this);

  constructor(req: IncomingMessage, limit: number, resolve: (body: Uint8Array<ArrayBuffer>) => void, reject: (error: Error) => void) {
    this.#req = req;
    this.#limit = limit;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  listen(): void {
    this.#req.on('data', this.#onData).on('end', this.#onEnd).on('error', this.#onError).on('close', this.#onClose);
  }

  #data(chunk: Buffer): void {
    this.#size += chunk.length;
    this.#chunks.push(chunk);
    if (this.#size < this.#limit) return;
    this.#end();
    this.#req.pause();
  }

  #end(): void {
    this.#stop();
    const whole = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#resolve(new Uint8Array(whole.subarray(0, this.#limit)));
  }

  #error(error: Error): void {
    this.#stop();
    this.#reject(error);
  }

  #close(): void {
    this.#error(Object.assign(new Error('the client closed the request before its body ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  }

  #stop(): void {
    this.#req.off('data', this.#onData).off('end', this.#onEnd).off('error', this.#onError).off('close', this.#onClose);
  }
}
