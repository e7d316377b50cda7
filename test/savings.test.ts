import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offeringMarkupBps } from '../lib/catalog/pricing';
import { SEED_PACKS } from '../lib/catalog/seed-data';
import { usdToMicros } from '../lib/money';
import { SPEND_STOPS, compareCosts, loadSavingsPacks, nearestStop, verdict, type SavingsPack } from '../lib/pricing/savings';
import { createTestDatabase, type TestDatabase } from './helpers/db';

// Every expected figure below is worked out by hand in the comment beside it (exact fractions,
// then rounded up to the micro-dollar as the code promises), never by calling the code under test.

const usd = usdToMicros;
const pack = (id: string, price: string, face: string, validityDays = 365): SavingsPack => ({ id, name: id, price: usd(price), faceValue: usd(face), validityDays });
// The shape of the seeded general packs: 5 %, 10 % and 15 % more credit than their price.
const tiers = [pack('p50', '50', '52.50'), pack('p200', '200', '220'), pack('p1000', '1000', '1150')];
// The defaults: MARKUP_PERCENT=10 and DEPOSIT_FEE_PERCENT=10.
const defaults = { markupBps: 1000n, depositFeeBps: 1000n };

describe('compareCosts: Tollgate, fees included, against buying direct', () => {
  it("the issue's example: $2,000 of provider-list usage costs $2,104.35 here, $104.35 (5.22%) more than direct", () => {
    const quote = compareCosts(usd('2000'), tiers, defaults);
    // usage: 2,000 × 1.10 = 2,200 of credit. Every pack's face fits 2,200; the best ratio is
    // 1,150 / 1,000. deposit: 2,200 × 1,000 / 1,150 = 1,913.0434782… → 1,913.043479 (up).
    // fee: 10 % of 1,913.043479 = 191.3043479 → 191.304348 (up). total: 2,104.347827.
    expect(quote).toEqual({ direct: usd('2000'), usage: usd('2200'), deposit: usd('1913.043479'), fee: usd('191.304348'), total: usd('2104.347827'), pack: tiers[2] });
    // 2,104.347827 → $2,104.35; minus $2,000.00 = $104.35; 104.35 / 2,000 = 5.2175 % → 522 bps (half up).
    expect(verdict(quote)).toEqual({ kind: 'dearer', totalCents: 210_435n, directCents: 200_000n, differenceCents: 10_435n, basisPoints: 522n });
  });

  it.each([
    // direct, pack, usage (×1.1), deposit, fee (10 % of the deposit, up), total
    // $200: usage 220; p200's face 220 fits exactly and beats p50; 220 × 200/220 = 200; fee 20.
    ['200', 'p200', '220', '200', '20', '220'],
    // $199.99: usage 219.989, under p200's 220, so p50: 219.989 × 50/52.5 = 209.51333… → 209.513334; fee 20.9513334 → 20.951334.
    ['199.99', 'p50', '219.989', '209.513334', '20.951334', '230.464668'],
    // $40: usage 44, under every face value: no pack, deposit the usage itself; fee 4.40.
    ['40', null, '44', '44', '4.4', '48.4'],
    // $50,000: usage 55,000; p1000: 55,000 × 1,000/1,150 = 47,826.0869565… → 47,826.086957; fee 4,782.6086957 → 4,782.608696.
    ['50000', 'p1000', '55000', '47826.086957', '4782.608696', '52608.695653'],
  ])('at $%s a month: pack %s, usage $%s, deposit $%s, fee $%s, total $%s', (direct, packId, usage, deposit, fee, total) => {
    const quote = compareCosts(usd(direct), tiers, defaults);
    expect(quote.pack?.id ?? null).toBe(packId);
    expect(quote).toMatchObject({ direct: usd(direct), usage: usd(usage), deposit: usd(deposit), fee: usd(fee), total: usd(total) });
  });

  it('says so when Tollgate is cheaper: a pack generous enough beats markup and fee', () => {
    // $1,000 direct → 1,100 of usage; 150 of credit per 100: 1,100 × 100/150 = 733.333… → 733.333334;
    // fee 73.3333334 → 73.333334; total 806.666668 → $806.67. Direct $1,000.00: $193.33 less, 19.333 % → 1933 bps.
    const quote = compareCosts(usd('1000'), [pack('rich', '100', '150')], defaults);
    expect(quote.total).toBe(usd('806.666668'));
    expect(verdict(quote)).toEqual({ kind: 'cheaper', totalCents: 80_667n, directCents: 100_000n, differenceCents: 19_333n, basisPoints: 1933n });
  });

  it('calls it the same when there is no markup, no fee and no pack', () => {
    const quote = compareCosts(usd('500'), [], { markupBps: 0n, depositFeeBps: 0n });
    expect(quote).toMatchObject({ usage: usd('500'), deposit: usd('500'), fee: 0n, total: usd('500'), pack: null });
    expect(verdict(quote)).toMatchObject({ kind: 'same', differenceCents: 0n, basisPoints: 0n });
  });

  it('rounds every step up to the micro-dollar, never down', () => {
    // 1 micro × 1.1 = 1.1 → 2; fee 10 % of 2 = 0.2 → 1; total 3.
    expect(compareCosts(1n, [], defaults)).toMatchObject({ usage: 2n, deposit: 2n, fee: 1n, total: 3n });
    // 10 of usage (markup 0) through a 3-for-2 pack: 10 × 2/3 = 6.67 → 7.
    expect(compareCosts(10n, [{ id: 't', name: 't', price: 2n, faceValue: 3n, validityDays: 365 }], { markupBps: 0n, depositFeeBps: 0n })).toMatchObject({ deposit: 7n, total: 7n });
  });

  it('leaves out a pack that would expire before a month’s usage spends it', () => {
    // $2,200 of usage a month; a $1,000 pack of $1,150 that lasts 7 days can spend only 7/30 of
    // $2,200 ≈ $513.33 before it expires: paying per call is what is left.
    const weekly = pack('weekly', '1000', '1150', 7);
    expect(compareCosts(usd('2000'), [weekly], defaults).pack).toBeNull();
    expect(compareCosts(usd('2000'), [pack('monthly', '1000', '1150', 30)], defaults).pack?.id).toBe('monthly');
  });

  it('ignores free packs and packs that give no extra; picks the best ratio, not the largest pack; nothing for no spend', () => {
    expect(compareCosts(usd('100'), [{ id: 'free', name: 'free', price: 0n, faceValue: usd('10'), validityDays: 365 }], defaults).pack).toBeNull();
    expect(compareCosts(usd('5000'), [pack('par', '100', '100'), pack('worse', '100', '90')], defaults).pack).toBeNull();
    expect(compareCosts(usd('5000'), [pack('big-but-thin', '1000', '1010'), pack('small-but-rich', '100', '120')], defaults).pack?.id).toBe('small-but-rich');
    expect(compareCosts(0n, tiers, defaults)).toEqual({ direct: 0n, usage: 0n, deposit: 0n, fee: 0n, total: 0n, pack: null });
  });
});

describe('offeringMarkupBps: the markup read back from stored prices', () => {
  const offering = (listIn: string, listOut: string, sellIn: string, sellOut: string) => ({
    listInputPer1M: usd(listIn),
    listOutputPer1M: usd(listOut),
    sellInputPer1M: usd(sellIn),
    sellOutputPer1M: usd(sellOut),
  });
  it.each([
    // gpt-4o-mini as seeded: (0.165 + 0.66) / (0.15 + 0.60) = 1.10 → 1000 bps.
    [offering('0.15', '0.60', '0.165', '0.66'), 1000n],
    // An embedding model (no output): 0.022 / 0.02 → 1000 bps.
    [offering('0.02', '0', '0.022', '0'), 1000n],
    // 7.5 %: 1.075 / 1 → 750 bps.
    [offering('1', '0', '1.075', '0'), 750n],
    // 10.004 %: 3.30012 / 3 = 1.10004 → 1000.4 bps, shown as 1001 (up, against Tollgate).
    [offering('3', '0', '3.30012', '0'), 1001n],
    // Sold below list: 0.9 / 1 → −1000 bps.
    [offering('1', '0', '0.9', '0'), -1000n],
    // A free model has no markup to speak of.
    [offering('0', '0', '0', '0'), null],
  ])('%o → %s', (o, bps) => {
    expect(offeringMarkupBps(o)).toBe(bps);
  });
});

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

  it('gives the figures the home page shows by default: $2,104.35 through Credit 1000 packs against $2,000 direct', async () => {
    const packs = await loadSavingsPacks(t.db);
    const quote = compareCosts(usd('2000'), packs, defaults);
    expect(quote).toMatchObject({ total: usd('2104.347827'), pack: { id: 'pk_credit_1000' } });
    expect(verdict(quote)).toMatchObject({ kind: 'dearer', differenceCents: 10_435n });
  });
});
