/**
 * The home page's calculator: what a month of usage costs through Tollgate next to buying it
 * directly from the providers. Direct is the provider's list price. Through Tollgate the same
 * calls cost the list price plus the markup, paid with credit that reaches the balance by a
 * deposit carrying its fee; a general pack can stretch that credit. Pure integer micro-USD, no
 * I/O, shared by the server (which loads the packs, markup and fee) and the browser (which
 * recomputes as the slider moves).
 */
import type { Db } from '../db/client';
import { ceilDiv, type Micros, usdToMicros } from '../money';

/** A general (unscoped) pack: `price` buys `faceValue` of credit for any model. */
export type SavingsPack = { id: string; name: string; price: Micros; faceValue: Micros; validityDays: number };

/** What this instance charges on top of the providers, both in basis points (1000 = 10%). */
export type Charges = { markupBps: bigint; depositFeeBps: bigint };

export type CostComparison = {
  /** A month of usage at the providers' list prices: what buying direct costs. */
  direct: Micros;
  /** The same calls at Tollgate's prices (list + markup): the credit they use up. */
  usage: Micros;
  /** The money deposited to get that credit: `usage` itself, or less when a pack stretches it. */
  deposit: Micros;
  /** The deposit fee on that money. */
  fee: Micros;
  /** deposit + fee: what the month costs through Tollgate. */
  total: Micros;
  /** The pack that makes this the cheapest route; null when paying per call from the balance is. */
  pack: SavingsPack | null;
};

/**
 * The cheapest honest route to `direct` worth of provider-list usage. The calls use
 * `direct × (1 + markup)` of credit. Route one deposits that much and pays per call. Route two
 * buys a general pack with the deposit; a pack counts only when one month's usage uses its whole
 * face value (faceValue <= usage), so no saving is claimed on credit the buyer would not use that
 * month, and among those the highest face value per dollar wins. Either way the deposit fee is
 * added on the money deposited, as the deposit page charges it. Every division rounds up to the
 * micro-USD: the buyer is never promised a lower price than they would pay.
 */
export function compareCosts(direct: Micros, packs: readonly SavingsPack[], charges: Charges): CostComparison {
  if (direct <= 0n) return { direct: 0n, usage: 0n, deposit: 0n, fee: 0n, total: 0n, pack: null };
  const usage = ceilDiv(direct * (10_000n + charges.markupBps), 10_000n);
  const pack = bestPack(usage, packs);
  // A pack gives faceValue for price, so `usage` of credit takes usage × price / faceValue of money.
  const deposit = pack ? ceilDiv(usage * pack.price, pack.faceValue) : usage;
  const fee = ceilDiv(deposit * charges.depositFeeBps, 10_000n);
  return { direct, usage, deposit, fee, total: deposit + fee, pack };
}

function bestPack(usage: Micros, packs: readonly SavingsPack[]): SavingsPack | null {
  let best: SavingsPack | null = null;
  for (const pack of packs) {
    if (pack.price <= 0n || pack.faceValue <= pack.price || pack.faceValue > usage) continue;
    // A pack must be used up before it expires: a month's usage spread over its validity must reach its face value.
    if (pack.faceValue * 30n > usage * BigInt(pack.validityDays)) continue;
    // Higher face/price wins: a.face/a.price > b.face/b.price  ⇔  a.face*b.price > b.face*a.price.
    if (!best || pack.faceValue * best.price > best.faceValue * pack.price) best = pack;
  }
  return best;
}

/**
 * Tollgate against direct, to the cent, as the page words it. The two totals are rounded to the
 * cent once and the difference taken from the rounded figures, so what is shown always adds up.
 * `basisPoints` is the difference as a share of the direct cost, rounded half up.
 */
export function verdict(comparison: CostComparison): { kind: 'dearer' | 'cheaper' | 'same'; totalCents: bigint; directCents: bigint; differenceCents: bigint; basisPoints: bigint } {
  const totalCents = toCents(comparison.total);
  const directCents = toCents(comparison.direct);
  const signed = totalCents - directCents;
  const differenceCents = signed < 0n ? -signed : signed;
  const basisPoints = directCents > 0n ? (differenceCents * 20_000n + directCents) / (2n * directCents) : 0n;
  const kind = signed > 0n ? 'dearer' : signed < 0n ? 'cheaper' : 'same';
  return { kind, totalCents, directCents, differenceCents, basisPoints };
}

/** Micro-USD to whole cents, half up. */
export function toCents(micros: Micros): bigint {
  return (micros + 5_000n) / 10_000n;
}

const usd = (value: string) => usdToMicros(value);

/**
 * The slider's stops, $200 to $50,000: $50 apart up to $1,000, $250 apart up to $10,000, then
 * $1,000 apart. Fine steps where most teams are, and the whole range in under a hundred stops,
 * so the keyboard (arrows, Page Up/Down, Home/End) can reach every value.
 */
export const SPEND_STOPS: readonly Micros[] = (() => {
  const stops: Micros[] = [];
  const segments: Array<[from: Micros, to: Micros, step: Micros]> = [
    [usd('200'), usd('1000'), usd('50')],
    [usd('1000'), usd('10000'), usd('250')],
    [usd('10000'), usd('50000'), usd('1000')],
  ];
  for (const [from, to, step] of segments) {
    for (let value = from; value < to; value += step) stops.push(value);
  }
  stops.push(usd('50000'));
  return stops;
})();

/** The stop closest to `spend` (for a default position such as $2,000). */
export function nearestStop(spend: Micros): number {
  let index = 0;
  for (let i = 0; i < SPEND_STOPS.length; i++) {
    const distance = (a: Micros, b: Micros) => (a > b ? a - b : b - a);
    if (distance(SPEND_STOPS[i]!, spend) < distance(SPEND_STOPS[index]!, spend)) index = i;
  }
  return index;
}

/** The active general packs of the catalog, as the calculator uses them. */
export async function loadSavingsPacks(db: Db): Promise<SavingsPack[]> {
  const packs = await db.pack.findMany({
    where: { active: true, scopeProviderId: null, scopeModelId: null },
    orderBy: [{ sortOrder: 'asc' }, { price: 'asc' }],
    select: { id: true, name: true, price: true, faceValue: true, validityDays: true },
  });
  return packs;
}
