import { describe, expect, it } from 'vitest';
import { nextUtcMidnight, nextUtcMidnightIso, utcDay } from '../lib/gateway/day';

// Expected values are written out by hand: the cache must answer exactly what formatting would.
describe('UTC days (cached between calls)', () => {
  it('names the UTC day and the next midnight, across day, month, year and leap-day boundaries, in any order', () => {
    const cases: Array<[string, string, string]> = [
      ['2026-12-04T11:14:03.000Z', '2026-12-04', '2026-12-05T00:00:00.000Z'],
      ['2026-12-04T23:59:59.999Z', '2026-12-04', '2026-12-05T00:00:00.000Z'],
      ['2026-12-05T00:00:00.000Z', '2026-12-05', '2026-12-06T00:00:00.000Z'],
      ['2026-12-04T00:00:00.000Z', '2026-12-04', '2026-12-05T00:00:00.000Z'],
      ['2026-12-31T23:59:59.999Z', '2026-12-31', '2027-01-01T00:00:00.000Z'],
      ['2028-02-28T12:00:00.000Z', '2028-02-28', '2028-02-29T00:00:00.000Z'],
      ['2028-02-29T23:00:00.000Z', '2028-02-29', '2028-03-01T00:00:00.000Z'],
      // Back to an earlier day after the cache moved on.
      ['2026-12-04T12:00:00.000Z', '2026-12-04', '2026-12-05T00:00:00.000Z'],
      // Before 1970 (negative times) and in a two-digit year, which Date.UTC would read as 19xx.
      ['1969-12-31T23:59:59.999Z', '1969-12-31', '1970-01-01T00:00:00.000Z'],
      ['0050-06-15T08:00:00.000Z', '0050-06-15', '0050-06-16T00:00:00.000Z'],
      // Local offsets are irrelevant: the instant decides.
      ['2026-12-04T23:30:00.000-05:00', '2026-12-05', '2026-12-06T00:00:00.000Z'],
    ];
    for (const [instant, day, midnight] of cases) {
      const date = new Date(instant);
      expect(utcDay(date), instant).toBe(day);
      expect(nextUtcMidnightIso(date), instant).toBe(midnight);
      expect(nextUtcMidnight(date).toISOString(), instant).toBe(midnight);
      // Asked again (now from the cache), the same answers.
      expect(utcDay(date), instant).toBe(day);
      expect(nextUtcMidnightIso(date), instant).toBe(midnight);
    }
  });

  it('refuses an invalid date as toISOString does, cached day or not', () => {
    utcDay(new Date('2026-12-04T10:00:00Z'));
    expect(() => utcDay(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => nextUtcMidnightIso(new Date(Number.NaN))).toThrow(RangeError);
    expect(utcDay(new Date('2026-12-04T10:00:01Z'))).toBe('2026-12-04');
  });
});
