import type { Micros } from '../money';
import { ceilDiv } from '../money';

/** Markup over upstream prices, in basis points (1000 = 10%). From MARKUP_PERCENT, 10 by default. */
export function markupBps(env: NodeJS.ProcessEnv = process.env): bigint {
  const raw = env.MARKUP_PERCENT?.trim() || '10';
  if (!/^\d{1,4}(\.\d{1,2})?$/.test(raw)) throw new Error(`MARKUP_PERCENT must be a number like 10 or 7.5, got "${raw}"`);
  const [whole, fraction = ''] = raw.split('.') as [string, string?];
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

/** Sell price = upstream × (1 + markup), rounded up to the micro-USD. */
export function sellPrice(upstreamPer1M: Micros, bps: bigint): Micros {
  return ceilDiv(upstreamPer1M * (10_000n + bps), 10_000n);
}

/**
 * The markup an offering actually carries, in basis points, read back from its stored prices
 * (input + output together, so an embedding model's zero output does not count): the catalog is
 * the truth, not MARKUP_PERCENT, since an admin or an older seed may have set other prices.
 * Rounded away from the buyer (a 10.004 % markup shows as 10.01 %, never 10 %); null when the
 * list price is zero, where a markup has no meaning.
 */
export function offeringMarkupBps(offering: { listInputPer1M: Micros; listOutputPer1M: Micros; sellInputPer1M: Micros; sellOutputPer1M: Micros }): bigint | null {
  const list = offering.listInputPer1M + offering.listOutputPer1M;
  if (list <= 0n) return null;
  const extra = (offering.sellInputPer1M + offering.sellOutputPer1M - list) * 10_000n;
  // bigint division truncates toward zero: that is already the buyer-unfavourable side below zero.
  return extra >= 0n ? ceilDiv(extra, list) : extra / list;
}
