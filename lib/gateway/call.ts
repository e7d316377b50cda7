import { whenClientGone, type ApiRequest } from '../http/api-request';
import { ApiResponse, type AnyResponse } from '../http/api-response';
import { HttpError } from '../http/errors';
import type { Billing } from './settle';
import type { KeyContext } from './auth';
import type { CallPayment, GatewayContext } from './context';
import { abandonIdempotencyKey, claimIdempotencyKey, completeIdempotencyKey, extendIdempotencyKey, requestHash } from './idempotency';
import { quotaHeaders, refuseIfRevoked } from './limits';
import { logger } from '../logger';
import { microsToUsd, type Micros } from '../money';
import type { CallSurface } from '../ledger/lots';
import type { PoolUse } from './failover';
import type { Hold } from '../ledger/holds';
import { reserve, type Reservation } from './reserve';
import { giveBackDraw } from './grants';
import { release } from './settle';
import type { RoutePlan } from './routing';
import { UpstreamAbort } from '../providers/upstream-signal';
import { dateAt, nowMs } from '../clock';

/** One paid call, from its reservation to its settlement: what every API dialect carries through reserve → call → settle. */
export type Call = {
  requestId: string;
  startedAt: number;
  key: KeyContext;
  plan: RoutePlan;
  stream: boolean;
  reservation: Reservation;
  idempotencyRecordId: string | null;
  /** Aborted when the client goes away or the relay stops; passed to the upstream call as its signal. */
  upstreamAbort: UpstreamAbort;
  /** Headers the principal adds to the response (an x402 settlement receipt). */
  principalHeaders: Record<string, string>;
  /** A payment that follows the call (a session's channel): receipts, and more hold mid-stream. */
  payment: CallPayment | null;
  /** Where the call came from: the web playground spends credit no seller should be paid from (below). */
  surface: CallSurface;
  /** The seller pool whose key serves the call, once one has (withFailover), with its hold. */
  pool: PoolUse | null;
  /** Extends the holds while the call lasts; stopped by its settlement or release (endCall). */
  keepAlive: NodeJS.Timeout;
};

export type CallStart = {
  request: ApiRequest;
  requestId: string;
  startedAt: number;
  key: KeyContext;
  plan: RoutePlan;
  /** The parsed body, for the Idempotency-Key's request fingerprint. */
  body: unknown;
  stream: boolean;
  surface: CallSurface;
  principalHeaders: Record<string, string>;
  payment?: CallPayment | null;
};

/**
 * Claims the request's Idempotency-Key (a repeat answers with the stored response) and reserves
 * the plan's maximum cost; from then on the call must end in a settlement or a release.
 */
export async function beginCall(ctx: GatewayContext, start: CallStart): Promise<Call | Response> {
  const { request, requestId, key } = start;
  let idempotencyRecordId: string | null = null;
  const idempotencyKey = request.headers.get('idempotency-key');
  if (idempotencyKey) {
    const claim = await claimIdempotencyKey({ db: ctx.db, scope: key.keyId ?? key.rateLimitId, key: idempotencyKey, hash: requestHash(start.body), inProgressMs: ctx.holdTtlMs });
    if (claim.kind === 'replay') {
      await refuseIfRevoked(ctx.db, key);
      return withHeader(claim.response, 'x-request-id', requestId);
    }
    idempotencyRecordId = claim.recordId;
  }
  let reservation: Reservation;
  try {
    // A grant pays neither a call with an Idempotency-Key (its stored answer is written with its
    // settlement) nor one with a payment that follows it (its hold grows with the payer's cover).
    reservation = await reserve(ctx, key, start.plan, requestId, start.surface, idempotencyRecordId === null && !start.payment);
  } catch (error) {
    if (idempotencyRecordId) await abandonIdempotencyKey({ db: ctx.db, recordId: idempotencyRecordId });
    // A session's payer is told how much more to sign, in the payment's own terms.
    if (start.payment && error instanceof HttpError && error.code === 'insufficient_credits') return withHeader(await start.payment.shortOfFunds(), 'x-request-id', requestId);
    throw error;
  }
  if (start.payment) {
    const refused = await start.payment.confirm();
    if (refused) {
      // Reserved as its channel began to close: given back at once, nothing served or charged.
      const provisional = { requestId, startedAt: start.startedAt, key, plan: start.plan, stream: start.stream, reservation, idempotencyRecordId, upstreamAbort: new UpstreamAbort(), principalHeaders: {}, payment: null, surface: start.surface, pool: null, keepAlive: setTimeout(() => undefined, 0) };
      await release(ctx, provisional, new HttpError({ status: 410, type: 'invalid_request_error', code: 'session_channel_closing', message: 'The payment channel began closing.' }));
      return withHeader(refused, 'x-request-id', requestId);
    }
  }
  const upstreamAbort = new UpstreamAbort();
  // A client that left while the key was claimed or the money reserved is told at once: the call
  // would otherwise run (and be billed) for no one.
  whenClientGone(request, () => upstreamAbort.abort());
  const call: Call = {
    requestId,
    startedAt: start.startedAt,
    key,
    plan: start.plan,
    stream: start.stream,
    reservation,
    idempotencyRecordId,
    upstreamAbort,
    principalHeaders: start.principalHeaders,
    payment: start.payment ?? null,
    surface: start.surface,
    pool: null,
    // The seller pool's hold too, once a pool serves the call (read at each tick).
    keepAlive: keepHoldsAlive(ctx, requestId, idempotencyRecordId, () => [...call.reservation.holds, ...(call.pool ? [call.pool.hold] : [])]),
  };
  return call;
}

/**
 * A hold lives HOLD_TTL_MS so that a call whose process died is released by the sweeper; a call
 * still in progress, such as a stream longer than that (64k tokens at 50 a second is 21 minutes),
 * must keep it, or the sweeper releases its money mid-stream and the settlement at the end finds
 * nothing to settle: a call served in full and never charged. So every third of the TTL, the
 * call's holds (and its Idempotency-Key's in-progress record) are pushed a whole TTL further.
 * Nothing extends them once the process is gone.
 */
function keepHoldsAlive(ctx: GatewayContext, requestId: string, idempotencyRecordId: string | null, holds: () => Hold[]): NodeJS.Timeout {
  const timer = setInterval(
    () => {
      const holdIds = holds().map((hold) => hold.id);
      const expiresAt = dateAt(nowMs() + ctx.holdTtlMs);
      // The Idempotency-Key's in-progress record lives as long as the holds, for the same reason.
      if (idempotencyRecordId) {
        extendIdempotencyKey({ db: ctx.db, recordId: idempotencyRecordId, expiresAt }).catch((error: unknown) =>
          logger.warn('could not extend the Idempotency-Key of a call in progress', { requestId, error }),
        );
      }
      ctx.ledger
        .extendHolds(holdIds, expiresAt)
        .then((extended) => {
          // Released already (the event loop stalled past the TTL, or clocks disagree): the money
          // is no longer reserved, so the settlement can only charge what the sources still have
          // (Ledger.settleLate). Loud, so that an operator sees it.
          if (extended < holdIds.length) logger.error('a call in progress lost its hold to the sweeper; it will be charged only what its sources still have', { requestId, holdIds });
        })
        .catch((error: unknown) => logger.warn('could not extend the holds of a call in progress', { requestId, error }));
    },
    // setInterval turns a delay past 2^31-1 ms into 1 ms.
    Math.min(Math.max(ctx.holdTtlMs / 3, 50), 2 ** 31 - 1),
  );
  timer.unref();
  return timer;
}

/** The call is over (settling, releasing or failing): its holds are left to their settlement or to the sweeper. */
export function endCall(call: Call): void {
  clearInterval(call.keepAlive);
}

/**
 * A call ended by a fault of our own before its settlement or release: its holds stop being kept
 * alive (the sweeper returns them), and a draw on a grant goes back whole, as those holds would.
 */
export function abandonCall(call: Call): void {
  endCall(call);
  if (call.reservation.grant) giveBackDraw(call.reservation.grant);
}

/**
 * Runs a dialect's upstream part of a call. Every upstream failure is released there; anything
 * thrown out of it is a fault of our own, so the holds stop being kept alive and the sweeper
 * returns them.
 */
export async function runCall(call: Call, run: () => Promise<AnyResponse>): Promise<AnyResponse> {
  try {
    return await run();
  } catch (error) {
    abandonCall(call);
    throw error;
  }
}

/**
 * A call whose upstream failed, its hold released: the error to throw, carrying the call's
 * headers (its counters, a cost of 0), for the route's wrapper to write in its dialect's shape.
 */
export function failedCall(call: Call, error: HttpError): HttpError {
  for (const [name, value] of Object.entries(callHeaders(call, 0n))) error.headers[name] ??= value;
  return error;
}

/**
 * A settled call's whole answer as one JSON body: the key's counters now count the actual cost
 * rather than the hold (a stream's headers leave before its cost is known, and count the hold),
 * and an Idempotency-Key's record keeps the body for replays.
 */
export async function settledJson(ctx: GatewayContext, call: Call, billing: Billing, payload: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const counters = call.reservation.counters;
  call.reservation.counters = { ...counters, committedToday: counters.committedToday - (call.plan.holdAmount - billing.cost), spentToday: counters.spentToday + billing.cost };
  const text = JSON.stringify(payload);
  if (call.idempotencyRecordId) {
    await completeIdempotencyKey({ db: ctx.db, recordId: call.idempotencyRecordId, statusCode: 200, body: text, contentType: 'application/json' });
  }
  const receipt = call.payment ? await call.payment.receiptHeaders() : {};
  return new ApiResponse(200, { 'content-type': 'application/json', ...callHeaders(call, billing.cost), ...receipt, ...headers }, text);
}

/** A stream's first headers: the call's, and the payment's receipt as the stream starts (what was spent before it). */
export async function streamHeaders(call: Call): Promise<Record<string, string>> {
  const headers = callHeaders(call, null);
  return call.payment ? Object.assign(headers, await call.payment.receiptHeaders()) : headers;
}

/**
 * Grows the call's hold by up to `extra` from what its payer has free (a session's stream, as
 * vouchers come in); returns what it added. The plan's hold is what settlement caps the cost at.
 */
export async function growHold(ctx: GatewayContext, call: Call, extra: Micros): Promise<Micros> {
  const hold = call.reservation.holds[call.reservation.holds.length - 1]!;
  const added = await ctx.ledger.growHold(hold, extra);
  if (added > 0n) {
    hold.amount += added;
    call.plan = { ...call.plan, holdAmount: call.plan.holdAmount + added };
  }
  return added;
}

/** Every paid answer's headers: the principal's, the key's daily counters, the request id and (once known) the cost. */
export function callHeaders(call: Call, cost: Micros | null): Record<string, string> {
  // The request id first: a literal that opens with a spread gets a new hidden class per call on
  // Node 20 (lib/extend.ts). Neither the principal's headers nor the counters' set it.
  return {
    'x-request-id': call.requestId,
    ...call.principalHeaders,
    ...quotaHeaders(call.key, call.reservation.counters),
    ...(cost !== null ? { 'x-tollgate-cost-usd': microsToUsd(cost) } : {}),
  };
}

export function withHeader(response: Response, name: string, value: string): Response {
  const headers = new Headers(response.headers);
  headers.set(name, value);
  return new Response(response.body, { status: response.status, headers });
}
