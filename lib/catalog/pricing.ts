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
