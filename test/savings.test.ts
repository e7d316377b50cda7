import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_PACKS } from '../lib/catalog/seed-data';
import { usdToMicros } from '../lib/money';
import { SPEND_STOPS, loadSavingsPacks, nearestStop, quoteSavings, type SavingsPack } from '../lib/savings';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const usd = usdToMicros;
const pack = (id: string, price: string, face: string): SavingsPack => ({ id, name: id, price: usd(price), faceValue: usd(face) });
// The shape of the seeded general packs: 5 %, 10 % and 15 % more credit than their price.
const tiers = [pack('p50', '50', '52.50'), pack('p200', '200', '220'), pack('p1000', '1000', '1150')];

describe('quoteSavings', () => {
  it.each([
    // spend, pack used, cost with Tollgate (spend × price / face, rounded up to the micro-USD)
    ['200', 'p50', '190.476191'],
    ['219.99', 'p50', '209.514286'],
    ['220', 'p200', '200'],
    ['1000', 'p200', '909.090910'],
    ['1150', 'p1000', '1000'],
    ['50000', 'p1000', '43478.260870'],
  ])('at $%s a month the best pack is %s and the spend becomes $%s', (spend, packId, cost) => {
    const quote = quoteSavings(usd(spend), tiers);
    expect(quote.pack?.id).toBe(packId);
    expect(quote.withTollgate).toBe(usd(cost));
    expect(quote.saving).toBe(usd(spend) - usd(cost));
    expect(quote.withTollgate + quote.saving).toBe(quote.spend);
  });

  it('never promises more credit than the pack gives: the cost rounds up, never down; a free pack is ignored', () => {
    expect(quoteSavings(usd('100'), [{ id: 'free', name: 'free', price: 0n, faceValue: usd('10') }]).pack).toBeNull();
    const thirds = quoteSavings(10n, [{ id: 't', name: 't', price: 2n, faceValue: 3n }]);
    // 10 × 2 / 3 = 6.67 → 7 micro-USD
    expect(thirds.withTollgate).toBe(7n);
    expect(thirds.saving).toBe(3n);
  });

  it('offers no saving below the smallest pack, for no packs, and ignores packs that are not a discount', () => {
    expect(quoteSavings(usd('50'), tiers)).toMatchObject({ withTollgate: usd('50'), saving: 0n, savingBasisPoints: 0, pack: null });
    expect(quoteSavings(usd('5000'), [])).toMatchObject({ withTollgate: usd('5000'), saving: 0n, pack: null });
    expect(quoteSavings(usd('5000'), [pack('par', '100', '100'), pack('worse', '100', '90')]).pack).toBeNull();
    expect(quoteSavings(0n, tiers)).toMatchObject({ spend: 0n, withTollgate: 0n, saving: 0n });
  });

  it('reports the saving as basis points of the spend, rounded down', () => {
    expect(quoteSavings(usd('220'), tiers).savingBasisPoints).toBe(909); // 20 / 220 = 9.0909 %
    expect(quoteSavings(usd('1150'), tiers).savingBasisPoints).toBe(1304); // 150 / 1150 = 13.043 %
  });

  it('picks the best ratio, not the largest pack', () => {
    const quote = quoteSavings(usd('5000'), [pack('big-but-thin', '1000', '1010'), pack('small-but-rich', '100', '120')]);
    expect(quote.pack?.id).toBe('small-but-rich');
    expect(quote.withTollgate).toBe(ceil(usd('5000') * usd('100'), usd('120')));
  });
});

function ceil(a: bigint, b: bigint) {
  return (a + b - 1n) / b;
}

describe('slider stops', () => {
  it('run from $200 to $50,000, strictly increasing, in nice steps', () => {
    expect(SPEND_STOPS[0]).toBe(usd('200'));
    expect(SPEND_STOPS.at(-1)).toBe(usd('50000'));
    for (let i = 1; i < SPEND_STOPS.length; i++) expect(SPEND_STOPS[i]!).toBeGreaterThan(SPEND_STOPS[i - 1]!);
    expect(SPEND_STOPS).toContain(usd('1000'));
    expect(SPEND_STOPS).toContain(usd('10000'));
    expect(SPEND_STOPS.every((stop) => stop % usd('50') === 0n)).toBe(true);
    expect(SPEND_STOPS.length).toBe(16 + 36 + 40 + 1);
  });

  it('finds the stop nearest a spend', () => {
    expect(SPEND_STOPS[nearestStop(usd('2000'))]).toBe(usd('2000'));
    expect(SPEND_STOPS[nearestStop(usd('2100'))]).toBe(usd('2000'));
    expect(nearestStop(usd('1'))).toBe(0);
    expect(nearestStop(usd('999999'))).toBe(SPEND_STOPS.length - 1);
  });
});

describe('the seeded catalog', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.close());

  it('feeds the calculator only active general packs', async () => {
    const general = SEED_PACKS.filter((p) => !p.scopeModelId && !p.scopeProviderId);
    const loaded = await loadSavingsPacks(t.db);
    expect(loaded.map((p) => p.id).sort()).toEqual(general.map((p) => p.id).sort());
    await t.db.pack.update({ where: { id: general[0]!.id }, data: { active: false } });
    expect((await loadSavingsPacks(t.db)).map((p) => p.id)).not.toContain(general[0]!.id);
  });

  it('gives the figures the home page shows', async () => {
    const packs = await loadSavingsPacks(t.db);
    expect(quoteSavings(usd('2000'), packs)).toMatchObject({ withTollgate: usd('1739.130435'), saving: usd('260.869565') });
  });
});
