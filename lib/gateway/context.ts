import type { ApiRequest } from '../http/api-request';
import type { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import type { TrustedProxies } from '../http/client-address';
import type { Ledger } from '../ledger/ledger';
import type { ProviderFactory } from '../providers/registry';
import type { Micros } from '../money';
import type { KeyCache, KeyContext } from './auth';
import type { RateLimiter } from './rate-limit';
import type { ChatCompletionRequest } from './schema';

/**
 * Pay-per-request without an account (x402): consulted for /v1/chat/completions calls that carry no
 * API key. It returns the payer as the call's principal once the payment is settled, with headers
 * to add to the response; or a Response to send as it is (a 402 challenge, a refusal, a 503 when
 * settlement is off). Nothing has been reserved or charged when it runs.
 */
export interface PayPerRequest {
  authorize(input: {
    request: ApiRequest;
    requestId: string;
    body: ChatCompletionRequest;
    /** The call's hold: its maximum cost on the dearest provider it may be routed to. */
    maxCost: Micros;
    modelId: string;
  }): Promise<{ kind: 'paid'; key: KeyContext; headers: Record<string, string> } | { kind: 'respond'; response: Response }>;
  /** Credits payments that were settled but not credited, or whose settlement's outcome was unknown and the chain shows done (the sweeper runs it); how many it credited. */
  reconcile?(): Promise<number>;
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
};
