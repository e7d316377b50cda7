/**
 * What this instance adds to the providers' prices, as the public pages disclose it: the markup,
 * read back from the catalog's stored prices (the truth a call is billed by), and the deposit
 * fee, from the payment settings. Server side only (it reads the catalog and the environment).
 */
import type { Catalog } from '../catalog/catalog';
import { offeringMarkupBps } from '../catalog/pricing';
import { getPaymentsConfig } from '../payments/runtime';

export type InstanceCharges = {
  /** The lowest and highest markup over all offerings, in basis points; null for an empty catalog. */
  markup: { minBps: bigint; maxBps: bigint } | null;
  /** The deposit fee in basis points; null when the payment settings are invalid (deposits refuse then). */
  depositFeeBps: bigint | null;
};

export function instanceCharges(catalog: Catalog): InstanceCharges {
  const markups = catalog.models.flatMap((m) => m.offerings.map(offeringMarkupBps)).filter((bps): bps is bigint => bps !== null);
  const markup = markups.length ? { minBps: markups.reduce(min), maxBps: markups.reduce(max) } : null;
  let depositFeeBps: bigint | null;
  try {
    depositFeeBps = getPaymentsConfig().feeBps;
  } catch {
    // The deposit page says the same and /status names the problem; a price page must still render.
    depositFeeBps = null;
  }
  return { markup, depositFeeBps };
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
