import type { CatalogOffering } from '../catalog/catalog';
import type { PushStream, StreamSink } from '../http/api-response';
import { paymentRequired, type HttpError } from '../http/errors';
import { logger } from '../logger';
import { UpstreamError, type PartialUsage, type UpstreamUsage } from '../providers/types';
import type { UpstreamSignal } from '../providers/upstream-signal';
import { abandonCall, growHold, type Call } from './call';
import type { GatewayContext } from './context';
import { abandonIdempotencyKey, completeIdempotencyKey } from './idempotency';
import { usageCost } from './pricing';
import { logSettleFailure, release, settle, usageSoFar, type Billing } from './settle';
import { estimateOutputTokens } from './tokens';
import { SSE_HEADERS } from './sse';

/** Idle timeouts a stream may go on sending keep-alives only (Claude's pings while it thinks) before it counts as stalled. */
const KEEPALIVE_ONLY_LIMIT = 10;

/** How one API dialect writes a stream: everything else about relaying it is the same for all. */
export type StreamDialect<E> = {
  /**
   * What one upstream event sends the client (null: nothing), the text it produced, the final usage
   * it reports, and what the upstream reported so far (the bill if the client leaves; see usageSoFar).
   */
  read(event: E): { send: string | null; produced: string; usage: UpstreamUsage | null; partialUsage?: PartialUsage };
  /** The closing events, once the call is settled. */
  finish(usage: UpstreamUsage, billing: Billing): string[];
  /** An upstream failure after the stream began, as the dialect's error event. */
  error(error: HttpError): string;
};

export type OpenedStream<E> = { offering: CatalogOffering; first: IteratorResult<E>; iterator: AsyncIterator<E> };

/**
 * Relays an upstream stream that has produced its first event (failover is over) and settles it:
 * - at the end, at the usage the upstream reported (or what was produced, counted);
 * - when the client leaves, at what was produced up to then and the prompt as the upstream reported
 *   it (its cache split included) if it did, else as counted; never more than the hold;
 * - when the upstream fails or stalls mid-stream, not at all (the hold is released).
 * An Idempotency-Key's record keeps the transcript, replayed as it was sent.
 */
export function relayStream<E>(ctx: GatewayContext, call: Call, opened: OpenedStream<E>, dialect: StreamDialect<E>): PushStream {
  return new StreamRelay(ctx, call, opened, dialect);
}

type Read = ReturnType<StreamDialect<unknown>['read']>;

/**
 * One relayed stream. A class rather than closures over the call: code run by tsx (the lean gateway
 * server, `npm run gateway`; `npm start` serves /v1 from Next's minified build) is compiled with
 * esbuild's keepNames, which gives every closure made per call an Object.defineProperty of its name
 * (~0.35 µs each on Node 20): seven a stream, when they were closures.
 */
class StreamRelay<E> implements PushStream {
  readonly #ctx: GatewayContext;
  readonly #call: Call;
  readonly #opened: OpenedStream<E>;
  readonly #dialect: StreamDialect<E>;
  readonly #transcript: string[] | null;
  #produced = '';
  #usage: UpstreamUsage | null = null;
  #partialUsage: PartialUsage | null = null;
  #clientGone = false;
  #sink: StreamSink | null = null;
  /** Set while a metered event waits for its payer: the idle timer does not count that wait. */
  #paused = false;

  constructor(ctx: GatewayContext, call: Call, opened: OpenedStream<E>, dialect: StreamDialect<E>) {
    this.#ctx = ctx;
    this.#call = call;
    this.#opened = opened;
    this.#dialect = dialect;
    this.#transcript = call.idempotencyRecordId ? [] : null;
  }

  start(sink: StreamSink): void {
    this.#sink = sink;
    const call = this.#call;
    this.#relay()
      .catch((error: unknown) => {
        // A fault of our own nothing below foresaw (settle, release and the Idempotency-Key's
        // completion never throw): the client's stream breaks rather than ending as if complete.
        logger.error('stream relay failed', { requestId: call.requestId, error });
        sink.fail();
      })
      .finally(() => {
        // Settled or released on every path below; should one throw before it, the holds stop
        // being kept alive and the sweeper returns them (a draw on a grant goes back).
        abandonCall(call);
      });
  }

  cancel(): void {
    this.#clientGone = true;
    this.#call.upstreamAbort.abort();
  }

  #send(text: string): void {
    // Recorded whether or not the client is still there: a call that completes after its client
    // left is charged in full, and a retry with its Idempotency-Key must replay the whole answer.
    this.#transcript?.push(text);
    if (this.#clientGone) return;
    if (!this.#sink!.write(text)) this.#clientGone = true;
  }

  /** A session's closing receipt (what the channel has spent, this call included): never fails the stream. */
  async #sendReceipt(): Promise<void> {
    const call = this.#call;
    if (!call.payment) return;
    const receipt = await call.payment.receiptEvent().catch((error: unknown) => {
      logger.error('could not write a session receipt', { requestId: call.requestId, error });
      return null;
    });
    if (receipt) this.#send(receipt);
  }

  /** Whether the event was more than a keep-alive: it produced output, or its usage moved. */
  #forward(read: Read): boolean {
    const before = this.#partialUsage;
    if (read.usage) this.#usage = read.usage;
    if (read.partialUsage) this.#partialUsage = read.partialUsage;
    this.#produced += read.produced;
    if (read.send) this.#send(read.send);
    const now = this.#partialUsage;
    const moved = now !== null && (before === null || now.prompt_tokens !== before.prompt_tokens || now.completion_tokens !== before.completion_tokens);
    return read.produced !== '' || read.usage !== null || moved;
  }

  /** Reads a metered call's event and waits until it is paid for; null: it never was. */
  async #admitPaid(event: E, meter: PaymentMeter, idle: NodeJS.Timeout): Promise<Read | null> {
    const read = this.#dialect.read(event);
    // Waiting for the payer is not the upstream stalling: the idle timer does not count it.
    this.#paused = true;
    try {
      return (await meter.cover(read.produced, read.partialUsage ?? this.#partialUsage)) ? read : null;
    } finally {
      this.#paused = false;
      idle.refresh();
    }
  }

  #usageSoFar(): UpstreamUsage {
    return usageSoFar(this.#call, this.#produced, this.#partialUsage);
  }

  async #relay(): Promise<void> {
    const sink = this.#sink!;
    const ctx = this.#ctx;
    const call = this.#call;
    const { offering, first, iterator } = this.#opened;
    const dialect = this.#dialect;
    const meter = call.payment && call.plan.holdAmount < call.payment.maxCost ? paymentMeter(ctx, call, offering, (text) => this.#send(text)) : null;

    // The SDKs stop timing a call once its headers arrive, so a stream that stalls would hang
    // (and outlive its hold): each event must come within the idle timeout, or the upstream call
    // is aborted and counts as the upstream's failure. One timer, pushed back on every event, those
    // that send the client nothing included: a keep-alive (Claude's ping) says the upstream is working.
    // Keep-alives alone, though, do not keep a stream (and its hold) open for ever: an upstream
    // stuck in a loop of pings is stalled once KEEPALIVE_ONLY_LIMIT idle timeouts pass without output.
    let stalled: string | null = null;
    const idle = setTimeout(() => {
      if (this.#paused) {
        idle.refresh();
        return;
      }
      stalled = `sent nothing for ${ctx.streamIdleTimeoutMs} ms mid-stream`;
      call.upstreamAbort.abort();
    }, ctx.streamIdleTimeoutMs);
    let progressAt = performance.now();
    let unpaid = false;
    try {
      if (!first.done) {
        // Unmetered (every call except a session stream started below its maximum): read as it comes, no await.
        const read = meter ? await this.#admitPaid(first.value, meter, idle) : dialect.read(first.value);
        if (read) this.#forward(read);
        else unpaid = true;
      }
      while (!unpaid) {
        const next = await iterator.next();
        if (next.done) {
          // The upstream ended: its last events, still queued if they came this turn, may leave
          // with the settled end (ChunkPerTurnSink.finishing).
          sink.finishing();
          break;
        }
        idle.refresh();
        const read = meter ? await this.#admitPaid(next.value, meter, idle) : dialect.read(next.value);
        if (!read) {
          unpaid = true;
          break;
        }
        if (this.#forward(read)) progressAt = performance.now();
        else if (performance.now() - progressAt > KEEPALIVE_ONLY_LIMIT * ctx.streamIdleTimeoutMs) {
          stalled = `sent only keep-alives for ${KEEPALIVE_ONLY_LIMIT * ctx.streamIdleTimeoutMs} ms mid-stream`;
          call.upstreamAbort.abort();
          break;
        }
      }
      if (stalled) throw new Error('stalled');
    } catch (caught) {
      const error = stalled ? new UpstreamError({ kind: 'timeout', providerId: offering.providerId, message: `${offering.providerId} ${stalled}` }) : caught;
      if (!stalled && (this.#clientGone || call.upstreamAbort.signal.aborted)) {
        // The client left: bill what was produced up to now, never more than the hold.
        await settle(ctx, call, offering, this.#usageSoFar(), 'CLIENT_ABORTED').catch(logSettleFailure(call));
        if (call.idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId }).catch(() => undefined);
        sink.close();
        return;
      }
      // The upstream failed mid-stream: the call failed, so nothing is charged (a seller's pool
      // is still drawn by what its key produced).
      this.#send(dialect.error(await release(ctx, call, error, { offering, usage: this.#usageSoFar() })));
      await this.#sendReceipt();
      sink.close();
      return;
    } finally {
      clearTimeout(idle);
    }

    if (unpaid) {
      // The payer did not cover more in time: the stream ends here, billed for what it delivered
      // (never more than the hold), and says why before its receipt.
      call.upstreamAbort.abort();
      await settle(ctx, call, offering, this.#usageSoFar(), 'CLIENT_ABORTED').catch(logSettleFailure(call));
      this.#send(dialect.error(paymentRequired('session_voucher_timeout', 'The stream stopped: the payment channel did not cover more in time (no voucher came for the payment-need-voucher event). You were billed for what was delivered.')));
      await this.#sendReceipt();
      if (call.idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId }).catch(() => undefined);
      sink.close();
      return;
    }

    const finalUsage = this.#usage ?? this.#usageSoFar();
    // A metered stream whose final usage came out above its hold (tokens the text did not show):
    // the hold takes what the channel has free, up to the maximum, before settling caps at it.
    if (meter) await meter.settleUp(finalUsage);
    const billing = await settle(ctx, call, offering, finalUsage, 'SUCCESS');
    for (const text of dialect.finish(finalUsage, billing)) this.#send(text);
    await this.#sendReceipt();
    sink.close();
    const transcript = this.#transcript;
    if (call.idempotencyRecordId && transcript) {
      await completeIdempotencyKey({
        db: ctx.db,
        recordId: call.idempotencyRecordId,
        statusCode: 200,
        body: transcript.join(''),
        contentType: SSE_HEADERS['content-type'],
      });
    }
  }
}

type PaymentMeter = ReturnType<typeof paymentMeter>;

/**
 * A session stream that started on less than its maximum (its payer covered less): each event's
 * cost is counted as it comes (the prompt as reported, else as counted, and the output so far);
 * at three quarters of the hold it asks the payer for the rest (`payment-need-voucher`), and an
 * event that would take the cost past the hold waits until the hold has grown to cover it.
 */
function paymentMeter(ctx: GatewayContext, call: Call, offering: CatalogOffering, send: (text: string) => void) {
  const payment = call.payment!;
  let outputTokens = 0;
  let pausedMs = 0;
  let covered: ((signal: UpstreamSignal) => Promise<boolean>) | null = null;
  const ask = async () => {
    const asked = await payment.askForMore(payment.maxCost - call.plan.holdAmount);
    send(asked.event);
    covered = asked.covered;
  };
  const cover = async (text: string, reported: PartialUsage | null): Promise<boolean> => {
    if (text) outputTokens += estimateOutputTokens(text);
    // What the upstream reported so far counts when it is more (hidden reasoning tokens are not in the text).
    const completion = Math.max(outputTokens, reported?.completion_tokens ?? 0);
    const promptTokens = reported && reported.prompt_tokens > 0 ? reported.prompt_tokens : call.plan.countedPromptTokens;
    const cost = usageCost(offering, { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, cached_tokens: reported?.cached_tokens });
    if (!covered && call.plan.holdAmount < payment.maxCost && cost * 4n >= call.plan.holdAmount * 3n) await ask();
    // Free money that the hold cannot take (a concurrent call took it first, or the hold is no
    // longer pending) is looked for a few times, not forever; and a payer trickling tiny vouchers
    // cannot keep the stream paused past MAX_PAUSE_MS in all.
    for (let misses = 0; cost > call.plan.holdAmount && call.plan.holdAmount < payment.maxCost; ) {
      if (!covered) await ask();
      const wait: (signal: UpstreamSignal) => Promise<boolean> = covered!;
      const started = performance.now();
      const arrived = await wait(call.upstreamAbort.signal);
      pausedMs += performance.now() - started;
      if (!arrived || pausedMs > MAX_PAUSE_MS) return false;
      covered = null;
      if ((await growHold(ctx, call, payment.maxCost - call.plan.holdAmount)) === 0n && ++misses >= 3) return false;
    }
    return true;
  };
  return {
    async settleUp(final: UpstreamUsage): Promise<void> {
      const cost = usageCost(offering, final);
      if (cost <= call.plan.holdAmount) return;
      const ceiling = cost < payment.maxCost ? cost : payment.maxCost;
      await growHold(ctx, call, ceiling - call.plan.holdAmount).catch((error: unknown) => logger.warn('could not grow a session hold before settling', { requestId: call.requestId, error }));
    },
    /** Whether the event may be sent: false when it was not paid for in time (or metering failed: the stream then ends, billed for what it delivered). */
    async cover(text: string, reported: PartialUsage | null): Promise<boolean> {
      try {
        return await cover(text, reported);
      } catch (error) {
        logger.error('metering a session stream failed; it ends here, billed for what it delivered', { requestId: call.requestId, error });
        return false;
      }
    },
  };
}

/** The longest a session stream may spend paused for vouchers, in all. */
const MAX_PAUSE_MS = 60_000;
