// The load generator: a minimal HTTP/1.1 keep-alive client on raw sockets (node:net), one request
// in flight per connection (no pipelining), timing every request with performance.now() (a
// monotonic, sub-microsecond clock).
//
// Why not autocannon or undici: autocannon cannot tell when a response's body starts and cuts
// the requests in flight when its run ends (each one a "client aborted" row in Tollgate's books);
// an undici Pool (pipelining 1) spent about 45 µs of this
// process's CPU per request against the direct upstream where this client spends about 32 µs, and
// on two cores every microsecond the generator burns is taken from the servers it measures. This
// client does the least work a client can: the request is encoded once, each connection is one
// reused state machine (no promise, timer or closure per request), each response is framed
// (Content-Length or chunked) and checked for one marker, and nothing else. The bench drives the
// direct upstream at 16 and 64 connections and prints this process's own CPU use beside every
// row, so each run shows whether the generator had headroom.
//
// A run stops *sending* at its deadline and lets the requests already in flight finish (up to
// DRAIN_MS, the per-request timeout): none is cut off midway, so every request Tollgate received
// was answered and can be checked against the books. Rates and latencies count only responses
// completed inside the window.
import { connect, type Socket } from 'node:net';

export type LoadOptions = {
  url: string;
  connections: number;
  durationSec: number;
  body: string;
  headers: Record<string, string>;
  /** A 2xx response whose body does not contain this counts as a mismatch. */
  expect: string;
  /** Per-request timeout; a slower request counts as a timeout and its connection is replaced. */
  timeoutMs?: number;
  /** Called at the deadline, before in-flight requests drain: where a caller reads its counters. */
  onWindowEnd?: () => void;
};

export type LatencySummary = { mean: number; p50: number; p90: number; p99: number; max: number };

export type LoadStats = {
  durationSec: number;
  /** Requests written to the wire, including those that finished after the deadline. */
  sent: number;
  /** Responses received, any status, in the window or while draining. */
  completed: number;
  /** 2xx responses received, in the window or while draining: what billing must match. */
  ok2xx: number;
  /** 2xx responses completed inside the measured window: what `rps` counts. */
  ok2xxInWindow: number;
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  /** 2xx responses whose body did not contain the expected marker. */
  mismatches: number;
  statusCodes: Record<string, number>;
  /** 2xx responses per second, inside the window. */
  rps: number;
  /** Milliseconds from writing the request to its last byte, over 2xx responses in the window. */
  latencyMs: LatencySummary;
  /**
   * Milliseconds from writing the request to the first byte of its body (for a chunked SSE
   * response, the first byte of the first non-empty chunk's data, not the headers, which a server
   * may flush before it has anything to say), over 2xx responses in the window.
   */
  ttfbMs: LatencySummary;
  /** 2xx responses completed in each whole second of the window. */
  perSecond: number[];
};

const DRAIN_MS = 30_000;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/** Growable float array: a 60 s run at 20,000 req/s keeps 1.2 M samples without boxing them. */
class Samples {
  private data = new Float64Array(4096);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** What every connection of one run shares. */
class Run {
  readonly latency = new Samples();
  readonly ttfb = new Samples();
  readonly perSecond: number[];
  readonly statusCodes: Record<string, number> = {};
  sent = 0;
  completed = 0;
  ok2xx = 0;
  ok2xxInWindow = 0;
  non2xx = 0;
  errors = 0;
  timeouts = 0;
  mismatches = 0;
  stopped = false;
  startedAt = 0;
  deadline = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly request: Buffer,
    readonly expect: Buffer,
    readonly timeoutMs: number,
    durationSec: number,
  ) {
    this.perSecond = new Array<number>(Math.ceil(durationSec)).fill(0);
  }

  record(status: number, startedAt: number, firstBodyAt: number, endedAt: number, body: Buffer | null): void {
    this.completed += 1;
    this.statusCodes[status] = (this.statusCodes[status] ?? 0) + 1;
    if (status < 200 || status >= 300) {
      this.non2xx += 1;
      return;
    }
    this.ok2xx += 1;
    if (body === null || !body.includes(this.expect)) this.mismatches += 1;
    if (endedAt > this.deadline) return;
    this.ok2xxInWindow += 1;
    this.latency.push(endedAt - startedAt);
    this.ttfb.push(firstBodyAt - startedAt);
    const second = Math.floor((endedAt - this.startedAt) / 1000);
    if (second < this.perSecond.length) this.perSecond[second]! += 1;
  }
}

type Framing = 'head' | 'length' | 'chunked' | 'close';

/** One keep-alive connection sending the request again as soon as each response is complete. */
class Connection {
  private socket: Socket | null = null;
  private connecting = false;
  // The exchange in progress
  private busy = false;
  private startedAt = 0;
  private firstBodyAt = 0;
  private status = 0;
  private keepAlive = true;
  private framing: Framing = 'head';
  /** Bytes left: of the body (length framing) or of the current chunk including its CRLF. */
  private remaining = 0;
  private pending: Buffer | null = null;
  private parts: Buffer[] = [];
  private resolveDone: (() => void) | null = null;
  readonly done: Promise<void>;

  constructor(private readonly run: Run) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    this.next();
  }

  /** Called once a second: a request older than the timeout is abandoned. */
  checkTimeout(now: number): void {
    if (this.busy && now - this.startedAt > this.run.timeoutMs) {
      this.run.timeouts += 1;
      this.fail();
    }
  }

  /** After the deadline: an idle connection ends now, a busy one when its response is complete. */
  stop(): void {
    if (!this.busy && !this.connecting) this.finishRun();
  }

  /** The drain took too long: whatever is still in flight counts as timed out. */
  abandon(): void {
    if (this.busy) {
      this.busy = false;
      this.run.errors += 1;
      this.run.timeouts += 1;
    }
    this.finishRun();
  }

  private finishRun(): void {
    this.socket?.destroy();
    this.socket = null;
    this.resolveDone?.();
    this.resolveDone = null;
  }

  private next(): void {
    if (this.run.stopped) {
      this.finishRun();
      return;
    }
    if (!this.socket || this.socket.destroyed) {
      this.open();
      return;
    }
    this.busy = true;
    this.framing = 'head';
    this.status = 0;
    this.keepAlive = true;
    this.firstBodyAt = 0;
    this.pending = null;
    this.parts = [];
    this.run.sent += 1;
    this.startedAt = performance.now();
    this.socket.write(this.run.request);
  }

  private open(): void {
    this.connecting = true;
    const socket = connect({ host: this.run.host, port: this.run.port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => {
      this.connecting = false;
      this.next();
    });
    socket.on('data', (data: Buffer) => this.onData(data));
    // Error is always followed by close.
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose(socket));
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    if (this.connecting) {
      // Could not connect: count it, and try again shortly (not in a hot loop).
      this.connecting = false;
      this.socket = null;
      this.run.errors += 1;
      if (this.run.stopped) this.finishRun();
      else setTimeout(() => this.next(), 50);
      return;
    }
    if (this.busy) {
      if (this.framing === 'close' && this.status !== 0) this.complete(performance.now());
      else this.fail();
      return;
    }
    this.socket = null;
  }

  private fail(): void {
    this.busy = false;
    this.run.errors += 1;
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    if (this.run.stopped) this.finishRun();
    else setImmediate(() => this.next());
  }

  private complete(at: number): void {
    this.busy = false;
    const { parts } = this;
    const body = parts.length === 0 ? Buffer.alloc(0) : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.run.record(this.status, this.startedAt, this.firstBodyAt || at, at, body);
    if (!this.keepAlive || this.framing === 'close') {
      this.socket?.destroy();
      this.socket = null;
    }
    this.next();
  }

  private body(chunk: Buffer, at: number): void {
    if (chunk.length === 0) return;
    if (this.firstBodyAt === 0) this.firstBodyAt = at;
    this.parts.push(chunk);
  }

  private onData(data: Buffer): void {
    const at = performance.now();
    if (!this.busy) return; // bytes nobody asked for (none are expected without pipelining)
    let buffer: Buffer = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = null;
    for (;;) {
      if (this.framing === 'head') {
        const end = buffer.indexOf(HEAD_END);
        if (end < 0) {
          this.pending = buffer;
          return;
        }
        this.parseHead(buffer.toString('latin1', 0, end));
        buffer = buffer.subarray(end + 4);
        continue;
      }
      if (this.framing === 'length') {
        const take = Math.min(this.remaining, buffer.length);
        this.body(buffer.subarray(0, take), at);
        this.remaining -= take;
        if (this.remaining === 0) this.complete(at);
        return;
      }
      if (this.framing === 'close') {
        this.body(buffer, at);
        return;
      }
      // chunked: "<hex size>[;ext]\r\n<data>\r\n" … "0\r\n[trailers]\r\n"
      if (this.remaining > 0) {
        // Inside a chunk: `remaining` counts its data and the CRLF after it.
        const dataLeft = Math.max(this.remaining - 2, 0);
        this.body(buffer.subarray(0, Math.min(dataLeft, buffer.length)), at);
        const consumed = Math.min(this.remaining, buffer.length);
        this.remaining -= consumed;
        buffer = buffer.subarray(consumed);
        if (this.remaining > 0) return;
        continue;
      }
      const lineEnd = buffer.indexOf(CRLF);
      if (lineEnd < 0) {
        this.pending = buffer.length > 0 ? buffer : null;
        return;
      }
      const size = parseInt(buffer.toString('latin1', 0, lineEnd), 16);
      if (!Number.isFinite(size)) {
        this.fail();
        return;
      }
      if (size === 0) {
        // The last chunk: a CRLF right away, or trailers ending in an empty line.
        const rest = buffer.subarray(lineEnd + 2);
        if ((rest.length >= 2 && rest[0] === 0x0d && rest[1] === 0x0a) || rest.indexOf(HEAD_END) >= 0) this.complete(at);
        else this.pending = buffer;
        return;
      }
      this.remaining = size + 2;
      buffer = buffer.subarray(lineEnd + 2);
    }
  }

  private parseHead(head: string): void {
    this.status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const header = (name: string): string | null => {
      const at = lower.indexOf(`\r\n${name}:`);
      if (at < 0) return null;
      const start = at + name.length + 3;
      const end = lower.indexOf('\r\n', start);
      return lower.slice(start, end < 0 ? undefined : end).trim();
    };
    const length = header('content-length');
    this.keepAlive = !(header('connection') ?? '').includes('close');
    if ((header('transfer-encoding') ?? '').includes('chunked')) {
      this.framing = 'chunked';
      this.remaining = 0;
    } else if (length !== null) {
      this.framing = 'length';
      this.remaining = Number(length);
    } else if (this.status === 204 || this.status === 304) {
      this.framing = 'length';
      this.remaining = 0;
    } else {
      this.framing = 'close';
    }
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadStats> {
  const url = new URL(options.url);
  if (url.protocol !== 'http:') throw new Error(`the load generator speaks plain http only, not ${url.protocol}`);
  const body = Buffer.from(options.body);
  const head = [
    `POST ${url.pathname}${url.search} HTTP/1.1`,
    `host: ${url.host}`,
    ...Object.entries(options.headers).map(([name, value]) => `${name}: ${value}`),
    `content-length: ${body.length}`,
    '',
    '',
  ].join('\r\n');
  const run = new Run(
    url.hostname,
    Number(url.port || 80),
    Buffer.concat([Buffer.from(head, 'latin1'), body]),
    Buffer.from(options.expect),
    options.timeoutMs ?? 30_000,
    options.durationSec,
  );
  const connections = Array.from({ length: options.connections }, () => new Connection(run));
  run.startedAt = performance.now();
  run.deadline = run.startedAt + options.durationSec * 1000;
  for (const connection of connections) connection.start();

  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.checkTimeout(now);
  }, 1000);
  await new Promise((resolve) => setTimeout(resolve, options.durationSec * 1000));
  options.onWindowEnd?.();
  // Stop sending; what is in flight finishes (or times out).
  run.stopped = true;
  for (const connection of connections) connection.stop();
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(connections.map((c) => c.done)), new Promise((resolve) => (drainTimer = setTimeout(resolve, DRAIN_MS)))]);
  clearTimeout(drainTimer);
  clearInterval(watchdog);
  for (const connection of connections) connection.abandon();

  return {
    durationSec: options.durationSec,
    sent: run.sent,
    completed: run.completed,
    ok2xx: run.ok2xx,
    ok2xxInWindow: run.ok2xxInWindow,
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
    mismatches: run.mismatches,
    statusCodes: run.statusCodes,
    rps: run.ok2xxInWindow / options.durationSec,
    latencyMs: summarize(run.latency.values()),
    ttfbMs: summarize(run.ttfb.values()),
    perSecond: run.perSecond,
  };
}

export function summarize(samples: ArrayLike<number>): LatencySummary {
  if (samples.length === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(samples).sort();
  // Nearest rank: the smallest sample with at least p% of all samples at or below it.
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  let total = 0;
  for (const value of sorted) total += value;
  return { mean: total / sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1]! };
}
