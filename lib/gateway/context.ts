import type { ApiRequest } from '../http/api-request';
import type { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import type { TrustedProxies } from '../http/client-address';
import type { Ledger } from '../ledger/ledger';
import type { ProviderFactory } from '../providers/registry';
import type { UpstreamSignal } from '../providers/upstream-signal';
import type { PoolDirectory } from '../sellers/pool-directory';
import type { Micros } from '../money';
import type { KeyCache, KeyContext } from './auth';
import type { GrantBook } from './grants';
import type { RateLimiter } from './rate-limit';
import type { ChatCompletionRequest } from './schema';

/**
 * Pay without an account: x402 (one payment per request) or a session (a payment channel, paid
 * as the call goes). Consulted for /v1/chat/completions and /v1/responses calls that carry no API
 * key. It returns the payer as the call's principal once paid, with headers to add to the
 * response (and, for a session, the payment that follows the call); or a Response to send as it is
 * (a 402 challenge, a refusal, a 503 when settlement is off). Nothing has been reserved or charged
 * when it runs.
 */
export interface PayPerRequest {
  authorize(input: {
    request: ApiRequest;
    requestId: string;
    body: ChatCompletionRequest;
    /** The call's hold: its maximum cost on the dearest provider it may be routed to. */
    maxCost: Micros;
    /** What the call costs before its first output token (its prompt, at most). */
    promptCost: Micros;
    modelId: string;
  }): Promise<{ kind: 'paid'; key: KeyContext; headers: Record<string, string>; payment?: CallPayment } | { kind: 'respond'; response: Response }>;
  /** A credential sent alone (a HEAD: a session's voucher asked for mid-stream, its close); null when no rail takes those. */
  credentialOnly?(request: ApiRequest): Promise<Response | null>;
  /** Credits payments that were settled but not credited, or whose settlement's outcome was unknown and the chain shows done (the sweeper runs it); how many it credited. */
  reconcile?(): Promise<number>;
}

/**
 * A payment that follows its call (a session's channel): the call may start holding less than its
 * maximum when the payer has covered less (a stream only: it can pause), asks for more as the
 * stream nears what it holds, and every answer carries a receipt.
 */
export interface CallPayment {
  /** The hold to start with, when below the plan's maximum; absent: the maximum. */
  readonly holdAmount?: Micros;
  /** The plan's maximum: what the hold may grow to as the payer covers more. */
  readonly maxCost: Micros;
  /** The 402 to answer when the reservation finds less than the payment step saw (a concurrent call took it). */
  shortOfFunds(): Promise<Response>;
  /** After the reservation: null to go on, or the answer when the payment can no longer pay (its channel began closing). */
  confirm(): Promise<Response | null>;
  /** The receipt headers: of a settled answer, or of a stream as it starts. */
  receiptHeaders(): Promise<Record<string, string>>;
  /** A stream's closing receipt event, after its settlement. */
  receiptEvent(): Promise<string>;
  /**
   * Mid-stream: the event that asks the payer to cover `more`, and a wait for that cover (true
   * once the payer's account has money no call holds, false when none came in time).
   */
  askForMore(more: Micros): Promise<{ event: string; covered: (signal: UpstreamSignal) => Promise<boolean> }>;
}

/** What the pipeline needs from the outside world; built once per process (or per test). */
export type GatewayContext = {
  db: Db;
  ledger: Ledger;
  catalog: CatalogCache;
  providers: ProviderFactory;
  rateLimiter: RateLimiter;
  /** How long a reservation lives if its request never settles (a crash): the sweeper releases it then. */
  holdTtlMs: number;
  /** Longest wait for the next event of a stream that has started before it counts as failed. */
  streamIdleTimeoutMs: number;
  /** Accepts keyless calls paid per request (x402) when configured. */
  payPerRequest?: PayPerRequest;
  /** The token bucket of keyless calls, per client address. */
  keylessRateLimit: { burst: number; perSecond: number };
  /** Recent key lookups of paid calls (auth.ts says what may be stale). */
  keyCache: KeyCache;
  /** TRUSTED_PROXIES: which hops of X-Forwarded-For to believe when telling clients apart. */
  trustedProxies: TrustedProxies;
  /** Sellers' live pools, tried before the platform's key on their provider. */
  pools: PoolDirectory;
  /** Busy keys' calls drawn from money reserved ahead (grants.ts); null when LEDGER_GRANTS=off. */
  grants: GrantBook | null;
};
