import type { CatalogCache } from '../catalog/catalog';
import type { Db } from '../db/client';
import type { Ledger } from '../ledger/ledger';
import type { ProviderFactory } from '../providers/registry';
import type { RateLimiter } from './rate-limit';

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
};
