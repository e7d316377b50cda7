import { Redis } from 'ioredis';
import { logger } from '../logger';
import { nowMs } from '../clock';

/**
 * Token bucket per key: `burst` tokens, refilled at `perSecond`; a request takes one. In memory
 * by default (one instance); with REDIS_URL, in Redis through one atomic script that reads the
 * server's clock, so every gateway instance draws from the same bucket.
 */
export type BucketSpec = { burst: number; perSecond: number };
export type BucketDecision = { allowed: boolean; remaining: number; retryAfterSeconds: number };

export interface RateLimiter {
  take(keyId: string, spec: BucketSpec): Promise<BucketDecision>;
  close(): Promise<void>;
}

export function createRateLimiter(env: Record<string, string | undefined> = process.env): RateLimiter {
  const url = env.REDIS_URL?.trim();
  return url ? new RedisRateLimiter(url) : new MemoryRateLimiter();
}

/** The refill arithmetic shared by both stores (the Lua script mirrors it). */
export function refill(state: { tokens: number; at: number } | undefined, spec: BucketSpec, now: number): BucketDecision & { tokens: number } {
  const perMs = spec.perSecond / 1000;
  const current = state ? Math.min(spec.burst, state.tokens + Math.max(0, now - state.at) * perMs) : spec.burst;
  if (current >= 1) return { allowed: true, tokens: current - 1, remaining: Math.floor(current - 1), retryAfterSeconds: 0 };
  return { allowed: false, tokens: current, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((1 - current) / perMs / 1000)) };
}

export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  async take(keyId: string, spec: BucketSpec): Promise<BucketDecision> {
    const now = nowMs();
    const decision = refill(this.#buckets.get(keyId), spec, now);
    this.#buckets.set(keyId, { tokens: decision.tokens, at: now });
    if (this.#buckets.size > 50_000) this.#forgetFullBuckets(now);
    return { allowed: decision.allowed, remaining: decision.remaining, retryAfterSeconds: decision.retryAfterSeconds };
  }

  /** A bucket idle long enough to be full again carries no state worth keeping. */
  #forgetFullBuckets(now: number) {
    for (const [key, state] of this.#buckets) if (now - state.at > 3_600_000) this.#buckets.delete(key);
  }

  async close() {}
}

// KEYS[1] = bucket; ARGV = burst, perSecond. Returns {allowed, remaining, retryAfterMs}.
const TAKE_SCRIPT = `
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
if tokens == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - tonumber(state[2])) * per_ms)
end
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 60000)
return { allowed, math.floor(tokens), retry_ms }
`;

type RedisWithTake = Redis & { tollgateTake(key: string, burst: number, perSecond: number): Promise<[number, number, number]> };

export class RedisRateLimiter implements RateLimiter {
  readonly #redis: RedisWithTake;

  constructor(url: string) {
    // Commands wait for the first connection, but never long: a slow or absent Redis must not
    // stall the gateway (see take()).
    const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 500 });
    redis.defineCommand('tollgateTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    redis.on('error', (error: unknown) => logger.warn('redis rate limiter: connection error', { error }));
    this.#redis = redis as RedisWithTake;
  }

  async take(keyId: string, spec: BucketSpec): Promise<BucketDecision> {
    try {
      const [allowed, remaining, retryMs] = await this.#redis.tollgateTake(`tollgate:bucket:${keyId}`, spec.burst, spec.perSecond);
      return { allowed: allowed === 1, remaining, retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(retryMs / 1000)) };
    } catch (error) {
      // The bucket protects upstream capacity, not money (the ledger does that): with Redis down,
      // serve rather than refuse everyone, and say so loudly.
      logger.error('redis rate limiter unavailable; allowing the request', { error });
      return { allowed: true, remaining: 0, retryAfterSeconds: 0 };
    }
  }

  async close() {
    this.#redis.disconnect();
  }
}
