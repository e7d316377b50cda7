/**
 * The savings calculator on the home page: what a month of API spend costs when it is bought as
 * prepaid packs instead of paid at list price. Pure integer micro-USD, no I/O, shared by the server
 * (which loads the packs) and the browser (which recomputes as the slider moves).
 */
import type { Db } from './db/client';
import { ceilDiv, type Micros, usdToMicros } from './money';

/** A general (unscoped) pack: `price` buys `faceValue` of credit for any model. */
export type SavingsPack = { id: string; name: string; price: Micros; faceValue: Micros };

export type SavingsQuote = {
  /** Monthly spend at list price (what the calls would cost without packs). */
  spend: Micros;
  /** What the same calls cost when paid with the best pack for this spend. */
  withTollgate: Micros;
  saving: Micros;
  /** The saving as a share of the spend, in basis points (1/100 of a percent), rounded down. */
  savingBasisPoints: number;
  /** The pack that gives this quote; null when no pack fits the spend. */
  pack: SavingsPack | null;
};

/**
 * The best quote for `spend`. A pack counts only when one month's spend uses its whole face value
 * (faceValue <= spend): we never claim a saving on credit the buyer would not use that month.
 * Among those, the one with the highest face value per dollar of price wins; the cost is the spend
 * scaled by price/faceValue, rounded up to the micro-USD (the buyer is never promised more than
 * the packs give).
 */
export function quoteSavings(spend: Micros, packs: readonly SavingsPack[]): SavingsQuote {
  if (spend <= 0n) return { spend: 0n, withTollgate: 0n, saving: 0n, savingBasisPoints: 0, pack: null };
  let best: SavingsPack | null = null;
  for (const pack of packs) {
    if (pack.price <= 0n || pack.faceValue <= pack.price || pack.faceValue > spend) continue;
    // Higher face/price wins: a.face/a.price > b.face/b.price  ⇔  a.face*b.price > b.face*a.price.
    if (!best || pack.faceValue * best.price > best.faceValue * pack.price) best = pack;
  }
  if (!best) return { spend, withTollgate: spend, saving: 0n, savingBasisPoints: 0, pack: null };
  const withTollgate = ceilDiv(spend * best.price, best.faceValue);
  const saving = spend - withTollgate;
  return { spend, withTollgate, saving, savingBasisPoints: Number((saving * 10_000n) / spend), pack: best };
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
    select: { id: true, name: true, price: true, faceValue: true },
  });
  return packs;
}
