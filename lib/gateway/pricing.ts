import type { CatalogOffering } from '../catalog/catalog';
import { ceilDiv, type Micros } from '../money';
import type { ProviderId, UpstreamUsage } from '../providers/types';

/**
 * What prompt-cache tokens cost relative to the input price, in basis points, following each
 * provider's list pricing: Anthropic reads at 10% and writes at 125%; OpenAI reads at 50%;
 * Gemini reads at 25%; DeepSeek cache hits at 10%. Buyers get the same discount we do.
 */
const CACHE_BPS: Record<ProviderId, { read: bigint; write: bigint }> = {
  anthropic: { read: 1_000n, write: 12_500n },
  openai: { read: 5_000n, write: 10_000n },
  google: { read: 2_500n, write: 10_000n },
  deepseek: { read: 1_000n, write: 10_000n },
  local: { read: 10_000n, write: 10_000n },
};

const FULL = 10_000n;
const PER_MILLION_BPS = 1_000_000n * FULL;

/** Cost at sell prices, one rounding (up) at the end. */
export function usageCost(offering: Pick<CatalogOffering, 'providerId' | 'sellInputPer1M' | 'sellOutputPer1M'>, usage: UpstreamUsage): Micros {
  const cache = CACHE_BPS[offering.providerId];
  const cached = BigInt(Math.max(0, usage.cached_tokens ?? 0));
  const written = BigInt(Math.max(0, usage.cache_creation_tokens ?? 0));
  const uncached = BigInt(Math.max(0, usage.prompt_tokens - Number(cached) - Number(written)));
  const input = offering.sellInputPer1M * (uncached * FULL + cached * cache.read + written * cache.write);
  const output = offering.sellOutputPer1M * BigInt(Math.max(0, usage.completion_tokens)) * FULL;
  return ceilDiv(input + output, PER_MILLION_BPS);
}

/**
 * The most a call can cost: every prompt token at the full input price plus every allowed output
 * token. Cache writes are the one thing priced above input (Anthropic's, at 125%): a request that
 * may write the cache (`cacheWrites`: cache_control markers, which only the Messages API carries)
 * is bounded with every prompt token at the provider's write price, whichever part it marks.
 */
export function maximumCost(
  offering: Pick<CatalogOffering, 'providerId' | 'sellInputPer1M' | 'sellOutputPer1M'>,
  promptTokens: number,
  maxOutputTokens: number,
  cacheWrites = false,
): Micros {
  const write = CACHE_BPS[offering.providerId].write;
  const inputBps = cacheWrites && write > FULL ? write : FULL;
  const input = offering.sellInputPer1M * BigInt(promptTokens) * inputBps;
  const output = offering.sellOutputPer1M * BigInt(maxOutputTokens) * FULL;
  return ceilDiv(input + output, PER_MILLION_BPS);
}

/**
 * The offering at the provider's list price (what the upstream bills), for pricing what a seller
 * pool serves: its hold and its draw-down count upstream spend, not what the buyer pays.
 */
export function atListPrice(offering: Pick<CatalogOffering, 'providerId' | 'listInputPer1M' | 'listOutputPer1M'>): Pick<CatalogOffering, 'providerId' | 'sellInputPer1M' | 'sellOutputPer1M'> {
  return { providerId: offering.providerId, sellInputPer1M: offering.listInputPer1M, sellOutputPer1M: offering.listOutputPer1M };
}
