/**
 * The one way Tollgate states what a pack gives: "$125 of credit for $100: 25% more credit".
 * The formula is (face value − price) / price, the extra credit per dollar paid, because that is
 * what a buyer compares (a $2 pack with $5 of credit is 150% more credit). Every page that words a
 * pack's advantage goes through here, so the shop, the calculator and the FAQ cannot drift apart
 * again (they once said "+5% credit", "4.8% less" and "4.7% off" of the same pack).
 * Pure and free of server imports: the browser uses it too.
 */
import { formatUsd, type Micros } from '../money';
import { formatBasisPoints } from '../percent';

export type PackTerms = { price: Micros; faceValue: Micros };

/** Extra credit per dollar paid, in basis points, rounded down (never promise more than the pack gives); null when the pack gives no more than it costs. */
export function packBonusBasisPoints({ price, faceValue }: PackTerms): bigint | null {
  if (price <= 0n || faceValue <= price) return null;
  return ((faceValue - price) * 10_000n) / price;
}

/** "25% more credit", or null for a pack that gives no extra. */
export function packBonusText(pack: PackTerms): string | null {
  const bps = packBonusBasisPoints(pack);
  return bps === null ? null : `${formatBasisPoints(bps)} more credit`;
}

/** "$125.00 of credit for $100.00: 25% more credit" (without the bonus when there is none). */
export function packOfferText(pack: PackTerms): string {
  const offer = `${formatUsd(pack.faceValue)} of credit for ${formatUsd(pack.price)}`;
  const bonus = packBonusText(pack);
  return bonus ? `${offer}: ${bonus}` : offer;
}
