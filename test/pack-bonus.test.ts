import { describe, expect, it } from 'vitest';
import { SEED_PACKS } from '../lib/catalog/seed-data';
import { usdToMicros } from '../lib/money';
import { packBonusBasisPoints, packBonusText, packOfferText } from '../lib/packs/pack-bonus';
import { basisPointsToPercentNumber, formatBasisPoints } from '../lib/percent';

const usd = usdToMicros;
const terms = (price: string, face: string) => ({ price: usd(price), faceValue: usd(face) });

describe('the one wording of a pack: "N% more credit", N = (face − price) / price', () => {
  it.each([
    // price, face, wording: 2.5/50 = 5 %, 20/200 = 10 %, 150/1000 = 15 %, 25/100 = 25 %, 5/25 = 20 %, 3/2 = 150 %.
    ['50', '52.50', '5% more credit'],
    ['200', '220', '10% more credit'],
    ['1000', '1150', '15% more credit'],
    ['100', '125', '25% more credit'],
    ['25', '30', '20% more credit'],
    ['2', '5', '150% more credit'],
    // 1/3 = 33.333… % → 3333 bps, rounded down: never promise more than the pack gives.
    ['3', '4', '33.33% more credit'],
    // 0.5/8 = 6.25 %.
    ['8', '8.50', '6.25% more credit'],
  ])('$%s for $%s of credit: %s', (price, face, text) => {
    expect(packBonusText(terms(price, face))).toBe(text);
  });

  it('gives every seeded pack one bonus figure, the same one its own description implies', () => {
    // Credit 50 ($52.50 for $50) was shown as "+5% credit", "4.8% less" and "4.7% off"; now 500 bps everywhere.
    const credit50 = SEED_PACKS.find((p) => p.id === 'pk_credit_50')!;
    expect(packBonusBasisPoints(credit50)).toBe(500n);
    const sonnet = SEED_PACKS.find((p) => p.id === 'pk_claude_sonnet_100')!;
    expect(packOfferText(sonnet)).toBe('$125.00 of credit for $100.00: 25% more credit');
  });

  it('says nothing extra for a pack that gives no more than it costs, or costs nothing', () => {
    expect(packBonusText(terms('100', '100'))).toBeNull();
    expect(packBonusText(terms('100', '90'))).toBeNull();
    expect(packBonusText({ price: 0n, faceValue: usd('10') })).toBeNull();
    expect(packOfferText(terms('100', '100'))).toBe('$100.00 of credit for $100.00');
  });
});

describe('formatBasisPoints', () => {
  it.each([
    [1000n, '10%', 10],
    [750n, '7.5%', 7.5],
    [1525n, '15.25%', 15.25],
    [5n, '0.05%', 0.05],
    [0n, '0%', 0],
    [-1000n, '-10%', -10],
  ])('%s bps → %s', (bps, text, number) => {
    expect(formatBasisPoints(bps)).toBe(text);
    expect(basisPointsToPercentNumber(bps)).toBe(number);
  });
});
